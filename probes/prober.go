package probes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/internal/backoff"
	"github.com/aya-gslb/aya/state"
)

// DefaultRefresh is the default of Config.Refresh.
const DefaultRefresh = 10 * time.Second

// maxReportTimeout bounds one call of Reporter.Report (and Refresh does too).
const maxReportTimeout = 5 * time.Second

// retry is the backoff between the attempts of a report that failed: 50ms
// doubling to 1s, so that a report reaches a new leader within about a
// second of its election, while a cluster without a leader gets at most
// about one attempt a second per endpoint.
var retry = backoff.Policy{Base: 50 * time.Millisecond, Max: time.Second}

// Observation is what this site sees of an endpoint. It names no site: the
// Reporter (the cluster node) knows which site it is.
type Observation struct {
	Key state.EndpointKey
	// Up is the state after rise/fall.
	Up bool
	// Latency is the duration of the last probe.
	Latency time.Duration
	// Err is why the last probe failed; empty when it succeeded.
	Err string
	// At is when the last probe started; zero before the first probe.
	At time.Time
}

// Reporter receives observations. The cluster implements it; Report must
// honour ctx, which carries a timeout. It is called concurrently for
// different endpoints, never for the same one.
type Reporter interface {
	Report(ctx context.Context, o Observation) error
}

// Config configures a Prober. The zero value of a field means its default.
type Config struct {
	// Checks are the checks to run, one per endpoint (keys are unique).
	Checks []Check
	// Reporter receives the observations (nil: none are reported; States
	// still has them).
	Reporter Reporter
	// Refresh is how long after its last report an endpoint's current
	// state is reported again, even without a change, so that a new leader
	// hears from everyone and the cluster's copy stays fresh (default 10s).
	// A report that fails is retried sooner, with a backoff.
	Refresh time.Duration
	// Logger receives the prober's logs (default: discarded).
	Logger *slog.Logger
	// Registerer receives the prober's metrics (default: not registered).
	Registerer prometheus.Registerer
	// Initial is an endpoint's state in States until its thresholds are
	// first met: Rise consecutive successes (up) or Fall consecutive
	// failures (down), whichever comes first. Nothing is reported before
	// that, so a site that has just started never votes on what it has not
	// seen yet.
	Initial bool
}

// Prober runs the checks of a Config. Its methods are safe for concurrent
// use.
type Prober struct {
	log           *slog.Logger
	reporter      Reporter
	refresh       time.Duration
	reportTimeout time.Duration
	metrics       *metrics
	checks        []*checker
	running       atomic.Bool
}

// checker is one check and its state. The fields above obs belong to the
// check's probe goroutine.
type checker struct {
	c      Check
	probe  probeFunc
	m      checkMetrics
	up     bool
	streak int // consecutive results that disagree with up (decided), or agree with okRun (not yet)
	// decided is set once the thresholds were first met; until then up is
	// Config.Initial and nothing is reported.
	decided bool
	okRun   bool // the result being counted while not decided
	// obs is the current observation, published for States and the
	// check's report goroutine.
	obs atomic.Pointer[Observation]
	// changed tells the report goroutine that the state changed (a
	// pending signal is enough: the goroutine reports the latest obs).
	changed chan struct{}
	// reportable is set once the state is decided: refreshes report it.
	reportable atomic.Bool
}

