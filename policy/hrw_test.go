package policy

import (
	"fmt"
	"math"
	"net/netip"
	"slices"
	"testing"

	"github.com/aya-gslb/aya/state"
)

// TestHashStable pins the hash: every nameserver, of every version, must
// pick the same addresses for a subnet. If this test fails, the change
// moves clients between endpoints during a rolling upgrade and makes
// nameservers disagree until it is complete; do not "fix" the numbers.
func TestHashStable(t *testing.T) {
	tests := []struct {
		subnet string
		name   string
		addr   string
		want   uint64
	}{
		{"81.2.69.0/24", "euw-a", "198.51.100.1", 0xdf28f27ce72a736f},
		{"81.2.69.0/24", "euw-c", "198.51.100.3", 0x5e0dc1f23e59af1},
		{"2406:3003::/56", "use-a", "2001:db8:1::1", 0x39ad8e9cdcc6d4fc},
		{"0.0.0.0/0", "", "0.0.0.0", 0x6e007d8774a3c35d},
	}
	for _, tc := range tests {
		c := Client{Scope: netip.MustParsePrefix(tc.subnet)}
		h := hrwHash(scopeKey(&c), tc.name, netip.MustParseAddr(tc.addr))
		if h != tc.want {
			t.Errorf("hash(%s, %s, %s) = %#x, want %#x", tc.subnet, tc.name, tc.addr, h, tc.want)
		}
	}
	// FNV-1a's own test vectors (draft-eastlake-fnv, appendix C).
	for s, want := range map[string]uint64{"": 0xcbf29ce484222325, "a": 0xaf63dc4c8601ec8c, "foobar": 0x85944171f73967e8} {
		if got := fnvString(fnvOffset64, s); got != want {
			t.Errorf("fnv1a64(%q) = %#x, want %#x", s, got, want)
		}
	}
}

// weighted is a one-region pool whose endpoints have one IPv4 address each
// and the given weights, named a, b, c…
func weighted(answers int, weights ...int) *Pool {
	m := Member{Region: euWest}
	for i, w := range weights {
		m.Endpoints = append(m.Endpoints, Endpoint{
			Name:   string(rune('a' + i)),
			Addrs:  []netip.Addr{netip.AddrFrom4([4]byte{192, 0, 2, byte(i + 1)})},
			Weight: w,
		})
	}
	return &Pool{Name: "web", TTL: 30, Answers: answers, Members: []Member{m}}
}

// subnets returns n distinct client subnets: consecutive IPv4 /24s, or
// IPv6 /56s when v6, the worst case for a weak hash.
func subnets(n int, v6 bool) []Client {
	out := make([]Client, n)
	for i := range out {
		var p netip.Prefix
		if v6 {
			a := [16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i >> 16), byte(i >> 8), byte(i)}
			p = netip.PrefixFrom(netip.AddrFrom16(a), 56)
		} else {
			v := 10<<24 + uint32(i)<<8 // 10.0.0.0/24, 10.0.1.0/24, …
			p = netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), 0}), 24)
		}
		out[i] = Client{Addr: p.Addr(), Scope: p, Loc: london.Loc}
	}
	return out
}

// picks answers every client and returns its first address.
func picks(p *Pool, cs []Client, snap *state.Snapshot) []netip.Addr {
	out := make([]netip.Addr, len(cs))
	var d Decision
	for i, c := range cs {
		Decide(p, c, IPv4, snap, &d)
		out[i] = d.Addrs[0]
	}
	return out
}

// TestWeightedShares: over 100k subnets, each endpoint's share of the picks
// is within 5% (relative) of its share of the weights.
func TestWeightedShares(t *testing.T) {
	const n = 100_000
	weights := []int{1, 2, 3, 4}
	for _, v6 := range []bool{false, true} {
		t.Run(fmt.Sprintf("v6=%v", v6), func(t *testing.T) {
			p := weighted(1, weights...)
			count := map[netip.Addr]int{}
			for _, a := range picks(p, subnets(n, v6), nil) {
				count[a]++
			}
			for i, e := range p.Members[0].Endpoints {
				want := float64(weights[i]) / 10
				got := float64(count[e.Addrs[0]]) / n
				t.Logf("%s weight %d: %.4f of picks, %.4f of weight", e.Name, weights[i], got, want)
				if math.Abs(got-want)/want > 0.05 {
					t.Errorf("%s: share %.4f, want %.4f ± 5%%", e.Name, got, want)
				}
			}
		})
	}
}

// TestWeightSplitOverAddresses: an endpoint's weight is split over its
// addresses of the family, so a two-address endpoint gets no more than a
// one-address endpoint of the same weight, and both its addresses serve.
func TestWeightSplitOverAddresses(t *testing.T) {
	const n = 100_000
	p := weighted(1, 2, 2)
	two := &p.Members[0].Endpoints[0]
	two.Addrs = append(two.Addrs, netip.MustParseAddr("192.0.2.9"))
	count := map[netip.Addr]int{}
	for _, a := range picks(p, subnets(n, false), nil) {
		count[a]++
	}
	for a, want := range map[string]float64{"192.0.2.1": 0.25, "192.0.2.9": 0.25, "192.0.2.2": 0.5} {
		got := float64(count[netip.MustParseAddr(a)]) / n
		if math.Abs(got-want)/want > 0.05 {
			t.Errorf("%s: share %.4f, want %.2f ± 5%%", a, got, want)
		}
	}
}

