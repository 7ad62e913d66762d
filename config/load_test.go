package config

import (
	"errors"
	"flag"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aya-gslb/aya/dnssec"

	"github.com/spf13/pflag"

	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/internal/mtls"
	"github.com/aya-gslb/aya/probes"
)

var update = flag.Bool("update", false, "update golden files")

// clearEnv blanks every AYA_* variable Load reads, so the tests do not see
// the caller's environment; an empty variable counts as unset.
func clearEnv(tb testing.TB) {
	tb.Helper()
	for _, name := range envNames() {
		tb.Setenv(name, "")
	}
}

// envNames lists the variables of the key table, in its order.
func envNames() []string {
	var names []string
	for _, k := range keys() {
		if !k.fileOnly {
			names = append(names, envName(k.name))
		}
	}
	return names
}

// addrs parses IP addresses, for expected values.
func addrs(ss ...string) []netip.Addr {
	var out []netip.Addr
	for _, s := range ss {
		out = append(out, netip.MustParseAddr(s))
	}
	return out
}

// prefixes parses CIDR prefixes, for expected values.
func prefixes(ss ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range ss {
		out = append(out, netip.MustParsePrefix(s))
	}
	return out
}

// defaultCluster is the cluster section with every default.
func defaultCluster() ClusterConfig {
	return ClusterConfig{
		Bind:               "127.0.0.1:7300",
		DataDir:            "data",
		Voter:              true,
		FreshFor:           30 * time.Second,
		ReportInterval:     10 * time.Second,
		HeartbeatTimeout:   time.Second,
		ElectionTimeout:    time.Second,
		LeaderLeaseTimeout: 500 * time.Millisecond,
		SnapshotThreshold:  8192,
		SnapshotInterval:   2 * time.Minute,
		Shed:               ShedConfig{HighWater: 0.8, LowWater: 0.6, MaxFraction: 0.5, Step: 0.1},
	}
}

// flags returns a FlagSet with AddFlags registered and args parsed.
func flags(t *testing.T, args ...string) *pflag.FlagSet {
	t.Helper()
	fs := pflag.NewFlagSet("aya", pflag.ContinueOnError)
	AddFlags(fs)
	if err := fs.Parse(args); err != nil {
		t.Fatalf("parse flags %q: %v", args, err)
	}
	return fs
}

func TestLoadDefault(t *testing.T) {
	clearEnv(t)
	cluster := defaultCluster()
	cluster.Bootstrap = true // the demo is a one-node cluster
	want := &Config{
		File: "",
		Node: NodeConfig{ID: "aya-1"},
		DNS: DNSConfig{
			Listen:     []string{"127.0.0.1:5300"},
			ZonesDir:   "zones",
			MaxUDPSize: 1232,
			TCP: TCPConfig{IdleTimeout: 10 * time.Second, MaxConnections: 1024,
				MaxConnectionsPerClient: 16, MaxQueries: 10000, MaxLifetime: 2 * time.Minute, MinIdleTimeout: 500 * time.Millisecond},
			Zones: defaultZones,
			Transfer: TransferConfig{
				Allow:         []string{"127.0.0.1/32", "::1/128"},
				AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32"), netip.MustParsePrefix("::1/128")},
			},
			WhyClients:  []string{"127.0.0.0/8", "::1/128"},
			WhyPrefixes: prefixes("127.0.0.0/8", "::1/128"),
			RRL:         defaultRRL(),
			Cookies:     CookiesConfig{Enabled: true},
		},
		Admin:   AdminConfig{Listen: "127.0.0.1:9053"},
		Log:     LogConfig{Level: "info", Format: "text"},
		Geo:     GeoConfig{Database: "zones/geo/demo.yaml", MaxFileBytes: geo.DefaultMaxFileBytes},
		ECS:     ECSConfig{MaxPrefixV4: 24, MaxPrefixV6: 56},
		Cluster: cluster,
		Release: ReleaseConfig{Watch: true},
		DNSSEC:  dnssec.Config{}.WithDefaults(),
		Regions: []RegionConfig{
			{Name: "us-east", Latitude: 39.04, Longitude: -77.49, Country: "US", Continent: "NA"},
			{Name: "eu-west", Latitude: 53.35, Longitude: -6.26, Country: "IE", Continent: "EU"},
			{Name: "ap-southeast", Latitude: 1.29, Longitude: 103.85, Country: "SG", Continent: "AS"},
		},
		Pools: []PoolConfig{{
			Name:     "web",
			TTL:      30,
			Answers:  1,
			Fallback: "fail_open",
			Members: []MemberConfig{
				{Region: "us-east", MinEndpoints: 1, Endpoints: []EndpointConfig{{Name: "use1",
					Addresses: []string{"192.0.2.10", "2001:db8:1::10"}, Addrs: addrs("192.0.2.10", "2001:db8:1::10"), Weight: 1}}},
				{Region: "eu-west", MinEndpoints: 1, Endpoints: []EndpointConfig{{Name: "euw1",
					Addresses: []string{"198.51.100.10", "2001:db8:2::10"}, Addrs: addrs("198.51.100.10", "2001:db8:2::10"), Weight: 1}}},
				{Region: "ap-southeast", MinEndpoints: 1, Endpoints: []EndpointConfig{{Name: "apse1",
					Addresses: []string{"203.0.113.10", "2001:db8:3::10"}, Addrs: addrs("203.0.113.10", "2001:db8:3::10"), Weight: 1}}},
			},
		}},
	}
	for _, fs := range []*pflag.FlagSet{nil, flags(t)} {
		c, err := Load("", fs)
		if err != nil {
			t.Fatalf("Load(\"\"): %v", err)
		}
		c.where = nil // KeyError's record, tested in TestKeyError
		if !reflect.DeepEqual(c, want) {
			t.Errorf("Load(\"\") =\n%+v\nwant\n%+v", c, want)
		}
	}
}

