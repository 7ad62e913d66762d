package dnsserver

import (
	"encoding/binary"
	"hash/maphash"
	"net/netip"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/internal/lossy"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// steerCacheBits sizes the server's memory of steered answers (1<<bits
// slots, internal/lossy). A steered answer is a function of the pool, the
// address family, the client subnet (cut to ecs.max_prefix) and whether it
// came from ECS, as long as the view, the state snapshot and the geo
// database stay the same: remembering it per subnet skips the geo lookup,
// the distances and the picks, most of a steered answer's cost in user
// space. 32768 slots cost 256 KiB of pointers plus up to 32768 entries of
// about 150 bytes, 5.5 MiB in all at most, whatever the traffic (entries
// hold a generation number, not the view or snapshot, so stale ones pin
// nothing); of bench/dns geo_ecs's 7680 subnets in both families, 91 %
// stay (two-way, TestCacheHitRate).
const steerCacheBits = 15

// answerKey is what a steered answer depends on, given the view, the
// snapshot and the geo database it was decided under.
type answerKey struct {
	pool   *policy.Pool
	fam    policy.Family
	subnet netip.Prefix // policy.ClientSubnet
	ecs    bool         // the subnet is the query's ECS option's
}

// steered is a remembered answer: what the fast path writes for its key,
// and the generation (steerGen) it was decided under. A changed view,
// snapshot or geo version starts a new generation and makes it stale: it
// is decided again and replaced at once.
type steered struct {
	gen   uint64       // steerGen.n it was decided under
	addrs []netip.Addr // never modified
	ttl   uint32
	scope uint8              // the ECS scope of the reply, when ecs
	count prometheus.Counter // aya_gslb_answers_total of the outcome
}

type steerCache = lossy.Cache[answerKey, steered]

func newSteerCache() *steerCache { return lossy.New[answerKey, steered](steerCacheBits) }

// poolSeed salts the pool names hashed into answerKey hashes.
var poolSeed = maphash.MakeSeed()

// poolSalt is the hash of a pool's name that answerKey.hash mixes in, so
// that the pools of one subnet take different slots.
func poolSalt(pool string) uint64 { return maphash.String(poolSeed, pool) }

func (k *answerKey) hash(salt uint64) uint64 {
	b := k.subnet.Addr().As16()
	lo := binary.BigEndian.Uint64(b[8:]) ^ uint64(k.subnet.Bits()&0xff)<<56 ^ uint64(k.fam)<<48
	if k.ecs {
		lo ^= 1 << 47
	}
	return lossy.Mix(binary.BigEndian.Uint64(b[:8])^salt, lo)
}

// steerGen is what the remembered answers hold under: the view's
// steering, the snapshot and the geo version, numbered. Entries keep the
// number only, so a stale entry pins no old snapshot or view.
type steerGen struct {
	st   *steering
	snap *state.Snapshot
	geo  uint64
	n    uint64
}

// generation returns the number of (st, snap, geo), starting a new one
// when any of them changed.
func (s *Server) generation(st *steering, snap *state.Snapshot, geo uint64) uint64 {
	for {
		g := s.steerGen.Load()
		if g != nil && g.st == st && g.snap == snap && g.geo == geo {
			return g.n
		}
		next := &steerGen{st: st, snap: snap, geo: geo, n: 1}
		if g != nil {
			next.n = g.n + 1
		}
		if s.steerGen.CompareAndSwap(g, next) {
			return next.n
		}
	}
}
