package dnsserver

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/internal/lossy"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// decisionBits sizes the decisions the fast path keeps per state snapshot
// (1<<decisionBits, internal/lossy): policy.Decide is a pure function of
// the pool, the family, the client's scope and location, and the snapshot
// (every client of a scope with the same location gets the same answer, see
// policy.Client), and a nameserver's clients fall into far fewer scopes
// than it answers queries. A hit costs a hash, one atomic load and a
// comparison instead of ranking the regions and picking the endpoints.
const decisionBits = 14

// decisionCache holds the decisions made under one snapshot. A new
// snapshot (a probe result, a drain, a load report applied) starts a new
// cache: its 128 KiB of slots, and the entries filled since, become
// garbage at the rate snapshots change (seconds).
type decisionCache struct {
	snap *state.Snapshot
	c    *lossy.Cache[decisionKey, decision]
}

// decisionKey is what a decision is made of, the snapshot aside.
type decisionKey struct {
	pool  *policy.Pool
	fam   policy.Family
	scope netip.Prefix
	loc   geo.Location
}

// decision is the part of a policy.Decision the fast path answers from.
type decision struct {
	region   string
	addrs    []netip.Addr
	ttl      uint32
	servfail bool
	fallback string
}

var decisionSeed = maphash.MakeSeed()

func (k *decisionKey) hash() uint64 {
	b := k.scope.Addr().As16()
	// The pool too: one resolver's scope asks for every steered name.
	pool := maphash.String(decisionSeed, k.pool.Name)
	return lossy.Mix(binary.BigEndian.Uint64(b[:8])^pool, binary.BigEndian.Uint64(b[8:])^uint64(k.scope.Bits())<<8^uint64(k.fam))
}

// decide is policy.Decide(p, c, fam, snapshot, d) for the state's current
// snapshot, from the cache when it holds the decision: d gets Region,
// Addrs, TTL, Servfail and Fallback (not Regions: an explaining caller
// decides itself).
func (st *steering) decide(p *policy.Pool, c *policy.Client, fam policy.Family, d *policy.Decision) {
	d.Explain = false
	snap := st.state.Current()
	dc := st.decisions.Load()
	if dc == nil || dc.snap != snap {
		next := &decisionCache{snap: snap, c: lossy.New[decisionKey, decision](decisionBits)}
		if st.decisions.CompareAndSwap(dc, next) {
			dc = next
		} else if dc = st.decisions.Load(); dc.snap != snap {
			// Another reader swapped in another snapshot's cache as this
			// one changed again: decide without it.
			policy.Decide(p, *c, fam, snap, d)
			return
		}
	}
	k := decisionKey{pool: p, fam: fam, scope: c.Scope, loc: c.Loc}
	h := k.hash()
	if e, ok := dc.c.Get(h, k); ok {
		d.Region, d.Addrs, d.TTL, d.Servfail, d.Fallback = e.region, append(d.Addrs[:0], e.addrs...), e.ttl, e.servfail, e.fallback
		return
	}
	policy.Decide(p, *c, fam, snap, d)
	dc.c.Put(h, k, decision{region: d.Region, addrs: append([]netip.Addr(nil), d.Addrs...), ttl: d.TTL, servfail: d.Servfail, fallback: d.Fallback})
}
