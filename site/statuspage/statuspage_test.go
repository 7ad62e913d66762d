package statuspage

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/aya-gslb/aya/internal/admin"
)

// response is an answer of the handler: status, headers and body.
type response struct {
	StatusCode int
	Header     http.Header
	Body       string
}

func get(t *testing.T, h http.Handler, method, path string, hdr map[string]string) response {
	t.Helper()
	req := httptest.NewRequestWithContext(t.Context(), method, path, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return response{StatusCode: rec.Code, Header: rec.Header(), Body: rec.Body.String()}
}

func TestHandler(t *testing.T) {
	h := Handler()
	tests := []struct {
		path, ctype, body string
		code              int
	}{
		{"/", "text/html; charset=utf-8", `<script type="module" src="status/status.js">`, 200},
		{"/status/status.js", "text/javascript; charset=utf-8", `const STATUS_URL = "v1/cluster/status"`, 200},
		{"/status/status.css", "text/css; charset=utf-8", "position: sticky", 200},
		{"/status/icon.svg", "image/svg+xml", "<svg", 200},
		{"/status/nope.js", "text/plain; charset=utf-8", "404 page not found", 404},
		{"/status/index.html", "text/plain; charset=utf-8", "404 page not found", 404},
		{"/status/statuspage.go", "text/plain; charset=utf-8", "404", 404},
		{"/status/a/status.js", "text/plain; charset=utf-8", "404", 404},
		{"/status/", "text/plain; charset=utf-8", "404", 404},
		{"/index.html", "text/plain; charset=utf-8", "404", 404},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			resp := get(t, h, http.MethodGet, tc.path, nil)
			body := resp.Body
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, body)
			}
			if got := resp.Header.Get("Content-Type"); got != tc.ctype {
				t.Errorf("Content-Type %q, want %q", got, tc.ctype)
			}
			if !strings.Contains(body, tc.body) {
				t.Errorf("body does not hold %q:\n%.300s", tc.body, body)
			}
			if tc.code != 200 {
				return
			}
			for k, want := range map[string]string{
				"Content-Security-Policy": CSP,
				"X-Content-Type-Options":  "nosniff",
				"Referrer-Policy":         "no-referrer",
				"Cache-Control":           "no-cache",
			} {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s: %q, want %q", k, got, want)
				}
			}
			if resp.Header.Get("ETag") == "" {
				t.Error("no ETag")
			}
		})
	}
}

// TestCSP pins what the policy forbids: anything not from the page's own
// origin, inline script and style (no 'unsafe-inline'), eval, frames and
// markup written from strings.
func TestCSP(t *testing.T) {
	for _, want := range []string{"default-src 'self'", "script-src 'self';", "style-src 'self';", "object-src 'none'",
		"frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'", "require-trusted-types-for 'script'"} {
		if !strings.Contains(CSP, want) {
			t.Errorf("CSP lacks %q: %s", want, CSP)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:", "data:"} {
		if strings.Contains(CSP, bad) {
			t.Errorf("CSP allows %q: %s", bad, CSP)
		}
	}
	// Nothing in the page needs more: no inline script, style or handler.
	body := get(t, Handler(), http.MethodGet, "/", nil).Body
	for _, bad := range []string{"<script>", "<style", " style=", " onclick=", " onload=", "javascript:", "http://", "https://"} {
		if strings.Contains(body, bad) {
			t.Errorf("index.html holds %q, which the policy forbids or which leaves the origin", bad)
		}
	}
}

// TestNoMarkupFromStrings: the script sets text, never markup.
func TestNoMarkupFromStrings(t *testing.T) {
	js, err := assets.ReadFile("assets/status.js")
	if err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{".innerHTML", ".outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"} {
		if strings.Contains(string(js), bad) {
			t.Errorf("status.js uses %s", bad)
		}
	}
}

func TestConditionalAndHead(t *testing.T) {
	h := Handler()
	resp := get(t, h, http.MethodGet, "/status/status.js", nil)
	etag := resp.Header.Get("ETag")
	resp = get(t, h, http.MethodGet, "/status/status.js", map[string]string{"If-None-Match": etag})
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("If-None-Match %s: status %d, want 304", etag, resp.StatusCode)
	}
	resp = get(t, h, http.MethodHead, "/", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Security-Policy") != CSP {
		t.Errorf("HEAD /: %d, CSP %q", resp.StatusCode, resp.Header.Get("Content-Security-Policy"))
	}
	resp = get(t, h, http.MethodPost, "/", nil)
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d, want 405", resp.StatusCode)
	}
}

// TestRoutes: mounted on an admin API with a token, the page and its
// files are served without it, and the admin API's other paths stay its
// own.
func TestRoutes(t *testing.T) {
	for _, r := range Routes() {
		if r.Auth || !strings.HasPrefix(r.Pattern, "GET ") {
			t.Errorf("route %q: Auth %v; the page only reads", r.Pattern, r.Auth)
		}
	}
	s, err := admin.New(admin.Config{Listen: "127.0.0.1:0", Token: "secret", Routes: Routes()})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	for path, code := range map[string]int{"/": 200, "/status/status.js": 200, "/status/x": 404, "/healthz": 200, "/nope": 404} {
		resp := get(t, h, http.MethodGet, path, nil)
		if resp.StatusCode != code {
			t.Errorf("GET %s without the token: %d, want %d", path, resp.StatusCode, code)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_ = s.Serve(ctx) // closes the listener
}