func TestLoadFiles(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		path string
		want *Config
	}{
		{"testdata/full.yaml", &Config{
			File: "testdata/full.yaml",
			Node: NodeConfig{ID: "full-1"},
			DNS: DNSConfig{
				Listen:     []string{"127.0.0.1:5301", "[::1]:5301"},
				ZonesDir:   "/srv/aya/zones",
				MaxUDPSize: 4096,
				NSID:       "ns-full",
				UDPSockets: 4,
				TCP: TCPConfig{IdleTimeout: 90 * time.Second, MaxConnections: 64,
					MaxConnectionsPerClient: 8, MaxQueries: 500, MaxLifetime: time.Minute, MinIdleTimeout: 250 * time.Millisecond},
				Zones: defaultZones,
				Transfer: TransferConfig{
					Allow: []string{"10.0.0.0/8", "192.0.2.1", "2001:db8::/32"},
					AllowPrefixes: []netip.Prefix{
						netip.MustParsePrefix("10.0.0.0/8"),
						netip.MustParsePrefix("192.0.2.1/32"),
						netip.MustParsePrefix("2001:db8::/32"),
					},
				},
				Notify:      []string{"192.0.2.2", "[2001:db8::2]:5353"},
				NotifyAddrs: []netip.AddrPort{netip.MustParseAddrPort("192.0.2.2:53"), netip.MustParseAddrPort("[2001:db8::2]:5353")},
				WhyClients:  []string{"127.0.0.0/8", "::1/128"},
				WhyPrefixes: prefixes("127.0.0.0/8", "::1/128"),
				RRL:         defaultRRL(),
				Cookies:     CookiesConfig{Enabled: true},
			},
			Admin: AdminConfig{Listen: "127.0.0.1:9054", Token: "full-token"},
			Log:   LogConfig{Level: "debug", Format: "json"},
			Geo:   GeoConfig{Database: "testdata/geo/GeoLite2-City.mmdb", Overrides: "/etc/aya/geo-overrides.yaml", MaxFileBytes: geo.DefaultMaxFileBytes},
			ECS: ECSConfig{
				MaxPrefixV4:      20,
				MaxPrefixV6:      48,
				TrustedResolvers: []string{"192.0.2.53", "2001:db8:53::/48"},
				TrustedPrefixes:  prefixes("192.0.2.53/32", "2001:db8:53::/48"),
			},
			Cluster: ClusterConfig{
				Bind:               "127.0.0.1:7301",
				Advertise:          "192.0.2.1:7301",
				DataDir:            "/var/lib/aya",
				Bootstrap:          true,
				Voter:              false,
				Join:               []string{"127.0.0.1:9055", "[::1]:9055", "aya-2.example.com:9053"},
				FreshFor:           45 * time.Second,
				ReportInterval:     15 * time.Second,
				HeartbeatTimeout:   2 * time.Second,
				ElectionTimeout:    3 * time.Second,
				LeaderLeaseTimeout: 700 * time.Millisecond,
				SnapshotThreshold:  1024,
				SnapshotInterval:   5 * time.Minute,
				Shed:               ShedConfig{HighWater: 0.9, LowWater: 0.7, MaxFraction: 0.3, Step: 0.05},
				TLS: ClusterTLSConfig{
					CertFile: "testdata/tls/node.pem",
					KeyFile:  "testdata/tls/node-key.pem",
					CAFile:   "/etc/aya/ca.pem",
				},
			},
			DNSSEC: dnssec.Config{
				Validity: 720 * time.Hour, Refresh: 240 * time.Hour, Jitter: 6 * time.Hour, InceptionOffset: 30 * time.Minute,
				MaxAnswerSets: 512, Propagation: 10 * time.Minute, DSTTL: 2 * time.Hour, ParentDelay: 12 * time.Hour,
				ZSKLifetime: 720 * time.Hour, KSKLifetime: 8760 * time.Hour, Algorithm: "ed25519", KeysDir: "/etc/aya/keys",
			},
			Regions: []RegionConfig{
				{Name: "us-east", Latitude: 39.04, Longitude: -77.49, Country: "US", Continent: "NA"},
				{Name: "eu-west", Latitude: 53.35, Longitude: -6.26, Country: "IE", Continent: "EU"},
			},
			Pools: []PoolConfig{{
				Name:              "web",
				TTL:               60,
				Answers:           2,
				Fallback:          "fallback_addresses",
				FallbackAddresses: []string{"192.0.2.99", "2001:db8::99"},
				FallbackAddrs:     addrs("192.0.2.99", "2001:db8::99"),
				CountryMap:        map[string]string{"GB": "eu-west"},
				ContinentMap:      map[string]string{"SA": "us-east"},
				Fences: []FenceConfig{{Name: "eu-residency", Countries: []string{"CH"}, Continents: []string{"EU"},
					Regions: []string{"eu-west"}}},
				Members: []MemberConfig{
					{Region: "us-east", BiasKm: -150.5, MinEndpoints: 2, Endpoints: []EndpointConfig{
						{Name: "use1-a", Addresses: []string{"2001:db8:1::10", "192.0.2.10"},
							Addrs: addrs("2001:db8:1::10", "192.0.2.10"), Weight: 3,
							CheckAddr: netip.MustParseAddrPort("192.0.2.10:8443")},
						{Name: "use1-b", Addresses: []string{"192.0.2.11"}, Addrs: addrs("192.0.2.11"), Weight: 1,
							CheckTarget: "10.0.0.11:9443", CheckAddr: netip.MustParseAddrPort("10.0.0.11:9443")},
					}},
					{Region: "eu-west", MinEndpoints: 1, Endpoints: []EndpointConfig{
						{Name: "euw1-a", Addresses: []string{"198.51.100.10"}, Addrs: addrs("198.51.100.10"), Weight: 1,
							CheckAddr: netip.MustParseAddrPort("198.51.100.10:8443")},
					}},
				},
				Check: &probes.CheckConfig{
					Kind:                  "https",
					Port:                  new(8443),
					Method:                "HEAD",
					Path:                  "/healthz?full=1",
					Host:                  "www.example.com",
					ExpectStatus:          [2]int{200, 299},
					BodyMatch:             "^ok",
					TLSServerName:         "web.example.com",
					TLSInsecureSkipVerify: true,
					TLSCAFile:             "testdata/tls/ca.pem",
					Interval:              10 * time.Second,
					Jitter:                0.25,
					Timeout:               3 * time.Second,
					Rise:                  3,
					Fall:                  1,
				},
			}},
		}},
		{"testdata/minimal.yaml", &Config{
			File: "testdata/minimal.yaml",
			Node: NodeConfig{ID: "min-1"},
			DNS: DNSConfig{
				Listen:     []string{"127.0.0.1:5302"},
				ZonesDir:   "testdata/zones",
				MaxUDPSize: 1232,
				TCP: TCPConfig{IdleTimeout: 10 * time.Second, MaxConnections: 1024,
					MaxConnectionsPerClient: 16, MaxQueries: 10000, MaxLifetime: 2 * time.Minute, MinIdleTimeout: 500 * time.Millisecond},
				Zones:       defaultZones,
				WhyClients:  []string{"127.0.0.0/8", "::1/128"},
				WhyPrefixes: prefixes("127.0.0.0/8", "::1/128"),
				RRL:         defaultRRL(),
				Cookies:     CookiesConfig{Enabled: true},
			},
			Log:     LogConfig{Level: "info", Format: "text"},
			Geo:     GeoConfig{MaxFileBytes: geo.DefaultMaxFileBytes},
			ECS:     ECSConfig{MaxPrefixV4: 24, MaxPrefixV6: 56},
			Cluster: defaultCluster(),
			DNSSEC:  dnssec.Config{}.WithDefaults(),
		}},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			c, err := Load(tc.path, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			c.where = nil
			if !reflect.DeepEqual(c, tc.want) {
				t.Errorf("Load =\n%+v\nwant\n%+v", c, tc.want)
			}
		})
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load("testdata/no-such.yaml", nil)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Load of a missing file: %v, want fs.ErrNotExist", err)
	}
}

