package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aya-gslb/aya/probes"
)

// checkBase is a valid configuration with a pool health check, one setting
// per line, so each row below edits a few lines and can pin the line
// numbers in its messages.
var checkBase = strings.Split(strings.TrimSuffix(`node: {id: n1}
dns: {listen: [127.0.0.1:5300], zones_dir: zones}
regions:
  - {name: us-east, latitude: 39.04, longitude: -77.49, country: US, continent: NA}
  - {name: eu-west, latitude: 53.35, longitude: -6.26, country: IE, continent: EU}
pools:
  - name: web
    check:
      kind: https
      port: 8443
      method: HEAD
      path: /healthz
      host: www.example.com
      expect_status: [200, 299]
      body_match: "^ok"
      tls_server_name: web.example.com
      tls_insecure_skip_verify: false
      tls_ca_file: ca.pem
      interval: 10s
      jitter: 0.2
      timeout: 3s
      rise: 3
      fall: 1
    members:
      - region: us-east
        min_endpoints: 1
        endpoints:
          - name: use1-a
            addresses: ["2001:db8:1::10", 192.0.2.10]
          - name: use1-b
            addresses: [192.0.2.11]
            check_target: 10.0.0.11:9443
      - region: eu-west
        endpoints:
          - {name: euw1-a, addresses: ["2001:db8:2::10"]}
`, "\n"), "\n")

// checkEdited returns checkBase with e applied.
func checkEdited(t *testing.T, e edit) []byte {
	t.Helper()
	return editedLines(t, checkBase, e)
}

func TestCheckBase(t *testing.T) {
	clearEnv(t)
	c, err := Parse("conf/t.yaml", checkEdited(t, edit{from: 1, text: checkBase[0]}), nil)
	if err != nil {
		t.Fatalf("checkBase does not load: %v", err)
	}
	want := &probes.CheckConfig{
		Kind: "https", Port: new(8443), Method: "HEAD", Path: "/healthz", Host: "www.example.com",
		ExpectStatus: [2]int{200, 299}, BodyMatch: "^ok",
		TLSServerName: "web.example.com", TLSCAFile: "conf/ca.pem",
		Interval: 10 * time.Second, Jitter: 0.2, Timeout: 3 * time.Second, Rise: 3, Fall: 1,
	}
	if got := c.Pools[0].Check; !reflect.DeepEqual(got, want) {
		t.Errorf("Check =\n%+v\nwant\n%+v", got, want)
	}
	var got []netip.AddrPort
	for _, m := range c.Pools[0].Members {
		for _, e := range m.Endpoints {
			got = append(got, e.CheckAddr)
		}
	}
	wantAddrs := []netip.AddrPort{
		netip.MustParseAddrPort("192.0.2.10:8443"), // IPv4 preferred
		netip.MustParseAddrPort("10.0.0.11:9443"),  // check_target
		netip.MustParseAddrPort("[2001:db8:2::10]:8443"),
	}
	if !reflect.DeepEqual(got, wantAddrs) {
		t.Errorf("CheckAddrs = %v, want %v", got, wantAddrs)
	}
	if m := c.Pools[0].Members; m[0].MinEndpoints != 1 || m[1].MinEndpoints != 1 {
		t.Errorf("MinEndpoints = %d, %d, want 1, 1", m[0].MinEndpoints, m[1].MinEndpoints)
	}
}

