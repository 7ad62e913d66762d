package plan

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"math/big"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// The small database: a few networks per region, both families, and a
// /28 inside a /24 of another country (the server answers it for its /24).
var testNetworks = []geo.Network{
	{Prefix: netip.MustParsePrefix("1.0.0.0/24"), Latitude: 53.35, Longitude: -6.26, Country: "IE"},   // Dublin
	{Prefix: netip.MustParsePrefix("2.0.0.0/16"), Latitude: 51.51, Longitude: -0.13, Country: "GB"},   // London
	{Prefix: netip.MustParsePrefix("3.0.0.0/24"), Latitude: 52.52, Longitude: 13.40, Country: "DE"},   // Berlin
	{Prefix: netip.MustParsePrefix("4.0.0.0/22"), Latitude: 48.86, Longitude: 2.35, Country: "FR"},    // Paris
	{Prefix: netip.MustParsePrefix("5.0.0.0/20"), Latitude: 40.71, Longitude: -74.01, Country: "US"},  // New York
	{Prefix: netip.MustParsePrefix("6.0.0.0/24"), Latitude: 47.61, Longitude: -122.33, Country: "US"}, // Seattle
	{Prefix: netip.MustParsePrefix("7.0.0.0/24"), Latitude: 35.68, Longitude: 139.69, Country: "JP"},  // Tokyo
	{Prefix: netip.MustParsePrefix("8.0.0.0/24"), Latitude: 51.51, Longitude: -0.13, Country: "GB"},   // London…
	{Prefix: netip.MustParsePrefix("8.0.0.16/28"), Latitude: 48.86, Longitude: 2.35, Country: "FR"},   // …but for the /24 of the query
	{Prefix: netip.MustParsePrefix("2a02:8000::/32"), Latitude: 53.35, Longitude: -6.26, Country: "IE"},
	{Prefix: netip.MustParsePrefix("2a01:4000::/32"), Latitude: 52.52, Longitude: 13.40, Country: "DE"},
	{Prefix: netip.MustParsePrefix("2600:1000::/32"), Latitude: 40.71, Longitude: -74.01, Country: "US"},
	{Prefix: netip.MustParsePrefix("2400:4000::/32"), Latitude: 35.68, Longitude: 139.69, Country: "JP"},
}

var (
	euWest      = policy.Region{Name: "eu-west", Latitude: 53.35, Longitude: -6.26, Country: "IE", Continent: "EU"}
	euCentral   = policy.Region{Name: "eu-central", Latitude: 50.11, Longitude: 8.68, Country: "DE", Continent: "EU"}
	usEast      = policy.Region{Name: "us-east", Latitude: 39.04, Longitude: -77.49, Country: "US", Continent: "NA"}
	apNortheast = policy.Region{Name: "ap-northeast", Latitude: 35.68, Longitude: 139.69, Country: "JP", Continent: "AS"}
)

// member is a region of a pool with two endpoints of one IPv4 and one IPv6
// address each, numbered from n.
func member(r policy.Region, n byte) policy.Member {
	ep := func(i byte) policy.Endpoint {
		return policy.Endpoint{
			Name:   r.Name + "-" + string('a'+i),
			Addrs:  []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, n + i}), netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: n + i})},
			Weight: 1,
		}
	}
	return policy.Member{Region: r, Endpoints: []policy.Endpoint{ep(0), ep(1)}}
}

func webPool() *policy.Pool {
	return &policy.Pool{Name: "web", TTL: 30, Answers: 1, Members: []policy.Member{
		member(euWest, 10), member(euCentral, 20), member(usEast, 30), member(apNortheast, 40),
	}}
}

func apiPool() *policy.Pool {
	return &policy.Pool{Name: "api", TTL: 30, Answers: 1, Members: []policy.Member{member(usEast, 50), member(apNortheast, 60)}}
}

// running is the release the cases change: www and api.
func running() Side {
	return Side{
		Names: []Name{{"www.gslb.example.com.", "web"}, {"api.gslb.example.com.", "api"}},
		Pools: map[string]*policy.Pool{"web": webPool(), "api": apiPool()},
	}
}

