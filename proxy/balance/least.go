package balance

import (
	"math"
	"math/rand/v2"
	"sync/atomic"
)

// leastConn picks the backend with the fewest requests in flight, or when
// weighted the lowest in-flight/effective weight; ties go round robin.
type leastConn struct {
	pool
	weighted bool
	next     atomic.Uint64
}

// Pick implements Balancer.
func (l *leastConn) Pick(_ []byte, tried []int) int {
	i := l.pick(tried, false)
	if i < 0 && len(tried) > 0 {
		i = l.pick(tried, true)
	}
	return i
}

func (l *leastConn) pick(tried []int, withTried bool) int {
	n := uint64(len(l.backends))
	start := l.next.Add(1) - 1
	best, bestLoad := -1, 0.0
	for k := range n {
		i := int((start + k) % n)
		if !l.eligible(i, tried, withTried) {
			continue
		}
		load := float64(l.st[i].inFlight.Load())
		if l.weighted {
			load /= l.weight(i)
		}
		if best < 0 || load < bestLoad {
			best, bestLoad = i, load
		}
	}
	return best
}

// leastTime picks by the power of two random choices
// (Mitzenmacher, https://www.eecs.harvard.edu/~michaelm/postscripts/mythesis.pdf):
// of two backends drawn at random, the one of lower cost, where cost is the
// latency EWMA times (in-flight+1), over the effective weight — the
// "peak EWMA" of Finagle and Linkerd without the peak. A backend with no
// latency yet costs 0, so a new backend gets traffic at once; equal costs
// go to fewer in flight per unit of effective weight.
type leastTime struct {
	pool
}

// Pick implements Balancer.
func (l *leastTime) Pick(_ []byte, tried []int) int {
	i := l.pick(tried, false)
	if i < 0 && len(tried) > 0 {
		i = l.pick(tried, true)
	}
	return i
}

func (l *leastTime) pick(tried []int, withTried bool) int {
	m := 0
	for i := range l.backends {
		if l.eligible(i, tried, withTried) {
			m++
		}
	}
	switch m {
	case 0:
		return -1
	case 1:
		return l.nth(0, tried, withTried)
	}
	// Load spreading needs no secure randomness.
	r1 := rand.IntN(m)     //nolint:gosec // G404: see above
	r2 := rand.IntN(m - 1) //nolint:gosec // G404: see above
	if r2 >= r1 {
		r2++
	}
	a, b := l.nth(r1, tried, withTried), l.nth(r2, tried, withTried)
	if a < 0 || b < 0 { // the set changed under us
		return max(a, b)
	}
	ca, cb := l.cost(a), l.cost(b)
	switch {
	case ca < cb:
		return a
	case cb < ca:
		return b
	case float64(l.st[b].inFlight.Load())/l.weight(b) < float64(l.st[a].inFlight.Load())/l.weight(a):
		return b
	}
	return a
}

// nth returns the index of the r-th eligible backend, or -1.
func (l *leastTime) nth(r int, tried []int, withTried bool) int {
	for i := range l.backends {
		if l.eligible(i, tried, withTried) {
			if r == 0 {
				return i
			}
			r--
		}
	}
	return -1
}

func (l *leastTime) cost(i int) float64 {
	ewma := math.Float64frombits(l.st[i].ewma.Load())
	return ewma * float64(l.st[i].inFlight.Load()+1) / l.weight(i)
}
