package dnssec

import (
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

func setsString(sets [][]netip.Addr) string {
	var parts []string
	for _, s := range sets {
		parts = append(parts, fmt.Sprint(s))
	}
	return strings.Join(parts, " ")
}

func TestPoolAnswers(t *testing.T) {
	ep := func(name string, a ...string) policy.Endpoint {
		return policy.Endpoint{Name: name, Addrs: addrs(a...), Weight: 1}
	}
	for _, tc := range []struct {
		name         string
		pool         policy.Pool
		a, aaaa      string
		emptyA, empt string
	}{
		{name: "answers 1",
			pool: policy.Pool{Name: "p", Answers: 1, Members: []policy.Member{{Region: region("r"), Endpoints: []policy.Endpoint{ep("x", "192.0.2.1"), ep("y", "192.0.2.2")}}}},
			a:    "[192.0.2.1] [192.0.2.2]", empt: `region "r" has no IPv6 address`},
		{name: "answers 2 of 3, min_up 1",
			pool: policy.Pool{Name: "p", Answers: 2, Members: []policy.Member{{Region: region("r"), Endpoints: []policy.Endpoint{ep("x", "192.0.2.1"), ep("y", "192.0.2.2"), ep("z", "192.0.2.3")}}}},
			a:    "[192.0.2.1] [192.0.2.2] [192.0.2.3] [192.0.2.1 192.0.2.2] [192.0.2.1 192.0.2.3] [192.0.2.2 192.0.2.3]", empt: `region "r" has no IPv6 address`},
		{name: "min_up 2 rules out single answers",
			pool: policy.Pool{Name: "p", Answers: 2, Members: []policy.Member{{Region: region("r"), MinUp: 2, Endpoints: []policy.Endpoint{ep("x", "192.0.2.1"), ep("y", "192.0.2.2"), ep("z", "192.0.2.3")}}}},
			a:    "[192.0.2.1 192.0.2.2] [192.0.2.1 192.0.2.3] [192.0.2.2 192.0.2.3]", empt: `region "r" has no IPv6 address`},
		{name: "answers more than addresses",
			pool: policy.Pool{Name: "p", Answers: 5, Members: []policy.Member{{Region: region("r"), MinUp: 2, Endpoints: []policy.Endpoint{ep("x", "192.0.2.1", "2001:db8::1"), ep("y", "192.0.2.2", "2001:db8::2")}}}},
			a:    "[192.0.2.1 192.0.2.2]", aaaa: "[2001:db8::1 2001:db8::2]"},
		{name: "endpoint with two addresses",
			pool: policy.Pool{Name: "p", Answers: 2, Members: []policy.Member{{Region: region("r"), Endpoints: []policy.Endpoint{ep("x", "192.0.2.1", "192.0.2.11"), ep("y", "192.0.2.2")}}}},
			a:    "[192.0.2.2] [192.0.2.1 192.0.2.2] [192.0.2.1 192.0.2.11] [192.0.2.2 192.0.2.11]", empt: `region "r" has no IPv6 address`},
		{name: "v6-only endpoint counts towards min_up",
			pool: policy.Pool{Name: "p", Answers: 1, Members: []policy.Member{{Region: region("r"), Endpoints: []policy.Endpoint{ep("x", "192.0.2.1"), ep("y", "2001:db8::2")}}}},
			a:    "[192.0.2.1]", aaaa: "[2001:db8::2]",
			emptyA: `region "r": its endpoints without an IPv4 address can be the only ones up (min_up 1)`,
			empt:   `region "r": its endpoints without an IPv6 address can be the only ones up (min_up 1)`},
		{name: "regions share addresses, fallback adds one",
			pool: policy.Pool{Name: "p", Answers: 1, Fallback: policy.FallbackAddrs, FallbackAddrs: addrs("203.0.113.1", "2001:db8::f"),
				Members: []policy.Member{
					{Region: region("r"), Endpoints: []policy.Endpoint{ep("x", "192.0.2.1", "2001:db8::1")}},
					{Region: region("s"), Endpoints: []policy.Endpoint{ep("x", "192.0.2.1", "2001:db8::1")}},
				}},
			a: "[192.0.2.1] [203.0.113.1]", aaaa: "[2001:db8::1] [2001:db8::f]"},
		{name: "servfail adds nothing",
			pool: policy.Pool{Name: "p", Answers: 1, Fallback: policy.Servfail, Members: []policy.Member{{Region: region("r"), Endpoints: []policy.Endpoint{ep("x", "192.0.2.1", "2001:db8::1")}}}},
			a:    "[192.0.2.1]", aaaa: "[2001:db8::1]"},
		{name: "mapped IPv4 is IPv4",
			pool: policy.Pool{Name: "p", Answers: 1, Members: []policy.Member{{Region: region("r"), Endpoints: []policy.Endpoint{ep("x", "::ffff:192.0.2.1", "2001:db8::1")}}}},
			a:    "[::ffff:192.0.2.1]", aaaa: "[2001:db8::1]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := PoolAnswers(&tc.pool, 0)
			if err != nil {
				t.Fatal(err)
			}
			if s := setsString(got.A); s != tc.a {
				t.Errorf("A %s\nwant %s", s, tc.a)
			}
			if s := setsString(got.AAAA); s != tc.aaaa {
				t.Errorf("AAAA %s\nwant %s", s, tc.aaaa)
			}
			if got.EmptyA != tc.emptyA || got.EmptyAAAA != tc.empt {
				t.Errorf("empty A %q AAAA %q\nwant %q %q", got.EmptyA, got.EmptyAAAA, tc.emptyA, tc.empt)
			}
			checkCovers(t, &tc.pool, got)
		})
	}
}