// testDB builds the small database with geo.Build (mmdbwriter) and opens it.
func testDB(tb testing.TB, overrides string) *geo.DB {
	tb.Helper()
	var buf bytes.Buffer
	if err := geo.Build(&buf, testNetworks); err != nil {
		tb.Fatal(err)
	}
	dir := tb.TempDir()
	cfg := geo.Config{Database: filepath.Join(dir, "city.mmdb")}
	if err := os.WriteFile(cfg.Database, buf.Bytes(), 0o600); err != nil {
		tb.Fatal(err)
	}
	if overrides != "" {
		cfg.Overrides = filepath.Join(dir, "overrides.yaml")
		if err := os.WriteFile(cfg.Overrides, []byte(overrides), 0o600); err != nil {
			tb.Fatal(err)
		}
	}
	return openDB(tb, cfg)
}

// bruteForce is the plan computed the plain way: every network of db, its
// client built by hand as the server builds an ECS client (subnet cut to
// /24 or /56, placed at the subnet's address by Lookup), one Decide per
// side and name. It returns the changed count per (name, from, to).
func bruteForce(t *testing.T, db *geo.DB, before, after Side, snap *state.Snapshot) map[string]map[[2]Outcome]Count {
	t.Helper()
	out := map[string]map[[2]Outcome]Count{}
	outcome := func(s Side, name string, c policy.Client, fam policy.Family) (Outcome, []netip.Addr) {
		for _, n := range s.Names {
			if canonical(n.Name) == name {
				var d policy.Decision
				st := snap
				if s.State != nil {
					st = s.State
				}
				policy.Decide(s.Pools[n.Pool], c, fam, st, &d)
				return Outcome{Region: d.Region, Fallback: d.Fallback}, d.Addrs
			}
		}
		return Outcome{Unsteered: true}, nil
	}
	names := map[string]bool{}
	for _, s := range []Side{before, after} {
		for _, n := range s.Names {
			names[canonical(n.Name)] = true
		}
	}
	for p := range db.Networks {
		bits, fam := min(p.Bits(), 24), policy.IPv4
		if p.Addr().Is6() {
			bits, fam = min(p.Bits(), 56), policy.IPv6
		}
		subnet, _ := p.Addr().Prefix(bits)
		// The answer holds for the geo network that placed the client, cut
		// to the cap, else for the capped subnet.
		loc := db.Lookup(subnet.Addr())
		if loc.Known() && loc.Network.IsValid() {
			bits = min(bits, loc.Network.Bits())
		}
		scope, _ := subnet.Addr().Prefix(bits)
		c := policy.Client{Addr: subnet.Addr(), Scope: scope, Loc: loc}
		for name := range names {
			from, fromAddrs := outcome(before, name, c, fam)
			to, toAddrs := outcome(after, name, c, fam)
			slices.SortFunc(fromAddrs, netip.Addr.Compare)
			slices.SortFunc(toAddrs, netip.Addr.Compare)
			if from == to && slices.Equal(fromAddrs, toAddrs) {
				continue
			}
			if out[name] == nil {
				out[name] = map[[2]Outcome]Count{}
			}
			cnt := out[name][[2]Outcome{from, to}]
			cnt.add(p)
			out[name][[2]Outcome{from, to}] = cnt
		}
	}
	return out
}

// moves is a report's changed counts in bruteForce's shape.
func moves(r *Report) map[string]map[[2]Outcome]Count {
	out := map[string]map[[2]Outcome]Count{}
	for _, n := range r.Names {
		for _, m := range n.Moves {
			if out[n.Name] == nil {
				out[n.Name] = map[[2]Outcome]Count{}
			}
			out[n.Name][[2]Outcome{m.From, m.To}] = m.Count
		}
	}
	return out
}

// count is a Count of v4 networks holding a4 addresses and v6 networks
// holding 2^log6 addresses each.
func count(v4 uint64, a4 uint64, v6 uint64, log6 ...int) Count {
	var c Count
	c.IPv4.Networks, c.IPv4.Addresses.w[0] = v4, a4
	c.IPv6.Networks = v6
	for _, l := range log6 {
		c.IPv6.Addresses.addPow2(l)
	}
	return c
}

func region(name string) Outcome { return Outcome{Region: name} }

