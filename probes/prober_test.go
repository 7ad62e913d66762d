package probes

import (
	"context"
	"errors"
	"maps"
	"net/http/httptest"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aya-gslb/aya/state"
)

// recorder is a Reporter that keeps every observation it is given, with
// the time it was given, and fails while fail is set.
type recorder struct {
	fail atomic.Bool
	mu   sync.Mutex
	got  []report
}

type report struct {
	o  Observation
	at time.Time
	ok bool
}

func (r *recorder) Report(ctx context.Context, o Observation) error {
	if _, ok := ctx.Deadline(); !ok {
		return errors.New("report context without a deadline")
	}
	fail := r.fail.Load()
	r.mu.Lock()
	r.got = append(r.got, report{o: o, at: time.Now(), ok: !fail})
	r.mu.Unlock()
	if fail {
		return errors.New("no leader")
	}
	return nil
}

func (r *recorder) reports() []report {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]report(nil), r.got...)
}

// fakeCheck is a check whose probe is replaced by a script (see scripted).
func fakeCheck(endpoint string, interval time.Duration) Check {
	return Check{
		Key:      state.EndpointKey{Pool: "web", Region: "eu", Endpoint: endpoint},
		Kind:     KindTCP,
		Target:   netip.MustParseAddrPort("127.0.0.1:9"),
		Interval: interval,
		Timeout:  interval / 2,
	}
}

// scripted replaces ch's probe by one that records its start time and
// returns the next result of script (then successes).
func scripted(ch *checker, script ...bool) *[]time.Time {
	var starts []time.Time
	ch.probe = func(context.Context) error {
		starts = append(starts, time.Now())
		ok := true
		if len(script) > 0 {
			ok, script = script[0], script[1:]
		}
		if !ok {
			return errors.New("scripted failure")
		}
		return nil
	}
	return &starts
}

// runFor runs p in the bubble for d of fake time, then stops it.
func runFor(t *testing.T, p *Prober, d time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	time.Sleep(d)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestJittered(t *testing.T) {
	for _, tc := range []struct {
		r    float64
		want time.Duration
	}{{0, 9 * time.Second}, {0.5, 10 * time.Second}, {0.75, 10500 * time.Millisecond}} {
		if got := jittered(10*time.Second, 0.1, tc.r); got != tc.want {
			t.Errorf("jittered(10s, 0.1, %g) = %s, want %s", tc.r, got, tc.want)
		}
	}
	if got := jittered(10*time.Second, 0.1, 0.99999999); got >= 11*time.Second || got < 10999*time.Millisecond {
		t.Errorf("jittered(10s, 0.1, ~1) = %s, want just under 11s", got)
	}
}

func TestJitterBounds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const interval = time.Second
		c := fakeCheck("a", interval)
		c.Jitter = 0.3
		p, err := New(Config{Checks: []Check{c}})
		if err != nil {
			t.Fatal(err)
		}
		starts := scripted(p.checks[0])
		t0 := time.Now()
		runFor(t, p, 200*interval)
		s := *starts
		if len(s) < 150 {
			t.Fatalf("%d probes in 200 intervals", len(s))
		}
		if first := s[0].Sub(t0); first < 0 || first >= interval {
			t.Errorf("first probe after %s, want within [0, %s)", first, interval)
		}
		lo, hi := 700*time.Millisecond, 1300*time.Millisecond
		minGap, maxGap := hi, lo
		for i := 1; i < len(s); i++ {
			gap := s[i].Sub(s[i-1])
			if gap < lo || gap > hi {
				t.Errorf("gap %d is %s, want within [%s, %s]", i, gap, lo, hi)
			}
			minGap, maxGap = min(minGap, gap), max(maxGap, gap)
		}
		// Random, but 200 draws all in one half of the range would be a bug.
		if minGap > 900*time.Millisecond || maxGap < 1100*time.Millisecond {
			t.Errorf("gaps within [%s, %s]: not jittered across the range", minGap, maxGap)
		}
	})
}

