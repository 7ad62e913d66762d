package policy

import (
	"net/netip"

	"github.com/aya-gslb/aya/geo"
)

// The caps on the client subnets that steering uses, in bits, when the
// configuration gives none: the RFC 7871 §11.1 recommendation.
const (
	DefaultMaxPrefixV4 = 24
	DefaultMaxPrefixV6 = 56
)

// MaxPrefix is the cap on client subnets of a's family: maxV4 for IPv4,
// maxV6 for IPv6, each the default when ≤ 0 or longer than the family's
// addresses.
func MaxPrefix(a netip.Addr, maxV4, maxV6 int) int {
	if a.Is4() {
		if maxV4 <= 0 || maxV4 > 32 {
			return DefaultMaxPrefixV4
		}
		return maxV4
	}
	if maxV6 <= 0 || maxV6 > 128 {
		return DefaultMaxPrefixV6
	}
	return maxV6
}

// ECSClient is the client that steering answers for a query that carries
// the client subnet a/source (EDNS Client Subnet, RFC 7871): Subnet is that
// prefix cut to MaxPrefix(a, maxV4, maxV6) bits when longer, Addr its first
// address, and Loc where lookup places Addr (nil lookup: no location). The
// DNS server builds the clients of ECS queries with it, and `aya diff`
// replays every network of the geo database through it, so that a plan
// cannot drift from what queries get.
func ECSClient(a netip.Addr, source, maxV4, maxV6 int, lookup func(netip.Addr) geo.Location) Client {
	var c Client
	c.Subnet, _ = a.Prefix(max(0, min(source, MaxPrefix(a, maxV4, maxV6))))
	c.Addr = c.Subnet.Addr()
	if lookup != nil {
		c.Loc = lookup(c.Addr)
	}
	return c
}
