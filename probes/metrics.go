package probes

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the prober's Prometheus metrics, labelled by endpoint.
type metrics struct {
	up       *prometheus.GaugeVec
	duration *prometheus.HistogramVec
	results  *prometheus.CounterVec
	reports  *prometheus.CounterVec
	pending  prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer) *metrics {
	labels := []string{"pool", "region", "endpoint"}
	m := &metrics{
		up: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aya_probe_up",
			Help: "Whether this site judges the endpoint up (1) or down (0), after rise/fall.",
		}, labels),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "aya_probe_duration_seconds",
			Help: "Time a probe took, successful or not.",
			// 1ms to ~4s: probes cross the network, and time out.
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 13),
		}, labels),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_probe_results_total",
			Help: `Probes run, by result ("success" or "failure").`,
		}, append(labels, "result")),
		reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_probe_reports_total",
			Help: `Observations handed to the cluster, by result ("success", or "failure", retried after a backoff).`,
		}, []string{"result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aya_probe_reports_pending",
			Help: "Endpoints whose latest report failed and is being retried.",
		}),
	}
	if reg != nil {
		// A prober that replaces another (a reload) shares its collectors.
		m.up = register(reg, m.up)
		m.duration = register(reg, m.duration)
		m.results = register(reg, m.results)
		m.reports = register(reg, m.reports)
		m.pending = register(reg, m.pending)
	}
	return m
}

// register registers c, or returns the equal collector registered before.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		if are, ok := errors.AsType[prometheus.AlreadyRegisteredError](err); ok {
			if old, ok := are.ExistingCollector.(C); ok {
				return old
			}
		}
		panic(err)
	}
	return c
}

// forget deletes the series of c's check, when the prober stops.
func (m *metrics) forget(c Check) {
	p, r, e := c.Key.Pool, c.Key.Region, c.Key.Endpoint
	m.up.DeleteLabelValues(p, r, e)
	m.duration.DeleteLabelValues(p, r, e)
	m.results.DeleteLabelValues(p, r, e, "success")
	m.results.DeleteLabelValues(p, r, e, "failure")
}

// checkMetrics are the metrics of one check, with their labels bound.
type checkMetrics struct {
	up               prometheus.Gauge
	duration         prometheus.Observer
	success, failure prometheus.Counter
}

func (m *metrics) forCheck(c Check) checkMetrics {
	p, r, e := c.Key.Pool, c.Key.Region, c.Key.Endpoint
	return checkMetrics{
		up:       m.up.WithLabelValues(p, r, e),
		duration: m.duration.WithLabelValues(p, r, e),
		success:  m.results.WithLabelValues(p, r, e, "success"),
		failure:  m.results.WithLabelValues(p, r, e, "failure"),
	}
}
