package config

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/aya-gslb/aya/internal/names"
	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/proxy"
)

// ProxyConfig configures the in-region HTTP proxy (the proxy section). The
// engine's settings are the proxy package's Config, which owns their keys
// (its yaml tags), defaults and rules (proxy.Config.Validate); config
// layers, places and decodes them. The other keys are the proxy role's:
// where and how often `aya proxy` reports the load, and which files it
// reads. Load and LoadProxy return it with the defaults applied (so that
// the documentation can show them), the sticky secret read, and the
// prefixes parsed and paths resolved.
type ProxyConfig struct {
	// Region names the region whose load this proxy reports
	// (proxy.region): lower-case letters, digits and "-". Required; when
	// the configuration has regions, one of them.
	Region string `mapstructure:"region"`

	// ReportTo lists the admin API addresses (host:port) of cluster nodes
	// the load is reported to, tried in turn (proxy.report_to); checked
	// like cluster.join. Empty (the default): no reporting.
	ReportTo []string `mapstructure:"report_to"`

	// ReportInterval is how often the load is reported
	// (proxy.report_interval), greater than 0, default 2s.
	ReportInterval time.Duration `mapstructure:"report_interval"`

	// StickySecretFile is the file proxy.Config.StickySecret is read from,
	// its trailing line break removed (proxy.sticky_secret_file), resolved
	// like GeoConfig.Database; "" (the default) for none. It must not be
	// set together with proxy.sticky_secret (best set by the variable
	// AYA_PROXY_STICKY_SECRET); one of them is required when a pool is
	// sticky.
	StickySecretFile string `mapstructure:"sticky_secret_file"`

	// AccessLog logs one record per request (proxy.access_log), default
	// false.
	AccessLog bool `mapstructure:"access_log"`

	// Config holds the engine's keys: listeners, routes and pools (file
	// only), trusted_proxies, limits, rate_limit, sticky_secret,
	// drain_timeout and capacity. A listener's certificate files are
	// resolved against the config file's directory (config does not open
	// them); Pools[i].Check is nil, see Checks.
	proxy.Config `mapstructure:",squash"`

	// Checks holds the active health check of each of Pools, by index
	// (proxy.pools[].check): the fields of a GSLB pool's check but port,
	// which the backend's address carries, so Port is 0. nil: no active
	// check.
	Checks []*probes.CheckConfig `mapstructure:"-"`
}

// maxSecretFile bounds what is read of proxy.sticky_secret_file and
// cluster.secret_file.
const maxSecretFile = 64 << 10

// isProxyKey reports whether the key belongs to the proxy section.
func isProxyKey(name string) bool { return strings.HasPrefix(name, "proxy.") }

// decodeProxyList decodes the fileOnly proxy list name into *out, a slice
// of one of the proxy package's item types, with yaml.Node.Decode. Before
// that, checkItem checks every item against the type's yaml tags and
// builds the node that is decoded. The rules are proxy.Config.Validate's.
func decodeProxyList[T any](p *parser, name string, out *[]T) {
	nodes, ok := p.topList(name)
	if !ok {
		p.bad[name] = true
		return
	}
	for i, n := range nodes {
		path := fmt.Sprintf("%s[%d]", name, i)
		it, clean := p.checkItem(n, path, reflect.TypeFor[T]())
		var v T
		if err := clean.Decode(&v); err != nil {
			_, msg := splitYAMLError(err)
			p.errAt(p.proxyPos[path], path, "%s", msg)
		}
		*out = append(*out, v)
		if _, ok := any(v).(proxy.Pool); ok {
			var cc *probes.CheckConfig
			if it != nil {
				cc = p.decodeCheck(it, false).cfg
			}
			p.proxyChecks = append(p.proxyChecks, cc)
		}
	}
}

// proxyItemFields lists the keys an item of type t may have: its fields'
// yaml tags, and "check" for a pool (see ProxyConfig.Checks).
func proxyItemFields(t reflect.Type) []string {
	var fields []string
	for f := range t.Fields() {
		if name := yamlName(f); name != "" {
			fields = append(fields, name)
		}
	}
	if t == reflect.TypeFor[proxy.Pool]() {
		fields = append(fields, "check")
	}
	return fields
}

