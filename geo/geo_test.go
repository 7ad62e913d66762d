package geo

import (
	"bytes"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
	"github.com/oschwald/geoip2-golang/v2"
)

// The fixtures are generated here, with Build (the City layout `aya geo
// build` writes) or mmdbwriter directly for the layouts Build does not make
// (Country databases, records without coordinates, other database types).

// testNetworks is the City fixture: a few of the networks of MaxMind's test
// databases, IPv4 and IPv6, nested ones included.
var testNetworks = []Network{
	{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Latitude: 51.5142, Longitude: -0.0931, Country: "GB", Continent: "EU", City: "London"},
	{Prefix: netip.MustParsePrefix("81.2.69.160/27"), Latitude: 51.75, Longitude: -1.25, Country: "GB", City: "Boxford"},
	{Prefix: netip.MustParsePrefix("216.160.83.56/29"), Latitude: 47.2513, Longitude: -122.3149, Country: "US", Continent: "NA", City: "Milton"},
	{Prefix: netip.MustParsePrefix("175.16.199.0/24"), Latitude: 43.88, Longitude: 125.3228, Country: "CN", Continent: "AS"},
	{Prefix: netip.MustParsePrefix("2001:218::/32"), Latitude: 35.68536, Longitude: 139.75309, Country: "JP", Continent: "AS"},
	{Prefix: netip.MustParsePrefix("2a02:cfc0::/29"), Latitude: 46, Longitude: 2, Country: "FR"},
	{Prefix: netip.MustParsePrefix("10.0.0.0/8"), Latitude: 0, Longitude: 0}, // no country: Null Island
}

// writeFile writes data to name in a temporary directory and returns its path.
func writeFile(tb testing.TB, name string, data []byte) string {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), name)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		tb.Fatal(err)
	}
	return path
}

// build returns networks as a City database built by Build.
func build(tb testing.TB, networks []Network) []byte {
	tb.Helper()
	var buf bytes.Buffer
	if err := Build(&buf, networks); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// writeMMDB makes a database of type dbType straight with mmdbwriter, one
// record per network (CIDR → record).
func writeMMDB(tb testing.TB, dbType string, ipVersion int, records map[string]mmdbtype.Map) []byte {
	tb.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{
		DatabaseType:            dbType,
		Description:             map[string]string{"en": "geo test fixture"},
		IPVersion:               ipVersion,
		RecordSize:              24,
		IncludeReservedNetworks: true,
	})
	if err != nil {
		tb.Fatal(err)
	}
	for cidr, rec := range records {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			tb.Fatal(err)
		}
		if err := tree.Insert(n, rec); err != nil {
			tb.Fatal(err)
		}
	}
	var buf bytes.Buffer
	if _, err := tree.WriteTo(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

// countryRecord is a GeoIP2 Country record.
func countryRecord(country, continent string) mmdbtype.Map {
	return mmdbtype.Map{
		"country":            mmdbtype.Map{"iso_code": mmdbtype.String(country), "names": mmdbtype.Map{"en": mmdbtype.String("somewhere")}},
		"continent":          mmdbtype.Map{"code": mmdbtype.String(continent)},
		"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(country)},
	}
}

func open(t *testing.T, cfg Config) *DB {
	t.Helper()
	db, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// loc is a Location as the test tables write it.
func loc(src Source, network string, lat, lon float64, country, continent string) Location {
	l := Location{Source: src, Country: country, Continent: continent}
	if network != "" {
		l.Network = netip.MustParsePrefix(network)
	}
	if src != SourceNone {
		l.Latitude, l.Longitude, l.HasCoordinates = lat, lon, true
	}
	return l
}

type lookupCase struct {
	name string
	addr string
	want Location
}

func checkLookups(t *testing.T, db *DB, cases []lookupCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := db.Lookup(netip.MustParseAddr(tc.addr))
			if got != tc.want {
				t.Errorf("Lookup(%s)\n got %+v\nwant %+v", tc.addr, got, tc.want)
			}
		})
	}
}

