package policy

import (
	"flag"
	"fmt"
	"maps"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/state"
)

var update = flag.Bool("update", false, "update golden files")

// The regions of the examples in DESIGN.md, plus Frankfurt for fences.
var (
	usEast      = Region{Name: "us-east", Latitude: 39.04, Longitude: -77.49, Country: "US", Continent: "NA"}
	euWest      = Region{Name: "eu-west", Latitude: 53.35, Longitude: -6.26, Country: "IE", Continent: "EU"}
	apSoutheast = Region{Name: "ap-southeast", Latitude: 1.29, Longitude: 103.85, Country: "SG", Continent: "AS"}
	euCentral   = Region{Name: "eu-central", Latitude: 50.11, Longitude: 8.68, Country: "DE", Continent: "EU"}
)

func addrs(ss ...string) []netip.Addr {
	out := make([]netip.Addr, len(ss))
	for i, s := range ss {
		out[i] = netip.MustParseAddr(s)
	}
	return out
}

// testPool is the three-region pool "web": us-east has dual-stack
// endpoints, eu-west one IPv4-only, one IPv6-only and one dual-stack
// endpoint, ap-southeast IPv4 only. Answers is large enough that an answer
// is every usable address of the family, unless a test says otherwise.
func testPool() *Pool {
	return &Pool{
		Name:    "web",
		TTL:     30,
		Answers: 8,
		Members: []Member{
			{Region: usEast, Endpoints: []Endpoint{
				{Name: "use-a", Addrs: addrs("192.0.2.1", "2001:db8:1::1"), Weight: 1},
				{Name: "use-b", Addrs: addrs("192.0.2.2", "2001:db8:1::2"), Weight: 1},
			}},
			{Region: euWest, Endpoints: []Endpoint{
				{Name: "euw-a", Addrs: addrs("198.51.100.1"), Weight: 1},
				{Name: "euw-b", Addrs: addrs("2001:db8:2::2"), Weight: 1},
				{Name: "euw-c", Addrs: addrs("198.51.100.3", "2001:db8:2::3"), Weight: 1},
			}},
			{Region: apSoutheast, Endpoints: []Endpoint{
				{Name: "apse-a", Addrs: addrs("203.0.113.1"), Weight: 1},
				{Name: "apse-b", Addrs: addrs("203.0.113.2"), Weight: 1},
			}},
		},
		FallbackAddrs: addrs("192.0.2.250", "2001:db8:ff::250"),
	}
}

// withEUCentral adds Frankfurt to the pool, for the fence rows.
func withEUCentral(p *Pool) {
	p.Members = append(p.Members, Member{Region: euCentral, Endpoints: []Endpoint{
		{Name: "euc-a", Addrs: addrs("198.51.100.11", "2001:db8:3::11"), Weight: 1},
		{Name: "euc-b", Addrs: addrs("198.51.100.12", "2001:db8:3::12"), Weight: 1},
	}})
}

// euFence keeps clients in EU member states in Frankfurt.
var euFence = Fence{
	Name:      "eu",
	Countries: []string{"AT", "BE", "DE", "DK", "ES", "FI", "FR", "IE", "IT", "NL", "PL", "PT", "SE"},
	Regions:   []string{"eu-central"},
}

func client(addr, subnet string, lat, lon float64, country, continent string) Client {
	return Client{
		Addr:  netip.MustParseAddr(addr),
		Scope: netip.MustParsePrefix(subnet),
		Loc: geo.Location{
			Latitude: lat, Longitude: lon, HasCoordinates: true,
			Country: country, Continent: continent, Source: geo.SourceCity,
		},
	}
}

var (
	london    = client("81.2.69.142", "81.2.69.0/24", 51.51, -0.13, "GB", "EU")
	dublin    = client("87.32.0.1", "87.32.0.0/24", 53.33, -6.25, "IE", "EU")
	paris     = client("90.0.0.1", "90.0.0.0/24", 48.86, 2.35, "FR", "EU")
	berlin    = client("91.0.0.1", "91.0.0.0/24", 52.52, 13.40, "DE", "EU")
	seattle   = client("216.160.83.56", "216.160.83.0/24", 47.25, -122.31, "US", "NA")
	changchun = client("175.16.199.1", "175.16.199.0/24", 43.88, 125.32, "CN", "AS")
	singapore = client("2406:3003::1", "2406:3003::/56", 1.35, 103.82, "SG", "AS")
	// nowhere has an address and nothing else: no coordinates, no country.
	nowhere = Client{Addr: netip.MustParseAddr("198.18.0.1"), Scope: netip.MustParsePrefix("198.18.0.0/24")}
)

// withRegion is c with an operator override to region.
func withRegion(c Client, region string) Client {
	c.Loc.Region = region
	c.Loc.Source = geo.SourceOverride
	return c
}