// TestPicksStable: the same subnet always gets the same picks, from any
// Decision, for any address inside it, in any order of queries.
func TestPicksStable(t *testing.T) {
	p := weighted(2, 1, 2, 3, 4)
	cs := subnets(1000, false)
	var d Decision
	first := make([][]netip.Addr, len(cs))
	for i, c := range cs {
		Decide(p, c, IPv4, nil, &d)
		first[i] = slices.Clone(d.Addrs)
	}
	for i, c := range slices.Backward(cs) {
		c.Addr = c.Scope.Addr().Next() // another host of the same subnet
		var fresh Decision
		Decide(p, c, IPv4, nil, &fresh)
		if !slices.Equal(fresh.Addrs, first[i]) {
			t.Fatalf("%v: %v then %v", c.Scope, first[i], fresh.Addrs)
		}
	}
}

// TestRemovingAnEndpoint: when an endpoint goes (down, drained or out of
// the config), only the subnets that had it move; the others keep their
// picks, also with Answers > 1.
func TestRemovingAnEndpoint(t *testing.T) {
	const n = 100_000
	cs := subnets(n, false)
	gone := state.EndpointKey{Pool: "web", Region: "eu-west", Endpoint: "c"}
	for _, answers := range []int{1, 2} {
		for _, how := range []string{"down", "drained", "removed"} {
			t.Run(fmt.Sprintf("answers=%d/%s", answers, how), func(t *testing.T) {
				p := weighted(answers, 1, 2, 3, 4)
				before := make([][]netip.Addr, n)
				var d Decision
				for i, c := range cs {
					Decide(p, c, IPv4, nil, &d)
					before[i] = slices.Clone(d.Addrs)
				}
				var snap *state.Snapshot
				switch how {
				case "down":
					snap = &state.Snapshot{Down: map[state.EndpointKey]string{gone: "timeout"}}
				case "drained":
					snap = &state.Snapshot{DrainedEndpoints: map[state.EndpointKey]string{gone: "reboot"}}
				case "removed":
					p.Members[0].Endpoints = slices.Delete(p.Members[0].Endpoints, 2, 3)
				}
				cAddr := netip.MustParseAddr("192.0.2.3")
				had, moved := 0, 0
				for i, c := range cs {
					Decide(p, c, IPv4, snap, &d)
					if slices.Contains(d.Addrs, cAddr) {
						t.Fatalf("%v still answered the removed endpoint", c.Scope)
					}
					if !slices.Contains(before[i], cAddr) {
						if !slices.Equal(d.Addrs, before[i]) {
							t.Fatalf("%v did not have c and moved: %v → %v", c.Scope, before[i], d.Addrs)
						}
						continue
					}
					had++
					// Those that had c keep their other picks, in order.
					kept := slices.DeleteFunc(slices.Clone(before[i]), func(a netip.Addr) bool { return a == cAddr })
					if !slices.Equal(d.Addrs[:len(kept)], kept) {
						t.Fatalf("%v: %v → %v, lost a pick other than c", c.Scope, before[i], d.Addrs)
					}
					if !slices.Equal(d.Addrs, before[i]) {
						moved++
					}
				}
				t.Logf("%d of %d subnets had c (%.1f%%), %d moved, none of the others", had, n, 100*float64(had)/n, moved)
				if had != moved {
					t.Errorf("%d subnets had c, %d moved", had, moved)
				}
			})
		}
	}
}

// TestAnswers: Answers addresses, distinct, from the region's usable
// endpoints; fewer when there are fewer; duplicates across endpoints count
// once.
func TestAnswers(t *testing.T) {
	cs := subnets(2000, false)
	for _, answers := range []int{-1, 0, 1, 2, 3, 4, 6} {
		t.Run(fmt.Sprintf("answers=%d", answers), func(t *testing.T) {
			p := weighted(answers, 1, 2, 3, 4)
			// e is a duplicate of a's address.
			p.Members[0].Endpoints = append(p.Members[0].Endpoints, Endpoint{Name: "e", Addrs: p.Members[0].Endpoints[0].Addrs, Weight: 4})
			want := min(max(answers, 1), 4)
			seen := map[netip.Addr]bool{}
			var d Decision
			for _, c := range cs {
				Decide(p, c, IPv4, nil, &d)
				if len(d.Addrs) != want {
					t.Fatalf("%v: %d addresses %v, want %d", c.Scope, len(d.Addrs), d.Addrs, want)
				}
				for i, a := range d.Addrs {
					if slices.Contains(d.Addrs[:i], a) {
						t.Fatalf("%v: duplicate in %v", c.Scope, d.Addrs)
					}
					seen[a] = true
				}
			}
			if len(seen) != 4 {
				t.Errorf("only %d addresses ever answered: %v", len(seen), seen)
			}
		})
	}
}

// TestScopeKey: the key depends on the masked scope only; without a scope,
// on the address.
func TestScopeKey(t *testing.T) {
	a := Client{Addr: netip.MustParseAddr("192.0.2.1"), Scope: netip.MustParsePrefix("192.0.2.0/24")}
	b := Client{Addr: netip.MustParseAddr("192.0.2.200"), Scope: netip.MustParsePrefix("192.0.2.77/24")}
	if scopeKey(&a) != scopeKey(&b) {
		t.Error("same /24, different keys")
	}
	c := Client{Scope: netip.MustParsePrefix("192.0.2.0/25")}
	if scopeKey(&a) == scopeKey(&c) {
		t.Error("/24 and /25 share a key")
	}
	host := Client{Addr: netip.MustParseAddr("192.0.2.1")}
	slash32 := Client{Scope: netip.MustParsePrefix("192.0.2.1/32")}
	if scopeKey(&host) != scopeKey(&slash32) {
		t.Error("an address without scope differs from its /32")
	}
	v6 := Client{Scope: netip.MustParsePrefix("::ffff:192.0.2.0/120")}
	if scopeKey(&v6) == scopeKey(&a) {
		t.Error("IPv4-mapped IPv6 prefix shares the IPv4 key")
	}
}