// New validates cfg and returns a Prober for it; nothing runs until Run.
func New(cfg Config) (*Prober, error) {
	if cfg.Refresh < 0 {
		return nil, fmt.Errorf("probes: Refresh: %s must be positive", cfg.Refresh)
	}
	if cfg.Refresh == 0 {
		cfg.Refresh = DefaultRefresh
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	p := &Prober{
		log:           cfg.Logger,
		reporter:      cfg.Reporter,
		refresh:       cfg.Refresh,
		reportTimeout: min(cfg.Refresh, maxReportTimeout),
		metrics:       newMetrics(cfg.Registerer),
	}
	seen := make(map[state.EndpointKey]bool, len(cfg.Checks))
	for i := range cfg.Checks {
		c := &cfg.Checks[i]
		if err := c.Validate(); err != nil {
			return nil, err
		}
		if seen[c.Key] {
			return nil, &FieldError{Key: c.Key, Field: "Key", Msg: "endpoint checked twice"}
		}
		seen[c.Key] = true
		d := c.withDefaults()
		ch := &checker{c: d, probe: newProbe(d), m: p.metrics.forCheck(d), up: cfg.Initial, changed: make(chan struct{}, 1)}
		ch.obs.Store(&Observation{Key: d.Key, Up: cfg.Initial})
		ch.m.up.Set(b2f(cfg.Initial))
		p.checks = append(p.checks, ch)
	}
	return p, nil
}

// States returns the current observation of every check, in the order of
// Config.Checks. A check not probed yet has a zero At and Config.Initial.
func (p *Prober) States() []Observation {
	out := make([]Observation, len(p.checks))
	for i, ch := range p.checks {
		out[i] = *ch.obs.Load()
	}
	return out
}

// Run probes and reports until ctx is done, then waits for its goroutines,
// deletes its checks' metric series and returns nil. A Prober runs once;
// a new Prober on the same Registerer (after a reload) shares the
// collectors.
func (p *Prober) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return errors.New("probes: Run called twice")
	}
	var wg sync.WaitGroup
	for _, ch := range p.checks {
		wg.Go(func() { p.loop(ctx, ch) })
		if p.reporter != nil {
			wg.Go(func() { p.reportLoop(ctx, ch) })
		}
	}
	<-ctx.Done()
	wg.Wait()
	for _, ch := range p.checks {
		p.metrics.forget(ch.c)
	}
	return nil
}

// loop runs ch's probes: the first at a random offset in [0, Interval),
// then one per jittered interval, measured start to start.
func (p *Prober) loop(ctx context.Context, ch *checker) {
	// Jitter needs no secure randomness, only a spread of load.
	t := time.NewTimer(time.Duration(rand.Int64N(int64(ch.c.Interval)))) //nolint:gosec // G404: see above

	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		p.step(ctx, ch)
		next := jittered(ch.c.Interval, ch.c.Jitter, rand.Float64()) //nolint:gosec // G404: load spreading
		t.Reset(max(0, next-time.Since(start)))
	}
}

// jittered is interval varied by up to jitter*interval either way, for r
// in [0, 1).
func jittered(interval time.Duration, jitter, r float64) time.Duration {
	return interval + time.Duration((2*r-1)*jitter*float64(interval))
}

// step runs one probe of ch and publishes its outcome. A probe cut short
// because ctx is done counts for nothing.
func (p *Prober) step(ctx context.Context, ch *checker) {
	start := time.Now()
	err := p.safeProbe(ctx, ch)
	latency := time.Since(start)
	if ctx.Err() != nil {
		return
	}
	ch.m.duration.Observe(latency.Seconds())
	o := Observation{Key: ch.c.Key, Latency: latency, At: start}
	if err != nil {
		ch.m.failure.Inc()
		o.Err = err.Error()
	} else {
		ch.m.success.Inc()
	}
	changed := ch.judge(err == nil)
	o.Up = ch.up
	ch.obs.Store(&o)
	if !changed {
		return
	}
	ch.reportable.Store(true)
	ch.m.up.Set(b2f(ch.up))
	k := ch.c.Key
	if ch.up {
		p.log.Info("endpoint up", "pool", k.Pool, "region", k.Region, "endpoint", k.Endpoint)
	} else {
		p.log.Warn("endpoint down", "pool", k.Pool, "region", k.Region, "endpoint", k.Endpoint, "err", o.Err)
	}
	select {
	case ch.changed <- struct{}{}:
	default: // a change is pending already: the report sends the latest
	}
}

