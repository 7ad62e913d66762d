package geo

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"

	"github.com/aya-gslb/aya/internal/lossy"
)

// recordCacheSize is the number of decoded records a database keeps (a
// power of two, 1<<recordCacheBits). Many networks share one record (a
// city's), and a nameserver's clients cluster in the cities its resolvers
// serve, so some thousands of entries catch most lookups of a busy server;
// the cache costs 128 KiB of pointers plus the records it holds (under 100
// bytes each, 1.6 MiB at most), whatever the traffic.
const (
	recordCacheBits = 14
	recordCacheSize = 1 << recordCacheBits
)

// recordCache maps a record's data-section offset to its decoded record,
// direct-mapped: a lookup is one atomic load and a comparison. A slot is
// filled once, by the first record decoded for it, and kept for the life
// of the database: the cache allocates at most recordCacheSize entries in
// all, so clients spread over more records than it holds (an attacker's
// random ECS subnets) cost a decode each, never an allocation. Entries are
// immutable, so readers need no lock.
type recordCache struct {
	slots [recordCacheSize]atomic.Pointer[cachedRecord]
}

type cachedRecord struct {
	off uint
	rec record
}

func (c *recordCache) slot(off uint) *atomic.Pointer[cachedRecord] {
	// Records are laid out one after another, so consecutive offsets differ
	// by tens of bytes: mix the bits before taking the slot.
	h := uint64(off) * 0x9E3779B97F4A7C15
	return &c.slots[h>>(64-recordCacheBits)]
}

func (c *recordCache) get(off uint) (record, bool) {
	if e := c.slot(off).Load(); e != nil && e.off == off {
		return e.rec, true
	}
	return record{}, false
}

// put caches rec for off if off's slot is still empty.
func (c *recordCache) put(off uint, rec record) {
	if sl := c.slot(off); sl.Load() == nil {
		sl.CompareAndSwap(nil, &cachedRecord{off: off, rec: rec})
	}
}

// addrCacheBits sizes the cache of looked-up addresses a state keeps with
// their Location (1<<addrCacheBits entries, internal/lossy). The DNS path
// looks up the first address of each client subnet (a /24 or /56 with ECS,
// else the resolver's own address), and a nameserver's traffic comes from a
// population of resolvers that changes slowly: a hit skips the walk down
// the tree, the record and the overrides. 16384 entries cost 128 KiB of
// pointers plus up to 2 MiB of entries. A state's data never changes, so an
// entry holds for the state's life (a reload, or a database dropped by
// Verify, makes a new state and a new cache).
const addrCacheBits = 14

type addrCache = lossy.Cache[netip.Addr, Location]

func newAddrCache() *addrCache { return lossy.New[netip.Addr, Location](addrCacheBits) }

func addrHash(a netip.Addr) uint64 {
	b := a.As16()
	return lossy.Mix(binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:]))
}
