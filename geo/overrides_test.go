package geo

import (
	"crypto/sha256"
	"errors"
	"math/rand/v2"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func TestParseOverrides(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		n         int
	}{
		{"empty file", "", 0},
		{"comments only", "# nothing yet\n", 0},
		{"empty list", "overrides:\n", 0},
		{"empty flow list", "overrides: []\n", 0},
		{"entries", "overrides:\n  - {network: 10.0.0.0/8, region: a}\n  - {network: \"2001:db8::/32\", continent: EU}\n  - {network: 192.0.2.1, country: fr}\n", 3},
		{"IPv4 and its ::/96 twin are distinct", "overrides:\n  - {network: 0.0.0.1/32, region: a}\n  - {network: \"::1\", region: b}\n", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parseOverrides([]byte(tc.src), "o.yaml")
			if err != nil {
				t.Fatal(err)
			}
			if o.len() != tc.n {
				t.Errorf("%d overrides, want %d", o.len(), tc.n)
			}
		})
	}
}

// TestParseOverridesErrors pins the messages: each names file:line.
func TestParseOverridesErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		// yaml.v3 gives some syntax errors the line before the construct
		// that failed (the flow mapping opens on line 2).
		{"syntax", "overrides:\n  - {network: 10.0.0.0/8\n", []string{"o.yaml:1: did not find expected ',' or '}'"}},
		{"not a mapping", "- {network: 10.0.0.0/8, region: a}\n", []string{"o.yaml:1: want a mapping with the key overrides"}},
		{"unknown top-level key", "overrides: []\noverride: []\n", []string{`o.yaml:2: unknown key "override": want overrides`}},
		{"not a list", "overrides:\n  network: 10.0.0.0/8\n", []string{"o.yaml:2: want a list of networks"}},
		{"several", `overrides:
  - network: 10.0.0.1/8
    region: eu-west
  - network: 10.1.0.0/16
  - network: 10.2.0.0/16
    latitude: 1
  - network: 10.3.0.0/16
    city: Paris
  - network: 10.4.0.0/16
    country: XX
  - network: 10.5.0.0/16
    region: ""
  - {network: 10.6.0.0/16, region: a}
  - {network: 10.6.0.0/16, region: b}
  - {network: 10.7.0.0/16, longitude: 200, latitude: 1}
  - {region: a}
  - {network: "::ffff:10.0.0.0/104", region: a}
`, []string{
			"o.yaml:2: network 10.0.0.1/8 has host bits set: the network is 10.0.0.0/8",
			"o.yaml:4: network 10.1.0.0/16: give a region, latitude and longitude, a country or a continent",
			"o.yaml:5: network 10.2.0.0/16: give latitude and longitude together",
			`o.yaml:8: unknown key "city": want network, region, latitude, longitude, country, continent`,
			`o.yaml:10: country "XX": not an ISO 3166-1 alpha-2 code`,
			"o.yaml:12: region: empty",
			"o.yaml:14: network 10.6.0.0/16 is also on line 13",
			`o.yaml:15: longitude "200": want a number from -180 to 180`,
			"o.yaml:16: network is required",
			"o.yaml:17: network ::ffff:10.0.0.0/104 is IPv4-mapped: write it 10.0.0.0/8",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseOverrides([]byte(tc.src), "o.yaml")
			if err == nil {
				t.Fatal("parseOverrides succeeded")
			}
			if got := strings.Split(err.Error(), "\n"); !slices.Equal(got, tc.want) {
				t.Errorf("parseOverrides errors:\n%s\nwant:\n%s", err, strings.Join(tc.want, "\n"))
			}
			for _, e := range unjoin(err) {
				if pe := (*ParseError)(nil); !errors.As(e, &pe) || pe.File != "o.yaml" {
					t.Errorf("%v: not a *ParseError of o.yaml", e)
				}
			}
		})
	}
}

