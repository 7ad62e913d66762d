package proxy

import (
	"log/slog"
	"net/netip"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/probes"
)

// Config configures a Proxy. Zero values mean the documented defaults.
type Config struct {
	// Listeners are the addresses served.
	Listeners []Listener
	// Routes map requests to pools; the first route that matches wins.
	Routes []Route
	// Pools are the backend pools, by name.
	Pools []Pool
	// TrustedProxies are the peers whose X-Forwarded-For and Forwarded
	// headers are believed (and extended); from anyone else they are
	// replaced by the peer's own address.
	TrustedProxies []netip.Prefix
	// Limits bound what a client may send.
	Limits Limits
	// RateLimit limits each client address (token bucket); zero Rate: off.
	RateLimit RateLimit
	// StickySecret signs the session persistence cookies (at least 32
	// bytes). Required when a pool has Sticky.
	StickySecret []byte
	// DrainTimeout bounds a graceful stop: listeners close at once, requests
	// in flight get this long to finish (default 30s).
	DrainTimeout time.Duration
	// Capacity is the region's capacity in requests in flight, against
	// which Load reports utilisation (default: the sum of the backends'
	// MaxConns, or 1000 when none is set).
	Capacity int
	// AccessLog receives one structured record per request (nil: none).
	AccessLog *slog.Logger
	// Logger receives the proxy's own logs (default: discarded).
	Logger *slog.Logger
	// Registerer receives the proxy's metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// Listener is an address served over HTTP, or HTTPS when Certs is set.
type Listener struct {
	// Addr is host:port.
	Addr string
	// Certs are the certificates served; the one whose names match the
	// client's SNI is chosen (the first when none matches or no SNI).
	Certs []Cert
	// HTTP2 offers HTTP/2 over TLS (ALPN h2) besides HTTP/1.1.
	HTTP2 bool
}

// Cert is a certificate and its key, PEM files.
type Cert struct {
	CertFile, KeyFile string
}

// Route sends matching requests to a pool.
type Route struct {
	// Host matches the request's host without port: exact, "*.example.com"
	// (any subdomain), or "" (any).
	Host string
	// PathPrefix matches the path's leading segments ("/api" matches /api
	// and /api/x, not /apix); "" or "/" matches every path. It is matched
	// against the percent-decoded path with repeated slashes merged, while
	// the backend receives the path as the client sent it; so that both
	// read the same path, a request whose path has a dot-segment ("." or
	// "..") or an encoded dot or slash (%2e, %2f, any case) is refused with
	// 400 before routing.
	PathPrefix string
	// Pool names the pool.
	Pool string
}

// Pool is a set of backends and how to balance and guard them.
type Pool struct {
	Name string
	// Algorithm is one of balance.Algorithms (default round_robin).
	Algorithm string
	// HashHeader or HashCookie names the consistent_hash key (one of them
	// for that algorithm).
	HashHeader, HashCookie string
	Backends               []Backend
	// Sticky, when set, pins a client to its backend with a signed cookie
	// while that backend is usable.
	Sticky *Sticky
	// Check, when set, is the active health check of every backend: Key and
	// Target are filled in per backend.
	Check *probes.Check
	// Passive ejection: ConsecutiveFailures (connection errors or 5xx) in
	// a row eject a backend for EjectFor, doubled at each ejection in a row
	// up to MaxEjectFor; 0 failures: off.
	ConsecutiveFailures int
	EjectFor            time.Duration // default 10s
	MaxEjectFor         time.Duration // default 5m
	// SlowStart ramps a returning backend's weight from 10% to 100% over
	// this long (0: at once).
	SlowStart time.Duration
	// ConnectTimeout bounds dialing a backend (default 2s); TryTimeout one
	// attempt, up to the response headers (default 15s); Timeout the whole
	// request with its retries (default 30s).
	ConnectTimeout, TryTimeout, Timeout time.Duration
	// Retries is how many other backends are tried after a failure:
	// always for a connection that failed before the request was sent,
	// and for idempotent requests (GET, HEAD, OPTIONS, PUT, DELETE, TRACE)
	// on a timeout or a 502/503/504 too (default 2; -1 disables).
	Retries int
	// MaxIdleConns is the number of idle connections kept per backend
	// (default 64).
	MaxIdleConns int
}

// Backend is a server of a pool.
type Backend struct {
	Name string
	// Addr is host:port.
	Addr   string
	Weight int // default 1
	// MaxConns caps requests in flight to it; 0: no cap.
	MaxConns int
}

// Sticky configures session persistence.
type Sticky struct {
	// Cookie is the cookie's name (default "aya_sticky").
	Cookie string
	// TTL is the cookie's Max-Age (0: a session cookie).
	TTL time.Duration
}

// Limits bound requests.
type Limits struct {
	MaxHeaderBytes    int           // default 64 KiB
	MaxBodyBytes      int64         // default 32 MiB; 0 after defaults never
	ReadHeaderTimeout time.Duration // default 10s
	IdleTimeout       time.Duration // keep-alive idle, default 60s
	MaxConns          int           // client connections, default 10000
}

// RateLimit is a per-client-address token bucket.
type RateLimit struct {
	Rate  float64 // requests per second; 0: off
	Burst int     // default Rate rounded up
}

// Load is what the proxy reports of its region.
type Load struct {
	InFlight    int64
	Capacity    int
	Utilisation float64 // InFlight / Capacity
	RPS         float64 // requests per second over the last window
	P99         time.Duration
}