func TestLookupCity(t *testing.T) {
	db := open(t, Config{Database: writeFile(t, "city.mmdb", build(t, testNetworks))})
	// The tree splits 81.2.69.0/24 around 81.2.69.160/27: a London
	// address gets the piece it is in (81.2.69.0/25, .128/27, .192/26).
	gb := loc(SourceCity, "81.2.69.128/27", 51.5142, -0.0931, "GB", "EU")
	us := loc(SourceCity, "216.160.83.56/29", 47.2513, -122.3149, "US", "NA")
	checkLookups(t, db, []lookupCase{
		{"v4", "81.2.69.142", gb},
		{"v4 first address", "81.2.69.0", loc(SourceCity, "81.2.69.0/25", 51.5142, -0.0931, "GB", "EU")},
		{"v4 last address", "81.2.69.255", loc(SourceCity, "81.2.69.192/26", 51.5142, -0.0931, "GB", "EU")},
		{"v4 nested network wins", "81.2.69.170", loc(SourceCity, "81.2.69.160/27", 51.75, -1.25, "GB", "EU")},
		{"v4 continent derived from country", "81.2.69.191", loc(SourceCity, "81.2.69.160/27", 51.75, -1.25, "GB", "EU")},
		{"v4 /29", "216.160.83.63", us},
		{"v4-mapped v6", "::ffff:81.2.69.142", gb},
		{"v4-mapped v6 /29", "::ffff:216.160.83.56", us},
		{"v6", "2001:218::1", loc(SourceCity, "2001:218::/32", 35.68536, 139.75309, "JP", "AS")},
		{"v6 /29", "2a02:cfc7:ffff::1", loc(SourceCity, "2a02:cfc0::/29", 46, 2, "FR", "EU")},
		{"v6 zone ignored", "2001:218::1%eth0", loc(SourceCity, "2001:218::/32", 35.68536, 139.75309, "JP", "AS")},
		{"coordinates without a country", "10.1.2.3", loc(SourceCity, "10.0.0.0/8", 0, 0, "", "")},
		// No record: Network is the largest network around the address
		// that the tree holds nothing for, the ECS scope of "unknown".
		{"v4 no match", "8.8.8.8", loc(SourceNone, "8.0.0.0/7", 0, 0, "", "")},
		{"v4 no match next to a network", "81.2.68.255", loc(SourceNone, "81.2.68.0/24", 0, 0, "", "")},
		{"v6 no match", "2600::1", loc(SourceNone, "2400::/6", 0, 0, "", "")},
		{"v6 no match beside a network", "2001:219::1", loc(SourceNone, "2001:219::/32", 0, 0, "", "")},
	})
	if got := db.Lookup(netip.Addr{}); got != (Location{}) {
		t.Errorf("Lookup(invalid) = %+v, want the zero Location", got)
	}
}

