package probes

import (
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aya-gslb/aya/state"
)

// flipServer is an HTTP backend that answers 200 "status: ok" while healthy
// is set and 503 "status: broken" otherwise, recording the Host and method
// of the last request.
type flipServer struct {
	healthy  atomic.Bool
	mu       sync.Mutex
	host     string
	method   string
	ua       string
	requests atomic.Int64
}

func (f *flipServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.requests.Add(1)
	f.mu.Lock()
	f.host, f.method, f.ua = r.Host, r.Method, r.UserAgent()
	f.mu.Unlock()
	switch {
	case r.URL.Path == "/redirect":
		http.Redirect(w, r, "/elsewhere", http.StatusFound)
	case f.healthy.Load():
		_, _ = w.Write([]byte("status: ok\n"))
	default:
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte("status: broken\n"))
	}
}

func (f *flipServer) lastHost() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.host
}

func addrPort(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return ap
}

// newOne returns a prober of the single check c (Key, Interval and Timeout
// filled in when unset) and its checker, for driving with step.
func newOne(t *testing.T, c Check, cfg Config) (*Prober, *checker) {
	t.Helper()
	if c.Key == (state.EndpointKey{}) {
		c.Key = testKey
	}
	if c.Interval == 0 {
		c.Interval = 10 * time.Second
	}
	if c.Timeout == 0 {
		c.Timeout = 2 * time.Second
	}
	cfg.Checks = []Check{c}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p, p.checks[0]
}

// probeOnce runs one probe of ch and returns the resulting observation.
func probeOnce(t *testing.T, p *Prober, ch *checker) Observation {
	t.Helper()
	p.step(t.Context(), ch)
	return *ch.obs.Load()
}

func TestHTTPRiseFall(t *testing.T) {
	f := &flipServer{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p, ch := newOne(t, Check{Kind: KindHTTP, Target: addrPort(t, srv.Listener.Addr()), Rise: 3, Fall: 2}, Config{})

	if o := p.States()[0]; o.Up || !o.At.IsZero() {
		t.Fatalf("before any probe: %+v, want down and not probed", o)
	}
	// Down by default; three successes to rise.
	f.healthy.Store(true)
	for i, want := range []bool{false, false, true, true} {
		o := probeOnce(t, p, ch)
		if o.Up != want || o.Err != "" || o.Latency <= 0 || o.At.IsZero() || o.Key != testKey {
			t.Fatalf("success %d: %+v, want Up=%v and no error", i+1, o, want)
		}
	}
	// Two failures to fall; one success in between resets the count.
	f.healthy.Store(false)
	if o := probeOnce(t, p, ch); !o.Up || !strings.Contains(o.Err, "status 503 not in [200, 399]") {
		t.Fatalf("first failure: %+v, want still up with the status error", o)
	}
	f.healthy.Store(true)
	probeOnce(t, p, ch)
	f.healthy.Store(false)
	for i, want := range []bool{true, false, false} {
		if o := probeOnce(t, p, ch); o.Up != want || o.Err == "" {
			t.Fatalf("failure %d after the reset: %+v, want Up=%v with an error", i+1, o, want)
		}
	}
}

func TestHTTPInitialUp(t *testing.T) {
	f := &flipServer{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	p, ch := newOne(t, Check{Kind: KindHTTP, Target: addrPort(t, srv.Listener.Addr()), Fall: 1}, Config{Initial: true})
	if !p.States()[0].Up {
		t.Fatal("Initial: true should start up")
	}
	if o := probeOnce(t, p, ch); o.Up {
		t.Fatalf("one failure with Fall 1: %+v, want down", o)
	}
}

func TestHTTPExpectStatusAndRedirect(t *testing.T) {
	f := &flipServer{}
	srv := httptest.NewServer(f)
	defer srv.Close()
	target := addrPort(t, srv.Listener.Addr())
	tests := []struct {
		name   string
		path   string
		expect [2]int
		wantOK bool
	}{
		{"503 in default range", "/", [2]int{}, false},
		{"503 expected", "/", [2]int{500, 503}, true},
		{"503 just outside", "/", [2]int{500, 502}, false},
		{"302 not followed, default range", "/redirect", [2]int{}, true},
		{"302 not followed, 2xx only", "/redirect", [2]int{200, 299}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, ch := newOne(t, Check{Kind: KindHTTP, Target: target, Path: tc.path, ExpectStatus: tc.expect, Rise: 1, Fall: 1}, Config{})
			before := f.requests.Load()
			o := probeOnce(t, p, ch)
			if (o.Err == "") != tc.wantOK {
				t.Errorf("probe: %+v, want success %v", o, tc.wantOK)
			}
			if n := f.requests.Load() - before; n != 1 {
				t.Errorf("server saw %d requests, want 1 (no redirect followed)", n)
			}
		})
	}
}

func TestHTTPBodyMatch(t *testing.T) {
	f := &flipServer{}
	f.healthy.Store(true)
	srv := httptest.NewServer(f)
	defer srv.Close()
	target := addrPort(t, srv.Listener.Addr())
	for _, tc := range []struct {
		re     string
		wantOK bool
	}{{`status: ok`, true}, {`^status: (ok|fine)$`, false}, {`(?m)^status: ok$`, true}, {`broken`, false}} {
		p, ch := newOne(t, Check{Kind: KindHTTP, Target: target, BodyMatch: regexp.MustCompile(tc.re)}, Config{})
		o := probeOnce(t, p, ch)
		if (o.Err == "") != tc.wantOK {
			t.Errorf("BodyMatch %q: %+v, want success %v", tc.re, o, tc.wantOK)
		}
		if !tc.wantOK && !strings.Contains(o.Err, "body does not match") {
			t.Errorf("BodyMatch %q: Err %q, want a body mismatch", tc.re, o.Err)
		}
	}
}

func TestHTTPBodyLimit(t *testing.T) {
	// A match beyond the first 64 KiB is not seen.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(strings.Repeat("x", bodyLimit) + "MARKER"))
	}))
	defer srv.Close()
	p, ch := newOne(t, Check{Kind: KindHTTP, Target: addrPort(t, srv.Listener.Addr()), BodyMatch: regexp.MustCompile("MARKER")}, Config{})
	if o := probeOnce(t, p, ch); o.Err == "" {
		t.Errorf("a match after 64 KiB succeeded: %+v", o)
	}
}

