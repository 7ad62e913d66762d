package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/aya-gslb/aya/proxy/balance"
)

// ProxyConfig configures the in-region HTTP proxy (the proxy section).
// Load and LoadProxy return it with the engine's defaults applied (so that
// the documentation can show them), the sticky secret read, and the
// addresses, prefixes and paths parsed and resolved.
type ProxyConfig struct {
	// Region names the region whose load this proxy reports
	// (proxy.region): lower-case letters, digits and "-". Required; when
	// the configuration has regions, one of them.
	Region string `mapstructure:"region"`

	// ReportTo lists the admin API addresses (host:port) of cluster nodes
	// the load is reported to, tried in turn (proxy.report_to); checked
	// like cluster.join. Empty (the default): no reporting.
	ReportTo []string `mapstructure:"report_to"`

	// ReportInterval is how often the load is reported
	// (proxy.report_interval), greater than 0, default 2s.
	ReportInterval time.Duration `mapstructure:"report_interval"`

	// Capacity is the number of requests in flight the region is sized
	// for, against which utilisation is reported (proxy.capacity); 0 (the
	// default) leaves it to the engine: the sum of the backends' max_conns,
	// or 1000 when none is set.
	Capacity int `mapstructure:"capacity"`

	// StickySecret is the secret that signs session persistence cookies,
	// at least 32 bytes: proxy.sticky_secret (best set by the variable
	// AYA_PROXY_STICKY_SECRET), or the content of StickySecretFile with
	// its trailing line break removed. "" when neither is set; one of them
	// is required when a pool is sticky.
	StickySecret string `mapstructure:"sticky_secret"`

	// StickySecretFile is the file the secret was read from
	// (proxy.sticky_secret_file), resolved like GeoConfig.Database; "" (the
	// default) for none. Load reads it; it must not be set together with
	// proxy.sticky_secret.
	StickySecretFile string `mapstructure:"sticky_secret_file"`

	// DrainTimeout bounds a graceful stop: requests in flight get this
	// long to finish (proxy.drain_timeout), greater than 0, default 30s.
	DrainTimeout time.Duration `mapstructure:"drain_timeout"`

	// AccessLog logs one record per request (proxy.access_log), default
	// false.
	AccessLog bool `mapstructure:"access_log"`

	// TrustedProxies lists, as written, the peers whose X-Forwarded-For
	// and Forwarded headers are believed, as CIDR prefixes or bare IP
	// addresses (proxy.trusted_proxies); empty (the default): nobody's.
	TrustedProxies []string `mapstructure:"trusted_proxies"`

	// TrustedPrefixes is TrustedProxies parsed, in the same order; a bare
	// address is a /32 or /128 prefix.
	TrustedPrefixes []netip.Prefix `mapstructure:"-"`

	Limits    ProxyLimits    `mapstructure:"limits"`
	RateLimit ProxyRateLimit `mapstructure:"rate_limit"`

	// Listeners are the addresses served (proxy.listeners); at least one.
	// File only.
	Listeners []ProxyListener `mapstructure:"listeners"`

	// Routes map requests to pools, the first match winning
	// (proxy.routes); at least one. File only.
	Routes []ProxyRoute `mapstructure:"routes"`

	// Pools are the backend pools (proxy.pools); at least one, names
	// unique. File only.
	Pools []ProxyPool `mapstructure:"pools"`
}

// ProxyLimits bound what a client may send (proxy.limits).
type ProxyLimits struct {
	// MaxHeaderBytes caps the request header (proxy.limits.max_header_bytes),
	// at least 1, default 65536.
	MaxHeaderBytes int `mapstructure:"max_header_bytes"`

	// MaxBodyBytes caps the request body (proxy.limits.max_body_bytes), at
	// least 1, default 33554432 (32 MiB).
	MaxBodyBytes int64 `mapstructure:"max_body_bytes"`

	// ReadHeaderTimeout bounds reading the request header
	// (proxy.limits.read_header_timeout), greater than 0, default 10s.
	ReadHeaderTimeout time.Duration `mapstructure:"read_header_timeout"`

	// IdleTimeout closes a keep-alive connection idle this long
	// (proxy.limits.idle_timeout), greater than 0, default 60s.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`

	// MaxConns caps client connections (proxy.limits.max_conns), at least
	// 1, default 10000.
	MaxConns int `mapstructure:"max_conns"`
}

