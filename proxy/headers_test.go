package proxy

import (
	"bufio"
	"bytes"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"

	"github.com/valyala/fasthttp"
)

// echoHeaders is a backend handler that answers the request's headers as
// JSON, and sends hop-by-hop headers of its own.
func echoHeaders(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Connection", "X-Bar")
	w.Header().Set("X-Bar", "secret")
	w.Header().Set("Keep-Alive", "timeout=5")
	w.Header().Set("Proxy-Authenticate", "Basic")
	w.Header().Set("X-Kept", "yes")
	_ = json.NewEncoder(w).Encode(r.Header)
}

// rawGet sends a raw request to addr and returns the response's headers
// and the request headers that the echoing backend saw.
func rawGet(t *testing.T, addr, req string) (got, seen http.Header) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(req)); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	if err := json.NewDecoder(resp.Body).Decode(&seen); err != nil {
		t.Fatalf("backend's echo: %v", err)
	}
	return resp.Header, seen
}

func TestHopByHopHeaders(t *testing.T) {
	b := newBackend(t, "a", echoHeaders)
	_, addr := startProxy(t, onePool(b))
	got, seen := rawGet(t, addr, "GET / HTTP/1.1\r\nHost: example.com\r\n"+
		"Connection: X-Foo, keep-alive\r\nX-Foo: secret\r\nKeep-Alive: 300\r\n"+
		"Proxy-Authorization: Basic Zm9v\r\nProxy-Connection: keep-alive\r\nTe: trailers\r\n"+
		"Upgrade: h2c\r\nX-Kept: yes\r\n\r\n")
	for _, h := range []string{"Connection", "X-Foo", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "Te", "Upgrade"} {
		if v := seen.Get(h); v != "" {
			t.Errorf("backend saw %s: %q", h, v)
		}
	}
	if seen.Get("X-Kept") != "yes" {
		t.Errorf("backend lost X-Kept: %v", seen)
	}
	for _, h := range []string{"X-Bar", "Keep-Alive", "Proxy-Authenticate"} {
		if v := got.Get(h); v != "" {
			t.Errorf("client saw %s: %q", h, v)
		}
	}
	if c := got.Get("Connection"); c != "" && !strings.EqualFold(c, "keep-alive") {
		t.Errorf("client saw Connection: %q", c)
	}
	if got.Get("X-Kept") != "yes" {
		t.Errorf("client lost X-Kept: %v", got)
	}
}

func TestForwardedHeaders(t *testing.T) {
	b := newBackend(t, "a", echoHeaders)
	cases := []struct {
		name    string
		trusted []netip.Prefix
		in      string // extra request headers
		xff     string
		xfp     string
		xfh     string
		fwd     string
		client  string
	}{
		{
			name: "untrusted peer replaces",
			in:   "X-Forwarded-For: 6.6.6.6\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: evil\r\nForwarded: for=6.6.6.6\r\n",
			xff:  "127.0.0.1", xfp: "http", xfh: "example.com",
			fwd:    `for=127.0.0.1;proto=http;host="example.com"`,
			client: "127.0.0.1",
		},
		{
			name:    "trusted peer appends",
			trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			in:      "X-Forwarded-For: 9.9.9.9, 1.2.3.4\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: www.example.com\r\nForwarded: for=1.2.3.4;proto=https\r\n",
			xff:     "9.9.9.9, 1.2.3.4, 127.0.0.1", xfp: "https", xfh: "www.example.com",
			fwd:    `for=1.2.3.4;proto=https, for=127.0.0.1;proto=http;host="example.com"`,
			client: "1.2.3.4",
		},
		{
			name:    "trusted chain skipped",
			trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("10.0.0.0/8")},
			in:      "X-Forwarded-For: 9.9.9.9, 10.1.1.1\r\n",
			xff:     "9.9.9.9, 10.1.1.1, 127.0.0.1", xfp: "http", xfh: "example.com",
			fwd:    `for=127.0.0.1;proto=http;host="example.com"`,
			client: "9.9.9.9",
		},
		{
			name:    "trusted without headers",
			trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			xff:     "127.0.0.1", xfp: "http", xfh: "example.com",
			fwd:    `for=127.0.0.1;proto=http;host="example.com"`,
			client: "127.0.0.1",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var logBuf bytes.Buffer
			cfg := onePool(b)
			cfg.TrustedProxies = tc.trusted
			cfg.AccessLog = slog.New(slog.NewJSONHandler(&logBuf, nil))
			_, addr := startProxy(t, cfg)
			_, seen := rawGet(t, addr, "GET /x HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n"+tc.in+"\r\n")
			if got := strings.Join(seen.Values("X-Forwarded-For"), ", "); got != tc.xff {
				t.Errorf("X-Forwarded-For %q, want %q", got, tc.xff)
			}
			if got := seen.Get("X-Forwarded-Proto"); got != tc.xfp {
				t.Errorf("X-Forwarded-Proto %q, want %q", got, tc.xfp)
			}
			if got := seen.Get("X-Forwarded-Host"); got != tc.xfh {
				t.Errorf("X-Forwarded-Host %q, want %q", got, tc.xfh)
			}
			if got := strings.Join(seen.Values("Forwarded"), ", "); got != tc.fwd {
				t.Errorf("Forwarded %q, want %q", got, tc.fwd)
			}
			var rec map[string]any
			if err := json.Unmarshal(bytes.TrimSpace(logBuf.Bytes()), &rec); err != nil {
				t.Fatalf("access log %q: %v", logBuf.String(), err)
			}
			if rec["client"] != tc.client || rec["status"] != float64(200) || rec["pool"] != "web" || rec["backend"] != "a" || rec["path"] != "/x" || rec["tries"] != float64(1) {
				t.Errorf("access log %v, want client %s", rec, tc.client)
			}
		})
	}
}

func TestForwardedIPv6(t *testing.T) {
	var h fasthttp.RequestHeader
	h.SetHost("[::1]:8080")
	setForwarded(&h, netip.MustParseAddr("2001:db8::1"), false, true, nil)
	if got, want := string(h.Peek("Forwarded")), `for="[2001:db8::1]";proto=https;host="[::1]:8080"`; got != want {
		t.Errorf("Forwarded %q, want %q", got, want)
	}
	if got := string(h.Peek("X-Forwarded-For")); got != "2001:db8::1" {
		t.Errorf("X-Forwarded-For %q", got)
	}
}
