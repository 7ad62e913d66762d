package dnsserver

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// axfr transfers origin from the server at addr with miekg/dns's Transfer
// and returns every record received, in order.
func axfr(t *testing.T, addr, origin string) []dns.RR {
	t.Helper()
	m := new(dns.Msg)
	m.SetAxfr(origin)
	tr := &dns.Transfer{DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second}
	ch, err := tr.In(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	var out []dns.RR
	for e := range ch {
		if e.Error != nil {
			t.Fatalf("transfer of %s: %v", origin, e.Error)
		}
		out = append(out, e.RR...)
	}
	return out
}

// TestAXFRSteered: a transfer exports every steered name as its default
// answer (the pool's answer for a client with no location, every endpoint
// up, nothing drained), whatever this site's health view says, so that
// every site sends the same zone and a secondary answers steered names
// and CNAMEs to them. The GSLB records never leave.
func TestAXFRSteered(t *testing.T) {
	ep := func(name string, addrs ...string) policy.Endpoint {
		e := policy.Endpoint{Name: name, Weight: 1}
		for _, a := range addrs {
			e.Addrs = append(e.Addrs, netip.MustParseAddr(a))
		}
		return e
	}
	// Two endpoints in the home region, both answered.
	pair := func(answers int) []*policy.Pool {
		pools := testPools()
		pools[0] = &policy.Pool{Name: "web", TTL: 20, Answers: answers, Members: []policy.Member{
			{Region: euWest, Endpoints: []policy.Endpoint{ep("a", "198.51.100.1", "2001:db8:2::1"), ep("b", "198.51.100.2", "2001:db8:2::2")}},
			member(usEast, "use1", "192.0.2.10", "2001:db8:1::10"),
		}}
		return pools
	}
	// The defaults of testPools: each pool's first region, us-east for web.
	homeDefaults := []string{
		"*.dyn.gslb.test.\t30\tIN\tA\t192.0.2.10",
		"*.dyn.gslb.test.\t30\tIN\tAAAA\t2001:db8:1::10",
		"sf.gslb.test.\t30\tIN\tA\t198.51.100.99",
		"v4.gslb.test.\t60\tIN\tA\t192.0.2.44",
		"www.gslb.test.\t30\tIN\tA\t192.0.2.10",
		"www.gslb.test.\t30\tIN\tAAAA\t2001:db8:1::10",
	}
	tests := []struct {
		name  string
		pools []*policy.Pool
		snap  *state.Snapshot
		// want are the steered names' records, by owner, A before AAAA.
		want []string
	}{
		{
			name:  "home region first; a pool without AAAA exports none; a pool down here exports its default",
			pools: testPools(),
			snap: &state.Snapshot{Down: map[state.EndpointKey]string{
				{Pool: "dead", Region: "eu-west", Endpoint: "gone"}: "connection refused",
			}},
			want: homeDefaults,
		},
		{
			name:  "the health view and drains of this site do not change it",
			pools: testPools(),
			snap: &state.Snapshot{
				Down:           map[state.EndpointKey]string{{Pool: "web", Region: "us-east", Endpoint: "use1"}: "timeout"},
				DrainedRegions: map[string]string{"us-east": "maintenance"},
				Shed:           map[string]state.Shed{"eu-west": {Fraction: 0.9, Why: "load"}},
			},
			want: homeDefaults,
		},
		{
			name:  "answers 2: both endpoints of the home region",
			pools: pair(2),
			want: []string{
				"*.dyn.gslb.test.\t20\tIN\tA\t198.51.100.1",
				"*.dyn.gslb.test.\t20\tIN\tA\t198.51.100.2",
				"*.dyn.gslb.test.\t20\tIN\tAAAA\t2001:db8:2::1",
				"*.dyn.gslb.test.\t20\tIN\tAAAA\t2001:db8:2::2",
				"sf.gslb.test.\t30\tIN\tA\t198.51.100.99",
				"v4.gslb.test.\t60\tIN\tA\t192.0.2.44",
				"www.gslb.test.\t20\tIN\tA\t198.51.100.1",
				"www.gslb.test.\t20\tIN\tA\t198.51.100.2",
				"www.gslb.test.\t20\tIN\tAAAA\t2001:db8:2::1",
				"www.gslb.test.\t20\tIN\tAAAA\t2001:db8:2::2",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gslbConfig(t)
			cfg.GSLB.Pools = tc.pools
			cfg.GSLB.State = state.NewStatic(tc.snap)
			s, addr := testServer(t, cfg, gslbZones)
			z := s.Zones().Zone("gslb.test.")
			got := axfr(t, addr, z.Origin)
			if len(got) < 2 || got[0].String() != z.SOA.String() || got[len(got)-1].String() != z.SOA.String() {
				t.Fatalf("transfer does not begin and end with the SOA:\n%q", rrStrings(got))
			}
			var steered, static []string
			for _, rr := range got[1 : len(got)-1] {
				h := rr.Header()
				if h.Rrtype == TypeGSLB {
					t.Errorf("GSLB record transferred: %v", rr)
				}
				if _, ok := z.bindings[h.Name]; ok && (h.Rrtype == dns.TypeA || h.Rrtype == dns.TypeAAAA) {
					steered = append(steered, rr.String())
				} else {
					static = append(static, rr.String())
				}
			}
			if !slices.Equal(steered, tc.want) {
				t.Errorf("steered names:\n got %q\nwant %q", steered, tc.want)
			}
			if want := rrStrings(z.records[1:]); !slices.Equal(static, want) {
				t.Errorf("static records:\n got %q\nwant %q", static, want)
			}
		})
	}
}

// TestAXFRSteeredSameEverywhere: two sites with opposite health views and
// a pool whose default pick is a hash (one of four endpoints) send the
// same transfer.
func TestAXFRSteeredSameEverywhere(t *testing.T) {
	pools := testPools()
	web := policy.Member{Region: euWest}
	for i, a := range []string{"198.51.100.1", "198.51.100.2", "198.51.100.3", "198.51.100.4"} {
		web.Endpoints = append(web.Endpoints, policy.Endpoint{Name: "e" + a[len(a)-1:], Weight: i + 1, Addrs: []netip.Addr{netip.MustParseAddr(a)}})
	}
	pools[0] = &policy.Pool{Name: "web", TTL: 30, Answers: 1, Members: []policy.Member{web}}
	var sites [2][]string
	for i := range sites {
		cfg := gslbConfig(t)
		cfg.GSLB.Pools = pools
		snap := &state.Snapshot{Down: map[state.EndpointKey]string{}}
		for j, e := range web.Endpoints {
			if j%2 == i { // site 0 sees e1 and e3 down, site 1 e2 and e4
				snap.Down[state.EndpointKey{Pool: "web", Region: "eu-west", Endpoint: e.Name}] = "timeout"
			}
		}
		cfg.GSLB.State = state.NewStatic(snap)
		_, addr := testServer(t, cfg, gslbZones)
		sites[i] = rrStrings(axfr(t, addr, "gslb.test."))
	}
	if !slices.Equal(sites[0], sites[1]) {
		t.Errorf("two sites transfer different zones:\n%q\n%q", sites[0], sites[1])
	}
	n := 0
	for _, s := range sites[0] {
		if strings.HasPrefix(s, "www.gslb.test.\t30\tIN\tA\t198.51.100.") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("www has %d A records in the transfer, want the one default pick:\n%q", n, sites[0])
	}
}