// ProxyRateLimit is a token bucket per client address (proxy.rate_limit).
type ProxyRateLimit struct {
	// Rate is requests per second (proxy.rate_limit.rate), 0 to 1000000;
	// 0 (the default) turns the limit off.
	Rate float64 `mapstructure:"rate"`

	// Burst is the bucket's size (proxy.rate_limit.burst), at least 0;
	// 0 (the default) means Rate rounded up, which Load stores when Rate
	// is set.
	Burst int `mapstructure:"burst"`
}

// ProxyListener is one item of proxy.listeners: an address served over
// HTTP, or HTTPS when Certs is set.
type ProxyListener struct {
	// Address is host:port, checked like a dns.listen item (address);
	// required. It must not overlap another listener, nor, under `aya
	// serve`, dns.listen, admin.listen or cluster.bind.
	Address string `mapstructure:"address"`

	// Certs are the certificates served over TLS (certs); empty: plain
	// HTTP.
	Certs []ProxyCert `mapstructure:"certs"`

	// HTTP2 offers HTTP/2 (ALPN h2) besides HTTP/1.1 (http2), default
	// false; only with Certs.
	HTTP2 bool `mapstructure:"http2"`
}

// ProxyCert is a certificate and its key, PEM files resolved against the
// config file's directory. Config does not open them.
type ProxyCert struct {
	CertFile string `mapstructure:"cert_file"`
	KeyFile  string `mapstructure:"key_file"`
}

// ProxyRoute is one item of proxy.routes: requests it matches go to Pool.
type ProxyRoute struct {
	// Host matches the request's host (host): a name or address, exact;
	// "*.example.com", any subdomain; "" (the default), any host. Stored
	// lower-case.
	Host string `mapstructure:"host"`

	// PathPrefix matches the path's leading segments (path_prefix); ""
	// (the default) or a path starting with "/".
	PathPrefix string `mapstructure:"path_prefix"`

	// Pool names an item of ProxyConfig.Pools (pool). Required.
	Pool string `mapstructure:"pool"`
}

