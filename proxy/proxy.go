package proxy

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"

	"github.com/aya-gslb/aya/proxy/balance"
)

// Defaults of Config, Pool and Limits, applied by New to zero values.
const (
	defaultDrainTimeout      = 30 * time.Second
	defaultCapacity          = 1000
	defaultConnectTimeout    = 2 * time.Second
	defaultTryTimeout        = 15 * time.Second
	defaultTimeout           = 30 * time.Second
	defaultRetries           = 2
	defaultMaxHeaderBytes    = 64 << 10
	defaultMaxBodyBytes      = 32 << 20
	defaultReadHeaderTimeout = 10 * time.Second
	defaultIdleTimeout       = 60 * time.Second
	defaultMaxConns          = 10000
	defaultStickyCookie      = "aya_sticky"
	minStickySecret          = 32

	// bufferedBody is the largest request body read into memory before
	// the request is forwarded; such a request can be retried. A larger or
	// chunked body is streamed to the backend, and once streaming started
	// it cannot be sent again.
	bufferedBody = 64 << 10
)

// ErrUnknownPool is wrapped by New's error when a route names a pool that
// is not configured.
var ErrUnknownPool = errors.New("unknown pool")

// Proxy is the reverse proxy of a region. Build it with New, bind with
// Listen (or let Serve do it) and run it with Serve.
type Proxy struct {
	log     *slog.Logger
	access  *slog.Logger
	limits  Limits
	trusted []netip.Prefix
	drain   time.Duration

	routes  []route
	pools   []*pool
	sticky  *stickyCodec // nil when no pool is sticky
	limiter *rateLimiter // nil when rate limiting is off
	m       *metrics
	load    *loadMeter

	listenCfg []listenerConfig

	inFlight atomic.Int64
	conns    connTracker // client connections
	upstream connTracker // backend connections

	mu        sync.Mutex
	listeners []*listener
	served    bool
}

// listenerConfig is a Listener with its certificates loaded.
type listenerConfig struct {
	addr  string
	tls   *tls.Config // nil: plain HTTP
	http2 bool
}

// pool is a configured pool with its live parts.
type pool struct {
	name     string
	bal      balance.Balancer
	health   *poolHealth
	backends []*backend
	byName   map[string]int

	ipHash     bool
	hashHeader string
	hashCookie string

	stickyCookie string
	stickyMaxAge int // seconds; 0: session cookie
	sticky       bool

	retries        int
	connectTimeout time.Duration
	tryTimeout     time.Duration
	timeout        time.Duration

	pm *poolMetrics
}

// backend is a backend of a pool and its connection pool.
type backend struct {
	name   string
	addr   string
	client *fasthttp.HostClient
	codes  codeCounters
}

