package config

import (
	"fmt"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/internal/mtls"
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
	{"admin.listen", "  listen: 127.0.0.1:9053"},                      // line 15
	{"admin.token", "  token: t0k3n"},                                 // line 16
	{"", "log:"},                                                      // line 17
	{"log.level", "  level: info"},                                    // line 18
	{"log.format", "  format: text"},                                  // line 19
	{"", "geo:"},                                                      // line 20
	{"geo.database", "  database: City.mmdb"},                         // line 21
	{"geo.overrides", "  overrides: ov.yaml"},                         // line 22
	{"", "ecs:"},                                                      // line 23
	{"ecs.max_prefix_v4", "  max_prefix_v4: 24"},                      // line 24
	{"ecs.max_prefix_v6", "  max_prefix_v6: 56"},                      // line 25
	{"ecs.trusted_resolvers", "  trusted_resolvers: [192.0.2.53]"},    // line 26
	{"", "cluster:"},                                                  // line 27
	{"cluster.bind", "  bind: 127.0.0.1:7300"},                        // line 28
	{"cluster.advertise", "  advertise: 127.0.0.1:7300"},              // line 29
	{"cluster.data_dir", "  data_dir: data"},                          // line 30
	{"cluster.bootstrap", "  bootstrap: false"},                       // line 31
	{"cluster.voter", "  voter: true"},                                // line 32
	{"cluster.join", "  join: [127.0.0.1:9054]"},                      // line 33
	{"cluster.fresh_for", "  fresh_for: 30s"},                         // line 34
	{"cluster.report_interval", "  report_interval: 10s"},             // line 35
	{"cluster.heartbeat_timeout", "  heartbeat_timeout: 1s"},          // line 36
	{"cluster.election_timeout", "  election_timeout: 1s"},            // line 37
	{"cluster.leader_lease_timeout", "  leader_lease_timeout: 500ms"}, // line 38
	{"cluster.snapshot_threshold", "  snapshot_threshold: 8192"},      // line 39
	{"cluster.snapshot_interval", "  snapshot_interval: 2m"},          // line 40
	{"", "  tls:"}, // line 41
	{"cluster.tls.cert_file", "    cert_file: c.pem"}, // line 42
	{"cluster.tls.key_file", "    key_file: k.pem"},   // line 43
	{"cluster.tls.ca_file", "    ca_file: ca.pem"},    // line 44
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
			`t.yaml:18: log.level: must be one of debug, info, warn, error (got "LOUD")`},
		{"log.level not a string", "log.level", `[debug]`, `t.yaml:18: log.level: must be a string (got a list)`},
		{"log.format unknown", "log.format", `xml`, `t.yaml:19: log.format: must be one of text, json (got "xml")`},

		{"geo.database not a string", "geo.database", `5`, `t.yaml:21: geo.database: must be a string (got 5)`},
		{"geo.overrides not a string", "geo.overrides", `[a.yaml]`, `t.yaml:22: geo.overrides: must be a string (got a list)`},

		{"ecs.max_prefix_v4 too long", "ecs.max_prefix_v4", `33`,
			`t.yaml:24: ecs.max_prefix_v4: must be between 0 and 32 (got 33)`},
		{"ecs.max_prefix_v4 negative", "ecs.max_prefix_v4", `-1`,
			`t.yaml:24: ecs.max_prefix_v4: must be between 0 and 32 (got -1)`},
		{"ecs.max_prefix_v4 with slash", "ecs.max_prefix_v4", `/24`,
			`t.yaml:24: ecs.max_prefix_v4: must be an integer (got "/24")`},
		{"ecs.max_prefix_v6 too long", "ecs.max_prefix_v6", `129`,
			`t.yaml:25: ecs.max_prefix_v6: must be between 0 and 128 (got 129)`},
		{"ecs.trusted_resolvers not an address", "ecs.trusted_resolvers", `[192.0.2.53, resolver.example]`,
			`t.yaml:26: ecs.trusted_resolvers[1]: must be a CIDR prefix or an IP address (got "resolver.example")`},
		{"ecs.trusted_resolvers host bits", "ecs.trusted_resolvers", `["2001:db8::1/32"]`,
			`t.yaml:26: ecs.trusted_resolvers[0]: has address bits set past the prefix length (got "2001:db8::1/32"; did you mean "2001:db8::/32"?)`},

		{"admin.token not a string", "admin.token", `12345`, `t.yaml:16: admin.token: must be a string (got 12345)`},
		{"admin.token with a space", "admin.token", `"Bearer x"`,
			`t.yaml:16: admin.token: must not contain spaces or control characters`},
		{"admin.token with a newline", "admin.token", `"x\ny"`,
			`t.yaml:16: admin.token: must not contain spaces or control characters`},

		{"cluster.bind absent host", "cluster.bind", `":7300"`,
			`t.yaml:28: cluster.bind: host must be an IP address or "localhost" (got "")`},
		{"cluster.bind host name", "cluster.bind", `raft.example.com:7300`,
			`t.yaml:28: cluster.bind: host must be an IP address or "localhost" (got "raft.example.com")`},
		{"cluster.bind no port", "cluster.bind", `127.0.0.1`,
			`t.yaml:28: cluster.bind: must be host:port, such as 127.0.0.1:53 or [::1]:53 (got "127.0.0.1")`},
		{"cluster.bind empty", "cluster.bind", `""`,
			`t.yaml:28: cluster.bind: must be host:port, such as 127.0.0.1:53 or [::1]:53 (got "")`},
		{"cluster.bind same as dns", "cluster.bind", `127.0.0.1:5300`,
			`t.yaml:28: cluster.bind: overlaps dns.listen[0] ("127.0.0.1:5300"): both use TCP`},
		{"cluster.bind same as admin", "cluster.bind", `"[::]:9053"`,
			`t.yaml:28: cluster.bind: overlaps admin.listen ("127.0.0.1:9053"): both use TCP`},
		{"cluster.bind not a string", "cluster.bind", `7300`, `t.yaml:28: cluster.bind: must be a string (got 7300)`},

		{"cluster.advertise unspecified", "cluster.advertise", `0.0.0.0:7300`,
			`t.yaml:29: cluster.advertise: must not be an unspecified address, other nodes dial it (got "0.0.0.0:7300")`},
		{"cluster.advertise port 0", "cluster.advertise", `"[2001:db8::1]:0"`,
			`t.yaml:29: cluster.advertise: port must not be 0, other nodes dial it`},
		{"cluster.advertise host name", "cluster.advertise", `raft.example.com:7300`,
			`t.yaml:29: cluster.advertise: host must be an IP address or "localhost" (got "raft.example.com")`},

		{"cluster.data_dir empty", "cluster.data_dir", `""`, `t.yaml:30: cluster.data_dir: required`},
		{"cluster.data_dir blank", "cluster.data_dir", `"  "`, `t.yaml:30: cluster.data_dir: required`},

		{"cluster.bootstrap not a bool", "cluster.bootstrap", `yes`, `t.yaml:31: cluster.bootstrap: must be true or false (got "yes")`},
		{"cluster.bootstrap a number", "cluster.bootstrap", `2`, `t.yaml:31: cluster.bootstrap: must be true or false (got 2)`},
		{"cluster.voter a list", "cluster.voter", `[true]`, `t.yaml:32: cluster.voter: must be true or false (got a list)`},

		{"cluster.join item not a string", "cluster.join", `[9054]`, `t.yaml:33: cluster.join[0]: must be a string (got 9054)`},
		{"cluster.join no port", "cluster.join", `[127.0.0.1:9054, aya-2]`,
			`t.yaml:33: cluster.join[1]: must be host:port, such as 10.0.0.2:9053 or [2001:db8::2]:9053 (got "aya-2")`},
		{"cluster.join port 0", "cluster.join", `["[::1]:0"]`, `t.yaml:33: cluster.join[0]: port must be a number 1-65535 (got "0")`},
		{"cluster.join unspecified", "cluster.join", `["[::]:9053"]`,
			`t.yaml:33: cluster.join[0]: host must not be an unspecified address (got "::")`},
		{"cluster.join bad name", "cluster.join", `[-aya.example.com:9053]`,
			`t.yaml:33: cluster.join[0]: host must be an IP address or a DNS name (got "-aya.example.com")`},
		{"cluster.join duplicate name", "cluster.join", `[aya-2.example.com:9053, AYA-2.example.com.:9053]`,
			`t.yaml:33: cluster.join[1]: duplicate of cluster.join[0] ("aya-2.example.com:9053")`},
		{"cluster.join duplicate address", "cluster.join", `["[2001:db8::2]:9053", "[2001:DB8:0::2]:9053"]`,
			`t.yaml:33: cluster.join[1]: duplicate of cluster.join[0] ("[2001:db8::2]:9053")`},

		{"cluster.fresh_for zero", "cluster.fresh_for", `0s`, `t.yaml:34: cluster.fresh_for: must be greater than 0 (got 0s)`},
		{"cluster.fresh_for not below report_interval", "cluster.fresh_for", `10s`,
			`t.yaml:35: cluster.report_interval: must be less than cluster.fresh_for (got 10s, cluster.fresh_for 10s)`},
		{"cluster.report_interval negative", "cluster.report_interval", `-10s`,
			`t.yaml:35: cluster.report_interval: must be greater than 0 (got -10s)`},
		{"cluster.report_interval above fresh_for", "cluster.report_interval", `1m`,
			`t.yaml:35: cluster.report_interval: must be less than cluster.fresh_for (got 1m0s, cluster.fresh_for 30s)`},
		{"cluster.report_interval no unit", "cluster.report_interval", `10`,
			`t.yaml:35: cluster.report_interval: must be a duration such as "10s" or "1m30s" (got 10)`},
		{"cluster.heartbeat_timeout zero", "cluster.heartbeat_timeout", `0s`,
			`t.yaml:36: cluster.heartbeat_timeout: must be greater than 0 (got 0s)`},
		{"cluster.heartbeat_timeout below raft's minimum", "cluster.heartbeat_timeout", `4ms`,
			`t.yaml:36: cluster.heartbeat_timeout: must be at least 5ms, Raft's minimum (got 4ms)`},
		{"cluster.heartbeat_timeout above election_timeout", "cluster.heartbeat_timeout", `2s`,
			`t.yaml:37: cluster.election_timeout: must be at least cluster.heartbeat_timeout (got 1s, cluster.heartbeat_timeout 2s)`},
		{"cluster.election_timeout zero", "cluster.election_timeout", `0s`,
			`t.yaml:37: cluster.election_timeout: must be greater than 0 (got 0s)`},
		{"cluster.leader_lease_timeout zero", "cluster.leader_lease_timeout", `0s`,
			`t.yaml:38: cluster.leader_lease_timeout: must be greater than 0 (got 0s)`},
		{"cluster.leader_lease_timeout above heartbeat_timeout", "cluster.leader_lease_timeout", `1001ms`,
			`t.yaml:38: cluster.leader_lease_timeout: must be at most cluster.heartbeat_timeout (got 1.001s, cluster.heartbeat_timeout 1s)`},
		{"cluster.snapshot_threshold zero", "cluster.snapshot_threshold", `0`,
			`t.yaml:39: cluster.snapshot_threshold: must be at least 1 (got 0)`},
		{"cluster.snapshot_threshold fraction", "cluster.snapshot_threshold", `1.5`,
			`t.yaml:39: cluster.snapshot_threshold: must be an integer (got 1.5)`},
		{"cluster.snapshot_interval zero", "cluster.snapshot_interval", `0s`,
			`t.yaml:40: cluster.snapshot_interval: must be greater than 0 (got 0s)`},
		{"cluster.snapshot_interval below raft's minimum", "cluster.snapshot_interval", `1ms`,
			`t.yaml:40: cluster.snapshot_interval: must be at least 5ms, Raft's minimum (got 1ms)`},

		{"cluster.tls.cert_file missing", "cluster.tls.cert_file", absent,
			`t.yaml: cluster.tls.cert_file: required when cluster.tls.key_file and cluster.tls.ca_file are set: mutual TLS needs all three files`},
		{"cluster.tls.key_file empty", "cluster.tls.key_file", `""`,
			`t.yaml:43: cluster.tls.key_file: required when cluster.tls.cert_file and cluster.tls.ca_file are set: mutual TLS needs all three files`},
		{"cluster.tls.ca_file not a string", "cluster.tls.ca_file", `[ca.pem]`,
			`t.yaml:44: cluster.tls.ca_file: must be a string (got a list)`},
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
		{"admin.token absent", "admin.token", absent, func(c *Config) any { return c.Admin.Token }, ""},
		{"admin.token printable", "admin.token", `"a!b~c=d"`, func(c *Config) any { return c.Admin.Token }, "a!b~c=d"},
		{"cluster.bind port 0", "cluster.bind", `"[::1]:0"`, func(c *Config) any { return c.Cluster.Bind }, "[::1]:0"},
		{"cluster.bind localhost", "cluster.bind", `localhost:7300`, func(c *Config) any { return c.Cluster.Bind }, "localhost:7300"},
		{"cluster.bind absent is default", "cluster.bind", absent, func(c *Config) any { return c.Cluster.Bind }, "127.0.0.1:7300"},
		{"cluster.bind wildcard", "cluster.bind", `0.0.0.0:7300`, func(c *Config) any { return c.Cluster.Bind }, "0.0.0.0:7300"},
		{"cluster.advertise absent", "cluster.advertise", absent, func(c *Config) any { return c.Cluster.Advertise }, ""},
		{"cluster.advertise IPv6", "cluster.advertise", `"[2001:db8::1]:7300"`,
			func(c *Config) any { return c.Cluster.Advertise }, "[2001:db8::1]:7300"},
		{"cluster.data_dir absent is default", "cluster.data_dir", absent, func(c *Config) any { return c.Cluster.DataDir }, "data"},
		{"cluster.data_dir relative to the file", "cluster.data_dir", `raft/`,
			func(c *Config) any { return c.Cluster.DataDir }, "raft"},
		{"cluster.bootstrap true", "cluster.bootstrap", `true`, func(c *Config) any { return c.Cluster.Bootstrap }, true},
		{"cluster.bootstrap quoted", "cluster.bootstrap", `"1"`, func(c *Config) any { return c.Cluster.Bootstrap }, true},
		{"cluster.bootstrap absent is false", "cluster.bootstrap", absent, func(c *Config) any { return c.Cluster.Bootstrap }, false},
		{"cluster.voter false", "cluster.voter", `False`, func(c *Config) any { return c.Cluster.Voter }, false},
		{"cluster.voter null is true", "cluster.voter", `~`, func(c *Config) any { return c.Cluster.Voter }, true},
		{"cluster.join empty", "cluster.join", `[]`, func(c *Config) any { return c.Cluster.Join }, []string(nil)},
		{"cluster.join forms", "cluster.join", `["[::1]:9054", aya-2.example.com.:9053, localhost:9053]`,
			func(c *Config) any { return c.Cluster.Join }, []string{"[::1]:9054", "aya-2.example.com.:9053", "localhost:9053"}},
		{"cluster.join as one string", "cluster.join", `"10.0.0.2:9053, 10.0.0.3:9053"`,
			func(c *Config) any { return c.Cluster.Join }, []string{"10.0.0.2:9053", "10.0.0.3:9053"}},
		{"cluster.report_interval just below fresh_for", "cluster.report_interval", `29.999s`,
			func(c *Config) any { return c.Cluster.ReportInterval }, 29999 * time.Millisecond},
		{"cluster.fresh_for absent is default", "cluster.fresh_for", absent,
			func(c *Config) any { return c.Cluster.FreshFor }, 30 * time.Second},
		{"cluster.leader_lease_timeout at raft's minimum", "cluster.leader_lease_timeout", `5ms`,
			func(c *Config) any { return c.Cluster.LeaderLeaseTimeout }, 5 * time.Millisecond},
		{"cluster.leader_lease_timeout equal to heartbeat_timeout", "cluster.leader_lease_timeout", `1s`,
			func(c *Config) any { return c.Cluster.LeaderLeaseTimeout }, time.Second},
		{"cluster.snapshot_threshold 1", "cluster.snapshot_threshold", `1`,
			func(c *Config) any { return c.Cluster.SnapshotThreshold }, 1},
		{"cluster.snapshot_interval absent is default", "cluster.snapshot_interval", absent,
			func(c *Config) any { return c.Cluster.SnapshotInterval }, 2 * time.Minute},
		{"cluster.tls resolved", "", "", func(c *Config) any { return c.Cluster.TLS },
			ClusterTLSConfig{CertFile: "c.pem", KeyFile: "k.pem", CAFile: "ca.pem"}},
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

