package proxy

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aya-gslb/aya/internal/names"
	"github.com/aya-gslb/aya/proxy/balance"
)

// FieldError is a field of a Config that breaks a rule. Key is the field's
// path by its yaml keys, as the configuration file spells it
// ("pools[1].backends[0].address"), so that a config layer can place it at
// the line that set it.
type FieldError struct {
	Key string
	Msg string
	// Err is a sentinel the error wraps (ErrUnknownPool), or nil.
	Err error
}

func (e *FieldError) Error() string { return e.Key + ": " + e.Msg }

// Unwrap returns Err.
func (e *FieldError) Unwrap() error { return e.Err }

// ErrUnknownPool is wrapped by the error of a route that names a pool that
// is not configured.
var ErrUnknownPool = errors.New("unknown pool")

// Validate reports every field of c that breaks a rule, as *FieldError
// values joined with errors.Join, in field order. It judges c as given, a
// zero field as zero: call it on c.WithDefaults() (as New does) unless c
// was decoded from YAML, which starts every item from its defaults.
func (c *Config) Validate() error { return c.ValidateAt("") }

// ValidateAt is Validate for a Config read from the section root of a
// larger file ("proxy"): every key path, those of the errors and those the
// messages name, starts with root and a dot.
func (c *Config) ValidateAt(root string) error {
	v := &validator{root: root}
	v.listeners(c.Listeners)
	v.routes(c.Routes, c.Pools)
	v.pools(c.Pools)
	v.section(c)
	return errors.Join(v.errs...)
}

// validator collects the field errors of one Validate.
type validator struct {
	root string
	errs []error
}

// key is the full key path of path.
func (v *validator) key(path string) string {
	if v.root == "" {
		return path
	}
	return v.root + "." + path
}

// bad records a problem with the field at path.
func (v *validator) bad(path, format string, args ...any) {
	v.errs = append(v.errs, &FieldError{Key: v.key(path), Msg: fmt.Sprintf(format, args...)})
}

// atLeast records a number below lo.
func atLeast[T ~int | ~int64](v *validator, path string, n, lo T) {
	if n < lo {
		v.bad(path, "must be at least %d (got %v)", int64(lo), n) // a Duration bound is 0
	}
}

// positive records a duration that is not greater than 0.
func (v *validator) positive(path string, d time.Duration) {
	if d <= 0 {
		v.bad(path, "must be greater than 0 (got %s)", d)
	}
}

// required records an empty or blank string; it returns whether s is set.
func (v *validator) required(path, s string) bool {
	if strings.TrimSpace(s) == "" {
		v.bad(path, "required")
		return false
	}
	return true
}

// section checks the scalar settings.
func (v *validator) section(c *Config) {
	for i, p := range c.TrustedProxies {
		if !p.IsValid() {
			v.bad(fmt.Sprintf("trusted_proxies[%d]", i), "must be a CIDR prefix (got %s)", p)
		}
	}
	l := c.Limits
	atLeast(v, "limits.max_header_bytes", l.MaxHeaderBytes, 1)
	atLeast(v, "limits.max_body_bytes", l.MaxBodyBytes, 1)
	v.positive("limits.read_header_timeout", l.ReadHeaderTimeout)
	v.positive("limits.idle_timeout", l.IdleTimeout)
	atLeast(v, "limits.max_conns", l.MaxConns, 1)
	atLeast(v, "limits.max_conns_per_client", l.MaxConnsPerClient, 1)
	atLeast(v, "limits.max_headers", l.MaxHeaders, 1)
	v.positive("limits.body_timeout", l.BodyTimeout)
	if l.MinUploadRate < 1 && l.MinUploadRate != NoMinUploadRate {
		v.bad("limits.min_upload_rate", "must be at least 1, or -1 for no minimum (got %d)", l.MinUploadRate)
	}
	v.positive("limits.min_upload_rate_grace", l.MinUploadRateGrace)
	atLeast(v, "limits.buffer_body_bytes", l.BufferBodyBytes, 1)
	if r := c.RateLimit.Rate; !(r >= 0 && r <= MaxRate) {
		v.bad("rate_limit.rate", "must be between 0 and %d (got %s)", MaxRate, strconv.FormatFloat(r, 'f', -1, 64))
	}
	atLeast(v, "rate_limit.burst", c.RateLimit.Burst, 0)
	if n := len(c.StickySecret); n > 0 && n < MinStickySecret {
		v.bad("sticky_secret", "must be at least %d bytes (got %d)", MinStickySecret, n)
	}
	if i := slices.IndexFunc(c.Pools, func(p Pool) bool { return p.Sticky != nil }); i >= 0 && len(c.StickySecret) == 0 {
		v.bad("sticky_secret", "required when a pool is sticky (%s is)", v.key(fmt.Sprintf("pools[%d]", i)))
	}
	v.positive("drain_timeout", c.DrainTimeout)
	atLeast(v, "capacity", c.Capacity, 0)
}

