package probes

import (
	"crypto/x509"
	"fmt"
	"net/netip"
	"regexp"
	"strings"
	"time"

	"github.com/aya-gslb/aya/state"
)

// Kind is the protocol of a check.
type Kind string

// The kinds of check.
const (
	KindHTTP  Kind = "http"
	KindHTTPS Kind = "https"
	KindTCP   Kind = "tcp"
)

// bodyLimit is how much of a response body is read (and matched).
const bodyLimit = 64 << 10

// Check is the health check of one endpoint, as CheckConfig.Check builds
// it. The zero value of a field means its default; the settings it shares
// with CheckConfig have CheckConfig's defaults and rules.
type Check struct {
	// Key names the endpoint this check judges.
	Key state.EndpointKey
	// Kind is the protocol: "http", "https" or "tcp".
	Kind Kind
	// Target is the address and port to connect to, whatever Host says.
	Target netip.AddrPort

	// Method is the HTTP method (default GET). HTTP and HTTPS only.
	Method string
	// Path is the request path, with an optional query (default "/").
	Path string
	// Host is the Host header, and the default TLS server name (default:
	// Target).
	Host string
	// ExpectStatus is the inclusive range of status codes that pass
	// (default {200, 399}). Redirects are not followed: a 3xx is judged by
	// this range.
	ExpectStatus [2]int
	// UserAgent is the User-Agent header (default "aya-probe"); naming the
	// site in it lets a backend's logs tell the sites' probes apart.
	UserAgent string
	// BodyMatch, when set, must match the first 64 KiB of the body.
	BodyMatch *regexp.Regexp

	// TLSServerName is the name sent in SNI and verified in the server's
	// certificate (default: Host without its port, else Target's address).
	// HTTPS only.
	TLSServerName string
	// TLSInsecureSkipVerify accepts any certificate. HTTPS only.
	TLSInsecureSkipVerify bool
	// RootCAs verify the server's certificate (nil: the system roots).
	// HTTPS only.
	RootCAs *x509.CertPool

	// Interval is the time between the starts of two probes (default 5s).
	Interval time.Duration
	// Jitter is the fraction of Interval, in (0, 1], by which each wait
	// varies at random either way (default 0.1): waits are in
	// [Interval-Jitter*Interval, Interval+Jitter*Interval). The first probe
	// comes at a random offset in [0, Interval), to spread the load.
	Jitter float64
	// Timeout bounds one probe: connect, TLS handshake, request and body
	// (default 2s). It must be less than Interval.
	Timeout time.Duration
	// Rise is the number of consecutive successes that bring a down
	// endpoint up (default 2); Fall the number of consecutive failures
	// that bring an up endpoint down (default 2).
	Rise, Fall int
}

// FieldError is a check's field with an invalid value. Field is the
// field's key in a check's configuration (a CheckConfig yaml tag, with an
// index for an item of a list: "expect_status[1]"), so that a config layer
// can place it in its file; or, for a field only Check has, its Go name
// (Key.Pool, Target, UserAgent; RootCAs is judged as tls_ca_file). Key is
// zero for a CheckConfig's error.
type FieldError struct {
	Key   state.EndpointKey
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	if e.Key == (state.EndpointKey{}) {
		return fmt.Sprintf("probes: check: %s: %s", e.Field, e.Msg)
	}
	return fmt.Sprintf("probes: check %s/%s/%s: %s: %s", e.Key.Pool, e.Key.Region, e.Key.Endpoint, e.Field, e.Msg)
}

// config is the part of c that a CheckConfig holds, to judge and default
// by the same rules. RootCAs stands in TLSCAFile's place, so that it is
// judged as an HTTPS setting.
func (c *Check) config() CheckConfig {
	cc := CheckConfig{
		Kind: c.Kind, Method: c.Method, Path: c.Path, Host: c.Host, ExpectStatus: c.ExpectStatus,
		TLSServerName: c.TLSServerName, TLSInsecureSkipVerify: c.TLSInsecureSkipVerify,
		Interval: c.Interval, Jitter: c.Jitter, Timeout: c.Timeout, Rise: c.Rise, Fall: c.Fall,
	}
	if c.BodyMatch != nil {
		cc.BodyMatch = c.BodyMatch.String()
	}
	if c.RootCAs != nil {
		cc.TLSCAFile = "(RootCAs)"
	}
	return cc
}

// withDefaults returns c with every zero field set to its default, as
// CheckConfig.WithDefaults sets them, and the User-Agent of an HTTP check.
func (c Check) withDefaults() Check {
	d := c.config().WithDefaults()
	c.Method, c.Path, c.ExpectStatus = d.Method, d.Path, d.ExpectStatus
	c.Interval, c.Jitter, c.Timeout, c.Rise, c.Fall = d.Interval, d.Jitter, d.Timeout, d.Rise, d.Fall
	if c.Kind.httpish() && c.UserAgent == "" {
		c.UserAgent = DefaultUserAgent
	}
	return c
}

// Validate reports the first invalid field of c, as a *FieldError. Zero
// fields are judged by their defaults; the settings a CheckConfig has, by
// its rules.
func (c *Check) Validate() error {
	bad := func(field, format string, args ...any) error {
		return &FieldError{Key: c.Key, Field: field, Msg: fmt.Sprintf(format, args...)}
	}
	switch {
	case c.Key.Pool == "":
		return bad("Key.Pool", "must not be empty")
	case c.Key.Region == "":
		return bad("Key.Region", "must not be empty")
	case c.Key.Endpoint == "":
		return bad("Key.Endpoint", "must not be empty")
	}
	cc := c.config().WithDefaults()
	if errs := cc.fieldErrors(); len(errs) > 0 {
		errs[0].Key = c.Key
		return errs[0]
	}
	if !c.Target.IsValid() || !c.Target.Addr().IsValid() {
		return bad("Target", "must be set: address:port")
	}
	if c.Target.Port() == 0 {
		return bad("Target", "%s: port must not be 0", c.Target)
	}
	switch {
	case c.Kind.httpish() && strings.ContainsAny(c.UserAgent, "\r\n\x00"):
		return bad("UserAgent", "%q must be one line", c.UserAgent)
	case !c.Kind.httpish() && c.UserAgent != "":
		return bad("UserAgent", "only for http and https checks (kind is %s)", c.Kind)
	}
	return nil
}
