package config

import (
	"cmp"
	"log/slog"
	"net/netip"
	"strconv"
	"time"

	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/probes"
)

// Config is the whole validated configuration of one AYA node. Load and
// Parse return it with defaults applied, dns.zones_dir, geo.database,
// geo.overrides, cluster.data_dir, the cluster.tls files and the checks'
// tls_ca_file resolved, addresses and prefixes parsed, and country and
// continent codes in upper case; it is not modified afterwards.
//
// The mapstructure tags name each field's key; a test keeps them in step
// with the key table that Load actually uses.
type Config struct {
	// File is the path the configuration was read from; "" for the embedded
	// default.
	File string `mapstructure:"-"`
	// where records where each key's value came from, for KeyError.
	where map[string]Error `mapstructure:"-"`

	Node  NodeConfig  `mapstructure:"node"`
	DNS   DNSConfig   `mapstructure:"dns"`
	Admin AdminConfig `mapstructure:"admin"`
	Log   LogConfig   `mapstructure:"log"`
	Geo   GeoConfig   `mapstructure:"geo"`
	ECS   ECSConfig   `mapstructure:"ecs"`

	Cluster ClusterConfig `mapstructure:"cluster"`

	Release ReleaseConfig `mapstructure:"release"`

	// DNSSEC is the signer's settings (the dnssec section; docs/dnssec.md).
	DNSSEC dnssec.Config `mapstructure:"dnssec"`

	// Regions lists the places that serve traffic (regions), in file order,
	// which breaks ties. Names are unique. File only.
	Regions []RegionConfig `mapstructure:"regions"`

	// Pools lists the named sets of regions that zone files bind GSLB names
	// to (pools), in file order. Names are unique; every region a pool
	// refers to is in Regions. File only.
	Pools []PoolConfig `mapstructure:"pools"`

	// Proxy configures the in-region HTTP proxy (the proxy section): `aya
	// proxy` (LoadProxy) requires it, `aya serve` (Load) runs the proxy
	// as a role when the file has it. nil when the file has no proxy
	// section, or a null one; its variables (AYA_PROXY_*) alone never
	// make one.
	Proxy *ProxyConfig `mapstructure:"proxy"`
}

// NodeConfig identifies this node.
type NodeConfig struct {
	// ID names this site (node.id). Required, at most 128 bytes. It is also
	// the NSID when dns.nsid is empty.
	ID string `mapstructure:"id"`
}

// DNSConfig configures the DNS listeners (the dns section).
type DNSConfig struct {
	// Listen lists the host:port addresses served over both UDP and TCP
	// (dns.listen). At least one; host is an IP literal or "localhost";
	// port 0 picks a free port; no duplicates.
	Listen []string `mapstructure:"listen"`

	// ZonesDir is the directory of zone files (dns.zones_dir). Required.
	// Load stores it resolved: a relative path from the file is joined to
	// the config file's directory, one from the environment, a flag or the
	// embedded default is relative to the working directory. The result is
	// cleaned and stays relative when both parts were relative.
	ZonesDir string `mapstructure:"zones_dir"`

	// MaxUDPSize is the largest UDP response sent to EDNS clients in bytes
	// (dns.max_udp_size), 512-65535, default 1232.
	MaxUDPSize int `mapstructure:"max_udp_size"`

	// NSID is returned to clients that ask for it (dns.nsid, RFC 5001); at
	// most 128 bytes; "" means Node.ID.
	NSID string `mapstructure:"nsid"`

	// UDPSockets is the number of SO_REUSEPORT sockets per UDP address
	// (dns.udp_sockets), 0-256; 0, the default, means GOMAXPROCS.
	UDPSockets int `mapstructure:"udp_sockets"`

	TCP      TCPConfig      `mapstructure:"tcp"`
	Transfer TransferConfig `mapstructure:"transfer"`

	// Notify lists the secondaries sent a NOTIFY (RFC 1996) when a release
	// adds a zone or changes its serial, as ip:port or a bare IP address
	// (port 53), as written (dns.notify). Empty, the default, sends none.
	Notify []string `mapstructure:"notify"`

	// NotifyAddrs is Notify parsed (dnsserver.ParseNotifyTarget), in the
	// same order.
	NotifyAddrs []netip.AddrPort `mapstructure:"-"`

	Zones ZonesConfig `mapstructure:"zones"`

	// WhyClients lists the clients whose TXT queries for "_why." + a name
	// are answered with why the name gets its answer, as CIDR prefixes or
	// bare IP addresses, as written (dns.why_clients). The default is
	// dnsserver.DefaultWhyClients (loopback); empty allows no one.
	WhyClients []string `mapstructure:"why_clients"`

	// WhyPrefixes is WhyClients parsed, in the same order; non-nil once
	// loaded, so that an empty list stays empty (dnsserver.Config reads
	// nil as its default).
	WhyPrefixes []netip.Prefix `mapstructure:"-"`

	RRL     RRLConfig     `mapstructure:"rrl"`
	Cookies CookiesConfig `mapstructure:"cookies"`
}

