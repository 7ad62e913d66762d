// Package lossy is a fixed-size, lock-free, two-way set-associative cache
// for the query path: a lookup is at most two atomic loads from one cache
// line and a comparison, and the cache never holds more than its slots,
// whatever the traffic.
package lossy

import "sync/atomic"

// ReplaceEvery is the share of misses on a full pair of slots that replace
// one of its entries: one in ReplaceEvery. An empty slot is always filled.
// So a new population of keys takes the cache over in time, while a flood of keys
// never seen again (an attacker's random subnets) allocates an entry on at
// most one lookup in ReplaceEvery.
const ReplaceEvery = 16

// Cache maps keys to values in 1<<bits slots, in pairs: a key's hash picks
// a pair (its top bits), and the key may sit in either slot of it (two-way
// set associative). Two keys whose hashes meet both stay, where with one
// slot each they would take it from each other in turn and one of them
// miss: of 15,360 keys in 32,768 slots, about 20 % miss with one slot a
// key, 9 % with pairs (TestCacheHitRate). The two slots of a pair
// share a cache line, so a lookup still reads one line of slots and the
// entry. The caller hashes the key (any good mix of its bits). Entries are
// immutable, so readers need no lock. The zero Cache is not usable: make
// one with New. A nil *Cache caches nothing.
type Cache[K comparable, V any] struct {
	bits   uint
	slots  []atomic.Pointer[entry[K, V]]
	misses atomic.Uint32
}

type entry[K comparable, V any] struct {
	k K
	v V
}

// New returns a cache of 1<<bits slots (8 bytes each, plus the entries),
// at least 2.
func New[K comparable, V any](bits uint) *Cache[K, V] {
	bits = max(bits, 1)
	return &Cache[K, V]{bits: bits, slots: make([]atomic.Pointer[entry[K, V]], 1<<bits)}
}

// pair returns the two slots of hash h.
func (c *Cache[K, V]) pair(h uint64) *[2]atomic.Pointer[entry[K, V]] {
	i := h >> (64 - c.bits) &^ 1
	return (*[2]atomic.Pointer[entry[K, V]])(c.slots[i : i+2])
}

// Get returns the value cached for k, whose hash is h.
func (c *Cache[K, V]) Get(h uint64, k K) (v V, ok bool) {
	if c == nil {
		return v, false
	}
	p := c.pair(h)
	for i := range p {
		if e := p[i].Load(); e != nil && e.k == k {
			return e.v, true
		}
	}
	return v, false
}

// Put caches v for k (hash h): over k's own entry or in an empty slot of
// its pair always, over another key's one call in ReplaceEvery.
func (c *Cache[K, V]) Put(h uint64, k K, v V) {
	if sl, ok := c.Claim(h, k, nil); ok {
		sl.Store(k, v)
	}
}

// Slot is a slot of a Cache that Claim gave.
type Slot[K comparable, V any] struct {
	p *atomic.Pointer[entry[K, V]]
}

// Store puts v for k in the slot.
func (s Slot[K, V]) Store(k K, v V) { s.p.Store(&entry[K, V]{k: k, v: v}) }

// Claim returns the slot of its pair that a value for k (hash h) may take
// now: the one that holds k, else an empty one, else one whose value stale
// reports out of date (stale may be nil), else, one call in ReplaceEvery,
// either of the two; ok false when none. A caller that must build the
// value at a cost (a copy to keep) claims first.
func (c *Cache[K, V]) Claim(h uint64, k K, stale func(V) bool) (_ Slot[K, V], ok bool) {
	if c == nil {
		return Slot[K, V]{}, false
	}
	p := c.pair(h)
	e0, e1 := p[0].Load(), p[1].Load()
	switch {
	case e0 != nil && e0.k == k:
		return Slot[K, V]{&p[0]}, true
	case e1 != nil && e1.k == k:
		return Slot[K, V]{&p[1]}, true
	case e0 == nil:
		return Slot[K, V]{&p[0]}, true
	case e1 == nil:
		return Slot[K, V]{&p[1]}, true
	case stale != nil && stale(e0.v):
		return Slot[K, V]{&p[0]}, true
	case stale != nil && stale(e1.v):
		return Slot[K, V]{&p[1]}, true
	}
	if m := c.misses.Add(1); m%ReplaceEvery == 0 {
		return Slot[K, V]{&p[m/ReplaceEvery&1]}, true
	}
	return Slot[K, V]{}, false
}

// Mix returns a well-mixed 64-bit hash of a and b (the finaliser of
// SplitMix64 over their combination), for keys made of a few words.
func Mix(a, b uint64) uint64 {
	h := a*0x9E3779B97F4A7C15 ^ b
	h ^= h >> 31
	h *= 0xBF58476D1CE4E5B9
	h ^= h >> 27
	h *= 0x94D049BB133111EB
	return h ^ h>>31
}
