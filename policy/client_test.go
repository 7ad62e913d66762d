package policy

import (
	"net/netip"
	"testing"

	"github.com/aya-gslb/aya/geo"
)

func TestECSClient(t *testing.T) {
	// lookup places every address at its own host network, so that the
	// address looked up shows in Loc.Network.
	lookup := func(a netip.Addr) geo.Location {
		return geo.Location{Network: netip.PrefixFrom(a, a.BitLen()), Country: "GB"}
	}
	for _, tc := range []struct {
		name         string
		addr         string
		source       int
		maxV4, maxV6 int
		wantSubnet   string
	}{
		{"v4 shorter than the cap", "81.2.0.0", 16, 0, 0, "81.2.0.0/16"},
		{"v4 cut to the default cap", "81.2.69.142", 32, 0, 0, "81.2.69.0/24"},
		{"v4 configured cap", "81.2.69.142", 32, 20, 0, "81.2.64.0/20"},
		{"v4 source beyond the family", "81.2.69.142", 40, 0, 0, "81.2.69.0/24"},
		{"v4 cap beyond the family: default", "81.2.69.142", 32, 33, 0, "81.2.69.0/24"},
		{"v6 cut to the default cap", "2001:db8:1:2ff::1", 128, 0, 0, "2001:db8:1:200::/56"},
		{"v6 configured cap", "2001:db8:1:2:3::1", 64, 0, 48, "2001:db8:1::/48"},
		{"v6 source zero", "2001:db8::1", 0, 0, 0, "::/0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, subnet := ECSClient(netip.MustParseAddr(tc.addr), tc.source, tc.maxV4, tc.maxV6, lookup)
			want := netip.MustParsePrefix(tc.wantSubnet)
			if subnet != want || c.Addr != want.Addr() {
				t.Errorf("subnet %s, Addr %s; want %s, %s", subnet, c.Addr, want, want.Addr())
			}
			if !c.Scope.Contains(c.Addr) || c.Scope.Bits() > MaxPrefix(c.Addr, tc.maxV4, tc.maxV6) {
				t.Errorf("Scope %s: want a network around %s no longer than the cap", c.Scope, c.Addr)
			}
			if got := c.Loc.Network; got != netip.PrefixFrom(want.Addr(), want.Addr().BitLen()) {
				t.Errorf("looked up %s, want the subnet's address %s", got.Addr(), want.Addr())
			}
			if c, _ := ECSClient(netip.MustParseAddr(tc.addr), tc.source, tc.maxV4, tc.maxV6, nil); c.Loc != (geo.Location{}) {
				t.Errorf("nil lookup: Loc = %+v", c.Loc)
			}
		})
	}
}