func TestNarrow(t *testing.T) {
	ov, err := parseOverrides([]byte(`overrides:
  - {network: 10.0.0.0/8, region: a}
  - {network: 10.0.0.0/24, region: b}
  - {network: 10.0.1.0/24, region: c}
  - {network: 10.255.255.255/32, region: d}
  - {network: "2001:db8::/32", region: e}
  - {network: "2001:db8:0:1::/64", region: f}
`), "o.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ addr, network, want string }{
		{"10.0.0.1", "10.0.0.0/24", "10.0.0.0/24"}, // nothing inside
		{"10.0.2.1", "10.0.0.0/8", "10.0.2.0/23"},  // between b/c and d
		{"10.0.3.1", "10.0.0.0/8", "10.0.2.0/23"},  // same side
		{"10.0.4.1", "10.0.0.0/8", "10.0.4.0/22"},
		{"10.200.0.1", "10.0.0.0/8", "10.192.0.0/11"}, // d is the nearest
		{"10.255.255.254", "10.0.0.0/8", "10.255.255.254/32"},
		{"11.0.0.1", "8.0.0.0/6", "11.0.0.0/8"}, // 10.0.0.0/8 lies in 8.0.0.0/6
		{"2001:db8::1", "2001:db8::/32", "2001:db8::/64"},
		{"2001:db8:0:2::1", "2001:db8::/32", "2001:db8:0:2::/63"},
	} {
		got := ov.narrow(netip.MustParseAddr(tc.addr), netip.MustParsePrefix(tc.network))
		if got.String() != tc.want {
			t.Errorf("narrow(%s, %s) = %s, want %s", tc.addr, tc.network, got, tc.want)
		}
	}
}

// TestNetworkHoldsItsLocation: Location.Network is the ECS scope of the
// answer, so every address in it must have the same Location, the same
// Network included, with overrides nested inside database networks,
// around them, inside each other, and without a database. The addresses
// asked are the ends of every network and override, their neighbours, and
// random ones; the addresses checked are the ends of each answer's
// network and random ones inside it.
func TestNetworkHoldsItsLocation(t *testing.T) {
	dbPath := writeFile(t, "city.mmdb", build(t, testNetworks))
	ovPath := writeFile(t, "overrides.yaml", []byte(`
overrides:
  - {network: 10.0.0.0/8, region: eu-west}
  - {network: 10.1.0.0/16, region: us-east}
  - {network: 10.1.2.0/24, country: FR}
  - {network: 81.2.69.128/25, country: DE}
  - {network: 81.2.69.192/30, region: lab}
  - {network: 216.160.83.0/24, continent: OC}
  - {network: 175.16.199.77, region: host}
  - {network: "2001:218:1::/48", country: JP}
  - {network: "2001:218:1:8000::/49", region: v6}
  - {network: "2a02:cfc4::/32", region: fr}
`))
	ov, err := loadOverrides(ovPath, DefaultMaxFileBytes, sha256.New())
	if err != nil {
		t.Fatal(err)
	}
	var edges []netip.Prefix
	for _, n := range testNetworks {
		edges = append(edges, n.Prefix)
	}
	edges = append(append(edges, ov.sorted4...), ov.sorted6...)
	rng := rand.New(rand.NewPCG(7871, 1))
	for _, tc := range []struct {
		name string
		cfg  Config
	}{
		{"database and overrides", Config{Database: dbPath, Overrides: ovPath}},
		{"overrides only", Config{Overrides: ovPath}},
		{"database only", Config{Database: dbPath}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, tc.cfg)
			checked := 0
			for _, e := range edges {
				first, last := e.Masked().Addr(), lastOf(e)
				asked := []netip.Addr{first, last, first.Prev(), last.Next()}
				for range 8 {
					asked = append(asked, randomAddr(rng, e))
				}
				for _, a := range asked {
					if !a.IsValid() {
						continue
					}
					want := db.Lookup(a)
					n := want.Network
					if !n.IsValid() || !n.Contains(a.Unmap()) {
						t.Fatalf("Lookup(%s).Network = %v, which does not hold it", a, n)
					}
					inside := []netip.Addr{n.Addr(), lastOf(n)}
					for range 8 {
						inside = append(inside, randomAddr(rng, n))
					}
					for _, b := range inside {
						checked++
						if got := db.Lookup(b); got != want {
							t.Errorf("Lookup(%s) = %+v\nbut %s in its network gets %+v", a, want, b, got)
						}
					}
				}
			}
			t.Logf("%d addresses checked inside the networks of the addresses asked", checked)
		})
	}
}

// lastOf is the highest address of p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// randomAddr is a random address of p.
func randomAddr(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if rng.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// TestLocationKnown: a Location is known when anything placed the address.
func TestLocationKnown(t *testing.T) {
	for _, tc := range []struct {
		name string
		loc  Location
		want bool
	}{
		{"nothing", Location{Network: netip.MustParsePrefix("10.0.0.0/8")}, false},
		{"city", Location{Source: SourceCity, HasCoordinates: true}, true},
		{"country centroid", Location{Source: SourceCountry, Country: "FR"}, true},
		{"override", Location{Source: SourceOverride, Region: "eu-west"}, true},
		{"a record with only a continent", Location{Continent: "EU"}, true},
		{"only a country code", Location{Country: "XK"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.loc.Known(); got != tc.want {
				t.Errorf("%+v.Known() = %v, want %v", tc.loc, got, tc.want)
			}
		})
	}
}
