package proxy

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// closedAddr returns a loopback address nobody listens on.
func closedAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func TestRetryKilledBackendLosesNothing(t *testing.T) {
	bs := []*testBackend{newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)}
	_, addr := startProxy(t, onePool(bs...))
	c := client()
	const total, workers = 2000, 8
	var sent, failed atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for sent.Add(1) <= total {
				if sent.Load() > total/2 {
					once.Do(func() {
						bs[1].srv.CloseClientConnections()
						_ = bs[1].srv.Listener.Close()
					})
				}
				resp, err := c.Get("http://" + addr + "/")
				if err != nil {
					failed.Add(1)
					t.Log(err)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
					t.Logf("status %d", resp.StatusCode)
				}
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d of %d requests failed", n, total)
	}
	if bs[1].hits.Load() == 0 || bs[0].hits.Load() < total/4 {
		t.Errorf("hits a=%d b=%d c=%d", bs[0].hits.Load(), bs[1].hits.Load(), bs[2].hits.Load())
	}
}

func TestRetryRules(t *testing.T) {
	reset := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
	unavailable := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		http.Error(w, "busy", http.StatusServiceUnavailable)
	}
	internal := func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "bug", http.StatusInternalServerError)
	}
	slow := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	}
	cases := []struct {
		name    string
		bad     http.HandlerFunc // nil: the bad backend refuses connections
		method  string
		retries int
		// onTimeout sets RetryOnTimeout; a slow backend's cases have a
		// try timeout of 250ms.
		onTimeout bool
		// retried: every request ends 200 from the good backend; otherwise
		// the requests that hit the bad one answer badStatus.
		retried   bool
		badStatus int
	}{
		{name: "refused POST is retried", method: "POST", retried: true},
		{name: "refused GET is retried", method: "GET", retried: true},
		{name: "503 GET is retried", bad: unavailable, method: "GET", retried: true},
		{name: "503 PUT is retried", bad: unavailable, method: "PUT", retried: true},
		{name: "503 POST is not retried", bad: unavailable, method: "POST", badStatus: 503},
		{name: "500 GET is not retried", bad: internal, method: "GET", badStatus: 500},
		{name: "reset GET is retried", bad: reset, method: "GET", retried: true},
		{name: "reset POST is not retried", bad: reset, method: "POST", badStatus: 502},
		{name: "retries off", bad: unavailable, method: "GET", retries: -1, badStatus: 503},
		{name: "timed out GET is not retried by default", bad: slow, method: "GET", badStatus: 504},
		{name: "timed out GET is retried with retry_on_timeout", bad: slow, method: "GET", onTimeout: true, retried: true},
		{name: "timed out PUT is retried with retry_on_timeout", bad: slow, method: "PUT", onTimeout: true, retried: true},
		{name: "timed out POST is not retried with retry_on_timeout", bad: slow, method: "POST", onTimeout: true, badStatus: 504},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			good := newBackend(t, "good", func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "good %s", body)
			})
			bad := Backend{Name: "bad", Addr: closedAddr(t)}
			if tc.bad != nil {
				bad = newBackend(t, "bad", tc.bad).backend()
			}
			reg := prometheus.NewRegistry()
			pl := Pool{Name: "web", Backends: []Backend{bad, good.backend()}, Retries: tc.retries, RetryOnTimeout: tc.onTimeout}
			if tc.badStatus == 504 || tc.onTimeout {
				pl.TryTimeout = 250 * time.Millisecond
			}
			_, addr := startProxy(t, Config{
				Pools:      []Pool{pl},
				Routes:     []Route{{Pool: "web"}},
				Registerer: reg,
			})
			c := client()
			statuses := map[int]int{}
			for i := range 6 {
				req, _ := http.NewRequest(tc.method, "http://"+addr+"/", strings.NewReader(fmt.Sprint("body", i)))
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				statuses[resp.StatusCode]++
				if resp.StatusCode == 200 && string(body) != fmt.Sprint("good body", i) {
					t.Errorf("body %q", body)
				}
			}
			retries := testutil.ToFloat64(prometheusCounter(t, reg, "aya_proxy_retries_total"))
			if tc.retried {
				if statuses[200] != 6 || retries == 0 {
					t.Errorf("statuses %v, retries %v; want all 200 after retries", statuses, retries)
				}
				return
			}
			if statuses[200] != 3 || statuses[tc.badStatus] != 3 || retries != 0 {
				t.Errorf("statuses %v, retries %v; want 3×200 and 3×%d, no retry", statuses, retries, tc.badStatus)
			}
		})
	}
}

// prometheusCounter returns the sum of a counter family in reg.
func prometheusCounter(t *testing.T, reg *prometheus.Registry, name string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return sum })
}