// withDNSKey is the base file with a line "  name: val" in the dns
// section, as line 12 (before "  transfer:"); absent leaves it out.
func withDNSKey(t *testing.T, name, val string) []byte {
	t.Helper()
	b := with(t, "", "")
	if val == absent {
		return b
	}
	return []byte(strings.Replace(string(b), "  transfer:\n", "  "+name+": "+val+"\n  transfer:\n", 1))
}

// listCase is a value of a list key added with withDNSKey: the parsed
// list it gives, or the error.
type listCase struct {
	name, val string
	want      any
	err       string
}

// runListCases parses each case's file and compares got's result or the error.
func runListCases(t *testing.T, key string, got func(*Config) any, cases []listCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", withDNSKey(t, key, tc.val), nil)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("Parse: %v, want %s", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if g := got(c); !reflect.DeepEqual(g, tc.want) {
				t.Errorf("dns.%s = %#v, want %#v", key, g, tc.want)
			}
		})
	}
}

// TestWhyClients: dns.why_clients defaults to loopback (dnsserver's
// default), an empty list stays empty (no one), and a bad entry is placed
// at its line and index.
func TestWhyClients(t *testing.T) {
	clearEnv(t)
	runListCases(t, "why_clients", func(c *Config) any { return c.DNS.WhyPrefixes }, []listCase{
		{"absent is loopback", absent, dnsserver.DefaultWhyClients(), ""},
		{"null is loopback", `~`, dnsserver.DefaultWhyClients(), ""},
		{"empty allows no one", `[]`, []netip.Prefix{}, ""},
		{"bare addresses", `[192.0.2.1, "::1"]`, prefixes("192.0.2.1/32", "::1/128"), ""},
		{"not an address", `[127.0.0.1, localhost]`, nil,
			`t.yaml:12: dns.why_clients[1]: must be a CIDR prefix or an IP address (got "localhost")`},
		{"host bits", `[10.1.2.3/8]`, nil,
			`t.yaml:12: dns.why_clients[0]: has address bits set past the prefix length (got "10.1.2.3/8"; did you mean "10.0.0.0/8"?)`},
	})
}

