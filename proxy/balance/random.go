package balance

import "math/rand/v2"

// random picks a backend at random, with probability proportional to its
// effective weight.
type random struct {
	pool
}

// Pick implements Balancer.
func (r *random) Pick(_ []byte, tried []int) int {
	i := r.pick(tried, false)
	if i < 0 && len(tried) > 0 {
		i = r.pick(tried, true)
	}
	return i
}

func (r *random) pick(tried []int, withTried bool) int {
	total := 0.0
	for i := range r.backends {
		if r.eligible(i, tried, withTried) {
			total += r.weight(i)
		}
	}
	if total == 0 {
		return -1
	}
	// Load spreading needs no secure randomness.
	x := rand.Float64() * total //nolint:gosec // G404: see above
	last := -1
	for i := range r.backends {
		if !r.eligible(i, tried, withTried) {
			continue
		}
		last = i
		if x -= r.weight(i); x < 0 {
			return i
		}
	}
	return last // rounding, or the set changed under us
}
