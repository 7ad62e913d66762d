package proxy

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestUploadPaceBudget(t *testing.T) {
	lim := Limits{IdleTimeout: 60 * time.Second, BodyTimeout: 5 * time.Minute, MinUploadRate: 1000, MinUploadRateGrace: 10 * time.Second}
	off := lim
	off.MinUploadRate = NoMinUploadRate
	cases := []struct {
		name    string
		lim     Limits
		waited  time.Duration
		got     int64
		want    time.Duration
		wantWhy rejection
	}{
		{"fresh body: the grace", lim, 0, 0, 10 * time.Second, rejectSlowUpload},
		{"bytes earn time", lim, 0, 5000, 15 * time.Second, rejectSlowUpload},
		{"grace spent, behind the rate", lim, 12 * time.Second, 1000, -time.Second, rejectSlowUpload},
		{"well ahead: the idle timeout binds", lim, time.Second, 1_000_000, 60 * time.Second, rejectBodyIdle},
		{"near the body timeout", lim, 5*time.Minute - time.Second, 1 << 40, time.Second, rejectBodyTimeout},
		{"no minimum rate", off, 0, 0, 60 * time.Second, rejectBodyIdle},
		{"no minimum rate, body timeout", off, 5*time.Minute - 2*time.Second, 0, 2 * time.Second, rejectBodyTimeout},
		{"huge body, slow rate: no overflow", Limits{IdleTimeout: time.Second, BodyTimeout: time.Hour, MinUploadRate: 1, MinUploadRateGrace: time.Second}, 0, 1 << 62, time.Second, rejectBodyIdle},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := newPace(tc.lim)
			u.waited = tc.waited
			d, why := u.budget(tc.got)
			if d != tc.want || why != tc.wantWhy {
				t.Errorf("budget = %v, %s; want %v, %s", d, rejectionNames[why], tc.want, rejectionNames[tc.wantWhy])
			}
		})
	}
}

// FuzzUploadPace checks the pace's budget against its definition: never
// more than the idle timeout or the body timeout left, and a read that
// uses it all, after the grace, is no slower than the minimum rate.
func FuzzUploadPace(f *testing.F) {
	f.Add(int64(time.Minute), int64(5*time.Minute), int64(1024), int64(10*time.Second), int64(0), int64(0))
	f.Add(int64(time.Second), int64(time.Hour), int64(1), int64(time.Second), int64(1<<62), int64(time.Minute))
	f.Add(int64(1), int64(1), int64(-1), int64(1), int64(-5), int64(-5))
	f.Fuzz(func(t *testing.T, idle, timeout, rate, grace, got, waited int64) {
		if idle <= 0 || timeout <= 0 || grace <= 0 || (rate < 1 && rate != NoMinUploadRate) || got < 0 || waited < 0 {
			return // Validate refuses these; got and waited only grow from 0
		}
		u := newPace(Limits{IdleTimeout: time.Duration(idle), BodyTimeout: time.Duration(timeout),
			MinUploadRate: rate, MinUploadRateGrace: time.Duration(grace)})
		u.waited = time.Duration(waited)
		d, why := u.budget(got)
		if d > u.idle {
			t.Fatalf("budget %v over the idle timeout %v", d, u.idle)
		}
		if d > u.timeout-u.waited {
			t.Fatalf("budget %v over the body timeout left %v", d, u.timeout-u.waited)
		}
		if why == rejectNone || why >= numRejections {
			t.Fatalf("no cause: %d", why)
		}
		if u.rate > 0 && d > 0 {
			// Waiting d more, the body has waited u.waited+d: got must
			// pay for what is beyond the grace, to a nanosecond per byte
			// of rounding.
			total := u.waited + d
			if total > u.grace {
				need := float64(total-u.grace) / float64(time.Second) * float64(u.rate)
				if float64(got)+float64(u.rate)*1e-9+1e-6*need < need {
					t.Fatalf("budget %v lets %d bytes stand for %.0f at %d B/s (waited %v, grace %v)", d, got, need, u.rate, u.waited, u.grace)
				}
			}
		}
	})
}

// dialFrom connects to addr from the loopback address local.
func dialFrom(tb testing.TB, local, addr string) net.Conn {
	tb.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	c, err := d.DialContext(tb.Context(), "tcp", addr)
	if err != nil {
		tb.Fatalf("dial from %s: %v", local, err)
	}
	return c
}

// clientFrom is an HTTP client whose connections come from local.
func clientFrom(local string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: 2 * time.Second}
	return &http.Client{Transport: &http.Transport{Proxy: nil, DialContext: d.DialContext, MaxIdleConnsPerHost: 4}, Timeout: 5 * time.Second}
}