// listeners checks the listeners.
func (v *validator) listeners(ls []Listener) {
	if len(ls) == 0 {
		v.bad("listeners", "at least one listener required")
	}
	for i, l := range ls {
		at := fmt.Sprintf("listeners[%d]", i)
		if v.required(at+".address", l.Addr) {
			if _, _, err := net.SplitHostPort(l.Addr); err != nil {
				v.bad(at+".address", "must be host:port (got %q)", l.Addr)
			}
		}
		for j, c := range l.Certs {
			v.required(fmt.Sprintf("%s.certs[%d].cert_file", at, j), c.CertFile)
			v.required(fmt.Sprintf("%s.certs[%d].key_file", at, j), c.KeyFile)
		}
		if l.HTTP2 && len(l.Certs) == 0 {
			v.bad(at+".http2", "only with certs: HTTP/2 is offered over TLS")
		}
	}
}

// routes checks the routes, and their pools when every pool has a valid
// name (else a route may refer to the name meant: no guesses).
func (v *validator) routes(rs []Route, pools []Pool) {
	if len(rs) == 0 {
		v.bad("routes", "at least one route required")
	}
	var poolNames []string
	known := true
	for _, p := range pools {
		poolNames = append(poolNames, p.Name)
		known = known && p.Name != "" && names.IsName(p.Name)
	}
	first := make(map[string]string) // host and path -> key path of the first route
	for i, r := range rs {
		at := fmt.Sprintf("routes[%d]", i)
		hostOK, pathOK := true, true
		if msg := checkRouteHost(r.Host); msg != "" {
			v.bad(at+".host", "%s", msg)
			hostOK = false
		}
		switch s := r.PathPrefix; {
		case s != "" && !strings.HasPrefix(s, "/"):
			v.bad(at+".path_prefix", "must start with \"/\" (got %q)", s)
			pathOK = false
		case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '?' || r == '#' }):
			v.bad(at+".path_prefix", "must not contain spaces, control characters, \"?\" or \"#\" (got %q)", s)
			pathOK = false
		}
		if v.required(at+".pool", r.Pool) && known && !slices.Contains(poolNames, r.Pool) {
			v.errs = append(v.errs, &FieldError{Key: v.key(at + ".pool"), Err: ErrUnknownPool,
				Msg: fmt.Sprintf("unknown pool %q%s", r.Pool, names.DidYouMean(r.Pool, poolNames))})
		}
		if hostOK && pathOK {
			// "" and "/" both match every path.
			match := strings.ToLower(strings.TrimSuffix(r.Host, ".")) + " " + strings.TrimSuffix(r.PathPrefix, "/")
			if prev, dup := first[match]; dup {
				v.bad(at, "same host and path_prefix as %s, so it never matches", prev)
			} else {
				first[match] = v.key(at)
			}
		}
	}
}

