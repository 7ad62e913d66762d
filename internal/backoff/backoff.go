// Package backoff computes the delays between the attempts of a retried
// operation: doubling from a base up to a cap, with jitter so that many
// callers that failed together do not retry together.
package backoff

import "time"

// Policy is an exponential backoff: the n-th retry waits Base·2^(n-1), at
// most Max, less a random share of up to half of it.
type Policy struct {
	Base time.Duration
	Max  time.Duration
}

// Delay is the wait before retry n (n ≥ 1, after n failures), for r in
// [0, 1): within (d/2, d], where d is Base·2^(n-1) capped at Max.
func (p Policy) Delay(n int, r float64) time.Duration {
	d := p.Max
	if n < 1 {
		n = 1
	}
	// Base<<(n-1) overflows for large n; stop doubling once past Max.
	if b := p.Base; n-1 < 63 && b <= p.Max>>(n-1) {
		d = b << (n - 1)
	}
	return d - time.Duration(r*float64(d/2))
}