// TestEnv sets each key's variable, over a file that has the key
// (full.yaml), one that lacks it (minimal.yaml) and the embedded default.
func TestEnv(t *testing.T) {
	// The cluster.tls files come all three or none: a row for one of them
	// sets the other two as well.
	tlsEnv := map[string]string{"AYA_CLUSTER_TLS_CERT_FILE": "env/cert.pem",
		"AYA_CLUSTER_TLS_KEY_FILE": "env/key.pem", "AYA_CLUSTER_TLS_CA_FILE": "/env/ca.pem"}
	// An advertise address off loopback needs them too (or a secret); a
	// secret cannot go with full.yaml's cluster.tls.
	envSecret := mtls.NewSecret()
	tests := []struct {
		env, val string
		got      func(c *Config) any
		want     any
	}{
		{"AYA_NODE_ID", "env-1", func(c *Config) any { return c.Node.ID }, "env-1"},
		{"AYA_DNS_LISTEN", "127.0.0.1:5300,[::1]:5300",
			func(c *Config) any { return c.DNS.Listen }, []string{"127.0.0.1:5300", "[::1]:5300"}},
		{"AYA_DNS_ZONES_DIR", "/env/zones", func(c *Config) any { return c.DNS.ZonesDir }, "/env/zones"},
		{"AYA_DNS_MAX_UDP_SIZE", "4000", func(c *Config) any { return c.DNS.MaxUDPSize }, 4000},
		{"AYA_DNS_NSID", "env-nsid", func(c *Config) any { return c.DNS.NSID }, "env-nsid"},
		{"AYA_DNS_UDP_SOCKETS", "8", func(c *Config) any { return c.DNS.UDPSockets }, 8},
		{"AYA_DNS_TCP_IDLE_TIMEOUT", "2m5s", func(c *Config) any { return c.DNS.TCP.IdleTimeout }, 125 * time.Second},
		{"AYA_DNS_TCP_MAX_CONNECTIONS", "70", func(c *Config) any { return c.DNS.TCP.MaxConnections }, 70},
		{"AYA_DNS_TCP_MAX_CONNECTIONS_PER_CLIENT", "7", func(c *Config) any { return c.DNS.TCP.MaxConnectionsPerClient }, 7},
		{"AYA_DNS_TCP_MAX_QUERIES", "99", func(c *Config) any { return c.DNS.TCP.MaxQueries }, 99},
		{"AYA_DNS_TCP_MAX_LIFETIME", "30s", func(c *Config) any { return c.DNS.TCP.MaxLifetime }, 30 * time.Second},
		{"AYA_DNS_TCP_MIN_IDLE_TIMEOUT", "300ms", func(c *Config) any { return c.DNS.TCP.MinIdleTimeout }, 300 * time.Millisecond},
		{"AYA_DNS_TRANSFER_ALLOW", "10.9.0.0/16, 192.0.2.9",
			func(c *Config) any { return c.DNS.Transfer.AllowPrefixes },
			[]netip.Prefix{netip.MustParsePrefix("10.9.0.0/16"), netip.MustParsePrefix("192.0.2.9/32")}},
		{"AYA_DNS_NOTIFY", "192.0.2.7, [2001:db8::7]:5353",
			func(c *Config) any { return c.DNS.NotifyAddrs },
			[]netip.AddrPort{netip.MustParseAddrPort("192.0.2.7:53"), netip.MustParseAddrPort("[2001:db8::7]:5353")}},
		{"AYA_DNS_ZONES_MAX_RECORDS", "3000000", func(c *Config) any { return c.DNS.Zones.MaxRecords }, 3000000},
		{"AYA_DNS_ZONES_MAX_FILE_SIZE", "1000", func(c *Config) any { return c.DNS.Zones.MaxFileSize }, int64(1000)},
		{"AYA_DNS_ZONES_MAX_GENERATE", "256", func(c *Config) any { return c.DNS.Zones.MaxGenerate }, 256},
		{"AYA_DNS_ZONES_MAX_GENERATE_TOTAL", "1024", func(c *Config) any { return c.DNS.Zones.MaxGenerateTotal }, 1024},
		{"AYA_DNS_WHY_CLIENTS", "10.53.0.0/16, ::1",
			func(c *Config) any { return c.DNS.WhyPrefixes }, prefixes("10.53.0.0/16", "::1/128")},
		{"AYA_DNS_RRL_ENABLED", "false", func(c *Config) any { return c.DNS.RRL.Enabled }, false},
		{"AYA_DNS_RRL_RESPONSES_PER_SECOND", "20", func(c *Config) any { return c.DNS.RRL.ResponsesPerSecond }, 20},
		{"AYA_DNS_RRL_WINDOW", "3s", func(c *Config) any { return c.DNS.RRL.Window }, 3 * time.Second},
		{"AYA_DNS_RRL_SLIP", "1", func(c *Config) any { return c.DNS.RRL.Slip }, 1},
		{"AYA_DNS_RRL_IPV4_PREFIX", "28", func(c *Config) any { return c.DNS.RRL.IPv4Prefix }, 28},
		{"AYA_DNS_RRL_IPV6_PREFIX", "48", func(c *Config) any { return c.DNS.RRL.IPv6Prefix }, 48},
		{"AYA_DNS_RRL_EXEMPT", "10.1.0.0/16, ::1",
			func(c *Config) any { return c.DNS.RRL.ExemptPrefixes }, prefixes("10.1.0.0/16", "::1/128")},
		{"AYA_DNS_RRL_LOG_ONLY", "true", func(c *Config) any { return c.DNS.RRL.LogOnly }, true},
		{"AYA_DNS_RRL_TABLE_SIZE", "1000", func(c *Config) any { return c.DNS.RRL.TableSize }, 1000},
		{"AYA_DNS_COOKIES_ENABLED", "false", func(c *Config) any { return c.DNS.Cookies.Enabled }, false},
		{"AYA_ADMIN_LISTEN", "127.0.0.1:9999", func(c *Config) any { return c.Admin.Listen }, "127.0.0.1:9999"},
		{"AYA_ADMIN_TOKEN", "s3cr3t-Token_1", func(c *Config) any { return c.Admin.Token }, "s3cr3t-Token_1"},
		{"AYA_ADMIN_INSECURE", "true", func(c *Config) any { return c.Admin.Insecure }, true},
		{"AYA_LOG_LEVEL", "warn", func(c *Config) any { return c.Log.Level }, "warn"},
		{"AYA_LOG_FORMAT", "json", func(c *Config) any { return c.Log.Format }, "json"},
		{"AYA_GEO_DATABASE", "env/City.mmdb", func(c *Config) any { return c.Geo.Database }, "env/City.mmdb"},
		{"AYA_GEO_OVERRIDES", "/env/overrides.yaml", func(c *Config) any { return c.Geo.Overrides }, "/env/overrides.yaml"},
		{"AYA_GEO_MAX_FILE_BYTES", "1048576", func(c *Config) any { return c.Geo.MaxFileBytes }, int64(1 << 20)},
		{"AYA_ECS_MAX_PREFIX_V4", "16", func(c *Config) any { return c.ECS.MaxPrefixV4 }, 16},
		{"AYA_ECS_MAX_PREFIX_V6", "0", func(c *Config) any { return c.ECS.MaxPrefixV6 }, 0},
		{"AYA_ECS_TRUSTED_RESOLVERS", "10.53.0.0/16,2001:db8::53",
			func(c *Config) any { return c.ECS.TrustedPrefixes }, prefixes("10.53.0.0/16", "2001:db8::53/128")},
		{"AYA_CLUSTER_BIND", "127.0.0.1:7400", func(c *Config) any { return c.Cluster.Bind }, "127.0.0.1:7400"},
		{"AYA_CLUSTER_ADVERTISE", "[2001:db8::7]:7400", func(c *Config) any { return c.Cluster.Advertise }, "[2001:db8::7]:7400"},
		{"AYA_CLUSTER_DATA_DIR", "env/data/", func(c *Config) any { return c.Cluster.DataDir }, "env/data"},
		{"AYA_CLUSTER_BOOTSTRAP", "TRUE", func(c *Config) any { return c.Cluster.Bootstrap }, true},
		{"AYA_CLUSTER_VOTER", "0", func(c *Config) any { return c.Cluster.Voter }, false},
		{"AYA_CLUSTER_JOIN", "10.0.0.2:9053, aya-3.example.com:9053",
			func(c *Config) any { return c.Cluster.Join }, []string{"10.0.0.2:9053", "aya-3.example.com:9053"}},
		{"AYA_CLUSTER_FRESH_FOR", "1m", func(c *Config) any { return c.Cluster.FreshFor }, time.Minute},
		{"AYA_CLUSTER_REPORT_INTERVAL", "20s", func(c *Config) any { return c.Cluster.ReportInterval }, 20 * time.Second},
		{"AYA_CLUSTER_HEARTBEAT_TIMEOUT", "900ms", func(c *Config) any { return c.Cluster.HeartbeatTimeout }, 900 * time.Millisecond},
		{"AYA_CLUSTER_ELECTION_TIMEOUT", "2500ms", func(c *Config) any { return c.Cluster.ElectionTimeout }, 2500 * time.Millisecond},
		{"AYA_CLUSTER_LEADER_LEASE_TIMEOUT", "300ms",
			func(c *Config) any { return c.Cluster.LeaderLeaseTimeout }, 300 * time.Millisecond},
		{"AYA_CLUSTER_SNAPSHOT_THRESHOLD", "1", func(c *Config) any { return c.Cluster.SnapshotThreshold }, 1},
		{"AYA_CLUSTER_SNAPSHOT_INTERVAL", "30s", func(c *Config) any { return c.Cluster.SnapshotInterval }, 30 * time.Second},
		{"AYA_CLUSTER_SHED_HIGH_WATER", "0.9", func(c *Config) any { return c.Cluster.Shed.HighWater }, 0.9},
		{"AYA_CLUSTER_SHED_LOW_WATER", "0.5", func(c *Config) any { return c.Cluster.Shed.LowWater }, 0.5},
		{"AYA_CLUSTER_SHED_MAX_FRACTION", "0.25", func(c *Config) any { return c.Cluster.Shed.MaxFraction }, 0.25},
		{"AYA_CLUSTER_SHED_STEP", "0.2", func(c *Config) any { return c.Cluster.Shed.Step }, 0.2},
		{"AYA_CLUSTER_TLS_CERT_FILE", "env/cert.pem", func(c *Config) any { return c.Cluster.TLS.CertFile }, "env/cert.pem"},
		{"AYA_CLUSTER_TLS_KEY_FILE", "env/key.pem", func(c *Config) any { return c.Cluster.TLS.KeyFile }, "env/key.pem"},
		{"AYA_CLUSTER_TLS_CA_FILE", "/env/ca.pem", func(c *Config) any { return c.Cluster.TLS.CAFile }, "/env/ca.pem"},
		{"AYA_CLUSTER_SECRET", envSecret, func(c *Config) any { return len(c.Cluster.Secrets) }, 1},
		{"AYA_CLUSTER_SECRET_FILE", "testdata/cluster.secret", func(c *Config) any { return len(c.Cluster.Secrets) }, 2},
		{"AYA_RELEASE_WATCH", "true", func(c *Config) any { return c.Release.Watch }, true},
		{"AYA_DNSSEC_VALIDITY", "720h", func(c *Config) any { return c.DNSSEC.Validity }, 720 * time.Hour},
		{"AYA_DNSSEC_REFRESH", "100h", func(c *Config) any { return c.DNSSEC.Refresh }, 100 * time.Hour},
		{"AYA_DNSSEC_JITTER", "2h", func(c *Config) any { return c.DNSSEC.Jitter }, 2 * time.Hour},
		{"AYA_DNSSEC_INCEPTION_OFFSET", "30m", func(c *Config) any { return c.DNSSEC.InceptionOffset }, 30 * time.Minute},
		{"AYA_DNSSEC_MAX_ANSWER_SETS", "64", func(c *Config) any { return c.DNSSEC.MaxAnswerSets }, 64},
		{"AYA_DNSSEC_PROPAGATION", "10m", func(c *Config) any { return c.DNSSEC.Propagation }, 10 * time.Minute},
		{"AYA_DNSSEC_DS_TTL", "1h", func(c *Config) any { return c.DNSSEC.DSTTL }, time.Hour},
		{"AYA_DNSSEC_PARENT_DELAY", "2h", func(c *Config) any { return c.DNSSEC.ParentDelay }, 2 * time.Hour},
		{"AYA_DNSSEC_ZSK_LIFETIME", "720h", func(c *Config) any { return c.DNSSEC.ZSKLifetime }, 720 * time.Hour},
		{"AYA_DNSSEC_KSK_LIFETIME", "8760h", func(c *Config) any { return c.DNSSEC.KSKLifetime }, 8760 * time.Hour},
		{"AYA_DNSSEC_ALGORITHM", "ed25519", func(c *Config) any { return c.DNSSEC.Algorithm }, "ed25519"},
		{"AYA_DNSSEC_KEYS_DIR", "/k", func(c *Config) any { return c.DNSSEC.KeysDir }, "/k"},
	}

	// The proxy section's variables are covered by TestProxyEnv: these
	// files have no proxy section.
	var covered, all []string
	for _, tc := range tests {
		covered = append(covered, tc.env)
	}
	for _, name := range envNames() {
		if !strings.HasPrefix(name, "AYA_PROXY_") {
			all = append(all, name)
		}
	}
	if !slices.Equal(covered, all) {
		t.Fatalf("TestEnv covers %v, want every key: %v", covered, all)
	}

	for _, path := range []string{"testdata/full.yaml", "testdata/minimal.yaml", ""} {
		for _, tc := range tests {
			t.Run(tc.env+"/"+filepath.Base(path), func(t *testing.T) {
				clearEnv(t)
				if strings.HasPrefix(tc.env, "AYA_CLUSTER_TLS_") || tc.env == "AYA_CLUSTER_ADVERTISE" {
					for k, v := range tlsEnv {
						t.Setenv(k, v)
					}
				}
				if strings.HasPrefix(tc.env, "AYA_CLUSTER_SECRET") && path == "testdata/full.yaml" {
					t.Skip("full.yaml has cluster.tls")
				}
				t.Setenv(tc.env, tc.val)
				c, err := Load(path, flags(t))
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got := tc.got(c); !reflect.DeepEqual(got, tc.want) {
					t.Errorf("%s=%q: got %#v, want %#v", tc.env, tc.val, got, tc.want)
				}
			})
		}
	}
}

