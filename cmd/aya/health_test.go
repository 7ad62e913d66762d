package main

import (
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// runHealth runs `aya health args...` and returns its combined output and
// exit code.
func runHealth(t *testing.T, args ...string) (string, int) {
	t.Helper()
	out, err := exec.Command(ayaBin, append([]string{"health"}, args...)...).CombinedOutput()
	if ee, ok := errors.AsType[*exec.ExitError](err); ok {
		return string(out), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

// TestHealth: aya health exits 0 once a real aya serve is ready, and 1 with
// the reason when the node is not ready or not there.
func TestHealth(t *testing.T) {
	t.Run("ready", func(t *testing.T) {
		s := startServe(t, []string{"AYA_DNS_LISTEN=127.0.0.1:0", "AYA_ADMIN_LISTEN=127.0.0.1:0"}, "--config", "../../aya.yaml")
		var out string
		var code int
		waitFor(t, 15*time.Second, func() bool { out, code = runHealth(t, "--admin", s.admin); return code == 0 },
			func() string { return "aya health never passed: " + out + "\n" + s.log.String() })
		if want := s.admin + ": ready\n"; out != want {
			t.Errorf("output %q, want %q", out, want)
		}
	})
	t.Run("not ready", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != readyzPath {
				http.NotFound(w, r)
				return
			}
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("not ready: no release to answer from\n"))
		}))
		defer srv.Close()
		addr := strings.TrimPrefix(srv.URL, "http://")
		out, code := runHealth(t, "--admin", addr)
		if code != 1 || !strings.Contains(out, "503") || !strings.Contains(out, "not ready: no release to answer from") {
			t.Errorf("exit %d, output %q; want 1 and the 503 with its reason", code, out)
		}
	})
	t.Run("nothing listening", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		out, code := runHealth(t, "--admin", addr, "--timeout", "2s")
		if code != 1 || !strings.Contains(out, "connection refused") {
			t.Errorf("exit %d, output %q; want 1 and connection refused", code, out)
		}
	})
}