// counterValue returns the counter of name whose one label is label in
// reg (0 when there is none).
func counterValue(tb testing.TB, reg *prometheus.Registry, name, label string) float64 {
	tb.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		tb.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel()) == 1 && m.GetLabel()[0].GetValue() == label {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// rejections returns client_rejections_total of reason.
func rejections(tb testing.TB, reg *prometheus.Registry, reason string) float64 {
	tb.Helper()
	return counterValue(tb, reg, "aya_proxy_client_rejections_total", reason)
}

// slowBody runs a slow-body client from local until ctx is done: it
// sends a POST declaring n bytes and then a byte every gap, and connects
// again each time the proxy closes its connection. It returns the status
// lines it got.
func slowBody(ctx context.Context, tb testing.TB, local, addr string, n int, gap time.Duration, statuses chan<- string) {
	tb.Helper()
	for ctx.Err() == nil {
		d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}, Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			return
		}
		go func() { <-ctx.Done(); _ = c.Close() }()
		_, _ = fmt.Fprintf(c, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", n)
		done := make(chan struct{})
		go func() {
			defer close(done)
			line, err := bufio.NewReader(c).ReadString('\n')
			if err == nil {
				select {
				case statuses <- strings.TrimSpace(line):
				default:
				}
			}
		}()
	trickle:
		for range n {
			select {
			case <-done:
				break trickle
			case <-ctx.Done():
				break trickle
			case <-time.After(gap):
			}
			if _, err := c.Write([]byte("x")); err != nil {
				break
			}
		}
		_ = c.Close()
		<-done
	}
}

// TestSlowBodiesSpareOthers is the slow-body attack at a small scale:
// clients from 20 addresses (127.77.35.x) hold as many connections as
// they may and send their bodies a byte every 100 ms, connecting again
// when cut; a victim (127.77.36.1) gets every one of its requests
// answered meanwhile, and the backend, which takes 2 requests at a time,
// never sees an attacker's.
func TestSlowBodiesSpareOthers(t *testing.T) {
	var victims atomic.Int64
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if string(body) == "victim" {
			victims.Add(1)
		}
		_, _ = io.WriteString(w, "ok")
	})
	cfg := onePool(b)
	cfg.Pools[0].Backends[0].MaxConns = 2
	cfg.Limits = Limits{MaxConns: 200, MaxConnsPerClient: 4, IdleTimeout: 5 * time.Second,
		MinUploadRate: 1000, MinUploadRateGrace: 300 * time.Millisecond}
	reg := prometheus.NewRegistry()
	cfg.Registerer = reg
	_, addr := startProxy(t, cfg)

	ctx, stop := context.WithTimeout(t.Context(), 2500*time.Millisecond)
	defer stop()
	statuses := make(chan string, 1000)
	var wg sync.WaitGroup
	for h := 1; h <= 20; h++ {
		for range 6 { // more than the cap of 4
			wg.Go(func() { slowBody(ctx, t, fmt.Sprintf("127.77.35.%d", h), addr, 1000, 100*time.Millisecond, statuses) })
		}
	}
	time.Sleep(200 * time.Millisecond) // let them take their connections
	victim := clientFrom("127.77.36.1")
	const n = 30
	ok := 0
	for range n {
		resp, err := victim.Post("http://"+addr+"/", "text/plain", strings.NewReader("victim"))
		if err != nil {
			t.Errorf("victim: %v", err)
			continue
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode == 200 {
			ok++
		}
		time.Sleep(50 * time.Millisecond)
	}
	stop()
	wg.Wait()
	if ok != n {
		t.Errorf("victim got %d of %d answered", ok, n)
	}
	if got := victims.Load(); got != int64(ok) || b.hits.Load() != int64(ok) {
		t.Errorf("backend saw %d requests, %d of the victim's; want only the victim's %d", b.hits.Load(), got, ok)
	}
	close(statuses)
	n408 := 0
	for s := range statuses {
		if strings.HasPrefix(s, "HTTP/1.1 408 ") {
			n408++
		}
	}
	if n408 == 0 || rejections(t, reg, "slow_upload") == 0 {
		t.Errorf("slow bodies: %d answered 408, slow_upload %v; want both > 0", n408, rejections(t, reg, "slow_upload"))
	}
	if v := counterValue(t, reg, "aya_proxy_connections_refused_total", "max_conns_per_client"); v == 0 {
		t.Error("no connection refused at the per-client cap")
	}
	t.Logf("victim %d/%d; slow bodies cut with 408: %d; slow_upload %v", ok, n, n408, rejections(t, reg, "slow_upload"))
}

