package config

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aya-gslb/aya/internal/names"
	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/proxy"
)

// proxyBase is a valid proxy-only configuration, one setting per line, so
// each row below edits a few lines and can pin the line numbers in its
// messages.
var proxyBase = strings.Split(strings.TrimSuffix(`node: {id: p1}
admin: {listen: 127.0.0.1:9060}
proxy:
  region: eu-west
  report_to: [127.0.0.1:9053]
  report_interval: 2s
  capacity: 1000
  sticky_secret: 0123456789abcdef0123456789abcdef
  drain_timeout: 30s
  access_log: false
  trusted_proxies: [10.0.0.0/8]
  limits:
    max_header_bytes: 65536
    max_body_bytes: 33554432
    read_header_timeout: 10s
    idle_timeout: 60s
    max_conns: 10000
  rate_limit:
    rate: 0
    burst: 0
  listeners:
    - address: 127.0.0.1:8080
      certs:
        - {cert_file: a.pem, key_file: a-key.pem}
      http2: false
  routes:
    - host: www.example.com
      path_prefix: /
      pool: web
  pools:
    - name: web
      algorithm: round_robin
      hash_header: ""
      hash_cookie: ""
      sticky: {cookie: aya_sticky, ttl: 1h}
      check: {kind: http, path: /healthz}
      consecutive_failures: 5
      eject_for: 10s
      max_eject_for: 5m
      slow_start: 0s
      connect_timeout: 2s
      try_timeout: 15s
      timeout: 30s
      retries: 2
      max_idle_conns: 64
      backends:
        - name: b1
          address: 127.0.0.1:9001
          weight: 1
          max_conns: 0
`, "\n"), "\n")

// proxyEdited returns proxyBase with e applied.
func proxyEdited(t *testing.T, e edit) []byte {
	t.Helper()
	return editedLines(t, proxyBase, e)
}

// serveHead makes proxyBase a serve configuration: it replaces line 1.
const serveHead = "node: {id: p1}\ndns: {listen: [127.0.0.1:5300], zones_dir: zones}\ncluster: {bind: 127.0.0.1:7300}"

// defaultProxy is what proxyBase loads to.
func defaultProxy() *ProxyConfig {
	return &ProxyConfig{
		Region:         "eu-west",
		ReportTo:       []string{"127.0.0.1:9053"},
		ReportInterval: 2 * time.Second,
		Config: proxy.Config{
			Capacity:       1000,
			StickySecret:   []byte("0123456789abcdef0123456789abcdef"),
			DrainTimeout:   30 * time.Second,
			TrustedProxies: prefixes("10.0.0.0/8"),
			Limits: proxy.Limits{MaxHeaderBytes: 65536, MaxBodyBytes: 32 << 20, ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout: time.Minute, MaxConns: 10000,
				MaxConnsPerClient: 256, MaxHeaders: 100, BodyTimeout: 5 * time.Minute, MinUploadRate: 1024,
				MinUploadRateGrace: 10 * time.Second, BufferBodyBytes: 65536},
			Listeners: []proxy.Listener{{Addr: "127.0.0.1:8080", Certs: []proxy.Cert{{CertFile: "conf/a.pem", KeyFile: "conf/a-key.pem"}}}},
			Routes:    []proxy.Route{{Host: "www.example.com", PathPrefix: "/", Pool: "web"}},
			Pools: []proxy.Pool{{
				Name: "web", Algorithm: "round_robin",
				Sticky:              &proxy.Sticky{Cookie: "aya_sticky", TTL: time.Hour},
				ConsecutiveFailures: 5, EjectFor: 10 * time.Second, MaxEjectFor: 5 * time.Minute,
				ConnectTimeout: 2 * time.Second, TryTimeout: 15 * time.Second, Timeout: 30 * time.Second,
				Retries: 2, MaxIdleConns: 64,
				Backends: []proxy.Backend{{Name: "b1", Addr: "127.0.0.1:9001", Weight: 1}},
			}},
		},
		Checks: []*probes.CheckConfig{{Kind: "http", Method: "GET", Path: "/healthz", ExpectStatus: [2]int{200, 399},
			Interval: 5 * time.Second, Jitter: 0.1, Timeout: 2 * time.Second, Rise: 2, Fall: 2}},
	}
}

func TestProxyBase(t *testing.T) {
	clearEnv(t)
	c, err := ParseProxy("conf/t.yaml", proxyEdited(t, edit{from: 1, text: proxyBase[0]}), nil)
	if err != nil {
		t.Fatalf("proxyBase does not load: %v", err)
	}
	if !reflect.DeepEqual(c.Proxy, defaultProxy()) {
		t.Errorf("Proxy =\n%+v\nwant\n%+v", c.Proxy, defaultProxy())
	}
	// The same section in a serve configuration.
	c, err = Parse("conf/t.yaml", proxyEdited(t, edit{from: 1, text: serveHead}), nil)
	if err != nil {
		t.Fatalf("proxyBase under serve does not load: %v", err)
	}
	if !reflect.DeepEqual(c.Proxy, defaultProxy()) {
		t.Errorf("serve: Proxy =\n%+v\nwant\n%+v", c.Proxy, defaultProxy())
	}
}