// TestNotifyTargets: dns.notify takes ip:port or a bare address (port 53),
// is empty by default, and a bad or repeated entry is placed at its line
// and index (the rules are dnsserver.ParseNotifyTarget's).
func TestNotifyTargets(t *testing.T) {
	clearEnv(t)
	runListCases(t, "notify", func(c *Config) any { return c.DNS.NotifyAddrs }, []listCase{
		{"absent is none", absent, []netip.AddrPort(nil), ""},
		{"empty is none", `[]`, []netip.AddrPort(nil), ""},
		{"forms", `[192.0.2.1, "192.0.2.2:5353", "[2001:db8::1]:53", "2001:db8::2"]`, []netip.AddrPort{
			netip.MustParseAddrPort("192.0.2.1:53"), netip.MustParseAddrPort("192.0.2.2:5353"),
			netip.MustParseAddrPort("[2001:db8::1]:53"), netip.MustParseAddrPort("[2001:db8::2]:53"),
		}, ""},
		{"a name", `[192.0.2.1, "ns2.example.com:53"]`, nil,
			`t.yaml:12: dns.notify[1]: host must be an IP address, not a name (got "ns2.example.com:53")`},
		{"port 0", `["192.0.2.1:0"]`, nil, `t.yaml:12: dns.notify[0]: port must be 1-65535 (got "192.0.2.1:0")`},
		{"twice", `[192.0.2.1, "192.0.2.1:53"]`, nil, `t.yaml:12: dns.notify[1]: duplicate of 192.0.2.1:53`},
	})
}

