package balance

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
)

// roundRobin takes the backends in turn, skipping those it may not pick. A
// backend in slow start is skipped at random with probability 1-scale.
type roundRobin struct {
	pool
	next atomic.Uint64
}

// Pick implements Balancer.
func (r *roundRobin) Pick(_ []byte, tried []int) int {
	i := r.pick(tried, false)
	if i < 0 && len(tried) > 0 {
		i = r.pick(tried, true)
	}
	return i
}

func (r *roundRobin) pick(tried []int, withTried bool) int {
	n := uint64(len(r.backends))
	start := r.next.Add(1) - 1
	fallback := -1
	for k := range n {
		i := int((start + k) % n)
		if !r.eligible(i, tried, withTried) {
			continue
		}
		// Load spreading needs no secure randomness.
		if s := r.scale(i); s < 1 && rand.Float64() >= s { //nolint:gosec // G404: see above
			if fallback < 0 {
				fallback = i
			}
			continue
		}
		return i
	}
	return fallback
}

// smoothWeighted is nginx's smooth weighted round robin
// (https://github.com/phusion/nginx/commit/27e94984486058d73157038f7950a0a36ecc6e35):
// at each pick every candidate's current weight grows by its effective
// weight, the largest is picked and loses the sum of the effective weights.
// Weights 5, 1, 1 give a a b a c a a. It is the one algorithm that takes a
// lock: the current weights change together at every pick.
type smoothWeighted struct {
	pool
	mu      sync.Mutex
	current []float64
}

// Pick implements Balancer.
func (w *smoothWeighted) Pick(_ []byte, tried []int) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	i := w.pick(tried, false)
	if i < 0 && len(tried) > 0 {
		i = w.pick(tried, true)
	}
	return i
}

func (w *smoothWeighted) pick(tried []int, withTried bool) int {
	best, total := -1, 0.0
	for i := range w.backends {
		if !w.eligible(i, tried, withTried) {
			continue
		}
		ew := w.weight(i)
		w.current[i] += ew
		total += ew
		if best < 0 || w.current[i] > w.current[best] {
			best = i
		}
	}
	if best >= 0 {
		w.current[best] -= total
	}
	return best
}
