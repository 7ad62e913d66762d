package proxy

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aya-gslb/aya/proxy/balance"
)

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
	gate     *connGate   // admits client connections
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
	retryOnTimeout bool
	connectTimeout time.Duration
	tryTimeout     time.Duration
	timeout        time.Duration

	pm *poolMetrics
}

// New applies cfg's defaults, validates it and builds a Proxy from it.
// Errors name the key of the field at fault (see Validate), or the file
// that cannot be loaded.
func New(cfg Config) (*Proxy, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p := &Proxy{
		log:     cfg.Logger,
		access:  cfg.AccessLog,
		limits:  cfg.Limits,
		trusted: cfg.TrustedProxies,
		drain:   cfg.DrainTimeout,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	p.gate = newConnGate(p)
	if int64(p.limits.BufferBodyBytes) > p.limits.MaxBodyBytes {
		p.limits.BufferBodyBytes = int(p.limits.MaxBodyBytes)
	}
	for i, l := range cfg.Listeners {
		lc, err := loadListener(l)
		if err != nil {
			return nil, fmt.Errorf("proxy: listeners[%d] (%q): %w", i, l.Addr, err)
		}
		p.listenCfg = append(p.listenCfg, lc)
	}

	var err error
	if p.m, err = newMetrics(cfg.Registerer); err != nil {
		return nil, fmt.Errorf("proxy: metrics: %w", err)
	}

	byName := make(map[string]*pool, len(cfg.Pools))
	capacity := 0
	for _, pc := range cfg.Pools {
		pl, err := p.newPool(pc, cfg)
		if err != nil {
			return nil, fmt.Errorf("proxy: pool %q: %w", pc.Name, err)
		}
		byName[pc.Name] = pl
		p.pools = append(p.pools, pl)
		if pl.sticky && p.sticky == nil {
			if p.sticky, err = newStickyCodec(cfg.StickySecret); err != nil {
				return nil, fmt.Errorf("proxy: sticky secret: %w", err)
			}
		}
		for _, b := range pc.Backends {
			capacity += b.MaxConns
		}
	}
	for _, rc := range cfg.Routes {
		p.routes = append(p.routes, newRoute(rc, byName[rc.Pool]))
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

// newPool builds a pool of a validated Config with its defaults: its
// balancer, health and one HostClient per backend.
func (p *Proxy) newPool(pc Pool, cfg Config) (*pool, error) {
	alg := pc.Algorithm
	pl := &pool{
		name:           pc.Name,
		byName:         make(map[string]int, len(pc.Backends)),
		ipHash:         alg == balance.IPHash,
		hashHeader:     pc.HashHeader,
		hashCookie:     pc.HashCookie,
		retries:        pc.Retries,
		retryOnTimeout: pc.RetryOnTimeout,
		connectTimeout: pc.ConnectTimeout,
		tryTimeout:     pc.TryTimeout,
		timeout:        pc.Timeout,
	}
	if pl.retries < 0 {
		pl.retries = 0
	}
	if pc.Sticky != nil {
		pl.sticky = true
		pl.stickyCookie = pc.Sticky.Cookie
		pl.stickyMaxAge = int(pc.Sticky.TTL / time.Second)
	}
	bbs := make([]balance.Backend, len(pc.Backends))
	for i, b := range pc.Backends {
		bbs[i] = balance.Backend{Name: b.Name, Weight: b.Weight, MaxConns: b.MaxConns}
		pl.byName[b.Name] = i
	}
	bal, err := balance.New(alg, bbs)
	if err != nil {
		return nil, err
	}
	pl.bal = bal
	pl.pm = p.m.pool(pc.Name)
	for _, b := range pc.Backends {
		be := buildBackend(b, pl, p.limits, &p.upstream, cfg.dial)
		be.codes = p.m.codes(pc.Name, b.Name)
		pl.backends = append(pl.backends, be)
	}
	if pl.health, err = newPoolHealth(pc, bal, p.log, cfg.Registerer); err != nil {
		return nil, fmt.Errorf("health: %w", err)
	}
	pl.health.onUsable = pl.setUsable
	return pl, nil
}

// setUsable is what the pool's health calls when backend i becomes usable
// or not (with the health's lock held: it takes no lock of the health's).
// A backend no longer usable is abandoned by the requests waiting on it
// (see backend).
func (pl *pool) setUsable(i int, usable bool) {
	be := pl.backends[i]
	if usable {
		be.markUp()
		return
	}
	be.markDown()
}

// loadListener loads a validated listener's certificates.
func loadListener(l Listener) (listenerConfig, error) {
	lc := listenerConfig{addr: l.Addr, http2: l.HTTP2}
	if len(l.Certs) == 0 {
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