func TestBodyLimits(t *testing.T) {
	var inFlight atomic.Int64
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprintf(w, "%d %d %v", n, r.ContentLength, r.TransferEncoding)
	})
	cases := []struct {
		name   string
		lim    Limits
		req    string
		body   func(net.Conn)
		want   string
		reason string
		within time.Duration
	}{
		{
			name: "body timeout, not reset by each byte",
			lim:  Limits{IdleTimeout: 5 * time.Second, BodyTimeout: 500 * time.Millisecond, MinUploadRate: NoMinUploadRate},
			req:  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n",
			body: trickle(50*time.Millisecond, 1000), want: "408", reason: "body_timeout", within: 1500 * time.Millisecond,
		},
		{
			name: "below the minimum rate after the grace",
			lim:  Limits{IdleTimeout: 5 * time.Second, MinUploadRate: 1000, MinUploadRateGrace: 300 * time.Millisecond},
			req:  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n",
			body: trickle(50*time.Millisecond, 1000), want: "408", reason: "slow_upload", within: 1500 * time.Millisecond,
		},
		{
			name: "streamed body slowing down after its prefix",
			lim:  Limits{IdleTimeout: 5 * time.Second, MinUploadRate: 1000, MinUploadRateGrace: 300 * time.Millisecond, BufferBodyBytes: 100},
			req:  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("p", 200),
			body: trickle(50*time.Millisecond, 1000), want: "408", reason: "slow_upload", within: 2 * time.Second,
		},
		{
			name: "idle timeout",
			lim:  Limits{IdleTimeout: 300 * time.Millisecond},
			req:  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\nabc",
			want: "408", reason: "body_idle", within: 1500 * time.Millisecond,
		},
		{
			name: "slow but above the rate",
			lim:  Limits{IdleTimeout: 5 * time.Second, MinUploadRate: 25, MinUploadRateGrace: 200 * time.Millisecond}, // sent at 50 B/s
			req:  "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 40\r\nConnection: close\r\n\r\n",
			body: trickle(20*time.Millisecond, 40), want: "200", within: 3 * time.Second,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := onePool(b)
			cfg.Limits = tc.lim
			reg := prometheus.NewRegistry()
			cfg.Registerer = reg
			_, addr := startProxy(t, cfg)
			start := time.Now()
			got := rawExchange(t, addr, tc.req, tc.body, false)
			if d := time.Since(start); !strings.HasPrefix(got, "HTTP/1.1 "+tc.want+" ") || d > tc.within {
				t.Fatalf("got %q after %v, want %s within %v", got, d, tc.want, tc.within)
			}
			if tc.reason != "" && rejections(t, reg, tc.reason) != 1 {
				t.Errorf("client_rejections_total{reason=%q} = %v, want 1", tc.reason, rejections(t, reg, tc.reason))
			}
			waitFor(t, func() bool { return inFlight.Load() == 0 })
		})
	}
}

// trickle sends n bytes to c, one every gap.
func trickle(gap time.Duration, n int) func(net.Conn) {
	return func(c net.Conn) {
		for range n {
			time.Sleep(gap)
			if _, err := c.Write([]byte("x")); err != nil {
				return
			}
		}
	}
}

// TestBodyBuffering checks which bodies are read whole before a backend
// is picked (sent with their length) and which are streamed.
func TestBodyBuffering(t *testing.T) {
	b := newBackend(t, "a", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		_, _ = fmt.Fprintf(w, "%d %d %v", len(body), r.ContentLength, r.TransferEncoding)
	})
	cfg := onePool(b)
	cfg.Limits = Limits{BufferBodyBytes: 1000}
	_, addr := startProxy(t, cfg)
	cases := []struct {
		name string
		req  string
		want string
	}{
		{"small chunked body: buffered, sent with its length", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(strings.Repeat("c", 900), 100), "900 900 []"},
		{"large chunked body: streamed", "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" + chunked(strings.Repeat("c", 5000), 300), "5000 -1 [chunked]"},
		{"small body", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n" + strings.Repeat("s", 1000), "1000 1000 []"},
		{"large body: prefix, then streamed", "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5001\r\nConnection: close\r\n\r\n" + strings.Repeat("l", 5001), "5001 5001 []"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := dialRaw(t, addr, tc.req)
			if !strings.HasPrefix(resp, "HTTP/1.1 200 ") || !strings.HasSuffix(resp, tc.want) {
				t.Errorf("got %q, want 200 and %q", resp, tc.want)
			}
		})
	}

	// A small body that arrives slowly, chunked, is read whole before
	// the backend is picked: while three trickle in, the backend's only
	// slot stays free for another request.
	t.Run("slow small body holds no backend", func(t *testing.T) {
		bb := newBackend(t, "b", func(w http.ResponseWriter, r *http.Request) {
			n, _ := io.Copy(io.Discard, r.Body)
			_, _ = fmt.Fprint(w, n)
		})
		cfg := onePool(bb)
		cfg.Pools[0].Backends[0].MaxConns = 1
		_, addr := startProxy(t, cfg)
		results := make(chan string, 3)
		for i := range 3 {
			go func() {
				results <- rawExchange(t, addr, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n", func(c net.Conn) {
					for range 3 + 2*i { // ending 200 ms apart, one at a time at the backend
						time.Sleep(100 * time.Millisecond)
						if _, err := io.WriteString(c, "1\r\nx\r\n"); err != nil {
							return
						}
					}
					_, _ = io.WriteString(c, "0\r\n\r\n")
				}, false)
			}()
		}
		time.Sleep(150 * time.Millisecond)
		if got := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", nil, false); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
			t.Errorf("GET while slow bodies arrive: %q", got)
		}
		for range 3 {
			if got := <-results; !strings.HasPrefix(got, "HTTP/1.1 200 ") {
				t.Errorf("slow body: %q", got)
			}
		}
	})
}
