package config

import (
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"
)

// baseLines is a valid configuration, one key per line, so each row below
// changes one value and can pin the line number in its message.
var baseLines = []struct{ key, line string }{
	{"", "node:"},           // line 1
	{"node.id", "  id: n1"}, // line 2
	{"", "dns:"},            // line 3
	{"dns.listen", "  listen: [127.0.0.1:5300]"},             // line 4
	{"dns.zones_dir", "  zones_dir: zones"},                  // line 5
	{"dns.max_udp_size", "  max_udp_size: 1232"},             // line 6
	{"dns.nsid", "  nsid: ns"},                               // line 7
	{"dns.udp_sockets", "  udp_sockets: 0"},                  // line 8
	{"", "  tcp:"},                                           // line 9
	{"dns.tcp.idle_timeout", "    idle_timeout: 10s"},        // line 10
	{"dns.tcp.max_connections", "    max_connections: 1024"}, // line 11
	{"", "  transfer:"},                                      // line 12
	{"dns.transfer.allow", "    allow: [127.0.0.1/32]"},      // line 13
	{"", "admin:"}, // line 14
	{"admin.listen", "  listen: 127.0.0.1:9053"}, // line 15
	{"", "log:"},                                                   // line 16
	{"log.level", "  level: info"},                                 // line 17
	{"log.format", "  format: text"},                               // line 18
	{"", "geo:"},                                                   // line 19
	{"geo.database", "  database: City.mmdb"},                      // line 20
	{"geo.overrides", "  overrides: ov.yaml"},                      // line 21
	{"", "ecs:"},                                                   // line 22
	{"ecs.max_prefix_v4", "  max_prefix_v4: 24"},                   // line 23
	{"ecs.max_prefix_v6", "  max_prefix_v6: 56"},                   // line 24
	{"ecs.trusted_resolvers", "  trusted_resolvers: [192.0.2.53]"}, // line 25
}

// absent, as a value for with, removes the key's line.
const absent = "<absent>"

// with returns baseLines with key's value replaced by the YAML text val.
func with(t *testing.T, key, val string) []byte {
	t.Helper()
	var b strings.Builder
	found := key == ""
	for _, l := range baseLines {
		if l.key == key && key != "" {
			found = true
			if val == absent {
				continue
			}
			name, _, _ := strings.Cut(l.line, ":")
			b.WriteString(name + ": " + val + "\n")
			continue
		}
		b.WriteString(l.line + "\n")
	}
	if !found {
		t.Fatalf("no line for key %q", key)
	}
	return []byte(b.String())
}