// yamlName is the key of a struct field by its yaml tag; "" for none.
func yamlName(f reflect.StructField) string {
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// checkItem checks n, the item of type t at path: a mapping whose keys are
// t's (unknown, duplicate and merge keys are reported, with did-you-mean)
// and whose values have the types of t's fields (a string, a Go duration,
// an integer or a boolean written as YAML or as a string, as a variable
// would be). It records the positions of the item and its keys for the
// rules' errors, marks a value that is unusable bad, and returns the item
// and the node to decode: the mapping with only its usable values, so that
// the others keep their defaults. n that is not a mapping is reported and
// marked bad, and decodes as an empty mapping.
func (p *parser) checkItem(n *yaml.Node, path string, t reflect.Type) (*item, *yaml.Node) {
	clean := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	it, ok := p.item(n, path, proxyItemFields(t))
	if !ok {
		p.bad[path] = true
		p.proxyPos[path] = resolve(n).Line
		return nil, clean
	}
	p.proxyPos[path] = it.line
	for f, line := range it.lines {
		p.proxyPos[it.key(f)] = line
	}
	for sf := range t.Fields() {
		f := yamlName(sf)
		vn := it.vals[f]
		if f == "" || vn == nil {
			continue
		}
		v, ok := p.checkValue(it, f, vn, sf.Type)
		if !ok {
			p.bad[it.key(f)] = true
			continue
		}
		clean.Content = append(clean.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: f}, v)
	}
	return it, clean
}

// checkValue checks vn, field f of it, against the field's type t and
// returns the node to decode.
func (p *parser) checkValue(it *item, f string, vn *yaml.Node, t reflect.Type) (*yaml.Node, bool) {
	scalar := func(tag, val string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: val} }
	switch {
	case t == reflect.TypeFor[time.Duration]():
		if !isString(vn) {
			p.errAt(it.lineOf(f), it.key(f), `must be a duration such as "10s" or "1m30s" (got %s)`, nodeDesc(vn))
			return nil, false
		}
		if _, msg := toDuration(vn.Value); msg != "" {
			p.errAt(it.lineOf(f), it.key(f), "%s", msg)
			return nil, false
		}
		return scalar("!!str", vn.Value), true
	case t.Kind() == reflect.String:
		if !isString(vn) {
			p.errAt(it.lineOf(f), it.key(f), "must be a string (got %s)", nodeDesc(vn))
			return nil, false
		}
		return scalar("!!str", vn.Value), true
	case t.Kind() == reflect.Int || t.Kind() == reflect.Int64:
		n, ok := p.integer(it, f, math.MinInt, math.MaxInt, 0)
		return scalar("!!int", strconv.Itoa(n)), ok
	case t.Kind() == reflect.Bool:
		b, ok := p.boolean(it, f, false)
		return scalar("!!bool", strconv.FormatBool(b)), ok
	case t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Struct:
		_, clean := p.checkItem(vn, it.key(f), t.Elem())
		return clean, !p.bad[it.key(f)]
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Struct:
		nodes, ok := p.items(it, f)
		if !ok {
			return nil, false
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for i, n := range nodes {
			_, clean := p.checkItem(n, fmt.Sprintf("%s[%d]", it.key(f), i), t.Elem())
			seq.Content = append(seq.Content, clean)
		}
		return seq, true
	}
	panic(fmt.Sprintf("config: %s: unsupported field type %s", it.key(f), t))
}

// decodeProxyPools decodes proxy.pools and their checks.
func (p *parser) decodeProxyPools(pc *ProxyConfig) {
	decodeProxyList(p, "proxy.pools", &pc.Pools)
	pc.Checks = p.proxyChecks
}

// decodeProxyListeners decodes proxy.listeners, resolving the certificate
// files against the file's directory, as a check's tls_ca_file is.
func (p *parser) decodeProxyListeners(pc *ProxyConfig) {
	decodeProxyList(p, "proxy.listeners", &pc.Listeners)
	for _, l := range pc.Listeners {
		for i := range l.Certs {
			l.Certs[i].CertFile = p.fileRelative(l.Certs[i].CertFile)
			l.Certs[i].KeyFile = p.fileRelative(l.Certs[i].KeyFile)
		}
	}
}

