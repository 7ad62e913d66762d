package policy

import (
	"math"
	"net/netip"
	"slices"

	"github.com/aya-gslb/aya/state"
)

// Picking addresses: weighted rendezvous (highest random weight, HRW)
// hashing. D. G. Thaler and C. V. Ravishankar, "Using Name-Based Mappings to
// Increase Hit Rates", IEEE/ACM Transactions on Networking 6(1), 1998, for
// the scheme; the weighted score -weight/ln(h), h uniform in (0,1), is the
// logarithmic method of C. Schindelhauer and G. Schomaker, "Weighted
// Distributed Hash Tables", SPAA 2005, as J. Resch presents it in "New
// Hashing Algorithms for Data Storage" (SNIA SDC 2015); see
// https://en.wikipedia.org/wiki/Rendezvous_hashing#Weighted_rendezvous_hash.
// The score is the inverse of an exponential variable of rate weight, so
// the highest score wins with probability weight / sum of weights.
//
// Every candidate address gets a score from a hash of (the client's scope,
// endpoint name, address) and its weight; the highest scores win. The
// scope (Client.Scope) is the network the answer holds for, the one whose
// length the reply gives resolvers as the ECS scope: hashing anything finer
// (the client's /24) would hand a resolver, which caches the answer for the
// whole scope, one /24's pick for all of it. So:
//   - a scope gets the same picks for as long as the candidates are the
//     same: no state, no counters, nothing to replicate;
//   - when a candidate goes away (endpoint down, drained, removed), only the
//     scopes that had it move, and they spread over the rest by weight;
//   - P(candidate wins) = its weight / the sum of weights. An endpoint's
//     weight is split evenly over its addresses of the family, so the
//     endpoint as a whole gets its weight's share, and each of its
//     addresses takes traffic.
//
// The hash must give the same value on every nameserver of the zone, in
// every process and every version: a resolver asks any of them, and a
// client whose answer flips between nameservers loses its session
// affinity. That rules out hash/maphash (random per-process seeds) and Go's
// map hash. It is written out here, FNV-1a 64 (Fowler, Noll, Vo;
// http://www.isthe.com/chongo/tech/comp/fnv/, RFC draft
// draft-eastlake-fnv) followed by the 64-bit finalizer of MurmurHash3
// (A. Appleby, public domain), so that no dependency upgrade can change it;
// TestHashStable pins its values. FNV-1a alone mixes its last input bytes
// poorly into the high bits, which the uniform h is made of; the finalizer
// fixes that. The score's floating-point logarithm is the same computation
// everywhere except possibly in the last bit on some architectures, which
// could only reorder two candidates whose scores agree to ~1e-16.

const (
	fnvOffset64 = 14695981039346656037
	fnvPrime64  = 1099511628211
)

func fnvByte(h uint64, b byte) uint64 {
	return (h ^ uint64(b)) * fnvPrime64
}

func fnvString(h uint64, s string) uint64 {
	for i := range len(s) {
		h = (h ^ uint64(s[i])) * fnvPrime64
	}
	return h
}

func fnvAddr(h uint64, a netip.Addr) uint64 {
	b := a.As16()
	for _, c := range b {
		h = (h ^ uint64(c)) * fnvPrime64
	}
	return h
}

// Mix64 is MurmurHash3's 64-bit finalizer.
func Mix64(k uint64) uint64 {
	k ^= k >> 33
	k *= 0xff51afd7ed558ccd
	k ^= k >> 33
	k *= 0xc4ceb9fe1a85ec53
	k ^= k >> 33
	return k
}

// scopeKey is the hash state after the client's scope: its masked address,
// length and family. Without a valid Scope, the client's address as a host
// prefix; without either, the zero prefix (every such client alike).
func scopeKey(c *Client) uint64 {
	pfx := c.Scope
	if !pfx.IsValid() && c.Addr.IsValid() {
		pfx = netip.PrefixFrom(c.Addr, c.Addr.BitLen())
	}
	pfx = pfx.Masked()
	h := fnvAddr(fnvOffset64, pfx.Addr())
	h = fnvByte(h, byte(pfx.Bits()))
	switch {
	case pfx.Addr().Is4():
		h = fnvByte(h, 4)
	case pfx.Addr().Is6():
		h = fnvByte(h, 6)
	default:
		h = fnvByte(h, 0)
	}
	return h
}

// hrwScore is the weighted rendezvous score of address a of the endpoint
// named name with weight w, for the scope whose key is key. Higher wins.
func hrwScore(key uint64, name string, a netip.Addr, w float64) float64 {
	h := hrwHash(key, name, a)
	// 52 bits + 0.5 over 2^52: exact in a float64 and strictly inside
	// (0, 1), so ln(u) < 0 and the score is finite and positive.
	u := (float64(h>>12) + 0.5) * 0x1p-52
	return -w / math.Log(u)
}

// hrwHash is the hash of (scope, endpoint name, address), the scope given
// by its key.
func hrwHash(key uint64, name string, a netip.Addr) uint64 {
	h := fnvString(key, name)
	h = fnvByte(h, 0) // name terminator
	return Mix64(fnvAddr(h, a))
}

// pick appends to d.Addrs up to p.Answers (at least 1) distinct addresses
// of family fam from member m's endpoints, highest HRW score first: the
// usable endpoints, or with all every endpoint (fail open). Each round
// rescans the candidates rather than keeping them in a buffer, which costs
// Answers passes over a few endpoints and allocates nothing.
func pick(d *Decision, p *Pool, m *Member, fam Family, key uint64, snap *state.Snapshot, all bool) {
	n := max(p.Answers, 1)
	for len(d.Addrs) < n {
		var best netip.Addr
		bestScore := math.Inf(-1)
		for i := range m.Endpoints {
			e := &m.Endpoints[i]
			nf := 0
			for _, a := range e.Addrs {
				if inFamily(a, fam) {
					nf++
				}
			}
			if nf == 0 || !all && !usable(p.Name, m.Region.Name, e, snap) {
				continue
			}
			w := float64(max(e.Weight, 1)) / float64(nf)
			for _, a := range e.Addrs {
				if !inFamily(a, fam) || slices.Contains(d.Addrs, a) {
					continue
				}
				// Strict >: equal scores keep the earlier candidate.
				if s := hrwScore(key, e.Name, a, w); !best.IsValid() || s > bestScore {
					best, bestScore = a, s
				}
			}
		}
		if !best.IsValid() {
			return
		}
		d.Addrs = append(d.Addrs, best)
	}
}

// shedPoint is the client scope's point in [0, 1) for load shedding from
// region: a region shedding a fraction f moves the scopes whose point is
// below f. It is a hash of (scope, region), so the same scopes move at
// every nameserver and on every query, a growing f only adds scopes, and
// two regions shed different scopes. A scope moves whole, as a resolver's
// cache would move it anyway; f is a share of scopes, not of clients.
func shedPoint(c *Client, region string) float64 {
	h := Mix64(fnvString(fnvByte(scopeKey(c), 's'), region))
	return float64(h>>11) * 0x1p-53
}
