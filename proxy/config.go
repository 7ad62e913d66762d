package proxy

import (
	"context"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/proxy/balance"
)

// Config configures a Proxy. It is also the schema of the proxy section of
// aya's configuration file: the yaml tags name the keys, which config
// decodes straight into these types. A zero field means its default, as
// WithDefaults (and so New) fills it in; decoding from YAML starts every
// item from its defaults instead, so that a value written as 0 stays 0
// and Validate can refuse it.
type Config struct {
	// Listeners are the addresses served (listeners); at least one.
	Listeners []Listener `yaml:"listeners"`
	// Routes map requests to pools, the first route that matches winning
	// (routes); at least one.
	Routes []Route `yaml:"routes"`
	// Pools are the backend pools (pools); at least one, names unique.
	Pools []Pool `yaml:"pools"`
	// TrustedProxies are the peers whose X-Forwarded-For and Forwarded
	// headers are believed and extended (trusted_proxies); from anyone
	// else they are replaced by the peer's own address. Empty (the
	// default): nobody's.
	TrustedProxies []netip.Prefix `yaml:"trusted_proxies"`
	// Limits bound what a client may send (limits).
	Limits Limits `yaml:"limits"`
	// RateLimit limits each client address (rate_limit).
	RateLimit RateLimit `yaml:"rate_limit"`
	// StickySecret signs the session persistence cookies (sticky_secret),
	// at least MinStickySecret bytes; required when a pool is sticky.
	StickySecret []byte `yaml:"sticky_secret"`
	// DrainTimeout bounds a graceful stop: listeners close at once, and
	// requests in flight get this long to finish (drain_timeout), greater
	// than 0, default 30s.
	DrainTimeout time.Duration `yaml:"drain_timeout"`
	// Capacity is the number of requests in flight the region is sized
	// for, against which Load reports utilisation (capacity), at least 0;
	// 0 (the default): the sum of the backends' MaxConns, or 1000 when
	// none is set.
	Capacity int `yaml:"capacity"`

	// AccessLog receives one structured record per request (nil: none).
	AccessLog *slog.Logger `yaml:"-"`
	// Logger receives the proxy's own logs (default: discarded).
	Logger *slog.Logger `yaml:"-"`
	// Registerer receives the proxy's metrics (nil: not registered).
	Registerer prometheus.Registerer `yaml:"-"`

	// dial, when set, opens the backend connections in place of a
	// net.Dialer: the tests' fault injection.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Listener is an address served over HTTP, or HTTPS when Certs is set.
type Listener struct {
	// Addr is host:port (address); required.
	Addr string `yaml:"address"`
	// Certs are the certificates served (certs); the one whose names match
	// the client's SNI is chosen (the first when none matches or no SNI).
	// Empty (the default): plain HTTP.
	Certs []Cert `yaml:"certs"`
	// HTTP2 offers HTTP/2 over TLS (ALPN h2) besides HTTP/1.1 (http2),
	// default false; only with Certs.
	HTTP2 bool `yaml:"http2"`
}

// Cert is a certificate and its key, PEM files (cert_file, key_file), both
// required; New loads them.
type Cert struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Route sends matching requests to a pool.
type Route struct {
	// Host matches the request's host without port (host): a name or
	// address, exact; "*.example.com", any subdomain; "" (the default),
	// any host. Decoding stores it lower-case without a trailing dot.
	Host string `yaml:"host"`
	// PathPrefix matches the path's leading segments (path_prefix): "/api"
	// matches /api and /api/x, not /apix; "" (the default) or "/" matches
	// every path; else it starts with "/" and has no spaces, control
	// characters, "?" or "#". It is matched against the percent-decoded
	// path with repeated slashes merged, while the backend receives the
	// path as the client sent it; so that both read the same path, a
	// request whose path has a dot-segment ("." or "..") or an encoded dot
	// or slash (%2e, %2f, any case) is refused with 400 before routing.
	PathPrefix string `yaml:"path_prefix"`
	// Pool names an item of Config.Pools (pool); required.
	Pool string `yaml:"pool"`
}

// Pool is a set of backends and how to balance and guard them.
type Pool struct {
	// Name is lower-case letters, digits and "-" (name); required, unique.
	Name string `yaml:"name"`
	// Algorithm is one of balance.Algorithms (algorithm), default
	// round_robin. Decoding stores it lower-case.
	Algorithm string `yaml:"algorithm"`
	// HashHeader or HashCookie names the request header or cookie whose
	// value consistent_hash hashes (hash_header, hash_cookie), an RFC 9110
	// token: exactly one of them with that algorithm, neither with another.
	HashHeader string `yaml:"hash_header"`
	HashCookie string `yaml:"hash_cookie"`
	// Backends are the pool's servers (backends); at least one, names and
	// addresses unique.
	Backends []Backend `yaml:"backends"`
	// Sticky, when set, pins a client to its backend with a signed cookie
	// while that backend is usable (sticky); nil (the default): no session
	// persistence.
	Sticky *Sticky `yaml:"sticky"`
	// Check, when set, is the active health check of every backend: Key and
	// Target are filled in per backend. nil: none. It is not decoded from
	// this pool's YAML: config decodes a pool's check key and fills it in.
	Check *probes.Check `yaml:"-"`
	// ConsecutiveFailures in a row eject a backend (consecutive_failures),
	// at least 0; 0 (the default): no passive ejection. They are the
	// backend's own: a connection refused or timed out, no response
	// within TryTimeout, a broken connection or response, a 5xx; never
	// the proxy's (out of file descriptors, buffers or local ports, its
	// connection cap, a try cut by a mark-down) nor the client's.
	ConsecutiveFailures int `yaml:"consecutive_failures"`
	// EjectFor is the first ejection's length (eject_for), greater than 0,
	// default 10s; it doubles at each ejection in a row up to MaxEjectFor
	// (max_eject_for), at least EjectFor, default 5m.
	EjectFor    time.Duration `yaml:"eject_for"`
	MaxEjectFor time.Duration `yaml:"max_eject_for"`
	// SlowStart ramps a returning backend's weight from 10% to 100% over
	// this long (slow_start), at least 0; 0 (the default): at once.
	SlowStart time.Duration `yaml:"slow_start"`
	// ConnectTimeout bounds dialing a backend (connect_timeout, default
	// 2s), TryTimeout one attempt up to the response headers (try_timeout,
	// default 15s), and Timeout the whole request with its retries
	// (timeout, default 30s, at least TryTimeout); each greater than 0.
	ConnectTimeout time.Duration `yaml:"connect_timeout"`
	TryTimeout     time.Duration `yaml:"try_timeout"`
	Timeout        time.Duration `yaml:"timeout"`
	// Retries is how many other backends are tried after a failure
	// (retries), -1 to MaxRetries, default 2; -1: none. A retry is made
	// always when the request was not sent (the connection failed, or
	// the backend was marked down before it was written); for an
	// idempotent request (GET, HEAD, OPTIONS, PUT, DELETE, TRACE) whose
	// body is not streamed, also when the connection broke, when the
	// backend was marked down while the request waited for its response,
	// on a 502/503/504, and on a timeout if RetryOnTimeout is set. As
	// everywhere in Config, 0 means the default; in YAML, where an absent
	// key is the default, 0 means none too, and decoding stores -1.
	Retries int `yaml:"retries"`
	// RetryOnTimeout lets an idempotent request that timed out on a
	// backend (no response within TryTimeout) be sent to another one
	// (retry_on_timeout), default false: the backend may have processed
	// it, and an overloaded pool would get every slow request again.
	RetryOnTimeout bool `yaml:"retry_on_timeout"`
	// MaxIdleConns is the number of idle connections kept per backend
	// (max_idle_conns), at least 1, default 64.
	MaxIdleConns int `yaml:"max_idle_conns"`
}

// Backend is a server of a pool.
type Backend struct {
	// Name is lower-case letters, digits and "-" (name); required, unique
	// within the pool.
	Name string `yaml:"name"`
	// Addr is IP:port (address): an IP literal (IPv6 in brackets), not
	// unspecified or multicast, and a port 1-65535. Required; unique
	// within the pool.
	Addr string `yaml:"address"`
	// Weight is the backend's share of the requests (weight), at least 1,
	// default 1.
	Weight int `yaml:"weight"`
	// MaxConns caps its requests in flight (max_conns), at least 0; 0 (the
	// default): no cap.
	MaxConns int `yaml:"max_conns"`
}

// Sticky configures session persistence.
type Sticky struct {
	// Cookie is the cookie's name (cookie), an RFC 9110 token, default
	// "aya_sticky".
	Cookie string `yaml:"cookie"`
	// TTL is the cookie's Max-Age (ttl), at least 0; 0 (the default): a
	// session cookie.
	TTL time.Duration `yaml:"ttl"`
}

// Limits bound requests.
type Limits struct {
	// MaxHeaderBytes caps the request header (max_header_bytes), at least
	// 1, default 65536.
	MaxHeaderBytes int `yaml:"max_header_bytes"`
	// MaxBodyBytes caps the request body (max_body_bytes), at least 1,
	// default 33554432 (32 MiB).
	MaxBodyBytes int64 `yaml:"max_body_bytes"`
	// ReadHeaderTimeout bounds reading the request header
	// (read_header_timeout), greater than 0, default 10s: a deadline from
	// the header's first byte (and for a TLS handshake), which bytes
	// trickling in do not push back.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// IdleTimeout closes a keep-alive connection idle this long
	// (idle_timeout), greater than 0, default 60s; it is also the longest
	// silence within a request body.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxConns caps client connections (max_conns), at least 1, default
	// 10000.
	MaxConns int `yaml:"max_conns"`
	// MaxConnsPerClient caps the connections of one client address, an
	// IPv6 client's /64 (max_conns_per_client), at least 1, default 256.
	// Peers in TrustedProxies are exempt: their connections carry many
	// clients. A connection over a cap is closed as it is accepted.
	MaxConnsPerClient int `yaml:"max_conns_per_client"`
	// MaxHeaders caps the header fields of a request (max_headers), at
	// least 1, default 100; a request with more gets 431.
	MaxHeaders int `yaml:"max_headers"`
	// BodyTimeout bounds the time spent waiting for a request body's bytes
	// from the client, in total (body_timeout), greater than 0, default
	// 5m; a body not received within it gets 408.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// MinUploadRate is the slowest a request body may arrive, in bytes per
	// second, once MinUploadRateGrace has passed (min_upload_rate): after
	// the grace, a body that has not kept up, on average, with this rate
	// gets 408. At least 1, or -1 for no minimum; default 1024.
	// MinUploadRateGrace (min_upload_rate_grace) is greater than 0,
	// default 10s. Both count the time the proxy waits for the client, not the
	// time a backend takes to read a streamed body.
	MinUploadRate      int64         `yaml:"min_upload_rate"`
	MinUploadRateGrace time.Duration `yaml:"min_upload_rate_grace"`
	// BufferBodyBytes is how much of a request body is read from the
	// client before a backend is picked (buffer_body_bytes), at least 1,
	// default 65536, at most MaxBodyBytes in effect. A body that fits is
	// read whole first, so a slow client never holds a backend connection,
	// and can be retried; a longer one is streamed after its first
	// BufferBodyBytes, and cannot be.
	BufferBodyBytes int `yaml:"buffer_body_bytes"`
}

// RateLimit is a per-client-address token bucket.
type RateLimit struct {
	// Rate is requests per second (rate), 0 to MaxRate; 0 (the default)
	// turns the limit off.
	Rate float64 `yaml:"rate"`
	// Burst is the bucket's size (burst), at least 0; 0 (the default):
	// Rate rounded up.
	Burst int `yaml:"burst"`
}

// Load is what the proxy reports of its region.
type Load struct {
	InFlight    int64
	Capacity    int
	Utilisation float64 // InFlight / Capacity
	RPS         float64 // requests per second over the last window
	P99         time.Duration
}

// Limits of the settings, checked by Validate.
const (
	// MinStickySecret is the shortest StickySecret, in bytes.
	MinStickySecret = 32
	// MaxRetries bounds Pool.Retries.
	MaxRetries = 10
	// MaxRate bounds RateLimit.Rate, so that its rounding fits Burst.
	MaxRate = 1_000_000
)

// Defaults of the settings, filled in by withDefaults.
const (
	defaultDrainTimeout      = 30 * time.Second
	defaultCapacity          = 1000 // when no backend has MaxConns; see New
	defaultAlgorithm         = balance.RoundRobin
	defaultEjectFor          = 10 * time.Second
	defaultMaxEjectFor       = 5 * time.Minute
	defaultConnectTimeout    = 2 * time.Second
	defaultTryTimeout        = 15 * time.Second
	defaultTimeout           = 30 * time.Second
	defaultRetries           = 2
	defaultMaxIdleConns      = 64
	defaultWeight            = 1
	defaultStickyCookie      = "aya_sticky"
	defaultMaxHeaderBytes    = 64 << 10
	defaultMaxBodyBytes      = 32 << 20
	defaultReadHeaderTimeout = 10 * time.Second
	defaultIdleTimeout       = 60 * time.Second
	defaultMaxConns          = 10000
	defaultMaxConnsPerClient = 256
	defaultMaxHeaders        = 100
	defaultBodyTimeout       = 5 * time.Minute
	defaultMinUploadRate     = 1024
	defaultMinUploadGrace    = 10 * time.Second
	defaultBufferBodyBytes   = 64 << 10
)

// NoMinUploadRate is the Limits.MinUploadRate that turns the minimum off.
const NoMinUploadRate = -1

// WithDefaults returns c with every zero field, its pools', backends',
// sticky settings' and limits' too, set to its default, and a zero
// RateLimit.Burst to Rate rounded up. Capacity stays 0: New computes it
// from the backends. The lists are copied, so c is not changed.
func (c Config) WithDefaults() Config {
	c.DrainTimeout = or(c.DrainTimeout, defaultDrainTimeout)
	c.Limits = c.Limits.withDefaults()
	if c.RateLimit.Burst == 0 && c.RateLimit.Rate > 0 && c.RateLimit.Rate <= MaxRate {
		c.RateLimit.Burst = int(math.Ceil(c.RateLimit.Rate))
	}
	c.Pools = withDefaults(c.Pools)
	return c
}

// withDefaults returns p with its zero fields set to their defaults.
func (p Pool) withDefaults() Pool {
	p.Algorithm = or(p.Algorithm, defaultAlgorithm)
	p.EjectFor = or(p.EjectFor, defaultEjectFor)
	p.MaxEjectFor = or(p.MaxEjectFor, defaultMaxEjectFor)
	p.ConnectTimeout = or(p.ConnectTimeout, defaultConnectTimeout)
	p.TryTimeout = or(p.TryTimeout, defaultTryTimeout)
	p.Timeout = or(p.Timeout, defaultTimeout)
	p.Retries = or(p.Retries, defaultRetries)
	p.MaxIdleConns = or(p.MaxIdleConns, defaultMaxIdleConns)
	if p.Sticky != nil {
		s := p.Sticky.withDefaults()
		p.Sticky = &s
	}
	p.Backends = withDefaults(p.Backends)
	return p
}

// withDefaults returns a copy of items with each item's defaults; nil
// stays nil.
func withDefaults[T interface{ withDefaults() T }](items []T) []T {
	if items == nil {
		return nil
	}
	out := make([]T, len(items))
	for i, it := range items {
		out[i] = it.withDefaults()
	}
	return out
}

// withDefaults returns b with its zero fields set to their defaults.
func (b Backend) withDefaults() Backend {
	b.Weight = or(b.Weight, defaultWeight)
	return b
}

// withDefaults returns s with its zero fields set to their defaults.
func (s Sticky) withDefaults() Sticky {
	s.Cookie = or(s.Cookie, defaultStickyCookie)
	return s
}

// withDefaults returns l with its zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	l.MaxHeaderBytes = or(l.MaxHeaderBytes, defaultMaxHeaderBytes)
	l.MaxBodyBytes = or(l.MaxBodyBytes, defaultMaxBodyBytes)
	l.ReadHeaderTimeout = or(l.ReadHeaderTimeout, defaultReadHeaderTimeout)
	l.IdleTimeout = or(l.IdleTimeout, defaultIdleTimeout)
	l.MaxConns = or(l.MaxConns, defaultMaxConns)
	l.MaxConnsPerClient = or(l.MaxConnsPerClient, defaultMaxConnsPerClient)
	l.MaxHeaders = or(l.MaxHeaders, defaultMaxHeaders)
	l.BodyTimeout = or(l.BodyTimeout, defaultBodyTimeout)
	l.MinUploadRate = or(l.MinUploadRate, defaultMinUploadRate)
	l.MinUploadRateGrace = or(l.MinUploadRateGrace, defaultMinUploadGrace)
	l.BufferBodyBytes = or(l.BufferBodyBytes, defaultBufferBodyBytes)
	return l
}

