package proxy

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// Regression tests of the review of the forwarding core: client faults,
// forwarding headers, HTTP/2 bodies, slow uploads, paths, WebSocket
// handshakes, the rate limiter's IPv6 key, sticky cookies and the drain.

// rawBackend is a loopback backend that reads a request's headers and
// answers resp, then closes the connection.
func rawBackend(tb testing.TB, resp string) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					l, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if l == "\r\n" {
						break
					}
				}
				_, _ = io.WriteString(c, resp)
				time.Sleep(50 * time.Millisecond)
			}()
		}
	}()
	return ln.Addr().String()
}

// rawExchange sends req (then body, from another goroutine, unless nil)
// to addr, half-closes when halfClose, and returns the status line.
func rawExchange(tb testing.TB, addr, req string, body func(net.Conn), halfClose bool) string {
	tb.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, req); err != nil {
		tb.Fatal(err)
	}
	if body != nil {
		go body(c)
	}
	if halfClose {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "error: " + err.Error()
	}
	return strings.TrimSpace(line)
}

func TestClientFaultsSpareBackends(t *testing.T) {
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprint(w, n)
	})
	cfg := onePool(b)
	cfg.Pools[0].ConsecutiveFailures = 2
	cfg.Pools[0].EjectFor = time.Minute
	cfg.Limits = Limits{MaxBodyBytes: 100000, IdleTimeout: 300 * time.Millisecond}
	_, addr := startProxy(t, cfg)
	big := strings.Repeat("x", 70000) // streamed: above defaultBufferBodyBytes
	cases := []struct {
		name, req string
		body      func(net.Conn)
		halfClose bool
		want      string
	}{
		{name: "ftp scheme", req: "GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n", want: "400"},
		{name: "https scheme on plain listener", req: "GET https://a/ HTTP/1.1\r\nHost: a\r\n\r\n", want: "200"},
		{name: "userinfo in host", req: "GET / HTTP/1.1\r\nHost: user@a\r\n\r\n", want: "400"},
		{name: "userinfo in target", req: "GET http://user:pw@a/ HTTP/1.1\r\nHost: a\r\n\r\n", want: "400"},
		{name: "malformed chunk", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", want: "400"},
		{
			name: "chunked body too large", req: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n",
			body: func(c net.Conn) {
				_, _ = fmt.Fprintf(c, "%x\r\n%s\r\n%x\r\n%s\r\n0\r\n\r\n", len(big), big, len(big), big)
			},
			want: "413",
		},
		{
			name: "stalled upload", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 90000\r\n\r\n",
			body: func(c net.Conn) { _, _ = io.WriteString(c, big) },
			want: "408",
		},
		{
			name: "aborted upload", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 90000\r\n\r\n" + big,
			halfClose: true, want: "400",
		},
		{
			name: "aborted small upload", req: "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 900\r\n\r\nabc",
			halfClose: true, want: "400",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// More bad requests than ConsecutiveFailures: none may count.
			for range 3 {
				got := rawExchange(t, addr, tc.req, tc.body, tc.halfClose)
				if !strings.HasPrefix(got, "HTTP/1.1 "+tc.want+" ") {
					t.Fatalf("got %q, want %s", got, tc.want)
				}
			}
			got := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", nil, false)
			if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
				t.Fatalf("healthy backend after client faults: %q", got)
			}
		})
	}
}

