package balance

import (
	"math/bits"
	"slices"
)

// Ring sizes: vnodesPerWeight points per unit of weight (ketama's 160),
// maxRingPoints in all (weights are scaled down to fit, at least one point
// per backend).
const (
	vnodesPerWeight = 160
	maxRingPoints   = 1 << 16
)

// hashRing is consistent hashing on a ring of virtual nodes (Karger et al.,
// https://dl.acm.org/doi/10.1145/258533.258660; the ketama layout): a key
// goes to the first point at or after its hash, and when that point's
// backend may not be picked, to the next point's. A backend that goes down
// moves only its own keys, spread over the others, and they come back when
// it is up; scale (slow start) moves nothing. ip_hash and consistent_hash
// differ only in their key.
type hashRing struct {
	pool
	ring []ringPoint // sorted by hash
}

type ringPoint struct {
	hash uint64
	i    int
}

func buildRing(backends []Backend) []ringPoint {
	total := 0
	for _, b := range backends {
		total += b.Weight * vnodesPerWeight
	}
	perWeight := float64(vnodesPerWeight)
	if total > maxRingPoints {
		perWeight = float64(vnodesPerWeight) * maxRingPoints / float64(total)
	}
	var ring []ringPoint
	for i, b := range backends {
		n := max(1, int(float64(b.Weight)*perWeight))
		for v := range n {
			h := fnv1a(fnvOffset, []byte(b.Name))
			h = fnv1a(h, []byte{'#', byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
			ring = append(ring, ringPoint{hash: fmix64(h), i: i})
		}
	}
	// Equal hashes (rare) are ordered by backend so the ring is deterministic.
	slices.SortFunc(ring, func(a, b ringPoint) int {
		if a.hash != b.hash {
			if a.hash < b.hash {
				return -1
			}
			return 1
		}
		return a.i - b.i
	})
	return ring
}

// Pick implements Balancer.
func (h *hashRing) Pick(key []byte, tried []int) int {
	pos := h.search(fmix64(fnv1a(fnvOffset, key)))
	i := h.walk(pos, tried, false)
	if i < 0 && len(tried) > 0 {
		i = h.walk(pos, tried, true)
	}
	return i
}

// search returns the position of the first point whose hash is >= x,
// wrapping to 0.
func (h *hashRing) search(x uint64) int {
	lo, hi := 0, len(h.ring)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if h.ring[mid].hash < x {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(h.ring) {
		return 0
	}
	return lo
}

// walk returns the backend of the first point from pos on whose backend
// may be picked, or -1.
func (h *hashRing) walk(pos int, tried []int, withTried bool) int {
	n := len(h.ring)
	var rejected uint64 // backends known unfit, when there are at most 64
	small := len(h.backends) <= 64
	for k := range n {
		i := h.ring[(pos+k)%n].i
		if small && rejected&(1<<uint(i)) != 0 {
			continue
		}
		if h.eligible(i, tried, withTried) {
			return i
		}
		if small {
			rejected |= 1 << uint(i)
			if bits.OnesCount64(rejected) == len(h.backends) {
				return -1
			}
		}
	}
	return -1
}

// FNV-1a, 64 bits (http://www.isthe.com/chongo/tech/comp/fnv/).
const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnv1a(h uint64, b []byte) uint64 {
	for _, c := range b {
		h ^= uint64(c)
		h *= fnvPrime
	}
	return h
}

// fmix64 is MurmurHash3's finaliser: it spreads FNV's weak low bits over
// the whole word, so that ring points and keys are evenly distributed.
func fmix64(h uint64) uint64 {
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}
