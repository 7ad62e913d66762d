package backoff

import (
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	p := Policy{Base: 50 * time.Millisecond, Max: time.Second}
	ms := time.Millisecond
	tests := []struct {
		n    int
		r    float64
		want time.Duration
	}{
		{0, 0, 50 * ms}, // treated as the first retry
		{1, 0, 50 * ms},
		{1, 0.5, 37500 * time.Microsecond},
		{2, 0, 100 * ms},
		{3, 0, 200 * ms},
		{4, 0, 400 * ms},
		{5, 0, 800 * ms},
		{5, 0.999, 400*ms + 400*time.Microsecond},
		{6, 0, time.Second}, // 1.6s, capped
		{6, 0.5, 750 * ms},
		{62, 0, time.Second},
		{63, 0, time.Second},
		{1000, 0.25, 875 * ms},
	}
	for _, tc := range tests {
		if got := p.Delay(tc.n, tc.r); got != tc.want {
			t.Errorf("Delay(%d, %g) = %s, want %s", tc.n, tc.r, got, tc.want)
		}
	}
}

// TestDelayBounds: every delay is within (d/2, d] of its undisturbed value
// and never above Max, for r across [0, 1).
func TestDelayBounds(t *testing.T) {
	for _, p := range []Policy{
		{Base: 50 * time.Millisecond, Max: time.Second},
		{Base: time.Second, Max: time.Second},
		{Base: 3 * time.Millisecond, Max: 100 * time.Millisecond},
	} {
		for n := 1; n <= 70; n++ {
			full := p.Delay(n, 0)
			for _, r := range []float64{0.1, 0.5, 0.9, 0.9999999} {
				if d := p.Delay(n, r); d <= full/2 || d > full || d > p.Max {
					t.Errorf("%+v: Delay(%d, %g) = %s, want within (%s, %s]", p, n, r, d, full/2, full)
				}
			}
			if n > 1 && full < p.Delay(n-1, 0) {
				t.Errorf("%+v: Delay(%d) = %s shorter than Delay(%d)", p, n, full, n-1)
			}
		}
	}
}