func down(region string, endpoints ...string) map[state.EndpointKey]string {
	m := map[state.EndpointKey]string{}
	for _, e := range endpoints {
		m[state.EndpointKey{Pool: "web", Region: region, Endpoint: e}] = "http 503"
	}
	return m
}

func merge[K comparable, V any](ms ...map[K]V) map[K]V {
	out := map[K]V{}
	for _, m := range ms {
		maps.Copy(out, m)
	}
	return out
}

var allDown = &state.Snapshot{Down: merge(
	down("us-east", "use-a", "use-b"),
	down("eu-west", "euw-a", "euw-b", "euw-c"),
	down("ap-southeast", "apse-a", "apse-b"),
	down("eu-central", "euc-a", "euc-b"),
)}

// TestDecide has one row per rule. addrs is the exact set answered.
// why pins the Reason of some verdicts (region → reason); the answering
// region's reason is in reason.
func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		pool     func(*Pool)
		client   Client
		fam      Family
		snap     *state.Snapshot
		region   string
		addrs    []string
		fallback string
		servfail bool
		reason   string
		why      map[string]string
	}{
		// Ranking by distance.
		{name: "nearest: london to eu-west", client: london, region: "eu-west",
			addrs: []string{"198.51.100.1", "198.51.100.3"}, reason: "nearest",
			why: map[string]string{"us-east": "eligible", "ap-southeast": "eligible"}},
		{name: "nearest: seattle to us-east", client: seattle, region: "us-east",
			addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "nearest"},
		{name: "nearest: changchun to ap-southeast", client: changchun, region: "ap-southeast",
			addrs: []string{"203.0.113.1", "203.0.113.2"}, reason: "nearest"},
		{name: "nearest: singapore to ap-southeast", client: singapore, region: "ap-southeast",
			addrs: []string{"203.0.113.1", "203.0.113.2"}, reason: "nearest"},
		{name: "bias: eu-west +6000 km sends london to us-east",
			pool:   func(p *Pool) { p.Members[1].BiasKm = 6000 },
			client: london, region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "nearest"},
		{name: "bias: ap-southeast -10000 km draws seattle",
			pool:   func(p *Pool) { p.Members[2].BiasKm = -10000 },
			client: seattle, region: "ap-southeast", addrs: []string{"203.0.113.1", "203.0.113.2"}, reason: "nearest"},
		{name: "tie: same score goes to the earlier member",
			pool: func(p *Pool) {
				twin := p.Members[0]
				twin.Region.Name = "us-east-2"
				twin.Endpoints = []Endpoint{{Name: "use2-a", Addrs: addrs("192.0.2.21"), Weight: 1}}
				p.Members = append(p.Members, twin)
			},
			client: seattle, region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "nearest"},

		// Explicit maps and overrides.
		{name: "country map", pool: func(p *Pool) { p.CountryMap = map[string]string{"FR": "us-east"} },
			client: paris, region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"},
			reason: "country map FR → us-east"},
		{name: "continent map", pool: func(p *Pool) { p.ContinentMap = map[string]string{"AS": "us-east"} },
			client: changchun, region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"},
			reason: "continent map AS → us-east"},
		{name: "country map beats continent map",
			pool: func(p *Pool) {
				p.CountryMap = map[string]string{"CN": "eu-west"}
				p.ContinentMap = map[string]string{"AS": "us-east"}
			},
			client: changchun, region: "eu-west", addrs: []string{"198.51.100.1", "198.51.100.3"},
			reason: "country map CN → eu-west"},
		{name: "mapped region drained falls through to distance",
			pool:   func(p *Pool) { p.CountryMap = map[string]string{"FR": "us-east"} },
			snap:   &state.Snapshot{DrainedRegions: map[string]string{"us-east": "maintenance"}},
			client: paris, region: "eu-west", addrs: []string{"198.51.100.1", "198.51.100.3"}, reason: "nearest",
			why: map[string]string{"us-east": "drained: maintenance"}},
		{name: "mapped country region down falls through to continent map",
			pool: func(p *Pool) {
				p.CountryMap = map[string]string{"FR": "us-east"}
				p.ContinentMap = map[string]string{"EU": "ap-southeast"}
			},
			snap:   &state.Snapshot{Down: down("us-east", "use-a", "use-b")},
			client: paris, region: "ap-southeast", addrs: []string{"203.0.113.1", "203.0.113.2"},
			reason: "continent map EU → ap-southeast", why: map[string]string{"us-east": "down: no endpoint up"}},
		{name: "mapped region not in the pool is ignored",
			pool:   func(p *Pool) { p.CountryMap = map[string]string{"FR": "mars"} },
			client: paris, region: "eu-west", addrs: []string{"198.51.100.1", "198.51.100.3"}, reason: "nearest"},
		{name: "override region", client: withRegion(london, "ap-southeast"), region: "ap-southeast",
			addrs: []string{"203.0.113.1", "203.0.113.2"}, reason: "override → ap-southeast"},
		{name: "override beats country map",
			pool:   func(p *Pool) { p.CountryMap = map[string]string{"GB": "us-east"} },
			client: withRegion(london, "ap-southeast"), region: "ap-southeast",
			addrs: []string{"203.0.113.1", "203.0.113.2"}, reason: "override → ap-southeast"},
		{name: "override region drained falls through",
			snap:   &state.Snapshot{DrainedRegions: map[string]string{"ap-southeast": ""}},
			client: withRegion(london, "ap-southeast"), region: "eu-west",
			addrs: []string{"198.51.100.1", "198.51.100.3"}, reason: "nearest",
			why: map[string]string{"ap-southeast": "drained"}},

		// Fences.
		{name: "fence: EU client only gets the fence's regions",
			pool:   func(p *Pool) { withEUCentral(p); p.Fences = []Fence{euFence} },
			client: dublin, region: "eu-central", addrs: []string{"198.51.100.11", "198.51.100.12"}, reason: "nearest",
			why: map[string]string{"eu-west": "fenced (eu)", "us-east": "fenced (eu)", "ap-southeast": "fenced (eu)"}},
		{name: "fence: non-EU client unaffected",
			pool:   func(p *Pool) { withEUCentral(p); p.Fences = []Fence{euFence} },
			client: london, region: "eu-west", addrs: []string{"198.51.100.1", "198.51.100.3"}, reason: "nearest",
			why: map[string]string{"eu-central": "eligible"}},
		{name: "fence: by continent",
			pool: func(p *Pool) {
				p.Fences = []Fence{{Name: "asia", Continents: []string{"AS"}, Regions: []string{"us-east"}}}
			},
			client: singapore, region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "nearest",
			why: map[string]string{"ap-southeast": "fenced (asia)"}},
		{name: "fence: several matching fences, a region must be in each",
			pool: func(p *Pool) {
				withEUCentral(p)
				p.Fences = []Fence{
					{Name: "europe", Continents: []string{"EU"}, Regions: []string{"eu-west", "eu-central"}},
					{Name: "de", Countries: []string{"DE"}, Regions: []string{"eu-central", "us-east"}},
				}
			},
			snap:   &state.Snapshot{Down: down("eu-central", "euc-a", "euc-b")},
			client: berlin, region: "eu-central", addrs: []string{"198.51.100.11", "198.51.100.12"},
			fallback: "fail_open", reason: "fail open: nearest",
			why: map[string]string{"eu-west": "fenced (de)", "us-east": "fenced (europe)"}},
		{name: "fence: nothing eligible inside, fail open stays inside",
			pool:   func(p *Pool) { withEUCentral(p); p.Fences = []Fence{euFence} },
			snap:   &state.Snapshot{Down: down("eu-central", "euc-a", "euc-b")},
			client: dublin, region: "eu-central", addrs: []string{"198.51.100.11", "198.51.100.12"},
			fallback: "fail_open", reason: "fail open: nearest"},
		{name: "fence: no region at all, fail open does not cross it",
			pool: func(p *Pool) {
				p.Fences = []Fence{{Name: "eu", Countries: []string{"IE"}, Regions: []string{"eu-north"}}}
			},
			client: dublin, fallback: "servfail", servfail: true,
			why: map[string]string{"eu-west": "fenced (eu)"}},
		{name: "fence: no region at all, fallback addresses still answer",
			pool: func(p *Pool) {
				p.Fences = []Fence{{Name: "eu", Countries: []string{"IE"}, Regions: []string{"eu-north"}}}
				p.Fallback = FallbackAddrs
			},
			client: dublin, addrs: []string{"192.0.2.250"}, fallback: "fallback_addresses"},
		{name: "fence: client with no country or continent is not fenced",
			pool: func(p *Pool) {
				p.Fences = []Fence{{Name: "eu", Continents: []string{"EU"}, Regions: []string{"eu-west"}}}
			},
			client: nowhere, region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"},
			reason: "no coordinates: first in config order"},

		// Health and drains.
		{name: "drained region", client: london,
			snap:   &state.Snapshot{DrainedRegions: map[string]string{"eu-west": "maintenance"}},
			region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "nearest",
			why: map[string]string{"eu-west": "drained: maintenance"}},
		{name: "down region: every endpoint down", client: london,
			snap:   &state.Snapshot{Down: down("eu-west", "euw-a", "euw-b", "euw-c")},
			region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "nearest",
			why: map[string]string{"eu-west": "down: no endpoint up"}},
		{name: "down region: endpoints down or drained", client: london,
			snap: &state.Snapshot{
				Down:             down("eu-west", "euw-b", "euw-c"),
				DrainedEndpoints: map[state.EndpointKey]string{{Pool: "web", Region: "eu-west", Endpoint: "euw-a"}: "reboot"},
			},
			region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "nearest",
			why: map[string]string{"eu-west": "down: no endpoint up"}},
		{name: "endpoint drained", client: london,
			snap:   &state.Snapshot{DrainedEndpoints: map[state.EndpointKey]string{{Pool: "web", Region: "eu-west", Endpoint: "euw-a"}: "reboot"}},
			region: "eu-west", addrs: []string{"198.51.100.3"}, reason: "nearest"},
		{name: "partially down region answers its up endpoints", client: london,
			snap:   &state.Snapshot{Down: down("eu-west", "euw-c")},
			region: "eu-west", addrs: []string{"198.51.100.1"}, reason: "nearest"},
		{name: "min up: a region below its minimum is down",
			pool:   func(p *Pool) { p.Members[1].MinUp = 3 },
			client: london, snap: &state.Snapshot{Down: down("eu-west", "euw-c")},
			region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "nearest",
			why: map[string]string{"eu-west": "down: 2 of 3 endpoints up, 3 needed"}},
		{name: "min up: met", pool: func(p *Pool) { p.Members[1].MinUp = 2 },
			client: london, snap: &state.Snapshot{Down: down("eu-west", "euw-c")},
			region: "eu-west", addrs: []string{"198.51.100.1"}, reason: "nearest"},
		{name: "min up above the endpoints: all of them", pool: func(p *Pool) { p.Members[1].MinUp = 9 },
			client: london, snap: &state.Snapshot{DrainedEndpoints: map[state.EndpointKey]string{{Pool: "web", Region: "eu-west", Endpoint: "euw-b"}: "x"}},
			region: "us-east", addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "nearest",
			why: map[string]string{"eu-west": "down: 2 of 3 endpoints up, 3 needed"}},
		{name: "down in another pool does not count", client: london,
			snap: &state.Snapshot{Down: map[state.EndpointKey]string{
				{Pool: "api", Region: "eu-west", Endpoint: "euw-a"}: "x", {Pool: "api", Region: "eu-west", Endpoint: "euw-c"}: "x"}},
			region: "eu-west", addrs: []string{"198.51.100.1", "198.51.100.3"}, reason: "nearest"},

		// Fallbacks.
		{name: "fail open: nearest region, health ignored", client: london, snap: allDown,
			region: "eu-west", addrs: []string{"198.51.100.1", "198.51.100.3"}, fallback: "fail_open",
			reason: "fail open: nearest"},
		{name: "fail open: drains ignored, maps kept",
			pool:   func(p *Pool) { p.CountryMap = map[string]string{"GB": "ap-southeast"} },
			client: london, snap: &state.Snapshot{DrainedRegions: map[string]string{"us-east": "", "eu-west": "", "ap-southeast": ""}},
			region: "ap-southeast", addrs: []string{"203.0.113.1", "203.0.113.2"}, fallback: "fail_open",
			reason: "fail open: country map GB → ap-southeast"},
		{name: "fallback addresses v4", pool: func(p *Pool) { p.Fallback = FallbackAddrs },
			client: london, snap: allDown, addrs: []string{"192.0.2.250"}, fallback: "fallback_addresses",
			why: map[string]string{"eu-west": "down: no endpoint up"}},
		{name: "fallback addresses v6", pool: func(p *Pool) { p.Fallback = FallbackAddrs },
			client: london, fam: IPv6, snap: allDown, addrs: []string{"2001:db8:ff::250"}, fallback: "fallback_addresses"},
		{name: "fallback addresses without the family: NODATA",
			pool:   func(p *Pool) { p.Fallback = FallbackAddrs; p.FallbackAddrs = addrs("192.0.2.250") },
			client: london, fam: IPv6, snap: allDown, fallback: "fallback_addresses"},
		{name: "servfail", pool: func(p *Pool) { p.Fallback = Servfail },
			client: london, snap: allDown, fallback: "servfail", servfail: true},
		{name: "empty pool fails open to nothing: servfail", pool: func(p *Pool) { p.Members = nil },
			client: london, fallback: "servfail", servfail: true},

		// Families.
		{name: "AAAA from a region with v6-only and dual-stack endpoints", client: london, fam: IPv6,
			region: "eu-west", addrs: []string{"2001:db8:2::2", "2001:db8:2::3"}, reason: "nearest"},
		{name: "AAAA from dual-stack endpoints", client: seattle, fam: IPv6,
			region: "us-east", addrs: []string{"2001:db8:1::1", "2001:db8:1::2"}, reason: "nearest"},
		{name: "AAAA from an IPv4-only region: NODATA, no other region", client: singapore, fam: IPv6,
			region: "ap-southeast", reason: "nearest"},
		{name: "AAAA with the v6 endpoints down: NODATA", client: london, fam: IPv6,
			snap:   &state.Snapshot{Down: down("eu-west", "euw-b", "euw-c")},
			region: "eu-west", reason: "nearest"},
		{name: "unknown family: NODATA", client: london, fam: Family(9), region: "eu-west", reason: "nearest"},

		// No coordinates.
		{name: "no coordinates: first member", client: nowhere, region: "us-east",
			addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "no coordinates: first in config order"},
		{name: "no coordinates: bias ignored", pool: func(p *Pool) { p.Members[0].BiasKm = 20000 },
			client: nowhere, region: "us-east",
			addrs: []string{"192.0.2.1", "192.0.2.2"}, reason: "no coordinates: first in config order"},
		{name: "no coordinates: first eligible member", client: nowhere,
			snap:   &state.Snapshot{DrainedRegions: map[string]string{"us-east": "maintenance"}},
			region: "eu-west", addrs: []string{"198.51.100.1", "198.51.100.3"}, reason: "no coordinates: first in config order"},
		{name: "no coordinates: country map still applies",
			pool: func(p *Pool) { p.CountryMap = map[string]string{"SG": "ap-southeast"} },
			client: func() Client {
				c := nowhere
				c.Loc.Country, c.Loc.Continent = "SG", "AS"
				return c
			}(),
			region: "ap-southeast", addrs: []string{"203.0.113.1", "203.0.113.2"}, reason: "country map SG → ap-southeast"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPool()
			if tc.pool != nil {
				tc.pool(p)
			}
			var d Decision
			Decide(p, tc.client, tc.fam, tc.snap, &d)
			if d.Region != tc.region {
				t.Errorf("region = %q, want %q", d.Region, tc.region)
			}
			got := make([]string, len(d.Addrs))
			for i, a := range d.Addrs {
				got[i] = a.String()
			}
			slices.Sort(got)
			want := slices.Sorted(slices.Values(tc.addrs))
			if !slices.Equal(got, want) {
				t.Errorf("addrs = %v, want %v", got, want)
			}
			if d.Fallback != tc.fallback || d.Servfail != tc.servfail {
				t.Errorf("fallback, servfail = %q, %v; want %q, %v", d.Fallback, d.Servfail, tc.fallback, tc.servfail)
			}
			if d.TTL != 30 {
				t.Errorf("ttl = %d, want 30", d.TTL)
			}

			// The same decision with Explain, and verdicts that say why.
			e := Decision{Explain: true}
			Decide(p, tc.client, tc.fam, tc.snap, &e)
			if e.Region != d.Region || !slices.Equal(e.Addrs, d.Addrs) || e.Fallback != d.Fallback || e.Servfail != d.Servfail {
				t.Errorf("explain decided %+v, hot path %+v", e, d)
			}
			checkVerdicts(t, p, &e)
			reasons := map[string]string{}
			for _, v := range e.Regions {
				reasons[v.Region] = v.Reason
			}
			if tc.region != "" && e.Regions[0].Reason != tc.reason {
				t.Errorf("reason = %q, want %q", e.Regions[0].Reason, tc.reason)
			}
			for r, want := range tc.why {
				if reasons[r] != want {
					t.Errorf("reason of %s = %q, want %q", r, reasons[r], want)
				}
			}
		})
	}
}