// ProxyPool is one item of proxy.pools: backends and how to balance and
// guard them.
type ProxyPool struct {
	// Name is lower-case letters, digits and "-"; unique (name).
	Name string `mapstructure:"name"`

	// Algorithm is one of balance.Algorithms (algorithm), default
	// round_robin; stored lower-case.
	Algorithm string `mapstructure:"algorithm"`

	// HashHeader or HashCookie names the request header or cookie whose
	// value consistent_hash hashes (hash_header, hash_cookie): exactly one
	// of them with that algorithm, neither with another.
	HashHeader string `mapstructure:"hash_header"`
	HashCookie string `mapstructure:"hash_cookie"`

	// Sticky pins a client to its backend with a signed cookie (sticky);
	// nil: no session persistence.
	Sticky *ProxySticky `mapstructure:"sticky"`

	// Check is the active health check of every backend (check): the
	// fields of a GSLB pool's check but port, which the backend's address
	// carries, so Port is 0. nil: no active check.
	Check *CheckConfig `mapstructure:"check"`

	// ConsecutiveFailures (connection errors or 5xx) in a row eject a
	// backend (consecutive_failures), at least 0; 0 (the default): no
	// passive ejection.
	ConsecutiveFailures int `mapstructure:"consecutive_failures"`

	// EjectFor is the first ejection's length (eject_for), greater than 0,
	// default 10s; it doubles at each ejection in a row up to MaxEjectFor
	// (max_eject_for), at least EjectFor, default 5m.
	EjectFor    time.Duration `mapstructure:"eject_for"`
	MaxEjectFor time.Duration `mapstructure:"max_eject_for"`

	// SlowStart ramps a returning backend's weight up over this long
	// (slow_start), at least 0; 0 (the default): at once.
	SlowStart time.Duration `mapstructure:"slow_start"`

	// ConnectTimeout bounds dialing a backend (connect_timeout, default
	// 2s), TryTimeout one attempt up to the response headers
	// (try_timeout, default 15s), and Timeout the whole request with its
	// retries (timeout, default 30s, at least TryTimeout); each greater
	// than 0.
	ConnectTimeout time.Duration `mapstructure:"connect_timeout"`
	TryTimeout     time.Duration `mapstructure:"try_timeout"`
	Timeout        time.Duration `mapstructure:"timeout"`

	// Retries is how many other backends are tried after a failure
	// (retries), -1 to 10, default 2; 0 and -1 both mean none. Note that
	// the engine's proxy.Pool reads 0 as its default: pass -1 for none.
	Retries int `mapstructure:"retries"`

	// MaxIdleConns is the number of idle connections kept per backend
	// (max_idle_conns), at least 1, default 64.
	MaxIdleConns int `mapstructure:"max_idle_conns"`

	// Backends are the pool's servers (backends); at least one, names and
	// addresses unique.
	Backends []ProxyBackend `mapstructure:"backends"`
}

// ProxySticky configures session persistence (a pool's sticky).
type ProxySticky struct {
	// Cookie is the cookie's name (cookie), an RFC 9110 token, default
	// "aya_sticky".
	Cookie string `mapstructure:"cookie"`

	// TTL is the cookie's Max-Age (ttl), at least 0; 0 (the default): a
	// session cookie.
	TTL time.Duration `mapstructure:"ttl"`
}

// ProxyBackend is one server of a proxy pool.
type ProxyBackend struct {
	// Name is lower-case letters, digits and "-", unique within the pool
	// (name).
	Name string `mapstructure:"name"`

	// Address is IP:port as written (address): an IP literal (IPv6 in
	// brackets), not unspecified or multicast, and a port 1-65535.
	// Required; unique within the pool.
	Address string `mapstructure:"address"`

	// Addr is Address parsed.
	Addr netip.AddrPort `mapstructure:"-"`

	// Weight is the backend's share of the requests (weight), at least 1,
	// default 1.
	Weight int `mapstructure:"weight"`

	// MaxConns caps its requests in flight (max_conns), at least 0; 0 (the
	// default): no cap.
	MaxConns int `mapstructure:"max_conns"`
}

// The fields each item of the proxy lists may have; TestItemFields keeps
// them in step with the mapstructure tags.
var (
	proxyListenerFields = []string{"address", "certs", "http2"}
	proxyCertFields     = []string{"cert_file", "key_file"}
	proxyRouteFields    = []string{"host", "path_prefix", "pool"}
	proxyPoolFields     = []string{"name", "algorithm", "hash_header", "hash_cookie", "sticky", "check",
		"consecutive_failures", "eject_for", "max_eject_for", "slow_start", "connect_timeout", "try_timeout",
		"timeout", "retries", "max_idle_conns", "backends"}
	proxyStickyFields  = []string{"cookie", "ttl"}
	proxyBackendFields = []string{"name", "address", "weight", "max_conns"}
)

