package balance

import (
	"fmt"
	"math"
	"slices"
	"sync/atomic"
	"time"
)

// New returns a Balancer of the named algorithm over backends, all up and
// at full scale. It fails on an unknown algorithm, no backends, a duplicate
// or empty name, or a weight below 1.
func New(algorithm string, backends []Backend) (Balancer, error) {
	if len(backends) == 0 {
		return nil, fmt.Errorf("balance: %s: no backends", algorithm)
	}
	seen := make(map[string]bool, len(backends))
	for i, b := range backends {
		switch {
		case b.Name == "":
			return nil, fmt.Errorf("balance: backend %d: empty name", i)
		case seen[b.Name]:
			return nil, fmt.Errorf("balance: backend %q: duplicate name", b.Name)
		case b.Weight < 1:
			return nil, fmt.Errorf("balance: backend %q: weight %d must be at least 1", b.Name, b.Weight)
		case b.MaxConns < 0:
			return nil, fmt.Errorf("balance: backend %q: max conns %d must not be negative", b.Name, b.MaxConns)
		}
		seen[b.Name] = true
	}
	p := newPool(backends)
	switch algorithm {
	case RoundRobin:
		return &roundRobin{pool: p}, nil
	case WeightedRoundRobin:
		return &smoothWeighted{pool: p, current: make([]float64, len(backends))}, nil
	case LeastConn:
		return &leastConn{pool: p}, nil
	case WeightedLeastConn:
		return &leastConn{pool: p, weighted: true}, nil
	case IPHash, ConsistentHash:
		return &hashRing{pool: p, ring: buildRing(backends)}, nil
	case LeastTime:
		return &leastTime{pool: p}, nil
	case Random:
		return &random{pool: p}, nil
	}
	return nil, fmt.Errorf("balance: unknown algorithm %q (want one of %v)", algorithm, Algorithms)
}

// cacheLine pads per-backend state so that two backends' counters, written
// by different cores on every request, do not share a cache line.
const cacheLine = 64

// backendState is the live state of one backend. Its fields are accessed
// atomically and it must not be copied.
type backendState struct {
	inFlight atomic.Int64
	scale    atomic.Uint64 // math.Float64bits of the slow-start scale in (0, 1]
	ewma     atomic.Uint64 // math.Float64bits of the latency EWMA in ns; 0: unknown
	down     atomic.Bool
	_        [cacheLine - 8 - 8 - 8 - 4]byte
}

// pool is the state every algorithm shares: the backends and their live
// state. It implements every Balancer method but Pick.
type pool struct {
	backends []Backend
	st       []backendState
}

func newPool(backends []Backend) pool {
	p := pool{backends: slices.Clone(backends), st: make([]backendState, len(backends))}
	for i := range p.st {
		p.st[i].scale.Store(math.Float64bits(1))
	}
	return p
}

// Usable implements Balancer.
func (p *pool) Usable(i int) bool {
	if i < 0 || i >= len(p.st) {
		return false
	}
	return p.usable(i)
}

func (p *pool) usable(i int) bool {
	s := &p.st[i]
	if s.down.Load() {
		return false
	}
	mc := p.backends[i].MaxConns
	return mc == 0 || s.inFlight.Load() < int64(mc)
}

// eligible reports whether backend i may be picked: usable, and not in
// tried unless withTried.
func (p *pool) eligible(i int, tried []int, withTried bool) bool {
	return p.usable(i) && (withTried || !slices.Contains(tried, i))
}

// TryStart implements Balancer.
func (p *pool) TryStart(i int) bool {
	if i < 0 || i >= len(p.st) {
		return false
	}
	s := &p.st[i]
	mc := int64(p.backends[i].MaxConns)
	for {
		if s.down.Load() {
			return false
		}
		n := s.inFlight.Load()
		if mc > 0 && n >= mc {
			return false
		}
		if s.inFlight.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Start implements Balancer.
func (p *pool) Start(i int) { p.st[i].inFlight.Add(1) }

// Done implements Balancer. The latency feeds the EWMA that least_time
// reads; a failure never makes a backend look faster than it was (a
// backend that refuses connections answers quickly).
func (p *pool) Done(i int, latency time.Duration, ok bool) {
	s := &p.st[i]
	s.inFlight.Add(-1)
	sample := float64(max(latency, 1))
	for {
		old := s.ewma.Load()
		prev := math.Float64frombits(old)
		v := sample
		switch {
		case prev == 0: // the first sample is the estimate
		case !ok && sample < prev:
			v = prev
		default:
			v = prev + ewmaAlpha*(sample-prev)
		}
		if s.ewma.CompareAndSwap(old, math.Float64bits(v)) {
			return
		}
	}
}

// ewmaAlpha is the weight of a new latency sample in the EWMA: older
// samples decay by 1-ewmaAlpha per request, so ~10 requests make a trend.
const ewmaAlpha = 0.2

// SetUp implements Balancer.
func (p *pool) SetUp(i int, up bool) { p.st[i].down.Store(!up) }

// SetScale implements Balancer. s is clamped to [0.01, 1].
func (p *pool) SetScale(i int, s float64) {
	if !(s >= 0.01) { // also NaN
		s = 0.01
	}
	p.st[i].scale.Store(math.Float64bits(min(s, 1)))
}

func (p *pool) scale(i int) float64 { return math.Float64frombits(p.st[i].scale.Load()) }

// weight is backend i's effective weight: its weight times its scale.
func (p *pool) weight(i int) float64 { return float64(p.backends[i].Weight) * p.scale(i) }

// InFlight implements Balancer.
func (p *pool) InFlight(i int) int64 { return p.st[i].inFlight.Load() }

// Backends implements Balancer.
func (p *pool) Backends() []Backend { return slices.Clone(p.backends) }
