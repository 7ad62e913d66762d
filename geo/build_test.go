package geo

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/oschwald/geoip2-golang/v2"
)

// TestBuildReadByGeoip2 reads what Build writes with geoip2-golang's full
// City decoder: the layout is the GeoIP2 one, not only what Lookup reads.
func TestBuildReadByGeoip2(t *testing.T) {
	r, err := geoip2.OpenBytes(build(t, testNetworks))
	if err != nil {
		t.Fatal(err)
	}
	if md := r.Metadata(); md.DatabaseType != "GeoIP2-City" || md.IPVersion != 6 {
		t.Errorf("metadata %+v", md)
	}
	c, err := r.City(netip.MustParseAddr("81.2.69.170"))
	if err != nil {
		t.Fatal(err)
	}
	if c.City.Names.English != "Boxford" || c.Country.ISOCode != "GB" || c.Continent.Code != "EU" ||
		c.Continent.Names.English != "Europe" || *c.Location.Latitude != 51.75 || *c.Location.Longitude != -1.25 ||
		c.Traits.Network != netip.MustParsePrefix("81.2.69.160/27") {
		t.Errorf("City(81.2.69.170) = %+v", c)
	}
	co, err := r.Country(netip.MustParseAddr("2001:218::1"))
	if err != nil || co.Country.ISOCode != "JP" {
		t.Errorf("Country(2001:218::1) = %+v, %v", co, err)
	}
}

func TestBuildErrors(t *testing.T) {
	p := netip.MustParsePrefix
	for _, tc := range []struct {
		name string
		nets []Network
		want string
	}{
		{"host bits", []Network{{Prefix: netip.PrefixFrom(netip.MustParseAddr("10.0.0.1"), 8)}}, "network 10.0.0.1/8: host bits set: the network is 10.0.0.0/8"},
		{"invalid prefix", []Network{{}}, "network invalid Prefix: invalid prefix"},
		{"latitude", []Network{{Prefix: p("10.0.0.0/8"), Latitude: 91}}, "network 10.0.0.0/8: latitude 91 out of range [-90, 90]"},
		{"longitude", []Network{{Prefix: p("10.0.0.0/8"), Longitude: -181}}, "network 10.0.0.0/8: longitude -181 out of range [-180, 180]"},
		{"country", []Network{{Prefix: p("10.0.0.0/8"), Country: "XX"}}, `network 10.0.0.0/8: country "XX": not an ISO 3166-1 alpha-2 code`},
		{"continent", []Network{{Prefix: p("10.0.0.0/8"), Continent: "EA"}}, `network 10.0.0.0/8: continent "EA": want one of AF AN AS EU NA OC SA`},
		{"twice", []Network{{Prefix: p("10.0.0.0/8")}, {Prefix: p("10.0.0.0/8")}}, "network 10.0.0.0/8 given twice"},
		{"aliased", []Network{{Prefix: p("2002:a00::/24")}}, "network 2002:a00::/24: inside 2002::/16, which MaxMind DBs alias to IPv4"},
		{"mapped", []Network{{Prefix: p("::ffff:10.0.0.0/104")}}, "network ::ffff:10.0.0.0/104: inside ::ffff:0.0.0.0/96, which MaxMind DBs alias to IPv4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Build(&bytes.Buffer{}, tc.nets)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Build: %v\nwant %s", err, tc.want)
			}
		})
	}
}

func TestBuildOpenRoundTrip(t *testing.T) {
	src := `network,latitude,longitude,country,continent,city
81.2.69.0/24,51.5142,-0.0931,GB,EU,London
81.2.69.160/27,51.75,-1.25,GB,,Boxford
0.0.0.0/0,0,0,,,
2a02:cfc0::/29,46,2,FR,,
2000::/3,10,20,,,
`
	nets, err := ParseSource(strings.NewReader(src), "nets.csv")
	if err != nil {
		t.Fatal(err)
	}
	db := open(t, Config{Database: writeFile(t, "nets.mmdb", build(t, nets))})
	checkLookups(t, db, []lookupCase{
		{"v4", "81.2.69.1", loc(SourceCity, "81.2.69.0/25", 51.5142, -0.0931, "GB", "EU")},
		{"v4 nested", "81.2.69.161", loc(SourceCity, "81.2.69.160/27", 51.75, -1.25, "GB", "EU")},
		{"v4 default", "8.8.8.8", loc(SourceCity, "0.0.0.0/2", 0, 0, "", "")},
		{"v6", "2a02:cfc0::1", loc(SourceCity, "2a02:cfc0::/29", 46, 2, "FR", "EU")},
		{"v6 default", "2600::1", loc(SourceCity, "2400::/6", 10, 20, "", "")},
		{"6to4 is IPv4", "2002:5102:4501::1", loc(SourceCity, "2002:5102:4500::/41", 51.5142, -0.0931, "GB", "EU")},
	})
}