// Defaults and limits of the proxy settings, the engine's (proxy.Config).
const (
	defaultProxyAlgorithm      = balance.RoundRobin
	defaultProxyStickyCookie   = "aya_sticky"
	defaultProxyEjectFor       = 10 * time.Second
	defaultProxyMaxEjectFor    = 5 * time.Minute
	defaultProxyConnectTimeout = 2 * time.Second
	defaultProxyTryTimeout     = 15 * time.Second
	defaultProxyTimeout        = 30 * time.Second
	defaultProxyRetries        = 2
	maxProxyRetries            = 10
	defaultProxyMaxIdleConns   = 64

	// minStickySecret is the shortest secret that signs sticky cookies.
	minStickySecret = 32
	// maxStickySecretFile bounds what is read of proxy.sticky_secret_file
	// and cluster.secret_file.
	maxStickySecretFile = 64 << 10
	// maxProxyRate bounds proxy.rate_limit.rate, so its rounding fits Burst.
	maxProxyRate = 1_000_000
)

// isProxyKey reports whether the key belongs to the proxy section.
func isProxyKey(name string) bool { return strings.HasPrefix(name, "proxy.") }

// proxyListen is a parsed listener address, for the overlap checks.
type proxyListen struct {
	hp   hostPort
	key  string
	line int
	addr string
}

// poolRef is a route's reference to a proxy pool, checked once the pools
// are known.
type poolRef struct {
	line      int
	key, pool string
}

// decodeProxyListeners fills the listeners of the proxy section.
func (p *parser) decodeProxyListeners(pc *ProxyConfig) {
	nodes, ok := p.topList("proxy.listeners")
	if ok && len(nodes) == 0 {
		p.errorf("proxy.listeners", -1, "at least one listener required")
	}
	for i, n := range nodes {
		li, ok := p.item(n, fmt.Sprintf("proxy.listeners[%d]", i), proxyListenerFields)
		if !ok {
			continue
		}
		var l ProxyListener
		if s, ok := p.str(li, "address", true); ok {
			l.Address = s
			if hp, msg := parseHostPort(s); msg != "" {
				p.errAt(li.lineOf("address"), li.key("address"), "%s", msg)
			} else {
				at := proxyListen{hp: hp, key: li.key("address"), line: li.lineOf("address"), addr: s}
				for _, prev := range p.proxyListens {
					if prev.hp.overlaps(hp) {
						p.errAt(at.line, at.key, "overlaps %s (%q)", prev.key, prev.addr)
						break
					}
				}
				p.proxyListens = append(p.proxyListens, at)
			}
		}
		certs, _ := p.items(li, "certs")
		for j, cn := range certs {
			ci, ok := p.item(cn, fmt.Sprintf("%s[%d]", li.key("certs"), j), proxyCertFields)
			if !ok {
				continue
			}
			var c ProxyCert
			if s, ok := p.str(ci, "cert_file", true); ok {
				c.CertFile = p.fileRelative(s)
			}
			if s, ok := p.str(ci, "key_file", true); ok {
				c.KeyFile = p.fileRelative(s)
			}
			l.Certs = append(l.Certs, c)
		}
		l.HTTP2, _ = p.boolean(li, "http2", false)
		if l.HTTP2 && len(certs) == 0 {
			p.errAt(li.lineOf("http2"), li.key("http2"), "only with certs: HTTP/2 is offered over TLS")
		}
		pc.Listeners = append(pc.Listeners, l)
	}
}

// fileRelative resolves a path written in the file against the file's
// directory, as a check's tls_ca_file is.
func (p *parser) fileRelative(s string) string {
	if !filepath.IsAbs(s) {
		s = filepath.Join(filepath.Dir(p.name), s)
	}
	return filepath.Clean(s)
}