func TestCompute(t *testing.T) {
	db := testDB(t, "")
	const www, api = "www.gslb.example.com.", "api.gslb.example.com."
	drained := &state.Snapshot{DrainedRegions: map[string]string{"eu-west": "maintenance"}}
	for _, tc := range []struct {
		name          string
		after         func(s *Side)
		snap          *state.Snapshot
		want          map[string]map[[2]Outcome]Count // nil: checked against bruteForce only
		wantUnchanged []string
	}{
		{
			name:          "same release",
			after:         func(*Side) {},
			want:          map[string]map[[2]Outcome]Count{},
			wantUnchanged: []string{api, www},
		},
		{
			name:          "same release, drained region in both",
			after:         func(*Side) {},
			snap:          drained,
			want:          map[string]map[[2]Outcome]Count{},
			wantUnchanged: []string{api, www},
		},
		{
			// The networks nearest eu-west move to the next nearest,
			// eu-central: Dublin and London, the /24 around the /28 (the
			// /28 is answered for its /24, in London) and Dublin's IPv6.
			// Paris is nearer Frankfurt already.
			name:  "region drained in the candidate",
			after: func(s *Side) { s.State = drained },
			want: map[string]map[[2]Outcome]Count{www: {
				{region("eu-west"), region("eu-central")}: count(1+1+5, 256+65536+256, 1, 96),
			}},
			wantUnchanged: []string{api},
		},
		{
			// US clients go to the nearest of the rest: eu-west for New
			// York, and for Seattle too (7,300 km to Dublin, 7,700 to Tokyo).
			name: "region removed from the pool",
			after: func(s *Side) {
				p := webPool()
				p.Members = slices.DeleteFunc(p.Members, func(m policy.Member) bool { return m.Region.Name == "us-east" })
				s.Pools["web"] = p
			},
			want: map[string]map[[2]Outcome]Count{www: {
				{region("us-east"), region("eu-west")}: count(2, 4096+256, 1, 96),
			}},
			wantUnchanged: []string{api},
		},
		{
			name: "name added",
			after: func(s *Side) {
				s.Names = append(s.Names, Name{"New.gslb.example.com", "api"})
			},
			want: map[string]map[[2]Outcome]Count{"new.gslb.example.com.": {
				{{Unsteered: true}, region("us-east")}:      count(11, 256+65536+256+1024+4096+256+16+16+32+64+128, 3, 96, 96, 96),
				{{Unsteered: true}, region("ap-northeast")}: count(1, 256, 1, 96),
			}},
			wantUnchanged: []string{api, www},
		},
		{
			name:          "name removed",
			after:         func(s *Side) { s.Names = s.Names[:1] },
			wantUnchanged: []string{www},
		},
		{
			name:          "name bound to another pool",
			after:         func(s *Side) { s.Names[0].Pool = "api" },
			wantUnchanged: []string{api},
		},
		{
			// Every endpoint of eu-central gets new addresses: its clients
			// keep the region and change addresses.
			name: "addresses changed",
			after: func(s *Side) {
				p := webPool()
				p.Members[1] = member(euCentral, 120)
				s.Pools["web"] = p
			},
			want: map[string]map[[2]Outcome]Count{www: {
				{region("eu-central"), region("eu-central")}: count(2, 256+1024, 1, 96),
			}},
			wantUnchanged: []string{api},
		},
		{
			name: "every region drained, servfail",
			after: func(s *Side) {
				p := apiPool()
				p.Fallback = policy.Servfail
				s.Pools["api"] = p
				s.State = &state.Snapshot{DrainedRegions: map[string]string{"us-east": "", "ap-northeast": ""}}
			},
			want: map[string]map[[2]Outcome]Count{api: {
				{region("us-east"), {Fallback: "servfail"}}:      count(11, 256+65536+256+1024+4096+256+16+16+32+64+128, 3, 96, 96, 96),
				{region("ap-northeast"), {Fallback: "servfail"}}: count(1, 256, 1, 96),
			}, www: { // the drains hold for every pool
				{region("us-east"), region("eu-west")}:         count(2, 4096+256, 1, 96),
				{region("ap-northeast"), region("eu-central")}: count(1, 256, 1, 96),
			}},
		},
		{
			name: "every region drained, fail open",
			after: func(s *Side) {
				s.State = &state.Snapshot{DrainedRegions: map[string]string{"us-east": "", "ap-northeast": ""}}
			},
		},
		{
			name: "country map and shedding",
			after: func(s *Side) {
				p := webPool()
				p.CountryMap = map[string]string{"FR": "eu-west"}
				s.Pools["web"] = p
				s.State = &state.Snapshot{Shed: map[string]state.Shed{"us-east": {Fraction: 0.5, Why: "load"}}}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := running()
			after := running()
			after.Pools = maps.Clone(after.Pools)
			tc.after(&after)
			var first *Report
			for _, workers := range []int{1, 2, 3} {
				r, err := Compute(t.Context(), db, before, after, tc.snap, Options{Workers: workers})
				if err != nil {
					t.Fatal(err)
				}
				if first == nil {
					first = r
				} else if !reflect.DeepEqual(r, first) {
					t.Errorf("workers %d: report differs from one worker's\n got %+v\nwant %+v", workers, r, first)
				}
				if want := count(12, 256+65536+256+1024+4096+256+256+16+16+32+64+128, 4, 96, 96, 96, 96); r.Networks != want {
					t.Errorf("Networks = %+v, want %+v", r.Networks, want)
				}
				got := moves(r)
				if brute := bruteForce(t, db, before, after, tc.snap); !maps.EqualFunc(got, brute, maps.Equal) {
					t.Errorf("workers %d: moves\n got %v\nwant (brute force) %v", workers, got, brute)
				}
				if tc.want != nil && !maps.EqualFunc(got, tc.want, maps.Equal) {
					t.Errorf("workers %d: moves\n got %v\nwant %v", workers, got, tc.want)
				}
				var unchanged []string
				for _, n := range r.Names {
					if n.Changed.IsZero() {
						unchanged = append(unchanged, n.Name)
					}
				}
				if !slices.Equal(unchanged, tc.wantUnchanged) {
					t.Errorf("unchanged names %q, want %q", unchanged, tc.wantUnchanged)
				}
				checkConsistent(t, r)
			}
		})
	}
}

