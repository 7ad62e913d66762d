package probes

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"strings"
	"time"

	"github.com/aya-gslb/aya/internal/names"
	"github.com/aya-gslb/aya/state"
)

// Defaults of a check's settings: CheckConfig.WithDefaults applies them,
// and the zero fields of a Check mean them.
const (
	DefaultInterval  = 5 * time.Second
	DefaultJitter    = 0.1
	DefaultTimeout   = 2 * time.Second
	DefaultRise      = 2
	DefaultFall      = 2
	DefaultMethod    = "GET"
	DefaultPath      = "/"
	DefaultUserAgent = "aya-probe"
)

// defaultExpectStatus is the default range of passing HTTP status codes.
var defaultExpectStatus = [2]int{200, 399}

// CheckConfig is a health check as a configuration file gives it (a
// pool's check): how to probe each endpoint of the pool, not which. The
// yaml tags name the keys. A config layer decodes the check's mapping over
// WithDefaults of its kind, so that a zero left in a field is one the file
// gave, then calls Validate; Check builds the probe of one endpoint from
// it.
type CheckConfig struct {
	// Kind is the protocol (kind): "http", "https" or "tcp"; decoded in any
	// case and stored lower-case. Required.
	Kind Kind `yaml:"kind"`

	// Port is the port probed on each endpoint's address (port), 1-65535;
	// nil when absent, as it may be when something else gives the port
	// (each endpoint's own target, a backend's address). No default.
	Port *int `yaml:"port"`

	// Method is the HTTP method (method), an RFC 9110 token as written;
	// default GET. HTTP and HTTPS only.
	Method string `yaml:"method"`

	// Path is the request path with an optional query (path); it starts
	// with "/" and has no spaces, control characters or "#"; default "/".
	// HTTP and HTTPS only.
	Path string `yaml:"path"`

	// Host is the Host header and the default TLS server name (host); ""
	// (the default) means the probed address. HTTP and HTTPS only.
	Host string `yaml:"host"`

	// ExpectStatus is the inclusive range of status codes that pass
	// (expect_status), two codes 100-599, low first; default {200, 399}.
	// Redirects are not followed: a 3xx is judged by this range. HTTP and
	// HTTPS only.
	ExpectStatus [2]int `yaml:"expect_status"`

	// BodyMatch is a Go (RE2) regular expression that the first 64 KiB of
	// the body must match (body_match), as written; "" (the default): any
	// body. HTTP and HTTPS only.
	BodyMatch string `yaml:"body_match"`

	// TLSServerName is the name sent in SNI and verified in the server's
	// certificate (tls_server_name), a DNS name or an IP address; ""
	// (the default) means Host without its port, else the probed address.
	// HTTPS only.
	TLSServerName string `yaml:"tls_server_name"`

	// TLSInsecureSkipVerify accepts any server certificate
	// (tls_insecure_skip_verify), default false. HTTPS only.
	TLSInsecureSkipVerify bool `yaml:"tls_insecure_skip_verify"`

	// TLSCAFile is a PEM bundle that verifies the server's certificate
	// instead of the system roots (tls_ca_file); "" (the default) for none.
	// A path: the config layer resolves it, the caller of Check reads it.
	// HTTPS only.
	TLSCAFile string `yaml:"tls_ca_file"`

	// Interval is the time between the starts of two probes (interval),
	// greater than 0, default 5s.
	Interval time.Duration `yaml:"interval"`

	// Jitter is the fraction of Interval by which each wait varies at
	// random either way (jitter), greater than 0 and at most 1, default
	// 0.1.
	Jitter float64 `yaml:"jitter"`

	// Timeout bounds one probe: connect, TLS handshake, request and body
	// (timeout), greater than 0 and less than Interval, default 2s.
	Timeout time.Duration `yaml:"timeout"`

	// Rise is the number of passing probes in a row that mark an endpoint
	// up (rise), and Fall the number of failing ones that mark it down
	// (fall); each at least 1, default 2.
	Rise int `yaml:"rise"`
	Fall int `yaml:"fall"`
}

// UnmarshalText implements encoding.TextUnmarshaler: a kind is decoded in
// any case and stored lower-case.
func (k *Kind) UnmarshalText(b []byte) error {
	*k = Kind(strings.ToLower(string(b)))
	return nil
}

// httpish reports whether k speaks HTTP (and so has the HTTP settings).
func (k Kind) httpish() bool { return k == KindHTTP || k == KindHTTPS }