// checkVerdicts checks the shape of d.Regions: one per member, the
// answering region first, then the kept ones, then the dropped ones, each
// group by score, and every endpoint listed.
func checkVerdicts(t *testing.T, p *Pool, d *Decision) {
	t.Helper()
	if len(d.Regions) != len(p.Members) {
		t.Fatalf("%d verdicts for %d members", len(d.Regions), len(p.Members))
	}
	vs := d.Regions
	if d.Region != "" {
		if vs[0].Region != d.Region {
			t.Errorf("first verdict is %s, answer from %s", vs[0].Region, d.Region)
		}
		if vs[0].Kept != (d.Fallback == "") {
			t.Errorf("answering region kept = %v with fallback %q", vs[0].Kept, d.Fallback)
		}
		vs = vs[1:]
	}
	for i := 1; i < len(vs); i++ {
		a, b := vs[i-1], vs[i]
		if !a.Kept && b.Kept || a.Kept == b.Kept && a.ScoreKm > b.ScoreKm {
			t.Errorf("verdict %s (kept %v, %.0f km) before %s (kept %v, %.0f km)", a.Region, a.Kept, a.ScoreKm, b.Region, b.Kept, b.ScoreKm)
		}
	}
	for _, v := range d.Regions {
		var m *Member
		for i := range p.Members {
			if p.Members[i].Region.Name == v.Region {
				m = &p.Members[i]
			}
		}
		if m == nil {
			t.Fatalf("verdict for %s, not a member", v.Region)
		}
		if len(v.Endpoints) != len(m.Endpoints) {
			t.Errorf("%s: %d endpoint verdicts for %d endpoints", v.Region, len(v.Endpoints), len(m.Endpoints))
		}
		if v.Kept != (v.State == "up") || v.State == "" || v.Reason == "" {
			t.Errorf("%s: kept %v, state %q, reason %q", v.Region, v.Kept, v.State, v.Reason)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		name                   string
		lat1, lon1, lat2, lon2 float64
		want                   float64 // km, to 1%
	}{
		{"same point", 51.51, -0.13, 51.51, -0.13, 0},
		{"london to dublin", 51.51, -0.13, 53.35, -6.26, 464},
		{"seattle to ashburn", 47.25, -122.31, 39.04, -77.49, 3716},
		{"changchun to singapore", 43.88, 125.32, 1.29, 103.85, 5163},
		{"antipodes", 0, 0, 0, 180, math.Pi * earthRadiusKm},
		{"pole to pole", 90, 0, -90, 0, math.Pi * earthRadiusKm},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := distanceKm(tc.lat1, tc.lon1, tc.lat2, tc.lon2)
			if math.Abs(got-tc.want) > 0.01*tc.want+1e-9 {
				t.Errorf("distance = %.1f km, want %.0f", got, tc.want)
			}
			if back := distanceKm(tc.lat2, tc.lon2, tc.lat1, tc.lon1); back != got {
				t.Errorf("not symmetric: %v and %v", got, back)
			}
		})
	}
}