// RRLConfig configures response rate limiting of UDP replies (dns.rrl); the
// defaults are dnsserver.DefaultRRL's.
type RRLConfig struct {
	// Enabled turns it on (dns.rrl.enabled, default true).
	Enabled bool `mapstructure:"enabled"`
	// ResponsesPerSecond is the rate per client prefix and response class
	// (dns.rrl.responses_per_second), 1-1000000, default 200.
	ResponsesPerSecond int `mapstructure:"responses_per_second"`
	// Window is how long credit and debt last (dns.rrl.window), whole
	// seconds from 1s to 1h, default 15s.
	Window time.Duration `mapstructure:"window"`
	// Slip sends every Slip-th limited response as a small truncated reply
	// (dns.rrl.slip), 0 (drop all) to 10, default 2.
	Slip int `mapstructure:"slip"`
	// IPv4Prefix and IPv6Prefix are the client prefix lengths
	// (dns.rrl.ipv4_prefix 8-32, default 24; dns.rrl.ipv6_prefix 16-128,
	// default 56).
	IPv4Prefix int `mapstructure:"ipv4_prefix"`
	IPv6Prefix int `mapstructure:"ipv6_prefix"`
	// Exempt lists clients never limited, as CIDR prefixes or addresses
	// (dns.rrl.exempt); ExemptPrefixes is it parsed.
	Exempt         []string       `mapstructure:"exempt"`
	ExemptPrefixes []netip.Prefix `mapstructure:"-"`
	// LogOnly logs and counts what would be limited, and sends everything
	// (dns.rrl.log_only).
	LogOnly bool `mapstructure:"log_only"`
	// TableSize is the number of 8-byte accounts (dns.rrl.table_size),
	// rounded up to a power of two, 2-67108864, default 524288.
	TableSize int `mapstructure:"table_size"`
}

// CookiesConfig configures DNS cookies (dns.cookies).
type CookiesConfig struct {
	// Enabled turns them on (dns.cookies.enabled, default true).
	Enabled bool `mapstructure:"enabled"`
}

// TCPConfig configures DNS over TCP (dns.tcp).
type TCPConfig struct {
	// IdleTimeout closes a connection idle this long (dns.tcp.idle_timeout),
	// greater than 0, default 10s.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`

	// MaxConnections caps concurrent connections per listen address
	// (dns.tcp.max_connections), at least 1, default 1024.
	MaxConnections int `mapstructure:"max_connections"`

	// MaxConnectionsPerClient caps the concurrent connections of one client
	// address per listen address (dns.tcp.max_connections_per_client), at
	// least 1 (above MaxConnections means MaxConnections), default 16.
	MaxConnectionsPerClient int `mapstructure:"max_connections_per_client"`

	// MaxQueries closes a connection after this many queries
	// (dns.tcp.max_queries), at least 1, default 10000.
	MaxQueries int `mapstructure:"max_queries"`

	// MaxLifetime closes a connection open this long, after the reply
	// being written (dns.tcp.max_lifetime), greater than 0, default 2m.
	MaxLifetime time.Duration `mapstructure:"max_lifetime"`

	// MinIdleTimeout is the idle timeout with every connection slot taken
	// (dns.tcp.min_idle_timeout), greater than 0 (above IdleTimeout means
	// IdleTimeout), default 500ms.
	MinIdleTimeout time.Duration `mapstructure:"min_idle_timeout"`
}

