package probes

import (
	"crypto/x509"
	"errors"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aya-gslb/aya/state"
)

var testKey = state.EndpointKey{Pool: "web", Region: "eu", Endpoint: "a"}

func TestValidate(t *testing.T) {
	target := netip.MustParseAddrPort("127.0.0.1:8080")
	base := func(k Kind, mod func(*Check)) Check {
		c := Check{Key: testKey, Kind: k, Target: target}
		if mod != nil {
			mod(&c)
		}
		return c
	}
	tests := []struct {
		name  string
		check Check
		field string // "" for valid
		msg   string
	}{
		{"http defaults", base(KindHTTP, nil), "", ""},
		{"https full", base(KindHTTPS, func(c *Check) {
			c.Method, c.Path, c.Host = "HEAD", "/healthz?deep=1", "www.example.com:8443"
			c.ExpectStatus = [2]int{200, 204}
			c.BodyMatch = regexp.MustCompile("ok")
			c.TLSServerName, c.RootCAs = "www.example.com", x509.NewCertPool()
			c.Interval, c.Jitter, c.Timeout, c.Rise, c.Fall = time.Second, 1, 999*time.Millisecond, 3, 1
		}), "", ""},
		{"tcp defaults", base(KindTCP, nil), "", ""},
		{"no pool", base(KindTCP, func(c *Check) { c.Key.Pool = "" }), "Key.Pool", "must not be empty"},
		{"no region", base(KindTCP, func(c *Check) { c.Key.Region = "" }), "Key.Region", "must not be empty"},
		{"no endpoint", base(KindTCP, func(c *Check) { c.Key.Endpoint = "" }), "Key.Endpoint", "must not be empty"},
		{"no kind", base("", nil), "kind", "required"},
		{"bad kind", base("dns", nil), "kind", `must be one of http, https, tcp (got "dns")`},
		{"no target", base(KindTCP, func(c *Check) { c.Target = netip.AddrPort{} }), "Target", "must be set"},
		{"port 0", base(KindTCP, func(c *Check) { c.Target = netip.MustParseAddrPort("127.0.0.1:0") }), "Target", "port must not be 0"},
		{"bad method", base(KindHTTP, func(c *Check) { c.Method = "GE T" }), "method", "an RFC 9110 token"},
		{"relative path", base(KindHTTP, func(c *Check) { c.Path = "healthz" }), "path", `must start with "/"`},
		{"fragment", base(KindHTTP, func(c *Check) { c.Path = "/a#b" }), "path", `"#"`},
		{"bad host", base(KindHTTP, func(c *Check) { c.Host = "a/b" }), "host", "must be a host name or address"},
		{"user agent on two lines", base(KindHTTP, func(c *Check) { c.UserAgent = "a\r\nX-Evil: 1" }), "UserAgent", "one line"},
		{"user agent on tcp", base(KindTCP, func(c *Check) { c.UserAgent = "x" }), "UserAgent", "only for http and https checks (kind is tcp)"},
		{"status reversed", base(KindHTTP, func(c *Check) { c.ExpectStatus = [2]int{399, 200} }), "expect_status", "the low code must come first (got [399, 200])"},
		{"status 600", base(KindHTTP, func(c *Check) { c.ExpectStatus = [2]int{200, 600} }), "expect_status[1]", "must be between 100 and 599 (got 600)"},
		{"tcp with path", base(KindTCP, func(c *Check) { c.Path = "/" }), "path", "only for http and https checks (kind is tcp)"},
		{"tcp with body", base(KindTCP, func(c *Check) { c.BodyMatch = regexp.MustCompile("x") }), "body_match", "only for http and https checks"},
		{"http with sni", base(KindHTTP, func(c *Check) { c.TLSServerName = "x" }), "tls_server_name", "only for https checks (kind is http)"},
		{"tcp with skip verify", base(KindTCP, func(c *Check) { c.TLSInsecureSkipVerify = true }), "tls_insecure_skip_verify", "only for https checks"},
		{"tcp with roots", base(KindTCP, func(c *Check) { c.RootCAs = x509.NewCertPool() }), "tls_ca_file", "only for https checks"},
		{"negative interval", base(KindTCP, func(c *Check) { c.Interval = -time.Second }), "interval", "must be greater than 0 (got -1s)"},
		{"jitter above 1", base(KindTCP, func(c *Check) { c.Jitter = 1.5 }), "jitter", "must be greater than 0 and at most 1 (got 1.5)"},
		{"negative jitter", base(KindTCP, func(c *Check) { c.Jitter = -0.1 }), "jitter", "(got -0.1)"},
		{"timeout = interval", base(KindTCP, func(c *Check) { c.Timeout = 5 * time.Second }), "timeout", "must be less than interval (got 5s, interval 5s)"},
		{"default timeout > interval", base(KindTCP, func(c *Check) { c.Interval = time.Second }), "timeout", "must be less than interval (got 2s, interval 1s)"},
		{"negative rise", base(KindTCP, func(c *Check) { c.Rise = -1 }), "rise", "must be at least 1 (got -1)"},
		{"negative fall", base(KindTCP, func(c *Check) { c.Fall = -1 }), "fall", "must be at least 1 (got -1)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.check.Validate()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			fe, ok := errors.AsType[*FieldError](err)
			if !ok {
				t.Fatalf("Validate() = %v, want a *FieldError", err)
			}
			if fe.Field != tc.field || !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("Validate() = %q (field %s), want field %s and %q", err, fe.Field, tc.field, tc.msg)
			}
			if !strings.HasPrefix(err.Error(), "probes: check web/eu/a: "+tc.field+": ") &&
				!strings.HasPrefix(tc.field, "Key.") {
				t.Errorf("Validate() = %q, want it to name the check and the field", err)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	c := Check{Key: testKey, Kind: KindHTTP}.withDefaults()
	if c.Method != "GET" || c.Path != "/" || c.ExpectStatus != [2]int{200, 399} ||
		c.Interval != 5*time.Second || c.Jitter != 0.1 || c.Timeout != 2*time.Second || c.Rise != 2 || c.Fall != 2 {
		t.Errorf("withDefaults() = %+v", c)
	}
	tcp := Check{Key: testKey, Kind: KindTCP}.withDefaults()
	if tcp.Method != "" || tcp.Path != "" || tcp.ExpectStatus != [2]int{} {
		t.Errorf("tcp withDefaults() set HTTP fields: %+v", tcp)
	}
}