// TestDecisionReuse: a Decision reused across calls carries nothing over.
func TestDecisionReuse(t *testing.T) {
	p := testPool()
	p.Fallback = FallbackAddrs
	d := Decision{Explain: true}
	Decide(p, london, IPv4, allDown, &d)
	Decide(p, seattle, IPv6, nil, &d)
	var fresh Decision
	fresh.Explain = true
	Decide(p, seattle, IPv6, nil, &fresh)
	if d.Region != fresh.Region || !slices.Equal(d.Addrs, fresh.Addrs) || d.Fallback != fresh.Fallback ||
		d.Servfail != fresh.Servfail || len(d.Regions) != len(fresh.Regions) {
		t.Fatalf("reused %+v, fresh %+v", d, fresh)
	}
	for i := range d.Regions {
		if !slices.Equal(d.Regions[i].Endpoints, fresh.Regions[i].Endpoints) || d.Regions[i].Reason != fresh.Regions[i].Reason {
			t.Errorf("verdict %d: reused %+v, fresh %+v", i, d.Regions[i], fresh.Regions[i])
		}
	}
}

// TestDecisionReuseScores: one Decision reused over clients and pools
// (what aya diff does, relying on the scores kept between calls) answers
// as a fresh one for each.
func TestDecisionReuseScores(t *testing.T) {
	web := testPool()
	biased := testPool() // same coordinates, other scores
	biased.Members[1].BiasKm = 10000
	big := testPool() // too many members to keep
	for len(big.Members) <= memoMembers {
		m := big.Members[len(big.Members)%3]
		m.Region.Name += fmt.Sprint(len(big.Members))
		m.Region.Latitude += float64(len(big.Members))
		big.Members = append(big.Members, m)
	}
	drained := &state.Snapshot{DrainedRegions: map[string]string{"eu-west": ""}}
	var d Decision
	for i, st := range []struct {
		p    *Pool
		c    Client
		snap *state.Snapshot
	}{
		{web, london, nil},
		{web, london, nil},
		{biased, london, nil},
		{web, london, drained},
		{web, paris, nil},
		{big, paris, nil},
		{big, seattle, nil},
		{web, seattle, nil},
		{web, nowhere, nil},
		{biased, dublin, nil},
		{web, dublin, nil},
	} {
		var fresh Decision
		Decide(st.p, st.c, IPv4, st.snap, &fresh)
		Decide(st.p, st.c, IPv4, st.snap, &d)
		if d.Region != fresh.Region || !slices.Equal(d.Addrs, fresh.Addrs) || d.Fallback != fresh.Fallback {
			t.Errorf("step %d (%s, %s): reused %s %v, fresh %s %v", i, st.p.Name, st.c.Loc.Country, d.Region, d.Addrs, fresh.Region, fresh.Addrs)
		}
	}
}

