package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/valyala/fasthttp"

	"github.com/aya-gslb/aya/probes"
)

func TestClassify(t *testing.T) {
	dialErrno := func(op string, errno syscall.Errno) error {
		return &dialError{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError(op, errno)}}
	}
	cases := []struct {
		name    string
		err     error
		want    failure
		notSent bool
	}{
		{"EMFILE on socket", dialErrno("socket", syscall.EMFILE), failLocal, true},
		{"ENFILE on socket", dialErrno("socket", syscall.ENFILE), failLocal, true},
		{"ENOBUFS on connect", dialErrno("connect", syscall.ENOBUFS), failLocal, true},
		{"ENOMEM on socket", dialErrno("socket", syscall.ENOMEM), failLocal, true},
		{"EADDRNOTAVAIL on connect", dialErrno("connect", syscall.EADDRNOTAVAIL), failLocal, true},
		{"EADDRINUSE on connect", dialErrno("connect", syscall.EADDRINUSE), failLocal, true},
		{"wrapped EMFILE", fmt.Errorf("try: %w", dialErrno("socket", syscall.EMFILE)), failLocal, true},
		{"refused", dialErrno("connect", syscall.ECONNREFUSED), failConnect, true},
		{"unreachable", dialErrno("connect", syscall.EHOSTUNREACH), failConnect, true},
		{"connect timeout", &dialError{&net.OpError{Op: "dial", Net: "tcp", Err: os.ErrDeadlineExceeded}}, failConnectTimeout, true},
		{"dial cut by mark-down", &dialError{errBackendDown}, failAbandoned, true},
		{"write refused on a backend down", errBackendDown, failAbandoned, true},
		{"connection cap", fasthttp.ErrNoFreeConns, failConnLimit, true},
		{"try timeout", fasthttp.ErrTimeout, failTimeout, false},
		{"read timeout", &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}, failTimeout, false},
		{"closed before the response", fasthttp.ErrConnectionClosed, failError, false},
		{"reset", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, failError, false},
		// Only a dial's errno says the proxy is short of a resource.
		{"ENOBUFS on write", &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", syscall.ENOBUFS)}, failError, false},
		{"malformed response", errors.New("cannot find http request method"), failError, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, notSent := classify(tc.err)
			if f != tc.want || notSent != tc.notSent {
				t.Errorf("classify(%v) = %s, notSent %v; want %s, %v", tc.err, failureReasons[f], notSent, failureReasons[tc.want], tc.notSent)
			}
		})
	}
}

// faultDialer dials for real, unless a fault is set: then it fails every
// dial with that errno, as the kernel does at the fd limit (the test never
// lowers its own RLIMIT_NOFILE).
type faultDialer struct {
	errno atomic.Value // syscall.Errno; 0: none
	d     net.Dialer
}

func (f *faultDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	if e, _ := f.errno.Load().(syscall.Errno); e != 0 {
		op := "connect"
		if e == syscall.EMFILE || e == syscall.ENFILE {
			op = "socket"
		}
		return nil, &net.OpError{Op: "dial", Net: network, Err: os.NewSyscallError(op, e)}
	}
	return f.d.DialContext(ctx, network, addr)
}

// failureCount returns aya_proxy_try_failures_total{pool="web",reason}.
func failureCount(t *testing.T, reg *prometheus.Registry, reason string) float64 {
	t.Helper()
	return metricValue(t, reg, "aya_proxy_try_failures_total", map[string]string{"pool": "web", "reason": reason})
}

