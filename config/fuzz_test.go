package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aya-gslb/aya/internal/names"

	"github.com/aya-gslb/aya"
)

// FuzzParse feeds arbitrary bytes to Parse. It must never panic; a
// Config it returns must satisfy the rules; an error must be a join of
// one-line *Error values whose lines lie inside the input.
func FuzzParse(f *testing.F) {
	clearEnv(f)
	f.Add(aya.DefaultConfig)
	seeds, err := filepath.Glob("testdata/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range seeds {
		data, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("node: {id: &x n}\ndns: {listen: *x, zones_dir: *x, tcp: {<<: {idle_timeout: 1s}}}\n"))
	// Pools with every kind of setting, in flow style so that mutations
	// stay valid YAML more often.
	f.Add([]byte("node: {id: n}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n" +
		"geo: {database: g.yaml, overrides: o.yaml}\necs: {max_prefix_v4: 20, trusted_resolvers: [10.0.0.0/8]}\n" +
		"regions: [{name: a, latitude: 1, longitude: 2, country: us, continent: na}, " +
		"{name: b, latitude: -1.5, longitude: 179, country: IE, continent: EU}]\n" +
		"pools: [{name: p, ttl: 60, answers: 2, fallback: fallback_addresses, fallback_addresses: [192.0.2.9], " +
		"country_map: {GB: b}, continent_map: {oc: a}, fences: [{name: f, countries: [ch], continents: [EU], regions: [b]}], " +
		"members: [{region: a, bias_km: -10, endpoints: [{name: e, addresses: [192.0.2.1, \"2001:db8::1\"], weight: 3}]}, " +
		"{region: b, endpoints: &e [{name: e, addresses: \"198.51.100.1, 2001:db8::2\"}]}]}, " +
		"{name: q, members: [{region: b, endpoints: *e}]}]\n"))
	// Health checks of each kind, min_endpoints and check_target, and the
	// cluster section.
	f.Add([]byte("node: {id: n}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\nadmin: {listen: 127.0.0.1:9053, token: t}\n" +
		"cluster: {bind: 127.0.0.1:7300, advertise: 192.0.2.1:7300, data_dir: d, bootstrap: true, voter: false, " +
		"join: [10.0.0.2:9053, aya.example.com:9053], fresh_for: 30s, report_interval: 10s, heartbeat_timeout: 1s, " +
		"election_timeout: 2s, leader_lease_timeout: 500ms, snapshot_threshold: 10, snapshot_interval: 1m, " +
		"tls: {cert_file: c.pem, key_file: k.pem, ca_file: ca.pem}}\n" +
		"regions: [{name: a, latitude: 1, longitude: 2, country: us, continent: na}]\n" +
		"pools: [{name: p, check: {kind: https, port: 8443, method: HEAD, path: /h, host: h.example, " +
		"expect_status: [200, 299], body_match: \"^ok$\", tls_server_name: h.example, tls_insecure_skip_verify: true, " +
		"tls_ca_file: ca.pem, interval: 5s, jitter: 0.5, timeout: 1s, rise: 1, fall: 3}, " +
		"members: [{region: a, min_endpoints: 2, endpoints: [{name: e, addresses: [\"2001:db8::1\", 192.0.2.1]}, " +
		"{name: f, addresses: [192.0.2.2], check_target: 10.0.0.2:9443}]}]}, " +
		"{name: q, check: {kind: tcp, port: 5432}, members: [{region: a, endpoints: [{name: e, addresses: [192.0.2.3]}]}]}, " +
		"{name: r, check: {kind: http}, members: [{region: a, endpoints: [{name: e, addresses: [192.0.2.4], check_target: \"[::1]:80\"}]}]}]\n"))

	// The proxy section, in flow style, under aya serve; without the dns
	// section it is a proxy-only file (ParseProxy below).
	f.Add([]byte("node: {id: n}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\nadmin: {listen: 127.0.0.1:9053}\n" +
		"proxy: {region: eu-west, report_to: [127.0.0.1:9053], report_interval: 2s, capacity: 10, " +
		"sticky_secret: 0123456789abcdef0123456789abcdef, drain_timeout: 5s, access_log: true, trusted_proxies: [10.0.0.0/8], " +
		"limits: {max_header_bytes: 1024, max_body_bytes: 2048, read_header_timeout: 1s, idle_timeout: 2s, max_conns: 3}, " +
		"rate_limit: {rate: 1.5, burst: 0}, " +
		"listeners: [{address: 127.0.0.1:8080}, {address: \"[::1]:8443\", certs: [{cert_file: c.pem, key_file: k.pem}], http2: true}], " +
		"routes: [{host: \"*.example.com\", path_prefix: /api, pool: web}, {pool: api}], " +
		"pools: [{name: web, algorithm: least_time, sticky: {cookie: s, ttl: 1h}, check: {kind: https, path: /h, tls_insecure_skip_verify: true}, " +
		"consecutive_failures: 3, eject_for: 1s, max_eject_for: 1m, slow_start: 10s, connect_timeout: 1s, try_timeout: 2s, timeout: 3s, " +
		"retries: -1, max_idle_conns: 2, backends: [{name: a, address: 10.0.0.1:80, weight: 2, max_conns: 5}, " +
		"{name: b, address: \"[2001:db8::1]:80\"}]}, " +
		"{name: api, algorithm: consistent_hash, hash_cookie: u, backends: [{name: a, address: 10.0.0.2:80}]}]}\n"))
	f.Add([]byte("node: {id: n}\nproxy: {region: r, listeners: [{address: 127.0.0.1:0}], routes: [{pool: p}], " +
		"pools: [{name: p, algorithm: consistent_hash, hash_header: X-U, backends: [{name: b, address: 127.0.0.1:1}]}]}\n"))

	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse("fuzz.yaml", data, nil)
		checkParsed(t, data, c, err, checkConfig)
		c, err = ParseProxy("fuzz.yaml", data, nil)
		checkParsed(t, data, c, err, func(t *testing.T, c *Config) {
			t.Helper()
			if c.Proxy == nil || strings.TrimSpace(c.Node.ID) == "" {
				t.Fatalf("ParseProxy: proxy %v, node.id %q", c.Proxy, c.Node.ID)
			}
			checkProxy(t, c)
		})
	})
}

