package geo

import (
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/maxmind/mmdbwriter/mmdbtype"
)

// lastAddr is the last address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// collect returns what db.Networks yields.
func collect(db *DB) (ps []netip.Prefix, locs []Location) {
	for p, loc := range db.Networks {
		ps = append(ps, p)
		locs = append(locs, loc)
	}
	return ps, locs
}

func TestNetworks(t *testing.T) {
	dbPath := writeFile(t, "city.mmdb", build(t, testNetworks))
	ovPath := writeFile(t, "overrides.yaml", []byte(networksOverrides))
	v4Path := writeFile(t, "v4.mmdb", writeMMDB(t, "GeoIP2-Country", 4, map[string]mmdbtype.Map{
		"81.2.69.0/24": countryRecord("GB", "EU"),
	}))
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // the networks, in order
	}{
		{
			name: "database",
			cfg:  Config{Database: dbPath},
			// The tree holds the /27 inside the /24 as a partition.
			want: []string{"10.0.0.0/8", "81.2.69.0/25", "81.2.69.128/27", "81.2.69.160/27", "81.2.69.192/26", "175.16.199.0/24", "216.160.83.56/29", "2001:218::/32", "2a02:cfc0::/29"},
		},
		{
			name: "database and overrides",
			cfg:  Config{Database: dbPath, Overrides: ovPath},
			want: []string{
				// 10.0.0.0/8 is the override's, around 10.1.0.0/16, around 10.1.2.0/24.
				"10.0.0.0/16", "10.1.0.0/23", "10.1.2.0/24", "10.1.3.0/24", "10.1.4.0/22", "10.1.8.0/21",
				"10.1.16.0/20", "10.1.32.0/19", "10.1.64.0/18", "10.1.128.0/17", "10.2.0.0/15", "10.4.0.0/14",
				"10.8.0.0/13", "10.16.0.0/12", "10.32.0.0/11", "10.64.0.0/10", "10.128.0.0/9",
				// The database's /24 around the override's /25, and its /27 inside it.
				"81.2.69.0/25", "81.2.69.128/25",
				"175.16.199.0/24",
				"192.0.2.7/32",
				"216.160.83.0/24", // the override around the database's /29
				"2001:218::/48", "2001:218:1::/48", "2001:218:2::/47", "2001:218:4::/46", "2001:218:8::/45",
				"2001:218:10::/44", "2001:218:20::/43", "2001:218:40::/42", "2001:218:80::/41", "2001:218:100::/40",
				"2001:218:200::/39", "2001:218:400::/38", "2001:218:800::/37", "2001:218:1000::/36",
				"2001:218:2000::/35", "2001:218:4000::/34", "2001:218:8000::/33",
				"2a02:cfc0::/29",
			},
		},
		{
			name: "overrides only",
			cfg:  Config{Overrides: ovPath},
			want: []string{
				"10.0.0.0/16", "10.1.0.0/23", "10.1.2.0/24", "10.1.3.0/24", "10.1.4.0/22", "10.1.8.0/21",
				"10.1.16.0/20", "10.1.32.0/19", "10.1.64.0/18", "10.1.128.0/17", "10.2.0.0/15", "10.4.0.0/14",
				"10.8.0.0/13", "10.16.0.0/12", "10.32.0.0/11", "10.64.0.0/10", "10.128.0.0/9",
				"81.2.69.128/25", "192.0.2.7/32", "216.160.83.0/24", "2001:218:1::/48",
			},
		},
		{
			name: "IPv4 database",
			cfg:  Config{Database: v4Path},
			want: []string{"81.2.69.0/24"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db := open(t, tc.cfg)
			ps, locs := collect(db)
			var got []string
			for _, p := range ps {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("networks\n got %q\nwant %q", got, tc.want)
			}
			for i, p := range ps {
				if i > 0 && !ps[i-1].Addr().Less(p.Addr()) || i > 0 && ps[i-1].Overlaps(p) {
					t.Errorf("%s after %s: not in address order, or overlapping", p, ps[i-1])
				}
				if locs[i].Network != p {
					t.Errorf("%s: Network = %s", p, locs[i].Network)
				}
				for _, a := range []netip.Addr{p.Addr(), lastAddr(p)} {
					if got := db.Lookup(a); got != locs[i] {
						t.Errorf("%s: Lookup(%s)\n got %+v\nyielded %+v", p, a, got, locs[i])
					}
				}
			}
			// Every address the DB places is in a yielded network.
			rng := rand.New(rand.NewPCG(1, 2))
			for _, base := range testNetworksAndOverrides() {
				for range 50 {
					a := randomIn(rng, base)
					loc := db.Lookup(a)
					placed := loc.Source != SourceNone || loc.Region != ""
					in := slices.ContainsFunc(ps, func(p netip.Prefix) bool { return p.Contains(a) })
					if placed != in {
						t.Errorf("%s: placed %v (%+v), in a yielded network %v", a, placed, loc, in)
					}
				}
			}
		})
	}
}

// testNetworksAndOverrides are the prefixes of the fixtures, widened so
// that random addresses also fall around them.
func testNetworksAndOverrides() []netip.Prefix {
	var out []netip.Prefix
	for _, s := range []string{"10.0.0.0/7", "81.2.68.0/23", "175.16.198.0/23", "192.0.2.0/24", "216.160.82.0/23", "2001:218::/31", "2a02:cfc0::/28"} {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// randomIn is a random address of p.
func randomIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		if rng.IntN(2) == 1 {
			b[i/8] |= 0x80 >> (i % 8)
		}
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

func TestNetworksStops(t *testing.T) {
	db := open(t, Config{Database: writeFile(t, "city.mmdb", build(t, testNetworks)), Overrides: writeFile(t, "o.yaml", []byte(networksOverrides))})
	all, _ := collect(db)
	for n := range len(all) + 1 {
		var got []netip.Prefix
		for p := range db.Networks {
			if len(got) == n {
				break
			}
			got = append(got, p)
		}
		if !slices.Equal(got, all[:n]) {
			t.Errorf("stopped after %d: got %v", n, got)
		}
	}
	var nilDB *DB
	for p := range nilDB.Networks {
		t.Errorf("nil DB yielded %s", p)
	}
	_ = db.Close()
	for p := range db.Networks {
		t.Errorf("closed DB yielded %s", p)
	}
}
