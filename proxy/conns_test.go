package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestClientKey(t *testing.T) {
	cases := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7"},
		{"::ffff:192.0.2.7", "192.0.2.7"},
		{"2001:db8:1:2:3:4:5:6", "2001:db8:1:2::"},
		{"fe80::1%eth0", "fe80::"},
	}
	for _, tc := range cases {
		if got := clientKey(netip.MustParseAddr(tc.in)); got.String() != tc.want {
			t.Errorf("clientKey(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

// FuzzClientConns runs a sequence of acquires and releases against a
// plain map: the counts agree, never exceed the limit, and an address with
// no connection open holds no memory.
func FuzzClientConns(f *testing.F) {
	f.Add([]byte{0, 0, 0, 1, 0x80, 0x80, 0x81}, uint8(2))
	f.Add([]byte{0xff, 0x7f, 0x00, 0x80}, uint8(1))
	f.Fuzz(func(t *testing.T, ops []byte, limit uint8) {
		if limit == 0 {
			return // Validate refuses it
		}
		c := newClientConns()
		model := map[netip.Addr]int{}
		for _, op := range ops {
			a := netip.AddrFrom4([4]byte{127, 77, 35, op & 0x0f})
			if op&0x80 == 0 {
				ok := c.acquire(a, int(limit))
				if want := model[a] < int(limit); ok != want {
					t.Fatalf("acquire %s at %d of %d: %v", a, model[a], limit, ok)
				}
				if ok {
					model[a]++
				}
			} else if model[a] > 0 {
				c.release(a)
				model[a]--
			}
			if got := c.count(a); got != model[a] {
				t.Fatalf("count %s = %d, want %d", a, got, model[a])
			}
		}
		entries := 0
		for i := range c.shards {
			entries += len(c.shards[i].n)
		}
		live := 0
		for _, n := range model {
			if n > 0 {
				live++
			}
		}
		if entries != live {
			t.Fatalf("%d entries kept, %d addresses with connections", entries, live)
		}
	})
}

func TestLogEvery(t *testing.T) {
	l := logEvery{interval: time.Second}
	t0 := time.Unix(100, 0)
	steps := []struct {
		at      time.Duration
		ok      bool
		skipped int64
	}{{0, true, 0}, {time.Millisecond, false, 0}, {500 * time.Millisecond, false, 0}, {time.Second, true, 2}, {1500 * time.Millisecond, false, 0}, {3 * time.Second, true, 1}}
	for _, s := range steps {
		ok, skipped := l.allow(t0.Add(s.at))
		if ok != s.ok || skipped != s.skipped {
			t.Errorf("at %v: %v, %d; want %v, %d", s.at, ok, skipped, s.ok, s.skipped)
		}
	}
}

// isClosedConn reports whether the proxy closed c without an answer.
func isClosedConn(c net.Conn) bool {
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	n, err := c.Read(make([]byte, 1))
	return n == 0 && err != nil
}

func TestMaxConnsPerClient(t *testing.T) {
	b := newBackend(t, "a", nil)
	cfg := onePool(b)
	cfg.Limits.MaxConnsPerClient = 3
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.77.35.2/32")}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	p, addr := startProxy(t, cfg)

	var held []net.Conn
	defer func() {
		for _, c := range held {
			_ = c.Close()
		}
	}()
	for range 3 {
		held = append(held, dialFrom(t, "127.77.35.1", addr))
	}
	waitFor(t, func() bool { return p.gate.perClient.count(netip.MustParseAddr("127.77.35.1")) == 3 })
	over := dialFrom(t, "127.77.35.1", addr)
	defer over.Close()
	if !isClosedConn(over) {
		t.Error("fourth connection from 127.77.35.1 was served")
	}
	// The refusal is counted as the connection is closed: the client can see
	// the close first (a fresh-clone CI run did).
	waitFor(t, func() bool {
		return counterValue(t, reg, "aya_proxy_connections_refused_total", "max_conns_per_client") == 1
	})
	// Another client is served; a trusted proxy is not capped.
	if status, _, _ := get(t, clientFrom("127.77.36.1"), "http://"+addr+"/"); status != 200 {
		t.Errorf("other client: %d", status)
	}
	for range 5 {
		held = append(held, dialFrom(t, "127.77.35.2", addr))
	}
	if status, _, _ := get(t, clientFrom("127.77.35.2"), "http://"+addr+"/"); status != 200 {
		t.Errorf("trusted proxy with 5 connections open: %d", status)
	}
	// A connection closed frees its place.
	_ = held[0].Close()
	waitFor(t, func() bool { return p.gate.perClient.count(netip.MustParseAddr("127.77.35.1")) == 2 })
	if status, _, _ := get(t, clientFrom("127.77.35.1"), "http://"+addr+"/"); status != 200 {
		t.Errorf("after one closed: %d", status)
	}
}

// TestSlowlorisHeaders is the slowloris attack at a small scale: one host
// (127.77.35.100) opens many more connections than the global limit and
// sends their headers a byte at a time; a victim (127.77.36.2) is served
// every time, and each slow header is cut at the header deadline, which
// the trickle does not restart.
func TestSlowlorisHeaders(t *testing.T) {
	b := newBackend(t, "a", nil)
	cfg := onePool(b)
	cfg.Limits = Limits{MaxConns: 100, MaxConnsPerClient: 20, ReadHeaderTimeout: 600 * time.Millisecond}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	_, addr := startProxy(t, cfg)

	ctx, stop := context.WithTimeout(t.Context(), 2*time.Second)
	defer stop()
	var cut, longest atomic.Int64
	var wg sync.WaitGroup
	for range 300 {
		wg.Go(func() {
			for ctx.Err() == nil {
				d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.77.35.100")}}
				c, err := d.DialContext(ctx, "tcp", addr)
				if err != nil {
					return
				}
				start := time.Now()
				closed := make(chan struct{})
				go func() {
					defer close(closed)
					_, _ = io.Copy(io.Discard, c)
					if d := time.Since(start); ctx.Err() == nil {
						cut.Add(1)
						for {
							old := longest.Load()
							if int64(d) <= old || longest.CompareAndSwap(old, int64(d)) {
								break
							}
						}
					}
				}()
				hdr := "GET / HTTP/1.1\r\nHost: a\r\nX-Slow: " + strings.Repeat("s", 200)
			send:
				for i := range len(hdr) {
					select {
					case <-closed:
						break send
					case <-ctx.Done():
						break send
					case <-time.After(50 * time.Millisecond):
					}
					if _, err := c.Write([]byte{hdr[i]}); err != nil {
						break
					}
				}
				_ = c.Close()
				<-closed
			}
		})
	}
	time.Sleep(200 * time.Millisecond)
	victim := clientFrom("127.77.36.2")
	const n = 20
	ok := 0
	for range n {
		if status, _, _ := get(t, victim, "http://"+addr+"/"); status == 200 {
			ok++
		}
		victim.CloseIdleConnections() // a new connection each time
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	wg.Wait()
	if ok != n {
		t.Errorf("victim got %d of %d", ok, n)
	}
	// A whole trickled header takes 10 s; the deadline is 600 ms from the
	// connection, then from the first byte: at most 1.2 s, with slack for
	// a loaded machine.
	if cut.Load() == 0 || time.Duration(longest.Load()) > 4*time.Second {
		t.Errorf("slow headers cut: %d, the longest after %v", cut.Load(), time.Duration(longest.Load()))
	}
	if counterValue(t, reg, "aya_proxy_connections_refused_total", "max_conns_per_client") == 0 {
		t.Error("no connection refused at the per-client cap")
	}
	t.Logf("victim %d/%d; slow headers cut %d (longest %v); refused per client %v; header_timeout %v", ok, n, cut.Load(),
		time.Duration(longest.Load()), counterValue(t, reg, "aya_proxy_connections_refused_total", "max_conns_per_client"),
		rejections(t, reg, "header_timeout"))
}

func TestMaxHeaders(t *testing.T) {
	b := newBackend(t, "a", nil)
	certs, ctls := tlsFixture(t, "h2.example")
	ctls.ServerName = "h2.example"
	cfg := onePool(b)
	cfg.Listeners = []Listener{{Addr: "127.0.0.1:0"}, {Addr: "127.0.0.1:0", Certs: certs, HTTP2: true}}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	p, addr := startProxy(t, cfg)
	h2addr := p.Addrs()[1].String()

	fields := func(n int) string {
		var sb strings.Builder
		for i := range n {
			fmt.Fprintf(&sb, "X-%d: v\r\n", i)
		}
		return sb.String()
	}
	t.Run("http1", func(t *testing.T) {
		cases := []struct {
			name, req, want string
		}{
			{"5000 fields", "GET / HTTP/1.1\r\nHost: a\r\n" + fields(4999) + "\r\n", "HTTP/1.1 431 "},
			{"101 fields", "GET / HTTP/1.1\r\nHost: a\r\n" + fields(100) + "\r\n", "HTTP/1.1 431 "},
			{"101 fields with a body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n" + fields(99) + "\r\nabc", "HTTP/1.1 431 "},
			{"100 fields", "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n" + fields(98) + "\r\n", "HTTP/1.1 200 "},
		}
		for _, tc := range cases {
			if got := dialRaw(t, addr, tc.req); !strings.HasPrefix(got, tc.want) {
				t.Errorf("%s: got %.60q, want %q", tc.name, got, tc.want)
			}
		}
	})
	t.Run("http2", func(t *testing.T) {
		tr := &http.Transport{TLSClientConfig: ctls, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
		for _, tc := range []struct{ n, want int }{{150, 431}, {99, 431}, {98, 200}} { // and User-Agent, Accept-Encoding
			req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "https://"+h2addr+"/", nil)
			for i := range tc.n {
				req.Header.Set(fmt.Sprintf("X-%d", i), "v")
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode != tc.want {
				t.Errorf("%d fields: %s %d, want HTTP/2 %d", tc.n, resp.Proto, resp.StatusCode, tc.want)
			}
		}
	})
	if hits := b.hits.Load(); hits != 2 {
		t.Errorf("backend saw %d requests, want only the 2 within the cap", hits)
	}
	if v := rejections(t, reg, "too_many_headers"); v != 5 {
		t.Errorf("too_many_headers = %v, want 5", v)
	}
}

// flakyListener fails its next fails accepts with EMFILE, as accept4
// does out of descriptors.
type flakyListener struct {
	net.Listener
	fails atomic.Int64
}

func (l *flakyListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Addr: l.Addr(), Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestAcceptErrorsBackOff(t *testing.T) {
	b := newBackend(t, "a", nil)
	certs, ctls := tlsFixture(t, "a.example")
	ctls.ServerName = "a.example"
	for _, useTLS := range []bool{false, true} {
		t.Run(fmt.Sprint("tls=", useTLS), func(t *testing.T) {
			cfg := onePool(b)
			cfg.Listeners = []Listener{{Addr: "127.0.0.1:0"}}
			scheme, c := "http", client()
			if useTLS {
				cfg.Listeners[0].Certs = certs
				scheme, c = "https", &http.Client{Transport: &http.Transport{TLSClientConfig: ctls}, Timeout: 10 * time.Second}
			}
			reg := prometheus.NewRegistry()
			cfg.Registerer = reg
			cfg.DrainTimeout = 2 * time.Second
			p, err := New(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Listen(); err != nil {
				t.Fatal(err)
			}
			fl := &flakyListener{Listener: p.listeners[0].Listener}
			fl.fails.Store(6)
			p.listeners[0].Listener = fl
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- p.Serve(ctx) }()

			start := time.Now()
			status, _, _ := get(t, c, scheme+"://"+p.Addrs()[0].String()+"/")
			if status != 200 {
				t.Errorf("after 6 failed accepts: %d", status)
			}
			// 5+10+20+40+80+160 ms of backoff.
			if d := time.Since(start); d < 300*time.Millisecond {
				t.Errorf("served after %v: no backoff", d)
			}
			if v := testutil.ToFloat64(p.m.acceptErrors); v != 6 {
				t.Errorf("accept_errors_total = %v, want 6", v)
			}
			select {
			case err := <-done:
				t.Fatalf("Serve returned on accept errors: %v", err)
			default:
			}
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
}

func TestNextBackoff(t *testing.T) {
	d := time.Duration(0)
	var got []time.Duration
	for range 10 {
		d = nextBackoff(d)
		got = append(got, d)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("backoffs %v, want %v ms", got, want)
		}
	}
}

// fdChildEnv runs TestFDExhaustionChild as the proxy of
// TestFDExhaustion, in a process of its own whose descriptor limit it
// lowers.
const fdChildEnv = "AYA_PROXY_FD_CHILD_BACKEND"

// TestFDExhaustion runs a proxy in a child process with 64 descriptors
// and opens 150 connections to it: its accepts fail with EMFILE, it keeps
// serving, and once the connections close it answers again. Only the
// child's limit is lowered, not this process's.
func TestFDExhaustion(t *testing.T) {
	if os.Getenv(fdChildEnv) != "" {
		t.Skip("in the child")
	}
	b := newBackend(t, "a", nil)
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestFDExhaustionChild$", "-test.v")
	cmd.Env = append(os.Environ(), fdChildEnv+"="+b.addr())
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// next returns the rest of the child's next line that holds prefix.
	next := func(prefix string) string {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					t.Fatalf("child ended before %q", prefix)
				}
				if _, rest, ok := strings.Cut(l, prefix); ok {
					return rest
				}
			case <-timeout:
				t.Fatalf("no %q from the child", prefix)
			}
		}
	}
	addr := next("ADDR ")
	var conns []net.Conn
	for range 150 {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			break // the backlog is full
		}
		conns = append(conns, c)
	}
	t.Logf("child: accept failed;%s", next(`msg="accept failed; retrying"`))
	for _, c := range conns {
		_ = c.Close()
	}
	// Served again within the backoff once the descriptors are freed.
	var status int
	for range 50 {
		resp, err := client().Get("http://" + addr + "/")
		if err == nil {
			status = resp.StatusCode
			_ = resp.Body.Close()
			if status == 200 {
				break
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	if status != 200 {
		t.Fatalf("after the descriptors were freed: status %d", status)
	}
	_ = stdin.Close()
	t.Logf("child: %s", next("RESULT "))
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v", err)
	}
}

// TestFDExhaustionChild is the child of TestFDExhaustion.
func TestFDExhaustionChild(t *testing.T) {
	backend := os.Getenv(fdChildEnv)
	if backend == "" {
		t.Skip("only as the child of TestFDExhaustion")
	}
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	lim.Cur = 64
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Listeners:    []Listener{{Addr: "127.0.0.1:0"}},
		Pools:        []Pool{{Name: "web", Backends: []Backend{{Name: "a", Addr: backend}}}},
		Routes:       []Route{{Pool: "web"}},
		Limits:       Limits{ReadHeaderTimeout: 30 * time.Second},
		Logger:       slog.New(slog.NewTextHandler(os.Stdout, nil)),
		DrainTimeout: time.Second,
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Listen(); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ADDR %s\n", p.Addrs()[0])
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Serve(ctx) }()
	stdinClosed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(stdinClosed) }()
	select {
	case err := <-done:
		t.Fatalf("Serve returned early: %v", err)
	case <-stdinClosed:
	}
	cancel()
	err = <-done
	fmt.Printf("RESULT accept_errors=%v serve=%v\n", testutil.ToFloat64(p.m.acceptErrors), err)
	if testutil.ToFloat64(p.m.acceptErrors) == 0 {
		t.Error("no accept failed")
	}
}