// metricValue returns the counter of family name whose labels include
// labels, 0 when there is none.
func metricValue(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestLocalFaultsSpareBackends runs the proxy out of file descriptors (and
// buffers, and ports) on every dial: the clients get 503, and no backend
// is held to blame; a refused connection, the backend's fault, ejects.
func TestLocalFaultsSpareBackends(t *testing.T) {
	cases := []struct {
		errno syscall.Errno
		// status answers the first request under the fault, rest the
		// others (once both backends are ejected, none is usable).
		status, rest int
		reason       string
		ejected      bool
		after        int // status once the fault is gone
		proxyOwn     bool
	}{
		{errno: syscall.EMFILE, status: 503, rest: 503, reason: "local_resources", after: 200, proxyOwn: true},
		{errno: syscall.ENFILE, status: 503, rest: 503, reason: "local_resources", after: 200, proxyOwn: true},
		{errno: syscall.ENOBUFS, status: 503, rest: 503, reason: "local_resources", after: 200, proxyOwn: true},
		{errno: syscall.EADDRNOTAVAIL, status: 503, rest: 503, reason: "local_resources", after: 200, proxyOwn: true},
		{errno: syscall.ECONNREFUSED, status: 502, rest: 503, reason: "connect", ejected: true, after: 503},
	}
	for _, tc := range cases {
		t.Run(tc.errno.Error(), func(t *testing.T) {
			a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
			reg := prometheus.NewRegistry()
			fd := &faultDialer{}
			fd.errno.Store(tc.errno)
			cfg := onePool(a, b)
			cfg.Pools[0].ConsecutiveFailures = 1
			cfg.Pools[0].EjectFor = time.Minute
			cfg.Registerer = reg
			cfg.dial = fd.dial
			p, addr := startProxy(t, cfg)
			c := client()
			const n = 4
			for i := range n {
				want := tc.status
				if i > 0 {
					want = tc.rest
				}
				if status, body, _ := get(t, c, "http://"+addr+"/"); status != want {
					t.Fatalf("request %d with %v: %d %q, want %d", i, tc.errno, status, body, want)
				}
			}
			// The first request tried both backends.
			if got := failureCount(t, reg, tc.reason); got < 2 {
				t.Errorf("try_failures{reason=%q} = %v, want at least 2", tc.reason, got)
			}
			ejections := metricValue(t, reg, "aya_proxy_ejections_total", map[string]string{"pool": "web"})
			for _, s := range p.pools[0].health.state() {
				if s.Usable == tc.ejected {
					t.Errorf("backend %s usable=%v after %v (ejections %v)", s.Name, s.Usable, tc.errno, ejections)
				}
			}
			if tc.proxyOwn {
				// Each request made all its tries (the request was never
				// sent), and was answered by the proxy, not by a backend.
				if got, want := failureCount(t, reg, tc.reason), float64(n*(1+defaultRetries)); got != want {
					t.Errorf("try_failures{reason=%q} = %v, want %v", tc.reason, got, want)
				}
				own := metricValue(t, reg, "aya_proxy_requests_total", map[string]string{"pool": "web", "backend": "", "code_class": "5xx"})
				if own != n {
					t.Errorf("requests_total{backend=\"\",5xx} = %v, want %d", own, n)
				}
			}

			fd.errno.Store(syscall.Errno(0))
			for range n {
				if status, _, _ := get(t, c, "http://"+addr+"/"); status != tc.after {
					t.Fatalf("fault gone: %d, want %d", status, tc.after)
				}
			}
			if !tc.ejected && (a.hits.Load() == 0 || b.hits.Load() == 0) {
				t.Errorf("hits a=%d b=%d: a backend was held to blame", a.hits.Load(), b.hits.Load())
			}
		})
	}
}

// TestClientAbortSparesBackend aborts uploads in the middle of a streamed
// body, the way a client that goes away does: nothing counts against the
// backend, which one failure would eject.
func TestClientAbortSparesBackend(t *testing.T) {
	cases := []struct {
		name string
		end  func(*net.TCPConn)
	}{
		{"close", func(c *net.TCPConn) { _ = c.Close() }},
		{"half-close", func(c *net.TCPConn) { _ = c.CloseWrite() }},
		{"reset", func(c *net.TCPConn) { _ = c.SetLinger(0); _ = c.Close() }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				_, _ = fmt.Fprint(w, n)
			})
			reg := prometheus.NewRegistry()
			cfg := onePool(b)
			cfg.Pools[0].ConsecutiveFailures = 1
			cfg.Pools[0].EjectFor = time.Minute
			cfg.Registerer = reg
			p, addr := startProxy(t, cfg)
			for i := range 3 {
				conn, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				// Streamed (above bufferedBody), then cut short.
				_, _ = fmt.Fprintf(conn, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 300000\r\n\r\n%s", strings.Repeat("x", 100000))
				waitFor(t, func() bool { return b.hits.Load() == int64(i+1) })
				tc.end(conn.(*net.TCPConn))
				waitFor(t, func() bool { return failureCount(t, reg, "client") == float64(i+1) })
				_ = conn.Close()
			}
			if s := p.pools[0].health.state()[0]; !s.Usable {
				t.Fatalf("backend ejected by client aborts: %+v", s)
			}
			if status, body, _ := get(t, client(), "http://"+addr+"/"); status != 200 || body != "0" {
				t.Errorf("after the aborts: %d %q", status, body)
			}
		})
	}
}