// TestClusterTLS: the three cluster.tls files come together or not at all,
// and each missing one is named.
func TestClusterTLS(t *testing.T) {
	clearEnv(t)
	const head = "node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n"
	tests := []struct{ name, tls, want string }{
		{"none", "{}", ""},
		{"all empty", `{cert_file: "", key_file: "", ca_file: ~}`, ""},
		{"all", "{cert_file: c.pem, key_file: k.pem, ca_file: ca.pem}", ""},
		{"only a CA", "{ca_file: ca.pem}",
			"t.yaml: cluster.tls.cert_file: required when cluster.tls.ca_file is set: mutual TLS needs all three files\n" +
				"t.yaml: cluster.tls.key_file: required when cluster.tls.ca_file is set: mutual TLS needs all three files"},
		{"blank key", `{cert_file: c.pem, key_file: " ", ca_file: ca.pem}`,
			"t.yaml:3: cluster.tls.key_file: required when cluster.tls.cert_file and cluster.tls.ca_file are set: mutual TLS needs all three files"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(head+"cluster: {tls: "+tc.tls+"}\n"), nil)
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Parse: %v", err)
			case tc.want != "" && (err == nil || err.Error() != tc.want):
				t.Errorf("Parse error:\n got  %v\n want %s", err, tc.want)
			}
		})
	}
}

