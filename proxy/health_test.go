package proxy

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/proxy/balance"
)

// recordingBalancer is a real Balancer that also keeps what it was told.
type recordingBalancer struct {
	balance.Balancer
	mu    sync.Mutex
	up    []bool
	scale []float64
}

func newRecordingBalancer(t *testing.T, names ...string) *recordingBalancer {
	t.Helper()
	bs := make([]balance.Backend, len(names))
	for i, n := range names {
		bs[i] = balance.Backend{Name: n, Weight: 1}
	}
	bal, err := balance.New(balance.RoundRobin, bs)
	if err != nil {
		t.Fatal(err)
	}
	r := &recordingBalancer{Balancer: bal, up: make([]bool, len(names)), scale: make([]float64, len(names))}
	return r
}

func (r *recordingBalancer) SetUp(i int, up bool) {
	r.mu.Lock()
	r.up[i] = up
	r.mu.Unlock()
	r.Balancer.SetUp(i, up)
}

func (r *recordingBalancer) SetScale(i int, s float64) {
	r.mu.Lock()
	r.scale[i] = s
	r.mu.Unlock()
	r.Balancer.SetScale(i, s)
}

func (r *recordingBalancer) get(i int) (bool, float64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.up[i], r.scale[i]
}

func testPool(backends ...string) Pool {
	p := Pool{Name: "web", ConsecutiveFailures: 3, EjectFor: 10 * time.Second, MaxEjectFor: 35 * time.Second}
	for _, b := range backends {
		p.Backends = append(p.Backends, Backend{Name: b, Addr: "127.0.0.1:1"})
	}
	return p.withDefaults()
}

// startHealth builds p's health over a recording balancer and runs it
// until the test ends.
func startHealth(t *testing.T, p Pool, reg prometheus.Registerer) (*poolHealth, *recordingBalancer) {
	t.Helper()
	names := make([]string, len(p.Backends))
	for i, b := range p.Backends {
		names[i] = b.Name
	}
	bal := newRecordingBalancer(t, names...)
	h, err := newPoolHealth(p, bal, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		h.run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return h, bal
}

func wantUp(t *testing.T, bal *recordingBalancer, i int, want bool) {
	t.Helper()
	if up, _ := bal.get(i); up != want {
		t.Fatalf("backend %d up = %v, want %v", i, up, want)
	}
	if bal.Usable(i) != want {
		t.Fatalf("backend %d Usable = %v, want %v", i, !want, want)
	}
}

func TestEjection(t *testing.T) {
	tests := []struct {
		name     string
		outcomes []bool
		ejected  bool
	}{
		{"3 failures", []bool{false, false, false}, true},
		{"2 failures", []bool{false, false}, false},
		{"a success between", []bool{false, false, true, false, false}, false},
		{"3 after a success", []bool{false, true, false, false, false}, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h, bal := startHealth(t, testPool("a", "b"), nil)
				for _, ok := range tc.outcomes {
					h.observe(0, ok)
				}
				synctest.Wait()
				wantUp(t, bal, 0, !tc.ejected)
				wantUp(t, bal, 1, true)
				if !tc.ejected {
					return
				}
				if got, want := h.state()[0].EjectedUntil, time.Now().Add(10*time.Second); !got.Equal(want) {
					t.Fatalf("ejected until %v, want %v", got, want)
				}
				h.observe(0, false) // ends while ejected: nothing
				time.Sleep(10*time.Second - time.Nanosecond)
				synctest.Wait()
				wantUp(t, bal, 0, false)
				time.Sleep(time.Nanosecond)
				synctest.Wait()
				wantUp(t, bal, 0, true)
				if s := h.state()[0]; !s.EjectedUntil.IsZero() || !s.Usable || s.Scale != 1 {
					t.Fatalf("after the ejection: %+v", s)
				}
			})
		})
	}
}

// TestEjectionDoubles checks 10s, 20s, then 35s (the cap) for ejections
// right after returning, and 10s again after behaving as long as the last.
func TestEjectionDoubles(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h, bal := startHealth(t, testPool("a"), nil)
		fail := func() {
			for range 3 {
				h.observe(0, false)
			}
			synctest.Wait()
		}
		for _, want := range []time.Duration{10 * time.Second, 20 * time.Second, 35 * time.Second, 35 * time.Second} {
			fail()
			if got := time.Until(h.state()[0].EjectedUntil); got != want {
				t.Fatalf("ejected for %s, want %s", got, want)
			}
			time.Sleep(want)
			synctest.Wait()
			wantUp(t, bal, 0, true)
			time.Sleep(time.Second) // back, but not for long
		}
		time.Sleep(34 * time.Second) // 35s since it returned
		fail()
		if got := time.Until(h.state()[0].EjectedUntil); got != 10*time.Second {
			t.Fatalf("after behaving: ejected for %s, want 10s", got)
		}
	})
}