// TestFrozenBackendAbandoned freezes a backend (it takes requests and
// never answers) while requests wait on it, then marks it down, by its
// active check or by a passive ejection: the waiting requests end at once,
// long before their 5s try timeout, on the healthy backend when they may
// be sent again, else with 502.
func TestFrozenBackendAbandoned(t *testing.T) {
	cases := []struct {
		name   string
		down   string // "check" or "ejection"
		inDial bool   // frozen in connect (no SYN-ACK) rather than after the request
		method string
		want   int
	}{
		{name: "GET, check fails", down: "check", method: "GET", want: 200},
		{name: "GET, ejected", down: "ejection", method: "GET", want: 200},
		{name: "POST, check fails", down: "check", method: "POST", want: 502},
		{name: "POST, ejected", down: "ejection", method: "POST", want: 502},
		{name: "POST in connect, check fails", down: "check", inDial: true, method: "POST", want: 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var checkFails atomic.Bool
			var checks, hung atomic.Int64
			release := make(chan struct{})
			frozen := newBackend(t, "frozen", func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/healthz":
					checks.Add(1)
					if checkFails.Load() {
						w.WriteHeader(http.StatusServiceUnavailable)
					}
				case "/fail":
					w.WriteHeader(http.StatusInternalServerError)
				default:
					hung.Add(1)
					select {
					case <-r.Context().Done():
					case <-release:
					}
				}
			})
			t.Cleanup(func() { close(release) }) // before the server closes
			good := newBackend(t, "good", nil)

			var dialing atomic.Int64
			d := net.Dialer{}
			dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
				if tc.inDial && addr == frozen.addr() {
					dialing.Add(1)
					<-ctx.Done() // a SYN nobody answers
					return nil, &net.OpError{Op: "dial", Net: network, Err: ctx.Err()}
				}
				return d.DialContext(ctx, network, addr)
			}
			reg := prometheus.NewRegistry()
			pl := Pool{
				Name:           "web",
				Backends:       []Backend{frozen.backend(), good.backend()},
				ConnectTimeout: 5 * time.Second,
				TryTimeout:     5 * time.Second,
				Timeout:        10 * time.Second,
				EjectFor:       time.Minute,
			}
			if tc.down == "check" {
				// Two failures in a row, so that one slow answer on a
				// loaded machine does not mark it down early.
				pl.Check = &probes.Check{Kind: probes.KindHTTP, Path: "/healthz", Interval: 100 * time.Millisecond,
					Timeout: 90 * time.Millisecond, Rise: 1, Fall: 2}
			} else {
				pl.ConsecutiveFailures = 1
			}
			p, addr := startProxy(t, Config{Pools: []Pool{pl}, Routes: []Route{{Pool: "web"}}, Registerer: reg, dial: dial})
			if tc.down == "check" {
				// Let a first check pass, so that the backend is up by its
				// check, not only until its check decides.
				waitFor(t, func() bool { return checks.Load() >= 1 })
			}
			waiting := &hung
			if tc.inDial {
				waiting = &dialing
			}

			const n = 8
			type result struct {
				status int
				end    time.Time
			}
			results := make(chan result, n)
			c := client()
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					req, _ := http.NewRequest(tc.method, "http://"+addr+"/x", strings.NewReader(fmt.Sprint("body", i)))
					resp, err := c.Do(req)
					if err != nil {
						t.Error(err)
						results <- result{}
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					results <- result{resp.StatusCode, time.Now()}
				})
			}
			// Round robin: about half the requests wait on the frozen
			// backend, the others are answered.
			var k int
			waitFor(t, func() bool {
				k = int(p.pools[0].bal.InFlight(0))
				return k > 0 && k+len(results) == n && waiting.Load() == int64(k)
			})
			for range n - k {
				if r := <-results; r.status != 200 {
					t.Errorf("request on the healthy backend: %d", r.status)
				}
			}

			trigger := time.Now()
			switch tc.down {
			case "check":
				checkFails.Store(true)
			case "ejection":
				// A 500 from the frozen backend ejects it; the healthy
				// one answers 200 to the same path.
				for range 10 {
					if status, _, _ := get(t, c, "http://"+addr+"/fail"); status == 500 {
						break
					}
				}
			}
			waitFor(t, func() bool { return !p.pools[0].health.state()[0].Usable })
			down := time.Since(trigger)
			var last time.Duration
			for range k {
				r := <-results
				if r.status != tc.want {
					t.Errorf("request waiting on the frozen backend: %d, want %d", r.status, tc.want)
				}
				last = max(last, r.end.Sub(trigger))
			}
			wg.Wait()
			t.Logf("marked down %v after the trigger; the %d waiting requests all ended %v after it (try timeout %v)",
				down, k, last, pl.TryTimeout)
			if last > time.Second {
				t.Errorf("the waiting requests ended %v after the trigger, want well under the try timeout", last)
			}
			if got := failureCount(t, reg, "abandoned"); got != float64(k) {
				t.Errorf("try_failures{reason=abandoned} = %v, want %d", got, k)
			}
			if got := failureCount(t, reg, "timeout"); got != 0 {
				t.Errorf("try_failures{reason=timeout} = %v, want 0", got)
			}
		})
	}
}