// judge counts one result and reports whether the state changed: Rise
// consecutive successes bring a down endpoint up, Fall consecutive failures
// bring an up endpoint down. The first decision (Rise successes or Fall
// failures in a row, from the start) is a change even when it agrees with
// Config.Initial: it is the first state worth reporting.
func (ch *checker) judge(ok bool) bool {
	if !ch.decided {
		if ch.streak == 0 || ok != ch.okRun {
			ch.okRun, ch.streak = ok, 0
		}
		ch.streak++
		need := ch.c.Fall
		if ok {
			need = ch.c.Rise
		}
		if ch.streak < need {
			return false
		}
		ch.up, ch.decided, ch.streak = ok, true, 0
		return true
	}
	if ok == ch.up {
		ch.streak = 0
		return false
	}
	ch.streak++
	need := ch.c.Fall
	if ok {
		need = ch.c.Rise
	}
	if ch.streak < need {
		return false
	}
	ch.up, ch.streak = ok, 0
	return true
}

// safeProbe runs ch's probe within its Timeout; a panic is a failure
// (and a bug), not the end of the check.
func (p *Prober) safeProbe(ctx context.Context, ch *checker) (err error) {
	defer func() {
		if r := recover(); r != nil {
			k := ch.c.Key
			p.log.Error("probe panicked", "pool", k.Pool, "region", k.Region, "endpoint", k.Endpoint,
				"panic", r, "stack", string(debug.Stack()))
			err = fmt.Errorf("probe panicked: %v", r)
		}
	}()
	pctx, cancel := context.WithTimeout(ctx, ch.c.Timeout)
	defer cancel()
	err = ch.probe(pctx)
	if err != nil && ctx.Err() == nil && errors.Is(pctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("timeout after %s", ch.c.Timeout)
	}
	return err
}

// reportLoop reports ch's state until ctx is done: a change at once, the
// current state again Refresh after the last report, and, after a report
// that failed, the current state again after a backoff (retry), until one
// is delivered. A check has one report goroutine, so a report that waits or
// retries holds up no other endpoint, and one pending report: its latest
// observation, which supersedes the one that failed rather than queueing
// behind it.
func (p *Prober) reportLoop(ctx context.Context, ch *checker) {
	refresh := time.NewTimer(p.refresh)
	defer refresh.Stop()
	again := time.NewTimer(time.Hour)
	again.Stop()
	defer again.Stop()
	k := ch.c.Key
	failures := 0 // consecutive failed reports
	var failedSince time.Time
	defer func() {
		if failures > 0 {
			p.metrics.pending.Dec()
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ch.changed:
		case <-again.C:
		case <-refresh.C:
			if !ch.reportable.Load() {
				refresh.Reset(p.refresh)
				continue
			}
		}
		err := p.report(ctx, *ch.obs.Load())
		if ctx.Err() != nil {
			return
		}
		refresh.Reset(p.refresh)
		if err == nil {
			if failures > 0 {
				p.metrics.pending.Dec()
				p.log.Info("report delivered", "pool", k.Pool, "region", k.Region, "endpoint", k.Endpoint,
					"attempts", failures+1, "after", time.Since(failedSince).Round(time.Millisecond))
			}
			failures = 0
			again.Stop()
			continue
		}
		failures++
		if failures == 1 {
			failedSince = time.Now()
			p.metrics.pending.Inc()
			p.log.Warn("report failed; retrying", "pool", k.Pool, "region", k.Region, "endpoint", k.Endpoint, "err", err)
		} else {
			p.log.Debug("report failed again", "pool", k.Pool, "region", k.Region, "endpoint", k.Endpoint,
				"attempts", failures, "err", err)
		}
		// Jitter needs no secure randomness, only a spread of load.
		again.Reset(retry.Delay(failures, rand.Float64())) //nolint:gosec // G404: see above
	}
}

// report hands o to the Reporter, within reportTimeout, and counts the
// result.
func (p *Prober) report(ctx context.Context, o Observation) error {
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("reporter panicked: %v", r)
			}
		}()
		rctx, cancel := context.WithTimeout(ctx, p.reportTimeout)
		defer cancel()
		return p.reporter.Report(rctx, o)
	}()
	switch {
	case ctx.Err() != nil:
	case err != nil:
		p.metrics.reports.WithLabelValues("failure").Inc()
	default:
		p.metrics.reports.WithLabelValues("success").Inc()
	}
	return err
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