// TestCheckRules has one row per rule of pool checks, min_endpoints and
// check_target, with the exact messages.
func TestCheckRules(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name string
		edit edit
		want string
	}{
		// The shape of check.
		{"check not a mapping", edit{from: 8, to: 23, text: "    check: http"},
			`t.yaml:8: pools[0].check: must be a mapping of keys (got "http")`},
		{"check unknown key", edit{from: 23, text: "      fall: 1\n      retries: 3"},
			`t.yaml:24: pools[0].check.retries: unknown key`},
		{"check misspelt key", edit{from: 19, text: "      intervall: 10s"},
			`t.yaml:19: pools[0].check.intervall: unknown key (did you mean "interval"?)`},
		{"check duplicate key", edit{from: 23, text: "      fall: 1\n      fall: 2"},
			`t.yaml:24: pools[0].check.fall: duplicate key (first at line 23)`},

		// kind and port.
		{"kind absent", edit{from: 9, text: absent}, `t.yaml:9: pools[0].check.kind: required`},
		{"kind unknown", edit{from: 9, text: "      kind: udp"},
			`t.yaml:9: pools[0].check.kind: must be one of http, https, tcp (got "udp")`},
		{"kind not a string", edit{from: 9, text: "      kind: [http]"},
			`t.yaml:9: pools[0].check.kind: must be a string (got a list)`},
		{"port zero", edit{from: 10, text: "      port: 0"},
			`t.yaml:10: pools[0].check.port: must be between 1 and 65535 (got 0)`},
		{"port too big", edit{from: 10, text: "      port: 65536"},
			`t.yaml:10: pools[0].check.port: must be between 1 and 65535 (got 65536)`},
		{"port a name", edit{from: 10, text: "      port: https"},
			`t.yaml:10: pools[0].check.port: must be an integer (got "https")`},
		{"port absent without every check_target", edit{from: 10, text: absent},
			`t.yaml:9: pools[0].check.port: required unless every endpoint has check_target (pools[0].members[0].endpoints[0] has none)`},

		// HTTP settings.
		{"method not a token", edit{from: 11, text: `      method: "GET /"`},
			`t.yaml:11: pools[0].check.method: must be an HTTP method such as GET or HEAD, an RFC 9110 token (got "GET /")`},
		{"path relative", edit{from: 12, text: "      path: healthz"},
			`t.yaml:12: pools[0].check.path: must start with "/" (got "healthz")`},
		{"path with a space", edit{from: 12, text: `      path: "/health z"`},
			`t.yaml:12: pools[0].check.path: must not contain spaces, control characters or "#" (got "/health z")`},
		{"path with a fragment", edit{from: 12, text: `      path: "/healthz#x"`},
			`t.yaml:12: pools[0].check.path: must not contain spaces, control characters or "#" (got "/healthz#x")`},
		{"host with a path", edit{from: 13, text: "      host: www.example.com/x"},
			`t.yaml:13: pools[0].check.host: must be a host name or address, optionally with :port (got "www.example.com/x")`},
		{"expect_status one code", edit{from: 14, text: "      expect_status: [200]"},
			`t.yaml:14: pools[0].check.expect_status: must be a list of two status codes, low and high, such as [200, 399] (got 1 items)`},
		{"expect_status a code", edit{from: 14, text: "      expect_status: 200"},
			`t.yaml:14: pools[0].check.expect_status: must be a list of two status codes, low and high, such as [200, 399] (got 200)`},
		{"expect_status out of range", edit{from: 14, text: "      expect_status: [200, 600]"},
			`t.yaml:14: pools[0].check.expect_status[1]: must be between 100 and 599 (got 600)`},
		{"expect_status not a number", edit{from: 14, text: "      expect_status:\n        - 200\n        - 2xx"},
			`t.yaml:16: pools[0].check.expect_status[1]: must be an integer (got "2xx")`},
		{"expect_status a fraction", edit{from: 14, text: "      expect_status: [200.5, 300]"},
			`t.yaml:14: pools[0].check.expect_status[0]: must be an integer (got 200.5)`},
		{"expect_status reversed", edit{from: 14, text: "      expect_status: [399, 200]"},
			`t.yaml:14: pools[0].check.expect_status: the low code must come first (got [399, 200])`},
		{"body_match bad regexp", edit{from: 15, text: `      body_match: "(ok"`},
			`t.yaml:15: pools[0].check.body_match: not a valid Go regular expression: missing closing ): "(ok"`},
		{"body_match Perl lookahead", edit{from: 15, text: `      body_match: "(?=ok)"`},
			`t.yaml:15: pools[0].check.body_match: not a valid Go regular expression: invalid or unsupported Perl syntax: "(?="`},

		// HTTPS settings.
		{"tls_server_name with a port", edit{from: 16, text: "      tls_server_name: web.example.com:443"},
			`t.yaml:16: pools[0].check.tls_server_name: must be a DNS name or an IP address (got "web.example.com:443")`},
		{"tls_insecure_skip_verify not a bool", edit{from: 17, text: "      tls_insecure_skip_verify: yes"},
			`t.yaml:17: pools[0].check.tls_insecure_skip_verify: must be true or false (got "yes")`},
		{"tls_insecure_skip_verify a number", edit{from: 17, text: "      tls_insecure_skip_verify: 1"},
			`t.yaml:17: pools[0].check.tls_insecure_skip_verify: must be true or false (got 1)`},
		{"tls_ca_file not a string", edit{from: 18, text: "      tls_ca_file: [ca.pem]"},
			`t.yaml:18: pools[0].check.tls_ca_file: must be a string (got a list)`},

		// Fields of another kind.
		{"http fields on a tcp check", edit{from: 9, text: "      kind: tcp"},
			"t.yaml:11: pools[0].check.method: only for http and https checks (kind is tcp)\n" +
				"t.yaml:12: pools[0].check.path: only for http and https checks (kind is tcp)\n" +
				"t.yaml:13: pools[0].check.host: only for http and https checks (kind is tcp)\n" +
				"t.yaml:14: pools[0].check.expect_status: only for http and https checks (kind is tcp)\n" +
				"t.yaml:15: pools[0].check.body_match: only for http and https checks (kind is tcp)\n" +
				"t.yaml:16: pools[0].check.tls_server_name: only for https checks (kind is tcp)\n" +
				"t.yaml:18: pools[0].check.tls_ca_file: only for https checks (kind is tcp)"},
		{"tls fields on an http check", edit{from: 9, text: "      kind: HTTP"},
			"t.yaml:16: pools[0].check.tls_server_name: only for https checks (kind is http)\n" +
				"t.yaml:18: pools[0].check.tls_ca_file: only for https checks (kind is http)"},
		// false, the default, says nothing of another kind.
		{"tls_insecure_skip_verify on an http check", edit{from: 8, to: 23, text: "    check: {kind: http, port: 8443, tls_insecure_skip_verify: true}"},
			`t.yaml:8: pools[0].check.tls_insecure_skip_verify: only for https checks (kind is http)`},

		// Timing.
		{"interval zero", edit{from: 19, text: "      interval: 0s"},
			`t.yaml:19: pools[0].check.interval: must be greater than 0 (got 0s)`},
		{"interval no unit", edit{from: 19, text: "      interval: 10"},
			`t.yaml:19: pools[0].check.interval: must be a duration such as "10s" or "1m30s" (got 10)`},
		{"interval bad unit", edit{from: 19, text: "      interval: 10 seconds"},
			`t.yaml:19: pools[0].check.interval: must be a duration such as "10s" or "1m30s" (got "10 seconds")`},
		{"jitter zero", edit{from: 20, text: "      jitter: 0"},
			`t.yaml:20: pools[0].check.jitter: must be greater than 0 and at most 1 (got 0)`},
		{"jitter above 1", edit{from: 20, text: "      jitter: 1.01"},
			`t.yaml:20: pools[0].check.jitter: must be greater than 0 and at most 1 (got 1.01)`},
		{"jitter a percentage", edit{from: 20, text: "      jitter: 10%"},
			`t.yaml:20: pools[0].check.jitter: must be a number (got "10%")`},
		{"timeout negative", edit{from: 21, text: "      timeout: -1s"},
			`t.yaml:21: pools[0].check.timeout: must be greater than 0 (got -1s)`},
		{"timeout equal to interval", edit{from: 21, text: "      timeout: 10s"},
			`t.yaml:21: pools[0].check.timeout: must be less than interval (got 10s, interval 10s)`},
		{"timeout above the default interval", edit{from: 19, to: 21, text: "      jitter: 0.2\n      timeout: 6s"},
			`t.yaml:20: pools[0].check.timeout: must be less than interval (got 6s, interval 5s)`},
		{"rise zero", edit{from: 22, text: "      rise: 0"}, `t.yaml:22: pools[0].check.rise: must be at least 1 (got 0)`},
		{"fall zero", edit{from: 23, text: "      fall: 0"}, `t.yaml:23: pools[0].check.fall: must be at least 1 (got 0)`},

		// min_endpoints.
		{"min_endpoints zero", edit{from: 26, text: "        min_endpoints: 0"},
			`t.yaml:26: pools[0].members[0].min_endpoints: must be at least 1 (got 0)`},
		{"min_endpoints above the endpoints", edit{from: 26, text: "        min_endpoints: 3"},
			`t.yaml:26: pools[0].members[0].min_endpoints: must be at most the member's number of endpoints, 2 (got 3)`},
		{"min_endpoints not a number", edit{from: 26, text: "        min_endpoints: all"},
			`t.yaml:26: pools[0].members[0].min_endpoints: must be an integer (got "all")`},

		// check_target.
		{"check_target without a check", edit{from: 8, to: 23, text: absent},
			`t.yaml:16: pools[0].members[0].endpoints[1].check_target: set, but the pool has no check`},
		{"check_target host name", edit{from: 32, text: "            check_target: use1-b.internal:9443"},
			`t.yaml:32: pools[0].members[0].endpoints[1].check_target: host must be an IP address (got "use1-b.internal")`},
		{"check_target no port", edit{from: 32, text: "            check_target: 10.0.0.11"},
			`t.yaml:32: pools[0].members[0].endpoints[1].check_target: must be host:port with an IP address host, such as 10.0.0.1:8080 or [2001:db8::1]:8080 (got "10.0.0.11")`},
		{"check_target port 0", edit{from: 32, text: "            check_target: 10.0.0.11:0"},
			`t.yaml:32: pools[0].members[0].endpoints[1].check_target: port must be a number 1-65535 (got "0")`},
		{"check_target unspecified", edit{from: 32, text: `            check_target: "[::]:9443"`},
			`t.yaml:32: pools[0].members[0].endpoints[1].check_target: must not be the unspecified address (got "::")`},
		{"check_target not a string", edit{from: 32, text: "            check_target: 9443"},
			`t.yaml:32: pools[0].members[0].endpoints[1].check_target: must be a string (got 9443)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := checkEdited(t, tc.edit)
			c, err := Parse("t.yaml", data, nil)
			if err == nil {
				t.Fatalf("Parse: no error, got %+v", c)
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("Parse error:\n got  %s\n want %s\nfile:\n%s", got, tc.want, data)
			}
		})
	}
}

// TestCheckValid covers the defaults of each kind and the edges the rules
// must accept.
func TestCheckValid(t *testing.T) {
	clearEnv(t)
	check := func(c *Config) any { return c.Pools[0].Check }
	endpoint := func(m, e int) func(c *Config) any {
		return func(c *Config) any { return c.Pools[0].Members[m].Endpoints[e] }
	}
	tests := []struct {
		name string
		edit edit
		got  func(c *Config) any
		want any
	}{
		{"http defaults", edit{from: 9, to: 23, text: "      kind: http\n      port: 8080"}, check,
			&probes.CheckConfig{Kind: "http", Port: new(8080), Method: "GET", Path: "/", ExpectStatus: [2]int{200, 399},
				Interval: 5 * time.Second, Jitter: 0.1, Timeout: 2 * time.Second, Rise: 2, Fall: 2}},
		{"https defaults", edit{from: 9, to: 23, text: "      kind: https\n      port: 8443"}, check,
			&probes.CheckConfig{Kind: "https", Port: new(8443), Method: "GET", Path: "/", ExpectStatus: [2]int{200, 399},
				Interval: 5 * time.Second, Jitter: 0.1, Timeout: 2 * time.Second, Rise: 2, Fall: 2}},
		{"tcp defaults", edit{from: 9, to: 23, text: "      kind: TCP\n      port: 5432"}, check,
			&probes.CheckConfig{Kind: "tcp", Port: new(5432), Interval: 5 * time.Second, Jitter: 0.1, Timeout: 2 * time.Second, Rise: 2, Fall: 2}},
		{"null fields are defaults", edit{from: 11, to: 23, text: "      method: ~\n      path: \"\"\n      interval: ~\n      expect_status: ~"}, check,
			&probes.CheckConfig{Kind: "https", Port: new(8443), Method: "GET", Path: "/", ExpectStatus: [2]int{200, 399},
				Interval: 5 * time.Second, Jitter: 0.1, Timeout: 2 * time.Second, Rise: 2, Fall: 2}},
		{"no check: no CheckAddr, check nil", edit{from: 8, to: 32, text: "    members:\n      - region: us-east\n        endpoints:\n" +
			"          - {name: use1-a, addresses: [192.0.2.10]}"},
			func(c *Config) any { return []any{c.Pools[0].Check, endpoint(0, 0)(c)} },
			[]any{(*probes.CheckConfig)(nil), EndpointConfig{Name: "use1-a", Addresses: []string{"192.0.2.10"}, Addrs: addrs("192.0.2.10"), Weight: 1}}},
		{"null check is none", edit{from: 8, to: 32, text: "    check: ~\n    members:\n      - region: us-east\n        endpoints:\n" +
			"          - {name: use1-a, addresses: [192.0.2.10]}"}, check, (*probes.CheckConfig)(nil)},
		{"method as written", edit{from: 11, text: "      method: OPTIONS"},
			func(c *Config) any { return c.Pools[0].Check.Method }, "OPTIONS"},
		{"path with a query", edit{from: 12, text: "      path: /health?deep=1&x=%20"},
			func(c *Config) any { return c.Pools[0].Check.Path }, "/health?deep=1&x=%20"},
		{"host with a port", edit{from: 13, text: `      host: "[2001:db8::1]:8443"`},
			func(c *Config) any { return c.Pools[0].Check.Host }, "[2001:db8::1]:8443"},
		{"expect_status one code", edit{from: 14, text: `      expect_status: [204, "204"]`},
			func(c *Config) any { return c.Pools[0].Check.ExpectStatus }, [2]int{204, 204}},
		{"expect_status edges", edit{from: 14, text: "      expect_status: [100, 599]"},
			func(c *Config) any { return c.Pools[0].Check.ExpectStatus }, [2]int{100, 599}},
		{"tls_server_name an address", edit{from: 16, text: "      tls_server_name: 192.0.2.10"},
			func(c *Config) any { return c.Pools[0].Check.TLSServerName }, "192.0.2.10"},
		{"tls_insecure_skip_verify true", edit{from: 17, text: "      tls_insecure_skip_verify: true"},
			func(c *Config) any { return c.Pools[0].Check.TLSInsecureSkipVerify }, true},
		{"tls_ca_file absolute", edit{from: 18, text: "      tls_ca_file: /etc/aya/ca.pem"},
			func(c *Config) any { return c.Pools[0].Check.TLSCAFile }, "/etc/aya/ca.pem"},
		{"tls_ca_file relative to the file", edit{from: 18, text: "      tls_ca_file: ../tls//ca.pem"},
			func(c *Config) any { return c.Pools[0].Check.TLSCAFile }, "tls/ca.pem"},
		{"jitter 1", edit{from: 20, text: "      jitter: 1"}, func(c *Config) any { return c.Pools[0].Check.Jitter }, 1.0},
		{"jitter small", edit{from: 20, text: "      jitter: 0.001"}, func(c *Config) any { return c.Pools[0].Check.Jitter }, 0.001},
		{"timeout just below interval", edit{from: 21, text: "      timeout: 9.999s"},
			func(c *Config) any { return c.Pools[0].Check.Timeout }, 9999 * time.Millisecond},
		{"min_endpoints every endpoint", edit{from: 26, text: "        min_endpoints: 2"},
			func(c *Config) any { return c.Pools[0].Members[0].MinEndpoints }, 2},
		{"min_endpoints default", edit{from: 26, text: absent},
			func(c *Config) any { return c.Pools[0].Members[0].MinEndpoints }, 1},
		{"port not needed when every endpoint has check_target", edit{from: 10, to: 35, text: "    members:\n" +
			"      - region: us-east\n        endpoints:\n" +
			`          - {name: a, addresses: [192.0.2.10], check_target: "[2001:db8::a]:80"}`},
			endpoint(0, 0), EndpointConfig{Name: "a", Addresses: []string{"192.0.2.10"}, Addrs: addrs("192.0.2.10"), Weight: 1,
				CheckTarget: "[2001:db8::a]:80", CheckAddr: netip.MustParseAddrPort("[2001:db8::a]:80")}},
		{"check_target on loopback", edit{from: 32, text: "            check_target: 127.0.0.1:18080"},
			func(c *Config) any { return endpoint(0, 1)(c).(EndpointConfig).CheckAddr }, netip.MustParseAddrPort("127.0.0.1:18080")},
		{"IPv6 only endpoint", edit{from: 30, to: 32, text: `          - {name: use1-b, addresses: ["2001:db8:1::11"]}`},
			func(c *Config) any { return endpoint(0, 1)(c).(EndpointConfig).CheckAddr }, netip.MustParseAddrPort("[2001:db8:1::11]:8443")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := checkEdited(t, tc.edit)
			c, err := Parse("conf/t.yaml", data, nil)
			if err != nil {
				t.Fatalf("Parse: %v\nfile:\n%s", err, data)
			}
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}