func TestForwardedHeadersReplaced(t *testing.T) {
	const spoof = "X-Forwarded-For: 1.1.1.1\r\nx-forwarded-for: 2.2.2.2\r\n" +
		"X-Forwarded-Proto: https\r\nX-Forwarded-Proto: wss\r\n" +
		"X-Forwarded-Host: evil\r\nX-Forwarded-Host: evil2\r\n" +
		"Forwarded: for=1.1.1.1\r\nForwarded: for=2.2.2.2;proto=https\r\n" +
		"X-Real-IP: 1.1.1.1\r\nTrue-Client-IP: 1.1.1.1\r\nCF-Connecting-IP: 1.1.1.1\r\n"
	cases := []struct {
		name    string
		trusted bool
		extra   string
		want    map[string][]string // nil value: absent
	}{
		{name: "untrusted", extra: spoof, want: map[string][]string{
			"X-Forwarded-For":   {"127.0.0.1"},
			"X-Forwarded-Proto": {"http"},
			"X-Forwarded-Host":  {"a"},
			"Forwarded":         {`for=127.0.0.1;proto=http;host="a"`},
			"X-Real-Ip":         nil, "True-Client-Ip": nil, "Cf-Connecting-Ip": nil,
		}},
		{name: "trusted", trusted: true, extra: spoof, want: map[string][]string{
			"X-Forwarded-For":   {"1.1.1.1, 2.2.2.2, 127.0.0.1"},
			"X-Forwarded-Proto": {"https, wss"},
			"X-Forwarded-Host":  {"evil, evil2"},
			"Forwarded":         {`for=1.1.1.1, for=2.2.2.2;proto=https, for=127.0.0.1;proto=http;host="a"`},
			"X-Real-Ip":         {"1.1.1.1"},
		}},
		{
			name: "connection cannot remove forwarding headers", trusted: true,
			extra: "Connection: X-Forwarded-For, Forwarded, X-Foo\r\nX-Foo: 1\r\nX-Forwarded-For: 1.1.1.1\r\n",
			want: map[string][]string{
				"X-Forwarded-For": {"1.1.1.1, 127.0.0.1"},
				"Forwarded":       {`for=127.0.0.1;proto=http;host="a"`},
				"X-Foo":           nil,
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := onePool(newBackend(t, "a", echoHeaders))
			if tc.trusted {
				cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
			}
			_, addr := startProxy(t, cfg)
			_, seen := rawGet(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n"+tc.extra+"Connection: close\r\n\r\n")
			for k, want := range tc.want {
				if got := seen[k]; strings.Join(got, "|") != strings.Join(want, "|") {
					t.Errorf("%s: backend saw %q, want %q", k, got, want)
				}
			}
		})
	}
}

func TestConnectionKeepsFraming(t *testing.T) {
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s", r.Host, body)
	})
	_, addr := startProxy(t, onePool(b))
	for _, req := range []string{
		"POST / HTTP/1.1\r\nHost: a\r\nConnection: Content-Length, Host\r\nContent-Length: 3\r\n\r\nabc",
		"POST / HTTP/1.1\r\nHost: a\r\nConnection: Transfer-Encoding\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
	} {
		got := dialRaw(t, addr, req[:len("POST / HTTP/1.1\r\n")]+"Connection: close\r\n"+req[len("POST / HTTP/1.1\r\n"):])
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") || !strings.HasSuffix(got, "a abc") {
			t.Errorf("%q: got %q", req, got)
		}
	}
}

func TestHTTP2TruncatedResponse(t *testing.T) {
	cases := []struct{ name, resp string }{
		{"chunked without last chunk", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"},
		{"short content length", "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			certs, ctls := tlsFixture(t, "h2.example")
			cfg := Config{
				Pools:     []Pool{{Name: "web", Backends: []Backend{{Name: "a", Addr: rawBackend(t, tc.resp)}}, Retries: -1}},
				Routes:    []Route{{Pool: "web"}},
				Listeners: []Listener{{Addr: "127.0.0.1:0", Certs: certs, HTTP2: true}},
			}
			_, addr := startProxy(t, cfg)
			ctls.ServerName = "h2.example"
			tr := &http.Transport{TLSClientConfig: ctls, ForceAttemptHTTP2: true}
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr, Timeout: 5 * time.Second}
			resp, err := c.Get("https://" + addr + "/")
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = resp.Body.Close() }()
			body, err := io.ReadAll(resp.Body)
			if resp.ProtoMajor != 2 || err == nil {
				t.Errorf("%s: body %q read whole (err %v), want a reset stream", resp.Proto, body, err)
			}
		})
	}
}

func TestSlowUploads(t *testing.T) {
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprint(w, n)
	})
	certs, ctls := tlsFixture(t, "h2.example")
	ctls.ServerName = "h2.example"

	t.Run("http1 body slower than ReadHeaderTimeout", func(t *testing.T) {
		cfg := onePool(b)
		cfg.Limits = Limits{ReadHeaderTimeout: 2 * time.Second, IdleTimeout: 2 * time.Second}
		_, addr := startProxy(t, cfg)
		const n = 10
		got := rawExchange(t, addr, fmt.Sprintf("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", n), func(c net.Conn) {
			for range n {
				if _, err := c.Write([]byte("x")); err != nil {
					return
				}
				time.Sleep(300 * time.Millisecond)
			}
		}, false)
		if !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Errorf("1 byte per 300ms: %q", got)
		}
	})
	t.Run("http2 stalled upload", func(t *testing.T) {
		cfg := onePool(b)
		cfg.Listeners = []Listener{{Addr: "127.0.0.1:0", Certs: certs, HTTP2: true}}
		cfg.Limits = Limits{IdleTimeout: 500 * time.Millisecond}
		_, addr := startProxy(t, cfg)
		tr := &http.Transport{TLSClientConfig: ctls, ForceAttemptHTTP2: true}
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr, Timeout: 10 * time.Second}
		pr, pw := io.Pipe()
		defer func() { _ = pw.Close() }()
		go func() { _, _ = pw.Write([]byte("x")) }()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, "https://"+addr+"/", pr)
		req.ContentLength = 100000
		start := time.Now()
		resp, err := c.Do(req)
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusRequestTimeout {
				t.Errorf("status %d, want 408", resp.StatusCode)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("stalled upload answered after %v (err %v)", d, err)
		}
	})
}