// decodeProxyRoutes fills the routes of the proxy section; their pools are
// checked by decodeProxyPools.
func (p *parser) decodeProxyRoutes(pc *ProxyConfig) {
	nodes, ok := p.topList("proxy.routes")
	if ok && len(nodes) == 0 {
		p.errorf("proxy.routes", -1, "at least one route required")
	}
	first := make(map[string]string) // host and path -> key path of the first route
	for i, n := range nodes {
		ri, ok := p.item(n, fmt.Sprintf("proxy.routes[%d]", i), proxyRouteFields)
		if !ok {
			continue
		}
		var r ProxyRoute
		hostOK, pathOK := false, false
		if s, ok := p.str(ri, "host", false); ok {
			if msg := checkRouteHost(s); msg != "" {
				p.errAt(ri.lineOf("host"), ri.key("host"), "%s", msg)
			} else {
				r.Host, hostOK = strings.ToLower(strings.TrimSuffix(s, ".")), true
			}
		}
		if s, ok := p.str(ri, "path_prefix", false); ok {
			switch {
			case s != "" && !strings.HasPrefix(s, "/"):
				p.errAt(ri.lineOf("path_prefix"), ri.key("path_prefix"), "must start with \"/\" (got %q)", s)
			case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '?' || r == '#' }):
				p.errAt(ri.lineOf("path_prefix"), ri.key("path_prefix"),
					"must not contain spaces, control characters, \"?\" or \"#\" (got %q)", s)
			default:
				r.PathPrefix, pathOK = s, true
			}
		}
		if s, ok := p.str(ri, "pool", true); ok {
			r.Pool = s
			p.poolRefs = append(p.poolRefs, poolRef{line: ri.lineOf("pool"), key: ri.key("pool"), pool: s})
		}
		if hostOK && pathOK {
			// "" and "/" both match every path.
			match := r.Host + " " + strings.TrimSuffix(r.PathPrefix, "/")
			if prev, dup := first[match]; dup {
				p.errAt(ri.line, ri.path, "same host and path_prefix as %s, so it never matches", prev)
			} else {
				first[match] = ri.path
			}
		}
		pc.Routes = append(pc.Routes, r)
	}
}

// checkRouteHost checks a route's host: "", a DNS name, an IP address, or
// "*." and a DNS name.
func checkRouteHost(s string) string {
	if s == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(s, "*."); ok && isHostName(rest) {
		return ""
	}
	if isHostName(s) {
		return ""
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return ""
	}
	return fmt.Sprintf("must be a host name, an IP address, \"*.\" and a domain, or \"\" for any host (got %q)", s)
}

// decodeProxyPools fills the pools of the proxy section, then checks the
// routes' references to them.
func (p *parser) decodeProxyPools(pc *ProxyConfig) {
	nodes, known := p.topList("proxy.pools")
	if known && len(nodes) == 0 {
		p.errorf("proxy.pools", -1, "at least one pool required")
	}
	var names []string
	first := make(map[string]string)
	for i, n := range nodes {
		it, ok := p.item(n, fmt.Sprintf("proxy.pools[%d]", i), proxyPoolFields)
		if !ok {
			known = false
			continue
		}
		var pp ProxyPool
		name, ok := p.ident(it, "name")
		if !ok || checkName(name) != "" {
			known = false // routes may refer to the name meant: no guesses
		}
		if ok {
			pp.Name = name
			names = append(names, name)
			p.unique(first, it, "name", name)
		}
		p.decodeProxyAlgorithm(it, &pp)
		pp.Sticky = p.decodeProxySticky(it)
		pp.Check = p.decodeCheck(it, false).cfg
		pp.ConsecutiveFailures, _ = p.integer(it, "consecutive_failures", 0, math.MaxInt, 0)
		var ejectOK, maxOK bool
		pp.EjectFor, ejectOK = p.duration(it, "eject_for", defaultProxyEjectFor)
		pp.MaxEjectFor, maxOK = p.duration(it, "max_eject_for", defaultProxyMaxEjectFor)
		if ejectOK && maxOK && pp.MaxEjectFor < pp.EjectFor {
			p.errAt(it.lineOf("max_eject_for"), it.key("max_eject_for"), "must be at least %s (got %s, eject_for %s)",
				it.key("eject_for"), pp.MaxEjectFor, pp.EjectFor)
		}
		pp.SlowStart, _ = p.durationFrom(it, "slow_start", 0, true)
		pp.ConnectTimeout, _ = p.duration(it, "connect_timeout", defaultProxyConnectTimeout)
		var tryOK, timeoutOK bool
		pp.TryTimeout, tryOK = p.duration(it, "try_timeout", defaultProxyTryTimeout)
		pp.Timeout, timeoutOK = p.duration(it, "timeout", defaultProxyTimeout)
		if tryOK && timeoutOK && pp.Timeout < pp.TryTimeout {
			p.errAt(it.lineOf("timeout"), it.key("timeout"), "must be at least %s (got %s, try_timeout %s)",
				it.key("try_timeout"), pp.Timeout, pp.TryTimeout)
		}
		pp.Retries, _ = p.integer(it, "retries", -1, maxProxyRetries, defaultProxyRetries)
		pp.MaxIdleConns, _ = p.integer(it, "max_idle_conns", 1, math.MaxInt, defaultProxyMaxIdleConns)
		pp.Backends = p.decodeProxyBackends(it)
		pc.Pools = append(pc.Pools, pp)
	}
	if !known {
		return
	}
	for _, r := range p.poolRefs {
		if !slices.Contains(names, r.pool) {
			p.errAt(r.line, r.key, "unknown pool %q%s", r.pool, didYouMean(r.pool, names))
		}
	}
}

