package proxy

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aya-gslb/aya/internal/mtls/mtlstest"
)

// tlsFixture issues certificates for names and returns the listener
// certificates and a client TLS config trusting their CA.
func tlsFixture(t *testing.T, names ...string) ([]Cert, *tls.Config) {
	t.Helper()
	ca := mtlstest.NewCA(t, "", "proxy")
	var certs []Cert
	for _, n := range names {
		f := ca.Issue(n)
		certs = append(certs, Cert{CertFile: f.Cert, KeyFile: f.Key})
	}
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return certs, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

func TestTLSSNI(t *testing.T) {
	b := newBackend(t, "a", echoHeaders)
	certs, ctls := tlsFixture(t, "a.example", "b.example")
	cfg := onePool(b)
	cfg.Listeners = []Listener{{Addr: "127.0.0.1:0", Certs: certs}}
	_, addr := startProxy(t, cfg)

	for _, tc := range []struct{ sni, want string }{
		{"a.example", "a.example"},
		{"b.example", "b.example"},
		{"", "a.example"}, // no SNI: the first certificate
		{"c.example", "a.example"},
	} {
		t.Run("sni="+tc.sni, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{ServerName: tc.sni, InsecureSkipVerify: true}) //nolint:gosec // the test reads the certificate
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = conn.Close() }()
			leaf := conn.ConnectionState().PeerCertificates[0]
			if leaf.Subject.CommonName != tc.want {
				t.Errorf("SNI %q: certificate %q, want %q", tc.sni, leaf.Subject.CommonName, tc.want)
			}
		})
	}

	ctls.ServerName = "b.example"
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: ctls}}
	resp, err := c.Get("https://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || resp.ProtoMajor != 1 {
		t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
	}
	if !strings.Contains(string(body), `"X-Forwarded-Proto":["https"]`) || !strings.Contains(string(body), "proto=https") {
		t.Errorf("backend saw %s", body)
	}
}

func TestHTTP2(t *testing.T) {
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Proto-Seen", r.Proto)
		fmt.Fprintf(w, "%s %s %s %s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Forwarded-Proto"), body)
	})
	certs, ctls := tlsFixture(t, "h2.example")
	cfg := onePool(b)
	cfg.Listeners = []Listener{{Addr: "127.0.0.1:0", Certs: certs, HTTP2: true}}
	_, addr := startProxy(t, cfg)
	ctls.ServerName = "h2.example"
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: ctls, ForceAttemptHTTP2: true}}

	cases := []struct {
		method, path, body, want string
	}{
		{"GET", "/x?y=1", "", "GET /x?y=1 https "},
		{"POST", "/p", "small", "POST /p https small"},
		{"POST", "/big", strings.Repeat("z", 3*defaultBufferBodyBytes), "POST /big https " + strings.Repeat("z", 3*defaultBufferBodyBytes)},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(tc.method, "https://"+addr+tc.path, strings.NewReader(tc.body))
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.ProtoMajor != 2 || resp.StatusCode != 200 {
			t.Fatalf("%s %s: %s %d", tc.method, tc.path, resp.Proto, resp.StatusCode)
		}
		if string(body) != tc.want {
			t.Errorf("%s %s: body %.60q, want %.60q", tc.method, tc.path, body, tc.want)
		}
		if resp.Header.Get("X-Proto-Seen") != "HTTP/1.1" {
			t.Errorf("backend saw %q", resp.Header.Get("X-Proto-Seen"))
		}
	}
	// HTTP/1.1 still works on the same listener.
	c1tls := ctls.Clone()
	c1tls.NextProtos = []string{"http/1.1"}
	c1 := &http.Client{Transport: &http.Transport{TLSClientConfig: c1tls}}
	resp, err := c1.Get("https://" + addr + "/one")
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.ProtoMajor != 1 || resp.StatusCode != 200 {
		t.Errorf("HTTP/1.1 over TLS: %s %d", resp.Proto, resp.StatusCode)
	}
}

