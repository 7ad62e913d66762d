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

// Defaults of the Check fields.
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

// bodyLimit is how much of a response body is read (and matched).
const bodyLimit = 64 << 10

// Check is the health check of one endpoint. The zero value of a field
// means its default.
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

// FieldError is a Check field with an invalid value. Field is the Go name
// of the field, so that a config layer can map it to its own key.
type FieldError struct {
	Key   state.EndpointKey
	Field string
	Msg   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("probes: check %s/%s/%s: %s: %s", e.Key.Pool, e.Key.Region, e.Key.Endpoint, e.Field, e.Msg)
}

// withDefaults returns c with every zero field set to its default.
func (c Check) withDefaults() Check {
	if c.Kind == KindHTTP || c.Kind == KindHTTPS {
		if c.Method == "" {
			c.Method = DefaultMethod
		}
		if c.Path == "" {
			c.Path = DefaultPath
		}
		if c.UserAgent == "" {
			c.UserAgent = DefaultUserAgent
		}
		if c.ExpectStatus == [2]int{} {
			c.ExpectStatus = [2]int{200, 399}
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

// Validate reports the first invalid field of c, as a *FieldError. Zero
// fields are judged by their defaults.
func (c *Check) Validate() error {
	d := c.withDefaults()
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
	httpish := c.Kind == KindHTTP || c.Kind == KindHTTPS
	switch c.Kind {
	case KindHTTP, KindHTTPS, KindTCP:
	case "":
		return bad("Kind", `must be set: "http", "https" or "tcp"`)
	default:
		return bad("Kind", `%q is not "http", "https" or "tcp"`, c.Kind)
	}
	if !c.Target.IsValid() || !c.Target.Addr().IsValid() {
		return bad("Target", "must be set: address:port")
	}
	if c.Target.Port() == 0 {
		return bad("Target", "%s: port must not be 0", c.Target)
	}
	if httpish {
		if !validToken(d.Method) {
			return bad("Method", "%q is not an HTTP method", c.Method)
		}
		if !strings.HasPrefix(d.Path, "/") || strings.ContainsAny(d.Path, " \t\r\n#") {
			return bad("Path", `%q must start with "/" and hold no spaces or fragment`, c.Path)
		}
		if strings.ContainsAny(c.UserAgent, "\r\n\x00") {
			return bad("UserAgent", "%q must be one line", c.UserAgent)
		}
		if strings.ContainsAny(c.Host, " \t\r\n/?#@") {
			return bad("Host", "%q is not a host[:port]", c.Host)
		}
		lo, hi := d.ExpectStatus[0], d.ExpectStatus[1]
		if lo < 100 || hi > 599 || lo > hi {
			return bad("ExpectStatus", "[%d, %d] is not a range within [100, 599]", lo, hi)
		}
	} else {
		switch {
		case c.Method != "":
			return bad("Method", "is for http and https checks only")
		case c.Path != "":
			return bad("Path", "is for http and https checks only")
		case c.Host != "":
			return bad("Host", "is for http and https checks only")
		case c.ExpectStatus != [2]int{}:
			return bad("ExpectStatus", "is for http and https checks only")
		case c.UserAgent != "":
			return bad("UserAgent", "is for http and https checks only")
		case c.BodyMatch != nil:
			return bad("BodyMatch", "is for http and https checks only")
		}
	}
	if c.Kind != KindHTTPS {
		switch {
		case c.TLSServerName != "":
			return bad("TLSServerName", "is for https checks only")
		case c.TLSInsecureSkipVerify:
			return bad("TLSInsecureSkipVerify", "is for https checks only")
		case c.RootCAs != nil:
			return bad("RootCAs", "is for https checks only")
		}
	}
	switch {
	case d.Interval < 0:
		return bad("Interval", "%s must be positive", c.Interval)
	case d.Jitter < 0 || d.Jitter > 1:
		return bad("Jitter", "%g must be within (0, 1]", c.Jitter)
	case d.Timeout < 0:
		return bad("Timeout", "%s must be positive", c.Timeout)
	case d.Timeout >= d.Interval:
		return bad("Timeout", "%s must be less than Interval (%s)", d.Timeout, d.Interval)
	case d.Rise < 0:
		return bad("Rise", "%d must be positive", c.Rise)
	case d.Fall < 0:
		return bad("Fall", "%d must be positive", c.Fall)
	}
	return nil
}

// validToken reports whether s is an RFC 9110 token, as a method must be.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r > 0x7e || r <= ' ' || strings.ContainsRune(`"(),/:;<=>?@[\]{}`, r) {
			return false
		}
	}
	return true
}