// decodeProxyAlgorithm fills the algorithm of a proxy pool and its hash
// key.
func (p *parser) decodeProxyAlgorithm(it *item, pp *ProxyPool) {
	pp.Algorithm = defaultProxyAlgorithm
	algOK := true
	if s, ok := p.str(it, "algorithm", false); !ok {
		algOK = false
	} else if s != "" {
		if v := strings.ToLower(s); slices.Contains(balance.Algorithms, v) {
			pp.Algorithm = v
		} else {
			p.errAt(it.lineOf("algorithm"), it.key("algorithm"), "must be one of %s (got %q)%s",
				strings.Join(balance.Algorithms, ", "), s, didYouMean(v, balance.Algorithms))
			algOK = false
		}
	}
	header, hok := p.str(it, "hash_header", false)
	cookie, cok := p.str(it, "hash_cookie", false)
	if hok && header != "" {
		if !isToken(header) {
			p.errAt(it.lineOf("hash_header"), it.key("hash_header"), "must be a header name, an RFC 9110 token (got %q)", header)
			hok = false
		} else {
			pp.HashHeader = header
		}
	}
	if cok && cookie != "" {
		if !isToken(cookie) {
			p.errAt(it.lineOf("hash_cookie"), it.key("hash_cookie"), "must be a cookie name, an RFC 9110 token (got %q)", cookie)
			cok = false
		} else {
			pp.HashCookie = cookie
		}
	}
	if !algOK || !hok || !cok {
		return
	}
	hashed := pp.Algorithm == balance.ConsistentHash
	switch {
	case hashed && header == "" && cookie == "":
		p.errAt(it.lineOf("algorithm"), it.key("hash_header"), "one of hash_header and hash_cookie required with algorithm %s", pp.Algorithm)
	case hashed && header != "" && cookie != "":
		p.errAt(it.lineOf("hash_cookie"), it.key("hash_cookie"), "only one of hash_header and hash_cookie may be set")
	case !hashed && header != "":
		p.errAt(it.lineOf("hash_header"), it.key("hash_header"), "only with algorithm %s (algorithm is %s)", balance.ConsistentHash, pp.Algorithm)
	case !hashed && cookie != "":
		p.errAt(it.lineOf("hash_cookie"), it.key("hash_cookie"), "only with algorithm %s (algorithm is %s)", balance.ConsistentHash, pp.Algorithm)
	}
}

