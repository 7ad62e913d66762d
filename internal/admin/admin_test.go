package admin

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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

	get := func(method, path string) (int, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
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
			code, body := get(tc.method, tc.path)
			if code != tc.code || !strings.Contains(body, tc.body) {
				t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.body)
			}
		})
	}
}