func TestSlowStartRamp(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := testPool("a", "b")
		p.SlowStart = 10 * time.Second // steps of 0.5s
		h, bal := startHealth(t, p, nil)
		for range 3 {
			h.observe(0, false)
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		wantUp(t, bal, 0, true)
		var at time.Duration
		for _, tc := range []struct {
			at    time.Duration
			scale float64
		}{
			{0, 0.1},
			{500 * time.Millisecond, 0.145},
			{time.Second, 0.19},
			{1200 * time.Millisecond, 0.19}, // between steps
			{5 * time.Second, 0.55},
			{9500 * time.Millisecond, 0.955},
			{10 * time.Second, 1},
			{time.Minute, 1},
		} {
			time.Sleep(tc.at - at)
			at = tc.at
			synctest.Wait()
			_, got := bal.get(0)
			if math.Abs(got-tc.scale) > 1e-9 || math.Abs(h.state()[0].Scale-tc.scale) > 1e-9 {
				t.Fatalf("%s into the slow start: scale %v, want %v", tc.at, got, tc.scale)
			}
		}
		if _, s := bal.get(1); s != 1 {
			t.Fatalf("the other backend's scale is %v", s)
		}
	})
}

// TestActiveCheck runs real HTTP checks against a backend that flips
// between 200 and 503.
func TestActiveCheck(t *testing.T) {
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		if failing.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	p := testPool("a", "b")
	p.Backends[0].Addr = srv.Listener.Addr().String()
	p.Backends[1].Addr = "127.0.0.1:1" // never checked up, but up until decided
	p.Check = &probes.Check{Kind: probes.KindHTTP, Path: "/healthz", Interval: 20 * time.Millisecond,
		Timeout: 10 * time.Millisecond, Rise: 1, Fall: 3}
	p.SlowStart = 200 * time.Millisecond
	failing.Store(true)
	h, bal := startHealth(t, p, nil)
	wantUp(t, bal, 0, true) // a proxy that starts does not refuse traffic

	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s: %+v", what, h.state())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor("down on 503", func() bool { up, _ := bal.get(0); return !up })
	waitFor("the refused backend down", func() bool { up, _ := bal.get(1); return !up })
	failing.Store(false)
	waitFor("up on 200", func() bool { up, _ := bal.get(0); return up })
	if _, s := bal.get(0); s >= 1 {
		t.Logf("scale already %v at the first look (slow machine?)", s)
	}
	waitFor("slow start to end", func() bool { _, s := bal.get(0); return s == 1 })
	if s := h.state()[0]; !s.Up || !s.Usable {
		t.Fatalf("state %+v", s)
	}
	failing.Store(true)
	waitFor("down again", func() bool { return !bal.Usable(0) })
}

func TestHealthMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, _ := startHealth(t, testPool("a", "b"), reg)
	if _, err := newPoolHealth(Pool{Name: "api", Backends: []Backend{{Name: "a", Addr: "127.0.0.1:1"}}}.withDefaults(),
		newRecordingBalancer(t, "a"), nil, reg); err != nil {
		t.Fatalf("a second pool on the registry: %v", err)
	}
	for range 3 {
		h.observe(1, false)
	}
	want := `
# HELP aya_proxy_backend_up Whether the backend is usable (1): its active check passes and it is not ejected.
# TYPE aya_proxy_backend_up gauge
aya_proxy_backend_up{backend="a",pool="api"} 1
aya_proxy_backend_up{backend="a",pool="web"} 1
aya_proxy_backend_up{backend="b",pool="web"} 0
# HELP aya_proxy_ejections_total Passive ejections of the backend after consecutive failures.
# TYPE aya_proxy_ejections_total counter
aya_proxy_ejections_total{backend="a",pool="api"} 0
aya_proxy_ejections_total{backend="a",pool="web"} 0
aya_proxy_ejections_total{backend="b",pool="web"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "aya_proxy_backend_up", "aya_proxy_ejections_total"); err != nil {
		t.Fatal(err)
	}
}

// TestObserveConcurrent races failures on one backend: it is ejected once.
func TestObserveConcurrent(t *testing.T) {
	reg := prometheus.NewRegistry()
	h, bal := startHealth(t, testPool("a", "b"), reg)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for k := range 200 {
				h.observe(0, false)
				h.observe(1, (g+k)%2 == 0)
				_ = h.state()
			}
		})
	}
	wg.Wait()
	wantUp(t, bal, 0, false)
	if n := testutil.ToFloat64(h.backends[0].ejectTotal); n != 1 {
		t.Fatalf("%v ejections, want 1", n)
	}
}

func TestNoPassiveEjection(t *testing.T) {
	p := testPool("a")
	p.ConsecutiveFailures = 0
	bal := newRecordingBalancer(t, "a")
	h, err := newPoolHealth(p, bal, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for range 100 {
		h.observe(0, false)
	}
	h.observe(7, false) // out of range: ignored
	wantUp(t, bal, 0, true)
}

func TestNewPoolHealthErrors(t *testing.T) {
	check := &probes.Check{Kind: probes.KindTCP}
	tests := []struct {
		name   string
		modify func(*Pool)
		want   string
	}{
		{"host name target", func(p *Pool) { p.Check = check; p.Backends[0].Addr = "backend.local:80" }, `backend "a": check target`},
		{"invalid check", func(p *Pool) { p.Check = &probes.Check{Kind: "udp"} }, `"udp"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := testPool("a")
			tc.modify(&p)
			_, err := newPoolHealth(p, newRecordingBalancer(t, "a"), nil, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("newPoolHealth: %v, want an error with %q", err, tc.want)
			}
		})
	}
}