// TestShedConfig: cluster.shed's bounds and their errors.
func TestShedConfig(t *testing.T) {
	clearEnv(t)
	const head = "node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\ncluster:\n  shed:\n"
	for _, tc := range []struct {
		name, body string
		want       ShedConfig
		err        string
	}{
		{"defaults", "    {}\n", ShedConfig{HighWater: 0.8, LowWater: 0.6, MaxFraction: 0.5, Step: 0.1}, ""},
		{"edges", "    high_water: 1\n    low_water: 1\n    max_fraction: 0.95\n    step: 1\n",
			ShedConfig{HighWater: 1, LowWater: 1, MaxFraction: 0.95, Step: 1}, ""},
		{"high water 0", "    high_water: 0\n", ShedConfig{}, "t.yaml:5: cluster.shed.high_water: must be greater than 0 and at most 1 (got 0)"},
		{"high water over 1", "    high_water: 1.5\n", ShedConfig{}, "t.yaml:5: cluster.shed.high_water: must be greater than 0 and at most 1 (got 1.5)"},
		{"low over high", "    high_water: 0.5\n    low_water: 0.7\n", ShedConfig{},
			"t.yaml:6: cluster.shed.low_water: must be at most cluster.shed.high_water (got 0.7, cluster.shed.high_water 0.5)"},
		{"max fraction 1", "    max_fraction: 1\n", ShedConfig{}, "t.yaml:5: cluster.shed.max_fraction: must be greater than 0 and at most 0.95 (got 1)"},
		{"step negative", "    step: -0.1\n", ShedConfig{}, "t.yaml:5: cluster.shed.step: must be greater than 0 and at most 1 (got -0.1)"},
		{"not a number", "    step: lots\n", ShedConfig{}, "t.yaml:5: cluster.shed.step:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse("t.yaml", []byte(head+tc.body), nil)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Parse: %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Cluster.Shed != tc.want {
				t.Errorf("shed %+v, want %+v", c.Cluster.Shed, tc.want)
			}
		})
	}
}

