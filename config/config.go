package config

import (
	"log/slog"
	"net/netip"
	"strconv"
	"time"
)

// Config is the whole validated configuration of one AYA node. Load and
// Parse return it with defaults applied, dns.zones_dir resolved and
// dns.transfer.allow parsed; it is not modified afterwards.
//
// The mapstructure tags name each field's key; a test keeps them in step
// with the key table that Load actually uses.
type Config struct {
	// File is the path the configuration was read from; "" for the embedded
	// default.
	File string `mapstructure:"-"`

	Node  NodeConfig  `mapstructure:"node"`
	DNS   DNSConfig   `mapstructure:"dns"`
	Admin AdminConfig `mapstructure:"admin"`
	Log   LogConfig   `mapstructure:"log"`
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
}

// TCPConfig configures DNS over TCP (dns.tcp).
type TCPConfig struct {
	// IdleTimeout closes a connection idle this long (dns.tcp.idle_timeout),
	// greater than 0, default 10s.
	IdleTimeout time.Duration `mapstructure:"idle_timeout"`

	// MaxConnections caps concurrent connections per listen address
	// (dns.tcp.max_connections), at least 1, default 1024.
	MaxConnections int `mapstructure:"max_connections"`
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