// checkParsed asserts what FuzzParse expects of a result of Parse or
// ParseProxy: a Config that check accepts, or an error that is a join of
// one-line *Error values whose lines lie inside data.
func checkParsed(t *testing.T, data []byte, c *Config, err error, check func(*testing.T, *Config)) {
	t.Helper()
	if err == nil {
		check(t, c)
		return
	}
	if c != nil {
		t.Fatalf("Parse returned a Config and an error: %v", err)
	}
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) {
		t.Fatalf("error is not joined: %T %v", err, err)
	}
	lines := countLines(data) + 1 // Node lines may point just past the end
	for _, e := range joined.Unwrap() {
		ce, ok := errors.AsType[*Error](e)
		if !ok {
			t.Fatalf("%T in the joined errors: %v", e, e)
		}
		if strings.Contains(ce.Error(), "\n") {
			t.Fatalf("error spans lines: %q", ce.Error())
		}
		if ce.Line < 0 || ce.Line > lines {
			t.Fatalf("line %d outside the input's %d lines: %v", ce.Line, lines, ce)
		}
		if ce.File != "fuzz.yaml" || ce.Msg == "" {
			t.Fatalf("incomplete error %+v", ce)
		}
	}
}

// checkConfig asserts what every Config from Parse guarantees.
func checkConfig(t *testing.T, c *Config) {
	t.Helper()
	switch {
	case strings.TrimSpace(c.Node.ID) == "" || len(c.Node.ID) > maxNSID:
		t.Fatalf("bad node.id %q", c.Node.ID)
	case len(c.DNS.Listen) == 0:
		t.Fatal("no dns.listen")
	case c.DNS.ZonesDir == "":
		t.Fatal("no dns.zones_dir")
	case c.DNS.MaxUDPSize < 512 || c.DNS.MaxUDPSize > 65535:
		t.Fatalf("dns.max_udp_size %d", c.DNS.MaxUDPSize)
	case c.DNS.UDPSockets < 0 || c.DNS.UDPSockets > 256:
		t.Fatalf("dns.udp_sockets %d", c.DNS.UDPSockets)
	case c.DNS.TCP.IdleTimeout <= 0 || c.DNS.TCP.MaxConnections < 1 || c.DNS.TCP.MaxQueries < 1 || c.DNS.TCP.MaxLifetime <= 0 ||
		c.DNS.TCP.MinIdleTimeout <= 0 || c.DNS.TCP.MaxConnectionsPerClient < 1:
		t.Fatalf("dns.tcp %+v", c.DNS.TCP)
	case len(c.DNS.Transfer.AllowPrefixes) != len(c.DNS.Transfer.Allow):
		t.Fatalf("dns.transfer %+v", c.DNS.Transfer)
	case c.SlogLevel().String() != strings.ToUpper(c.Log.Level):
		t.Fatalf("log.level %q", c.Log.Level)
	case c.Log.Format != "text" && c.Log.Format != "json":
		t.Fatalf("log.format %q", c.Log.Format)
	}
	checkCluster(t, c)
	for _, s := range c.DNS.Listen {
		if _, msg := parseHostPort(s); msg != "" {
			t.Fatalf("dns.listen %q: %s", s, msg)
		}
	}
	for _, p := range c.DNS.Transfer.AllowPrefixes {
		if !p.IsValid() {
			t.Fatalf("invalid prefix in %+v", c.DNS.Transfer)
		}
	}
	checkSteering(t, c)
	checkProxy(t, c)
}

