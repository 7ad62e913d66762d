package admin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// echoLen is a write route that reads the whole body and answers its
// length, or 413 when it is over the route's cap.
var echoLen = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	b, err := io.ReadAll(r.Body)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
	case err != nil:
		http.Error(w, err.Error(), http.StatusBadRequest)
	default:
		_, _ = fmt.Fprintf(w, "%d", len(b))
	}
})

func startAdmin(t *testing.T, cfg Config) (*Server, *prometheus.Registry) {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Listen, cfg.Registerer, cfg.Gatherer = "127.0.0.1:0", reg, reg
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return s, reg
}

// dialFrom connects to the server from 127.77.34.host.
func dialFrom(t *testing.T, s *Server, host byte) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: time.Second, LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 77, 34, host)}}
	c, err := d.DialContext(t.Context(), "tcp", s.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// TestAdminBodyCaps checks the per-route body caps over real HTTP: 1 MiB by
// default, the route's MaxBody when set.
func TestAdminBodyCaps(t *testing.T) {
	s, _ := startAdmin(t, Config{Routes: []Route{
		{Pattern: "POST /small", Handler: echoLen},
		{Pattern: "POST /large", Handler: echoLen, MaxBody: 4 << 20},
	}})
	base := "http://" + s.Addr().String()
	for _, tc := range []struct {
		path string
		size int
		code int
	}{
		{"/small", 1 << 20, 200},
		{"/small", 1<<20 + 1, 413},
		{"/large", 2 << 20, 200},
		{"/large", 4<<20 + 1, 413},
	} {
		t.Run(fmt.Sprintf("%s %d", tc.path, tc.size), func(t *testing.T) {
			req, err := http.NewRequestWithContext(t.Context(), "POST", base+tc.path, bytes.NewReader(make([]byte, tc.size)))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tc.code)
			}
		})
	}
}

// TestAdminSlowBody sends a body a byte every 200 ms, each well within any
// idle timer: the connection is cut off when ReadTimeout has passed since
// the request began, and the handler sees the error.
func TestAdminSlowBody(t *testing.T) {
	got := make(chan string, 1)
	s, _ := startAdmin(t, Config{ReadTimeout: time.Second, Routes: []Route{{Pattern: "POST /w", Handler: http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		got <- fmt.Sprint(err)
	})}}})
	c := dialFrom(t, s, 60)
	start := time.Now()
	if _, err := io.WriteString(c, "POST /w HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 1000 && time.Since(start) < 5*time.Second; i++ {
		if _, err := c.Write([]byte{'x'}); err != nil {
			break
		}
		select {
		case err := <-got:
			d := time.Since(start)
			if !strings.Contains(err, "timeout") || d < 900*time.Millisecond || d > 3*time.Second {
				t.Fatalf("body read ended after %v with %q, want a timeout after about 1s", d, err)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
	t.Fatalf("the slow body was still read after %v", time.Since(start))
}

// TestAdminConnCaps checks the connection caps: MaxConnsPerIP from one
// address, then the next from it is closed at once while another address
// is served; MaxConns in total.
func TestAdminConnCaps(t *testing.T) {
	s, reg := startAdmin(t, Config{})
	for range MaxConnsPerIP {
		dialFrom(t, s, 1)
	}
	over := dialFrom(t, s, 1)
	_ = over.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := over.Read(make([]byte, 1)); !errors.Is(err, io.EOF) && !isReset(err) {
		t.Fatalf("connection over the per-address cap: read %v, want it closed", err)
	}
	healthz := func(host byte) error {
		c := dialFrom(t, s, host)
		_ = c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			return err
		}
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		return nil
	}
	if err := healthz(2); err != nil {
		t.Fatalf("another address: %v", err)
	}
	// Fill the total from other addresses: the next one is refused.
	open := MaxConnsPerIP // from 127.77.34.1; healthz(2)'s is still open
	open++
	for host := byte(3); open < MaxConns; host++ {
		for i := 0; i < MaxConnsPerIP && open < MaxConns; i++ {
			dialFrom(t, s, host)
			open++
		}
	}
	if err := healthz(200); err == nil {
		t.Fatal("a connection over the total cap was served")
	}
	if n, err := testutil.GatherAndCount(reg, "aya_admin_connections_rejected_total"); err != nil || n != 2 {
		t.Errorf("aya_admin_connections_rejected_total: %d series (%v), want per_ip and total", n, err)
	}
	for _, reason := range []string{"per_ip", "total"} {
		if n := testutil.ToFloat64(s.ln.(*limitListener).rejected.WithLabelValues(reason)); n < 1 {
			t.Errorf("rejected{reason=%q} = %v, want at least 1", reason, n)
		}
	}
}

func isReset(err error) bool {
	return err != nil && strings.Contains(err.Error(), "connection reset")
}