func TestTimeouts(t *testing.T) {
	slow := newBackend(t, "slow", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(2 * time.Second):
		case <-r.Context().Done():
		}
	})
	cases := []struct {
		name string
		pool Pool
		max  time.Duration
	}{
		{"try timeout", Pool{TryTimeout: 100 * time.Millisecond, Retries: -1}, 600 * time.Millisecond},
		{"try timeout with retries", Pool{TryTimeout: 100 * time.Millisecond, Retries: 2, RetryOnTimeout: true}, 900 * time.Millisecond},
		{"overall timeout", Pool{TryTimeout: 150 * time.Millisecond, Timeout: 150 * time.Millisecond, Retries: 2, RetryOnTimeout: true}, 700 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl := tc.pool
			pl.Name = "web"
			pl.Backends = []Backend{slow.backend()}
			_, addr := startProxy(t, Config{Pools: []Pool{pl}, Routes: []Route{{Pool: "web"}}})
			start := time.Now()
			status, body, _ := get(t, client(), "http://"+addr+"/")
			if status != 504 || body != "504 gateway timeout\n" {
				t.Errorf("%d %q, want 504", status, body)
			}
			if d := time.Since(start); d > tc.max {
				t.Errorf("took %v, want under %v", d, tc.max)
			}
		})
	}
}

func TestNoUsableBackend(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	t.Cleanup(func() { once.Do(func() { close(release) }) })
	busy := newBackend(t, "busy", func(http.ResponseWriter, *http.Request) { <-release })
	p, addr := startProxy(t, Config{
		Pools:  []Pool{{Name: "web", Backends: []Backend{{Name: "busy", Addr: busy.addr(), MaxConns: 1}}}},
		Routes: []Route{{Pool: "web"}},
	})
	c := client()
	done := make(chan int)
	go func() {
		resp, err := c.Get("http://" + addr + "/")
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	waitFor(t, func() bool { return p.pools[0].bal.InFlight(0) == 1 })
	if status, body, _ := get(t, c, "http://"+addr+"/"); status != 503 || body != "503 service unavailable\n" {
		t.Errorf("at MaxConns: %d %q, want 503", status, body)
	}
	once.Do(func() { close(release) })
	if s := <-done; s != 200 {
		t.Errorf("first request: %d", s)
	}

	p.pools[0].bal.SetUp(0, false)
	if status, _, _ := get(t, c, "http://"+addr+"/"); status != 503 {
		t.Errorf("backend down: %d, want 503", status)
	}
}

// waitFor polls cond for up to 5 seconds.
func waitFor(tb testing.TB, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatal("condition not met in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestStickySessions(t *testing.T) {
	bs := []*testBackend{newBackend(t, "a", nil), newBackend(t, "b", nil), newBackend(t, "c", nil)}
	cfg := onePool(bs...)
	cfg.Pools[0].Sticky = &Sticky{Cookie: "s", TTL: time.Hour}
	cfg.StickySecret = []byte(strings.Repeat("k", 32))
	p, addr := startProxy(t, cfg)
	c := client()

	fetch := func(cookie string) (backend, setCookie string) {
		t.Helper()
		hdr := []string{}
		if cookie != "" {
			hdr = append(hdr, "Cookie", cookie)
		}
		status, body, h := get(t, c, "http://"+addr+"/", hdr...)
		if status != 200 {
			t.Fatalf("status %d", status)
		}
		return body, h.Get("Set-Cookie")
	}
	first, sc := fetch("")
	if sc == "" {
		t.Fatal("no Set-Cookie on the first request")
	}
	for _, want := range []string{"s=", "Path=/", "HttpOnly", "SameSite=Lax", "max-age=3600"} {
		if !strings.Contains(strings.ToLower(sc), strings.ToLower(want)) {
			t.Errorf("Set-Cookie %q lacks %q", sc, want)
		}
	}
	if strings.Contains(sc, "Secure") {
		t.Errorf("Set-Cookie %q is Secure on plain HTTP", sc)
	}
	cookie, _, _ := strings.Cut(sc, ";")
	for range 10 {
		got, again := fetch(cookie)
		if got != first || again != "" {
			t.Fatalf("pinned to %s: got %s, Set-Cookie %q", first, got, again)
		}
	}
	// A forged or foreign cookie is ignored.
	if _, sc := fetch("s=forged"); sc == "" {
		t.Error("a forged cookie did not get a new one")
	}

	// The pinned backend goes down: the client moves and is re-pinned.
	p.pools[0].bal.SetUp(p.pools[0].byName[first], false)
	moved, sc2 := fetch(cookie)
	if moved == first || sc2 == "" {
		t.Fatalf("after %s went down: got %s, Set-Cookie %q", first, moved, sc2)
	}
	cookie2, _, _ := strings.Cut(sc2, ";")
	for range 5 {
		if got, _ := fetch(cookie2); got != moved {
			t.Fatalf("re-pinned to %s, got %s", moved, got)
		}
	}
}

func TestStreamingResponse(t *testing.T) {
	big := strings.Repeat("0123456789", 500_000) // 5 MB
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			_, _ = io.WriteString(w, big)
			return
		}
		// A slow stream: each pause is under the try timeout, the whole
		// body well over it.
		for i := range 6 {
			fmt.Fprintf(w, "chunk %d\n", i)
			w.(http.Flusher).Flush()
			time.Sleep(80 * time.Millisecond)
		}
	})
	cfg := onePool(b)
	cfg.Pools[0].TryTimeout = 200 * time.Millisecond
	_, addr := startProxy(t, cfg)
	c := client()
	if status, body, _ := get(t, c, "http://"+addr+"/big"); status != 200 || body != big {
		t.Errorf("big body: %d, %d bytes", status, len(body))
	}
	status, body, _ := get(t, c, "http://"+addr+"/slow")
	if status != 200 || strings.Count(body, "chunk") != 6 {
		t.Errorf("slow stream: %d %q", status, body)
	}
}