// New validates cfg and builds a Proxy from it. Errors name the listener,
// route, pool or file at fault.
func New(cfg Config) (*Proxy, error) {
	p := &Proxy{
		log:     cfg.Logger,
		access:  cfg.AccessLog,
		limits:  cfg.Limits.withDefaults(),
		trusted: cfg.TrustedProxies,
		drain:   cfg.DrainTimeout,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	if p.drain <= 0 {
		p.drain = defaultDrainTimeout
	}
	if len(cfg.Listeners) == 0 {
		return nil, errors.New("proxy: no listeners")
	}
	for i, l := range cfg.Listeners {
		lc, err := loadListener(l)
		if err != nil {
			return nil, fmt.Errorf("proxy: listener %d (%q): %w", i, l.Addr, err)
		}
		p.listenCfg = append(p.listenCfg, lc)
	}
	if cfg.RateLimit.Rate < 0 {
		return nil, fmt.Errorf("proxy: rate limit: rate %v must not be negative", cfg.RateLimit.Rate)
	}

	var err error
	if p.m, err = newMetrics(cfg.Registerer); err != nil {
		return nil, fmt.Errorf("proxy: metrics: %w", err)
	}

	names := make(map[string]int, len(cfg.Pools))
	capacity := 0
	anySticky := false
	for _, pc := range cfg.Pools {
		if pc.Name == "" {
			return nil, errors.New("proxy: pool with an empty name")
		}
		if _, dup := names[pc.Name]; dup {
			return nil, fmt.Errorf("proxy: pool %q: duplicate name", pc.Name)
		}
		pl, err := p.newPool(pc, cfg)
		if err != nil {
			return nil, fmt.Errorf("proxy: pool %q: %w", pc.Name, err)
		}
		names[pc.Name] = len(p.pools)
		p.pools = append(p.pools, pl)
		anySticky = anySticky || pl.sticky
		for _, b := range pc.Backends {
			capacity += b.MaxConns
		}
	}
	if anySticky {
		if len(cfg.StickySecret) < minStickySecret {
			return nil, fmt.Errorf("proxy: sticky pools need a sticky secret of at least %d bytes, have %d", minStickySecret, len(cfg.StickySecret))
		}
		if p.sticky, err = newStickyCodec(cfg.StickySecret); err != nil {
			return nil, fmt.Errorf("proxy: sticky secret: %w", err)
		}
	}

	for i, rc := range cfg.Routes {
		pi, ok := names[rc.Pool]
		if !ok {
			return nil, fmt.Errorf("proxy: route %d (host %q, path %q): %w %q", i, rc.Host, rc.PathPrefix, ErrUnknownPool, rc.Pool)
		}
		r, err := newRoute(rc, p.pools[pi])
		if err != nil {
			return nil, fmt.Errorf("proxy: route %d: %w", i, err)
		}
		p.routes = append(p.routes, r)
	}

	if cfg.Capacity > 0 {
		capacity = cfg.Capacity
	} else if capacity == 0 {
		capacity = defaultCapacity
	}
	p.load = newLoadMeter(capacity, time.Now())
	if cfg.RateLimit.Rate > 0 {
		p.limiter = newRateLimiter(cfg.RateLimit.Rate, cfg.RateLimit.Burst)
	}
	return p, nil
}

// newPool builds a pool: its balancer, health and one HostClient per
// backend.
func (p *Proxy) newPool(pc Pool, cfg Config) (*pool, error) {
	if len(pc.Backends) == 0 {
		return nil, errors.New("no backends")
	}
	alg := pc.Algorithm
	if alg == "" {
		alg = balance.RoundRobin
	}
	pl := &pool{
		name:           pc.Name,
		byName:         make(map[string]int, len(pc.Backends)),
		ipHash:         alg == balance.IPHash,
		hashHeader:     pc.HashHeader,
		hashCookie:     pc.HashCookie,
		retries:        pc.Retries,
		connectTimeout: orDefault(pc.ConnectTimeout, defaultConnectTimeout),
		tryTimeout:     orDefault(pc.TryTimeout, defaultTryTimeout),
		timeout:        orDefault(pc.Timeout, defaultTimeout),
	}
	switch {
	case pl.retries == 0:
		pl.retries = defaultRetries
	case pl.retries < 0:
		pl.retries = 0
	}
	if alg == balance.ConsistentHash && (pc.HashHeader == "") == (pc.HashCookie == "") {
		return nil, errors.New("consistent_hash needs exactly one of hash header and hash cookie")
	}
	if pc.Sticky != nil {
		pl.sticky = true
		pl.stickyCookie = pc.Sticky.Cookie
		if pl.stickyCookie == "" {
			pl.stickyCookie = defaultStickyCookie
		}
		pl.stickyMaxAge = int(pc.Sticky.TTL / time.Second)
	}
	bbs := make([]balance.Backend, len(pc.Backends))
	for i, b := range pc.Backends {
		if b.Name == "" {
			return nil, fmt.Errorf("backend %d: empty name", i)
		}
		if _, _, err := net.SplitHostPort(b.Addr); err != nil {
			return nil, fmt.Errorf("backend %q: address %q: %w", b.Name, b.Addr, err)
		}
		w := b.Weight
		if w == 0 {
			w = 1
		}
		bbs[i] = balance.Backend{Name: b.Name, Weight: w, MaxConns: b.MaxConns}
		pl.byName[b.Name] = i
	}
	bal, err := balance.New(alg, bbs)
	if err != nil {
		return nil, err
	}
	pl.bal = bal
	pl.pm = p.m.pool(pc.Name)
	for _, b := range pc.Backends {
		be := &backend{
			name:   b.Name,
			addr:   b.Addr,
			client: newHostClient(b, pl, p.limits, &p.upstream),
			codes:  p.m.codes(pc.Name, b.Name),
		}
		pl.backends = append(pl.backends, be)
	}
	if pl.health, err = newPoolHealth(pc, bal, p.log, cfg.Registerer); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	return pl, nil
}

// withDefaults returns l with its zero fields set to their defaults.
func (l Limits) withDefaults() Limits {
	if l.MaxHeaderBytes <= 0 {
		l.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if l.MaxBodyBytes == 0 {
		l.MaxBodyBytes = defaultMaxBodyBytes // negative: unlimited
	}
	l.ReadHeaderTimeout = orDefault(l.ReadHeaderTimeout, defaultReadHeaderTimeout)
	l.IdleTimeout = orDefault(l.IdleTimeout, defaultIdleTimeout)
	if l.MaxConns <= 0 {
		l.MaxConns = defaultMaxConns
	}
	return l
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// loadListener checks a listener's address and loads its certificates.
func loadListener(l Listener) (listenerConfig, error) {
	if l.Addr == "" {
		return listenerConfig{}, errors.New("no address")
	}
	if _, _, err := net.SplitHostPort(l.Addr); err != nil {
		return listenerConfig{}, err
	}
	lc := listenerConfig{addr: l.Addr, http2: l.HTTP2}
	if len(l.Certs) == 0 {
		if l.HTTP2 {
			return listenerConfig{}, errors.New("no TLS certificates for HTTP/2")
		}
		return lc, nil
	}
	certs := make([]tls.Certificate, 0, len(l.Certs))
	for _, c := range l.Certs {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return listenerConfig{}, fmt.Errorf("certificate %s (key %s): %w", c.CertFile, c.KeyFile, err)
		}
		certs = append(certs, cert)
	}
	lc.tls = newTLSConfig(certs, l.HTTP2)
	return lc, nil
}

// newTLSConfig chooses among certs by SNI, the first by default.
func newTLSConfig(certs []tls.Certificate, h2 bool) *tls.Config {
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if hello.ServerName != "" {
				for i := range certs {
					if hello.SupportsCertificate(&certs[i]) == nil {
						return &certs[i], nil
					}
				}
			}
			return &certs[0], nil
		},
	}
	if h2 {
		cfg.NextProtos = []string{"h2", "http/1.1"}
	} else {
		cfg.NextProtos = []string{"http/1.1"}
	}
	return cfg
}

// Addrs returns the addresses the proxy listens on, after Listen.
func (p *Proxy) Addrs() []net.Addr {
	p.mu.Lock()
	defer p.mu.Unlock()
	addrs := make([]net.Addr, len(p.listeners))
	for i, l := range p.listeners {
		addrs[i] = l.Addr()
	}
	return addrs
}