// ZonesConfig bounds what one zone file with its $INCLUDEs may make
// (dns.zones; dnsserver.ZoneLimits). A zone over a bound is refused at the
// line that passes it, and its previous version keeps serving.
type ZonesConfig struct {
	// MaxRecords is the most records of a zone, and of all the zones of a
	// release together (dns.zones.max_records), default 2,000,000.
	MaxRecords int `mapstructure:"max_records"`
	// MaxFileSize is the most bytes of a zone file with the files it
	// includes (dns.zones.max_file_size), default 64 MiB.
	MaxFileSize int64 `mapstructure:"max_file_size"`
	// MaxGenerate is the most records one $GENERATE line may make
	// (dns.zones.max_generate), 1-65536, default 65536.
	MaxGenerate int `mapstructure:"max_generate"`
	// MaxGenerateTotal is the most records the $GENERATE lines of a zone
	// make together (dns.zones.max_generate_total), default 262144.
	MaxGenerateTotal int `mapstructure:"max_generate_total"`
}

// Limits is z as the DNS server's zone limits.
func (z ZonesConfig) Limits() dnsserver.ZoneLimits {
	return dnsserver.ZoneLimits{MaxRecords: z.MaxRecords, MaxFileSize: z.MaxFileSize,
		MaxGenerate: z.MaxGenerate, MaxGenerateTotal: z.MaxGenerateTotal}
}

// TransferConfig configures zone transfers (dns.transfer).
type TransferConfig struct {
	// Allow lists the clients allowed AXFR/IXFR as CIDR prefixes or bare IP
	// addresses, as written (dns.transfer.allow). Empty refuses everyone.
	Allow []string `mapstructure:"allow"`

	// AllowPrefixes is Allow parsed, in the same order; a bare address is a
	// /32 or /128 prefix.
	AllowPrefixes []netip.Prefix `mapstructure:"-"`
}

// AdminConfig configures the admin HTTP server (the admin section).
type AdminConfig struct {
	// Listen is the host:port of the admin server (admin.listen); ""
	// (the default) disables it.
	Listen string `mapstructure:"listen"`

	// Token is the bearer token the admin API's write endpoints (POST)
	// require (admin.token); "" (the default) requires none. Prefer setting
	// it with the environment variable AYA_ADMIN_TOKEN over the file. No
	// spaces or control characters.
	Token string `mapstructure:"token"`

	// Insecure allows an admin.listen off loopback without a token or
	// cluster.tls (admin.insecure), default false: without either, whoever
	// reaches the address can write. For a network only operators reach.
	Insecure bool `mapstructure:"insecure"`
}

// LogConfig configures logging (the log section).
type LogConfig struct {
	// Level is debug, info, warn or error (log.level), default info; Load
	// stores it lower-case.
	Level string `mapstructure:"level"`

	// Format is text or json (log.format), default text; Load stores it
	// lower-case.
	Format string `mapstructure:"format"`
}

// GeoConfig says where client locations come from (the geo section). The
// paths are resolved like DNS.ZonesDir; config does not open them.
type GeoConfig struct {
	// Database is a MaxMind City or Country .mmdb file, or a small source
	// file (.yaml, .yml or .csv) compiled in memory at start (geo.database).
	// "" (the default): no database.
	Database string `mapstructure:"database"`

	// Overrides is an optional YAML file of CIDR → location or region
	// overrides (geo.overrides); "" (the default) means none.
	Overrides string `mapstructure:"overrides"`

	// MaxFileBytes caps the size of each of the two files
	// (geo.max_file_bytes), default geo.DefaultMaxFileBytes (512 MiB); a
	// larger file, or one that is not a regular file, is refused.
	MaxFileBytes int64 `mapstructure:"max_file_bytes"`
}