func TestEnvErrors(t *testing.T) {
	tests := []struct {
		env, val, want string
	}{
		{"AYA_DNS_LISTEN", "127.0.0.1:5300,127.0.0.1:99999",
			`AYA_DNS_LISTEN: dns.listen[1]: port must be a number 0-65535 (got "99999")`},
		{"AYA_DNS_LISTEN", " , ", `AYA_DNS_LISTEN: dns.listen: at least one address required`},
		{"AYA_NODE_ID", "   ", `AYA_NODE_ID: node.id: required`},
		{"AYA_DNS_MAX_UDP_SIZE", "big", `AYA_DNS_MAX_UDP_SIZE: dns.max_udp_size: must be an integer (got "big")`},
		{"AYA_DNS_MAX_UDP_SIZE", "99999999999999999999",
			`AYA_DNS_MAX_UDP_SIZE: dns.max_udp_size: must be between 512 and 65535 (got 99999999999999999999)`},
		{"AYA_DNS_TCP_IDLE_TIMEOUT", "10",
			`AYA_DNS_TCP_IDLE_TIMEOUT: dns.tcp.idle_timeout: must be a duration such as "10s" or "1m30s" (got "10")`},
		{"AYA_DNS_TRANSFER_ALLOW", "10.0.0.0/8,, nope,",
			`AYA_DNS_TRANSFER_ALLOW: dns.transfer.allow[1]: must be a CIDR prefix or an IP address (got "nope")`},
		{"AYA_DNS_NOTIFY", "192.0.2.7:53, ns2.example.com",
			`AYA_DNS_NOTIFY: dns.notify[1]: must be ip:port or an IP address (got "ns2.example.com")`},
		{"AYA_DNS_WHY_CLIENTS", "127.0.0.1/8",
			`AYA_DNS_WHY_CLIENTS: dns.why_clients[0]: has address bits set past the prefix length (got "127.0.0.1/8"; did you mean "127.0.0.0/8"?)`},
		{"AYA_ECS_MAX_PREFIX_V4", "33", `AYA_ECS_MAX_PREFIX_V4: ecs.max_prefix_v4: must be between 0 and 32 (got 33)`},
		{"AYA_ECS_MAX_PREFIX_V6", "/56", `AYA_ECS_MAX_PREFIX_V6: ecs.max_prefix_v6: must be an integer (got "/56")`},
		{"AYA_ECS_TRUSTED_RESOLVERS", "10.1.2.3/8",
			`AYA_ECS_TRUSTED_RESOLVERS: ecs.trusted_resolvers[0]: has address bits set past the prefix length (got "10.1.2.3/8"; did you mean "10.0.0.0/8"?)`},
		{"AYA_ADMIN_TOKEN", "two words", `AYA_ADMIN_TOKEN: admin.token: must not contain spaces or control characters`},
		{"AYA_CLUSTER_BIND", "raft:7300",
			`AYA_CLUSTER_BIND: cluster.bind: host must be an IP address or "localhost" (got "raft")`},
		{"AYA_CLUSTER_BIND", "127.0.0.1:9054",
			`AYA_CLUSTER_BIND: cluster.bind: overlaps admin.listen ("127.0.0.1:9054"): both use TCP`},
		{"AYA_CLUSTER_BIND", "0.0.0.0:5301",
			`AYA_CLUSTER_BIND: cluster.bind: overlaps dns.listen[0] ("127.0.0.1:5301"): both use TCP`},
		{"AYA_CLUSTER_ADVERTISE", "[::]:7300",
			`AYA_CLUSTER_ADVERTISE: cluster.advertise: must not be an unspecified address, other nodes dial it (got "[::]:7300")`},
		{"AYA_CLUSTER_ADVERTISE", "192.0.2.1:0", `AYA_CLUSTER_ADVERTISE: cluster.advertise: port must not be 0, other nodes dial it`},
		{"AYA_CLUSTER_BOOTSTRAP", "yes", `AYA_CLUSTER_BOOTSTRAP: cluster.bootstrap: must be true or false (got "yes")`},
		{"AYA_CLUSTER_VOTER", "2", `AYA_CLUSTER_VOTER: cluster.voter: must be true or false (got "2")`},
		{"AYA_CLUSTER_JOIN", "10.0.0.2:9053,10.0.0.2:9053",
			`AYA_CLUSTER_JOIN: cluster.join[1]: duplicate of cluster.join[0] ("10.0.0.2:9053")`},
		{"AYA_CLUSTER_JOIN", "10.0.0.2", `AYA_CLUSTER_JOIN: cluster.join[0]: must be host:port, such as 10.0.0.2:9053 or [2001:db8::2]:9053 (got "10.0.0.2")`},
		{"AYA_CLUSTER_JOIN", "0.0.0.0:9053", `AYA_CLUSTER_JOIN: cluster.join[0]: host must not be an unspecified address (got "0.0.0.0")`},
		{"AYA_CLUSTER_JOIN", "aya_2:9053", `AYA_CLUSTER_JOIN: cluster.join[0]: host must be an IP address or a DNS name (got "aya_2")`},
		{"AYA_CLUSTER_JOIN", "aya-2:0", `AYA_CLUSTER_JOIN: cluster.join[0]: port must be a number 1-65535 (got "0")`},
		{"AYA_CLUSTER_FRESH_FOR", "15s",
			`testdata/full.yaml:50: cluster.report_interval: must be less than cluster.fresh_for (got 15s, cluster.fresh_for 15s)`},
		{"AYA_CLUSTER_FRESH_FOR", "0s", `AYA_CLUSTER_FRESH_FOR: cluster.fresh_for: must be greater than 0 (got 0s)`},
		{"AYA_CLUSTER_REPORT_INTERVAL", "45s",
			`AYA_CLUSTER_REPORT_INTERVAL: cluster.report_interval: must be less than cluster.fresh_for (got 45s, cluster.fresh_for 45s)`},
		{"AYA_CLUSTER_HEARTBEAT_TIMEOUT", "4s",
			`testdata/full.yaml:52: cluster.election_timeout: must be at least cluster.heartbeat_timeout (got 3s, cluster.heartbeat_timeout 4s)`},
		{"AYA_CLUSTER_HEARTBEAT_TIMEOUT", "1ms",
			`AYA_CLUSTER_HEARTBEAT_TIMEOUT: cluster.heartbeat_timeout: must be at least 5ms, Raft's minimum (got 1ms)`},
		{"AYA_CLUSTER_LEADER_LEASE_TIMEOUT", "2001ms",
			`AYA_CLUSTER_LEADER_LEASE_TIMEOUT: cluster.leader_lease_timeout: must be at most cluster.heartbeat_timeout (got 2.001s, cluster.heartbeat_timeout 2s)`},
		{"AYA_CLUSTER_ELECTION_TIMEOUT", "-1s",
			`AYA_CLUSTER_ELECTION_TIMEOUT: cluster.election_timeout: must be greater than 0 (got -1s)`},
		{"AYA_CLUSTER_SNAPSHOT_THRESHOLD", "0",
			`AYA_CLUSTER_SNAPSHOT_THRESHOLD: cluster.snapshot_threshold: must be at least 1 (got 0)`},
		{"AYA_CLUSTER_SNAPSHOT_INTERVAL", "2",
			`AYA_CLUSTER_SNAPSHOT_INTERVAL: cluster.snapshot_interval: must be a duration such as "10s" or "1m30s" (got "2")`},
		{"AYA_CLUSTER_SECRET", "hunter2",
			`AYA_CLUSTER_SECRET: cluster.secret: must not be set together with cluster.tls: the Raft transport uses one of them`},
		{"AYA_CLUSTER_SECRET_FILE", "testdata/cluster.secret",
			`AYA_CLUSTER_SECRET_FILE: cluster.secret_file: must not be set together with cluster.tls: the Raft transport uses one of them`},
		// A variable named after a file-only list is not read.
		{"AYA_POOLS", "web", ""},
	}
	for _, tc := range tests {
		t.Run(tc.env+"="+tc.val, func(t *testing.T) {
			clearEnv(t)
			t.Setenv(tc.env, tc.val)
			_, err := Load("testdata/full.yaml", nil)
			if tc.want == "" {
				if err != nil {
					t.Errorf("Load: %v", err)
				}
				return
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("Load error:\n got  %v\n want %s", err, tc.want)
			}
		})
	}
}

