package dnsserver

import (
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the server's Prometheus metrics. Label values are bounded:
// QTYPEs and RCODEs outside a fixed set count as "other".
type metrics struct {
	queries *prometheus.CounterVec
	latency [numTransports]prometheus.Observer
	dropped prometheus.Counter
	// udpReadErrors counts failed reads of a UDP socket (serveUDP).
	udpReadErrors prometheus.Counter
	panics        prometheus.Counter
	tcpConns      prometheus.Gauge
	tcpMax        prometheus.Gauge
	tcpRejected   [numRejectReasons]prometheus.Counter
	tcpClosed     [numCloseReasons]prometheus.Counter
	reloads       *prometheus.CounterVec
	zones         prometheus.Gauge
	zoneSerial    *prometheus.GaugeVec
	zoneRecords   *prometheus.GaugeVec
	steered       *prometheus.CounterVec
	unsigned      *prometheus.CounterVec
	// rrl and rrlLogOnly count limited responses by action (rrlDrop,
	// rrlSlip): dropped or slipped, or sent whole in log-only mode.
	rrl        [3]prometheus.Counter
	rrlLogOnly [3]prometheus.Counter
	rrlStarts  prometheus.Counter
	rrlMode    *prometheus.GaugeVec
	cookies    [numCookieStates]prometheus.Counter
	notify     *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "aya_dns_request_duration_seconds",
		Help: "Time from a query read to its reply written, by transport.",
		// 1µs to ~4ms: answers are in-memory.
		Buckets: prometheus.ExponentialBuckets(1e-6, 2, 13),
	}, []string{"transport"})
	m := &metrics{
		queries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_dns_queries_total",
			Help: `Queries answered, by zone ("none" outside our zones or unparsable), query type, response code and transport.`,
		}, []string{"zone", "qtype", "rcode", "transport"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aya_dns_dropped_total",
			Help: "Packets dropped without a reply: shorter than a header, or with QR set.",
		}),
		udpReadErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aya_dns_udp_read_errors_total",
			Help: "Reads of a UDP socket that failed (not for want of a datagram): out of kernel memory, or a bug. A reader whose reads keep failing retries up to four times a second, and logs at each doubling of its run.",
		}),
		panics: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aya_dns_handler_panics_total",
			Help: "Queries whose handling panicked (a bug: please report it); they got no reply.",
		}),
		tcpConns: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aya_dns_tcp_connections",
			Help: "Open TCP connections.",
		}),
		tcpMax: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aya_dns_tcp_max_connections",
			Help: "The cap on open TCP connections: dns.tcp.max_connections per listen address, times the addresses.",
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_dns_zone_reloads_total",
			Help: `Zone directory loads, by result ("success", or "failure" when a zone did not parse and kept its previous version).`,
		}, []string{"result"}),
		zones: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aya_dns_zones",
			Help: "Zones being served.",
		}),
		zoneSerial: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aya_dns_zone_serial",
			Help: "SOA serial of each zone being served.",
		}, []string{"zone"}),
		zoneRecords: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "aya_dns_zone_records",
			Help: "Records in each zone being served.",
		}, []string{"zone"}),
	}
	m.steered = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_gslb_answers_total",
		Help: `Answers for names bound to a pool, by pool and outcome: the region answered from, "fallback" (the pool's fallback addresses) or "servfail".`,
	}, []string{"pool", "outcome"})
	m.unsigned = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_dns_unsigned_answers_total",
		Help: "Steered answers to queries with the DO bit, in a signed zone, sent without signatures: the release had no signed set for the addresses the pool answered (validators see them as bogus; the release's signatures do not match its pools).",
	}, []string{"zone"})
	for tr := range numTransports {
		m.latency[tr] = latency.WithLabelValues(tr.String())
	}
	m.rrl[rrlDrop] = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aya_dns_rrl_dropped_total",
		Help: "UDP responses dropped by response rate limiting (dns.rrl).",
	})
	m.rrl[rrlSlip] = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aya_dns_rrl_slipped_total",
		Help: "UDP responses rate limiting sent as a minimal truncated (TC=1) reply instead (dns.rrl.slip).",
	})
	logOnly := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_dns_rrl_log_only_total",
		Help: `UDP responses rate limiting would have dropped or slipped ("action"), sent whole because of dns.rrl.log_only.`,
	}, []string{"action"})
	m.rrlLogOnly[rrlDrop] = logOnly.WithLabelValues("drop")
	m.rrlLogOnly[rrlSlip] = logOnly.WithLabelValues("slip")
	m.rrlStarts = prometheus.NewCounter(prometheus.CounterOpts{
		Name: "aya_dns_rrl_limiting_started_total",
		Help: "Times an account of rate limiting (client prefix, response kind and name) ran out of credit: limiting started.",
	})
	m.rrlMode = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aya_dns_rrl_mode",
		Help: `Response rate limiting mode: 1 for the one in force ("on", "log_only" or "off"), 0 for the others.`,
	}, []string{"mode"})
	cookies := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_dns_cookies_total",
		Help: `Queries with a DNS cookie (RFC 7873), by what they carried: "client_only", a "valid" server cookie of ours, or an "invalid" (or expired) one.`,
	}, []string{"state"})
	for i, name := range cookieStateNames {
		m.cookies[i] = cookies.WithLabelValues(name)
	}
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_dns_tcp_rejected_total",
		Help: `TCP connections closed at accept, by reason: "per_client" (the client had dns.tcp.max_connections_per_client open) or "full" (dns.tcp.max_connections open, none of them idle).`,
	}, []string{"reason"})
	for r := range numRejectReasons {
		m.tcpRejected[r] = rejected.WithLabelValues(r.String())
	}
	closed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_dns_tcp_closed_total",
		Help: `TCP connections closed, by reason: "client", "idle", "lifetime" (dns.tcp.max_lifetime), "max_queries" (dns.tcp.max_queries), "malformed" (a zero-length message), "evicted" (idle longest when a new connection needed the slot), "error" or "shutdown".`,
	}, []string{"reason"})
	for r := range numCloseReasons {
		m.tcpClosed[r] = closed.WithLabelValues(r.String())
	}
	m.notify = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_dns_notify_total",
		Help: `NOTIFY messages (RFC 1996) to the dns.notify secondaries, by zone and result: "ok" (answered NOERROR), "rejected" (answered with another rcode), "timeout" (no answer to any try), "superseded" (a newer serial replaced it first) or "error" (could not be sent).`,
	}, []string{"zone", "result"})
	if reg != nil {
		reg.MustRegister(m.notify)
		reg.MustRegister(m.queries, latency, m.dropped, m.udpReadErrors, m.panics, m.tcpConns, m.tcpMax, rejected, closed,
			m.reloads, m.zones, m.zoneSerial, m.zoneRecords, m.steered, m.unsigned,
			m.rrl[rrlDrop], m.rrl[rrlSlip], logOnly, m.rrlStarts, m.rrlMode, cookies)
	}
	return m
}