// ECSConfig configures the EDNS Client Subnet option, RFC 7871 (the ecs
// section).
type ECSConfig struct {
	// MaxPrefixV4 truncates IPv4 ECS source prefixes to at most this many
	// bits (ecs.max_prefix_v4), 0-32, default 24.
	MaxPrefixV4 int `mapstructure:"max_prefix_v4"`

	// MaxPrefixV6 is the same for IPv6 (ecs.max_prefix_v6), 0-128, default 56.
	MaxPrefixV6 int `mapstructure:"max_prefix_v6"`

	// TrustedResolvers lists, as written, the resolvers whose ECS option is
	// used, as CIDR prefixes or bare IP addresses (ecs.trusted_resolvers).
	// Empty (the default) uses ECS from everyone; otherwise the ECS option
	// of any other client is ignored and its source address used.
	TrustedResolvers []string `mapstructure:"trusted_resolvers"`

	// TrustedPrefixes is TrustedResolvers parsed, in the same order; a bare
	// address is a /32 or /128 prefix.
	TrustedPrefixes []netip.Prefix `mapstructure:"-"`
}

// ClusterConfig configures this node's membership of the Raft cluster that
// replicates releases, health reports and drains (the cluster section).
// The settings that shape decisions (FreshFor, ReportInterval, Shed, and
// the pools with their checks and MinEndpoints) travel in the release (see
// ReleaseText): a site answers by the release's, not by its own file's.
type ClusterConfig struct {
	// Bind is the host:port of the Raft TCP transport (cluster.bind),
	// default 127.0.0.1:7300; checked like a dns.listen item, and must not
	// overlap dns.listen or admin.listen. Port 0 picks a free port.
	Bind string `mapstructure:"bind"`

	// Advertise is the host:port other nodes dial (cluster.advertise); ""
	// (the default) means the bound address. Host is an IP literal or
	// "localhost", not an unspecified address; port 1-65535.
	Advertise string `mapstructure:"advertise"`

	// DataDir holds the Raft log, stable store and snapshots
	// (cluster.data_dir), default "data"; required. Resolved like
	// DNS.ZonesDir.
	DataDir string `mapstructure:"data_dir"`

	// Bootstrap makes the node bootstrap a single-node cluster of itself
	// when DataDir holds no Raft state (cluster.bootstrap), default false;
	// ignored once state exists.
	Bootstrap bool `mapstructure:"bootstrap"`

	// Voter is whether the node is a voting member (cluster.voter), default
	// true. A non-voter is an edge site that only serves DNS; it does not
	// probe.
	Voter bool `mapstructure:"voter"`

	// Join lists the admin API addresses (host:port) of existing members
	// (cluster.join), default empty: at start, a node with no Raft state
	// asks them to add it. Host is an IP literal or a DNS name, not an
	// unspecified address; port 1-65535; no duplicates.
	Join []string `mapstructure:"join"`

	// FreshFor is how long a site's report counts after its leader-stamped
	// time (cluster.fresh_for), greater than 0, default 30s.
	FreshFor time.Duration `mapstructure:"fresh_for"`

	// ReportInterval is how often each site re-reports every probed state
	// (cluster.report_interval), greater than 0 and less than FreshFor,
	// default 10s.
	ReportInterval time.Duration `mapstructure:"report_interval"`

	// HeartbeatTimeout (cluster.heartbeat_timeout, default 1s),
	// ElectionTimeout (cluster.election_timeout, default 1s, at least
	// HeartbeatTimeout) and LeaderLeaseTimeout
	// (cluster.leader_lease_timeout, default 500ms, at most
	// HeartbeatTimeout) are Raft's timings; each at least 5ms, Raft's
	// minimum.
	HeartbeatTimeout   time.Duration `mapstructure:"heartbeat_timeout"`
	ElectionTimeout    time.Duration `mapstructure:"election_timeout"`
	LeaderLeaseTimeout time.Duration `mapstructure:"leader_lease_timeout"`

	// SnapshotThreshold is the number of log entries since the last
	// snapshot that triggers a new one (cluster.snapshot_threshold), at
	// least 1, default 8192, checked every SnapshotInterval
	// (cluster.snapshot_interval, at least 5ms, default 2m).
	SnapshotThreshold int           `mapstructure:"snapshot_threshold"`
	SnapshotInterval  time.Duration `mapstructure:"snapshot_interval"`

	Shed ShedConfig `mapstructure:"shed"`

	TLS ClusterTLSConfig `mapstructure:"tls"`

	// Secret authenticates and encrypts the Raft transport instead of the
	// TLS files: cluster.secret (best set by the variable
	// AYA_CLUSTER_SECRET), or the content of SecretFile. One or more
	// secrets separated by white space, the current one first and those
	// still accepted during a rotation after it; each the base64 of at
	// least 32 random bytes (`aya cluster secret`). "" when neither is set;
	// not together with TLS. Never printed.
	Secret string `mapstructure:"secret"`

	// SecretFile is the file the secret was read from
	// (cluster.secret_file), resolved like GeoConfig.Database; "" (the
	// default) for none. Load reads it; it must not be set together with
	// cluster.secret.
	SecretFile string `mapstructure:"secret_file"`

	// Secrets is Secret decoded, the current one first
	// (mtls.ParseSecrets); nil without a secret.
	Secrets [][]byte `mapstructure:"-"`
}