func TestRiseFallSequence(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := fakeCheck("a", time.Second)
		c.Rise, c.Fall = 2, 3
		rec := &recorder{}
		p, err := New(Config{Checks: []Check{c}, Reporter: rec, Refresh: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		// Probes 1-9: ok ok fail ok fail fail fail ok ok.
		starts := scripted(p.checks[0], true, true, false, true, false, false, false, true, true)
		runFor(t, p, 12*time.Second)
		s := *starts
		if len(s) < 9 {
			t.Fatalf("%d probes, want at least 9", len(s))
		}
		// Changes: up at the 2nd probe, down at the 7th, up at the 9th,
		// each reported at the instant of its probe (the fake clock does
		// not move while nothing sleeps).
		want := []struct {
			probe int
			up    bool
		}{{2, true}, {7, false}, {9, true}}
		got := rec.reports()
		if len(got) != len(want) {
			t.Fatalf("reports %+v, want %d changes", got, len(want))
		}
		for i, w := range want {
			r := got[i]
			if r.o.Up != w.up || !r.at.Equal(s[w.probe-1]) || !r.o.At.Equal(s[w.probe-1]) {
				t.Errorf("report %d: up=%v at %v (probe at %v), want up=%v at probe %d (%v)",
					i, r.o.Up, r.at, r.o.At, w.up, w.probe, s[w.probe-1])
			}
		}
		if got[1].o.Err != "scripted failure" || got[2].o.Err != "" {
			t.Errorf("report errors %q, %q", got[1].o.Err, got[2].o.Err)
		}
	})
}

// flaky is a Reporter that records every call, with the time since t0,
// and answers with decide's verdict: nil (delivered), an error, or
// errBlock (no answer until ctx ends, like a leader that is gone).
type flaky struct {
	t0     time.Time
	decide func(o Observation, at time.Duration) error
	mu     sync.Mutex
	got    []call
}

type call struct {
	o   Observation
	at  time.Duration // since t0
	err error
}

var errBlock = errors.New("block")

func (f *flaky) Report(ctx context.Context, o Observation) error {
	at := time.Since(f.t0)
	err := f.decide(o, at)
	if errors.Is(err, errBlock) {
		<-ctx.Done()
		err = ctx.Err()
	}
	f.mu.Lock()
	f.got = append(f.got, call{o: o, at: at, err: err})
	f.mu.Unlock()
	return err
}

func (f *flaky) calls(endpoint string) []call {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []call
	for _, c := range f.got {
		if c.o.Key.Endpoint == endpoint {
			out = append(out, c)
		}
	}
	return out
}

// failUntil fails every report before d, as a cluster without a leader does.
func failUntil(d time.Duration) func(Observation, time.Duration) error {
	return func(_ Observation, at time.Duration) error {
		if at < d {
			return errors.New("no leader")
		}
		return nil
	}
}

// checkBackoff checks that the failed calls cs are spaced by the retry
// backoff: the n-th retry within (d/2, d] of the failure before it, or
// sooner when a change or a refresh came first (then at a probe).
func checkBackoff(t *testing.T, cs []call) {
	t.Helper()
	for n := 1; n < len(cs); n++ {
		if cs[n-1].err == nil {
			return
		}
		full := retry.Delay(n, 0)
		if gap := cs[n].at - cs[n-1].at; gap <= full/2 || gap > full {
			t.Errorf("retry %d came %s after the failure, want within (%s, %s]", n, gap, full/2, full)
		}
	}
}