func TestHTTPHostAndMethod(t *testing.T) {
	f := &flipServer{}
	f.healthy.Store(true)
	srv := httptest.NewServer(f)
	defer srv.Close()
	target := addrPort(t, srv.Listener.Addr())

	p, ch := newOne(t, Check{Kind: KindHTTP, Target: target}, Config{})
	probeOnce(t, p, ch)
	if h := f.lastHost(); h != target.String() {
		t.Errorf("default Host header %q, want the target %q", h, target)
	}
	f.mu.Lock()
	if f.ua != DefaultUserAgent {
		t.Errorf("default User-Agent %q, want %q", f.ua, DefaultUserAgent)
	}
	f.mu.Unlock()
	p, ch = newOne(t, Check{Kind: KindHTTP, Target: target, Host: "www.example.com", Method: "HEAD", UserAgent: "aya-probe (site s3)"}, Config{})
	if o := probeOnce(t, p, ch); o.Err != "" {
		t.Fatalf("probe with Host: %+v", o)
	}
	f.mu.Lock()
	host, method, ua := f.host, f.method, f.ua
	f.mu.Unlock()
	if ua != "aya-probe (site s3)" {
		t.Errorf("User-Agent %q, want the check's", ua)
	}
	if host != "www.example.com" || method != "HEAD" {
		t.Errorf("server saw Host %q method %q, want www.example.com HEAD (dialled to the target anyway)", host, method)
	}
}

func TestHTTPS(t *testing.T) {
	f := &flipServer{}
	f.healthy.Store(true)
	srv := httptest.NewUnstartedServer(f)
	// Quiet the handshake errors that the failing cases cause.
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	defer srv.Close()
	target := addrPort(t, srv.Listener.Addr())
	pool := x509.NewCertPool()
	pool.AddCert(srv.Certificate()) // valid for example.com, 127.0.0.1 and ::1

	tests := []struct {
		name    string
		check   Check
		wantErr string // "" for success
	}{
		{"server name", Check{TLSServerName: "example.com", RootCAs: pool}, ""},
		{"server name from Host", Check{Host: "example.com:443", RootCAs: pool}, ""},
		{"target address", Check{RootCAs: pool}, ""},
		{"IPv6 Host without port", Check{Host: "[::1]", RootCAs: pool}, ""},
		{"wrong server name", Check{TLSServerName: "wrong.example", RootCAs: pool}, "certificate"},
		{"system roots", Check{TLSServerName: "example.com"}, "certificate"},
		{"skip verify", Check{TLSServerName: "wrong.example", TLSInsecureSkipVerify: true}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := tc.check
			c.Kind, c.Target, c.Rise, c.Fall = KindHTTPS, target, 1, 1
			p, ch := newOne(t, c, Config{})
			o := probeOnce(t, p, ch)
			if tc.wantErr == "" {
				if o.Err != "" || !o.Up {
					t.Errorf("probe: %+v, want up", o)
				}
			} else if !strings.Contains(o.Err, tc.wantErr) || o.Up {
				t.Errorf("probe: %+v, want down with %q", o, tc.wantErr)
			}
		})
	}
}

func TestTCP(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			_ = c.Close()
		}
	}()
	p, ch := newOne(t, Check{Kind: KindTCP, Target: addrPort(t, ln.Addr()), Rise: 1, Fall: 1}, Config{})
	if o := probeOnce(t, p, ch); !o.Up || o.Err != "" {
		t.Fatalf("listening: %+v, want up", o)
	}
	_ = ln.Close()
	<-done
	if o := probeOnce(t, p, ch); o.Up || !strings.Contains(o.Err, "refused") {
		t.Fatalf("listener closed: %+v, want down, connection refused", o)
	}
}

func TestTimeout(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	p, ch := newOne(t, Check{Kind: KindHTTP, Target: addrPort(t, srv.Listener.Addr()), Timeout: 100 * time.Millisecond, Fall: 1}, Config{Initial: true})
	o := probeOnce(t, p, ch)
	if o.Up || o.Err != "timeout after 100ms" {
		t.Errorf("slow handler: %+v, want down with a timeout", o)
	}
	if o.Latency < 100*time.Millisecond || o.Latency > time.Second {
		t.Errorf("latency %s, want about the 100ms timeout", o.Latency)
	}
}