// decodeProxySticky decodes the sticky mapping of a proxy pool; nil when
// absent, null or not a mapping.
func (p *parser) decodeProxySticky(it *item) *ProxySticky {
	n := it.vals["sticky"]
	if n == nil {
		return nil
	}
	si, ok := p.item(n, it.key("sticky"), proxyStickyFields)
	if !ok {
		return nil
	}
	st := &ProxySticky{Cookie: defaultProxyStickyCookie}
	if s, ok := p.str(si, "cookie", false); ok && s != "" {
		if !isToken(s) {
			p.errAt(si.lineOf("cookie"), si.key("cookie"), "must be a cookie name, an RFC 9110 token (got %q)", s)
		} else {
			st.Cookie = s
		}
	}
	st.TTL, _ = p.durationFrom(si, "ttl", 0, true)
	return st
}

// decodeProxyBackends returns the backends of proxy pool it.
func (p *parser) decodeProxyBackends(it *item) []ProxyBackend {
	nodes, ok := p.items(it, "backends")
	if ok && len(nodes) == 0 {
		p.errAt(it.lineOf("backends"), it.key("backends"), "at least one backend required")
	}
	var out []ProxyBackend
	names := make(map[string]string)
	addrs := make(map[netip.AddrPort]string)
	for i, n := range nodes {
		bi, ok := p.item(n, fmt.Sprintf("%s[%d]", it.key("backends"), i), proxyBackendFields)
		if !ok {
			continue
		}
		var b ProxyBackend
		if name, ok := p.ident(bi, "name"); ok {
			b.Name = name
			p.unique(names, bi, "name", name)
		}
		if s, ok := p.str(bi, "address", true); ok {
			b.Address = s
			ap, msg := parseCheckTarget(s)
			switch prev, dup := addrs[ap]; {
			case msg != "":
				p.errAt(bi.lineOf("address"), bi.key("address"), "%s", msg)
			case dup:
				p.errAt(bi.lineOf("address"), bi.key("address"), "duplicate of %s (%q)", prev, s)
			default:
				addrs[ap] = bi.path
				b.Addr = ap
			}
		}
		b.Weight, _ = p.integer(bi, "weight", 1, math.MaxInt, 1)
		b.MaxConns, _ = p.integer(bi, "max_conns", 0, math.MaxInt, 0)
		out = append(out, b)
	}
	return out
}

// validateProxy checks the scalar keys of the proxy section, reads the
// sticky secret, and checks the listeners against dns.listen, admin.listen
// and cluster.bind (the parsed addresses; bind only under `aya serve`).
func (p *parser) validateProxy(c *Config, dnsAddrs []hostPort, admin, bind hostPort) {
	pc := c.Proxy
	if pc == nil {
		return
	}
	check := func(name string) bool { return !p.bad[name] }
	positive := func(name string, d time.Duration) {
		if check(name) && d <= 0 {
			p.errorf(name, -1, "must be greater than 0 (got %s)", d)
		}
	}

	if check("proxy.region") {
		switch {
		case strings.TrimSpace(pc.Region) == "":
			p.errorf("proxy.region", -1, "required")
		case checkName(pc.Region) != "":
			p.errorf("proxy.region", -1, "%s", checkName(pc.Region))
		case p.regionsKnown && len(p.regionNames) > 0 && !slices.Contains(p.regionNames, pc.Region):
			p.errorf("proxy.region", -1, "unknown region %q%s", pc.Region, didYouMean(pc.Region, p.regionNames))
		}
	}

	if check("proxy.report_to") {
		p.dialAddrs("proxy.report_to", pc.ReportTo)
	}
	positive("proxy.report_interval", pc.ReportInterval)
	positive("proxy.drain_timeout", pc.DrainTimeout)

	if check("proxy.trusted_proxies") {
		for i, s := range pc.TrustedProxies {
			pfx, msg := parsePrefix(s)
			if msg != "" {
				p.errorf("proxy.trusted_proxies", i, "%s", msg)
				continue
			}
			pc.TrustedPrefixes = append(pc.TrustedPrefixes, pfx)
		}
	}

	positive("proxy.limits.read_header_timeout", pc.Limits.ReadHeaderTimeout)
	positive("proxy.limits.idle_timeout", pc.Limits.IdleTimeout)
	if check("proxy.rate_limit.rate") {
		if r := pc.RateLimit.Rate; r < 0 || r > maxProxyRate {
			p.errorf("proxy.rate_limit.rate", -1, "must be between 0 and %d (got %s)", maxProxyRate, formatFloat(r))
		} else if r > 0 && pc.RateLimit.Burst == 0 && check("proxy.rate_limit.burst") {
			pc.RateLimit.Burst = int(math.Ceil(r))
		}
	}

	p.validateStickySecret(pc)

	for _, l := range p.proxyListens {
		if l.hp.overlaps(admin) {
			p.errAt(l.line, l.key, "overlaps admin.listen (%q): both use TCP", c.Admin.Listen)
			continue
		}
		if p.mode != modeServe {
			continue
		}
		if l.hp.overlaps(bind) {
			p.errAt(l.line, l.key, "overlaps cluster.bind (%q): both use TCP", c.Cluster.Bind)
			continue
		}
		for i, d := range dnsAddrs {
			if d.overlaps(l.hp) {
				p.errAt(l.line, l.key, "overlaps dns.listen[%d] (%q): both use TCP", i, c.DNS.Listen[i])
				break
			}
		}
	}
}

