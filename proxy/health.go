package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/proxy/balance"
	"github.com/aya-gslb/aya/state"
)

// Slow start ramps from slowStartFrom of the weight to all of it, in steps
// of SlowStart/slowStartSteps or slowStartMaxStep, whichever is smaller.
const (
	slowStartFrom    = 0.1
	slowStartSteps   = 20
	slowStartMaxStep = time.Second
)

// healthCheckRegion is the Region of the proxy's active checks' keys: the
// probes package wants one, and a proxy's backends are in its own region.
const healthCheckRegion = "-"

// poolHealth decides which backends of a pool are usable, and drives its
// Balancer: a backend is up (SetUp true) when its active check says so (or
// there is none) and passive ejection has not taken it out; a backend that
// comes back (from an ejection or a failed check) ramps up its weight over
// SlowStart (SetScale).
//
// Until its active check first decides, a backend is up: a proxy that
// starts must not refuse all traffic.
//
// observe is on the request path: it costs an atomic load or two unless it
// ejects. Everything else happens under mu.
type poolHealth struct {
	pool        string
	bal         balance.Balancer
	log         *slog.Logger
	threshold   int64 // ConsecutiveFailures; 0: no passive ejection
	ejectFor    time.Duration
	maxEjectFor time.Duration
	slowStart   time.Duration
	prober      *probes.Prober // nil: no active check
	byName      map[string]int
	backends    []*backendHealth
	// wake tells run that an ejection or a ramp started (a new deadline).
	wake chan struct{}
	// onUsable, when set, is told each change of a backend's usability,
	// with mu held (see pool.setUsable).
	onUsable func(i int, usable bool)

	mu sync.Mutex
}

// backendHealth is one backend's health. The atomics are read by observe
// without mu; the other fields are guarded by poolHealth.mu.
type backendHealth struct {
	name    string
	fails   atomic.Int64 // consecutive passive failures
	ejected atomic.Bool

	checkUp      bool          // the active check's verdict (true without one)
	ejectedUntil time.Time     // when ejected
	ejections    int           // ejections in a row, each right after the last one ended
	lastEject    time.Duration // how long the last ejection was
	returned     time.Time     // when the last ejection ended
	rampFrom     time.Time     // when the slow start began; zero: at full weight
	scale        float64
	usable       bool // as last told to the Balancer

	up         prometheus.Gauge
	ejectTotal prometheus.Counter
}

// healthStatus is a backend's health, for metrics and logs.
type healthStatus struct {
	Name string
	// Up is the active check's verdict (true when there is none).
	Up bool
	// EjectedUntil is when a passive ejection ends; zero when not ejected.
	EjectedUntil time.Time
	// Scale is the slow-start weight scale in (0, 1].
	Scale float64
	// Usable is Up and not ejected: what the Balancer was told.
	Usable bool
}