// fileRelative resolves a path written in the file against the file's
// directory; "" stays "".
func (p *parser) fileRelative(s string) string {
	if s == "" {
		return ""
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(filepath.Dir(p.name), s)
	}
	return filepath.Clean(s)
}

// validateProxy checks the proxy role's keys, reads the sticky secret,
// checks the listeners' addresses as listen addresses, against each other
// and against dns.listen, admin.listen and cluster.bind (the parsed
// addresses; bind only under `aya serve`), then places the errors of the
// engine's rules (proxy.Config.ValidateAt) and applies its defaults.
func (p *parser) validateProxy(c *Config, dnsAddrs []hostPort, admin, bind hostPort) {
	pc := c.Proxy
	if pc == nil {
		return
	}
	check := func(name string) bool { return !p.bad[name] }

	if check("proxy.region") {
		switch {
		case strings.TrimSpace(pc.Region) == "":
			p.errorf("proxy.region", -1, "required")
		case names.Check(pc.Region) != "":
			p.errorf("proxy.region", -1, "%s", names.Check(pc.Region))
		case p.regionsKnown && len(p.regionNames) > 0 && !slices.Contains(p.regionNames, pc.Region):
			p.errorf("proxy.region", -1, "unknown region %q%s", pc.Region, names.DidYouMean(pc.Region, p.regionNames))
		}
	}
	if check("proxy.report_to") {
		p.dialAddrs("proxy.report_to", pc.ReportTo)
	}
	if check("proxy.report_interval") && pc.ReportInterval <= 0 {
		p.errorf("proxy.report_interval", -1, "must be greater than 0 (got %s)", pc.ReportInterval)
	}
	p.readStickySecret(pc)
	p.checkProxyListeners(c, dnsAddrs, admin, bind)

	for _, err := range unjoin(pc.ValidateAt("proxy")) {
		fe, ok := errors.AsType[*proxy.FieldError](err)
		if !ok {
			panic(fmt.Sprintf("config: proxy.Config.ValidateAt returned %T: %v", err, err))
		}
		if !p.suppressed(fe.Key) && !(errors.Is(fe, proxy.ErrUnknownPool) && p.bad["proxy.pools"]) {
			p.placeProxy(fe.Key, fe.Msg)
		}
	}
	pc.Config = pc.WithDefaults()
}

// unjoin returns the errors joined in err.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	if err != nil {
		return []error{err}
	}
	return nil
}

// suppressed reports whether key, or a key it is part of, is bad: its
// value was reported already, and a rule would only repeat that.
func (p *parser) suppressed(key string) bool {
	for ; key != ""; key = parentKey(key) {
		if p.bad[key] {
			return true
		}
	}
	return false
}

// parentKey is key without its last part: "proxy.pools[0]" for
// "proxy.pools[0].name" and "proxy.pools" for "proxy.pools[0]"; "" at the
// top.
func parentKey(key string) string {
	i := strings.LastIndexAny(key, ".[")
	if i < 0 {
		return ""
	}
	return key[:i]
}

// placeProxy records a problem with key of the proxy section where its
// value came from: a key of the key table (or an item of one) as errorf
// places it, an item or a field of an item of the lists at its line, or
// the line of its item when it is absent.
func (p *parser) placeProxy(key, msg string) {
	for k := key; k != ""; k = parentKey(k) {
		if line, ok := p.proxyPos[k]; ok {
			p.errAt(line, key, "%s", msg)
			return
		}
		if p.hasKey(k) {
			item := -1
			if rest := key[len(k):]; rest != "" {
				n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rest, "["), "]"))
				if err != nil {
					break
				}
				item = n
			}
			p.errorf(k, item, "%s", msg)
			return
		}
	}
	p.errs = append(p.errs, &Error{File: p.name, Key: key, Msg: msg})
}

// hasKey reports whether name is in the key table.
func (p *parser) hasKey(name string) bool {
	return slices.ContainsFunc(p.keys, func(k key) bool { return k.name == name })
}