// TestDecideAllocs: with d reused and Explain off, Decide allocates nothing,
// on every path.
func TestDecideAllocs(t *testing.T) {
	drained := &state.Snapshot{
		Down:             down("eu-west", "euw-c"),
		DrainedRegions:   map[string]string{"ap-southeast": "maintenance"},
		DrainedEndpoints: map[state.EndpointKey]string{{Pool: "web", Region: "us-east", Endpoint: "use-a"}: "reboot"},
	}
	mapped := testPool()
	mapped.CountryMap = map[string]string{"FR": "us-east"}
	mapped.ContinentMap = map[string]string{"AS": "eu-west"}
	fenced := testPool()
	withEUCentral(fenced)
	fenced.Fences = []Fence{euFence}
	fallback := testPool()
	fallback.Fallback = FallbackAddrs
	servfail := testPool()
	servfail.Fallback = Servfail
	one := testPool()
	one.Answers = 1
	tests := []struct {
		name string
		p    *Pool
		c    Client
		fam  Family
		snap *state.Snapshot
	}{
		{"nearest", testPool(), london, IPv4, nil},
		{"answers 1", one, london, IPv4, drained},
		{"ipv6", testPool(), seattle, IPv6, drained},
		{"maps", mapped, paris, IPv4, drained},
		{"override", testPool(), withRegion(changchun, "eu-west"), IPv4, nil},
		{"fence", fenced, dublin, IPv4, nil},
		{"no coordinates", testPool(), nowhere, IPv4, nil},
		{"fail open", testPool(), london, IPv4, allDown},
		{"fallback addresses", fallback, london, IPv6, allDown},
		{"servfail", servfail, london, IPv4, allDown},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var d Decision
			Decide(tc.p, tc.c, tc.fam, tc.snap, &d) // grow d.Addrs once
			if n := testing.AllocsPerRun(1000, func() { Decide(tc.p, tc.c, tc.fam, tc.snap, &d) }); n != 0 {
				t.Errorf("%v allocations per Decide, want 0", n)
			}
		})
	}
}

