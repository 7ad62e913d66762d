package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// serveProxy builds a proxy of cfg (one HTTP listener on 127.0.0.1:0 when
// it has none, a 2s drain when none is set), binds it and serves it. The
// caller stops it with cancel; done then receives Serve's result.
func serveProxy(tb testing.TB, cfg Config) (p *Proxy, cancel context.CancelFunc, done <-chan error) {
	tb.Helper()
	if cfg.Listeners == nil {
		cfg.Listeners = []Listener{{Addr: "127.0.0.1:0"}}
	}
	if cfg.DrainTimeout == 0 {
		cfg.DrainTimeout = 2 * time.Second
	}
	p, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	if err := p.Listen(); err != nil {
		tb.Fatalf("Listen: %v", err)
	}
	ctx, cancel := context.WithCancel(tb.Context())
	served := make(chan error, 1)
	go func() { served <- p.Serve(ctx) }()
	return p, cancel, served
}

// startProxy is serveProxy, stopped (and its Serve checked) when the test
// ends; it returns the address of the first listener.
func startProxy(tb testing.TB, cfg Config) (*Proxy, string) {
	tb.Helper()
	p, cancel, done := serveProxy(tb, cfg)
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("Serve: %v", err)
		}
	})
	return p, p.Addrs()[0].String()
}

// testBackend is a loopback backend that answers with its name, or as
// its handler says.
type testBackend struct {
	name string
	srv  *httptest.Server
	hits atomic.Int64
}

func newBackend(tb testing.TB, name string, h http.HandlerFunc) *testBackend {
	tb.Helper()
	b := &testBackend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.hits.Add(1)
		if h != nil {
			h(w, r)
			return
		}
		w.Header().Set("X-Backend", name)
		_, _ = io.WriteString(w, name)
	}))
	tb.Cleanup(b.srv.Close)
	return b
}

func (b *testBackend) addr() string { return b.srv.Listener.Addr().String() }

func (b *testBackend) backend() Backend { return Backend{Name: b.name, Addr: b.addr()} }

// onePool is a config with one pool "web" of bs and a catch-all route.
func onePool(bs ...*testBackend) Config {
	pl := Pool{Name: "web"}
	for _, b := range bs {
		pl.Backends = append(pl.Backends, b.backend())
	}
	return Config{Pools: []Pool{pl}, Routes: []Route{{Pool: "web"}}}
}

// client is an HTTP client that ignores proxy settings from the
// environment.
func client() *http.Client {
	return &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
}

// get fetches url and returns the status and body.
func get(tb testing.TB, c *http.Client, url string, hdr ...string) (int, string, http.Header) {
	tb.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		tb.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if strings.EqualFold(hdr[i], "Host") {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		tb.Fatalf("GET %s: %v", url, err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		tb.Fatalf("GET %s: body: %v", url, err)
	}
	return resp.StatusCode, string(body), resp.Header
}

func TestNewValidates(t *testing.T) {
	backends := []Backend{{Name: "a", Addr: "127.0.0.1:1"}}
	pools := []Pool{{Name: "web", Backends: backends}}
	routes := []Route{{Pool: "web"}}
	listeners := []Listener{{Addr: ":0"}}
	cases := []struct {
		name string
		cfg  Config
		want string
	}{
		{"no listeners", Config{Pools: pools, Routes: routes}, "proxy: listeners: at least one listener required"},
		{"listener without address", Config{Listeners: []Listener{{}}, Pools: pools, Routes: routes}, "proxy: listeners[0].address: required"},
		{"bad listener address", Config{Listeners: []Listener{{Addr: "nope"}}, Pools: pools, Routes: routes},
			`proxy: listeners[0].address: must be host:port (got "nope")`},
		{"unknown pool", Config{Listeners: listeners, Pools: pools, Routes: []Route{{Pool: "api"}}}, `proxy: routes[0].pool: unknown pool "api"`},
		{"missing cert file", Config{Listeners: []Listener{{Addr: ":0", Certs: []Cert{{CertFile: "/nonexistent/c.pem", KeyFile: "/nonexistent/k.pem"}}}},
			Pools: pools, Routes: routes}, `proxy: listeners[0] (":0"): certificate /nonexistent/c.pem`},
		{"sticky with a short secret", Config{Listeners: listeners, Pools: []Pool{{Name: "web", Backends: backends, Sticky: &Sticky{}}},
			Routes: routes, StickySecret: []byte("short")}, "proxy: sticky_secret: must be at least 32 bytes (got 5)"},
		{"sticky without secret", Config{Listeners: listeners, Pools: []Pool{{Name: "web", Backends: backends, Sticky: &Sticky{}}}, Routes: routes},
			"proxy: sticky_secret: required when a pool is sticky (pools[0] is)"},
		{"pool without backends", Config{Listeners: listeners, Pools: []Pool{{Name: "web"}}, Routes: routes},
			"proxy: pools[0].backends: at least one backend required"},
		{"unknown algorithm", Config{Listeners: listeners, Pools: []Pool{{Name: "web", Algorithm: "fastest", Backends: backends}}, Routes: routes},
			`proxy: pools[0].algorithm: must be one of round_robin, weighted_round_robin, least_conn, weighted_least_conn, ip_hash, consistent_hash, least_time, random (got "fastest")`},
		{"consistent hash without key", Config{Listeners: listeners, Pools: []Pool{{Name: "web", Algorithm: "consistent_hash", Backends: backends}}, Routes: routes},
			"proxy: pools[0].algorithm: one of hash_header and hash_cookie required with algorithm consistent_hash"},
		{"http2 without tls", Config{Listeners: []Listener{{Addr: ":0", HTTP2: true}}, Pools: pools, Routes: routes},
			"proxy: listeners[0].http2: only with certs: HTTP/2 is offered over TLS"},
		{"bad wildcard", Config{Listeners: listeners, Pools: pools, Routes: []Route{{Host: "a.*.com", Pool: "web"}}},
			`proxy: routes[0].host: must be a host name, an IP address, "*." and a domain, or "" for any host (got "a.*.com")`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("New: %v, want an error starting %q", err, tc.want)
			}
		})
	}
	_, err := New(Config{Listeners: listeners, Pools: pools, Routes: []Route{{Pool: "api"}}})
	if !errors.Is(err, ErrUnknownPool) {
		t.Errorf("errors.Is(%v, ErrUnknownPool) = false", err)
	}
}