// TestReportRetry: a report that fails is retried with a backoff until it
// is delivered, a newer observation supersedes it, or the prober stops;
// the next refresh comes Refresh after the last report; one endpoint's
// retries hold up no other's reports.
func TestReportRetry(t *testing.T) {
	tests := []struct {
		name    string
		scripts map[string][]bool // probe results per endpoint (then successes); Rise = Fall = 1
		decide  func(Observation, time.Duration) error
		run     time.Duration
		check   func(t *testing.T, f *flaky, starts map[string][]time.Duration)
	}{{
		name:    "retried until delivered",
		scripts: map[string][]bool{"a": nil},
		decide:  failUntil(2 * time.Second),
		run:     9 * time.Second,
		check: func(t *testing.T, f *flaky, starts map[string][]time.Duration) {
			t.Helper()
			cs := f.calls("a")
			if len(cs) < 3 || cs[0].at != starts["a"][0] || cs[0].err == nil {
				t.Fatalf("calls %+v, want a failed report at the first probe (%s), then retries", cs, starts["a"][0])
			}
			checkBackoff(t, cs)
			ok := slices.IndexFunc(cs, func(c call) bool { return c.err == nil })
			if ok < 0 || cs[ok].at < 2*time.Second || cs[ok].at > 3*time.Second {
				t.Fatalf("calls %+v, want one delivered within 1s of the leader's return at 2s", cs)
			}
			// Then refreshes, 3s after the last report.
			for i, c := range cs[ok+1:] {
				if want := cs[ok+i].at + 3*time.Second; c.at != want || c.err != nil || !c.o.Up {
					t.Errorf("refresh %d: %+v, want delivered up at %s", i+1, c, want)
				}
			}
			if n := len(cs) - ok - 1; n != 2 {
				t.Errorf("%d refreshes after the report delivered at %s, want 2", n, cs[ok].at)
			}
		},
	}, {
		name:    "a newer observation supersedes",
		scripts: map[string][]bool{"a": {true, false, false, false, false, false, false}},
		decide:  failUntil(4 * time.Second),
		run:     5 * time.Second,
		check: func(t *testing.T, f *flaky, starts map[string][]time.Duration) {
			t.Helper()
			cs := f.calls("a")
			down := starts["a"][1] // the second probe fails: down
			if !slices.ContainsFunc(cs, func(c call) bool { return c.at == down && !c.o.Up }) {
				t.Errorf("calls %+v, want the change to down reported at once (%s)", cs, down)
			}
			for _, c := range cs {
				if c.o.Up != (c.at < down) {
					t.Errorf("call at %s reported up=%v; the state changed to down at %s", c.at, c.o.Up, down)
				}
			}
			if last := cs[len(cs)-1]; last.err != nil || last.o.Up || last.at > 5*time.Second {
				t.Errorf("last call %+v, want down delivered within 1s of the leader's return at 4s", last)
			}
		},
	}, {
		name:    "retries end with the prober",
		scripts: map[string][]bool{"a": nil},
		decide:  failUntil(time.Hour),
		run:     6 * time.Second,
		check: func(t *testing.T, f *flaky, _ map[string][]time.Duration) {
			t.Helper()
			cs := f.calls("a")
			checkBackoff(t, cs)
			// 50+100+200+400+800ms, then about one a second (at most 1s
			// apart, at least 0.5s).
			if len(cs) < 9 || len(cs) > 16 {
				t.Errorf("%d attempts in 6s, want 9 to 16", len(cs))
			}
			time.Sleep(10 * time.Second)
			if n := len(f.calls("a")); n != len(cs) {
				t.Errorf("%d attempts after the prober stopped", n-len(cs))
			}
		},
	}, {
		name:    "one endpoint's retries hold up no other",
		scripts: map[string][]bool{"a": nil, "b": {true, false, true}},
		decide: func(o Observation, _ time.Duration) error {
			if o.Key.Endpoint == "a" {
				return errBlock
			}
			return nil
		},
		run: 4 * time.Second,
		check: func(t *testing.T, f *flaky, starts map[string][]time.Duration) {
			t.Helper()
			var at []time.Duration
			for _, c := range f.calls("b") {
				at = append(at, c.at)
			}
			if want := starts["b"][:3]; !slices.Equal(at, want) {
				t.Errorf("b reported at %v, want at each of its changes %v", at, want)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				f := &flaky{t0: time.Now(), decide: tt.decide}
				var cs []Check
				for _, e := range slices.Sorted(maps.Keys(tt.scripts)) {
					c := fakeCheck(e, time.Second)
					c.Rise, c.Fall = 1, 1
					cs = append(cs, c)
				}
				reg := prometheus.NewRegistry()
				p, err := New(Config{Checks: cs, Reporter: f, Refresh: 3 * time.Second, Registerer: reg})
				if err != nil {
					t.Fatal(err)
				}
				probed := map[string]*[]time.Time{}
				for _, ch := range p.checks {
					probed[ch.c.Key.Endpoint] = scripted(ch, tt.scripts[ch.c.Key.Endpoint]...)
				}
				runFor(t, p, tt.run)
				starts := map[string][]time.Duration{}
				for e, s := range probed {
					for _, at := range *s {
						starts[e] = append(starts[e], at.Sub(f.t0))
					}
				}
				tt.check(t, f, starts)
				if v := promtest.ToFloat64(p.metrics.pending); v != 0 {
					t.Errorf("aya_probe_reports_pending = %v after the prober stopped, want 0", v)
				}
			})
		})
	}
}