// checkCovers runs policy.Decide over every up/down combination of the
// pool's endpoints and many client scopes, and checks every answer it
// gives is one of the enumerated sets (or empty where Empty says so).
func checkCovers(t *testing.T, p *policy.Pool, a *Answers) {
	t.Helper()
	var keys []state.EndpointKey
	for _, m := range p.Members {
		for _, e := range m.Endpoints {
			keys = append(keys, state.EndpointKey{Pool: p.Name, Region: m.Region.Name, Endpoint: e.Name})
		}
	}
	if len(keys) > 10 {
		t.Fatalf("%d endpoints: too many to walk", len(keys))
	}
	known := map[string]bool{}
	for _, s := range append(append([][]netip.Addr(nil), a.A...), a.AAAA...) {
		known[setKey(s)] = true
	}
	var d policy.Decision
	for mask := 0; mask < 1<<len(keys); mask++ {
		down := map[state.EndpointKey]string{}
		for i, k := range keys {
			if mask&(1<<i) != 0 {
				down[k] = "probe"
			}
		}
		snap := &state.Snapshot{Down: down}
		for c := range 64 {
			cl := policy.Client{Scope: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, byte(c), 0, 0}), 16)}
			for fam, empty := range map[policy.Family]string{policy.IPv4: a.EmptyA, policy.IPv6: a.EmptyAAAA} {
				policy.Decide(p, cl, fam, snap, &d)
				if d.Servfail {
					continue
				}
				if len(d.Addrs) == 0 {
					if empty == "" {
						t.Errorf("down %b: an empty answer of family %d, and Empty is not set", mask, fam)
					}
					continue
				}
				s := append([]netip.Addr(nil), d.Addrs...)
				slices.SortFunc(s, netip.Addr.Compare)
				if !known[setKey(s)] {
					t.Errorf("down %b: answer %v not enumerated", mask, s)
				}
			}
		}
	}
}

func TestPoolAnswersLimit(t *testing.T) {
	big := policy.Pool{Name: "big", Answers: 5, Members: []policy.Member{{Region: region("eu")}}}
	for i := range 30 {
		big.Members[0].Endpoints = append(big.Members[0].Endpoints, policy.Endpoint{
			Name: fmt.Sprint(i), Addrs: []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i)})}, Weight: 1})
	}
	_, err := PoolAnswers(&big, 0)
	le, ok := errors.AsType[*LimitError](err)
	if !ok {
		t.Fatalf("error %v, want a *LimitError", err)
	}
	want := `pool "big": at least 142506 answer sets to sign, over the limit of 4096 (region "eu": 142506 sets of 5 of its 30 IPv4 addresses): lower answers, or split the pool`
	if le.Error() != want {
		t.Errorf("error\n%s\nwant\n%s", le, want)
	}
	// Under the limit by enumeration, over it across families.
	small := webPool()
	got, err := PoolAnswers(small, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := PoolAnswers(small, got.Count()-1); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("at least %d answer sets to sign, over the limit of %d", got.Count(), got.Count()-1)) {
		t.Errorf("limit %d: error %v", got.Count()-1, err)
	}
	if _, err := PoolAnswers(small, got.Count()); err != nil {
		t.Errorf("limit %d = count: %v", got.Count(), err)
	}
}