// checkRouteHost checks a route's host: "", a DNS name, an IP address, or
// "*." and a DNS name.
func checkRouteHost(s string) string {
	if s == "" {
		return ""
	}
	if rest, ok := strings.CutPrefix(s, "*."); ok && names.IsHostName(rest) {
		return ""
	}
	if names.IsHostName(s) {
		return ""
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Zone() == "" {
		return ""
	}
	return fmt.Sprintf("must be a host name, an IP address, \"*.\" and a domain, or \"\" for any host (got %q)", s)
}

// pools checks the pools.
func (v *validator) pools(ps []Pool) {
	if len(ps) == 0 {
		v.bad("pools", "at least one pool required")
	}
	first := make(map[string]string)
	for i, p := range ps {
		at := fmt.Sprintf("pools[%d]", i)
		v.name(at, p.Name, first)
		v.algorithm(at, p)
		if s := p.Sticky; s != nil {
			if s.Cookie != "" && !names.IsToken(s.Cookie) {
				v.bad(at+".sticky.cookie", "must be a cookie name, an RFC 9110 token (got %q)", s.Cookie)
			}
			atLeast(v, at+".sticky.ttl", s.TTL, 0)
		}
		atLeast(v, at+".consecutive_failures", p.ConsecutiveFailures, 0)
		v.positive(at+".eject_for", p.EjectFor)
		v.positive(at+".max_eject_for", p.MaxEjectFor)
		if p.EjectFor > 0 && p.MaxEjectFor > 0 && p.MaxEjectFor < p.EjectFor {
			v.bad(at+".max_eject_for", "must be at least %s (got %s, eject_for %s)", v.key(at+".eject_for"), p.MaxEjectFor, p.EjectFor)
		}
		atLeast(v, at+".slow_start", p.SlowStart, 0)
		v.positive(at+".connect_timeout", p.ConnectTimeout)
		v.positive(at+".try_timeout", p.TryTimeout)
		v.positive(at+".timeout", p.Timeout)
		if p.TryTimeout > 0 && p.Timeout > 0 && p.Timeout < p.TryTimeout {
			v.bad(at+".timeout", "must be at least %s (got %s, try_timeout %s)", v.key(at+".try_timeout"), p.Timeout, p.TryTimeout)
		}
		if p.Retries < -1 || p.Retries > MaxRetries {
			v.bad(at+".retries", "must be between -1 and %d (got %d)", MaxRetries, p.Retries)
		}
		atLeast(v, at+".max_idle_conns", p.MaxIdleConns, 1)
		v.backends(at, p.Backends)
	}
}

// name checks the name of the list item at: required, valid and not among
// first (names -> key paths of the items that had them first).
func (v *validator) name(at, name string, first map[string]string) {
	if !v.required(at+".name", name) {
		return
	}
	if msg := names.Check(name); msg != "" {
		v.bad(at+".name", "%s", msg)
		return
	}
	if prev, dup := first[name]; dup {
		v.bad(at+".name", "duplicate of %s (%q)", prev, name)
	} else {
		first[name] = v.key(at)
	}
}

// algorithm checks the algorithm of pool p, at, and its hash key.
func (v *validator) algorithm(at string, p Pool) {
	alg := or(p.Algorithm, defaultAlgorithm)
	ok := true
	if !slices.Contains(balance.Algorithms, alg) {
		v.bad(at+".algorithm", "must be one of %s (got %q)%s",
			strings.Join(balance.Algorithms, ", "), p.Algorithm, names.DidYouMean(strings.ToLower(p.Algorithm), balance.Algorithms))
		ok = false
	}
	if p.HashHeader != "" && !names.IsToken(p.HashHeader) {
		v.bad(at+".hash_header", "must be a header name, an RFC 9110 token (got %q)", p.HashHeader)
		ok = false
	}
	if p.HashCookie != "" && !names.IsToken(p.HashCookie) {
		v.bad(at+".hash_cookie", "must be a cookie name, an RFC 9110 token (got %q)", p.HashCookie)
		ok = false
	}
	if !ok {
		return
	}
	hashed := alg == balance.ConsistentHash
	switch {
	case hashed && p.HashHeader == "" && p.HashCookie == "":
		v.bad(at+".algorithm", "one of hash_header and hash_cookie required with algorithm %s", alg)
	case hashed && p.HashHeader != "" && p.HashCookie != "":
		v.bad(at+".hash_cookie", "only one of hash_header and hash_cookie may be set")
	case !hashed && p.HashHeader != "":
		v.bad(at+".hash_header", "only with algorithm %s (algorithm is %s)", balance.ConsistentHash, alg)
	case !hashed && p.HashCookie != "":
		v.bad(at+".hash_cookie", "only with algorithm %s (algorithm is %s)", balance.ConsistentHash, alg)
	}
}

// backends checks the backends of the pool at.
func (v *validator) backends(pool string, bs []Backend) {
	if len(bs) == 0 {
		v.bad(pool+".backends", "at least one backend required")
	}
	first := make(map[string]string)
	addrs := make(map[netip.AddrPort]string)
	for i, b := range bs {
		at := fmt.Sprintf("%s.backends[%d]", pool, i)
		v.name(at, b.Name, first)
		if v.required(at+".address", b.Addr) {
			ap, msg := names.ParseTarget(b.Addr)
			switch prev, dup := addrs[ap]; {
			case msg != "":
				v.bad(at+".address", "%s", msg)
			case dup:
				v.bad(at+".address", "duplicate of %s (%q)", prev, b.Addr)
			default:
				addrs[ap] = v.key(at)
			}
		}
		atLeast(v, at+".weight", b.Weight, 1)
		atLeast(v, at+".max_conns", b.MaxConns, 0)
	}
}
