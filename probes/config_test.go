package probes

import (
	"crypto/x509"
	"errors"
	"net/netip"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestCheckConfigWithDefaults(t *testing.T) {
	tests := []struct {
		name string
		in   CheckConfig
		want CheckConfig
	}{
		{"http", CheckConfig{Kind: KindHTTP}, CheckConfig{Kind: KindHTTP, Method: "GET", Path: "/", ExpectStatus: [2]int{200, 399},
			Interval: 5 * time.Second, Jitter: 0.1, Timeout: 2 * time.Second, Rise: 2, Fall: 2}},
		{"tcp: no HTTP settings", CheckConfig{Kind: KindTCP}, CheckConfig{Kind: KindTCP,
			Interval: 5 * time.Second, Jitter: 0.1, Timeout: 2 * time.Second, Rise: 2, Fall: 2}},
		{"set fields stay", CheckConfig{Kind: KindHTTPS, Port: new(8443), Method: "HEAD", Interval: time.Second, Rise: 1},
			CheckConfig{Kind: KindHTTPS, Port: new(8443), Method: "HEAD", Path: "/", ExpectStatus: [2]int{200, 399},
				Interval: time.Second, Jitter: 0.1, Timeout: 2 * time.Second, Rise: 1, Fall: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.in.WithDefaults(); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("WithDefaults() =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

// TestCheckConfigValidate pins the fields and messages of every rule; the
// config package places them at their keys.
func TestCheckConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*CheckConfig)
		want []string // "field: msg", in order
	}{
		{"valid", func(*CheckConfig) {}, nil},
		{"no kind", func(c *CheckConfig) { c.Kind = "" }, []string{"kind: required"}},
		{"bad kind, no kind rules", func(c *CheckConfig) { c.Kind = "udp"; c.TLSServerName = "x" },
			[]string{`kind: must be one of http, https, tcp (got "udp")`}},
		{"port", func(c *CheckConfig) { c.Port = new(0) }, []string{"port: must be between 1 and 65535 (got 0)"}},
		{"HTTP values", func(c *CheckConfig) {
			c.Method, c.Path, c.Host, c.ExpectStatus, c.BodyMatch = "GET /", "x", "a@b", [2]int{99, 600}, "(x"
		}, []string{
			`method: must be an HTTP method such as GET or HEAD, an RFC 9110 token (got "GET /")`,
			`path: must start with "/" (got "x")`,
			`host: must be a host name or address, optionally with :port (got "a@b")`,
			"expect_status[0]: must be between 100 and 599 (got 99)",
			"expect_status[1]: must be between 100 and 599 (got 600)",
			`body_match: not a valid Go regular expression: missing closing ): "(x"`,
		}},
		{"status reversed", func(c *CheckConfig) { c.ExpectStatus = [2]int{399, 200} },
			[]string{"expect_status: the low code must come first (got [399, 200])"}},
		{"path with a fragment", func(c *CheckConfig) { c.Path = "/a#b" },
			[]string{`path: must not contain spaces, control characters or "#" (got "/a#b")`}},
		{"tls_server_name", func(c *CheckConfig) { c.TLSServerName = "a:443" },
			[]string{`tls_server_name: must be a DNS name or an IP address (got "a:443")`}},
		{"HTTPS settings on http", func(c *CheckConfig) {
			c.Kind, c.TLSServerName, c.TLSInsecureSkipVerify, c.TLSCAFile = KindHTTP, "192.0.2.1", true, "ca.pem"
		}, []string{
			"tls_server_name: only for https checks (kind is http)",
			"tls_insecure_skip_verify: only for https checks (kind is http)",
			"tls_ca_file: only for https checks (kind is http)",
		}},
		{"HTTP settings on tcp", func(c *CheckConfig) { c.Kind = KindTCP }, []string{
			"method: only for http and https checks (kind is tcp)",
			"path: only for http and https checks (kind is tcp)",
			"expect_status: only for http and https checks (kind is tcp)",
		}},
		{"zero timing, as a file may write it", func(c *CheckConfig) { c.Interval, c.Jitter, c.Timeout, c.Rise, c.Fall = 0, 0, 0, 0, 0 },
			[]string{
				"interval: must be greater than 0 (got 0s)",
				"jitter: must be greater than 0 and at most 1 (got 0)",
				"timeout: must be greater than 0 (got 0s)",
				"rise: must be at least 1 (got 0)",
				"fall: must be at least 1 (got 0)",
			}},
		{"jitter above 1", func(c *CheckConfig) { c.Jitter = 1.01 }, []string{"jitter: must be greater than 0 and at most 1 (got 1.01)"}},
		{"timeout not below interval", func(c *CheckConfig) { c.Timeout = c.Interval },
			[]string{"timeout: must be less than interval (got 5s, interval 5s)"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := CheckConfig{Kind: KindHTTPS, Port: new(443)}.WithDefaults()
			tc.mod(&c)
			err := c.Validate()
			var got []string
			if err != nil {
				for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
					fe, ok := errors.AsType[*FieldError](e)
					if !ok {
						t.Fatalf("%v is not a *FieldError", e)
					}
					if !strings.HasPrefix(e.Error(), "probes: check: "+fe.Field+": ") {
						t.Errorf("Error() = %q", e)
					}
					got = append(got, fe.Field+": "+fe.Msg)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Validate() =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestCheckConfigCheck(t *testing.T) {
	target := netip.MustParseAddrPort("192.0.2.10:8443")
	roots := x509.NewCertPool()
	c, err := CheckConfig{Kind: KindHTTPS, Port: new(8443), BodyMatch: "^ok", Rise: 3}.Check(testKey, target, "ua/1", roots)
	if err != nil {
		t.Fatal(err)
	}
	want := Check{Key: testKey, Kind: KindHTTPS, Target: target, Method: "GET", Path: "/", ExpectStatus: [2]int{200, 399},
		UserAgent: "ua/1", BodyMatch: regexp.MustCompile("^ok"), RootCAs: roots,
		Interval: 5 * time.Second, Jitter: 0.1, Timeout: 2 * time.Second, Rise: 3, Fall: 2}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Check() =\n%+v\nwant\n%+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate() = %v", err)
	}
	tcp, err := CheckConfig{Kind: KindTCP}.Check(testKey, target, "ua/1", nil)
	if err != nil || tcp.UserAgent != "" {
		t.Errorf("tcp Check() = %+v, %v: want no User-Agent", tcp, err)
	}
	if _, err := (CheckConfig{Kind: KindHTTP, BodyMatch: "(x"}).Check(testKey, target, "", nil); err == nil ||
		!strings.Contains(err.Error(), "check web/eu/a: body_match: not a valid Go regular expression") {
		t.Errorf("Check() with a bad body_match: %v", err)
	}
}

func TestKindUnmarshalText(t *testing.T) {
	var k Kind
	if err := k.UnmarshalText([]byte("HTTPS")); err != nil || k != KindHTTPS {
		t.Errorf("UnmarshalText(HTTPS) = %q, %v", k, err)
	}
}
