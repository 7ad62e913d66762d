// Package lossy is a fixed-size, lock-free, direct-mapped cache for the
// query path: a lookup is one atomic load and a comparison, and the cache
// never holds more than its slots, whatever the traffic.
package lossy

import "sync/atomic"

// ReplaceEvery is the share of misses on an occupied slot that replace its
// entry: one in ReplaceEvery. An empty slot is always filled. So a new
// population of keys takes the cache over in time, while a flood of keys
// never seen again (an attacker's random subnets) allocates an entry on at
// most one lookup in ReplaceEvery.
const ReplaceEvery = 16

// Cache maps keys to values in 1<<bits slots; the caller hashes the key
// (any good mix of its bits: the top bits pick the slot). Entries are
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

// New returns a cache of 1<<bits slots (8 bytes each, plus the entries).
func New[K comparable, V any](bits uint) *Cache[K, V] {
	return &Cache[K, V]{bits: bits, slots: make([]atomic.Pointer[entry[K, V]], 1<<bits)}
}

func (c *Cache[K, V]) slot(h uint64) *atomic.Pointer[entry[K, V]] {
	return &c.slots[h>>(64-c.bits)]
}

// Get returns the value cached for k, whose hash is h.
func (c *Cache[K, V]) Get(h uint64, k K) (v V, ok bool) {
	if c == nil {
		return v, false
	}
	if e := c.slot(h).Load(); e != nil && e.k == k {
		return e.v, true
	}
	return v, false
}

// Put caches v for k (hash h): in an empty slot always, over another key
// one call in ReplaceEvery.
func (c *Cache[K, V]) Put(h uint64, k K, v V) {
	if c == nil {
		return
	}
	sl := c.slot(h)
	old := sl.Load()
	if old != nil && !c.Turn() {
		return
	}
	sl.CompareAndSwap(old, &entry[K, V]{k: k, v: v})
}

// Turn reports whether a miss on a slot that another key holds may take it
// now (Replace): true one call in ReplaceEvery. Put asks it for itself; a
// caller that must build the value at a cost asks first.
func (c *Cache[K, V]) Turn() bool { return c.misses.Add(1)%ReplaceEvery == 0 }

// Peek returns the entry in the slot of hash h, whatever its key: for a
// caller whose values can go out of date, to tell a stale entry (which
// Replace overwrites at once) from another key's live one (which Put
// replaces in its turn).
func (c *Cache[K, V]) Peek(h uint64) (k K, v V, ok bool) {
	if c == nil {
		return k, v, false
	}
	if e := c.slot(h).Load(); e != nil {
		return e.k, e.v, true
	}
	return k, v, false
}

// Replace caches v for k (hash h) whatever the slot holds.
func (c *Cache[K, V]) Replace(h uint64, k K, v V) {
	if c == nil {
		return
	}
	c.slot(h).Store(&entry[K, V]{k: k, v: v})
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
