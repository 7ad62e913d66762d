package config

import (
	"math"
	"strings"
	"time"

	"github.com/aya-gslb/aya/dnssec"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/proxy"
	"github.com/spf13/pflag"
)

// key describes one leaf setting: where it lives in the file, its flag, its
// default and the Config field it fills.
type key struct {
	name string // dotted path in the file, e.g. "dns.tcp.idle_timeout"
	flag string // long flag name registered by AddFlags; "" if none
	def  any    // default; the zero value for required keys
	// min and max bound an int key, inclusive.
	min, max int
	// fileOnly marks a list of structured items (regions, pools): it has
	// no variable and no flag, bypasses viper, and is decoded from its YAML
	// nodes (see steering.go) so that every item keeps its line.
	fileOnly bool
	// field returns a pointer to the Config field: *string, *int, *int64,
	// *float64, *bool, *time.Duration, *[]string, *[]byte or
	// *[]netip.Prefix, or for a fileOnly key *[]RegionConfig,
	// *[]PoolConfig, *[]proxy.Listener, *[]proxy.Route or *[]proxy.Pool.
	// The pointer type chooses the decoding.
	field func(c *Config) any
}

// keys returns the key table in file order. Every key can be set in the
// file; every key but the fileOnly ones also by its environment variable
// (envName) and, if it has one, its flag. It is a function, not a package
// variable, so nothing can change it.
func keys() []key {
	pd := proxy.Config{}.WithDefaults()
	rrl := dnsserver.DefaultRRL()
	return []key{
		{name: "node.id", flag: "node-id", def: "",
			field: func(c *Config) any { return &c.Node.ID }},
		{name: "dns.listen", flag: "listen", def: []string{},
			field: func(c *Config) any { return &c.DNS.Listen }},
		{name: "dns.zones_dir", flag: "zones-dir", def: "",
			field: func(c *Config) any { return &c.DNS.ZonesDir }},
		{name: "dns.max_udp_size", def: dnsserver.DefaultMaxUDPSize, min: 512, max: 65535,
			field: func(c *Config) any { return &c.DNS.MaxUDPSize }},
		{name: "dns.nsid", def: "",
			field: func(c *Config) any { return &c.DNS.NSID }},
		{name: "dns.udp_sockets", def: 0, min: 0, max: 256,
			field: func(c *Config) any { return &c.DNS.UDPSockets }},
		{name: "dns.tcp.idle_timeout", def: dnsserver.DefaultTCPIdleTimeout,
			field: func(c *Config) any { return &c.DNS.TCP.IdleTimeout }},
		{name: "dns.tcp.max_connections", def: dnsserver.DefaultTCPMaxConnections, min: 1, max: math.MaxInt,
			field: func(c *Config) any { return &c.DNS.TCP.MaxConnections }},
		{name: "dns.tcp.max_connections_per_client", def: dnsserver.DefaultTCPMaxConnectionsPerClient, min: 1, max: math.MaxInt,
			field: func(c *Config) any { return &c.DNS.TCP.MaxConnectionsPerClient }},
		{name: "dns.tcp.max_queries", def: dnsserver.DefaultTCPMaxQueries, min: 1, max: math.MaxInt,
			field: func(c *Config) any { return &c.DNS.TCP.MaxQueries }},
		{name: "dns.tcp.max_lifetime", def: dnsserver.DefaultTCPMaxLifetime,
			field: func(c *Config) any { return &c.DNS.TCP.MaxLifetime }},
		{name: "dns.tcp.min_idle_timeout", def: dnsserver.DefaultTCPMinIdleTimeout,
			field: func(c *Config) any { return &c.DNS.TCP.MinIdleTimeout }},
		{name: "dns.transfer.allow", def: []string{},
			field: func(c *Config) any { return &c.DNS.Transfer.Allow }},
		{name: "dns.notify", def: []string{},
			field: func(c *Config) any { return &c.DNS.Notify }},
		{name: "dns.zones.max_records", def: dnsserver.DefaultMaxZoneRecords, min: 1, max: math.MaxInt32,
			field: func(c *Config) any { return &c.DNS.Zones.MaxRecords }},
		{name: "dns.zones.max_file_size", def: int64(dnsserver.DefaultMaxZoneFileSize), min: 1, max: math.MaxInt,
			field: func(c *Config) any { return &c.DNS.Zones.MaxFileSize }},
		{name: "dns.zones.max_generate", def: dnsserver.DefaultMaxGenerate, min: 1, max: dnsserver.DefaultMaxGenerate,
			field: func(c *Config) any { return &c.DNS.Zones.MaxGenerate }},
		{name: "dns.zones.max_generate_total", def: dnsserver.DefaultMaxGenerateTotal, min: 1, max: math.MaxInt32,
			field: func(c *Config) any { return &c.DNS.Zones.MaxGenerateTotal }},
		{name: "dns.why_clients", def: prefixTexts(dnsserver.DefaultWhyClients()),
			field: func(c *Config) any { return &c.DNS.WhyClients }},
		{name: "dns.rrl.enabled", def: rrl.Enabled,
			field: func(c *Config) any { return &c.DNS.RRL.Enabled }},
		{name: "dns.rrl.responses_per_second", def: rrl.ResponsesPerSecond, min: 1, max: dnsserver.MaxRRLResponsesPerSecond,
			field: func(c *Config) any { return &c.DNS.RRL.ResponsesPerSecond }},
		{name: "dns.rrl.window", def: rrl.Window,
			field: func(c *Config) any { return &c.DNS.RRL.Window }},
		{name: "dns.rrl.slip", def: rrl.Slip, min: 0, max: dnsserver.MaxRRLSlip,
			field: func(c *Config) any { return &c.DNS.RRL.Slip }},
		{name: "dns.rrl.ipv4_prefix", def: rrl.IPv4Prefix, min: 8, max: 32,
			field: func(c *Config) any { return &c.DNS.RRL.IPv4Prefix }},
		{name: "dns.rrl.ipv6_prefix", def: rrl.IPv6Prefix, min: 16, max: 128,
			field: func(c *Config) any { return &c.DNS.RRL.IPv6Prefix }},
		{name: "dns.rrl.exempt", def: prefixTexts(rrl.Exempt),
			field: func(c *Config) any { return &c.DNS.RRL.Exempt }},
		{name: "dns.rrl.log_only", def: rrl.LogOnly,
			field: func(c *Config) any { return &c.DNS.RRL.LogOnly }},
		{name: "dns.rrl.table_size", def: rrl.TableSize, min: dnsserver.MinRRLTableSize, max: dnsserver.MaxRRLTableSize,
			field: func(c *Config) any { return &c.DNS.RRL.TableSize }},
		{name: "dns.cookies.enabled", def: true,
			field: func(c *Config) any { return &c.DNS.Cookies.Enabled }},
		{name: "admin.listen", flag: "admin-listen", def: "",
			field: func(c *Config) any { return &c.Admin.Listen }},
		{name: "admin.token", def: "",
			field: func(c *Config) any { return &c.Admin.Token }},
		{name: "admin.insecure", def: false,
			field: func(c *Config) any { return &c.Admin.Insecure }},
		{name: "log.level", flag: "log-level", def: "info",
			field: func(c *Config) any { return &c.Log.Level }},
		{name: "log.format", def: "text",
			field: func(c *Config) any { return &c.Log.Format }},
		{name: "geo.database", flag: "geo-database", def: "",
			field: func(c *Config) any { return &c.Geo.Database }},
		{name: "geo.overrides", def: "",
			field: func(c *Config) any { return &c.Geo.Overrides }},
		{name: "geo.max_file_bytes", def: int64(geo.DefaultMaxFileBytes), min: 1, max: math.MaxInt,
			field: func(c *Config) any { return &c.Geo.MaxFileBytes }},
		{name: "ecs.max_prefix_v4", def: policy.DefaultMaxPrefixV4, min: 0, max: 32,
			field: func(c *Config) any { return &c.ECS.MaxPrefixV4 }},
		{name: "ecs.max_prefix_v6", def: policy.DefaultMaxPrefixV6, min: 0, max: 128,
			field: func(c *Config) any { return &c.ECS.MaxPrefixV6 }},
		{name: "ecs.trusted_resolvers", def: []string{},
			field: func(c *Config) any { return &c.ECS.TrustedResolvers }},
		{name: "cluster.bind", flag: "raft-bind", def: "127.0.0.1:7300",
			field: func(c *Config) any { return &c.Cluster.Bind }},
		{name: "cluster.advertise", def: "",
			field: func(c *Config) any { return &c.Cluster.Advertise }},
		{name: "cluster.data_dir", flag: "data-dir", def: "data",
			field: func(c *Config) any { return &c.Cluster.DataDir }},
		{name: "cluster.bootstrap", flag: "bootstrap", def: false,
			field: func(c *Config) any { return &c.Cluster.Bootstrap }},
		{name: "cluster.voter", def: true,
			field: func(c *Config) any { return &c.Cluster.Voter }},
		{name: "cluster.join", flag: "join", def: []string{},
			field: func(c *Config) any { return &c.Cluster.Join }},
		{name: "cluster.fresh_for", def: cluster.DefaultFreshFor,
			field: func(c *Config) any { return &c.Cluster.FreshFor }},
		{name: "cluster.report_interval", def: probes.DefaultRefresh,
			field: func(c *Config) any { return &c.Cluster.ReportInterval }},
		{name: "cluster.heartbeat_timeout", def: cluster.DefaultHeartbeatTimeout,
			field: func(c *Config) any { return &c.Cluster.HeartbeatTimeout }},
		{name: "cluster.election_timeout", def: cluster.DefaultElectionTimeout,
			field: func(c *Config) any { return &c.Cluster.ElectionTimeout }},
		{name: "cluster.leader_lease_timeout", def: cluster.DefaultLeaderLeaseTimeout,
			field: func(c *Config) any { return &c.Cluster.LeaderLeaseTimeout }},
		{name: "cluster.snapshot_threshold", def: cluster.DefaultSnapshotThreshold, min: 1, max: math.MaxInt,
			field: func(c *Config) any { return &c.Cluster.SnapshotThreshold }},
		{name: "cluster.snapshot_interval", def: cluster.DefaultSnapshotInterval,
			field: func(c *Config) any { return &c.Cluster.SnapshotInterval }},
		{name: "cluster.shed.high_water", def: cluster.DefaultHighWater,
			field: func(c *Config) any { return &c.Cluster.Shed.HighWater }},
		{name: "cluster.shed.low_water", def: cluster.DefaultLowWater,
			field: func(c *Config) any { return &c.Cluster.Shed.LowWater }},
		{name: "cluster.shed.max_fraction", def: cluster.DefaultMaxShed,
			field: func(c *Config) any { return &c.Cluster.Shed.MaxFraction }},
		{name: "cluster.shed.step", def: cluster.DefaultShedStep,
			field: func(c *Config) any { return &c.Cluster.Shed.Step }},
		{name: "cluster.tls.cert_file", def: "",
			field: func(c *Config) any { return &c.Cluster.TLS.CertFile }},
		{name: "cluster.tls.key_file", def: "",
			field: func(c *Config) any { return &c.Cluster.TLS.KeyFile }},
		{name: "cluster.tls.ca_file", def: "",
			field: func(c *Config) any { return &c.Cluster.TLS.CAFile }},
		{name: "cluster.secret", def: "",
			field: func(c *Config) any { return &c.Cluster.Secret }},
		{name: "cluster.secret_file", def: "",
			field: func(c *Config) any { return &c.Cluster.SecretFile }},
		{name: "release.watch", def: false,
			field: func(c *Config) any { return &c.Release.Watch }},
		{name: "dnssec.validity", def: dnssec.DefaultValidity,
			field: func(c *Config) any { return &c.DNSSEC.Validity }},
		{name: "dnssec.refresh", def: dnssec.DefaultRefresh,
			field: func(c *Config) any { return &c.DNSSEC.Refresh }},
		{name: "dnssec.jitter", def: dnssec.DefaultJitter,
			field: func(c *Config) any { return &c.DNSSEC.Jitter }},
		{name: "dnssec.inception_offset", def: dnssec.DefaultInceptionOffset,
			field: func(c *Config) any { return &c.DNSSEC.InceptionOffset }},
		{name: "dnssec.max_answer_sets", def: dnssec.DefaultMaxAnswerSets, min: 1, max: math.MaxInt32,
			field: func(c *Config) any { return &c.DNSSEC.MaxAnswerSets }},
		{name: "dnssec.propagation", def: dnssec.DefaultPropagation,
			field: func(c *Config) any { return &c.DNSSEC.Propagation }},
		{name: "dnssec.ds_ttl", def: dnssec.DefaultDSTTL,
			field: func(c *Config) any { return &c.DNSSEC.DSTTL }},
		{name: "dnssec.parent_delay", def: dnssec.DefaultParentDelay,
			field: func(c *Config) any { return &c.DNSSEC.ParentDelay }},
		{name: "dnssec.zsk_lifetime", def: dnssec.DefaultZSKLifetime,
			field: func(c *Config) any { return &c.DNSSEC.ZSKLifetime }},
		{name: "dnssec.ksk_lifetime", def: time.Duration(0),
			field: func(c *Config) any { return &c.DNSSEC.KSKLifetime }},
		{name: "dnssec.algorithm", def: dnssec.DefaultAlgorithm,
			field: func(c *Config) any { return &c.DNSSEC.Algorithm }},
		{name: "dnssec.keys_dir", def: dnssec.DefaultKeysDir,
			field: func(c *Config) any { return &c.DNSSEC.KeysDir }},
		// regions before pools: pools are checked against the regions.
		{name: "regions", fileOnly: true,
			field: func(c *Config) any { return &c.Regions }},
		{name: "pools", fileOnly: true,
			field: func(c *Config) any { return &c.Pools }},
		// The proxy section's keys are read only when the file has the
		// section; Parse allocates Config.Proxy first (see isProxyKey).
		// The role's keys come first, then the engine's, whose defaults
		// are the proxy package's and whose rules its Validate checks
		// (hence the unbounded integers here).
		{name: "proxy.region", def: "",
			field: func(c *Config) any { return &c.Proxy.Region }},
		{name: "proxy.report_to", def: []string{},
			field: func(c *Config) any { return &c.Proxy.ReportTo }},
		{name: "proxy.report_interval", def: 2 * time.Second,
			field: func(c *Config) any { return &c.Proxy.ReportInterval }},
		{name: "proxy.sticky_secret_file", def: "",
			field: func(c *Config) any { return &c.Proxy.StickySecretFile }},
		{name: "proxy.access_log", def: false,
			field: func(c *Config) any { return &c.Proxy.AccessLog }},
		{name: "proxy.listeners", fileOnly: true,
			field: func(c *Config) any { return &c.Proxy.Listeners }},
		{name: "proxy.routes", fileOnly: true,
			field: func(c *Config) any { return &c.Proxy.Routes }},
		{name: "proxy.pools", fileOnly: true,
			field: func(c *Config) any { return &c.Proxy.Pools }},
		{name: "proxy.trusted_proxies", def: []string{},
			field: func(c *Config) any { return &c.Proxy.TrustedProxies }},
		{name: "proxy.limits.max_header_bytes", def: pd.Limits.MaxHeaderBytes, min: math.MinInt, max: math.MaxInt,
			field: func(c *Config) any { return &c.Proxy.Limits.MaxHeaderBytes }},
		{name: "proxy.limits.max_body_bytes", def: pd.Limits.MaxBodyBytes, min: math.MinInt, max: math.MaxInt,
			field: func(c *Config) any { return &c.Proxy.Limits.MaxBodyBytes }},
		{name: "proxy.limits.read_header_timeout", def: pd.Limits.ReadHeaderTimeout,
			field: func(c *Config) any { return &c.Proxy.Limits.ReadHeaderTimeout }},
		{name: "proxy.limits.idle_timeout", def: pd.Limits.IdleTimeout,
			field: func(c *Config) any { return &c.Proxy.Limits.IdleTimeout }},
		{name: "proxy.limits.max_conns", def: pd.Limits.MaxConns, min: math.MinInt, max: math.MaxInt,
			field: func(c *Config) any { return &c.Proxy.Limits.MaxConns }},
		{name: "proxy.limits.max_conns_per_client", def: pd.Limits.MaxConnsPerClient, min: math.MinInt, max: math.MaxInt,
			field: func(c *Config) any { return &c.Proxy.Limits.MaxConnsPerClient }},
		{name: "proxy.limits.max_headers", def: pd.Limits.MaxHeaders, min: math.MinInt, max: math.MaxInt,
			field: func(c *Config) any { return &c.Proxy.Limits.MaxHeaders }},
		{name: "proxy.limits.body_timeout", def: pd.Limits.BodyTimeout,
			field: func(c *Config) any { return &c.Proxy.Limits.BodyTimeout }},
		{name: "proxy.limits.min_upload_rate", def: pd.Limits.MinUploadRate, min: math.MinInt, max: math.MaxInt,
			field: func(c *Config) any { return &c.Proxy.Limits.MinUploadRate }},
		{name: "proxy.limits.min_upload_rate_grace", def: pd.Limits.MinUploadRateGrace,
			field: func(c *Config) any { return &c.Proxy.Limits.MinUploadRateGrace }},
		{name: "proxy.limits.buffer_body_bytes", def: pd.Limits.BufferBodyBytes, min: math.MinInt, max: math.MaxInt,
			field: func(c *Config) any { return &c.Proxy.Limits.BufferBodyBytes }},
		{name: "proxy.rate_limit.rate", def: pd.RateLimit.Rate,
			field: func(c *Config) any { return &c.Proxy.RateLimit.Rate }},
		{name: "proxy.rate_limit.burst", def: pd.RateLimit.Burst, min: math.MinInt, max: math.MaxInt,
			field: func(c *Config) any { return &c.Proxy.RateLimit.Burst }},
		{name: "proxy.sticky_secret", def: "",
			field: func(c *Config) any { return &c.Proxy.StickySecret }},
		{name: "proxy.drain_timeout", def: pd.DrainTimeout,
			field: func(c *Config) any { return &c.Proxy.DrainTimeout }},
		{name: "proxy.capacity", def: pd.Capacity, min: math.MinInt, max: math.MaxInt,
			field: func(c *Config) any { return &c.Proxy.Capacity }},
	}
}