// ReleaseConfig says where this site's releases come from (the release
// section). It is a site's own setting, never part of a release.
type ReleaseConfig struct {
	// Watch makes this site build a release from its own configuration
	// file (regions, pools, ecs, cluster.fresh_for, cluster.report_interval,
	// cluster.shed) and dns.zones_dir, and apply it to the cluster at
	// start and whenever those files change or on SIGHUP
	// (release.watch), default false: releases then come from `aya
	// apply`, and a cluster with no release at all takes its leader's
	// files as the first one.
	Watch bool `mapstructure:"watch"`
}

// ShedConfig says when a region whose proxies report it loaded sheds a
// share of its clients to the next-best region (cluster.shed). Like
// FreshFor, it travels in the release.
type ShedConfig struct {
	// HighWater is the utilisation (requests in flight over capacity)
	// above which the region sheds clients (cluster.shed.high_water),
	// greater than 0 and at most 1, default 0.8.
	HighWater float64 `mapstructure:"high_water"`

	// LowWater is the utilisation under which the shed share steps back
	// down (cluster.shed.low_water), greater than 0 and at most HighWater,
	// default 0.6. Between the two, the share holds.
	LowWater float64 `mapstructure:"low_water"`

	// MaxFraction caps the share of clients shed (cluster.shed.max_fraction),
	// greater than 0 and at most 0.95, default 0.5.
	MaxFraction float64 `mapstructure:"max_fraction"`

	// Step is how much the share falls at each report under LowWater
	// (cluster.shed.step), greater than 0 and at most 1, default 0.1.
	Step float64 `mapstructure:"step"`
}

// ClusterTLSConfig holds the PEM files for mutual TLS on the Raft transport
// and the admin API (cluster.tls). All three are set or none (plain TCP);
// the paths are resolved like DNS.ZonesDir; config does not open them.
type ClusterTLSConfig struct {
	// CertFile is this node's certificate (cluster.tls.cert_file).
	CertFile string `mapstructure:"cert_file"`

	// KeyFile is its private key (cluster.tls.key_file).
	KeyFile string `mapstructure:"key_file"`

	// CAFile is the CA bundle that peers' and admin clients' certificates
	// must chain to (cluster.tls.ca_file).
	CAFile string `mapstructure:"ca_file"`
}

// RegionConfig is one item of regions: a place that serves traffic.
type RegionConfig struct {
	// Name is lower-case letters, digits and "-"; unique (name).
	Name string `mapstructure:"name"`

	// Latitude, -90 to 90, and Longitude, -180 to 180, in degrees, place the
	// region for distance ranking (latitude, longitude). Required.
	Latitude  float64 `mapstructure:"latitude"`
	Longitude float64 `mapstructure:"longitude"`

	// Country is the ISO 3166-1 alpha-2 code, stored upper-case (country).
	// Required.
	Country string `mapstructure:"country"`

	// Continent is AF, AN, AS, EU, NA, OC or SA, stored upper-case
	// (continent). Required.
	Continent string `mapstructure:"continent"`
}

