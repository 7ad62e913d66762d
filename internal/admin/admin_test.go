package admin

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

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