func TestRules(t *testing.T) {
	clearEnv(t)
	long := strings.Repeat("a", 129)
	tests := []struct {
		name, key, val string
		want           string
	}{
		{"node.id empty", "node.id", `""`, `t.yaml:2: node.id: required`},
		{"node.id blank", "node.id", `"  "`, `t.yaml:2: node.id: required`},
		{"node.id absent", "node.id", absent, `t.yaml: node.id: required`},
		{"node.id null", "node.id", `~`, `t.yaml:2: node.id: required`},
		{"node.id too long", "node.id", long, `t.yaml:2: node.id: must be at most 128 bytes (got 129)`},
		{"node.id not a string", "node.id", `5`, `t.yaml:2: node.id: must be a string (got 5)`},

		{"dns.listen empty", "dns.listen", `[]`, `t.yaml:4: dns.listen: at least one address required`},
		{"dns.listen absent", "dns.listen", absent, `t.yaml: dns.listen: at least one address required`},
		{"dns.listen not a list", "dns.listen", `{a: b}`, `t.yaml:4: dns.listen: must be a list (got a mapping)`},
		{"dns.listen item not a string", "dns.listen", `[5300]`, `t.yaml:4: dns.listen[0]: must be a string (got 5300)`},
		{"dns.listen no port", "dns.listen", `[127.0.0.1]`,
			`t.yaml:4: dns.listen[0]: must be host:port, such as 127.0.0.1:53 or [::1]:53 (got "127.0.0.1")`},
		{"dns.listen bare IPv6", "dns.listen", `["::1:53"]`,
			`t.yaml:4: dns.listen[0]: must be host:port, such as 127.0.0.1:53 or [::1]:53 (got "::1:53")`},
		{"dns.listen host name", "dns.listen", `[example.com:53]`,
			`t.yaml:4: dns.listen[0]: host must be an IP address or "localhost" (got "example.com")`},
		{"dns.listen empty host", "dns.listen", `[":53"]`,
			`t.yaml:4: dns.listen[0]: host must be an IP address or "localhost" (got "")`},
		{"dns.listen port too big", "dns.listen", `[127.0.0.1:65536]`,
			`t.yaml:4: dns.listen[0]: port must be a number 0-65535 (got "65536")`},
		{"dns.listen port name", "dns.listen", `[127.0.0.1:domain]`,
			`t.yaml:4: dns.listen[0]: port must be a number 0-65535 (got "domain")`},
		{"dns.listen duplicate", "dns.listen", `[127.0.0.1:53, "[::1]:53", 127.0.0.1:053]`,
			`t.yaml:4: dns.listen[2]: duplicate of dns.listen[0] ("127.0.0.1:53")`},

		{"dns.zones_dir empty", "dns.zones_dir", `""`, `t.yaml:5: dns.zones_dir: required`},
		{"dns.zones_dir null", "dns.zones_dir", `~`, `t.yaml:5: dns.zones_dir: required`},
		{"dns.zones_dir absent", "dns.zones_dir", absent, `t.yaml: dns.zones_dir: required`},

		{"dns.max_udp_size too small", "dns.max_udp_size", `511`,
			`t.yaml:6: dns.max_udp_size: must be between 512 and 65535 (got 511)`},
		{"dns.max_udp_size too big", "dns.max_udp_size", `65536`,
			`t.yaml:6: dns.max_udp_size: must be between 512 and 65535 (got 65536)`},
		{"dns.max_udp_size huge", "dns.max_udp_size", `18446744073709551615`,
			`t.yaml:6: dns.max_udp_size: must be between 512 and 65535 (got 18446744073709551615)`},
		{"dns.max_udp_size not a number", "dns.max_udp_size", `big`,
			`t.yaml:6: dns.max_udp_size: must be an integer (got "big")`},
		{"dns.max_udp_size fraction", "dns.max_udp_size", `1232.5`,
			`t.yaml:6: dns.max_udp_size: must be an integer (got 1232.5)`},

		{"dns.nsid too long", "dns.nsid", long, `t.yaml:7: dns.nsid: must be at most 128 bytes (got 129)`},

		{"dns.udp_sockets negative", "dns.udp_sockets", `-1`,
			`t.yaml:8: dns.udp_sockets: must be between 0 and 256 (got -1)`},
		{"dns.udp_sockets too many", "dns.udp_sockets", `257`,
			`t.yaml:8: dns.udp_sockets: must be between 0 and 256 (got 257)`},

		{"dns.tcp.idle_timeout zero", "dns.tcp.idle_timeout", `0s`,
			`t.yaml:10: dns.tcp.idle_timeout: must be greater than 0 (got 0s)`},
		{"dns.tcp.idle_timeout negative", "dns.tcp.idle_timeout", `-1s`,
			`t.yaml:10: dns.tcp.idle_timeout: must be greater than 0 (got -1s)`},
		{"dns.tcp.idle_timeout no unit", "dns.tcp.idle_timeout", `10`,
			`t.yaml:10: dns.tcp.idle_timeout: must be a duration such as "10s" or "1m30s" (got 10)`},
		{"dns.tcp.idle_timeout bad unit", "dns.tcp.idle_timeout", `10 parsecs`,
			`t.yaml:10: dns.tcp.idle_timeout: must be a duration such as "10s" or "1m30s" (got "10 parsecs")`},

		{"dns.tcp.max_connections zero", "dns.tcp.max_connections", `0`,
			`t.yaml:11: dns.tcp.max_connections: must be at least 1 (got 0)`},

		{"dns.transfer.allow not an address", "dns.transfer.allow", `[localhost]`,
			`t.yaml:13: dns.transfer.allow[0]: must be a CIDR prefix or an IP address (got "localhost")`},
		{"dns.transfer.allow bad length", "dns.transfer.allow", `[10.0.0.0/33]`,
			`t.yaml:13: dns.transfer.allow[0]: must be a CIDR prefix or an IP address (got "10.0.0.0/33")`},
		{"dns.transfer.allow host bits", "dns.transfer.allow", `[127.0.0.1/32, 10.1.2.3/8]`,
			`t.yaml:13: dns.transfer.allow[1]: has address bits set past the prefix length (got "10.1.2.3/8"; did you mean "10.0.0.0/8"?)`},
		{"dns.transfer.allow zone", "dns.transfer.allow", `["fe80::1%eth0"]`,
			`t.yaml:13: dns.transfer.allow[0]: must not have an IPv6 zone (got "fe80::1%eth0")`},

		{"admin.listen not host:port", "admin.listen", `admin`,
			`t.yaml:15: admin.listen: must be host:port, such as 127.0.0.1:53 or [::1]:53 (got "admin")`},
		{"admin.listen same as dns", "admin.listen", `127.0.0.1:5300`,
			`t.yaml:15: admin.listen: overlaps dns.listen[0] ("127.0.0.1:5300"): both use TCP`},
		{"admin.listen wildcard over dns", "admin.listen", `"[::]:5300"`,
			`t.yaml:15: admin.listen: overlaps dns.listen[0] ("127.0.0.1:5300"): both use TCP`},

		{"log.level unknown", "log.level", `LOUD`,
			`t.yaml:17: log.level: must be one of debug, info, warn, error (got "LOUD")`},
		{"log.level not a string", "log.level", `[debug]`, `t.yaml:17: log.level: must be a string (got a list)`},
		{"log.format unknown", "log.format", `xml`, `t.yaml:18: log.format: must be one of text, json (got "xml")`},

		{"geo.database not a string", "geo.database", `5`, `t.yaml:20: geo.database: must be a string (got 5)`},
		{"geo.overrides not a string", "geo.overrides", `[a.yaml]`, `t.yaml:21: geo.overrides: must be a string (got a list)`},

		{"ecs.max_prefix_v4 too long", "ecs.max_prefix_v4", `33`,
			`t.yaml:23: ecs.max_prefix_v4: must be between 0 and 32 (got 33)`},
		{"ecs.max_prefix_v4 negative", "ecs.max_prefix_v4", `-1`,
			`t.yaml:23: ecs.max_prefix_v4: must be between 0 and 32 (got -1)`},
		{"ecs.max_prefix_v4 with slash", "ecs.max_prefix_v4", `/24`,
			`t.yaml:23: ecs.max_prefix_v4: must be an integer (got "/24")`},
		{"ecs.max_prefix_v6 too long", "ecs.max_prefix_v6", `129`,
			`t.yaml:24: ecs.max_prefix_v6: must be between 0 and 128 (got 129)`},
		{"ecs.trusted_resolvers not an address", "ecs.trusted_resolvers", `[192.0.2.53, resolver.example]`,
			`t.yaml:25: ecs.trusted_resolvers[1]: must be a CIDR prefix or an IP address (got "resolver.example")`},
		{"ecs.trusted_resolvers host bits", "ecs.trusted_resolvers", `["2001:db8::1/32"]`,
			`t.yaml:25: ecs.trusted_resolvers[0]: has address bits set past the prefix length (got "2001:db8::1/32"; did you mean "2001:db8::/32"?)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", with(t, tc.key, tc.val), nil)
			if err == nil {
				t.Fatalf("Parse: no error, got %+v", c)
			}
			if c != nil {
				t.Errorf("Parse returned a Config with an error")
			}
			if got := err.Error(); got != tc.want {
				t.Errorf("Parse error:\n got  %s\n want %s", got, tc.want)
			}
		})
	}
}

// TestValidValues covers the edges each rule must accept.
func TestValidValues(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name, key, val string
		got            func(c *Config) any
		want           any
	}{
		{"listen forms", "dns.listen", `["[::1]:53", localhost:53, 0.0.0.0:0, "[fe80::1%eth0]:53", 127.0.0.1:0]`,
			func(c *Config) any { return c.DNS.Listen },
			[]string{"[::1]:53", "localhost:53", "0.0.0.0:0", "[fe80::1%eth0]:53", "127.0.0.1:0"}},
		{"listen port 0 may repeat", "dns.listen", `[127.0.0.1:0, 127.0.0.1:0]`,
			func(c *Config) any { return c.DNS.Listen }, []string{"127.0.0.1:0", "127.0.0.1:0"}},
		{"listen as one string", "dns.listen", `"127.0.0.1:53, [::1]:53"`,
			func(c *Config) any { return c.DNS.Listen }, []string{"127.0.0.1:53", "[::1]:53"}},
		{"max_udp_size low edge", "dns.max_udp_size", `512`, func(c *Config) any { return c.DNS.MaxUDPSize }, 512},
		{"max_udp_size high edge", "dns.max_udp_size", `65535`, func(c *Config) any { return c.DNS.MaxUDPSize }, 65535},
		{"max_udp_size null is default", "dns.max_udp_size", `~`, func(c *Config) any { return c.DNS.MaxUDPSize }, 1232},
		{"nsid 128 bytes", "dns.nsid", strings.Repeat("n", 128), func(c *Config) any { return len(c.DNS.NSID) }, 128},
		{"udp_sockets high edge", "dns.udp_sockets", `256`, func(c *Config) any { return c.DNS.UDPSockets }, 256},
		{"idle_timeout compound", "dns.tcp.idle_timeout", `1m30s`,
			func(c *Config) any { return c.DNS.TCP.IdleTimeout }, 90 * time.Second},
		{"allow bare addresses", "dns.transfer.allow", `[192.0.2.1, "2001:db8::1", 10.0.0.0/8]`,
			func(c *Config) any { return c.DNS.Transfer.AllowPrefixes },
			[]netip.Prefix{
				netip.MustParsePrefix("192.0.2.1/32"),
				netip.MustParsePrefix("2001:db8::1/128"),
				netip.MustParsePrefix("10.0.0.0/8"),
			}},
		{"allow empty", "dns.transfer.allow", `[]`,
			func(c *Config) any { return c.DNS.Transfer.AllowPrefixes }, []netip.Prefix(nil)},
		{"admin disabled", "admin.listen", `""`, func(c *Config) any { return c.Admin.Listen }, ""},
		{"admin absent is disabled", "admin.listen", absent, func(c *Config) any { return c.Admin.Listen }, ""},
		{"admin other port", "admin.listen", `"[::]:9053"`, func(c *Config) any { return c.Admin.Listen }, "[::]:9053"},
		{"level case folded", "log.level", `WARN`, func(c *Config) any { return c.Log.Level }, "warn"},
		{"format case folded", "log.format", `JSON`, func(c *Config) any { return c.Log.Format }, "json"},
		{"geo.database absent is off", "geo.database", absent, func(c *Config) any { return c.Geo.Database }, ""},
		{"geo.overrides null is off", "geo.overrides", `~`, func(c *Config) any { return c.Geo.Overrides }, ""},
		{"max_prefix_v4 edges", "ecs.max_prefix_v4", `0`, func(c *Config) any { return c.ECS.MaxPrefixV4 }, 0},
		{"max_prefix_v4 high edge", "ecs.max_prefix_v4", `32`, func(c *Config) any { return c.ECS.MaxPrefixV4 }, 32},
		{"max_prefix_v4 absent is default", "ecs.max_prefix_v4", absent, func(c *Config) any { return c.ECS.MaxPrefixV4 }, 24},
		{"max_prefix_v6 high edge", "ecs.max_prefix_v6", `128`, func(c *Config) any { return c.ECS.MaxPrefixV6 }, 128},
		{"max_prefix_v6 null is default", "ecs.max_prefix_v6", `~`, func(c *Config) any { return c.ECS.MaxPrefixV6 }, 56},
		{"trusted_resolvers empty", "ecs.trusted_resolvers", `[]`,
			func(c *Config) any { return c.ECS.TrustedPrefixes }, []netip.Prefix(nil)},
		{"trusted_resolvers forms", "ecs.trusted_resolvers", `[192.0.2.53, "2001:db8::53", 10.0.0.0/8]`,
			func(c *Config) any { return c.ECS.TrustedPrefixes }, prefixes("192.0.2.53/32", "2001:db8::53/128", "10.0.0.0/8")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", with(t, tc.key, tc.val), nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s = %#v, want %#v", tc.key, got, tc.want)
			}
		})
	}
}