func TestLookupCountry(t *testing.T) {
	records := map[string]mmdbtype.Map{
		"81.2.69.0/24":    countryRecord("GB", "EU"),
		"2001:218::/32":   countryRecord("JP", "AS"),
		"175.16.0.0/16":   {"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String("CN")}}, // no country: the registered one
		"192.0.2.0/24":    {"continent": mmdbtype.Map{"code": mmdbtype.String("EU")}},              // continent only
		"198.51.100.0/24": {"country": mmdbtype.Map{"iso_code": mmdbtype.String("ZZ")}},            // a code the table does not know
	}
	db := open(t, Config{Database: writeFile(t, "country.mmdb", writeMMDB(t, "GeoIP2-Country", 6, records))})
	if got := db.Info().Type; got != "GeoIP2-Country" {
		t.Errorf("Info().Type = %q", got)
	}
	gbLat, gbLon, _, _ := Centroid("GB")
	jpLat, jpLon, _, _ := Centroid("JP")
	cnLat, cnLon, _, _ := Centroid("CN")
	checkLookups(t, db, []lookupCase{
		{"v4 at the country centre", "81.2.69.142", loc(SourceCountry, "81.2.69.0/24", gbLat, gbLon, "GB", "EU")},
		{"v4-mapped", "::ffff:81.2.69.142", loc(SourceCountry, "81.2.69.0/24", gbLat, gbLon, "GB", "EU")},
		{"v6", "2001:218::1", loc(SourceCountry, "2001:218::/32", jpLat, jpLon, "JP", "AS")},
		{"registered country", "175.16.199.1", loc(SourceCountry, "175.16.0.0/16", cnLat, cnLon, "CN", "AS")},
		{"continent only", "192.0.2.1", loc(SourceNone, "192.0.2.0/24", 0, 0, "", "EU")},
		{"unknown country code", "198.51.100.1", loc(SourceNone, "198.51.100.0/24", 0, 0, "ZZ", "")},
		{"no match", "8.8.8.8", loc(SourceNone, "0.0.0.0/2", 0, 0, "", "")},
	})
}

func TestLookupCityRecordWithoutCoordinates(t *testing.T) {
	rec := countryRecord("FR", "EU")
	rec["city"] = mmdbtype.Map{"names": mmdbtype.Map{"en": mmdbtype.String("Paris")}}
	rec["location"] = mmdbtype.Map{"accuracy_radius": mmdbtype.Uint16(1000), "time_zone": mmdbtype.String("Europe/Paris")}
	db := open(t, Config{Database: writeFile(t, "city.mmdb", writeMMDB(t, "GeoIP2-City", 6, map[string]mmdbtype.Map{"192.0.2.0/24": rec}))})
	lat, lon, _, _ := Centroid("FR")
	checkLookups(t, db, []lookupCase{
		{"centroid", "192.0.2.1", loc(SourceCountry, "192.0.2.0/24", lat, lon, "FR", "EU")},
	})
}

func TestLookupIPv4OnlyDatabase(t *testing.T) {
	db := open(t, Config{Database: writeFile(t, "v4.mmdb", writeMMDB(t, "GeoLite2-Country", 4, map[string]mmdbtype.Map{"81.2.69.0/24": countryRecord("GB", "EU")}))})
	lat, lon, _, _ := Centroid("GB")
	checkLookups(t, db, []lookupCase{
		{"v4", "81.2.69.1", loc(SourceCountry, "81.2.69.0/24", lat, lon, "GB", "EU")},
		{"v4-mapped", "::ffff:81.2.69.1", loc(SourceCountry, "81.2.69.0/24", lat, lon, "GB", "EU")},
		{"v4 no match", "9.9.9.9", loc(SourceNone, "0.0.0.0/2", 0, 0, "", "")},
		{"v6 knows nothing", "2001:218::1", loc(SourceNone, "::/0", 0, 0, "", "")},
	})
}

// networksOverrides are the overrides of the lookup and Networks tests:
// nested in, around and beside the database's networks.
const networksOverrides = `
overrides:
  - network: 10.0.0.0/8
    region: eu-west
  - network: 10.1.0.0/16
    region: us-east
    latitude: 38.9
    longitude: -77.0
  - network: 10.1.2.0/24
    latitude: 48.85
    longitude: 2.35
    country: fr
  - network: 81.2.69.128/25        # inside a database network: wins over it
    region: eu-central
    country: DE
  - network: 216.160.83.0/24       # around a database network: wins over it too
    latitude: 1
    longitude: 2
    continent: oc
  - network: 2001:218:1::/48
    country: JP
  - network: 192.0.2.7             # one address
    region: lab
`

func TestLookupOverrides(t *testing.T) {
	dbPath := writeFile(t, "city.mmdb", build(t, testNetworks))
	ovPath := writeFile(t, "overrides.yaml", []byte(networksOverrides))
	db := open(t, Config{Database: dbPath, Overrides: ovPath})
	if i := db.Info(); i.Overrides != ovPath || i.OverrideCount != 7 {
		t.Errorf("Info() = %+v, want 7 overrides from %s", i, ovPath)
	}
	region := func(name, network string) Location {
		return Location{Region: name, Network: netip.MustParsePrefix(network), Source: SourceOverride}
	}
	withRegion := func(l Location, name string) Location { l.Region = name; return l }
	deLat, deLon, _, _ := Centroid("DE")
	jpLat, jpLon, _, _ := Centroid("JP")
	checkLookups(t, db, []lookupCase{
		// 10.0.0.0/8 holds longer overrides: the scope of its answer keeps
		// them out (10.0.0.0/16 for 10.0.x, 10.128.0.0/9 for the upper half).
		{"region", "10.0.0.1", region("eu-west", "10.0.0.0/16")},
		{"region, upper half", "10.200.0.1", region("eu-west", "10.128.0.0/9")},
		{"longest prefix: region and coordinates", "10.1.3.1", withRegion(loc(SourceOverride, "10.1.3.0/24", 38.9, -77.0, "", ""), "us-east")},
		{"longest prefix: location", "10.1.2.3", loc(SourceOverride, "10.1.2.0/24", 48.85, 2.35, "FR", "EU")},
		{"wins over a wider database network", "81.2.69.200", withRegion(loc(SourceOverride, "81.2.69.128/25", deLat, deLon, "DE", "EU"), "eu-central")},
		{"database network shortened around the override", "81.2.69.1", loc(SourceCity, "81.2.69.0/25", 51.5142, -0.0931, "GB", "EU")},
		{"wins over a narrower database network", "216.160.83.57", loc(SourceOverride, "216.160.83.0/24", 1, 2, "", "OC")},
		{"v4-mapped", "::ffff:216.160.83.57", loc(SourceOverride, "216.160.83.0/24", 1, 2, "", "OC")},
		{"v6 country at its centre", "2001:218:1::1", loc(SourceOverride, "2001:218:1::/48", jpLat, jpLon, "JP", "AS")},
		{"v6 database network shortened", "2001:218::1", loc(SourceCity, "2001:218::/48", 35.68536, 139.75309, "JP", "AS")},
		{"host override", "192.0.2.7", region("lab", "192.0.2.7/32")},
		{"no match shortened around a host override", "192.0.2.6", loc(SourceNone, "192.0.2.6/32", 0, 0, "", "")},
	})
}

func TestLookupOverridesWithoutDatabase(t *testing.T) {
	ovPath := writeFile(t, "overrides.yaml", []byte("overrides:\n  - {network: 10.0.0.0/8, region: eu-west}\n"))
	db := open(t, Config{Overrides: ovPath})
	checkLookups(t, db, []lookupCase{
		{"override", "10.9.9.9", Location{Region: "eu-west", Network: netip.MustParsePrefix("10.0.0.0/8"), Source: SourceOverride}},
		{"v4 elsewhere", "11.0.0.1", loc(SourceNone, "11.0.0.0/8", 0, 0, "", "")},
		{"v6 elsewhere", "2001:db8::1", loc(SourceNone, "::/0", 0, 0, "", "")},
	})
	if i := db.Info(); i.Path != "" || i.String() != "no database; 1 overrides from "+ovPath {
		t.Errorf("Info() = %+v (%s)", i, i)
	}
}

func TestOpenDemoSource(t *testing.T) {
	// The demo database of the repo, compiled from its source at Open.
	db := open(t, Config{Database: filepath.Join("..", "zones", "geo", "demo.yaml")})
	if i := db.Info(); !i.Compiled || i.Type != "GeoIP2-City" {
		t.Errorf("Info() = %+v, want a compiled GeoIP2-City", i)
	}
	london := loc(SourceCity, "81.2.69.0/24", 51.5142, -0.0931, "GB", "EU")
	frankfurt := loc(SourceCity, "127.0.0.0/8", 50.1109, 8.6821, "DE", "EU")
	frankfurt6 := frankfurt
	frankfurt6.Network = netip.MustParsePrefix("::1/128")
	checkLookups(t, db, []lookupCase{
		{"London", "81.2.69.142", london},
		{"London .160/27", "81.2.69.170", london},
		{"Boxford", "2.125.160.216", loc(SourceCity, "2.125.160.0/24", 51.75, -1.25, "GB", "EU")},
		{"Milton", "216.160.83.56", loc(SourceCity, "216.160.83.0/24", 47.2513, -122.3149, "US", "NA")},
		{"US", "149.101.100.5", loc(SourceCity, "149.101.100.0/28", 37.751, -97.822, "US", "NA")},
		{"Changchun", "175.16.199.1", loc(SourceCity, "175.16.199.0/24", 43.88, 125.3228, "CN", "AS")},
		{"Singapore", "214.0.0.1", loc(SourceCity, "214.0.0.0/24", 1.336, 103.7716, "SG", "AS")},
		{"Japan", "2001:218::1", loc(SourceCity, "2001:218::/32", 35.68536, 139.75309, "JP", "AS")},
		{"France", "2a02:cfc0::1", loc(SourceCity, "2a02:cfc0::/29", 46, 2, "FR", "EU")},
		{"TEST-NET-1 US east", "192.0.2.10", loc(SourceCity, "192.0.2.0/24", 39.0438, -77.4874, "US", "NA")},
		{"TEST-NET-2 Dublin", "198.51.100.10", loc(SourceCity, "198.51.100.0/24", 53.3498, -6.2603, "IE", "EU")},
		{"TEST-NET-3 Singapore", "203.0.113.10", loc(SourceCity, "203.0.113.0/24", 1.2897, 103.8501, "SG", "AS")},
		{"loopback", "127.0.0.11", frankfurt},
		{"v6 loopback", "::1", frankfurt6},
	})
}

func TestOpenRefuses(t *testing.T) {
	good := build(t, testNetworks)
	// The data section follows the search tree and its 16-byte separator;
	// the metadata ends the file.
	treeEnd := func() int {
		d, err := openDatabase(good, true)
		if err != nil {
			t.Fatal(err)
		}
		md := d.reader.Metadata
		return int(md.NodeCount * md.RecordSize / 4)
	}()
	garble := func(from, to int) []byte {
		b := bytes.Clone(good)
		for i := from; i < to; i++ {
			b[i] = 0xFF
		}
		return b
	}
	meta := bytes.LastIndex(good, metadataMarker)
	for _, tc := range []struct {
		name string
		file string
		data []byte
		want string
	}{
		{"empty", "empty.mmdb", nil, "not a valid MaxMind DB file"},
		{"truncated", "truncated.mmdb", good[:len(good)/2], "not a valid MaxMind DB file"},
		{"garbled search tree", "tree.mmdb", garble(0, treeEnd), "corrupt MaxMind DB file"},
		{"garbled data section", "data.mmdb", garble(treeEnd+16, meta), "corrupt MaxMind DB file"},
		{"garbled metadata", "meta.mmdb", garble(meta+len(metadataMarker), len(good)), "not a valid MaxMind DB file"},
		{"not a database", "readme.mmdb", []byte("# a README\n"), "not a valid MaxMind DB file"},
		{"ASN database", "asn.mmdb", writeMMDB(t, "GeoLite2-ASN", 6, map[string]mmdbtype.Map{"1.0.0.0/24": {"autonomous_system_number": mmdbtype.Uint32(13335)}}), `unsupported database type "GeoLite2-ASN"`},
		{"source with errors", "bad.yaml", []byte("- {network: 10.0.0.1/8, latitude: 1, longitude: 2}\n"), "bad.yaml:1: network 10.0.0.1/8 has host bits set: the network is 10.0.0.0/8"},
		{"source of unknown format", "nets.txt", []byte("10.0.0.0/8"), "not a valid MaxMind DB file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, tc.file, tc.data)
			db, err := Open(Config{Database: path})
			if err == nil {
				_ = db.Close()
				t.Fatal("Open succeeded")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v\nwant the path and %q", err, tc.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "missing.mmdb")
		_, err := Open(Config{Database: path})
		if !errors.Is(err, fs.ErrNotExist) || err.Error() != path+": no such file or directory" {
			t.Errorf("Open: %v", err)
		}
	})
	t.Run("both files bad", func(t *testing.T) {
		db := writeFile(t, "t.mmdb", good[:10])
		ov := writeFile(t, "o.yaml", []byte("overrides:\n  - {network: 10.0.0.0/8}\n"))
		_, err := Open(Config{Database: db, Overrides: ov})
		want := db + ": not a valid MaxMind DB file: error opening database: invalid MaxMind DB file\n" +
			ov + ":2: network 10.0.0.0/8: give a region, latitude and longitude, a country or a continent"
		if err == nil || err.Error() != want {
			t.Errorf("Open: %v\nwant %s", err, want)
		}
	})
}

func TestReload(t *testing.T) {
	dir := t.TempDir()
	dbPath, ovPath := filepath.Join(dir, "geo.mmdb"), filepath.Join(dir, "overrides.yaml")
	write := func(path string, data []byte) {
		t.Helper()
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	london := netip.MustParseAddr("81.2.69.142")
	write(dbPath, build(t, testNetworks))
	write(ovPath, []byte("overrides:\n  - {network: 10.0.0.0/8, region: eu-west}\n"))
	db := open(t, Config{Database: dbPath, Overrides: ovPath})
	before := db.Info()

	// A corrupt database: refused, the old state keeps serving.
	good := build(t, testNetworks)
	write(dbPath, good[:len(good)-100])
	err := db.Reload()
	if err == nil || !strings.Contains(err.Error(), dbPath) {
		t.Fatalf("Reload of a truncated database: %v, want an error naming %s", err, dbPath)
	}
	if got := db.Lookup(london); got.Country != "GB" || got.Source != SourceCity {
		t.Errorf("after a failed reload Lookup = %+v, want the old London record", got)
	}
	if got := db.Info(); got != before {
		t.Errorf("after a failed reload Info = %+v, want %+v", got, before)
	}

	// A broken overrides file: refused as a whole, also with a good database.
	write(dbPath, good)
	write(ovPath, []byte("overrides:\n  - {network: 10.0.0.0/8, region: us-east}\n  - {network: 10.0.0.1/8, region: x}\n"))
	if err := db.Reload(); err == nil || err.Error() != ovPath+":3: network 10.0.0.1/8 has host bits set: the network is 10.0.0.0/8" {
		t.Errorf("Reload of broken overrides: %v", err)
	}
	if got := db.Lookup(netip.MustParseAddr("10.1.1.1")).Region; got != "eu-west" {
		t.Errorf("after a failed reload the override gives %q, want eu-west", got)
	}

	// New good files are picked up.
	moved := []Network{{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Latitude: 48.85, Longitude: 2.35, Country: "FR"}}
	write(dbPath, build(t, moved))
	write(ovPath, []byte("overrides:\n  - {network: 10.0.0.0/8, region: us-east}\n"))
	if err := db.Reload(); err != nil {
		t.Fatal(err)
	}
	if got, want := db.Lookup(london), loc(SourceCity, "81.2.69.0/24", 48.85, 2.35, "FR", "EU"); got != want {
		t.Errorf("after reload Lookup = %+v, want %+v", got, want)
	}
	if got := db.Lookup(netip.MustParseAddr("10.1.1.1")).Region; got != "us-east" {
		t.Errorf("after reload the override gives %q, want us-east", got)
	}

	// Closed: lookups find nothing, reloads fail.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if got := db.Lookup(london); got != (Location{}) {
		t.Errorf("Lookup after Close = %+v", got)
	}
	if err := db.Reload(); err == nil {
		t.Error("Reload after Close succeeded")
	}
}

func TestNilDB(t *testing.T) {
	var db *DB
	if got := db.Lookup(netip.MustParseAddr("81.2.69.142")); got != (Location{}) {
		t.Errorf("nil Lookup = %+v", got)
	}
	if got := db.Info(); got != (Info{}) {
		t.Errorf("nil Info = %+v", got)
	}
}

// TestLookupDuringReload runs lookups against reloads; with -race it checks
// that a lookup only ever sees a whole state.
func TestLookupDuringReload(t *testing.T) {
	path := writeFile(t, "geo.mmdb", build(t, testNetworks))
	db := open(t, Config{Database: path})
	a := netip.MustParseAddr("81.2.69.142")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 2000 {
				if got := db.Lookup(a); got.Country != "GB" {
					t.Errorf("Lookup = %+v", got)
					return
				}
			}
		})
	}
	for range 20 {
		if err := db.Reload(); err != nil {
			t.Error(err)
		}
	}
	wg.Wait()
}