// or is v, or def when v is zero.
func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// UnmarshalYAML decodes a pool from its defaults, so that an absent key
// keeps its default and one written as 0 stays 0 for Validate to judge. It
// stores Algorithm lower-case, and Retries 0 as -1 (see Retries).
func (p *Pool) UnmarshalYAML(n *yaml.Node) error {
	type plain Pool
	*p = Pool{}.withDefaults()
	if err := n.Decode((*plain)(p)); err != nil {
		return err
	}
	p.Algorithm = strings.ToLower(p.Algorithm)
	if p.Retries == 0 {
		p.Retries = -1
	}
	return nil
}

// UnmarshalYAML decodes a backend from its defaults, as Pool's does.
func (b *Backend) UnmarshalYAML(n *yaml.Node) error {
	type plain Backend
	*b = Backend{}.withDefaults()
	return n.Decode((*plain)(b))
}

// UnmarshalYAML decodes sticky settings from their defaults, as Pool's
// does.
func (s *Sticky) UnmarshalYAML(n *yaml.Node) error {
	type plain Sticky
	*s = Sticky{}.withDefaults()
	return n.Decode((*plain)(s))
}

// UnmarshalYAML decodes a route, storing Host lower-case without a
// trailing dot.
func (r *Route) UnmarshalYAML(n *yaml.Node) error {
	type plain Route
	if err := n.Decode((*plain)(r)); err != nil {
		return err
	}
	r.Host = strings.ToLower(strings.TrimSuffix(r.Host, "."))
	return nil
}