func TestLoadProxyFile(t *testing.T) {
	clearEnv(t)
	c, err := LoadProxy("testdata/proxy.yaml", nil)
	if err != nil {
		t.Fatalf("LoadProxy: %v", err)
	}
	secret, err := os.ReadFile("testdata/proxy-sticky.secret")
	if err != nil {
		t.Fatal(err)
	}
	want := &ProxyConfig{
		Region:           "eu-west",
		ReportTo:         []string{"127.0.0.1:9053", "[::1]:9053"},
		ReportInterval:   5 * time.Second,
		StickySecretFile: "testdata/proxy-sticky.secret",
		AccessLog:        true,
		Config: proxy.Config{
			Capacity:       2000,
			StickySecret:   []byte(strings.TrimSuffix(string(secret), "\n")),
			DrainTimeout:   45 * time.Second,
			TrustedProxies: prefixes("10.0.0.0/8", "192.0.2.1/32"),
			Limits: proxy.Limits{MaxHeaderBytes: 32768, MaxBodyBytes: 1 << 20, ReadHeaderTimeout: 5 * time.Second,
				IdleTimeout: 2 * time.Minute, MaxConns: 500,
				MaxConnsPerClient: 256, MaxHeaders: 100, BodyTimeout: 5 * time.Minute, MinUploadRate: 1024,
				MinUploadRateGrace: 10 * time.Second, BufferBodyBytes: 65536},
			RateLimit: proxy.RateLimit{Rate: 12.5, Burst: 40},
			Listeners: []proxy.Listener{
				{Addr: "127.0.0.1:8080"},
				{Addr: "[::1]:8443", HTTP2: true, Certs: []proxy.Cert{
					{CertFile: "testdata/tls/www.pem", KeyFile: "testdata/tls/www-key.pem"},
					{CertFile: "/etc/aya/api.pem", KeyFile: "/etc/aya/api-key.pem"},
				}},
			},
			Routes: []proxy.Route{
				{Host: "api.example.com", PathPrefix: "/v1", Pool: "api"},
				{Host: "*.example.com", Pool: "web"},
				{Pool: "web"},
			},
			Pools: []proxy.Pool{
				{
					Name: "web", Algorithm: "weighted_round_robin",
					Sticky:              &proxy.Sticky{Cookie: "web_session", TTL: time.Hour},
					ConsecutiveFailures: 5, EjectFor: 20 * time.Second, MaxEjectFor: 10 * time.Minute, SlowStart: 30 * time.Second,
					ConnectTimeout: time.Second, TryTimeout: 10 * time.Second, Timeout: 20 * time.Second,
					Retries: 3, MaxIdleConns: 32,
					Backends: []proxy.Backend{
						{Name: "b1", Addr: "10.0.1.1:9001", Weight: 3, MaxConns: 100},
						{Name: "b2", Addr: "[2001:db8::2]:9001", Weight: 1},
					},
				},
				{
					Name: "api", Algorithm: "consistent_hash", HashHeader: "X-User",
					EjectFor: 10 * time.Second, MaxEjectFor: 5 * time.Minute,
					ConnectTimeout: 2 * time.Second, TryTimeout: 15 * time.Second, Timeout: 30 * time.Second,
					Retries: -1, MaxIdleConns: 64,
					Backends: []proxy.Backend{{Name: "a1", Addr: "10.0.2.1:8000", Weight: 1}},
				},
			},
		},
		Checks: []*probes.CheckConfig{{Kind: "http", Method: "GET", Path: "/healthz", ExpectStatus: [2]int{200, 399},
			Interval: 2 * time.Second, Jitter: 0.1, Timeout: time.Second, Rise: 2, Fall: 2}, nil},
	}
	if !reflect.DeepEqual(c.Proxy, want) {
		t.Errorf("Proxy =\n%+v\nwant\n%+v", c.Proxy, want)
	}
	if c.Node.ID != "proxy-euw1" || c.Admin.Listen != "127.0.0.1:9060" || c.Log.Level != "debug" || c.File != "testdata/proxy.yaml" {
		t.Errorf("node %q, admin %q, log %q, file %q", c.Node.ID, c.Admin.Listen, c.Log.Level, c.File)
	}
	// A proxy-only file is not a serve configuration.
	want2 := "testdata/proxy.yaml: dns.listen: at least one address required\ntestdata/proxy.yaml: dns.zones_dir: required"
	if _, err := Load("testdata/proxy.yaml", nil); err == nil || err.Error() != want2 {
		t.Errorf("Load error:\n got  %v\n want %s", err, want2)
	}
}

// TestProxyDefaults: the smallest proxy file, and every default.
func TestProxyDefaults(t *testing.T) {
	clearEnv(t)
	data := "node: {id: p1}\nproxy:\n  region: eu-west\n  listeners: [{address: 127.0.0.1:8080}]\n" +
		"  routes: [{pool: web}]\n  pools: [{name: web, backends: [{name: b1, address: 127.0.0.1:9001}]}]\n"
	c, err := ParseProxy("t.yaml", []byte(data), nil)
	if err != nil {
		t.Fatalf("ParseProxy: %v", err)
	}
	want := &ProxyConfig{
		Region:         "eu-west",
		ReportInterval: 2 * time.Second,
		Config: proxy.Config{
			DrainTimeout: 30 * time.Second,
			Limits: proxy.Limits{MaxHeaderBytes: 65536, MaxBodyBytes: 33554432, ReadHeaderTimeout: 10 * time.Second,
				IdleTimeout: 60 * time.Second, MaxConns: 10000,
				MaxConnsPerClient: 256, MaxHeaders: 100, BodyTimeout: 5 * time.Minute, MinUploadRate: 1024,
				MinUploadRateGrace: 10 * time.Second, BufferBodyBytes: 65536},
			Listeners: []proxy.Listener{{Addr: "127.0.0.1:8080"}},
			Routes:    []proxy.Route{{Pool: "web"}},
			Pools: []proxy.Pool{{
				Name: "web", Algorithm: "round_robin", EjectFor: 10 * time.Second, MaxEjectFor: 5 * time.Minute,
				ConnectTimeout: 2 * time.Second, TryTimeout: 15 * time.Second, Timeout: 30 * time.Second,
				Retries: 2, MaxIdleConns: 64,
				Backends: []proxy.Backend{{Name: "b1", Addr: "127.0.0.1:9001", Weight: 1}},
			}},
		},
		Checks: []*probes.CheckConfig{nil},
	}
	if !reflect.DeepEqual(c.Proxy, want) {
		t.Errorf("Proxy =\n%+v\nwant\n%+v", c.Proxy, want)
	}
	// The cluster section's defaults are there, unchecked and unused.
	if c.Cluster.Bind != "127.0.0.1:7300" || len(c.DNS.Listen) != 0 || c.DNS.ZonesDir != "" {
		t.Errorf("cluster.bind %q, dns %+v", c.Cluster.Bind, c.DNS)
	}
}

