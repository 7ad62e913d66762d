package proxy

import (
	"hash/maphash"
	"math"
	"net/netip"
	"sync"
	"time"
)

// Rate limiter sizing: the clients are spread over shards, each with its
// own lock and a bounded map, so memory stays bounded whatever the
// number of client addresses.
const (
	limiterShards   = 64
	maxPerShard     = 4096 // at most 256 Ki clients tracked, ~20 MB
	evictScanBudget = 64   // entries looked at per eviction
)

// rateLimiter is a token bucket per client address.
type rateLimiter struct {
	rate     float64 // tokens per second
	burst    float64
	perShard int // bucket cap of a shard
	seed     maphash.Seed
	shards   [limiterShards]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	buckets map[netip.Addr]*bucket
	_       [40]byte // keep shards on separate cache lines
}

type bucket struct {
	tokens float64
	last   int64 // unix nanoseconds of the last refill
}

func newRateLimiter(rate float64, burst int) *rateLimiter {
	if burst <= 0 {
		burst = int(math.Ceil(rate))
	}
	l := &rateLimiter{rate: rate, burst: float64(burst), perShard: maxPerShard, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].buckets = make(map[netip.Addr]*bucket)
	}
	return l
}

// allow takes a token of addr's bucket at now. When there is none, it
// returns false and how long until there is. Clients are keyed as their
// connections are counted (clientKey): IPv6 ones share the bucket of their
// /64, and an IPv4-mapped address is its IPv4 one.
func (l *rateLimiter) allow(addr netip.Addr, now time.Time) (bool, time.Duration) {
	addr = clientKey(addr)
	s := &l.shards[maphash.Comparable(l.seed, addr)%limiterShards]
	t := now.UnixNano()
	s.mu.Lock()
	defer s.mu.Unlock()
	b := s.buckets[addr]
	if b == nil {
		if len(s.buckets) >= l.perShard {
			l.evict(s, t)
		}
		b = &bucket{tokens: l.burst, last: t}
		s.buckets[addr] = b
	} else if t > b.last {
		b.tokens = math.Min(l.burst, b.tokens+float64(t-b.last)/1e9*l.rate)
		b.last = t
	}
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * 1e9)
}

// evict makes room in a full shard: it drops the buckets that have
// refilled (a new bucket would be the same) among a bounded sample, and
// when none has, the oldest of that sample.
func (l *rateLimiter) evict(s *limiterShard, now int64) {
	full := int64(l.burst / l.rate * 1e9)
	var oldest netip.Addr
	oldestT := int64(math.MaxInt64)
	n, dropped := 0, 0
	for a, b := range s.buckets {
		if now-b.last >= full {
			delete(s.buckets, a)
			dropped++
		} else if b.last < oldestT {
			oldest, oldestT = a, b.last
		}
		if n++; n >= evictScanBudget {
			break
		}
	}
	if dropped == 0 && oldest.IsValid() {
		delete(s.buckets, oldest)
	}
}
