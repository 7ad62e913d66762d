package site

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/proxy"
)

// roundTripper is an http.RoundTripper from a function: a member's admin
// API without a network, for tests in a synctest bubble.
type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// loadPost is a load report a member received, with the time since the
// start and whether it took it.
type loadPost struct {
	at time.Duration
	r  cluster.LoadReport
	ok bool
}

// TestLoadReporterRetry: a load report that fails is retried with a
// backoff rather than at the next interval, carries the load of the moment
// it is sent, and stops with the reporter.
func TestLoadReporterRetry(t *testing.T) {
	tests := []struct {
		name      string
		refuseFor time.Duration // the member answers 503 until then
		run       time.Duration
		check     func(t *testing.T, posts []loadPost)
	}{{
		// The first report, at the first interval (2s), fails until 5s: the
		// retries deliver it within a second of that, not at the 6s tick.
		name:      "retried until delivered",
		refuseFor: 5 * time.Second,
		run:       7 * time.Second,
		check: func(t *testing.T, posts []loadPost) {
			t.Helper()
			if len(posts) < 6 || posts[0].at != 2*time.Second || posts[0].ok {
				t.Fatalf("posts %+v, want a refused one at 2s, then retries", posts)
			}
			var delivered []loadPost
			for _, p := range posts {
				if p.ok {
					delivered = append(delivered, p)
				}
			}
			if len(delivered) == 0 || delivered[0].at < 5*time.Second || delivered[0].at >= 6*time.Second {
				t.Errorf("delivered %+v, want the first within [5s, 6s)", delivered)
			}
			// Each report carries the load when it was sent.
			for _, p := range posts {
				if want := int64(p.at / time.Second); p.r.InFlight != want {
					t.Errorf("post at %s carried in_flight %d, want %d", p.at, p.r.InFlight, want)
				}
			}
			for i := 1; i < len(posts); i++ {
				if gap := posts[i].at - posts[i-1].at; !posts[i-1].ok && gap > time.Second {
					t.Errorf("retry %d came %s after the failure, want at most 1s", i, gap)
				}
			}
		},
	}, {
		name:      "retries end with the reporter",
		refuseFor: time.Hour,
		run:       6 * time.Second,
		check: func(t *testing.T, posts []loadPost) {
			t.Helper()
			// From 2s: 50+100+200+400+800ms, then about one a second, and
			// the ticks at 4s and 6s.
			if len(posts) < 6 || len(posts) > 14 {
				t.Errorf("%d attempts in 4s, want 6 to 14: %+v", len(posts), posts)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				t0 := time.Now()
				var mu sync.Mutex
				var posts []loadPost
				member := roundTripper(func(req *http.Request) (*http.Response, error) {
					var ar cluster.ApplyRequest
					var lr cluster.LoadReport
					if err := json.NewDecoder(req.Body).Decode(&ar); err != nil || json.Unmarshal(ar.V, &lr) != nil {
						t.Errorf("request body: %v", err)
					}
					at := time.Since(t0)
					ok := at >= tt.refuseFor
					mu.Lock()
					posts = append(posts, loadPost{at: at, r: lr, ok: ok})
					mu.Unlock()
					status, body := http.StatusOK, `{"ok":true}`
					if !ok {
						status, body = http.StatusServiceUnavailable, `{"error":"no leader"}`
					}
					return &http.Response{StatusCode: status, Body: io.NopCloser(strings.NewReader(body)), Request: req}, nil
				})
				// In flight: one more every second, from 1 (so the first
				// interval has a change to report).
				r := &LoadReporter{
					load: func() proxy.Load {
						n := int64(time.Since(t0) / time.Second)
						return proxy.Load{InFlight: n, Capacity: 10, Utilisation: float64(n) / 10}
					},
					region: "eu-west", id: "p1", addrs: []string{"127.0.0.1:9053"}, interval: 2 * time.Second,
					client: &cluster.Client{HTTP: &http.Client{Transport: member}},
					log:    slog.New(slog.DiscardHandler),
				}
				ctx, cancel := context.WithCancel(t.Context())
				done := make(chan struct{})
				go func() { r.Run(ctx); close(done) }()
				time.Sleep(tt.run)
				cancel()
				<-done
				mu.Lock()
				got := append([]loadPost(nil), posts...)
				mu.Unlock()
				tt.check(t, got)
				time.Sleep(10 * time.Second)
				if n := len(posts); n != len(got) {
					t.Errorf("%d posts after the reporter stopped", n-len(got))
				}
			})
		})
	}
}