// checkCluster asserts what Parse guarantees of admin.token and the
// cluster section.
func checkCluster(t *testing.T, c *Config) {
	t.Helper()
	cc := c.Cluster
	if strings.ContainsFunc(c.Admin.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		t.Fatalf("admin.token %q", c.Admin.Token)
	}
	if _, msg := parseHostPort(cc.Bind); msg != "" {
		t.Fatalf("cluster.bind %q: %s", cc.Bind, msg)
	}
	if cc.Advertise != "" {
		if hp, msg := parseHostPort(cc.Advertise); msg != "" || hp.unspecified || hp.port == 0 {
			t.Fatalf("cluster.advertise %q", cc.Advertise)
		}
	}
	for _, j := range cc.Join {
		if _, msg := parseDialAddr(j); msg != "" {
			t.Fatalf("cluster.join %q: %s", j, msg)
		}
	}
	tls := []string{cc.TLS.CertFile, cc.TLS.KeyFile, cc.TLS.CAFile}
	switch {
	case strings.TrimSpace(cc.DataDir) == "":
		t.Fatal("no cluster.data_dir")
	case cc.FreshFor <= 0 || cc.ReportInterval <= 0 || cc.ReportInterval >= cc.FreshFor:
		t.Fatalf("cluster fresh_for %v, report_interval %v", cc.FreshFor, cc.ReportInterval)
	case cc.HeartbeatTimeout < minRaftTimeout || cc.ElectionTimeout < cc.HeartbeatTimeout ||
		cc.LeaderLeaseTimeout < minRaftTimeout || cc.LeaderLeaseTimeout > cc.HeartbeatTimeout ||
		cc.SnapshotInterval < minRaftTimeout || cc.SnapshotThreshold < 1:
		t.Fatalf("cluster raft settings %+v", cc)
	case slices.Contains(tls, "") && slices.ContainsFunc(tls, func(s string) bool { return s != "" }):
		t.Fatalf("cluster.tls %+v", cc.TLS)
	}
}

// checkPoolCheck asserts what Parse guarantees of a pool's check.
func checkPoolCheck(t *testing.T, p PoolConfig) {
	t.Helper()
	ck := p.Check
	if ck == nil {
		return
	}
	http := ck.Kind == "http" || ck.Kind == "https"
	switch {
	case !http && ck.Kind != "tcp":
		t.Fatalf("pool %s: check kind %q", p.Name, ck.Kind)
	case ck.Port != nil && (*ck.Port < 1 || *ck.Port > 65535):
		t.Fatalf("pool %s: check port %d", p.Name, *ck.Port)
	case ck.Interval <= 0 || ck.Timeout <= 0 || ck.Timeout >= ck.Interval || !(ck.Jitter > 0 && ck.Jitter <= 1) ||
		ck.Rise < 1 || ck.Fall < 1:
		t.Fatalf("pool %s: check timing %+v", p.Name, ck)
	case http && (!names.IsToken(ck.Method) || !strings.HasPrefix(ck.Path, "/") ||
		ck.ExpectStatus[0] < 100 || ck.ExpectStatus[0] > ck.ExpectStatus[1] || ck.ExpectStatus[1] > 599):
		t.Fatalf("pool %s: http check %+v", p.Name, ck)
	case !http && (ck.Method != "" || ck.Path != "" || ck.Host != "" || ck.ExpectStatus != [2]int{} || ck.BodyMatch != ""):
		t.Fatalf("pool %s: tcp check with http settings %+v", p.Name, ck)
	case ck.Kind != "https" && (ck.TLSServerName != "" || ck.TLSInsecureSkipVerify || ck.TLSCAFile != ""):
		t.Fatalf("pool %s: %s check with tls settings %+v", p.Name, ck.Kind, ck)
	case ck.Validate() != nil:
		t.Fatalf("pool %s: check %+v: %v", p.Name, ck, ck.Validate())
	}
}

