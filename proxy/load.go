package proxy

import (
	"math"
	"sort"
	"sync/atomic"
	"time"
)

// Load reports the proxy's load: requests in flight against Capacity, and
// the request rate and 99th percentile latency (to response headers) over
// the last ~10 seconds.
func (p *Proxy) Load() Load {
	inFlight := p.inFlight.Load()
	rps, p99 := p.load.window(time.Now())
	return Load{
		InFlight:    inFlight,
		Capacity:    p.load.capacity,
		Utilisation: float64(inFlight) / float64(p.load.capacity),
		RPS:         rps,
		P99:         p99,
	}
}

// Load window: a ring of per-second buckets, each with a fixed-bucket
// latency histogram.
const (
	loadWindow  = 10 // seconds
	loadBuckets = loadWindow + 1
)

// latencyBounds are the upper bounds of the latency histogram: 50µs
// growing by 25% a step, up to ~2 minutes; slower requests count in the
// last bucket.
var latencyBounds = func() []time.Duration {
	var b []time.Duration
	for d := 50 * float64(time.Microsecond); d < float64(2*time.Minute); d *= 1.25 {
		b = append(b, time.Duration(d))
	}
	return b
}()

// loadMeter keeps the load window. record is lock-free; a bucket reused
// for a new second is cleared by the first request of that second, and a
// request racing that clear may be lost, which the figures tolerate.
type loadMeter struct {
	capacity int
	start    time.Time
	ring     [loadBuckets]secondBucket
}

type secondBucket struct {
	sec   atomic.Int64
	count atomic.Int64
	hist  []atomic.Int64 // len(latencyBounds)+1
}

func newLoadMeter(capacity int, now time.Time) *loadMeter {
	m := &loadMeter{capacity: capacity, start: now}
	for i := range m.ring {
		m.ring[i].hist = make([]atomic.Int64, len(latencyBounds)+1)
		m.ring[i].sec.Store(-1)
	}
	return m
}

// record counts a request that finished at now after d.
func (m *loadMeter) record(now time.Time, d time.Duration) {
	sec := now.Unix()
	b := &m.ring[sec%loadBuckets]
	if old := b.sec.Load(); old != sec {
		if b.sec.CompareAndSwap(old, sec) {
			b.count.Store(0)
			for i := range b.hist {
				b.hist[i].Store(0)
			}
		}
	}
	b.count.Add(1)
	b.hist[sort.Search(len(latencyBounds), func(i int) bool { return latencyBounds[i] >= d })].Add(1)
}

// window returns the request rate and the 99th percentile latency over
// the last loadWindow seconds (less since start).
func (m *loadMeter) window(now time.Time) (rps float64, p99 time.Duration) {
	sec := now.Unix()
	var total int64
	hist := make([]int64, len(latencyBounds)+1)
	for i := range m.ring {
		b := &m.ring[i]
		s := b.sec.Load()
		if s <= sec-loadWindow || s > sec {
			continue
		}
		total += b.count.Load()
		for j := range b.hist {
			hist[j] += b.hist[j].Load()
		}
	}
	// The window is the last loadWindow-1 whole seconds and the current
	// partial one, or less if the proxy is younger.
	span := now.Sub(time.Unix(sec-loadWindow+1, 0))
	if age := now.Sub(m.start); age < span {
		span = age
	}
	span = max(span, time.Second/10)
	rps = float64(total) / span.Seconds()
	if total == 0 {
		return rps, 0
	}
	want := int64(math.Ceil(float64(total) * 0.99))
	var cum int64
	for j, n := range hist {
		cum += n
		if cum >= want {
			if j < len(latencyBounds) {
				return rps, latencyBounds[j]
			}
			return rps, latencyBounds[len(latencyBounds)-1]
		}
	}
	return rps, latencyBounds[len(latencyBounds)-1]
}
