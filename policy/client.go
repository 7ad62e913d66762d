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

// ClientSubnet is the subnet ECSClient answers for: a/source cut to
// MaxPrefix(a, maxV4, maxV6) bits. ECSClient's client is a function of it
// and of the lookup alone, which is what lets the DNS server remember
// answers per subnet.
func ClientSubnet(a netip.Addr, source, maxV4, maxV6 int) netip.Prefix {
	p, _ := a.Prefix(max(0, min(source, MaxPrefix(a, maxV4, maxV6))))
	return p
}

// ECSClient is the client that steering answers for a query from the
// client subnet a/source (EDNS Client Subnet, RFC 7871; a resolver's own
// address is a/128): subnet is that prefix cut to MaxPrefix(a, maxV4,
// maxV6) bits when longer, Addr its first address, Loc where lookup places
// Addr (nil lookup: nowhere), and Scope the network the answer holds for,
// which the picks and shed points hash over:
//
//   - the matched geo network (the database's or an override's, already cut
//     by geo so that it holds no override the address is not in), when it
//     placed the client: every address in it has the same location and the
//     same network. A network longer than the cap is cut to the cap, since
//     every subnet of the capped network is looked up at its first address;
//   - the subnet's first address cut to the cap when nothing placed the
//     client (no database, or no record): the answer then depends on the
//     hash only, and a per-/24 (/56) key spreads such clients over the
//     endpoints.
//
// So the scope is never longer than the cap and may be longer than the
// source prefix (RFC 7871 §7.2.1 allows SCOPE > SOURCE). The DNS server
// builds every steered client with it, and `aya diff` replays every network
// of the geo database through it, so that a plan cannot drift from what
// queries get.
func ECSClient(a netip.Addr, source, maxV4, maxV6 int, lookup func(netip.Addr) geo.Location) (c Client, subnet netip.Prefix) {
	limit := MaxPrefix(a, maxV4, maxV6)
	subnet = ClientSubnet(a, source, maxV4, maxV6)
	c.Addr = subnet.Addr()
	if lookup != nil {
		c.Loc = lookup(c.Addr)
	}
	bits := limit
	if n := c.Loc.Network; c.Loc.Known() && n.IsValid() {
		nb := n.Bits()
		if c.Addr.Is6() && n.Addr().Is4() {
			nb += 96 // an IPv4-mapped address, placed as IPv4
		}
		bits = min(bits, nb)
	}
	c.Scope, _ = c.Addr.Prefix(bits)
	return c, subnet
}
