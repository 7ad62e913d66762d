package geo

import (
	"encoding/binary"
	"net/netip"
	"sync/atomic"
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

// addrCacheSize is the number of looked-up addresses a state keeps with
// their Location (1<<addrCacheBits). The DNS path looks up the first
// address of each client subnet (a /24 or /56 with ECS, else the
// resolver's own address), and a nameserver's traffic comes from a
// population of resolvers that changes slowly: a hit skips the walk down
// the tree, the record and the overrides. 16384 entries cost 128 KiB of
// pointers plus up to 2 MiB of entries.
const (
	addrCacheBits = 14
	addrCacheSize = 1 << addrCacheBits
	// addrReplaceEvery: one miss in this many may replace the entry of an
	// occupied slot, so that a new population of clients takes over the
	// cache in time while a flood of random subnets allocates on at most
	// that share of its queries.
	addrReplaceEvery = 16
)

// addrCache maps an address to the Location a state's lookup gave it,
// direct-mapped: a lookup is one atomic load and a comparison. Entries are
// immutable; a state's data never changes, so an entry holds for the
// state's life (a reload, or a database dropped by Verify, makes a new
// state and a new cache). A nil *addrCache caches nothing.
type addrCache struct {
	slots  [addrCacheSize]atomic.Pointer[cachedAddr]
	misses atomic.Uint32
}

type cachedAddr struct {
	a   netip.Addr
	loc Location
}

func (c *addrCache) slot(a netip.Addr) *atomic.Pointer[cachedAddr] {
	b := a.As16()
	h := (binary.BigEndian.Uint64(b[:8])*0x9E3779B97F4A7C15 ^ binary.BigEndian.Uint64(b[8:])) * 0xBF58476D1CE4E5B9
	return &c.slots[h>>(64-addrCacheBits)]
}

func (c *addrCache) get(a netip.Addr) (Location, bool) {
	if c == nil {
		return Location{}, false
	}
	if e := c.slot(a).Load(); e != nil && e.a == a {
		return e.loc, true
	}
	return Location{}, false
}

// put caches loc for a: in an empty slot always, over another address one
// miss in addrReplaceEvery.
func (c *addrCache) put(a netip.Addr, loc Location) {
	if c == nil {
		return
	}
	sl := c.slot(a)
	old := sl.Load()
	if old != nil && c.misses.Add(1)%addrReplaceEvery != 0 {
		return
	}
	sl.CompareAndSwap(old, &cachedAddr{a: a, loc: loc})
}