// setRRLMode sets the aya_dns_rrl_mode gauge to mode.
func (m *metrics) setRRLMode(mode string) {
	for _, k := range [...]string{"on", "log_only", "off"} {
		v := 0.0
		if k == mode {
			v = 1
		}
		m.rrlMode.WithLabelValues(k).Set(v)
	}
}

func (m *metrics) count(zone string, qtype uint16, rcode int, tr transport) {
	m.queries.WithLabelValues(zone, qtypeLabel(qtype), rcodeLabel(rcode), tr.String()).Inc()
}

func (m *metrics) published(zs *Zones) {
	m.zones.Set(float64(len(zs.byOrigin)))
	m.zoneSerial.Reset()
	m.zoneRecords.Reset()
	for _, z := range zs.List() {
		m.zoneSerial.WithLabelValues(z.Origin).Set(float64(z.Serial()))
		m.zoneRecords.WithLabelValues(z.Origin).Set(float64(z.Len()))
		if z.Signatures() != nil {
			// A signed zone's series exists from its first publish, at 0,
			// so that an alert on its increase sees the first one.
			m.unsigned.WithLabelValues(z.Origin)
		}
	}
}

// labelledTypes are the QTYPEs with a label of their own.
var labelledTypes = map[uint16]bool{
	dns.TypeA: true, dns.TypeAAAA: true, dns.TypeCNAME: true, dns.TypeMX: true,
	dns.TypeNS: true, dns.TypeSOA: true, dns.TypeTXT: true, dns.TypeSRV: true,
	dns.TypePTR: true, dns.TypeCAA: true, dns.TypeHTTPS: true, dns.TypeSVCB: true,
	dns.TypeDS: true, dns.TypeDNSKEY: true, dns.TypeANY: true, dns.TypeAXFR: true,
	dns.TypeIXFR: true, dns.TypeNAPTR: true,
}

func qtypeLabel(t uint16) string {
	if labelledTypes[t] {
		return dns.TypeToString[t]
	}
	return "other"
}

func rcodeLabel(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok && rc <= dns.RcodeBadVers {
		return s
	}
	return "other"
}
