package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// maxNSID is the longest NSID we send, in bytes; node.id is the NSID when
// dns.nsid is empty, so it has the same limit.
const maxNSID = 128

// validate checks the decoded values, skipping keys decode already
// reported, and normalises log.level and log.format and parses
// dns.transfer.allow and ecs.trusted_resolvers. Integer ranges are checked
// by decode (toInt); regions and pools are checked as decode reads them
// (steering.go).
func (p *parser) validate(c *Config) {
	check := func(name string) bool { return !p.bad[name] }

	if check("node.id") {
		switch {
		case strings.TrimSpace(c.Node.ID) == "":
			p.errorf("node.id", -1, "required")
		case len(c.Node.ID) > maxNSID:
			p.errorf("node.id", -1, "must be at most %d bytes (got %d)", maxNSID, len(c.Node.ID))
		}
	}

	var dnsAddrs []hostPort // the valid dns.listen addresses, by index
	if check("dns.listen") {
		if len(c.DNS.Listen) == 0 {
			p.errorf("dns.listen", -1, "at least one address required")
		}
		first := make(map[hostPort]int)
		for i, s := range c.DNS.Listen {
			hp, msg := parseHostPort(s)
			if msg != "" {
				p.errorf("dns.listen", i, "%s", msg)
				dnsAddrs = append(dnsAddrs, hostPort{})
				continue
			}
			// Port 0 asks the kernel for a fresh port each time, so it
			// can repeat.
			if j, dup := first[hp]; dup && hp.port != 0 {
				p.errorf("dns.listen", i, "duplicate of dns.listen[%d] (%q)", j, c.DNS.Listen[j])
			} else if !dup {
				first[hp] = i
			}
			dnsAddrs = append(dnsAddrs, hp)
		}
	}

	if check("dns.zones_dir") && strings.TrimSpace(c.DNS.ZonesDir) == "" {
		p.errorf("dns.zones_dir", -1, "required")
	}

	if check("dns.nsid") && len(c.DNS.NSID) > maxNSID {
		p.errorf("dns.nsid", -1, "must be at most %d bytes (got %d)", maxNSID, len(c.DNS.NSID))
	}

	if check("dns.tcp.idle_timeout") && c.DNS.TCP.IdleTimeout <= 0 {
		p.errorf("dns.tcp.idle_timeout", -1, "must be greater than 0 (got %s)", c.DNS.TCP.IdleTimeout)
	}

	if check("dns.transfer.allow") {
		for i, s := range c.DNS.Transfer.Allow {
			pfx, msg := parsePrefix(s)
			if msg != "" {
				p.errorf("dns.transfer.allow", i, "%s", msg)
				continue
			}
			c.DNS.Transfer.AllowPrefixes = append(c.DNS.Transfer.AllowPrefixes, pfx)
		}
	}

	if check("ecs.trusted_resolvers") {
		for i, s := range c.ECS.TrustedResolvers {
			pfx, msg := parsePrefix(s)
			if msg != "" {
				p.errorf("ecs.trusted_resolvers", i, "%s", msg)
				continue
			}
			c.ECS.TrustedPrefixes = append(c.ECS.TrustedPrefixes, pfx)
		}
	}

	if check("admin.listen") && c.Admin.Listen != "" {
		hp, msg := parseHostPort(c.Admin.Listen)
		if msg != "" {
			p.errorf("admin.listen", -1, "%s", msg)
		} else {
			for i, d := range dnsAddrs {
				if d.overlaps(hp) {
					p.errorf("admin.listen", -1, "overlaps dns.listen[%d] (%q): both use TCP", i, c.DNS.Listen[i])
					break
				}
			}
		}
	}

	if check("log.level") {
		switch v := strings.ToLower(c.Log.Level); v {
		case "debug", "info", "warn", "error":
			c.Log.Level = v
		default:
			p.errorf("log.level", -1, "must be one of debug, info, warn, error (got %q)", c.Log.Level)
		}
	}

	if check("log.format") {
		switch v := strings.ToLower(c.Log.Format); v {
		case "text", "json":
			c.Log.Format = v
		default:
			p.errorf("log.format", -1, "must be one of text, json (got %q)", c.Log.Format)
		}
	}
}

// hostPort is a parsed listen address; host is "localhost" or the address
// in canonical form. The zero value is never a valid address.
type hostPort struct {
	host        string
	unspecified bool // 0.0.0.0 or ::
	port        uint16
	valid       bool
}

// overlaps reports whether two TCP listeners on a and b would collide: same
// non-zero port, and the same host or a wildcard on either side.
func (a hostPort) overlaps(b hostPort) bool {
	if !a.valid || !b.valid || a.port == 0 || a.port != b.port {
		return false
	}
	return a.host == b.host || a.unspecified || b.unspecified
}

// parseHostPort checks a listen address: host:port where host is an IP
// literal (IPv6 in brackets) or "localhost" and port a decimal 0-65535.
func parseHostPort(s string) (hostPort, string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return hostPort{}, fmt.Sprintf("must be host:port, such as 127.0.0.1:53 or [::1]:53 (got %q)", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil {
		return hostPort{}, fmt.Sprintf("port must be a number 0-65535 (got %q)", port)
	}
	hp := hostPort{port: uint16(n), valid: true}
	if host == "localhost" {
		hp.host = host
		return hp, ""
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return hostPort{}, fmt.Sprintf("host must be an IP address or \"localhost\" (got %q)", host)
	}
	hp.host, hp.unspecified = addr.String(), addr.IsUnspecified()
	return hp, ""
}

// parsePrefix parses a dns.transfer.allow or ecs.trusted_resolvers entry: a CIDR prefix with no bits
// set past its length, or a bare address (a /32 or /128).
func parsePrefix(s string) (netip.Prefix, string) {
	if strings.Contains(s, "/") {
		pfx, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Sprintf("must be a CIDR prefix or an IP address (got %q)", s)
		}
		if m := pfx.Masked(); m != pfx {
			return netip.Prefix{}, fmt.Sprintf("has address bits set past the prefix length (got %q; did you mean %q?)", s, m.String())
		}
		return pfx, ""
	}
	addr, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Sprintf("must be a CIDR prefix or an IP address (got %q)", s)
	}
	if addr.Zone() != "" {
		return netip.Prefix{}, fmt.Sprintf("must not have an IPv6 zone (got %q)", s)
	}
	return netip.PrefixFrom(addr, addr.BitLen()), ""
}