// PoolConfig is one item of pools: a named set of regions that answers the
// GSLB names bound to it.
type PoolConfig struct {
	// Name is lower-case letters, digits and "-"; unique (name). Zone files
	// refer to the pool by it.
	Name string `mapstructure:"name"`

	// TTL of the answers in seconds (ttl), 0-86400, default 30.
	TTL uint32 `mapstructure:"ttl"`

	// Answers is how many addresses an answer carries (answers), at least
	// 1, default 1.
	Answers int `mapstructure:"answers"`

	// Fallback is what the pool answers when no region is eligible
	// (fallback): "fail_open" (the default), "fallback_addresses" or
	// "servfail"; stored lower-case.
	Fallback string `mapstructure:"fallback"`

	// FallbackAddresses are the addresses answered by the
	// "fallback_addresses" fallback (fallback_addresses), as written;
	// required with it, and checked even when another fallback is chosen.
	FallbackAddresses []string `mapstructure:"fallback_addresses"`

	// FallbackAddrs is FallbackAddresses parsed, in the same order.
	FallbackAddrs []netip.Addr `mapstructure:"-"`

	// CountryMap sends clients of an ISO 3166-1 country (upper-case keys)
	// to a member region, ahead of distance (country_map); nil when empty.
	CountryMap map[string]string `mapstructure:"country_map"`

	// ContinentMap does the same by continent (continent_map); nil when
	// empty. CountryMap wins over it.
	ContinentMap map[string]string `mapstructure:"continent_map"`

	// Fences restrict clients to some of the member regions, for data
	// residency (fences).
	Fences []FenceConfig `mapstructure:"fences"`

	// Members are the pool's regions, in file order, which breaks ties
	// (members). At least one; each region at most once.
	Members []MemberConfig `mapstructure:"members"`

	// Check is the health check that probes the pool's endpoints (check),
	// with the defaults of its kind applied and its tls_ca_file resolved;
	// its schema, defaults and rules are the probes package's. Its port is
	// required unless every endpoint has a check_target. nil: they are not
	// probed and count as up.
	Check *probes.CheckConfig `mapstructure:"check"`
}

// FenceConfig is one item of a pool's fences: clients in Countries or on
// Continents are answered from Regions only.
type FenceConfig struct {
	// Name identifies the fence in explanations (name): lower-case
	// letters, digits and "-", unique within the pool.
	Name string `mapstructure:"name"`

	// Countries and Continents select the clients, as upper-case codes
	// (countries, continents); at least one code in all.
	Countries  []string `mapstructure:"countries"`
	Continents []string `mapstructure:"continents"`

	// Regions are the member regions those clients may get (regions); at
	// least one.
	Regions []string `mapstructure:"regions"`
}

// MemberConfig is one item of a pool's members: a region's part in it.
type MemberConfig struct {
	// Region names an item of Config.Regions (region).
	Region string `mapstructure:"region"`

	// BiasKm is added to the region's distance when ranking (bias_km),
	// -20000 to 20000, default 0: positive makes it look farther.
	BiasKm float64 `mapstructure:"bias_km"`

	// MinEndpoints is how many of the member's endpoints must be up for the
	// region to be up in this pool (min_endpoints), 1 to the number of
	// endpoints, default 1.
	MinEndpoints int `mapstructure:"min_endpoints"`

	// Endpoints are the region's servers in this pool (endpoints); at
	// least one.
	Endpoints []EndpointConfig `mapstructure:"endpoints"`
}