func TestLimits(t *testing.T) {
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprint(w, n)
	})
	cfg := onePool(b)
	cfg.Limits = Limits{MaxBodyBytes: 1000, MaxHeaderBytes: 4096}
	_, addr := startProxy(t, cfg)
	cases := []struct {
		name string
		req  string
		want string
	}{
		{"body within limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + strings.Repeat("a", 1000), "HTTP/1.1 200"},
		{"declared body too large", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n" + strings.Repeat("a", 1001), "HTTP/1.1 413"},
		{"chunked body too large", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(strings.Repeat("b", 3000), 500), "HTTP/1.1 413"},
		{"chunked body within limit", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(strings.Repeat("b", 900), 100), "HTTP/1.1 200"},
		{"CONNECT refused", "CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\nConnection: close\r\n\r\n", "HTTP/1.1 405"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("h", 8000) + "\r\n\r\n", "HTTP/1.1 431"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := dialRaw(t, addr, tc.req)
			if !strings.HasPrefix(got, tc.want) {
				t.Errorf("got %.80q, want %q", got, tc.want)
			}
		})
	}
}

// chunked encodes s in chunks of n bytes.
func chunked(s string, n int) string {
	var b strings.Builder
	for len(s) > 0 {
		k := min(n, len(s))
		fmt.Fprintf(&b, "%x\r\n%s\r\n", k, s[:k])
		s = s[k:]
	}
	b.WriteString("0\r\n\r\n")
	return b.String()
}

func TestMaxClientConns(t *testing.T) {
	b := newBackend(t, "a", nil)
	cfg := onePool(b)
	cfg.Limits.MaxConns = 2
	p, addr := startProxy(t, cfg)
	var conns []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	waitFor(t, func() bool { return p.conns.n.Load() == 2 })
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if n, err := c.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Errorf("third connection: read %d, %v; want it closed", n, err)
	}
	conns[0].Close()
	waitFor(t, func() bool { return p.conns.n.Load() == 1 })
	if status, _, _ := get(t, client(), "http://"+addr+"/"); status != 200 {
		t.Errorf("after one closed: %d", status)
	}
}

func TestGracefulDrain(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprint("http2=", h2), func(t *testing.T) { testGracefulDrain(t, h2) })
	}
}

func testGracefulDrain(t *testing.T, h2 bool) {
	t.Helper()
	started := make(chan struct{})
	slow := newBackend(t, "slow", func(w http.ResponseWriter, _ *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "finished")
	})
	cfg := onePool(slow)
	cfg.Listeners = []Listener{{Addr: "127.0.0.1:0"}}
	c, scheme := client(), "http"
	if h2 {
		certs, ctls := tlsFixture(t, "drain.example")
		ctls.ServerName = "drain.example"
		cfg.Listeners[0].Certs, cfg.Listeners[0].HTTP2 = certs, true
		c, scheme = &http.Client{Transport: &http.Transport{TLSClientConfig: ctls, ForceAttemptHTTP2: true}}, "https"
	}
	cfg.DrainTimeout = 5 * time.Second
	p, cancel, served := serveProxy(t, cfg)
	addr := p.Addrs()[0].String()

	type result struct {
		status int
		proto  int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := c.Get(scheme + "://" + addr + "/")
		if err != nil {
			res <- result{err: err}
			return
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		res <- result{resp.StatusCode, resp.ProtoMajor, string(body), err}
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond)
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		_ = c.Close()
		t.Error("a new connection was accepted while draining")
	}
	r := <-res
	if r.err != nil || r.status != 200 || r.body != "finished" {
		t.Errorf("in-flight request: %d %q %v", r.status, r.body, r.err)
	}
	if h2 && r.proto != 2 {
		t.Errorf("in-flight request over HTTP/%d", r.proto)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("Serve: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return")
	}
}

func TestDrainTimeout(t *testing.T) {
	hang := newBackend(t, "hang", func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(3 * time.Second):
		case <-r.Context().Done():
		}
	})
	cfg := onePool(hang)
	cfg.Listeners = []Listener{{Addr: "127.0.0.1:0"}}
	cfg.DrainTimeout = 200 * time.Millisecond
	p, cancel, served := serveProxy(t, cfg)
	go func() {
		resp, err := client().Get("http://" + p.Addrs()[0].String() + "/")
		if err == nil {
			_ = resp.Body.Close()
		}
	}()
	waitFor(t, func() bool { return p.Load().InFlight == 1 })
	start := time.Now()
	cancel()
	if err := <-served; err == nil || !strings.Contains(err.Error(), "drain timed out") {
		t.Errorf("Serve: %v, want a drain timeout", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("drain took %v", d)
	}
}