// newPoolHealth builds the health of p, a pool of a validated Config
// with its defaults, every backend usable. Nothing runs until run.
func newPoolHealth(p Pool, bal balance.Balancer, log *slog.Logger, reg prometheus.Registerer) (*poolHealth, error) {
	if len(bal.Backends()) != len(p.Backends) {
		return nil, fmt.Errorf("balancer has %d backends, pool %d", len(bal.Backends()), len(p.Backends))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	h := &poolHealth{
		pool:        p.Name,
		bal:         bal,
		log:         log,
		threshold:   int64(p.ConsecutiveFailures),
		ejectFor:    p.EjectFor,
		maxEjectFor: p.MaxEjectFor,
		slowStart:   p.SlowStart,
		byName:      make(map[string]int, len(p.Backends)),
		wake:        make(chan struct{}, 1),
	}
	m, err := newHealthMetrics(reg)
	if err != nil {
		return nil, err
	}
	var checks []probes.Check
	for i, b := range p.Backends {
		h.byName[b.Name] = i
		h.backends = append(h.backends, &backendHealth{
			name:       b.Name,
			checkUp:    true,
			scale:      1,
			usable:     true,
			up:         m.up.WithLabelValues(p.Name, b.Name),
			ejectTotal: m.ejections.WithLabelValues(p.Name, b.Name),
		})
		h.backends[i].up.Set(1)
		bal.SetUp(i, true)
		bal.SetScale(i, 1)
		if p.Check == nil {
			continue
		}
		target, err := netip.ParseAddrPort(b.Addr)
		if err != nil {
			return nil, fmt.Errorf("backend %q: check target: %w", b.Name, err)
		}
		c := *p.Check
		c.Key = state.EndpointKey{Pool: p.Name, Region: healthCheckRegion, Endpoint: b.Name}
		c.Target = target
		checks = append(checks, c)
	}
	if p.Check != nil {
		pr, err := probes.New(probes.Config{
			Checks:     checks,
			Reporter:   healthReporter{h},
			Logger:     log,
			Registerer: reg,
			Initial:    true,
		})
		if err != nil {
			return nil, err
		}
		h.prober = pr
	}
	return h, nil
}

// observe records the outcome of a request to backend i: ok is false for
// a failure that is the backend's fault (a connection error, a timeout,
// see failure.backendFault) or a 5xx. The proxy's own failures (out of
// file descriptors or ports, its connection cap, a try abandoned because
// the backend was marked down, the client's body) are never observed.
// ConsecutiveFailures in a row
// eject the backend; a success resets the count. Outcomes of requests that
// end while it is ejected count for nothing.
func (h *poolHealth) observe(i int, ok bool) {
	if h.threshold == 0 || i < 0 || i >= len(h.backends) {
		return
	}
	b := h.backends[i]
	if ok {
		if b.fails.Load() != 0 {
			b.fails.Store(0)
		}
		return
	}
	if b.ejected.Load() || b.fails.Add(1) < h.threshold {
		return
	}
	h.mu.Lock()
	h.eject(b, i, time.Now())
	h.mu.Unlock()
	h.poke()
}

// eject takes backend b (index i) out for EjectFor, doubled for each
// ejection in a row up to MaxEjectFor. An ejection is in a row with the
// previous one when it comes less than the previous one's duration after
// the backend returned: a backend that fails again at once is out twice as
// long, one that behaved for as long as it was out starts over. Called
// with mu held.
func (h *poolHealth) eject(b *backendHealth, i int, now time.Time) {
	if b.ejected.Load() {
		return // another failure got here first
	}
	if b.ejections > 0 && now.Sub(b.returned) < b.lastEject {
		b.ejections++
	} else {
		b.ejections = 1
	}
	d := h.ejectFor
	for range b.ejections - 1 {
		if d >= h.maxEjectFor/2 {
			d = h.maxEjectFor
			break
		}
		d *= 2
	}
	d = min(d, h.maxEjectFor)
	b.ejectedUntil, b.lastEject, b.rampFrom = now.Add(d), d, time.Time{}
	b.ejected.Store(true)
	b.fails.Store(0)
	b.ejectTotal.Inc()
	h.log.Warn("backend ejected", "pool", h.pool, "backend", b.name, "for", d, "in_a_row", b.ejections)
	h.apply(b, i)
}

// checked records the active check's verdict on the named backend.
func (h *poolHealth) checked(name string, up bool) {
	i, ok := h.byName[name]
	if !ok {
		return
	}
	h.mu.Lock()
	b := h.backends[i]
	if b.checkUp == up {
		h.mu.Unlock()
		return
	}
	b.checkUp = up
	ramp := up && !b.ejected.Load() && h.slowStart > 0
	if ramp {
		h.startRamp(b, i, time.Now())
	}
	h.apply(b, i)
	h.mu.Unlock()
	if ramp {
		h.poke()
	}
}

// startRamp starts backend b's slow start at now. Called with mu held.
func (h *poolHealth) startRamp(b *backendHealth, i int, now time.Time) {
	b.rampFrom = now
	b.scale = slowStartFrom
	h.bal.SetScale(i, b.scale)
}

// apply tells the Balancer (and the up gauge, and onUsable) whether b is
// usable, when that changed. Called with mu held.
func (h *poolHealth) apply(b *backendHealth, i int) {
	usable := b.checkUp && !b.ejected.Load()
	if usable == b.usable {
		return
	}
	b.usable = usable
	h.bal.SetUp(i, usable)
	if h.onUsable != nil {
		h.onUsable(i, usable)
	}
	if usable {
		b.up.Set(1)
	} else {
		b.up.Set(0)
	}
}

// poke wakes run to recompute its next deadline.
func (h *poolHealth) poke() {
	select {
	case h.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// tick ends the ejections and advances the ramps due at now, and returns
// when it is next due (zero: nothing pending). Called with mu held.
func (h *poolHealth) tick(now time.Time) time.Time {
	var next time.Time
	due := func(t time.Time) {
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	step := min(h.slowStart/slowStartSteps, slowStartMaxStep)
	for i, b := range h.backends {
		if b.ejected.Load() {
			if now.Before(b.ejectedUntil) {
				due(b.ejectedUntil)
				continue
			}
			b.ejected.Store(false)
			b.fails.Store(0)
			b.ejectedUntil, b.returned = time.Time{}, now
			h.log.Info("backend returns from ejection", "pool", h.pool, "backend", b.name, "slow_start", h.slowStart)
			if h.slowStart > 0 {
				h.startRamp(b, i, now)
			}
			h.apply(b, i)
		}
		if b.rampFrom.IsZero() {
			continue
		}
		s := 1.0
		if elapsed := now.Sub(b.rampFrom); elapsed < h.slowStart {
			s = slowStartFrom + (1-slowStartFrom)*float64(elapsed)/float64(h.slowStart)
		}
		if s != b.scale {
			b.scale = s
			h.bal.SetScale(i, s)
		}
		if s >= 1 {
			b.rampFrom = time.Time{}
			continue
		}
		due(now.Add(step))
	}
	return next
}

// run runs the active checks, ends the ejections and advances the slow
// starts until ctx is done.
func (h *poolHealth) run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	if h.prober != nil {
		wg.Go(func() {
			if err := h.prober.Run(ctx); err != nil {
				h.log.Error("health checks", "pool", h.pool, "err", err)
			}
		})
	}
	t := time.NewTimer(time.Hour)
	t.Stop()
	defer t.Stop()
	for {
		h.mu.Lock()
		next := h.tick(time.Now())
		h.mu.Unlock()
		var c <-chan time.Time
		if !next.IsZero() {
			t.Reset(time.Until(next))
			c = t.C
		}
		select {
		case <-ctx.Done():
			return
		case <-c:
		case <-h.wake:
		}
	}
}

// state returns every backend's health, in the pool's order.
func (h *poolHealth) state() []healthStatus {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]healthStatus, len(h.backends))
	for i, b := range h.backends {
		out[i] = healthStatus{
			Name:         b.name,
			Up:           b.checkUp,
			EjectedUntil: b.ejectedUntil,
			Scale:        b.scale,
			Usable:       b.usable,
		}
	}
	return out
}

// healthReporter hands the active checks' verdicts to a poolHealth.
type healthReporter struct{ h *poolHealth }

// Report implements probes.Reporter.
func (r healthReporter) Report(_ context.Context, o probes.Observation) error {
	r.h.checked(o.Key.Endpoint, o.Up)
	return nil
}

// healthMetrics are the health metrics, by pool and backend.
type healthMetrics struct {
	up        *prometheus.GaugeVec
	ejections *prometheus.CounterVec
}

// newHealthMetrics returns the health metrics registered with reg (nil:
// not registered); pools on one registry share them.
func newHealthMetrics(reg prometheus.Registerer) (healthMetrics, error) {
	labels := []string{"pool", "backend"}
	m := healthMetrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aya_proxy_backend_up",
			Help: "Whether the backend is usable (1): its active check passes and it is not ejected.",
		}, labels),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_proxy_ejections_total",
			Help: "Passive ejections of the backend after consecutive failures.",
		}, labels),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.up, err = registerHealthCollector(reg, m.up); err != nil {
		return m, err
	}
	m.ejections, err = registerHealthCollector(reg, m.ejections)
	return m, err
}

// registerHealthCollector registers c, or returns the equal collector
// registered before.
func registerHealthCollector[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if old, ok := are.ExistingCollector.(C); ok {
			return old, nil
		}
	}
	return c, fmt.Errorf("register metrics: %w", err)
}
