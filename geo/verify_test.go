package geo

import (
	"bytes"
	"net/netip"
	"os"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// corruptRecord returns the City fixture with the record of addr made
// undecodable (its control byte an invalid type), elsewhere intact: Open
// with DeferVerify passes it (no probe reads that record), Verify does not.
func corruptRecord(t *testing.T, addr string) []byte {
	t.Helper()
	good := build(t, testNetworks)
	d, err := openDatabase(good, true)
	if err != nil {
		t.Fatal(err)
	}
	res := d.reader.Lookup(netip.MustParseAddr(addr))
	if !res.Found() {
		t.Fatalf("%s has no record", addr)
	}
	md := d.reader.Metadata
	start := int(md.NodeCount*md.RecordSize/4) + 16
	bad := bytes.Clone(good)
	bad[start+int(res.Offset())] = 0x00 // type 0, extended type 0: not a type
	return bad
}

func TestDeferVerify(t *testing.T) {
	london, shenyang := netip.MustParseAddr("81.2.69.142"), netip.MustParseAddr("175.16.199.1")
	ov := writeFile(t, "overrides.yaml", []byte("overrides:\n  - {network: 10.0.0.0/8, region: eu-west}\n"))
	ovOnly := open(t, Config{Overrides: ov}).Info()

	t.Run("sound database", func(t *testing.T) {
		path := writeFile(t, "city.mmdb", build(t, testNetworks))
		db := open(t, Config{Database: path, DeferVerify: true})
		if i := db.Info(); i.Verified || !strings.HasSuffix(i.String(), ", not verified yet") {
			t.Errorf("Info before Verify = %+v (%s), want not verified", i, i)
		}
		if got := db.Lookup(london); got.Country != "GB" || got.Source != SourceCity {
			t.Errorf("Lookup before Verify = %+v, want London", got)
		}
		if err := db.Verify(); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		i := db.Info()
		if !i.Verified || i.Path != path || i.Refused != "" || strings.Contains(i.String(), "verified") {
			t.Errorf("Info after Verify = %+v (%s)", i, i)
		}
		if err := db.Verify(); err != nil || db.Info() != i {
			t.Errorf("second Verify: %v, Info %+v", err, db.Info())
		}
		full := open(t, Config{Database: path})
		if full.Info() != i {
			t.Errorf("Info after Verify = %+v\nwant that of a verifying Open: %+v", i, full.Info())
		}
	})

	t.Run("corrupt record", func(t *testing.T) {
		path := writeFile(t, "city.mmdb", corruptRecord(t, shenyang.String()))
		if _, err := Open(Config{Database: path}); err == nil || !strings.Contains(err.Error(), "corrupt MaxMind DB file") {
			t.Fatalf("verifying Open: %v, want corrupt", err)
		}
		db := open(t, Config{Database: path, Overrides: ov, DeferVerify: true})
		// Bounds-checked meanwhile: the broken record places nobody, the
		// others are served.
		if got := db.Lookup(shenyang); got.Source != SourceNone || !got.Network.IsValid() {
			t.Errorf("Lookup of the corrupt record = %+v, want unknown with a network", got)
		}
		if got := db.Lookup(london); got.Country != "GB" {
			t.Errorf("Lookup before Verify = %+v, want London", got)
		}
		err := db.Verify()
		if err == nil || !strings.HasPrefix(err.Error(), path+": corrupt MaxMind DB file: ") {
			t.Fatalf("Verify: %v, want %s: corrupt MaxMind DB file: …", err, path)
		}
		// Dropped: no database, the overrides still apply, and the digest
		// is that of the overrides alone.
		i := db.Info()
		want := ovOnly
		want.Refused = err.Error()
		if i != want {
			t.Errorf("Info after a failed Verify\n got %+v\nwant %+v", i, want)
		}
		if s := i.String(); !strings.HasPrefix(s, "no database (refused: "+path+": corrupt MaxMind DB file") {
			t.Errorf("Info.String() = %q", s)
		}
		if got := db.Lookup(london); got.Source != SourceNone || got.Country != "" || !got.Network.Contains(london) {
			t.Errorf("Lookup after a failed Verify = %+v, want unknown", got)
		}
		if got := db.Lookup(netip.MustParseAddr("10.1.2.3")).Region; got != "eu-west" {
			t.Errorf("override after a failed Verify gives %q, want eu-west", got)
		}
		// A sound file brings the database back.
		if err := os.WriteFile(path, build(t, testNetworks), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := db.Reload(); err != nil {
			t.Fatal(err)
		}
		if i := db.Info(); !i.Verified || i.Path != path || i.Refused != "" {
			t.Errorf("Info after reload = %+v", i)
		}
		if got := db.Lookup(shenyang); got.Country != "CN" {
			t.Errorf("Lookup after reload = %+v, want CN", got)
		}
	})

	t.Run("reloaded before Verify", func(t *testing.T) {
		path := writeFile(t, "city.mmdb", corruptRecord(t, shenyang.String()))
		db := open(t, Config{Database: path, DeferVerify: true})
		if err := os.WriteFile(path, build(t, testNetworks), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := db.Reload(); err != nil {
			t.Fatal(err)
		}
		i := db.Info()
		if err := db.Verify(); err != nil || db.Info() != i || !i.Verified {
			t.Errorf("Verify after a reload: %v, Info %+v, want nil and the reloaded, verified Info %+v", err, db.Info(), i)
		}
	})

	t.Run("closed", func(t *testing.T) {
		path := writeFile(t, "city.mmdb", corruptRecord(t, shenyang.String()))
		db := open(t, Config{Database: path, DeferVerify: true})
		_ = db.Close()
		if err := db.Verify(); err != nil {
			t.Errorf("Verify after Close: %v", err)
		}
		var nilDB *DB
		if err := nilDB.Verify(); err != nil {
			t.Errorf("Verify of a nil DB: %v", err)
		}
	})
}

// FuzzOpenDatabase opens corrupt databases, with and without the whole
// walk, looks addresses up in them and walks the verified ones (Networks):
// never a panic nor an endless walk, and a database that
// Verify passes also passes the layout checks alone (what a deferred Open
// publishes is never refused by the full one for a reason it skipped).
func FuzzOpenDatabase(f *testing.F) {
	f.Add(build(f, testNetworks))
	f.Add(writeMMDB(f, "GeoIP2-Country", 6, map[string]mmdbtype.Map{
		"81.2.69.0/24": countryRecord("GB", "EU"), "2001:218::/32": countryRecord("JP", "AS"),
	}))
	f.Add(writeMMDB(f, "GeoLite2-City", 4, map[string]mmdbtype.Map{"81.2.69.0/24": countryRecord("GB", "EU")}))
	addrs := append([]netip.Addr{netip.MustParseAddr("175.16.199.1"), netip.MustParseAddr("::1"),
		netip.MustParseAddr("2001:218::1"), netip.MustParseAddr("10.1.2.3")}, probes...)
	f.Fuzz(func(t *testing.T, data []byte) {
		full, fullErr := openDatabase(data, true)
		db, err := openDatabase(data, false)
		if fullErr == nil && err != nil {
			t.Fatalf("verified database refused by the layout checks: %v", err)
		}
		if err != nil {
			return
		}
		verified := db.reader.Verify() == nil
		if (full != nil) != verified {
			t.Fatal("Verify disagrees with the verifying open")
		}
		st := &state{db: db, info: Info{Verified: verified}}
		for _, a := range addrs {
			_ = st.lookup(a)
		}
		d := &DB{}
		d.publish(st)
		n := 0
		for range d.Networks {
			if n++; n > 10_000 {
				break
			}
		}
	})
}

// BenchmarkOpen opens a database with the whole walk and with only the
// layout checks (what `aya serve` waits for at start). The database is
// $AYA_GEO_BENCH_DB when set (bench/geo/gen writes a full-size one), else
// 100,000 IPv4 networks built here.
func BenchmarkOpen(b *testing.B) {
	path := os.Getenv("AYA_GEO_BENCH_DB")
	if path == "" {
		nets := make([]Network, 100_000)
		for i := range nets {
			a := netip.AddrFrom4([4]byte{byte(1 + i>>16), byte(i >> 8), byte(i), 0})
			nets[i] = Network{Prefix: netip.PrefixFrom(a, 24), Latitude: float64(i%180) - 89, Longitude: float64(i%360) - 179, Country: "GB"}
		}
		path = writeFile(b, "bench.mmdb", build(b, nets))
	}
	for _, defer_ := range []bool{false, true} {
		name := "verified"
		if defer_ {
			name = "deferred"
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				db, err := Open(Config{Database: path, DeferVerify: defer_})
				if err != nil {
					b.Fatal(err)
				}
				_ = db.Close()
			}
		})
	}
}