// TestReportMetrics: the pending gauge counts the endpoints whose report
// is being retried, and the reports counter every attempt by result.
func TestReportMetrics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		t0 := time.Now()
		f := &flaky{t0: t0, decide: func(o Observation, at time.Duration) error {
			if o.Key.Endpoint == "a" && at < 3*time.Second {
				return errors.New("no leader")
			}
			return nil
		}}
		a, b := fakeCheck("a", time.Second), fakeCheck("b", time.Second)
		a.Rise, b.Rise = 1, 1
		p, err := New(Config{Checks: []Check{a, b}, Reporter: f, Refresh: time.Hour, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		scripted(p.checks[0])
		scripted(p.checks[1])
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan error, 1)
		go func() { done <- p.Run(ctx) }()
		time.Sleep(2 * time.Second) // both decided; a failing, b delivered
		synctest.Wait()
		if v := promtest.ToFloat64(p.metrics.pending); v != 1 {
			t.Errorf("pending = %v while a's report is retried, want 1", v)
		}
		time.Sleep(2 * time.Second) // a delivered by 4s
		synctest.Wait()
		if v := promtest.ToFloat64(p.metrics.pending); v != 0 {
			t.Errorf("pending = %v after a's report was delivered, want 0", v)
		}
		failed := float64(len(slices.DeleteFunc(f.calls("a"), func(c call) bool { return c.err == nil })))
		if got := promtest.ToFloat64(p.metrics.reports.WithLabelValues("failure")); got != failed || failed < 3 {
			t.Errorf("failures counted %v, failed calls %v", got, failed)
		}
		if got := promtest.ToFloat64(p.metrics.reports.WithLabelValues("success")); got != 2 {
			t.Errorf("successes counted %v, want 2 (a and b, once each)", got)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
}

func TestUnprobedNotRefreshed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rec := &recorder{}
		p, err := New(Config{Checks: []Check{fakeCheck("a", time.Second)}, Reporter: rec, Refresh: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		// The report loop alone, on a refresh of 1s: nothing has been probed.
		ctx, cancel := context.WithCancel(t.Context())
		go p.reportLoop(ctx, p.checks[0])
		time.Sleep(5 * time.Second)
		cancel()
		synctest.Wait()
		if got := rec.reports(); len(got) != 0 {
			t.Errorf("reports before any probe: %+v", got)
		}
		if o := p.States()[0]; o.Up || !o.At.IsZero() || o.Key.Endpoint != "a" {
			t.Errorf("States() before any probe: %+v", o)
		}
	})
}

// blockingReporter never returns before its ctx is done.
type blockingReporter struct{ calls atomic.Int64 }

func (b *blockingReporter) Report(ctx context.Context, _ Observation) error {
	b.calls.Add(1)
	<-ctx.Done()
	return ctx.Err()
}

func TestSlowReporterDoesNotStallProbes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := fakeCheck("a", time.Second)
		c.Rise, c.Fall = 1, 1
		rep := &blockingReporter{}
		p, err := New(Config{Checks: []Check{c}, Reporter: rep, Refresh: 2 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		starts := scripted(p.checks[0], true, false, true, false, true, false, true, false, true, false)
		if p.reportTimeout != 2*time.Second {
			t.Fatalf("reportTimeout %s, want Refresh (2s) as it is under 5s", p.reportTimeout)
		}
		runFor(t, p, 10*time.Second)
		if n := len(*starts); n < 9 {
			t.Errorf("%d probes in 10s with a stuck reporter, want about 10", n)
		}
		// Each report waits out its 2s timeout: at most 5 in 10s.
		if n := rep.calls.Load(); n < 3 || n > 5 {
			t.Errorf("%d reports in 10s, want 3 to 5", n)
		}
	})
}