// EndpointConfig is one server of a member region.
type EndpointConfig struct {
	// Name is lower-case letters, digits and "-", unique within the member
	// (name).
	Name string `mapstructure:"name"`

	// Addresses are the server's IPv4 and IPv6 addresses as written
	// (addresses); at least one, none unspecified or multicast.
	Addresses []string `mapstructure:"addresses"`

	// Addrs is Addresses parsed, in the same order.
	Addrs []netip.Addr `mapstructure:"-"`

	// Weight is the endpoint's share of the picks within its region
	// (weight), at least 1, default 1.
	Weight int `mapstructure:"weight"`

	// CheckTarget is the host:port the pool's check probes instead of the
	// endpoint's first address and the check's port (check_target), as
	// written; the host is an IP literal. "" (the default): none. An error
	// when the pool has no check.
	CheckTarget string `mapstructure:"check_target"`

	// CheckAddr is what the check probes: CheckTarget parsed, or the
	// endpoint's first address (the first IPv4 one if it has both
	// families) with the check's port. Invalid (zero) when the pool has no
	// check.
	CheckAddr netip.AddrPort `mapstructure:"-"`
}

// Region returns the region called name.
func (c *Config) Region(name string) (RegionConfig, bool) {
	for _, r := range c.Regions {
		if r.Name == name {
			return r, true
		}
	}
	return RegionConfig{}, false
}

// Pool returns the pool called name.
func (c *Config) Pool(name string) (PoolConfig, bool) {
	for _, p := range c.Pools {
		if p.Name == name {
			return p, true
		}
	}
	return PoolConfig{}, false
}

// PoolNames returns the names of the pools, in order.
func (c *Config) PoolNames() []string {
	out := make([]string, len(c.Pools))
	for i, p := range c.Pools {
		out[i] = p.Name
	}
	return out
}

// RegionNames returns the names of the regions, in order.
func (c *Config) RegionNames() []string {
	out := make([]string, len(c.Regions))
	for i, r := range c.Regions {
		out[i] = r.Name
	}
	return out
}

// SlogLevel returns the slog.Level for Log.Level; anything unrecognised
// (only possible in a Config not made by Load) is slog.LevelInfo.
func (c *Config) SlogLevel() slog.Level {
	switch c.Log.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	default:
		return slog.LevelInfo
	}
}

// Error is one configuration problem. Load and Parse return every problem
// they find as *Error values joined with errors.Join, so each prints on its
// own line:
//
//	aya.yaml:14: dns.max_udp_size: must be between 512 and 65535 (got 100)
//	aya.yaml: dns.zones_dir: required
//	AYA_DNS_LISTEN: dns.listen[0]: port must be a number 0-65535 (got "99999")
//	flag --log-level: log.level: must be one of debug, info, warn, error (got "loud")
//	aya.yaml:3: yaml: mapping values are not allowed in this context
type Error struct {
	// File is the configuration's name: the path given to Load, the name
	// given to Parse, or "aya.yaml" for the embedded default.
	File string
	// Line is the 1-based line in File of the key (or of the list item);
	// 0 when the key is absent from the file or the value came from Origin.
	Line int
	// Key is the dotted key, with [i] for a list item; "" for an error about
	// the file as a whole, such as a YAML syntax error.
	Key string
	// Msg says what is wrong.
	Msg string
	// Origin is set when the value did not come from the file: the
	// environment variable ("AYA_DNS_LISTEN") or the flag ("flag --listen").
	// It is printed instead of File and Line.
	Origin string
}

// KeyError is a problem found after Load with the value of key, such as a
// dns.zones_dir that does not exist, placed as Load places its own: at
// the key's line in the file, or at the flag or environment variable the
// value came from ("aya.yaml:17: dns.zones_dir: …").
func (c *Config) KeyError(key string, err error) *Error {
	e, ok := c.where[key]
	if !ok {
		e = Error{File: cmp.Or(c.File, defaultName), Key: key}
	}
	e.Msg = err.Error()
	return &e
}

// Error implements the error interface.
func (e *Error) Error() string {
	var where string
	switch {
	case e.Origin != "":
		where = e.Origin
	case e.Line > 0:
		where = e.File + ":" + strconv.Itoa(e.Line)
	default:
		where = e.File
	}
	if e.Key == "" {
		return where + ": " + e.Msg
	}
	return where + ": " + e.Key + ": " + e.Msg
}