// TestEmptyEnvIsUnset: AYA_NODE_ID= must not blank the file's node.id.
func TestEmptyEnvIsUnset(t *testing.T) {
	clearEnv(t)
	t.Setenv("AYA_NODE_ID", "")
	t.Setenv("AYA_DNS_LISTEN", "")
	c, err := Load("testdata/full.yaml", nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if c.Node.ID != "full-1" || len(c.DNS.Listen) != 2 {
		t.Errorf("empty env overrode the file: node.id %q, dns.listen %q", c.Node.ID, c.DNS.Listen)
	}
}

// TestPrecedence checks flag > env > file for every key with a flag, and
// that a registered flag the user did not set overrides nothing.
func TestPrecedence(t *testing.T) {
	tests := []struct {
		flag, env, envVal string
		args              []string
		got               func(c *Config) any
		file, fromEnv     any
		fromFlag          any
	}{
		{"listen", "AYA_DNS_LISTEN", "127.0.0.2:53", []string{"--listen=127.0.0.3:53,127.0.0.4:53", "--listen", "[::1]:53"},
			func(c *Config) any { return c.DNS.Listen },
			[]string{"127.0.0.1:5301", "[::1]:5301"}, []string{"127.0.0.2:53"},
			[]string{"127.0.0.3:53", "127.0.0.4:53", "[::1]:53"}},
		{"zones-dir", "AYA_DNS_ZONES_DIR", "/env/zones", []string{"--zones-dir=/flag/zones"},
			func(c *Config) any { return c.DNS.ZonesDir }, "/srv/aya/zones", "/env/zones", "/flag/zones"},
		{"admin-listen", "AYA_ADMIN_LISTEN", "127.0.0.1:9001", []string{"--admin-listen=127.0.0.1:9002"},
			func(c *Config) any { return c.Admin.Listen }, "127.0.0.1:9054", "127.0.0.1:9001", "127.0.0.1:9002"},
		{"admin-listen empty", "AYA_ADMIN_LISTEN", "127.0.0.1:9001", []string{"--admin-listen="},
			func(c *Config) any { return c.Admin.Listen }, "127.0.0.1:9054", "127.0.0.1:9001", ""},
		{"log-level", "AYA_LOG_LEVEL", "warn", []string{"--log-level=error"},
			func(c *Config) any { return c.Log.Level }, "debug", "warn", "error"},
		{"node-id", "AYA_NODE_ID", "env-1", []string{"--node-id", "flag-1"},
			func(c *Config) any { return c.Node.ID }, "full-1", "env-1", "flag-1"},
		{"geo-database", "AYA_GEO_DATABASE", "env/City.mmdb", []string{"--geo-database=flag/Country.mmdb"},
			func(c *Config) any { return c.Geo.Database }, "testdata/geo/GeoLite2-City.mmdb", "env/City.mmdb", "flag/Country.mmdb"},
		{"raft-bind", "AYA_CLUSTER_BIND", "127.0.0.1:7401", []string{"--raft-bind=[::1]:7402"},
			func(c *Config) any { return c.Cluster.Bind }, "127.0.0.1:7301", "127.0.0.1:7401", "[::1]:7402"},
		{"data-dir", "AYA_CLUSTER_DATA_DIR", "/env/data", []string{"--data-dir", "flag/data"},
			func(c *Config) any { return c.Cluster.DataDir }, "/var/lib/aya", "/env/data", "flag/data"},
		{"bootstrap", "AYA_CLUSTER_BOOTSTRAP", "false", []string{"--bootstrap"},
			func(c *Config) any { return c.Cluster.Bootstrap }, true, false, true},
		{"bootstrap=false", "AYA_CLUSTER_BOOTSTRAP", "true", []string{"--bootstrap=false"},
			func(c *Config) any { return c.Cluster.Bootstrap }, true, true, false},
		{"join", "AYA_CLUSTER_JOIN", "10.0.0.2:9053", []string{"--join=10.0.0.3:9053,10.0.0.4:9053", "--join", "aya-5.example.com:9053"},
			func(c *Config) any { return c.Cluster.Join },
			[]string{"127.0.0.1:9055", "[::1]:9055", "aya-2.example.com:9053"}, []string{"10.0.0.2:9053"},
			[]string{"10.0.0.3:9053", "10.0.0.4:9053", "aya-5.example.com:9053"}},
	}
	for _, tc := range tests {
		t.Run(tc.flag, func(t *testing.T) {
			check := func(layer string, fs *pflag.FlagSet, want any) {
				t.Helper()
				c, err := Load("testdata/full.yaml", fs)
				if err != nil {
					t.Fatalf("%s: Load: %v", layer, err)
				}
				if got := tc.got(c); !reflect.DeepEqual(got, want) {
					t.Errorf("%s: got %#v, want %#v", layer, got, want)
				}
			}
			clearEnv(t)
			check("file, no flag set", flags(t), tc.file)
			t.Setenv(tc.env, tc.envVal)
			check("env over file", flags(t), tc.fromEnv)
			check("env over file, nil FlagSet", nil, tc.fromEnv)
			check("flag over env", flags(t, tc.args...), tc.fromFlag)
		})
	}
}

func TestFlagErrors(t *testing.T) {
	clearEnv(t)
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--listen=127.0.0.1:99999"}, `flag --listen: dns.listen[0]: port must be a number 0-65535 (got "99999")`},
		{[]string{"--log-level=loud"}, `flag --log-level: log.level: must be one of debug, info, warn, error (got "loud")`},
		{[]string{"--node-id="}, `flag --node-id: node.id: required`},
		{[]string{"--admin-listen=127.0.0.1:5301"},
			`flag --admin-listen: admin.listen: overlaps dns.listen[0] ("127.0.0.1:5301"): both use TCP`},
		{[]string{"--raft-bind=127.0.0.1:99999"}, `flag --raft-bind: cluster.bind: port must be a number 0-65535 (got "99999")`},
		{[]string{"--data-dir="}, `flag --data-dir: cluster.data_dir: required`},
		{[]string{"--join=127.0.0.1:9055", "--join=127.0.0.1:09055"},
			`flag --join: cluster.join[1]: duplicate of cluster.join[0] ("127.0.0.1:9055")`},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, err := Load("testdata/full.yaml", flags(t, tc.args...))
			if err == nil || err.Error() != tc.want {
				t.Errorf("Load error:\n got  %v\n want %s", err, tc.want)
			}
		})
	}
}

