package admin

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/internal/mtls"
	"github.com/aya-gslb/aya/internal/mtls/mtlstest"
	"github.com/aya-gslb/aya/internal/testutil"
)

func TestAdmin(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "aya_test_total", Help: "test"})
	reg.MustRegister(c)
	c.Add(3)
	var ready atomic.Bool
	s, err := New(Config{Listen: "127.0.0.1:0", Gatherer: reg, Ready: func() error {
		if !ready.Load() {
			return errors.New("no zones loaded")
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context()) }()
	base := "http://" + s.Addr().String()

	tests := []struct {
		name, method, path string
		ready              bool
		code               int
		body               string
	}{
		{"healthz", "GET", "/healthz", false, 200, "ok\n"},
		{"readyz before", "GET", "/readyz", false, 503, "not ready: no zones loaded\n"},
		{"readyz after", "GET", "/readyz", true, 200, "ready\n"},
		{"metrics", "GET", "/metrics", true, 200, "aya_test_total 3"},
		{"post refused", "POST", "/healthz", true, 405, ""},
		{"unknown path", "GET", "/nope", true, 404, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ready.Store(tc.ready)
			code, body := testutil.HTTP(t, tc.method, base+tc.path)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.body)
			}
		})
	}
}

// TestWriteAuth: write routes need the bearer token and, with mutual TLS,
// a verified client certificate; read routes need neither.
func TestWriteAuth(t *testing.T) {
	files := mtlstest.Write(t, "", "node")
	node, err := mtls.Load(files["node"].Cert, files["node"].Key, files["node"].CA)
	if err != nil {
		t.Fatal(err)
	}
	stranger := mtlstest.NewCA(t, "", "stranger").Issue("x")
	foreign, err := mtls.Load(stranger.Cert, stranger.Key, stranger.CA)
	if err != nil {
		t.Fatal(err)
	}
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("done\n")) })
	for _, withTLS := range []bool{false, true} {
		cfg := Config{Listen: "127.0.0.1:0", Token: "s3cret", Routes: []Route{
			{Pattern: "POST /v1/write", Handler: ok, Auth: true},
			{Pattern: "GET /v1/read", Handler: ok},
		}}
		if withTLS {
			cfg.TLS = node.AdminServer()
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- s.Serve(ctx) }()
		scheme := "http"
		if withTLS {
			scheme = "https"
		}
		client := func(c *mtls.Config, withCert bool) *http.Client {
			if !withTLS {
				return http.DefaultClient
			}
			tc := c.Client.Clone()
			if !withCert {
				tc.Certificates, tc.GetClientCertificate = nil, nil
			}
			tc.RootCAs = node.Client.RootCAs // trust the server
			return &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		}
		tests := []struct {
			name, method, path, token string
			c                         *http.Client
			code                      int // 0: the request fails (handshake)
		}{
			{"read without token", "GET", "/v1/read", "", client(node, false), 200},
			{"write with token", "POST", "/v1/write", "s3cret", client(node, true), 200},
			{"write without token", "POST", "/v1/write", "", client(node, true), 401},
			{"write with a wrong token", "POST", "/v1/write", "s3creT", client(node, true), 401},
			{"profiler without token", "GET", "/debug/pprof/cmdline", "", client(node, true), 401},
			{"profiler with token", "GET", "/debug/pprof/cmdline", "s3cret", client(node, true), 200},
			{"health without token", "GET", "/healthz", "", client(node, false), 200},
		}
		if withTLS {
			tests = append(tests, []struct {
				name, method, path, token string
				c                         *http.Client
				code                      int
			}{
				{"write without a client certificate", "POST", "/v1/write", "s3cret", client(node, false), 403},
				{"write with a stranger's certificate", "POST", "/v1/write", "s3cret", client(foreign, true), 0},
			}...)
		}
		for _, tc := range tests {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, scheme+"://"+s.Addr().String()+tc.path, nil)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			resp, err := tc.c.Do(req)
			code := 0
			if err == nil {
				code = resp.StatusCode
				_ = resp.Body.Close()
			}
			if code != tc.code {
				t.Errorf("tls=%v %s: status %d (err %v), want %d", withTLS, tc.name, code, err, tc.code)
			}
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}

// TestCrossOrigin: a write that a browser sends from another site's page
// is refused, even where no token is configured; the same write from the
// command line (no Sec-Fetch-Site, no Origin) or from the admin origin
// itself, and every read, go through.
func TestCrossOrigin(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("done\n")) })
	s, err := New(Config{Listen: "127.0.0.1:0", Routes: []Route{
		{Pattern: "POST /v1/write", Handler: ok, Auth: true},
		{Pattern: "GET /v1/read", Handler: ok},
	}})
	if err != nil {
		t.Fatal(err)
	}
	h := s.Handler()
	tests := []struct {
		name, method, path string
		hdr                map[string]string
		code               int
	}{
		{"command line write", "POST", "/v1/write", nil, 200},
		{"same-origin write", "POST", "/v1/write", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"cross-site write", "POST", "/v1/write", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"cross-origin write, old browser", "POST", "/v1/write", map[string]string{"Origin": "http://evil.example"}, 403},
		{"cross-site read", "GET", "/v1/read", map[string]string{"Sec-Fetch-Site": "cross-site"}, 200},
	}
	for _, tc := range tests {
		req := httptest.NewRequestWithContext(t.Context(), tc.method, "http://127.0.0.1:9053"+tc.path, strings.NewReader("{}"))
		for k, v := range tc.hdr {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.code {
			t.Errorf("%s: %d %s, want %d", tc.name, rec.Code, rec.Body, tc.code)
		}
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_ = s.Serve(ctx) // closes the listener
}