// TestProxyRules has one row per rule of the proxy section, with the exact
// messages. Rows with serve set load proxyBase under `aya serve`.
func TestProxyRules(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		name  string
		edit  edit
		serve bool
		want  string
	}{
		// The section.
		{name: "proxy not a mapping", edit: edit{from: 3, to: 50, text: "proxy: on"},
			want: `t.yaml:3: proxy: must be a mapping of keys (got "on")`},
		{name: "proxy absent", edit: edit{from: 3, to: 50, text: absent},
			want: `t.yaml: proxy: required: aya proxy needs a proxy section`},
		{name: "proxy null", edit: edit{from: 3, to: 50, text: "proxy: ~"},
			want: `t.yaml:3: proxy: required: aya proxy needs a proxy section`},
		{name: "proxy unknown key", edit: edit{from: 10, text: "  acess_log: false"},
			want: `t.yaml:10: proxy.acess_log: unknown key (did you mean "access_log"?)`},
		{name: "node.id still required", edit: edit{from: 1, text: "node: {}"},
			want: `t.yaml: node.id: required`},

		// Scalar keys.
		{name: "region absent", edit: edit{from: 4, text: absent}, want: `t.yaml: proxy.region: required`},
		{name: "region upper case", edit: edit{from: 4, text: "  region: EU-West"},
			want: `t.yaml:4: proxy.region: must be lower-case letters, digits and "-" (got "EU-West"; did you mean "eu-west"?)`},
		{name: "region not among the regions", edit: edit{from: 1, text: serveHead +
			"\nregions: [{name: eu-west1, latitude: 53.35, longitude: -6.26, country: IE, continent: EU}]"},
			want: `t.yaml:7: proxy.region: unknown region "eu-west" (did you mean "eu-west1"?)`},
		{name: "report_to no port", edit: edit{from: 5, text: "  report_to: [127.0.0.1]"},
			want: `t.yaml:5: proxy.report_to[0]: must be host:port, such as 10.0.0.2:9053 or [2001:db8::2]:9053 (got "127.0.0.1")`},
		{name: "report_to duplicate", edit: edit{from: 5, text: "  report_to: [127.0.0.1:9053, 127.0.0.1:09053]"},
			want: `t.yaml:5: proxy.report_to[1]: duplicate of proxy.report_to[0] ("127.0.0.1:9053")`},
		{name: "report_interval zero", edit: edit{from: 6, text: "  report_interval: 0s"},
			want: `t.yaml:6: proxy.report_interval: must be greater than 0 (got 0s)`},
		{name: "report_interval no unit", edit: edit{from: 6, text: "  report_interval: 2"},
			want: `t.yaml:6: proxy.report_interval: must be a duration such as "10s" or "1m30s" (got 2)`},
		{name: "capacity negative", edit: edit{from: 7, text: "  capacity: -1"},
			want: `t.yaml:7: proxy.capacity: must be at least 0 (got -1)`},
		{name: "sticky_secret short", edit: edit{from: 8, text: "  sticky_secret: short"},
			want: `t.yaml:8: proxy.sticky_secret: must be at least 32 bytes (got 5)`},
		{name: "sticky secret required", edit: edit{from: 8, text: absent},
			want: `t.yaml: proxy.sticky_secret: required when a pool is sticky (proxy.pools[0] is)`},
		{name: "sticky_secret and its file", edit: edit{from: 8, text: proxyBase[7] + "\n  sticky_secret_file: s.secret"},
			want: `t.yaml:9: proxy.sticky_secret_file: must not be set together with proxy.sticky_secret: set one of them`},
		{name: "sticky_secret_file missing", edit: edit{from: 8, text: "  sticky_secret_file: no-such.secret"},
			want: `t.yaml:8: proxy.sticky_secret_file: cannot read: open testdata/no-such.secret: no such file or directory`},
		{name: "sticky_secret_file short", edit: edit{from: 8, text: "  sticky_secret_file: proxy-short.secret"},
			want: `t.yaml:8: proxy.sticky_secret_file: must hold at least 32 bytes ("testdata/proxy-short.secret" holds 9)`},
		{name: "sticky_secret_file a directory", edit: edit{from: 8, text: "  sticky_secret_file: sub"},
			want: `t.yaml:8: proxy.sticky_secret_file: must be a regular file (got "testdata/sub")`},
		{name: "drain_timeout negative", edit: edit{from: 9, text: "  drain_timeout: -1s"},
			want: `t.yaml:9: proxy.drain_timeout: must be greater than 0 (got -1s)`},
		{name: "access_log not a bool", edit: edit{from: 10, text: "  access_log: yes"},
			want: `t.yaml:10: proxy.access_log: must be true or false (got "yes")`},
		{name: "trusted_proxies host bits", edit: edit{from: 11, text: "  trusted_proxies: [10.1.0.0/8]"},
			want: `t.yaml:11: proxy.trusted_proxies[0]: has address bits set past the prefix length (got "10.1.0.0/8"; did you mean "10.0.0.0/8"?)`},
		{name: "limits not a mapping", edit: edit{from: 12, to: 17, text: "  limits: 5"},
			want: `t.yaml:12: proxy.limits: must be a mapping of keys (got "5")`},
		{name: "max_header_bytes zero", edit: edit{from: 13, text: "    max_header_bytes: 0"},
			want: `t.yaml:13: proxy.limits.max_header_bytes: must be at least 1 (got 0)`},
		{name: "max_body_bytes with a unit", edit: edit{from: 14, text: "    max_body_bytes: 32MiB"},
			want: `t.yaml:14: proxy.limits.max_body_bytes: must be an integer (got "32MiB")`},
		{name: "read_header_timeout zero", edit: edit{from: 15, text: "    read_header_timeout: 0s"},
			want: `t.yaml:15: proxy.limits.read_header_timeout: must be greater than 0 (got 0s)`},
		{name: "idle_timeout no unit", edit: edit{from: 16, text: "    idle_timeout: 60"},
			want: `t.yaml:16: proxy.limits.idle_timeout: must be a duration such as "10s" or "1m30s" (got 60)`},
		{name: "max_conns zero", edit: edit{from: 17, text: "    max_conns: 0"},
			want: `t.yaml:17: proxy.limits.max_conns: must be at least 1 (got 0)`},
		{name: "rate negative", edit: edit{from: 19, text: "    rate: -0.5"},
			want: `t.yaml:19: proxy.rate_limit.rate: must be between 0 and 1000000 (got -0.5)`},
		{name: "rate not a number", edit: edit{from: 19, text: "    rate: fast"},
			want: `t.yaml:19: proxy.rate_limit.rate: must be a number (got "fast")`},
		{name: "burst negative", edit: edit{from: 20, text: "    burst: -1"},
			want: `t.yaml:20: proxy.rate_limit.burst: must be at least 0 (got -1)`},

		// Listeners.
		{name: "listeners absent", edit: edit{from: 21, to: 25, text: absent},
			want: `t.yaml: proxy.listeners: at least one listener required`},
		{name: "listeners empty", edit: edit{from: 21, to: 25, text: "  listeners: []"},
			want: `t.yaml:21: proxy.listeners: at least one listener required`},
		{name: "listeners not a list", edit: edit{from: 21, to: 25, text: "  listeners: 127.0.0.1:8080"},
			want: `t.yaml:21: proxy.listeners: must be a list (got "127.0.0.1:8080")`},
		{name: "listener address absent", edit: edit{from: 22, text: "    - address: ~"},
			want: `t.yaml:22: proxy.listeners[0].address: required`},
		{name: "listener address host name", edit: edit{from: 22, text: "    - address: proxy.example.com:8080"},
			want: `t.yaml:22: proxy.listeners[0].address: host must be an IP address or "localhost" (got "proxy.example.com")`},
		{name: "listener unknown key", edit: edit{from: 25, text: "      http3: true"},
			want: `t.yaml:25: proxy.listeners[0].http3: unknown key (did you mean "http2"?)`},
		{name: "listeners overlap", edit: edit{from: 25, text: proxyBase[24] + "\n    - address: 0.0.0.0:8080"},
			want: `t.yaml:26: proxy.listeners[1].address: overlaps proxy.listeners[0].address ("127.0.0.1:8080")`},
		{name: "listener overlaps admin.listen", edit: edit{from: 22, text: "    - address: 127.0.0.1:9060"},
			want: `t.yaml:22: proxy.listeners[0].address: overlaps admin.listen ("127.0.0.1:9060"): both use TCP`},
		{name: "serve: listener overlaps dns.listen", serve: true, edit: edit{from: 22, text: `    - address: "0.0.0.0:5300"`},
			want: `t.yaml:24: proxy.listeners[0].address: overlaps dns.listen[0] ("127.0.0.1:5300"): both use TCP`},
		{name: "serve: listener overlaps cluster.bind", serve: true, edit: edit{from: 22, text: "    - address: 127.0.0.1:7300"},
			want: `t.yaml:24: proxy.listeners[0].address: overlaps cluster.bind ("127.0.0.1:7300"): both use TCP`},
		{name: "proxy: cluster.bind is not checked", edit: edit{from: 22, text: "    - address: 127.0.0.1:7300"}},
		{name: "cert without key", edit: edit{from: 24, text: "        - {cert_file: a.pem}"},
			want: `t.yaml:24: proxy.listeners[0].certs[0].key_file: required`},
		{name: "cert not a mapping", edit: edit{from: 24, text: "        - a.pem"},
			want: `t.yaml:24: proxy.listeners[0].certs[0]: must be a mapping of keys (got "a.pem")`},
		{name: "http2 without certs", edit: edit{from: 23, to: 25, text: "      http2: true"},
			want: `t.yaml:23: proxy.listeners[0].http2: only with certs: HTTP/2 is offered over TLS`},

		// Routes.
		{name: "routes absent", edit: edit{from: 26, to: 29, text: absent},
			want: `t.yaml: proxy.routes: at least one route required`},
		{name: "route host with a port", edit: edit{from: 27, text: "    - host: www.example.com:443"},
			want: `t.yaml:27: proxy.routes[0].host: must be a host name, an IP address, "*." and a domain, or "" for any host (got "www.example.com:443")`},
		{name: "route host bare wildcard", edit: edit{from: 27, text: `    - host: "*"`},
			want: `t.yaml:27: proxy.routes[0].host: must be a host name, an IP address, "*." and a domain, or "" for any host (got "*")`},
		{name: "route path_prefix relative", edit: edit{from: 28, text: "      path_prefix: api"},
			want: `t.yaml:28: proxy.routes[0].path_prefix: must start with "/" (got "api")`},
		{name: "route path_prefix with a query", edit: edit{from: 28, text: "      path_prefix: /api?x=1"},
			want: `t.yaml:28: proxy.routes[0].path_prefix: must not contain spaces, control characters, "?" or "#" (got "/api?x=1")`},
		{name: "route pool absent", edit: edit{from: 29, text: absent},
			want: `t.yaml:27: proxy.routes[0].pool: required`},
		{name: "route pool unknown", edit: edit{from: 29, text: "      pool: webs"},
			want: `t.yaml:29: proxy.routes[0].pool: unknown pool "webs" (did you mean "web"?)`},
		{name: "route repeated", edit: edit{from: 29, text: proxyBase[28] + "\n    - {host: WWW.example.com., pool: web}"},
			want: `t.yaml:30: proxy.routes[1]: same host and path_prefix as proxy.routes[0], so it never matches`},

		// Pools.
		{name: "pools absent", edit: edit{from: 30, to: 50, text: absent},
			want: "t.yaml:29: proxy.routes[0].pool: unknown pool \"web\"\n" +
				`t.yaml: proxy.pools: at least one pool required`},
		{name: "pool name duplicate", edit: edit{from: 50, text: proxyBase[49] +
			"\n    - {name: web, backends: [{name: b1, address: 127.0.0.1:9002}]}"},
			want: `t.yaml:51: proxy.pools[1].name: duplicate of proxy.pools[0] ("web")`},
		{name: "pool name bad: no guesses", edit: edit{from: 31, text: "    - name: Web"},
			want: `t.yaml:31: proxy.pools[0].name: must be lower-case letters, digits and "-" (got "Web"; did you mean "web"?)`},
		{name: "algorithm unknown", edit: edit{from: 32, text: "      algorithm: roundrobin"},
			want: `t.yaml:32: proxy.pools[0].algorithm: must be one of round_robin, weighted_round_robin, least_conn, weighted_least_conn, ip_hash, consistent_hash, least_time, random (got "roundrobin") (did you mean "round_robin"?)`},
		{name: "consistent_hash without a key", edit: edit{from: 32, text: "      algorithm: consistent_hash"},
			want: `t.yaml:32: proxy.pools[0].algorithm: one of hash_header and hash_cookie required with algorithm consistent_hash`},
		{name: "consistent_hash with both keys", edit: edit{from: 32, to: 34, text: "      algorithm: consistent_hash\n" +
			"      hash_header: X-User\n      hash_cookie: session"},
			want: `t.yaml:34: proxy.pools[0].hash_cookie: only one of hash_header and hash_cookie may be set`},
		{name: "hash_header without consistent_hash", edit: edit{from: 33, text: "      hash_header: X-User"},
			want: `t.yaml:33: proxy.pools[0].hash_header: only with algorithm consistent_hash (algorithm is round_robin)`},
		{name: "hash_cookie without consistent_hash", edit: edit{from: 34, text: "      hash_cookie: session"},
			want: `t.yaml:34: proxy.pools[0].hash_cookie: only with algorithm consistent_hash (algorithm is round_robin)`},
		{name: "hash_header not a token", edit: edit{from: 32, to: 33, text: "      algorithm: consistent_hash\n      hash_header: \"X User\""},
			want: `t.yaml:33: proxy.pools[0].hash_header: must be a header name, an RFC 9110 token (got "X User")`},
		{name: "sticky not a mapping", edit: edit{from: 35, text: "      sticky: true"},
			want: `t.yaml:35: proxy.pools[0].sticky: must be a mapping of keys (got true)`},
		{name: "sticky cookie bad", edit: edit{from: 35, text: `      sticky: {cookie: "a;b"}`},
			want: `t.yaml:35: proxy.pools[0].sticky.cookie: must be a cookie name, an RFC 9110 token (got "a;b")`},
		{name: "sticky ttl negative", edit: edit{from: 35, text: "      sticky: {ttl: -1s}"},
			want: `t.yaml:35: proxy.pools[0].sticky.ttl: must be at least 0 (got -1s)`},
		{name: "sticky unknown key", edit: edit{from: 35, text: "      sticky: {name: s}"},
			want: `t.yaml:35: proxy.pools[0].sticky.name: unknown key`},
		{name: "check with a port", edit: edit{from: 36, text: "      check: {kind: http, port: 8080}"},
			want: `t.yaml:36: proxy.pools[0].check.port: must not be set: each backend's address has its port`},
		{name: "check kind unknown", edit: edit{from: 36, text: "      check: {kind: icmp}"},
			want: `t.yaml:36: proxy.pools[0].check.kind: must be one of http, https, tcp (got "icmp")`},
		{name: "check http field on tcp", edit: edit{from: 36, text: "      check: {kind: tcp, path: /}"},
			want: `t.yaml:36: proxy.pools[0].check.path: only for http and https checks (kind is tcp)`},
		{name: "consecutive_failures negative", edit: edit{from: 37, text: "      consecutive_failures: -1"},
			want: `t.yaml:37: proxy.pools[0].consecutive_failures: must be at least 0 (got -1)`},
		{name: "eject_for zero", edit: edit{from: 38, text: "      eject_for: 0s"},
			want: `t.yaml:38: proxy.pools[0].eject_for: must be greater than 0 (got 0s)`},
		{name: "max_eject_for below eject_for", edit: edit{from: 39, text: "      max_eject_for: 5s"},
			want: `t.yaml:39: proxy.pools[0].max_eject_for: must be at least proxy.pools[0].eject_for (got 5s, eject_for 10s)`},
		{name: "slow_start negative", edit: edit{from: 40, text: "      slow_start: -1s"},
			want: `t.yaml:40: proxy.pools[0].slow_start: must be at least 0 (got -1s)`},
		{name: "connect_timeout zero", edit: edit{from: 41, text: "      connect_timeout: 0s"},
			want: `t.yaml:41: proxy.pools[0].connect_timeout: must be greater than 0 (got 0s)`},
		{name: "try_timeout no unit", edit: edit{from: 42, text: "      try_timeout: 15"},
			want: `t.yaml:42: proxy.pools[0].try_timeout: must be a duration such as "10s" or "1m30s" (got 15)`},
		{name: "timeout below try_timeout", edit: edit{from: 43, text: "      timeout: 10s"},
			want: `t.yaml:43: proxy.pools[0].timeout: must be at least proxy.pools[0].try_timeout (got 10s, try_timeout 15s)`},
		{name: "retries too many", edit: edit{from: 44, text: "      retries: 11"},
			want: `t.yaml:44: proxy.pools[0].retries: must be between -1 and 10 (got 11)`},
		{name: "retries below -1", edit: edit{from: 44, text: "      retries: -2"},
			want: `t.yaml:44: proxy.pools[0].retries: must be between -1 and 10 (got -2)`},
		{name: "max_idle_conns zero", edit: edit{from: 45, text: "      max_idle_conns: 0"},
			want: `t.yaml:45: proxy.pools[0].max_idle_conns: must be at least 1 (got 0)`},

		// Backends.
		{name: "backends absent", edit: edit{from: 46, to: 50, text: absent},
			want: `t.yaml:31: proxy.pools[0].backends: at least one backend required`},
		{name: "backends empty", edit: edit{from: 46, to: 50, text: "      backends: []"},
			want: `t.yaml:46: proxy.pools[0].backends: at least one backend required`},
		{name: "backend name absent", edit: edit{from: 47, text: "        - name: ~"},
			want: `t.yaml:47: proxy.pools[0].backends[0].name: required`},
		{name: "backend name duplicate", edit: edit{from: 50, text: proxyBase[49] + "\n        - {name: b1, address: 127.0.0.1:9002}"},
			want: `t.yaml:51: proxy.pools[0].backends[1].name: duplicate of proxy.pools[0].backends[0] ("b1")`},
		{name: "backend address a host name", edit: edit{from: 48, text: "          address: app-1.internal:9001"},
			want: `t.yaml:48: proxy.pools[0].backends[0].address: host must be an IP address (got "app-1.internal")`},
		{name: "backend address no port", edit: edit{from: 48, text: "          address: 127.0.0.1"},
			want: `t.yaml:48: proxy.pools[0].backends[0].address: must be host:port with an IP address host, such as 10.0.0.1:8080 or [2001:db8::1]:8080 (got "127.0.0.1")`},
		{name: "backend address absent", edit: edit{from: 48, text: absent},
			want: `t.yaml:47: proxy.pools[0].backends[0].address: required`},
		{name: "backend address duplicate", edit: edit{from: 50, text: proxyBase[49] + "\n        - {name: b2, address: 127.0.0.1:09001}"},
			want: `t.yaml:51: proxy.pools[0].backends[1].address: duplicate of proxy.pools[0].backends[0] ("127.0.0.1:09001")`},
		{name: "backend weight zero", edit: edit{from: 49, text: "          weight: 0"},
			want: `t.yaml:49: proxy.pools[0].backends[0].weight: must be at least 1 (got 0)`},
		{name: "backend not a mapping: its rules are quiet", edit: edit{from: 47, to: 50, text: "        - b1"},
			want: `t.yaml:47: proxy.pools[0].backends[0]: must be a mapping of keys (got "b1")`},
		{name: "backend weight not an integer", edit: edit{from: 49, text: "          weight: heavy"},
			want: `t.yaml:49: proxy.pools[0].backends[0].weight: must be an integer (got "heavy")`},
		{name: "backend max_conns negative", edit: edit{from: 50, text: "          max_conns: -1"},
			want: `t.yaml:50: proxy.pools[0].backends[0].max_conns: must be at least 0 (got -1)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.edit
			var data []byte
			parse := ParseProxy
			if tc.serve {
				data = editedLines(t, slices.Concat(strings.Split(serveHead, "\n"), proxyBase[1:]),
					edit{from: e.from + 2, to: max(e.to, e.from) + 2, text: e.text})
				parse = Parse
			} else {
				data = proxyEdited(t, e)
			}
			c, err := parse("testdata/t.yaml", data, nil)
			if tc.want == "" {
				if err != nil {
					t.Errorf("Parse: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Parse: no error, got %+v", c)
			}
			if got := strings.ReplaceAll(err.Error(), "testdata/t.yaml", "t.yaml"); got != tc.want {
				t.Errorf("Parse error:\n got  %s\n want %s\nfile:\n%s", got, tc.want, data)
			}
		})
	}
}

// TestProxyValid covers the forms and edges the rules must accept.
func TestProxyValid(t *testing.T) {
	clearEnv(t)
	pool := func(c *Config) proxy.Pool { return c.Proxy.Pools[0] }
	tests := []struct {
		name string
		edit edit
		got  func(c *Config) any
		want any
	}{
		{"report_to empty", edit{from: 5, text: "  report_to: []"}, func(c *Config) any { return c.Proxy.ReportTo }, []string(nil)},
		{"report_to names", edit{from: 5, text: "  report_to: aya-1.example.com:9053, 10.0.0.2:9053"},
			func(c *Config) any { return c.Proxy.ReportTo }, []string{"aya-1.example.com:9053", "10.0.0.2:9053"}},
		{"capacity 0 is the engine's", edit{from: 7, text: "  capacity: 0"}, func(c *Config) any { return c.Proxy.Capacity }, 0},
		{"sticky secret from a file", edit{from: 8, text: "  sticky_secret_file: proxy-sticky.secret"},
			func(c *Config) any { return []any{c.Proxy.StickySecretFile, len(c.Proxy.StickySecret)} },
			[]any{"testdata/proxy-sticky.secret", 53}},
		{"no secret without sticky pools", edit{from: 8, to: 35, text: strings.Join(slices.Concat(proxyBase[8:34]), "\n")},
			func(c *Config) any { return c.Proxy.StickySecret }, []byte(nil)},
		{"trusted_proxies bare addresses", edit{from: 11, text: `  trusted_proxies: [192.0.2.1, "2001:db8::1"]`},
			func(c *Config) any { return c.Proxy.TrustedProxies }, prefixes("192.0.2.1/32", "2001:db8::1/128")},
		{"rate sets the default burst", edit{from: 19, to: 20, text: "    rate: 2.5"},
			func(c *Config) any { return c.Proxy.RateLimit }, proxy.RateLimit{Rate: 2.5, Burst: 3}},
		{"rate an integer, burst given", edit{from: 19, to: 20, text: "    rate: 10\n    burst: 1"},
			func(c *Config) any { return c.Proxy.RateLimit }, proxy.RateLimit{Rate: 10, Burst: 1}},
		{"limits null are defaults", edit{from: 12, to: 17, text: "  limits: ~"},
			func(c *Config) any { return c.Proxy.Limits }, defaultProxy().Limits},
		{"listener localhost, port 0 repeats", edit{from: 22, to: 25, text: "    - address: localhost:0\n    - address: localhost:0"},
			func(c *Config) any { return len(c.Proxy.Listeners) }, 2},
		{"cert absolute", edit{from: 24, text: "        - {cert_file: /etc/a.pem, key_file: ../k.pem}"},
			func(c *Config) any { return c.Proxy.Listeners[0].Certs }, []proxy.Cert{{CertFile: "/etc/a.pem", KeyFile: "k.pem"}}},
		{"http2 with certs", edit{from: 25, text: "      http2: true"}, func(c *Config) any { return c.Proxy.Listeners[0].HTTP2 }, true},
		{"route host forms", edit{from: 27, to: 29, text: "    - {host: \"*.Example.COM\", pool: web}\n    - {host: 192.0.2.1, pool: web}\n" +
			"    - {host: \"2001:db8::1\", pool: web}\n    - {path_prefix: /api, pool: web}\n    - {pool: web}"},
			func(c *Config) any { return c.Proxy.Routes },
			[]proxy.Route{{Host: "*.example.com", Pool: "web"}, {Host: "192.0.2.1", Pool: "web"}, {Host: "2001:db8::1", Pool: "web"},
				{PathPrefix: "/api", Pool: "web"}, {Pool: "web"}}},
		{"algorithm case folded", edit{from: 32, text: "      algorithm: LEAST_TIME"}, func(c *Config) any { return pool(c).Algorithm }, "least_time"},
		{"consistent_hash on a cookie", edit{from: 32, to: 34, text: "      algorithm: consistent_hash\n      hash_cookie: session"},
			func(c *Config) any { return []string{pool(c).HashHeader, pool(c).HashCookie} }, []string{"", "session"}},
		{"sticky defaults", edit{from: 35, text: "      sticky: {}"}, func(c *Config) any { return pool(c).Sticky },
			&proxy.Sticky{Cookie: "aya_sticky"}},
		{"sticky null is none", edit{from: 35, text: "      sticky: ~"}, func(c *Config) any { return pool(c).Sticky }, (*proxy.Sticky)(nil)},
		{"check tcp", edit{from: 36, text: "      check: {kind: tcp, interval: 1s, timeout: 500ms}"}, func(c *Config) any { return c.Proxy.Checks[0] },
			&probes.CheckConfig{Kind: "tcp", Interval: time.Second, Jitter: 0.1, Timeout: 500 * time.Millisecond, Rise: 2, Fall: 2}},
		{"no check", edit{from: 36, text: absent}, func(c *Config) any { return c.Proxy.Checks[0] }, (*probes.CheckConfig)(nil)},
		{"max_eject_for equal to eject_for", edit{from: 39, text: "      max_eject_for: 10s"},
			func(c *Config) any { return pool(c).MaxEjectFor }, 10 * time.Second},
		{"timeout equal to try_timeout", edit{from: 43, text: "      timeout: 15s"}, func(c *Config) any { return pool(c).Timeout }, 15 * time.Second},
		{"null is the default", edit{from: 38, text: "      eject_for: ~"}, func(c *Config) any { return pool(c).EjectFor }, 10 * time.Second},
		{"quoted integer", edit{from: 49, text: `          weight: "3"`}, func(c *Config) any { return pool(c).Backends[0].Weight }, 3},
		{"retries -1", edit{from: 44, text: "      retries: -1"}, func(c *Config) any { return pool(c).Retries }, -1},
		{"retries 0 is none", edit{from: 44, text: "      retries: 0"}, func(c *Config) any { return pool(c).Retries }, -1},
		{"backend IPv6", edit{from: 48, text: `          address: "[2001:db8::5]:443"`},
			func(c *Config) any { return pool(c).Backends[0].Addr }, "[2001:db8::5]:443"},
		{"backend same address in two pools", edit{from: 50, text: proxyBase[49] +
			"\n    - {name: api, backends: [{name: b1, address: 127.0.0.1:9001, max_conns: 10}]}"},
			func(c *Config) any { return c.Proxy.Pools[1].Backends[0].MaxConns }, 10},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			data := proxyEdited(t, tc.edit)
			c, err := ParseProxy("testdata/t.yaml", data, nil)
			if err != nil {
				t.Fatalf("ParseProxy: %v\nfile:\n%s", err, data)
			}
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got %#v, want %#v", got, tc.want)
			}
		})
	}
}

// TestNoProxy: without a proxy section Proxy is nil, whatever the
// variables say; they are not even checked.
func TestNoProxy(t *testing.T) {
	clearEnv(t)
	t.Setenv("AYA_PROXY_REGION", "eu-west")
	t.Setenv("AYA_PROXY_CAPACITY", "lots")
	for _, data := range []string{
		"node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n",
		"node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\nproxy: ~\n",
		"node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\nproxy:\n",
	} {
		c, err := Parse("t.yaml", []byte(data), nil)
		if err != nil {
			t.Fatalf("Parse(%q): %v", data, err)
		}
		if c.Proxy != nil {
			t.Errorf("Parse(%q): Proxy %+v", data, c.Proxy)
		}
	}
	c, err := Load("", nil)
	if err != nil || c.Proxy != nil {
		t.Errorf("Load(\"\"): %v, Proxy %+v", err, c.Proxy)
	}
	// An empty section is a section: its requirements apply.
	want := "t.yaml: proxy.capacity: must be an integer (got \"lots\")\n" + // AYA_PROXY_CAPACITY
		"t.yaml: proxy.listeners: at least one listener required\n" +
		"t.yaml: proxy.routes: at least one route required\n" +
		"t.yaml: proxy.pools: at least one pool required"
	_, err = Parse("t.yaml", []byte("node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\nproxy: {}\n"), nil)
	want = strings.Replace(want, "t.yaml: proxy.capacity", "AYA_PROXY_CAPACITY: proxy.capacity", 1)
	if err == nil || err.Error() != want {
		t.Errorf("Parse error:\n got  %v\n want %s", err, want)
	}
}

// TestProxyEnv sets each proxy variable over proxyBase.
func TestProxyEnv(t *testing.T) {
	tests := []struct {
		env, val string
		got      func(c *Config) any
		want     any
	}{
		{"AYA_PROXY_REGION", "us-east", func(c *Config) any { return c.Proxy.Region }, "us-east"},
		{"AYA_PROXY_REPORT_TO", "10.0.0.1:9053, 10.0.0.2:9053", func(c *Config) any { return c.Proxy.ReportTo },
			[]string{"10.0.0.1:9053", "10.0.0.2:9053"}},
		{"AYA_PROXY_REPORT_INTERVAL", "1500ms", func(c *Config) any { return c.Proxy.ReportInterval }, 1500 * time.Millisecond},
		{"AYA_PROXY_STICKY_SECRET_FILE", "testdata/proxy-sticky.secret",
			func(c *Config) any { return c.Proxy.StickySecretFile }, "testdata/proxy-sticky.secret"},
		{"AYA_PROXY_ACCESS_LOG", "true", func(c *Config) any { return c.Proxy.AccessLog }, true},
		{"AYA_PROXY_TRUSTED_PROXIES", "192.0.2.0/24,2001:db8::1",
			func(c *Config) any { return c.Proxy.TrustedProxies }, prefixes("192.0.2.0/24", "2001:db8::1/128")},
		{"AYA_PROXY_LIMITS_MAX_HEADER_BYTES", "4096", func(c *Config) any { return c.Proxy.Limits.MaxHeaderBytes }, 4096},
		{"AYA_PROXY_LIMITS_MAX_BODY_BYTES", "8589934592", func(c *Config) any { return c.Proxy.Limits.MaxBodyBytes }, int64(8 << 30)},
		{"AYA_PROXY_LIMITS_READ_HEADER_TIMEOUT", "3s", func(c *Config) any { return c.Proxy.Limits.ReadHeaderTimeout }, 3 * time.Second},
		{"AYA_PROXY_LIMITS_IDLE_TIMEOUT", "90s", func(c *Config) any { return c.Proxy.Limits.IdleTimeout }, 90 * time.Second},
		{"AYA_PROXY_LIMITS_MAX_CONNS", "12", func(c *Config) any { return c.Proxy.Limits.MaxConns }, 12},
		{"AYA_PROXY_LIMITS_MAX_CONNS_PER_CLIENT", "6", func(c *Config) any { return c.Proxy.Limits.MaxConnsPerClient }, 6},
		{"AYA_PROXY_LIMITS_MAX_HEADERS", "50", func(c *Config) any { return c.Proxy.Limits.MaxHeaders }, 50},
		{"AYA_PROXY_LIMITS_BODY_TIMEOUT", "2m", func(c *Config) any { return c.Proxy.Limits.BodyTimeout }, 2 * time.Minute},
		{"AYA_PROXY_LIMITS_MIN_UPLOAD_RATE", "-1", func(c *Config) any { return c.Proxy.Limits.MinUploadRate }, int64(proxy.NoMinUploadRate)},
		{"AYA_PROXY_LIMITS_MIN_UPLOAD_RATE_GRACE", "3s", func(c *Config) any { return c.Proxy.Limits.MinUploadRateGrace }, 3 * time.Second},
		{"AYA_PROXY_LIMITS_BUFFER_BODY_BYTES", "1024", func(c *Config) any { return c.Proxy.Limits.BufferBodyBytes }, 1024},
		{"AYA_PROXY_RATE_LIMIT_RATE", "0.5", func(c *Config) any { return c.Proxy.RateLimit }, proxy.RateLimit{Rate: 0.5, Burst: 1}},
		{"AYA_PROXY_RATE_LIMIT_BURST", "9", func(c *Config) any { return c.Proxy.RateLimit.Burst }, 9},
		{"AYA_PROXY_STICKY_SECRET", strings.Repeat("s", 40), func(c *Config) any { return c.Proxy.StickySecret }, []byte(strings.Repeat("s", 40))},
		{"AYA_PROXY_DRAIN_TIMEOUT", "1m", func(c *Config) any { return c.Proxy.DrainTimeout }, time.Minute},
		{"AYA_PROXY_CAPACITY", "7", func(c *Config) any { return c.Proxy.Capacity }, 7},
	}
	var covered, all []string
	for _, tc := range tests {
		covered = append(covered, tc.env)
	}
	for _, name := range envNames() {
		if strings.HasPrefix(name, "AYA_PROXY_") {
			all = append(all, name)
		}
	}
	if !slices.Equal(covered, all) {
		t.Fatalf("TestProxyEnv covers %v, want every proxy key: %v", covered, all)
	}
	for _, tc := range tests {
		t.Run(tc.env, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.env, tc.val)
			data := proxyEdited(t, edit{from: 1, text: proxyBase[0]})
			if tc.env == "AYA_PROXY_STICKY_SECRET_FILE" {
				data = proxyEdited(t, edit{from: 8, text: absent})
			}
			c, err := ParseProxy("conf/t.yaml", data, nil)
			if err != nil {
				t.Fatalf("ParseProxy: %v", err)
			}
			if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("%s=%q: got %#v, want %#v", tc.env, tc.val, got, tc.want)
			}
		})
	}
}

func TestProxyEnvErrors(t *testing.T) {
	tests := []struct{ env, val, want string }{
		{"AYA_PROXY_REGION", "EU", `AYA_PROXY_REGION: proxy.region: must be lower-case letters, digits and "-" (got "EU"; did you mean "eu"?)`},
		{"AYA_PROXY_REPORT_TO", "x", `AYA_PROXY_REPORT_TO: proxy.report_to[0]: must be host:port, such as 10.0.0.2:9053 or [2001:db8::2]:9053 (got "x")`},
		{"AYA_PROXY_STICKY_SECRET", "short", `AYA_PROXY_STICKY_SECRET: proxy.sticky_secret: must be at least 32 bytes (got 5)`},
		{"AYA_PROXY_RATE_LIMIT_RATE", "NaN", `AYA_PROXY_RATE_LIMIT_RATE: proxy.rate_limit.rate: must be a number (got "NaN")`},
		{"AYA_PROXY_LIMITS_MAX_BODY_BYTES", "0", `AYA_PROXY_LIMITS_MAX_BODY_BYTES: proxy.limits.max_body_bytes: must be at least 1 (got 0)`},
		{"AYA_PROXY_LIMITS_MIN_UPLOAD_RATE", "0", `AYA_PROXY_LIMITS_MIN_UPLOAD_RATE: proxy.limits.min_upload_rate: must be at least 1, or -1 for no minimum (got 0)`},
		{"AYA_PROXY_LIMITS_MAX_HEADERS", "0", `AYA_PROXY_LIMITS_MAX_HEADERS: proxy.limits.max_headers: must be at least 1 (got 0)`},
		{"AYA_PROXY_ACCESS_LOG", "on", `AYA_PROXY_ACCESS_LOG: proxy.access_log: must be true or false (got "on")`},
		{"AYA_PROXY_STICKY_SECRET_FILE", "nope.secret",
			`AYA_PROXY_STICKY_SECRET_FILE: proxy.sticky_secret_file: must not be set together with proxy.sticky_secret: set one of them`},
		// A variable named after a file-only list is not read.
		{"AYA_PROXY_POOLS", "web", ""},
	}
	for _, tc := range tests {
		t.Run(tc.env+"="+tc.val, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.env, tc.val)
			_, err := ParseProxy("t.yaml", proxyEdited(t, edit{from: 1, text: proxyBase[0]}), nil)
			if tc.want == "" {
				if err != nil {
					t.Errorf("ParseProxy: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("ParseProxy error:\n got  %v\n want %s", err, tc.want)
			}
		})
	}
}

// TestProxyModeSkipsServe: LoadProxy does not require dns or check the
// cluster section's defaults, but still checks what is given, cluster.tls
// included.
func TestProxyModeSkipsServe(t *testing.T) {
	clearEnv(t)
	// admin.listen on the default cluster.bind: an error for aya serve only.
	data := proxyEdited(t, edit{from: 2, text: "admin: {listen: 127.0.0.1:7300}"})
	if _, err := ParseProxy("t.yaml", data, nil); err != nil {
		t.Errorf("ParseProxy: %v", err)
	}
	serve := "node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\nadmin: {listen: 127.0.0.1:7300}\n"
	want := `t.yaml: cluster.bind: overlaps admin.listen ("127.0.0.1:7300"): both use TCP`
	if _, err := Parse("t.yaml", []byte(serve), nil); err == nil || err.Error() != want {
		t.Errorf("Parse error:\n got  %v\n want %s", err, want)
	}
	for _, tc := range []struct{ add, want string }{
		{"dns: {listen: [127.0.0.1:99999]}", `t.yaml:51: dns.listen[0]: port must be a number 0-65535 (got "99999")`},
		{"cluster: {tls: {ca_file: ca.pem}}",
			"t.yaml: cluster.tls.cert_file: required when cluster.tls.ca_file is set: mutual TLS needs all three files\n" +
				"t.yaml: cluster.tls.key_file: required when cluster.tls.ca_file is set: mutual TLS needs all three files"},
		{"cluster: {fresh_for: 0s, join: [nope]}", ""},
	} {
		data := proxyEdited(t, edit{from: 50, text: proxyBase[49] + "\n" + tc.add})
		_, err := ParseProxy("t.yaml", data, nil)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: ParseProxy: %v", tc.add, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: ParseProxy error:\n got  %v\n want %s", tc.add, err, tc.want)
		}
	}
}

// TestLoadProxyDefault: the embedded default has no proxy section.
func TestLoadProxyDefault(t *testing.T) {
	clearEnv(t)
	want := "aya.yaml: proxy: required: aya proxy needs a proxy section"
	if _, err := LoadProxy("", nil); err == nil || err.Error() != want {
		t.Errorf("LoadProxy(\"\") error:\n got  %v\n want %s", err, want)
	}
	if _, err := LoadProxy(filepath.Join("testdata", "no-such.yaml"), nil); !os.IsNotExist(err) {
		t.Errorf("LoadProxy of a missing file: %v", err)
	}
}

// checkProxy asserts what Parse and ParseProxy guarantee of a proxy
// section: the engine's rules hold (proxy.Config.Validate), and the role's
// and config's own.
func checkProxy(t *testing.T, c *Config) {
	t.Helper()
	pc := c.Proxy
	if pc == nil {
		return
	}
	if err := pc.Validate(); err != nil {
		t.Fatalf("proxy section breaks the engine's rules: %v", err)
	}
	switch {
	case pc.Region == "" || !names.IsName(pc.Region):
		t.Fatalf("proxy.region %q", pc.Region)
	case pc.ReportInterval <= 0:
		t.Fatalf("proxy.report_interval %s", pc.ReportInterval)
	case pc.RateLimit.Rate > 0 && pc.RateLimit.Burst == 0:
		t.Fatalf("proxy.rate_limit %+v: no default burst", pc.RateLimit)
	case len(pc.Checks) != len(pc.Pools):
		t.Fatalf("%d checks for %d pools", len(pc.Checks), len(pc.Pools))
	}
	for _, l := range pc.Listeners {
		if _, msg := parseHostPort(l.Addr); msg != "" {
			t.Fatalf("proxy listener %+v", l)
		}
	}
	for i, cc := range pc.Checks {
		if cc == nil {
			continue
		}
		if cc.Port != nil {
			t.Fatalf("proxy pool %s: check port %d", pc.Pools[i].Name, *cc.Port)
		}
		checkPoolCheck(t, PoolConfig{Name: pc.Pools[i].Name, Check: cc})
	}
}

// TestSecretFileFIFO: a secret file that is a FIFO is refused at once,
// not waited on (aya would hang at start, or at a reload).
func TestSecretFileFIFO(t *testing.T) {
	clearEnv(t)
	fifo := filepath.Join(t.TempDir(), "secret")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skip(err)
	}
	for _, key := range []string{"cluster:\n  secret_file: ", "proxy:\n  region: r\n  sticky_secret_file: "} {
		data := "node: {id: n}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n" + key + fifo + "\n"
		done := make(chan error, 1)
		go func() { _, err := Parse("t.yaml", []byte(data), nil); done <- err }()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "must be a regular file") {
				t.Errorf("%q: %v", key, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%q: Parse waits on a FIFO", key)
		}
	}
}
