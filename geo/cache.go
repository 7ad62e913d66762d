package geo

import "sync/atomic"

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