// TestFileErrors covers problems with the file as a whole: syntax, shape,
// unknown and duplicate keys.
func TestFileErrors(t *testing.T) {
	clearEnv(t)
	valid := "node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n"
	tests := []struct {
		name, data, want string
	}{
		{"syntax", "node:\n  id: n1\n dns: x\n", `t.yaml:3: yaml: did not find expected key`},
		{"tab indent", "node:\n\tid: n1\n", `t.yaml:2: yaml: a tab in the indentation: YAML indents with spaces only`},
		{"second document", valid + "---\nlog: {}\n", `t.yaml:3: a second YAML document; the file must hold exactly one`},
		{"top level list", "- a\n", "t.yaml:1: the top level must be a mapping of keys (got a list)\n" +
			"t.yaml: node.id: required\n" +
			"t.yaml: dns.listen: at least one address required\n" +
			"t.yaml: dns.zones_dir: required"},
		{"section not a mapping", valid + "log: debug\n", `t.yaml:3: log: must be a mapping of keys (got "debug")`},
		{"unknown top-level key", valid + "logging: {}\n", `t.yaml:3: logging: unknown key`},
		{"unknown key case", valid + "Log: {}\n", `t.yaml:3: Log: unknown key (did you mean "log"?)`},
		{"unknown odd key", valid + "\"a b\": 1\n", `t.yaml:3: "a b": unknown key`},
		{"dotted key", valid + "log:\n  \"x.level\": debug\n",
			`t.yaml:4: log."x.level": keys must not contain "."; nest them instead`},
		{"dotted top-level key", "node.id: n1\n" + valid, `t.yaml:1: "node.id": keys must not contain "."; nest them instead`},
		{"empty key", valid + "\"\": 1\n", `t.yaml:3: "": unknown key`},
		{"duplicate key", valid + "node: {id: n2}\n", `t.yaml:3: node: duplicate key (first at line 1)`},
		{"duplicate nested key", "node: {id: n1, id: n2}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n",
			`t.yaml:1: node.id: duplicate key (first at line 1)`},
		{"merge key", "base: &b {id: n1}\nnode:\n  <<: *b\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n",
			"t.yaml:1: base: unknown key\n" +
				"t.yaml:3: node.<<: merge keys (<<) are not supported\n" +
				"t.yaml: node.id: required"},
		{"bad explicit tag", valid + "log: {level: !!int loud}\n",
			"t.yaml:3: log.level: yaml: cannot decode !!str `loud` as a !!int"},
		{"complex key", valid + "? [a]\n: 1\n", `t.yaml:3: keys must be strings (got a list)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("t.yaml", []byte(tc.data), nil)
			if err == nil || err.Error() != tc.want {
				t.Errorf("Parse error:\n got  %v\n want %s", err, tc.want)
			}
		})
	}
}

// TestFileValid: shapes that must load.
func TestFileValid(t *testing.T) {
	clearEnv(t)
	tests := []struct{ name, data string }{
		{"aliases", "node: {id: &id n1}\ndns:\n  listen: &l [127.0.0.1:53]\n  zones_dir: *id\n" +
			"admin: {listen: \"127.0.0.1:9000\"}\n"},
		{"null sections", "node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z, tcp: ~, transfer: }\nadmin:\nlog: ~\n"},
		{"comments only after", "node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n# end\n"},
		{"explicit document", "---\nnode: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\n...\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Parse("t.yaml", []byte(tc.data), nil); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestUnknownKeyFile(t *testing.T) {
	clearEnv(t)
	want := `testdata/unknown_key.yaml:4: dns.lisen: unknown key (did you mean "listen"?)
testdata/unknown_key.yaml:8: dns.tcp.idle_timout: unknown key (did you mean "idle_timeout"?)
testdata/unknown_key.yaml:9: dns.Transfer: unknown key (did you mean "transfer"?)
testdata/unknown_key.yaml:11: logging: unknown key`
	_, err := Load("testdata/unknown_key.yaml", nil)
	if err == nil || err.Error() != want {
		t.Errorf("Load error:\n got  %v\n want %s", err, want)
	}
}

func TestSyntaxErrorFile(t *testing.T) {
	clearEnv(t)
	want := `testdata/syntax.yaml:4: yaml: did not find expected ',' or ']'`
	_, err := Load("testdata/syntax.yaml", nil)
	if err == nil || err.Error() != want {
		t.Errorf("Load error:\n got  %v\n want %s", err, want)
	}
	var e *Error
	if !errors.As(err, &e) || e.Line != 4 || e.File != "testdata/syntax.yaml" || e.Key != "" {
		t.Errorf("errors.As(*Error) = %+v", e)
	}
}

func TestZonesDir(t *testing.T) {
	abs, err := filepath.Abs("testdata/sub/aya.yaml")
	if err != nil {
		t.Fatal(err)
	}
	file := func(dir string) []byte {
		return []byte("node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: " + dir + "}\n")
	}
	tests := []struct {
		name, path string
		data       []byte // Parse(path, data) if set, else Load(path)
		env        string
		args       []string
		want       string
	}{
		{"relative to the file", "testdata/sub/aya.yaml", nil, "", nil, "testdata/sub/zones"},
		{"relative to an absolute file", abs, nil, "", nil, filepath.Join(filepath.Dir(abs), "zones")},
		{"parent of the file", "conf/aya.yaml", file("../zones"), "", nil, "zones"},
		{"absolute in the file", "conf/aya.yaml", file("/srv/zones/"), "", nil, "/srv/zones"},
		{"embedded default: working directory", "", nil, "", nil, "zones"},
		{"env: working directory", "testdata/sub/aya.yaml", nil, "env/zones", nil, "env/zones"},
		{"flag: working directory, cleaned", "testdata/sub/aya.yaml", nil, "", []string{"--zones-dir=a/b/../z/"}, "a/z"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			t.Setenv("AYA_DNS_ZONES_DIR", tc.env)
			c := loadOrParse(t, tc.path, tc.data, tc.args...)
			if c.DNS.ZonesDir != tc.want {
				t.Errorf("ZonesDir = %q, want %q", c.DNS.ZonesDir, tc.want)
			}
		})
	}
}

// TestGeoPaths: geo.database and geo.overrides are resolved like
// dns.zones_dir, and "" stays "" (off).
func TestGeoPaths(t *testing.T) {
	file := func(geo string) []byte {
		return []byte("node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\ngeo: " + geo + "\n")
	}
	tests := []struct {
		name, path string
		data       []byte // Parse(path, data) if set, else Load(path)
		env        map[string]string
		args       []string
		db, ov     string
	}{
		{"relative to the file", "conf/aya.yaml", file("{database: geo/City.mmdb, overrides: ../ov.yaml}"), nil, nil,
			"conf/geo/City.mmdb", "ov.yaml"},
		{"absolute in the file", "conf/aya.yaml", file("{database: /srv/geo/City.mmdb, overrides: /srv/ov.yaml}"), nil, nil,
			"/srv/geo/City.mmdb", "/srv/ov.yaml"},
		{"empty is off", "conf/aya.yaml", file(`{database: "", overrides: ""}`), nil, nil, "", ""},
		{"absent is off", "conf/aya.yaml", file("{}"), nil, nil, "", ""},
		{"embedded default: working directory", "", nil, nil, nil, "zones/geo/demo.yaml", ""},
		{"env: working directory", "conf/aya.yaml", file("{database: x.mmdb, overrides: y.yaml}"),
			map[string]string{"AYA_GEO_DATABASE": "env/City.mmdb", "AYA_GEO_OVERRIDES": "env/ov.yaml"}, nil,
			"env/City.mmdb", "env/ov.yaml"},
		{"flag: working directory, cleaned", "conf/aya.yaml", file("{database: x.mmdb}"), nil,
			[]string{"--geo-database=a/../b/City.mmdb"}, "b/City.mmdb", ""},
		{"flag empty: off", "", nil, nil, []string{"--geo-database="}, "", ""},
		{"env empty: unset, the default applies", "", nil, map[string]string{"AYA_GEO_DATABASE": ""}, nil,
			"zones/geo/demo.yaml", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c := loadOrParse(t, tc.path, tc.data, tc.args...)
			if c.Geo.Database != tc.db || c.Geo.Overrides != tc.ov {
				t.Errorf("Geo = %+v, want database %q, overrides %q", c.Geo, tc.db, tc.ov)
			}
		})
	}
}

// TestClusterPaths: cluster.data_dir and the cluster.tls files are
// resolved like dns.zones_dir.
func TestClusterPaths(t *testing.T) {
	file := func(cluster string) []byte {
		return []byte("node: {id: n1}\ndns: {listen: [127.0.0.1:53], zones_dir: z}\ncluster: " + cluster + "\n")
	}
	tests := []struct {
		name, path string
		data       []byte // Parse(path, data) if set, else Load(path)
		env        map[string]string
		args       []string
		want       ClusterTLSConfig
		dataDir    string
	}{
		{"relative to the file", "conf/aya.yaml",
			file("{data_dir: ../state, tls: {cert_file: tls/c.pem, key_file: /k.pem, ca_file: ./ca.pem}}"), nil, nil,
			ClusterTLSConfig{CertFile: "conf/tls/c.pem", KeyFile: "/k.pem", CAFile: "conf/ca.pem"}, "state"},
		{"default: working directory", "conf/aya.yaml", file("{}"), nil, nil, ClusterTLSConfig{}, "data"},
		{"embedded default: working directory", "", nil, nil, nil, ClusterTLSConfig{}, "data"},
		{"env: working directory", "conf/aya.yaml", file("{data_dir: x}"),
			map[string]string{"AYA_CLUSTER_DATA_DIR": "env/data", "AYA_CLUSTER_TLS_CERT_FILE": "c.pem",
				"AYA_CLUSTER_TLS_KEY_FILE": "k.pem", "AYA_CLUSTER_TLS_CA_FILE": "ca.pem"}, nil,
			ClusterTLSConfig{CertFile: "c.pem", KeyFile: "k.pem", CAFile: "ca.pem"}, "env/data"},
		{"flag: working directory, cleaned", "conf/aya.yaml", file("{data_dir: x}"), nil,
			[]string{"--data-dir=a/../b/"}, ClusterTLSConfig{}, "b"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			clearEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			c := loadOrParse(t, tc.path, tc.data, tc.args...)
			if c.Cluster.DataDir != tc.dataDir || c.Cluster.TLS != tc.want {
				t.Errorf("data_dir %q, tls %+v; want %q, %+v", c.Cluster.DataDir, c.Cluster.TLS, tc.dataDir, tc.want)
			}
		})
	}
}

// TestGolden pins the full `aya check` style output for a file with many
// problems. Refresh with go test ./config/ -run TestGolden -update.
func TestGolden(t *testing.T) {
	clearEnv(t)
	for _, name := range []string{"multi_error", "steering_errors", "plain_tcp", "tab"} {
		t.Run(name, func(t *testing.T) {
			_, loadErr := Load(filepath.Join("testdata", name+".yaml"), nil)
			if loadErr == nil {
				t.Fatal("Load: no error")
			}
			got := []byte(loadErr.Error() + "\n")
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Errorf("errors differ from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
			// Every line is one *Error.
			var joined interface{ Unwrap() []error }
			if !errors.As(loadErr, &joined) {
				t.Fatalf("error is not joined: %T", loadErr)
			}
			for _, e := range joined.Unwrap() {
				if _, ok := errors.AsType[*Error](e); !ok {
					t.Errorf("%T in the joined errors: %v", e, e)
				}
			}
		})
	}
}

// loadOrParse parses data as path when data is given, else loads the file
// at path, with the flags args; any error fails the test.
func loadOrParse(t *testing.T, path string, data []byte, args ...string) *Config {
	t.Helper()
	var c *Config
	var err error
	if data != nil {
		c, err = Parse(path, data, flags(t, args...))
	} else {
		c, err = Load(path, flags(t, args...))
	}
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	return c
}

// TestKeyError: a problem found after Load is placed where the key's
// value came from: its line, the environment, a flag, or just the file.
func TestKeyError(t *testing.T) {
	clearEnv(t)
	fs := flags(t)
	c, err := Load("testdata/minimal.yaml", fs)
	if err != nil {
		t.Fatal(err)
	}
	missing := errors.New("/srv/zones: no such file or directory")
	for key, want := range map[string]string{
		"dns.zones_dir": "testdata/minimal.yaml:6: dns.zones_dir: /srv/zones: no such file or directory",
		"geo.database":  "testdata/minimal.yaml: geo.database: /srv/zones: no such file or directory",
	} {
		if got := c.KeyError(key, missing).Error(); got != want {
			t.Errorf("KeyError(%s) = %s, want %s", key, got, want)
		}
	}
	t.Setenv("AYA_GEO_DATABASE", "/srv/geo.mmdb")
	if err := fs.Set("zones-dir", "/srv/zones"); err != nil {
		t.Fatal(err)
	}
	if c, err = Load("testdata/minimal.yaml", fs); err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{
		"dns.zones_dir": "flag --zones-dir: dns.zones_dir: /srv/zones: no such file or directory",
		"geo.database":  "AYA_GEO_DATABASE: geo.database: /srv/zones: no such file or directory",
	} {
		if got := c.KeyError(key, missing).Error(); got != want {
			t.Errorf("KeyError(%s) = %s, want %s", key, got, want)
		}
	}
	if got := (&Config{}).KeyError("dns.zones_dir", missing).Error(); got != "aya.yaml: dns.zones_dir: /srv/zones: no such file or directory" {
		t.Errorf("KeyError of a Config not made by Load: %s", got)
	}
}

// defaultRRL is dns.rrl with every key at its default.
func defaultRRL() RRLConfig {
	d := dnsserver.DefaultRRL()
	return RRLConfig{Enabled: d.Enabled, ResponsesPerSecond: d.ResponsesPerSecond, Window: d.Window, Slip: d.Slip,
		IPv4Prefix: d.IPv4Prefix, IPv6Prefix: d.IPv6Prefix, LogOnly: d.LogOnly, TableSize: d.TableSize,
		Exempt: prefixTexts(d.Exempt), ExemptPrefixes: d.Exempt}
}

// defaultZones is dns.zones with its defaults.
var defaultZones = ZonesConfig{MaxRecords: dnsserver.DefaultMaxZoneRecords, MaxFileSize: dnsserver.DefaultMaxZoneFileSize,
	MaxGenerate: dnsserver.DefaultMaxGenerate, MaxGenerateTotal: dnsserver.DefaultMaxGenerateTotal}