// checkProxyListeners checks each listener address as a listen address,
// and that none overlaps another, admin.listen, or under `aya serve`
// cluster.bind or dns.listen.
func (p *parser) checkProxyListeners(c *Config, dnsAddrs []hostPort, admin, bind hostPort) {
	type listen struct {
		hp       hostPort
		key, val string
	}
	var prevs []listen
	for i, l := range c.Proxy.Listeners {
		key := fmt.Sprintf("proxy.listeners[%d].address", i)
		if l.Addr == "" || p.suppressed(key) {
			continue
		}
		line := p.proxyPos[key]
		hp, msg := parseHostPort(l.Addr)
		if msg != "" {
			p.errAt(line, key, "%s", msg)
			p.bad[key] = true
			continue
		}
		if i := slices.IndexFunc(prevs, func(prev listen) bool { return prev.hp.overlaps(hp) }); i >= 0 {
			p.errAt(line, key, "overlaps %s (%q)", prevs[i].key, prevs[i].val)
		}
		prevs = append(prevs, listen{hp, key, l.Addr})
		switch {
		case hp.overlaps(admin):
			p.errAt(line, key, "overlaps admin.listen (%q): both use TCP", c.Admin.Listen)
			continue
		case p.mode != modeServe:
			continue
		case hp.overlaps(bind):
			p.errAt(line, key, "overlaps cluster.bind (%q): both use TCP", c.Cluster.Bind)
			continue
		}
		for i, d := range dnsAddrs {
			if d.overlaps(hp) {
				p.errAt(line, key, "overlaps dns.listen[%d] (%q): both use TCP", i, c.DNS.Listen[i])
				break
			}
		}
	}
}

// readStickySecret reads proxy.sticky_secret_file into the sticky secret,
// which must not be set too. The secret is never printed. When the file
// cannot be used, the secret is marked bad: its rules would only repeat
// the file's error.
func (p *parser) readStickySecret(pc *ProxyConfig) {
	const secret, file = "proxy.sticky_secret", "proxy.sticky_secret_file"
	if p.bad[file] {
		p.bad[secret] = true
		return
	}
	if strings.TrimSpace(pc.StickySecretFile) == "" {
		pc.StickySecretFile = ""
		return
	}
	if p.bad[secret] {
		return
	}
	if len(pc.StickySecret) > 0 {
		p.errorf(file, -1, "must not be set together with %s: set one of them", secret)
		p.bad[secret] = true
		return
	}
	p.resolvePath(file, &pc.StickySecretFile)
	s, msg := readSecretFile(pc.StickySecretFile)
	if msg != "" {
		p.errorf(file, -1, "%s", msg)
		p.bad[secret] = true
		return
	}
	pc.StickySecret = []byte(s)
}

// readSecretFile reads a sticky secret: a regular file of at least
// proxy.MinStickySecret bytes once its trailing line breaks are removed.
func readSecretFile(path string) (string, string) {
	data, msg := readSmallFile(path)
	if msg != "" {
		return "", msg
	}
	s := strings.TrimRight(data, "\r\n")
	if len(s) < proxy.MinStickySecret {
		return "", fmt.Sprintf("must hold at least %d bytes (%q holds %d)", proxy.MinStickySecret, path, len(s))
	}
	return s, ""
}

// readSmallFile reads a regular file of at most maxSecretFile bytes.
// It opens without blocking, so that a FIFO is refused rather than waited
// on.
func readSmallFile(path string) (string, string) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return "", "cannot read: " + pathError(err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return "", fmt.Sprintf("must be a regular file (got %q)", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxSecretFile+1))
	switch {
	case err != nil:
		return "", "cannot read: " + pathError(err)
	case len(data) > maxSecretFile:
		return "", fmt.Sprintf("must be at most %d bytes (%q is larger)", maxSecretFile, path)
	}
	return string(data), ""
}

// pathError renders an os error on one line: "open x: no such file or
// directory".
func pathError(err error) string {
	if pe, ok := errors.AsType[*os.PathError](err); ok {
		return fmt.Sprintf("%s %s: %v", pe.Op, pe.Path, pe.Err)
	}
	return strings.Join(strings.Fields(err.Error()), " ")
}