// checkSteering asserts what Parse guarantees of geo, ecs, regions and
// pools.
func checkSteering(t *testing.T, c *Config) {
	t.Helper()
	if c.ECS.MaxPrefixV4 < 0 || c.ECS.MaxPrefixV4 > 32 || c.ECS.MaxPrefixV6 < 0 || c.ECS.MaxPrefixV6 > 128 ||
		len(c.ECS.TrustedPrefixes) != len(c.ECS.TrustedResolvers) {
		t.Fatalf("ecs %+v", c.ECS)
	}
	code := func(s string, f func(string) (string, string)) bool { u, msg := f(s); return msg == "" && u == s }
	regions := make(map[string]bool)
	for _, r := range c.Regions {
		if regions[r.Name] || !names.IsName(r.Name) || r.Name == "" ||
			!(r.Latitude >= -90 && r.Latitude <= 90) || !(r.Longitude >= -180 && r.Longitude <= 180) ||
			!code(r.Country, countryCode) || !code(r.Continent, continentCode) {
			t.Fatalf("bad or duplicate region %+v", r)
		}
		regions[r.Name] = true
	}
	pools := make(map[string]bool)
	for _, p := range c.Pools {
		if pools[p.Name] || !names.IsName(p.Name) || p.Name == "" || p.TTL > maxTTL || p.Answers < 1 ||
			len(p.FallbackAddrs) != len(p.FallbackAddresses) || len(p.Members) == 0 {
			t.Fatalf("bad or duplicate pool %+v", p)
		}
		pools[p.Name] = true
		checkPoolCheck(t, p)
		if _, ok := c.Pool(p.Name); !ok {
			t.Fatalf("Pool(%q) not found", p.Name)
		}
		switch p.Fallback {
		case "fail_open", "servfail":
		case "fallback_addresses":
			if len(p.FallbackAddrs) == 0 {
				t.Fatalf("pool %s: fallback_addresses without addresses", p.Name)
			}
		default:
			t.Fatalf("pool %s: fallback %q", p.Name, p.Fallback)
		}
		members := make(map[string]bool)
		for _, m := range p.Members {
			if members[m.Region] || !regions[m.Region] || !(m.BiasKm >= -maxBiasKm && m.BiasKm <= maxBiasKm) ||
				len(m.Endpoints) == 0 || m.MinEndpoints < 1 || m.MinEndpoints > len(m.Endpoints) {
				t.Fatalf("pool %s: bad member %+v", p.Name, m)
			}
			members[m.Region] = true
			for _, e := range m.Endpoints {
				if !names.IsName(e.Name) || e.Name == "" || e.Weight < 1 || len(e.Addrs) == 0 || len(e.Addrs) != len(e.Addresses) {
					t.Fatalf("pool %s: bad endpoint %+v", p.Name, e)
				}
				// A check probes every endpoint somewhere; no check, nowhere.
				if (p.Check != nil) != e.CheckAddr.IsValid() || (p.Check == nil && e.CheckTarget != "") ||
					(e.CheckAddr.IsValid() && e.CheckAddr.Port() == 0) {
					t.Fatalf("pool %s: endpoint %s: check_target %q, CheckAddr %v", p.Name, e.Name, e.CheckTarget, e.CheckAddr)
				}
				for _, a := range e.Addrs {
					if _, msg := names.ParseAddr(a.String()); msg != "" {
						t.Fatalf("pool %s: endpoint %s: %s", p.Name, e.Name, msg)
					}
				}
			}
		}
		for cc, r := range p.CountryMap {
			if !code(cc, countryCode) || !members[r] {
				t.Fatalf("pool %s: country_map %s: %s", p.Name, cc, r)
			}
		}
		for ct, r := range p.ContinentMap {
			if !code(ct, continentCode) || !members[r] {
				t.Fatalf("pool %s: continent_map %s: %s", p.Name, ct, r)
			}
		}
		for _, f := range p.Fences {
			if f.Name == "" || len(f.Countries)+len(f.Continents) == 0 || len(f.Regions) == 0 {
				t.Fatalf("pool %s: bad fence %+v", p.Name, f)
			}
			for _, cc := range f.Countries {
				if !code(cc, countryCode) {
					t.Fatalf("pool %s: fence %s: country %q", p.Name, f.Name, cc)
				}
			}
			for _, ct := range f.Continents {
				if !code(ct, continentCode) {
					t.Fatalf("pool %s: fence %s: continent %q", p.Name, f.Name, ct)
				}
			}
			for _, r := range f.Regions {
				if !members[r] {
					t.Fatalf("pool %s: fence %s: region %q is not a member", p.Name, f.Name, r)
				}
			}
		}
	}
}