// BenchmarkDecide is the DNS hot path: a reused Decision, Explain off.
func BenchmarkDecide(b *testing.B) {
	snap := &state.Snapshot{
		Down:             down("ap-southeast", "apse-b"),
		DrainedRegions:   map[string]string{"eu-central": "maintenance"},
		DrainedEndpoints: map[state.EndpointKey]string{{Pool: "web", Region: "us-east", Endpoint: "use-a"}: "reboot"},
	}
	one := testPool()
	one.Answers = 1
	two := testPool()
	two.Answers = 2
	fenced := testPool()
	withEUCentral(fenced)
	fenced.Fences = []Fence{euFence}
	benches := []struct {
		name    string
		p       *Pool
		c       Client
		fam     Family
		snap    *state.Snapshot
		explain bool
	}{
		{"3 regions/all up/answers=1/A", one, london, IPv4, nil, false},
		{"3 regions/answers=1/A", one, london, IPv4, snap, false},
		{"3 regions/answers=1/AAAA", one, london, IPv6, snap, false},
		{"3 regions/answers=2/A", two, london, IPv4, snap, false},
		{"3 regions/all down/fail open", one, london, IPv4, allDown, false},
		{"4 regions/fenced", fenced, dublin, IPv4, snap, false},
		{"3 regions/explain", one, london, IPv4, snap, true},
	}
	for _, bc := range benches {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			d := Decision{Explain: bc.explain}
			for b.Loop() {
				Decide(bc.p, bc.c, bc.fam, bc.snap, &d)
			}
		})
	}
}