// validateStickySecret checks proxy.sticky_secret, reads
// proxy.sticky_secret_file into it, and requires one of them when a pool
// is sticky. The secret is never printed.
func (p *parser) validateStickySecret(pc *ProxyConfig) {
	const secret, file = "proxy.sticky_secret", "proxy.sticky_secret_file"
	if p.bad[secret] || p.bad[file] {
		return
	}
	if strings.TrimSpace(pc.StickySecretFile) == "" {
		pc.StickySecretFile = ""
	}
	switch {
	case pc.StickySecret != "" && pc.StickySecretFile != "":
		p.errorf(file, -1, "must not be set together with %s: set one of them", secret)
		return
	case pc.StickySecret != "":
		if len(pc.StickySecret) < minStickySecret {
			p.errorf(secret, -1, "must be at least %d bytes (got %d)", minStickySecret, len(pc.StickySecret))
			return
		}
	case pc.StickySecretFile != "":
		p.resolvePath(file, &pc.StickySecretFile)
		s, msg := readSecretFile(pc.StickySecretFile)
		if msg != "" {
			p.errorf(file, -1, "%s", msg)
			return
		}
		pc.StickySecret = s
	}
	if pc.StickySecret != "" {
		return
	}
	for i, pp := range pc.Pools {
		if pp.Sticky != nil {
			p.errorf(secret, -1, "required, or %s, when a pool is sticky (proxy.pools[%d] is)", file, i)
			return
		}
	}
}

// readSecretFile reads a sticky secret: a regular file of at least
// minStickySecret bytes once its trailing line breaks are removed.
func readSecretFile(path string) (string, string) {
	data, msg := readSmallFile(path)
	if msg != "" {
		return "", msg
	}
	s := strings.TrimRight(data, "\r\n")
	if len(s) < minStickySecret {
		return "", fmt.Sprintf("must hold at least %d bytes (%q holds %d)", minStickySecret, path, len(s))
	}
	return s, ""
}

// readSmallFile reads a regular file of at most maxStickySecretFile bytes.
// It opens without blocking, so that a FIFO is refused rather than waited
// on.
func readSmallFile(path string) (string, string) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", "cannot read: " + pathError(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Sprintf("must be a regular file (got %q)", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxStickySecretFile+1))
	switch {
	case err != nil:
		return "", "cannot read: " + pathError(err)
	case len(data) > maxStickySecretFile:
		return "", fmt.Sprintf("must be at most %d bytes (%q is larger)", maxStickySecretFile, path)
	}
	return string(data), ""
}

// pathError renders an os error on one line: "open x: no such file or
// directory".
func pathError(err error) string {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return fmt.Sprintf("%s %s: %v", pe.Op, pe.Path, pe.Err)
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