// WithDefaults returns c with every zero field that has a default set to
// it; the HTTP settings only for an HTTP or HTTPS kind.
func (c CheckConfig) WithDefaults() CheckConfig {
	if c.Kind.httpish() {
		if c.Method == "" {
			c.Method = DefaultMethod
		}
		if c.Path == "" {
			c.Path = DefaultPath
		}
		if c.ExpectStatus == [2]int{} {
			c.ExpectStatus = defaultExpectStatus
		}
	}
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Jitter == 0 {
		c.Jitter = DefaultJitter
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.Rise == 0 {
		c.Rise = DefaultRise
	}
	if c.Fall == 0 {
		c.Fall = DefaultFall
	}
	return c
}

// Validate judges c as it is, with no defaults applied (call it on what
// WithDefaults returned, or on a decoding over it: a zero Interval,
// Jitter, Timeout, Rise or Fall is refused). It returns every invalid
// field, each a *FieldError naming its key, joined.
func (c *CheckConfig) Validate() error {
	errs := c.fieldErrors()
	all := make([]error, len(errs))
	for i, e := range errs {
		all[i] = e
	}
	return errors.Join(all...)
}

// fieldErrors are the invalid fields of c, in key order. Fields whose
// rules need a known kind are judged only when Kind is one.
func (c *CheckConfig) fieldErrors() []*FieldError {
	var errs []*FieldError
	bad := func(field, format string, args ...any) {
		errs = append(errs, &FieldError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	kindOK := false
	switch c.Kind {
	case KindHTTP, KindHTTPS, KindTCP:
		kindOK = true
	case "":
		bad("kind", "required")
	default:
		bad("kind", "must be one of http, https, tcp (got %q)", string(c.Kind))
	}
	if c.Port != nil && (*c.Port < 1 || *c.Port > 65535) {
		bad("port", "must be between 1 and 65535 (got %d)", *c.Port)
	}

	// The HTTP settings, then the HTTPS ones: each value, then its kind.
	if c.Method != "" && !names.IsToken(c.Method) {
		bad("method", "must be an HTTP method such as GET or HEAD, an RFC 9110 token (got %q)", c.Method)
	}
	switch {
	case c.Path == "":
	case !strings.HasPrefix(c.Path, "/"):
		bad("path", "must start with \"/\" (got %q)", c.Path)
	case strings.ContainsFunc(c.Path, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '#' }):
		bad("path", "must not contain spaces, control characters or \"#\" (got %q)", c.Path)
	}
	if strings.ContainsFunc(c.Host, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune("/?#@", r) }) {
		bad("host", "must be a host name or address, optionally with :port (got %q)", c.Host)
	}
	if c.ExpectStatus != [2]int{} {
		inRange := true
		for i, code := range c.ExpectStatus {
			if code < 100 || code > 599 {
				bad(fmt.Sprintf("expect_status[%d]", i), "must be between 100 and 599 (got %d)", code)
				inRange = false
			}
		}
		if lo, hi := c.ExpectStatus[0], c.ExpectStatus[1]; inRange && lo > hi {
			bad("expect_status", "the low code must come first (got [%d, %d])", lo, hi)
		}
	}
	if c.BodyMatch != "" {
		if _, err := regexp.Compile(c.BodyMatch); err != nil {
			bad("body_match", "%s", regexpError(err))
		}
	}
	if kindOK && !c.Kind.httpish() {
		for _, f := range []struct {
			key string
			set bool
		}{
			{"method", c.Method != ""}, {"path", c.Path != ""}, {"host", c.Host != ""},
			{"expect_status", c.ExpectStatus != [2]int{}}, {"body_match", c.BodyMatch != ""},
		} {
			if f.set {
				bad(f.key, "only for http and https checks (kind is %s)", c.Kind)
			}
		}
	}
	if s := c.TLSServerName; s != "" {
		if _, err := netip.ParseAddr(s); err != nil && !names.IsHostName(s) {
			bad("tls_server_name", "must be a DNS name or an IP address (got %q)", s)
		}
	}
	if kindOK && c.Kind != KindHTTPS {
		for _, f := range []struct {
			key string
			set bool
		}{
			{"tls_server_name", c.TLSServerName != ""}, {"tls_insecure_skip_verify", c.TLSInsecureSkipVerify},
			{"tls_ca_file", c.TLSCAFile != ""},
		} {
			if f.set {
				bad(f.key, "only for https checks (kind is %s)", c.Kind)
			}
		}
	}

	// Timing.
	if c.Interval <= 0 {
		bad("interval", "must be greater than 0 (got %s)", c.Interval)
	}
	if !(c.Jitter > 0 && c.Jitter <= 1) {
		bad("jitter", "must be greater than 0 and at most 1 (got %g)", c.Jitter)
	}
	switch {
	case c.Timeout <= 0:
		bad("timeout", "must be greater than 0 (got %s)", c.Timeout)
	case c.Interval > 0 && c.Timeout >= c.Interval:
		bad("timeout", "must be less than interval (got %s, interval %s)", c.Timeout, c.Interval)
	}
	if c.Rise < 1 {
		bad("rise", "must be at least 1 (got %d)", c.Rise)
	}
	if c.Fall < 1 {
		bad("fall", "must be at least 1 (got %d)", c.Fall)
	}
	return errs
}

// Check returns the check of the endpoint key at target, from c with its
// defaults applied; ua is its User-Agent when it speaks HTTP, and roots
// (nil: the system roots) verify an HTTPS server, read by the caller from
// TLSCAFile. The error is body_match's, when it does not compile; Validate
// and Check.Validate judge the rest.
func (c CheckConfig) Check(key state.EndpointKey, target netip.AddrPort, ua string, roots *x509.CertPool) (Check, error) {
	d := c.WithDefaults()
	ch := Check{
		Key:                   key,
		Kind:                  d.Kind,
		Target:                target,
		Method:                d.Method,
		Path:                  d.Path,
		Host:                  d.Host,
		ExpectStatus:          d.ExpectStatus,
		TLSServerName:         d.TLSServerName,
		TLSInsecureSkipVerify: d.TLSInsecureSkipVerify,
		RootCAs:               roots,
		Interval:              d.Interval,
		Jitter:                d.Jitter,
		Timeout:               d.Timeout,
		Rise:                  d.Rise,
		Fall:                  d.Fall,
	}
	if d.Kind.httpish() {
		ch.UserAgent = ua
	}
	if d.BodyMatch != "" {
		re, err := regexp.Compile(d.BodyMatch)
		if err != nil {
			return ch, &FieldError{Key: key, Field: "body_match", Msg: regexpError(err)}
		}
		ch.BodyMatch = re
	}
	return ch, nil
}

// regexpError renders a regexp compile error on one line, with the part of
// the expression it is about quoted.
func regexpError(err error) string {
	if se, ok := errors.AsType[*syntax.Error](err); ok {
		return fmt.Sprintf("not a valid Go regular expression: %s: %q", se.Code, se.Expr)
	}
	return "not a valid Go regular expression: " + strings.Join(strings.Fields(err.Error()), " ")
}