func TestUnsafePathRefused(t *testing.T) {
	b := newBackend(t, "a", nil)
	_, addr := startProxy(t, onePool(b))
	cases := []struct {
		path string
		want string
	}{
		{"/a/../b", "400"},
		{"/a/./b", "400"},
		{"/a/..", "400"},
		{"/public/..%2fadmin", "400"},
		{"/public/%2E%2E/admin", "400"},
		{"/admin%2Fx", "400"},
		{"/x?q=/../", "200"},
		{"/.well-known/x", "200"},
		{"/a..b/...", "200"},
		{"/p/a%20b", "200"},
	}
	for _, tc := range cases {
		got := rawExchange(t, addr, "GET "+tc.path+" HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", nil, false)
		if !strings.HasPrefix(got, "HTTP/1.1 "+tc.want+" ") {
			t.Errorf("%s: got %q, want %s", tc.path, got, tc.want)
		}
	}
}

func TestUpgradeHandshakes(t *testing.T) {
	const wsReq = "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\nSec-WebSocket-Version: 13\r\n"
	cases := []struct {
		name, resp, req string
		want            []string // in the client's answer
		wantNot         []string
	}{
		{
			name:    "101 loses hop-by-hop headers",
			resp:    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade, X-Secret\r\nX-Secret: s\r\nKeep-Alive: 5\r\nSec-WebSocket-Accept: abc\r\n\r\n",
			req:     wsReq + "\r\n",
			want:    []string{"HTTP/1.1 101 ", "Connection: Upgrade\r\n", "Upgrade: websocket\r\n", "Sec-Websocket-Accept: abc\r\n"},
			wantNot: []string{"X-Secret", "Keep-Alive", "Connection: Upgrade, "},
		},
		{
			name: "101 to no WebSocket request",
			resp: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: foo\r\nConnection: Upgrade\r\n\r\nRAW",
			req:  "GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: foo\r\n\r\n",
			want: []string{"HTTP/1.1 502 "}, wantNot: []string{"RAW"},
		},
		{
			name: "handshake with a body",
			resp: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
			req:  wsReq + "Content-Length: 5\r\n\r\nhello",
			want: []string{"HTTP/1.1 400 "},
		},
		{
			name: "handshake with a chunked body",
			resp: "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
			req:  wsReq + "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
			want: []string{"HTTP/1.1 400 "},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{Pools: []Pool{{Name: "web", Backends: []Backend{{Name: "a", Addr: rawBackend(t, tc.resp)}}}}, Routes: []Route{{Pool: "web"}}}
			_, addr := startProxy(t, cfg)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(time.Second))
			_, _ = io.WriteString(c, tc.req)
			got, _ := io.ReadAll(c)
			for _, w := range tc.want {
				if !strings.Contains(string(got), w) {
					t.Errorf("answer %q lacks %q", got, w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(string(got), w) {
					t.Errorf("answer %q has %q", got, w)
				}
			}
		})
	}
}

func TestRateLimiterIPv6Prefix(t *testing.T) {
	l := newRateLimiter(1, 1)
	now := time.Now()
	cases := []struct {
		addr string
		want bool
	}{
		{"2001:db8::1", true},
		{"2001:db8::2", false}, // same /64
		{"2001:db8::ffff:1", false},
		{"2001:db8:0:1::1", true}, // next /64
		{"192.0.2.1", true},
		{"192.0.2.2", true},
	}
	for _, tc := range cases {
		if got, _ := l.allow(netip.MustParseAddr(tc.addr), now); got != tc.want {
			t.Errorf("%s: allowed %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestStickySecureBehindTLSProxy(t *testing.T) {
	cfg := onePool(newBackend(t, "a", nil))
	cfg.Pools[0].Sticky = &Sticky{}
	cfg.StickySecret = []byte(strings.Repeat("k", 32))
	cfg.TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	_, addr := startProxy(t, cfg)
	c := client()
	for _, tc := range []struct {
		proto  string
		secure bool
	}{{"https", true}, {"http", false}, {"", false}} {
		var hdr []string
		if tc.proto != "" {
			hdr = []string{"X-Forwarded-Proto", tc.proto}
		}
		_, _, h := get(t, c, "http://"+addr+"/", hdr...)
		if got := strings.Contains(strings.ToLower(h.Get("Set-Cookie")), "secure"); got != tc.secure {
			t.Errorf("X-Forwarded-Proto %q: Set-Cookie %q, secure %v want %v", tc.proto, h.Get("Set-Cookie"), got, tc.secure)
		}
	}
}

func TestDrainClosesUnusedAndBackendConns(t *testing.T) {
	b := newBackend(t, "a", nil)
	cfg := onePool(b)
	cfg.Listeners = []Listener{{Addr: "127.0.0.1:0"}}
	cfg.DrainTimeout = 2 * time.Second
	p, cancel, done := serveProxy(t, cfg)
	addr := p.Addrs()[0].String()
	// A keep-alive connection that served a request, and one that never
	// sent any (an HTTP client's spare dial).
	c := client()
	if status, _, _ := get(t, c, "http://"+addr+"/"); status != 200 {
		t.Fatalf("status %d", status)
	}
	spare, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer spare.Close()
	waitFor(t, func() bool { return p.conns.n.Load() == 2 })
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if n := p.upstream.n.Load(); n != 0 {
		t.Errorf("%d backend connections outlive Serve", n)
	}
}