func TestProxyForwards(t *testing.T) {
	var gotHost, gotPath string
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		gotHost, gotPath = r.Host, r.URL.RequestURI()
		w.Header().Set("Content-Type", "text/x-test")
		w.Header().Add("Set-Cookie", "a=1")
		w.Header().Add("Set-Cookie", "b=2")
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Method, body)
	})
	reg := prometheus.NewRegistry()
	cfg := onePool(b)
	cfg.Registerer = reg
	_, addr := startProxy(t, cfg)
	c := client()

	status, body, h := get(t, c, "http://"+addr+"/p/a%20b?q=1", "Host", "example.com:8080")
	if status != 200 || body != "GET " {
		t.Fatalf("GET: %d %q", status, body)
	}
	if gotHost != "example.com:8080" || gotPath != "/p/a%20b?q=1" {
		t.Errorf("backend saw host %q path %q", gotHost, gotPath)
	}
	if h.Get("Content-Type") != "text/x-test" || len(h.Values("Set-Cookie")) != 2 {
		t.Errorf("response headers %v", h)
	}

	resp, err := c.Post("http://"+addr+"/", "text/plain", strings.NewReader("hello"))
	if err != nil {
		t.Fatal(err)
	}
	pb, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(pb) != "POST hello" {
		t.Errorf("POST body %q", pb)
	}
	// A body larger than what is buffered streams through.
	big := strings.Repeat("x", 3*defaultBufferBodyBytes+17)
	resp, err = c.Post("http://"+addr+"/", "text/plain", io.MultiReader(strings.NewReader(big))) // chunked
	if err != nil {
		t.Fatal(err)
	}
	pb, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if string(pb) != "POST "+big {
		t.Errorf("chunked POST: %d bytes back, want %d", len(pb), len(big)+5)
	}
	if n := testutil.ToFloat64(mustCounter(t, reg, "web", "a", "2xx")); n != 3 {
		t.Errorf("requests_total{web,a,2xx} = %v, want 3", n)
	}
}

// mustCounter returns the requests_total counter of pool, backend and
// class from reg.
func mustCounter(tb testing.TB, reg *prometheus.Registry, pool, backend, class string) prometheus.Collector {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "aya_proxy_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["pool"] == pool && l["backend"] == backend && l["code_class"] == class {
				return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "x"}, func() float64 { return m.GetCounter().GetValue() })
			}
		}
	}
	tb.Fatalf("no requests_total{%s,%s,%s}", pool, backend, class)
	return nil
}

// dialRaw sends raw bytes to addr and returns what comes back until the
// connection closes or a second passes.
func dialRaw(tb testing.TB, addr, req string) string {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		tb.Fatal(err)
	}
	b, _ := io.ReadAll(c)
	return string(b)
}

// TestListenInUse: an address in use is said once ("proxy: listen tcp
// ADDR: bind: address already in use").
func TestListenInUse(t *testing.T) {
	b := newBackend(t, "a", func(http.ResponseWriter, *http.Request) {})
	_, addr := startProxy(t, onePool(b))
	cfg := onePool(b)
	cfg.Listeners = []Listener{{Addr: addr}}
	other, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = other.Listen()
	want := "proxy: listen tcp " + addr + ": bind: address already in use"
	if err == nil || err.Error() != want {
		t.Errorf("Listen on an address in use: %v, want %s", err, want)
	}
}
