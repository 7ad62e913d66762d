package proxy

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's Prometheus collectors. Label values are bound
// when the proxy is built, so the request path only increments.
type metrics struct {
	reg         prometheus.Registerer
	requests    *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	retries     *prometheus.CounterVec
	failures    *prometheus.CounterVec
	rateLimited prometheus.Counter
	unrouted    codeCounters // requests with no pool: 404, 429 and the like

	refusedVec   *prometheus.CounterVec
	refused      [numConnRefusals]prometheus.Counter // by connRefusal
	rejectedVec  *prometheus.CounterVec
	rejected     [numRejections]prometheus.Counter // by rejection
	acceptErrors prometheus.Counter
}

// connRefusal is why a client connection was closed as it was accepted.
type connRefusal int

const (
	refusedMaxConns connRefusal = iota
	refusedPerClient
	numConnRefusals
)

var connRefusalNames = [numConnRefusals]string{"max_conns", "max_conns_per_client"}

// rejection is why a client's request was refused for its own fault.
type rejection int

const (
	rejectNone           rejection = iota
	rejectHeaderTimeout            // the header did not arrive within read_header_timeout
	rejectHeaderTooLarge           // over max_header_bytes
	rejectTooManyHeaders           // over max_headers
	rejectBadRequest               // a header that does not parse
	rejectBodyIdle                 // body silent for idle_timeout
	rejectBodyTimeout              // body not received within body_timeout
	rejectSlowUpload               // body slower than min_upload_rate
	rejectBodyTooLarge             // over max_body_bytes
	rejectBodyBroken               // body cut short or malformed
	numRejections
)

var rejectionNames = [numRejections]string{"", "header_timeout", "header_too_large", "too_many_headers",
	"bad_request", "body_idle", "body_timeout", "slow_upload", "body_too_large", "body_broken"}

// codeCounters are the requests_total counters of one pool and backend,
// by status class (index status/100).
type codeCounters [6]prometheus.Counter

func (c *codeCounters) inc(status int) {
	k := status / 100
	if k < 1 || k > 5 {
		k = 0
	}
	c[k].Inc()
}

// poolMetrics are the collectors of one pool.
type poolMetrics struct {
	duration prometheus.Observer
	retries  prometheus.Counter
	codes    codeCounters // requests that reached no backend
	failures [numFailures]prometheus.Counter
}

var codeClasses = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		reg: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_proxy_requests_total",
			Help: "Requests answered, by pool, backend and status class (backend empty: answered by the proxy).",
		}, []string{"pool", "backend", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "aya_proxy_request_duration_seconds",
			Help:    "Time from a request's arrival to its response headers, by pool.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"pool"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_proxy_retries_total",
			Help: "Tries beyond the first, by pool.",
		}, []string{"pool"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_proxy_try_failures_total",
			Help: "Tries that failed, by pool and reason; local_resources, conn_limit, abandoned and client are not held against the backend.",
		}, []string{"pool", "reason"}),
		rateLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aya_proxy_rate_limited_total",
			Help: "Requests refused by the per-client rate limit.",
		}),
		refusedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_proxy_connections_refused_total",
			Help: "Client connections closed as they were accepted, by reason: max_conns, max_conns_per_client.",
		}, []string{"reason"}),
		rejectedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_proxy_client_rejections_total",
			Help: "Requests refused for the client's fault (408, 413, 431, 400), by reason.",
		}, []string{"reason"}),
		acceptErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aya_proxy_accept_errors_total",
			Help: "Failed accepts of client connections (EMFILE and the like), each retried after a backoff.",
		}),
	}
	if reg != nil {
		// A proxy built to replace another (a reload) on the same
		// registry carries its counters on.
		var err error
		if m.requests, err = registerOrReuse(reg, m.requests); err != nil {
			return nil, err
		}
		if m.duration, err = registerOrReuse(reg, m.duration); err != nil {
			return nil, err
		}
		if m.retries, err = registerOrReuse(reg, m.retries); err != nil {
			return nil, err
		}
		if m.failures, err = registerOrReuse(reg, m.failures); err != nil {
			return nil, err
		}
		if m.rateLimited, err = registerOrReuse(reg, m.rateLimited); err != nil {
			return nil, err
		}
		if m.refusedVec, err = registerOrReuse(reg, m.refusedVec); err != nil {
			return nil, err
		}
		if m.rejectedVec, err = registerOrReuse(reg, m.rejectedVec); err != nil {
			return nil, err
		}
		if m.acceptErrors, err = registerOrReuse(reg, m.acceptErrors); err != nil {
			return nil, err
		}
	}
	for i, name := range connRefusalNames {
		m.refused[i] = m.refusedVec.WithLabelValues(name)
	}
	for i, name := range rejectionNames[1:] {
		m.rejected[i+1] = m.rejectedVec.WithLabelValues(name)
	}
	m.unrouted = m.codes("", "")
	return m, nil
}

// reject counts a request refused for reason r (rejectNone: none).
func (m *metrics) reject(r rejection) {
	if r != rejectNone {
		m.rejected[r].Inc()
	}
}

// registerOrReuse registers c with reg, or returns the equal collector
// registered before.
func registerOrReuse[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
		if old, ok := are.ExistingCollector.(C); ok {
			return old, nil
		}
	}
	return c, err
}

// codes returns the requests_total counters of a pool and backend.
func (m *metrics) codes(pool, backend string) codeCounters {
	var c codeCounters
	for k, class := range codeClasses {
		c[k] = m.requests.WithLabelValues(pool, backend, class)
	}
	return c
}

// pool returns the collectors of a pool.
func (m *metrics) pool(name string) *poolMetrics {
	pm := &poolMetrics{
		duration: m.duration.WithLabelValues(name),
		retries:  m.retries.WithLabelValues(name),
		codes:    m.codes(name, ""),
	}
	for f, reason := range failureReasons {
		pm.failures[f] = m.failures.WithLabelValues(name, reason)
	}
	return pm
}

var (
	clientConnsDesc = prometheus.NewDesc("aya_proxy_client_connections",
		"Client connections open.", nil, nil)
	backendInFlightDesc = prometheus.NewDesc("aya_proxy_backend_in_flight",
		"Requests in flight to a backend.", []string{"pool", "backend"}, nil)
)

// gauges reports the proxy's live gauges, read at collection time. Serve
// registers it in place of any equal collector, so that of two proxies on
// one registry (a reload), the one serving last is reported.
type gauges struct{ p *Proxy }

// Describe implements prometheus.Collector.
func (g gauges) Describe(ch chan<- *prometheus.Desc) {
	ch <- clientConnsDesc
	ch <- backendInFlightDesc
}

// Collect implements prometheus.Collector.
func (g gauges) Collect(ch chan<- prometheus.Metric) {
	ch <- prometheus.MustNewConstMetric(clientConnsDesc, prometheus.GaugeValue, float64(g.p.conns.n.Load()))
	for _, pl := range g.p.pools {
		for i, b := range pl.backends {
			ch <- prometheus.MustNewConstMetric(backendInFlightDesc, prometheus.GaugeValue, float64(pl.bal.InFlight(i)), pl.name, b.name)
		}
	}
}

// registerGauges registers the proxy's gauges, replacing those of a proxy
// that served before on the same registry.
func (p *Proxy) registerGauges() error {
	if p.m.reg == nil {
		return nil
	}
	g := gauges{p}
	p.m.reg.Unregister(g)
	return p.m.reg.Register(g)
}