func TestLookupAllocatesNothing(t *testing.T) {
	ovPath := writeFile(t, "o.yaml", []byte("overrides:\n  - {network: 10.0.0.0/8, region: a}\n  - {network: 10.1.0.0/16, region: b}\n"))
	db := open(t, Config{Database: writeFile(t, "g.mmdb", build(t, testNetworks)), Overrides: ovPath})
	for _, s := range []string{"81.2.69.142", "2001:218::1", "::ffff:216.160.83.56", "8.8.8.8", "10.2.0.1"} {
		a := netip.MustParseAddr(s)
		if n := testing.AllocsPerRun(100, func() { _ = db.Lookup(a) }); n != 0 {
			t.Errorf("Lookup(%s): %v allocations", s, n)
		}
	}
}

// BenchmarkLookup measures the DNS hot path. The geoip2 sub-benchmark is
// what decoding whole records with geoip2-golang's City would cost instead.
func BenchmarkLookup(b *testing.B) {
	data := build(b, testNetworks)
	dbPath := writeFile(b, "g.mmdb", data)
	ovPath := writeFile(b, "o.yaml", []byte("overrides:\n  - {network: 10.0.0.0/8, region: a}\n  - {network: 10.1.0.0/16, region: b}\n  - {network: 81.2.69.128/25, region: c}\n"))
	db, err := Open(Config{Database: dbPath})
	if err != nil {
		b.Fatal(err)
	}
	withOv, err := Open(Config{Database: dbPath, Overrides: ovPath})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		db   *DB
		addr string
	}{
		{"city-v4", db, "81.2.69.142"},
		{"city-v6", db, "2001:218::1"},
		{"city-v4mapped", db, "::ffff:216.160.83.56"},
		{"nomatch-v4", db, "8.8.8.8"},
		{"overrides/city-v4", withOv, "81.2.69.1"},
		{"overrides/override", withOv, "10.1.2.3"},
	} {
		a := netip.MustParseAddr(bc.addr)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				_ = bc.db.Lookup(a)
			}
		})
		// What a lookup costs when the address cache misses.
		b.Run(bc.name+"/uncached", func(b *testing.B) {
			b.ReportAllocs()
			st := bc.db.cur.Load()
			a := a.Unmap()
			for b.Loop() {
				_ = st.find(a)
			}
		})
	}
	b.Run("geoip2-City-v4", func(b *testing.B) {
		r, err := geoip2.OpenBytes(data)
		if err != nil {
			b.Fatal(err)
		}
		a := netip.MustParseAddr("81.2.69.142")
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.City(a); err != nil {
				b.Fatal(err)
			}
		}
	})
}
