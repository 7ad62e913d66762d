package admin

import (
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// Connection caps of the admin API: operators, the aya command line,
// members forwarding writes (a few kept-alive connections each) and
// scrapers need far fewer. A connection over a cap is closed at once.
const (
	MaxConns      = 256
	MaxConnsPerIP = 32
)

// limitListener closes at once the connections over MaxConns in total or
// MaxConnsPerIP from one address.
type limitListener struct {
	net.Listener
	open     prometheus.Gauge
	rejected *prometheus.CounterVec
	log      *slog.Logger
	logOnce  rate.Sometimes

	mu    sync.Mutex
	total int
	byIP  map[netip.Addr]int
}

func newLimitListener(ln net.Listener, reg prometheus.Registerer, log *slog.Logger) *limitListener {
	l := &limitListener{
		Listener: ln,
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aya_admin_connections", Help: "Connections open on the admin API.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_admin_connections_rejected_total",
			Help: "Connections to the admin API closed at accept, by the cap reached (total, per_ip).",
		}, []string{"reason"}),
		log:     log,
		logOnce: rate.Sometimes{Interval: 10 * time.Second},
		byIP:    make(map[netip.Addr]int),
	}
	if reg != nil {
		reg.MustRegister(l.open, l.rejected)
	}
	return l
}

// Accept implements the net.Listener interface.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var ip netip.Addr
		if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
			ip = a.AddrPort().Addr().Unmap()
		}
		reason := ""
		l.mu.Lock()
		switch {
		case l.total >= MaxConns:
			reason = "total"
		case l.byIP[ip] >= MaxConnsPerIP:
			reason = "per_ip"
		default:
			l.total++
			l.byIP[ip]++
		}
		l.mu.Unlock()
		if reason == "" {
			l.open.Inc()
			return &limitConn{Conn: c, l: l, ip: ip}, nil
		}
		// Counted before it is closed: a client that sees the close finds
		// it counted (a CI run of TestAdminConnCaps read the counter
		// between the two).
		l.rejected.WithLabelValues(reason).Inc()
		_ = c.Close()
		l.logOnce.Do(func() {
			l.log.Warn("admin connection refused (more are counted in aya_admin_connections_rejected_total, not logged for 10s)",
				"reason", reason, "remote", ip.String())
		})
	}
}

// limitConn gives its place back when closed.
type limitConn struct {
	net.Conn
	l    *limitListener
	ip   netip.Addr
	once sync.Once
}

// Close implements the net.Conn interface.
func (c *limitConn) Close() error {
	c.once.Do(func() {
		c.l.mu.Lock()
		c.l.total--
		if c.l.byIP[c.ip]--; c.l.byIP[c.ip] <= 0 {
			delete(c.l.byIP, c.ip)
		}
		c.l.mu.Unlock()
		c.l.open.Dec()
	})
	return c.Conn.Close()
}