// TestExplainGolden pins what explain shows for a few decisions, as `aya
// explain` prints them. Refresh with go test ./policy -run Golden -update.
func TestExplainGolden(t *testing.T) {
	fenced := testPool()
	withEUCentral(fenced)
	fenced.Fences = []Fence{euFence}
	mapped := testPool()
	mapped.CountryMap = map[string]string{"FR": "us-east"}
	cases := []struct {
		name string
		p    *Pool
		c    Client
		fam  Family
		snap *state.Snapshot
	}{
		{"london A, all up", testPool(), london, IPv4, nil},
		{"london AAAA, eu-west partly down and drained", testPool(), london, IPv6, &state.Snapshot{
			Down:             down("eu-west", "euw-c"),
			DrainedEndpoints: map[state.EndpointKey]string{{Pool: "web", Region: "eu-west", Endpoint: "euw-a"}: "kernel upgrade"},
		}},
		{"paris A, country map to a drained region", mapped, paris, IPv4, &state.Snapshot{
			DrainedRegions: map[string]string{"us-east": "maintenance"},
		}},
		{"dublin A, fenced", fenced, dublin, IPv4, nil},
		{"dublin A, fenced, fence region down", fenced, dublin, IPv4, &state.Snapshot{Down: down("eu-central", "euc-a", "euc-b")}},
		{"london A, everything down", testPool(), london, IPv4, allDown},
		{"no coordinates", testPool(), nowhere, IPv4, nil},
	}
	var b strings.Builder
	for _, tc := range cases {
		d := Decision{Explain: true}
		Decide(tc.p, tc.c, tc.fam, tc.snap, &d)
		fmt.Fprintf(&b, "== %s\n", tc.name)
		writeDecision(&b, &d)
	}
	path := filepath.Join("testdata", "explain.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Errorf("explain output differs from %s (run with -update if intended):\n%s", path, b.String())
	}
}

