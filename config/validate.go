package config

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aya-gslb/aya/dnssec"

	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/internal/names"

	"github.com/aya-gslb/aya/internal/mtls"
)

// maxNSID is the longest NSID we send, in bytes; node.id is the NSID when
// dns.nsid is empty, so it has the same limit.
const maxNSID = 128

// validate checks the decoded values, skipping keys decode already
// reported, and normalises log.level and log.format and parses
// dns.transfer.allow, dns.why_clients and ecs.trusted_resolvers. Integer
// ranges are checked by decode (toInt); regions and pools are checked as
// decode reads them (steering.go).
func (p *parser) validate(c *Config) {
	check := func(name string) bool { return !p.bad[name] }

	if check("node.id") && p.mode != modeRelease {
		switch {
		case strings.TrimSpace(c.Node.ID) == "":
			p.errorf("node.id", -1, "required")
		case len(c.Node.ID) > maxNSID:
			p.errorf("node.id", -1, "must be at most %d bytes (got %d)", maxNSID, len(c.Node.ID))
		}
	}

	var dnsAddrs []hostPort // the valid dns.listen addresses, by index
	if check("dns.listen") {
		if len(c.DNS.Listen) == 0 && p.mode == modeServe {
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

	if check("dns.zones_dir") && strings.TrimSpace(c.DNS.ZonesDir) == "" && p.mode == modeServe {
		p.errorf("dns.zones_dir", -1, "required")
	}

	if check("dns.nsid") && len(c.DNS.NSID) > maxNSID {
		p.errorf("dns.nsid", -1, "must be at most %d bytes (got %d)", maxNSID, len(c.DNS.NSID))
	}

	if check("dns.tcp.idle_timeout") && c.DNS.TCP.IdleTimeout <= 0 {
		p.errorf("dns.tcp.idle_timeout", -1, "must be greater than 0 (got %s)", c.DNS.TCP.IdleTimeout)
	}
	// dns.tcp.min_idle_timeout and max_connections_per_client above
	// idle_timeout and max_connections are capped there by dnsserver.
	if check("dns.tcp.min_idle_timeout") && c.DNS.TCP.MinIdleTimeout <= 0 {
		p.errorf("dns.tcp.min_idle_timeout", -1, "must be greater than 0 (got %s)", c.DNS.TCP.MinIdleTimeout)
	}
	if check("dns.tcp.max_lifetime") && c.DNS.TCP.MaxLifetime <= 0 {
		p.errorf("dns.tcp.max_lifetime", -1, "must be greater than 0 (got %s)", c.DNS.TCP.MaxLifetime)
	}

	if check("dns.transfer.allow") {
		c.DNS.Transfer.AllowPrefixes = p.prefixes("dns.transfer.allow", c.DNS.Transfer.Allow)
	}

	if check("dns.notify") {
		for i, t := range c.DNS.Notify {
			ap, err := dnsserver.ParseNotifyTarget(t)
			if err != nil {
				p.errorf("dns.notify", i, "%v", err)
				continue
			}
			if j := slices.Index(c.DNS.NotifyAddrs, ap); j >= 0 {
				p.errorf("dns.notify", i, "duplicate of %s", ap)
				continue
			}
			c.DNS.NotifyAddrs = append(c.DNS.NotifyAddrs, ap)
		}
	}

	if check("dns.why_clients") {
		// Non-nil: dnsserver.Config reads nil as its default.
		c.DNS.WhyPrefixes = append([]netip.Prefix{}, p.prefixes("dns.why_clients", c.DNS.WhyClients)...)
	}

	if check("dns.rrl.window") {
		if err := dnsserver.CheckRRLWindow(c.DNS.RRL.Window); err != nil {
			p.errorf("dns.rrl.window", -1, "%v", err)
		}
	}

	if check("dns.rrl.exempt") {
		c.DNS.RRL.ExemptPrefixes = p.prefixes("dns.rrl.exempt", c.DNS.RRL.Exempt)
	}

	p.validateDNSSEC(c)

	if check("ecs.trusted_resolvers") {
		c.ECS.TrustedPrefixes = p.prefixes("ecs.trusted_resolvers", c.ECS.TrustedResolvers)
	}

	var adminAddr hostPort
	if check("admin.listen") && c.Admin.Listen != "" {
		hp, msg := parseHostPort(c.Admin.Listen)
		if msg != "" {
			p.errorf("admin.listen", -1, "%s", msg)
		} else {
			adminAddr = hp
			for i, d := range dnsAddrs {
				if d.overlaps(hp) {
					p.errorf("admin.listen", -1, "overlaps dns.listen[%d] (%q): both use TCP", i, c.DNS.Listen[i])
					break
				}
			}
		}
	}

	if check("admin.token") && strings.ContainsFunc(c.Admin.Token, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
		// The value is a secret: do not echo it.
		p.errorf("admin.token", -1, "must not contain spaces or control characters")
	}

	// Off loopback, an admin API without a token lets whoever reaches it
	// drain regions and roll out releases. Client certificates (cluster.tls)
	// authenticate writes too.
	if p.mode == modeServe && adminAddr.valid && !adminAddr.loopback && c.Admin.Token == "" &&
		strings.TrimSpace(c.Cluster.TLS.CertFile) == "" && !c.Admin.Insecure {
		p.errorf("admin.listen", -1, "%q is reachable from other hosts, and without a token whoever reaches it can drain "+
			"regions and roll out releases: set admin.token (better: the environment, AYA_ADMIN_TOKEN), or cluster.tls "+
			"(client certificates), or admin.insecure: true on a network only operators reach", c.Admin.Listen)
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

	bind := p.validateCluster(c, dnsAddrs, adminAddr)
	p.validateProxy(c, dnsAddrs, adminAddr, bind)
}

// minRaftTimeout is the shortest timing hashicorp/raft accepts
// (raft.ValidateConfig) for the heartbeat, election and leader lease
// timeouts and the snapshot interval.
const minRaftTimeout = 5 * time.Millisecond

// validateCluster checks the cluster section; dnsAddrs and admin are the
// parsed dns.listen and admin.listen addresses, which cluster.bind must not
// overlap. It returns the parsed cluster.bind, invalid when it is not
// valid. For `aya proxy` only cluster.tls is checked: the proxy may use it
// to reach the admin API, and the rest, defaults included, is not used.
func (p *parser) validateCluster(c *Config, dnsAddrs []hostPort, admin hostPort) (bind hostPort) {
	check := func(name string) bool { return !p.bad[name] }
	cc := &c.Cluster
	if p.mode != modeProxy {
		bind = p.validateClusterNode(c, dnsAddrs, admin)
	}

	// Mutual TLS needs all three files; name what is missing and why. A
	// blank one counts as unset and is stored as "".
	tlsKeys := []struct {
		name string
		val  *string
	}{
		{"cluster.tls.cert_file", &cc.TLS.CertFile},
		{"cluster.tls.key_file", &cc.TLS.KeyFile},
		{"cluster.tls.ca_file", &cc.TLS.CAFile},
	}
	var set []string
	for _, k := range tlsKeys {
		if !check(k.name) {
			return bind
		}
		if strings.TrimSpace(*k.val) == "" {
			*k.val = ""
		} else {
			set = append(set, k.name)
		}
	}
	if len(set) > 0 && len(set) < len(tlsKeys) {
		verb := "is"
		if len(set) > 1 {
			verb = "are"
		}
		for _, k := range tlsKeys {
			if *k.val == "" {
				p.errorf(k.name, -1, "required when %s %s set: mutual TLS needs all three files", strings.Join(set, " and "), verb)
			}
		}
	}
	if p.mode == modeServe {
		p.validateClusterAuth(c, bind, len(set) > 0)
	}
	return bind
}

// validateClusterAuth checks cluster.secret, reads cluster.secret_file
// into it, and refuses plain TCP off loopback: bind is the parsed
// cluster.bind, withTLS whether cluster.tls is set. The secret is never
// printed.
func (p *parser) validateClusterAuth(c *Config, bind hostPort, withTLS bool) {
	const secret, file = "cluster.secret", "cluster.secret_file"
	cc := &c.Cluster
	if p.bad[secret] || p.bad[file] {
		return
	}
	if strings.TrimSpace(cc.SecretFile) == "" {
		cc.SecretFile = ""
	}
	key := secret
	switch {
	case cc.Secret != "" && cc.SecretFile != "":
		p.errorf(file, -1, "must not be set together with %s: set one of them", secret)
		return
	case cc.SecretFile != "":
		key = file
		p.resolvePath(file, &cc.SecretFile)
		s, msg := readSmallFile(cc.SecretFile)
		if msg != "" {
			p.errorf(file, -1, "%s", msg)
			return
		}
		cc.Secret = s
	}
	if cc.Secret != "" {
		if withTLS {
			p.errorf(key, -1, "must not be set together with cluster.tls: the Raft transport uses one of them")
			return
		}
		secrets, err := mtls.ParseSecrets(cc.Secret)
		if err != nil {
			// ParseSecrets never quotes the secret.
			p.errorf(key, -1, "%v", err)
			return
		}
		cc.Secrets = secrets
		return
	}
	if withTLS {
		return
	}
	// Plain TCP: anyone who reaches the port writes the log.
	const how = "since anyone who reaches it can write the Raft log: set cluster.secret_file on every node to the same file, " +
		"made with \"aya cluster secret > FILE\", or set the cluster.tls files"
	if !p.bad["cluster.bind"] && bind.valid && !bind.loopback {
		p.errorf("cluster.bind", -1, "must be a loopback address when the transport is plain TCP (got %q), %s", cc.Bind, how)
		return
	}
	if !p.bad["cluster.advertise"] && cc.Advertise != "" {
		if hp, msg := parseHostPort(cc.Advertise); msg == "" && !hp.loopback {
			p.errorf("cluster.advertise", -1, "must be a loopback address when the transport is plain TCP (got %q), %s", cc.Advertise, how)
		}
	}
}

// validateClusterNode checks the cluster keys but cluster.tls, and returns
// the parsed cluster.bind.
func (p *parser) validateClusterNode(c *Config, dnsAddrs []hostPort, admin hostPort) (bind hostPort) {
	check := func(name string) bool { return !p.bad[name] }
	cc := &c.Cluster

	if check("cluster.bind") {
		hp, msg := parseHostPort(cc.Bind)
		if msg == "" {
			bind = hp
		}
		switch {
		case msg != "":
			p.errorf("cluster.bind", -1, "%s", msg)
		case hp.overlaps(admin):
			p.errorf("cluster.bind", -1, "overlaps admin.listen (%q): both use TCP", c.Admin.Listen)
		default:
			for i, d := range dnsAddrs {
				if d.overlaps(hp) {
					p.errorf("cluster.bind", -1, "overlaps dns.listen[%d] (%q): both use TCP", i, c.DNS.Listen[i])
					break
				}
			}
		}
	}

	if check("cluster.advertise") && cc.Advertise != "" {
		hp, msg := parseHostPort(cc.Advertise)
		switch {
		case msg != "":
			p.errorf("cluster.advertise", -1, "%s", msg)
		case hp.unspecified:
			p.errorf("cluster.advertise", -1, "must not be an unspecified address, other nodes dial it (got %q)", cc.Advertise)
		case hp.port == 0:
			p.errorf("cluster.advertise", -1, "port must not be 0, other nodes dial it")
		}
	}

	if check("cluster.data_dir") && strings.TrimSpace(cc.DataDir) == "" {
		p.errorf("cluster.data_dir", -1, "required")
	}

	if check("cluster.join") {
		p.dialAddrs("cluster.join", cc.Join)
	}

	positive := func(name string, d time.Duration) bool {
		if !check(name) {
			return false
		}
		if d <= 0 {
			p.errorf(name, -1, "must be greater than 0 (got %s)", d)
			return false
		}
		return true
	}
	raftTiming := func(name string, d time.Duration) bool {
		if !positive(name, d) {
			return false
		}
		if d < minRaftTimeout {
			p.errorf(name, -1, "must be at least %s, Raft's minimum (got %s)", minRaftTimeout, d)
			return false
		}
		return true
	}

	freshOK := positive("cluster.fresh_for", cc.FreshFor)
	if positive("cluster.report_interval", cc.ReportInterval) && freshOK && cc.ReportInterval >= cc.FreshFor {
		p.errorf("cluster.report_interval", -1, "must be less than cluster.fresh_for (got %s, cluster.fresh_for %s)",
			cc.ReportInterval, cc.FreshFor)
	}

	hbOK := raftTiming("cluster.heartbeat_timeout", cc.HeartbeatTimeout)
	if raftTiming("cluster.election_timeout", cc.ElectionTimeout) && hbOK && cc.ElectionTimeout < cc.HeartbeatTimeout {
		p.errorf("cluster.election_timeout", -1, "must be at least cluster.heartbeat_timeout (got %s, cluster.heartbeat_timeout %s)",
			cc.ElectionTimeout, cc.HeartbeatTimeout)
	}
	if raftTiming("cluster.leader_lease_timeout", cc.LeaderLeaseTimeout) && hbOK && cc.LeaderLeaseTimeout > cc.HeartbeatTimeout {
		p.errorf("cluster.leader_lease_timeout", -1, "must be at most cluster.heartbeat_timeout (got %s, cluster.heartbeat_timeout %s)",
			cc.LeaderLeaseTimeout, cc.HeartbeatTimeout)
	}
	raftTiming("cluster.snapshot_interval", cc.SnapshotInterval)
	p.validateShed(&cc.Shed)
	return bind
}

// validateShed checks cluster.shed.
func (p *parser) validateShed(s *ShedConfig) {
	frac := func(key string, v, hi float64) bool {
		if p.bad[key] {
			return false
		}
		if !(v > 0 && v <= hi) {
			p.errorf(key, -1, "must be greater than 0 and at most %s (got %s)", formatFloat(hi), formatFloat(v))
			return false
		}
		return true
	}
	highOK := frac("cluster.shed.high_water", s.HighWater, 1)
	if frac("cluster.shed.low_water", s.LowWater, 1) && highOK && s.LowWater > s.HighWater {
		p.errorf("cluster.shed.low_water", -1, "must be at most cluster.shed.high_water (got %s, cluster.shed.high_water %s)",
			formatFloat(s.LowWater), formatFloat(s.HighWater))
	}
	frac("cluster.shed.max_fraction", s.MaxFraction, 0.95)
	frac("cluster.shed.step", s.Step, 1)
}

// hostPort is a parsed listen address; host is "localhost" or the address
// in canonical form. The zero value is never a valid address.
type hostPort struct {
	host        string
	unspecified bool // 0.0.0.0 or ::
	loopback    bool // 127.0.0.0/8, ::1 or "localhost"
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
		hp.host, hp.loopback = host, true
		return hp, ""
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return hostPort{}, fmt.Sprintf("host must be an IP address or \"localhost\" (got %q)", host)
	}
	hp.host, hp.unspecified, hp.loopback = addr.String(), addr.IsUnspecified(), addr.Unmap().IsLoopback()
	return hp, ""
}

// parseDialAddr checks an address to dial: host:port where host is an IP
// literal (IPv6 in brackets), not unspecified, or a DNS name, and port a
// decimal 1-65535. key is the address in a canonical form, for finding
// duplicates.
func parseDialAddr(s string) (key string, msg string) {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", fmt.Sprintf("must be host:port, such as 10.0.0.2:9053 or [2001:db8::2]:9053 (got %q)", s)
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return "", fmt.Sprintf("port must be a number 1-65535 (got %q)", port)
	}
	if addr, err := netip.ParseAddr(host); err == nil {
		if addr.IsUnspecified() {
			return "", fmt.Sprintf("host must not be an unspecified address (got %q)", host)
		}
		return netip.AddrPortFrom(addr, uint16(n)).String(), ""
	}
	if !names.IsHostName(host) {
		return "", fmt.Sprintf("host must be an IP address or a DNS name (got %q)", host)
	}
	return strings.ToLower(strings.TrimSuffix(host, ".")) + ":" + strconv.FormatUint(n, 10), ""
}

// prefixes parses the list key of prefixes (parsePrefix), recording an
// error at each item that is not one; nil for an empty list.
func (p *parser) prefixes(key string, list []string) []netip.Prefix {
	var out []netip.Prefix
	for i, s := range list {
		pfx, msg := parsePrefix(s)
		if msg != "" {
			p.errorf(key, i, "%s", msg)
			continue
		}
		out = append(out, pfx)
	}
	return out
}

// prefixTexts is the list key default for prefixes.
func prefixTexts(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, pfx := range ps {
		out[i] = pfx.String()
	}
	return out
}

// parsePrefix parses an entry of a list of prefixes (dns.transfer.allow,
// dns.why_clients, ecs.trusted_resolvers): a CIDR prefix with no bits set
// past its length, or a bare address (a /32 or /128).
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

// dialAddrs checks the list key of addresses to dial (host:port): each
// parses, and none repeats another.
func (p *parser) dialAddrs(key string, list []string) {
	first := make(map[string]int)
	for i, s := range list {
		k, msg := parseDialAddr(s)
		if msg != "" {
			p.errorf(key, i, "%s", msg)
			continue
		}
		if j, dup := first[k]; dup {
			p.errorf(key, i, "duplicate of %s[%d] (%q)", key, j, list[j])
			continue
		}
		first[k] = i
	}
}

// validateDNSSEC checks the dnssec section with the signer's rules
// (dnssec.Config.Validate), each error placed at its key.
func (p *parser) validateDNSSEC(c *Config) {
	check := func(name string) bool { return !p.bad[name] }
	d := &c.DNSSEC
	for _, k := range []struct {
		name string
		v    time.Duration
	}{
		{"dnssec.validity", d.Validity}, {"dnssec.refresh", d.Refresh}, {"dnssec.jitter", d.Jitter},
		{"dnssec.inception_offset", d.InceptionOffset}, {"dnssec.propagation", d.Propagation},
		{"dnssec.ds_ttl", d.DSTTL}, {"dnssec.parent_delay", d.ParentDelay},
		{"dnssec.zsk_lifetime", d.ZSKLifetime}, {"dnssec.ksk_lifetime", d.KSKLifetime},
	} {
		if check(k.name) && k.v < 0 {
			p.errorf(k.name, -1, "must not be negative (got %s)", k.v)
		}
	}
	if check("dnssec.validity") && check("dnssec.refresh") && check("dnssec.jitter") && d.Refresh+d.Jitter >= d.Validity {
		p.errorf("dnssec.refresh", -1, "dnssec.refresh (%s) plus dnssec.jitter (%s) must be less than dnssec.validity (%s): signatures would be due for renewal when made",
			d.Refresh, d.Jitter, d.Validity)
	}
	if check("dnssec.algorithm") {
		if _, err := dnssec.ParseAlgorithm(d.Algorithm); err != nil {
			p.errorf("dnssec.algorithm", -1, "%v", err)
		}
	}
}