// TestConnCapSparesBackend fills a backend's max_conns with a response
// still streaming (its request no longer counts in flight, its connection
// is still busy): the next request meets the proxy's own connection cap,
// gets 503, and the backend is not held to blame.
func TestConnCapSparesBackend(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	t.Cleanup(unblock)
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stream" {
			_, _ = io.WriteString(w, "a")
			return
		}
		_, _ = io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		_, _ = io.WriteString(w, "last\n")
	})
	reg := prometheus.NewRegistry()
	cfg := onePool(b)
	cfg.Pools[0].Backends[0].MaxConns = 1
	cfg.Pools[0].ConsecutiveFailures = 1
	cfg.Pools[0].EjectFor = time.Minute
	cfg.Registerer = reg
	p, addr := startProxy(t, cfg)
	c := client()

	resp, err := c.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("stream: %q %v", line, err)
	}
	waitFor(t, func() bool { return p.pools[0].bal.InFlight(0) == 0 })

	if status, body, _ := get(t, c, "http://"+addr+"/"); status != 503 {
		t.Fatalf("at the connection cap: %d %q, want 503", status, body)
	}
	if got := failureCount(t, reg, "conn_limit"); got == 0 {
		t.Error("try_failures{reason=conn_limit} = 0")
	}
	if s := p.pools[0].health.state()[0]; !s.Usable {
		t.Fatalf("backend ejected for the proxy's own cap: %+v", s)
	}
	unblock()
	if rest, err := io.ReadAll(br); err != nil || string(rest) != "last\n" {
		t.Fatalf("stream end: %q %v", rest, err)
	}
	_ = resp.Body.Close()
	waitFor(t, func() bool {
		status, _, _ := get(t, c, "http://"+addr+"/")
		return status == 200
	})
}

// TestBackendConnDeadlines checks that a backendConn's write deadline
// also bounds its reads until a read deadline replaces it, on a real
// loopback connection whose peer never answers.
func TestBackendConnDeadlines(t *testing.T) {
	const short, long = 30 * time.Millisecond, 2 * time.Second
	tests := []struct {
		name string
		set  func(c *backendConn, now time.Time) error
		// wantBy: the read must time out by then (from now).
		wantBy time.Duration
	}{
		{"write deadline bounds the read", func(c *backendConn, now time.Time) error {
			return c.SetWriteDeadline(now.Add(short))
		}, long},
		{"same read deadline kept", func(c *backendConn, now time.Time) error {
			if err := c.SetWriteDeadline(now.Add(short)); err != nil {
				return err
			}
			return c.SetReadDeadline(now.Add(short))
		}, long},
		{"later read deadline wins", func(c *backendConn, now time.Time) error {
			if err := c.SetWriteDeadline(now.Add(time.Hour)); err != nil {
				return err
			}
			return c.SetReadDeadline(now.Add(short))
		}, long},
		{"read deadline after a cleared write deadline", func(c *backendConn, now time.Time) error {
			if err := c.SetWriteDeadline(now.Add(short)); err != nil {
				return err
			}
			if err := c.SetReadDeadline(now.Add(short)); err != nil {
				return err
			}
			if err := c.SetWriteDeadline(time.Time{}); err != nil {
				return err
			}
			return c.SetReadDeadline(now.Add(short))
		}, long},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			peer, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			c := &backendConn{Conn: raw, idle: short, b: &backend{conns: map[*backendConn]struct{}{}}}
			defer c.Close()
			start := time.Now()
			if err := tt.set(c, start); err != nil {
				t.Fatal(err)
			}
			var buf [16]byte
			_, err = c.Read(buf[:])
			took := time.Since(start)
			if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
				t.Fatalf("read: %v, want a timeout", err)
			}
			if took < short || took > tt.wantBy {
				t.Fatalf("read timed out after %v, want %v..%v", took, short, tt.wantBy)
			}
		})
	}
	t.Run("write deadline bounds the write", func(t *testing.T) {
		raw, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		peer, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		defer peer.Close()
		c := &backendConn{Conn: raw, b: &backend{conns: map[*backendConn]struct{}{}}}
		defer c.Close()
		if err := c.SetWriteDeadline(time.Now().Add(-time.Second)); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write([]byte("x")); !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("write past its deadline: %v, want %v", err, os.ErrDeadlineExceeded)
		}
	})
}