// checkConsistent checks that a report's parts add up: per name, the moves
// and the countries each sum to Changed; samples are subnets of their
// move's family, at most 3 per family, sorted.
func checkConsistent(t *testing.T, r *Report) {
	t.Helper()
	for _, n := range r.Names {
		var byMove, byCountry Count
		for _, m := range n.Moves {
			byMove.merge(m.Count)
			var v4, v6 int
			for _, s := range m.Samples {
				if s.Addr().Is4() {
					v4++
				} else {
					v6++
				}
			}
			if v4 > 3 || v6 > 3 || uint64(v4) > m.IPv4.Networks || uint64(v6) > m.IPv6.Networks || v4 == 0 && m.IPv4.Networks > 0 || v6 == 0 && m.IPv6.Networks > 0 {
				t.Errorf("%s %v → %v: samples %v for %+v", n.Name, m.From, m.To, m.Samples, m.Count)
			}
		}
		for _, c := range n.Countries {
			byCountry.merge(c.Count)
		}
		if byMove != n.Changed || byCountry != n.Changed {
			t.Errorf("%s: changed %+v, moves add up to %+v, countries to %+v", n.Name, n.Changed, byMove, byCountry)
		}
	}
}

func TestComputeOverrides(t *testing.T) {
	// 5.0.0.0/24 of New York placed in Dublin by an override, 7.0.0.0/25
	// of Tokyo sent straight to eu-central: both leave their region when
	// eu-west is drained or not, as the overrides say.
	db := testDB(t, `
overrides:
  - network: 5.0.0.0/24
    latitude: 53.35
    longitude: -6.26
    country: IE
  - network: 7.0.0.0/25
    region: eu-central
`)
	before := running()
	after := running()
	after.State = &state.Snapshot{DrainedRegions: map[string]string{"eu-west": ""}}
	r, err := Compute(t.Context(), db, before, after, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := moves(r)
	if brute := bruteForce(t, db, before, after, nil); !maps.EqualFunc(got, brute, maps.Equal) {
		t.Errorf("moves\n got %v\nwant (brute force) %v", got, brute)
	}
	// The override's /24 moves with Dublin; the rest of New York's /20
	// (5.0.1.0/24, 5.0.2.0/23, 5.0.4.0/22, 5.0.8.0/21) stays.
	want := count(1+1+5+1, 256+65536+256+256, 1, 96)
	if c := got["www.gslb.example.com."][[2]Outcome{region("eu-west"), region("eu-central")}]; c != want {
		t.Errorf("eu-west → eu-central: %+v, want %+v", c, want)
	}
	// Without the drain, the override pins Tokyo's lower /25 to
	// eu-central, and its upper /25 with it: a query for that /25 is
	// answered for its /24, placed at 7.0.0.0 by the override.
	r, err = Compute(t.Context(), db, Side{Pools: before.Pools}, before, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c := moves(r)["www.gslb.example.com."][[2]Outcome{{Unsteered: true}, region("eu-central")}]; c.IPv4.Networks != 4 || c.IPv4.Addresses.w[0] != 256+1024+256 {
		t.Errorf("new name, (not steered) → eu-central: %+v, want Berlin, Paris and Tokyo's two halves", c)
	}
}

func TestComputeErrors(t *testing.T) {
	db := testDB(t, "")
	for _, tc := range []struct {
		name   string
		before Side
		want   string
		is     error
	}{
		{"unknown pool", Side{Names: []Name{{"www.example.com.", "nope"}}}, `before: www.example.com.: unknown pool "nope"`, ErrUnknownPool},
		{"bound twice", Side{Names: []Name{{"www.example.com.", "web"}, {"WWW.example.com", "api"}}, Pools: running().Pools}, `before: www.example.com.: bound to pools "web" and "api"`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compute(t.Context(), db, tc.before, running(), nil, Options{})
			if err == nil || err.Error() != tc.want {
				t.Fatalf("err = %v, want %s", err, tc.want)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("errors.Is(%v, %v) = false", err, tc.is)
			}
		})
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := Compute(ctx, db, Side{}, running(), nil, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("done context: err = %v, want %v", err, context.Canceled)
	}
}

func TestAddresses(t *testing.T) {
	var a Addresses
	for _, n := range []int{0, 64, 127, 127, 128} {
		a.addPow2(n)
	}
	want := new(big.Int).Lsh(big.NewInt(1), 129)
	want.Add(want, new(big.Int).Lsh(big.NewInt(1), 64))
	want.Add(want, big.NewInt(1))
	if a.Big().Cmp(want) != 0 {
		t.Errorf("Big() = %s, want %s", a.Big(), want)
	}
	b, err := a.MarshalJSON()
	if err != nil || string(b) != `"`+want.String()+`"` {
		t.Errorf("MarshalJSON() = %s, %v", b, err)
	}
	var back Addresses
	if err := back.UnmarshalJSON(b); err != nil || back != a {
		t.Errorf("UnmarshalJSON: %+v, %v; want %+v", back, err, a)
	}
	if err := back.UnmarshalJSON([]byte(`"-1"`)); err == nil {
		t.Error(`UnmarshalJSON("-1"): no error`)
	}
}

// TestComputeGenerated plans largeSides over a generated database of some
// ten thousand networks, many chunks: the report is the brute force's, and
// the same whatever the number of workers.
func TestComputeGenerated(t *testing.T) {
	db := openDB(t, geo.Config{Database: genDatabase(t, 30_000, 10_000)})
	before, after := largeSides()
	var first *Report
	for _, workers := range []int{1, 2, 4} {
		r, err := Compute(t.Context(), db, before, after, nil, Options{Workers: workers})
		if err != nil {
			t.Fatal(err)
		}
		checkConsistent(t, r)
		if first == nil {
			first = r
			if got, brute := moves(r), bruteForce(t, db, before, after, nil); !maps.EqualFunc(got, brute, maps.Equal) {
				t.Errorf("moves\n got %v\nwant (brute force) %v", got, brute)
			}
			continue
		}
		if !reflect.DeepEqual(r, first) {
			t.Errorf("workers %d: report differs from one worker's", workers)
		}
	}
	if n := first.Networks.IPv4.Networks + first.Networks.IPv6.Networks; n < 4*chunkSize {
		t.Errorf("%d networks: want several chunks", n)
	}
}