// envName is the environment variable for a key: AYA_ and the key in upper
// case with "." replaced by "_" (dns.tcp.idle_timeout ->
// AYA_DNS_TCP_IDLE_TIMEOUT).
func envName(key string) string {
	return "AYA_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// AddFlags registers the flags that override the file and the environment:
//
//	--listen        dns.listen (repeat it or separate addresses with commas)
//	--zones-dir     dns.zones_dir
//	--admin-listen  admin.listen (--admin-listen= disables the admin server)
//	--log-level     log.level
//	--node-id       node.id
//	--geo-database  geo.database (--geo-database= turns the database off)
//	--raft-bind     cluster.bind
//	--data-dir      cluster.data_dir
//	--bootstrap     cluster.bootstrap (--bootstrap=false to turn it off)
//	--join          cluster.join (repeat it or separate addresses with commas)
//
// The flags have no defaults of their own: only a flag the user actually
// set overrides anything. Pass the same FlagSet to Load or Parse. Calling
// AddFlags twice on one FlagSet panics, as pflag does for any redefinition.
func AddFlags(fs *pflag.FlagSet) {
	fs.StringSlice("listen", nil, "DNS listen address host:port, UDP and TCP; repeatable or comma-separated (dns.listen)")
	fs.String("zones-dir", "", "directory of zone files (dns.zones_dir)")
	fs.String("admin-listen", "", `admin HTTP listen address host:port; "" disables it (admin.listen)`)
	fs.String("log-level", "", "log level: debug, info, warn or error (log.level)")
	fs.String("node-id", "", "name of this node (node.id)")
	fs.String("geo-database", "", `geo database: a MaxMind .mmdb, or a .yaml/.yml/.csv source compiled at start; "" for none (geo.database)`)
	fs.String("raft-bind", "", "Raft TCP transport address host:port (cluster.bind)")
	fs.String("data-dir", "", "directory of the Raft log, stable store and snapshots (cluster.data_dir)")
	fs.Bool("bootstrap", false, "bootstrap a single-node cluster when the data directory holds no Raft state (cluster.bootstrap)")
	fs.StringSlice("join", nil, "admin API address host:port of an existing member to join through; repeatable or comma-separated (cluster.join)")
}