func writeDecision(b *strings.Builder, d *Decision) {
	fmt.Fprintf(b, "region %q addrs %v ttl %d", d.Region, d.Addrs, d.TTL)
	if d.Fallback != "" {
		fmt.Fprintf(b, " fallback %s", d.Fallback)
	}
	if d.Servfail {
		b.WriteString(" SERVFAIL")
	}
	b.WriteString("\n")
	for _, v := range d.Regions {
		fmt.Fprintf(b, "  %-12s %6.0f km  score %6.0f  kept %-5v  state %-22q  %s\n", v.Region, v.DistanceKm, v.ScoreKm, v.Kept, v.State, v.Reason)
		for _, e := range v.Endpoints {
			fmt.Fprintf(b, "    %-8s %s\n", e.Name, e.State)
		}
	}
}

// TestShed: a region shedding a fraction f of its clients moves that share
// of client subnets (each subnet always the same way) to the next-best
// region; a larger f moves a superset; f = 0 moves none; a client with
// nowhere else to go fails open to the shed region.
func TestShed(t *testing.T) {
	const n = 20_000
	shedSnap := func(f float64) *state.Snapshot {
		return &state.Snapshot{Shed: map[string]state.Shed{"eu-west": {Fraction: f, Why: "load 95% over high water 80%"}}}
	}
	// London clients from n different /24s: all nearest eu-west.
	clients := make([]Client, n)
	for i := range clients {
		c := london
		c.Scope = netip.PrefixFrom(netip.AddrFrom4([4]byte{81, byte(i >> 8), byte(i), 0}), 24)
		c.Addr = c.Scope.Addr()
		clients[i] = c
	}
	p := testPool()
	moved := func(f float64) []bool {
		out := make([]bool, n)
		var d Decision
		snap := shedSnap(f)
		for i, c := range clients {
			Decide(p, c, IPv4, snap, &d)
			switch d.Region {
			case "eu-west":
			case "us-east": // the next nearest for London
				out[i] = true
			default:
				t.Fatalf("client %v answered from %s", c.Scope, d.Region)
			}
		}
		return out
	}
	count := func(b []bool) int {
		k := 0
		for _, m := range b {
			if m {
				k++
			}
		}
		return k
	}
	if k := count(moved(0)); k != 0 {
		t.Errorf("no shedding moved %d clients", k)
	}
	m25, m50 := moved(0.25), moved(0.5)
	for _, tc := range []struct {
		f float64
		m []bool
	}{{0.25, m25}, {0.5, m50}} {
		if got := float64(count(tc.m)) / n; math.Abs(got-tc.f) > 0.02 {
			t.Errorf("shed %.2f moved %.4f of clients, want %.2f ± 0.02", tc.f, got, tc.f)
		}
	}
	for i := range m25 {
		if m25[i] && !m50[i] {
			t.Fatalf("client %v moved at 25%% but not at 50%%", clients[i].Scope)
		}
	}
	if again := moved(0.25); !slices.Equal(again, m25) {
		t.Error("shedding is not stable per subnet")
	}

	// Explain says so, for a moved client.
	var i int
	for i = range m25 {
		if m25[i] {
			break
		}
	}
	d := Decision{Explain: true}
	Decide(p, clients[i], IPv4, shedSnap(0.25), &d)
	for _, v := range d.Regions {
		if v.Region == "eu-west" && (v.Kept || v.State != "shed: load 95% over high water 80%") {
			t.Errorf("explain of the shed region: %+v", v)
		}
	}

	// With every other region down, the client fails open to eu-west.
	snap := shedSnap(0.99)
	snap.Down = down("us-east", "use-a", "use-b")
	maps.Copy(snap.Down, down("ap-southeast", "apse-a", "apse-b"))
	Decide(p, clients[i], IPv4, snap, &d)
	if d.Region != "eu-west" || d.Fallback != "fail_open" {
		t.Errorf("shed with nowhere else to go: region %q fallback %q, want eu-west by fail open", d.Region, d.Fallback)
	}
}