func TestProbePanic(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := fakeCheck("a", time.Second)
		c.Rise, c.Fall = 1, 1
		p, err := New(Config{Checks: []Check{c}})
		if err != nil {
			t.Fatal(err)
		}
		var calls atomic.Int64
		p.checks[0].probe = func(context.Context) error {
			if calls.Add(1) == 2 {
				panic("boom")
			}
			return nil
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go func() { _ = p.Run(ctx) }()
		time.Sleep(time.Second + 500*time.Millisecond) // after the 1st probe, before the 3rd
		synctest.Wait()
		if calls.Load() == 2 {
			if o := p.States()[0]; o.Up || !strings.Contains(o.Err, "probe panicked: boom") {
				t.Errorf("after the panic: %+v, want down with the panic", o)
			}
		}
		time.Sleep(5 * time.Second)
		synctest.Wait()
		if o := p.States()[0]; calls.Load() < 5 || !o.Up {
			t.Errorf("after %d probes: %+v, want probing to go on, up again", calls.Load(), o)
		}
	})
}

func TestNew(t *testing.T) {
	a := fakeCheck("a", time.Second)
	if _, err := New(Config{Checks: []Check{a, a}}); err == nil || !strings.Contains(err.Error(), "Key: endpoint checked twice") {
		t.Errorf("duplicate key: %v", err)
	}
	bad := a
	bad.Kind = ""
	if _, err := New(Config{Checks: []Check{a, bad}}); err == nil || !strings.Contains(err.Error(), "kind: required") {
		t.Errorf("invalid check: %v", err)
	}
	if _, err := New(Config{Refresh: -time.Second}); err == nil || !strings.Contains(err.Error(), "Refresh") {
		t.Errorf("negative refresh: %v", err)
	}
	p, err := New(Config{})
	if err != nil || p.refresh != DefaultRefresh || p.reportTimeout != maxReportTimeout {
		t.Fatalf("New(Config{}) = %+v, %v", p, err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := p.Run(ctx); err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := p.Run(ctx); err == nil {
		t.Error("second Run succeeded")
	}
}

// TestRunEndToEnd runs the prober on real time against a real backend,
// flips it down and up, and reads the metrics.
func TestRunEndToEnd(t *testing.T) {
	f := &flipServer{}
	f.healthy.Store(true)
	srv := httptest.NewServer(f)
	defer srv.Close()
	reg := prometheus.NewRegistry()
	rec := &recorder{}
	c := Check{Key: testKey, Kind: KindHTTP, Target: addrPort(t, srv.Listener.Addr()),
		Interval: 20 * time.Millisecond, Timeout: 15 * time.Millisecond}
	p, err := New(Config{Checks: []Check{c}, Reporter: rec, Refresh: time.Hour, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	waitReport := func(n int, up bool) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if got := rec.reports(); len(got) >= n {
				if got[n-1].o.Up != up {
					t.Fatalf("report %d: %+v, want up=%v", n, got[n-1].o, up)
				}
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
		t.Fatalf("no report %d (up=%v) within 5s: %+v", n, up, rec.reports())
	}
	waitReport(1, true)
	if v := gaugeValue(t, reg, "aya_probe_up"); v != 1 {
		t.Errorf("aya_probe_up = %v, want 1", v)
	}
	f.healthy.Store(false)
	waitReport(2, false)
	if v := gaugeValue(t, reg, "aya_probe_up"); v != 0 {
		t.Errorf("aya_probe_up = %v, want 0", v)
	}
	// While it runs, a probe may be between its two metric updates: read
	// until they agree.
	var results map[string]float64
	var count uint64
	deadline := time.Now().Add(5 * time.Second)
	for {
		results, count = probeMetrics(t, reg)
		if count == uint64(results["success"]+results["failure"]) || time.Now().After(deadline) {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if results["success"] < 2 || results["failure"] < 2 || count != uint64(results["success"]+results["failure"]) {
		t.Errorf("results %v, duration count %d", results, count)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if results, count := probeMetrics(t, reg); len(results) != 0 || count != 0 {
		t.Errorf("after Run: results %v, duration count %d; want the series deleted", results, count)
	}
}

// probeMetrics returns the results counters of testKey by result, and the
// count of its duration histogram.
func probeMetrics(t *testing.T, reg *prometheus.Registry) (map[string]float64, uint64) {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	results := map[string]float64{}
	var count uint64
	for _, mf := range fams {
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			switch mf.GetName() {
			case "aya_probe_results_total":
				if labels["pool"] != "web" || labels["region"] != "eu" || labels["endpoint"] != "a" {
					t.Errorf("labels %v", labels)
				}
				results[labels["result"]] = m.GetCounter().GetValue()
			case "aya_probe_duration_seconds":
				count = m.GetHistogram().GetSampleCount()
			}
		}
	}
	return results, count
}

func gaugeValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range fams {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no single %s", name)
	return 0
}

// TestFirstDecision: nothing is reported until Rise successes or Fall
// failures in a row, and that first decision is reported even when it
// agrees with Config.Initial.
func TestFirstDecision(t *testing.T) {
	tests := []struct {
		name       string
		initial    bool
		rise, fall int
		script     []bool
		probe      int // the probe whose result is first reported
		up         bool
	}{
		{"down from the start", false, 2, 3, []bool{false, false, false}, 3, false},
		{"up from the start", false, 2, 3, []bool{true, true}, 2, true},
		{"a flap resets the count", false, 2, 2, []bool{true, false, true, true}, 4, true},
		{"failures then successes", false, 3, 2, []bool{false, true, false, false}, 4, false},
		{"initially up, seen up", true, 2, 2, []bool{true, true}, 2, true},
		{"initially up, seen down", true, 2, 2, []bool{false, false}, 2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				c := fakeCheck("a", time.Second)
				c.Rise, c.Fall = tt.rise, tt.fall
				rec := &recorder{}
				// A refresh every 500ms: an undecided state must not be
				// reported by it either.
				p, err := New(Config{Checks: []Check{c}, Reporter: rec, Refresh: 500 * time.Millisecond, Initial: tt.initial})
				if err != nil {
					t.Fatal(err)
				}
				starts := scripted(p.checks[0], tt.script...)
				runFor(t, p, time.Duration(len(tt.script))*time.Second+100*time.Millisecond)
				got := rec.reports()
				s := *starts
				if len(got) == 0 || len(s) < tt.probe {
					t.Fatalf("reports %+v after %d probes, want the first at probe %d", got, len(s), tt.probe)
				}
				if r := got[0]; r.o.Up != tt.up || !r.at.Equal(s[tt.probe-1]) {
					t.Errorf("first report up=%v at %v, want up=%v at probe %d (%v)", r.o.Up, r.at, tt.up, tt.probe, s[tt.probe-1])
				}
			})
		})
	}
}

// TestReplaceProber: a Prober replacing another on the same Registerer (a
// reload) shares its collectors, and a stopped Prober's series are gone.
func TestReplaceProber(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		reg := prometheus.NewRegistry()
		series := func() []string {
			mfs, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, mf := range mfs {
				if mf.GetName() != "aya_probe_up" {
					continue
				}
				for _, m := range mf.GetMetric() {
					for _, l := range m.GetLabel() {
						if l.GetName() == "endpoint" {
							out = append(out, l.GetValue())
						}
					}
				}
			}
			return out
		}
		first, err := New(Config{Checks: []Check{fakeCheck("a", time.Second), fakeCheck("b", time.Second)}, Registerer: reg})
		if err != nil {
			t.Fatal(err)
		}
		scripted(first.checks[0])
		scripted(first.checks[1])
		runFor(t, first, 3*time.Second)
		if got := series(); len(got) != 0 {
			t.Errorf("series after the prober stopped: %v", got)
		}
		if _, err := New(Config{Checks: []Check{fakeCheck("b", time.Second), fakeCheck("c", time.Second)}, Registerer: reg}); err != nil {
			t.Fatal(err)
		}
		if got := series(); !slices.Equal(got, []string{"b", "c"}) {
			t.Errorf("series of the new prober: %v, want [b c]", got)
		}
	})
}