// TestClusterAuth covers who may write the Raft log: plain TCP only on
// loopback, a cluster secret (inline, from a file or the environment, never
// with cluster.tls), or the cluster.tls files.
func TestClusterAuth(t *testing.T) {
	const head = "node: {id: n1}\ndns: {listen: [127.0.0.1:5300], zones_dir: zones}\ncluster:\n" // cluster keys from line 4
	tlsFiles := "  tls: {cert_file: c.pem, key_file: k.pem, ca_file: ca.pem}\n"
	const fileSecrets = 2 // testdata/cluster.secret: a new and an old secret
	const how = `since anyone who reaches it can write the Raft log: set cluster.secret_file on every node to the same file, ` +
		`made with "aya cluster secret > FILE", or set the cluster.tls files`
	for _, tc := range []struct {
		name    string
		cluster string
		env     map[string]string
		secrets int // how many when valid
		want    string
	}{
		{"plain TCP on loopback", "  bind: 127.0.0.1:7300\n", nil, 0, ""},
		{"plain TCP on localhost", "  bind: localhost:7300\n  advertise: localhost:7300\n", nil, 0, ""},
		{"plain TCP on IPv6 loopback", "  bind: \"[::1]:7300\"\n", nil, 0, ""},
		{"plain TCP on 127.0.0.0/8", "  bind: 127.0.0.12:7300\n", nil, 0, ""},
		{"plain TCP on a network", "  bind: 192.0.2.10:7300\n", nil, 0,
			`testdata/t.yaml:4: cluster.bind: must be a loopback address when the transport is plain TCP (got "192.0.2.10:7300"), ` + how},
		{"plain TCP on every address", "  bind: 0.0.0.0:7300\n  advertise: 127.0.0.1:7300\n", nil, 0,
			`testdata/t.yaml:4: cluster.bind: must be a loopback address when the transport is plain TCP (got "0.0.0.0:7300"), ` + how},
		{"plain TCP advertised off loopback", "  bind: 127.0.0.1:7300\n  advertise: 192.0.2.10:7300\n", nil, 0,
			`testdata/t.yaml:5: cluster.advertise: must be a loopback address when the transport is plain TCP (got "192.0.2.10:7300"), ` + how},
		{"plain TCP from the environment", "", map[string]string{"AYA_CLUSTER_BIND": "192.0.2.10:7300"}, 0,
			`AYA_CLUSTER_BIND: cluster.bind: must be a loopback address when the transport is plain TCP (got "192.0.2.10:7300"), ` + how},
		{"secret file", "  bind: 192.0.2.10:7300\n  secret_file: cluster.secret\n", nil, fileSecrets, ""},
		{"secret inline", "  bind: 0.0.0.0:7300\n  advertise: 192.0.2.10:7300\n  secret: " + mtls.NewSecret() + "\n", nil, 1, ""},
		{"secret from the environment", "  bind: 192.0.2.10:7300\n",
			map[string]string{"AYA_CLUSTER_SECRET": mtls.NewSecret() + " " + mtls.NewSecret()}, 2, ""},
		{"secret file from the environment", "  bind: 192.0.2.10:7300\n",
			map[string]string{"AYA_CLUSTER_SECRET_FILE": "testdata/cluster.secret"}, fileSecrets, ""},
		{"TLS files", "  bind: 192.0.2.10:7300\n" + tlsFiles, nil, 0, ""},
		{"secret not base64", "  bind: 192.0.2.10:7300\n  secret: hunter2-hunter2-hunter2-hunter2-hunter2\n", nil, 0,
			"testdata/t.yaml:5: cluster.secret: must be base64, such as `openssl rand -base64 32` prints"},
		{"secret not base64 in the environment", "", map[string]string{"AYA_CLUSTER_SECRET": "hunter2"}, 0,
			"AYA_CLUSTER_SECRET: cluster.secret: must be base64, such as `openssl rand -base64 32` prints"},
		{"secret file short", "  secret_file: cluster-short.secret\n", nil, 0,
			`testdata/t.yaml:4: cluster.secret_file: must decode to at least 32 bytes (got 16)`},
		{"secret file missing", "  secret_file: no-such.secret\n", nil, 0,
			`testdata/t.yaml:4: cluster.secret_file: cannot read: open testdata/no-such.secret: no such file or directory`},
		{"secret file a directory", "  secret_file: sub\n", nil, 0,
			`testdata/t.yaml:4: cluster.secret_file: must be a regular file (got "testdata/sub")`},
		{"secret and its file", "  secret: " + mtls.NewSecret() + "\n  secret_file: cluster.secret\n", nil, 0,
			`testdata/t.yaml:5: cluster.secret_file: must not be set together with cluster.secret: set one of them`},
		{"secret file and TLS", "  secret_file: cluster.secret\n" + tlsFiles, nil, 0,
			`testdata/t.yaml:4: cluster.secret_file: must not be set together with cluster.tls: the Raft transport uses one of them`},
		{"secret and TLS", "  secret: " + mtls.NewSecret() + "\n" + tlsFiles, nil, 0,
			`testdata/t.yaml:4: cluster.secret: must not be set together with cluster.tls: the Raft transport uses one of them`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c, err := Parse("testdata/t.yaml", []byte(head+tc.cluster), nil)
			if tc.want != "" {
				if err == nil || err.Error() != tc.want {
					t.Fatalf("Parse error:\n got  %v\n want %s", err, tc.want)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("the error quotes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if len(c.Cluster.Secrets) != tc.secrets {
				t.Fatalf("%d secrets, want %d", len(c.Cluster.Secrets), tc.secrets)
			}
		})
	}

	// aya proxy does not run Raft: its cluster.bind is not checked.
	proxy := "cluster:\n  bind: 192.0.2.10:7300\nproxy:\n  listen: [{addr: 127.0.0.1:8080}]\n"
	if _, err := ParseProxy("testdata/t.yaml", []byte(proxy), nil); err != nil && strings.Contains(err.Error(), "loopback") {
		t.Fatalf("ParseProxy checked cluster.bind: %v", err)
	}
}

// TestAdminOffLoopback: an admin API reachable from other hosts needs a
// token or client certificates, or says it is on purpose.
func TestAdminOffLoopback(t *testing.T) {
	const base = "node: {id: n1}\ndns: {listen: [127.0.0.1:5300], zones_dir: zones}\nadmin:\n  listen: %s\n%s"
	const refused = `t.yaml:4: admin.listen: "192.0.2.1:9053" is reachable from other hosts, and without a token whoever reaches it can drain regions and roll out releases: set admin.token (better: the environment, AYA_ADMIN_TOKEN), or cluster.tls (client certificates), or admin.insecure: true on a network only operators reach`
	for _, tc := range []struct {
		name, listen, extra, want string
	}{
		{"off loopback, no token", "192.0.2.1:9053", "", refused},
		{"off loopback, a token", "192.0.2.1:9053", "  token: t0k3n\n", ""},
		{"off loopback, insecure on purpose", "192.0.2.1:9053", "  insecure: true\n", ""},
		{"loopback, no token", "127.0.0.1:9053", "", ""},
		{"localhost, no token", "localhost:9053", "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(fmt.Sprintf(base, tc.listen, tc.extra)), nil)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}
