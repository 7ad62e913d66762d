package config

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aya-gslb/aya"
	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/proxy"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// defaultName is the name the embedded default configuration goes by in
// error messages; its line numbers are those of the repo's aya.yaml.
const defaultName = "aya.yaml"

// Load reads the YAML file at path, or the embedded aya.DefaultConfig when
// path is "", and returns the validated configuration. Each key takes the
// first of: its flag in fs, if the user set it (fs may be nil; see
// AddFlags); its AYA_* environment variable, if set and not empty; the
// file; the default. All problems are returned at once as *Error values
// joined with errors.Join; a file that cannot be read is returned as the
// os error.
//
// This is the configuration of `aya serve`: dns.listen and dns.zones_dir
// are required, and a proxy section is optional (the proxy role); its
// listeners must then not overlap dns.listen, admin.listen or
// cluster.bind.
func Load(path string, fs *pflag.FlagSet) (*Config, error) {
	return load(path, fs, modeServe)
}

// LoadProxy is Load for `aya proxy`, the in-region HTTP proxy alone: the
// proxy section and node.id are required, dns.listen and dns.zones_dir
// are not, and the cluster section is not checked but for cluster.tls
// (its defaults stay in Config, unused). Everything present is checked as
// Load does.
func LoadProxy(path string, fs *pflag.FlagSet) (*Config, error) {
	return load(path, fs, modeProxy)
}

// Parse is Load from bytes. name is used in error messages and is the path
// that a relative dns.zones_dir in data is resolved against (its
// directory); Config.File is set to it.
func Parse(name string, data []byte, fs *pflag.FlagSet) (*Config, error) {
	return parse(name, data, fs, modeServe)
}

// ParseProxy is LoadProxy from bytes, as Parse is Load.
func ParseProxy(name string, data []byte, fs *pflag.FlagSet) (*Config, error) {
	return parse(name, data, fs, modeProxy)
}

// mode says which command the configuration is for.
type mode int

const (
	modeServe   mode = iota // aya serve: Load, Parse
	modeProxy               // aya proxy: LoadProxy, ParseProxy
	modeRelease             // a release's steering configuration: ParseRelease
)

// load is Load or LoadProxy.
func load(path string, fs *pflag.FlagSet, m mode) (*Config, error) {
	if path == "" {
		c, err := parse(defaultName, aya.DefaultConfig, fs, m)
		if err != nil {
			return nil, err
		}
		c.File = ""
		return c, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data, fs, m)
}

// parse is Parse or ParseProxy.
func parse(name string, data []byte, fs *pflag.FlagSet, m mode) (*Config, error) {
	p := &parser{
		name:   name,
		fs:     fs,
		mode:   m,
		keys:   keys(),
		leaves: make(map[string]*leaf),
		bad:    make(map[string]bool),

		proxyPos: make(map[string]int),
	}
	fileMap, ok := p.readYAML(data)
	if !ok {
		return nil, p.joined()
	}

	// A fresh viper per call merges the layers: flag > env > file > default.
	// Every key is bound explicitly, so the environment works for keys the
	// file leaves out. An empty variable counts as unset (viper's default,
	// AllowEmptyEnv(false)); source below follows the same rules.
	v := viper.New()
	if err := v.MergeConfigMap(fileMap); err != nil {
		return nil, fmt.Errorf("merge %s: %w", name, err)
	}
	for i := range p.keys {
		k := &p.keys[i]
		if k.fileOnly {
			continue
		}
		v.SetDefault(k.name, k.def)
		if m == modeRelease {
			continue // a release is its text alone: no environment, no flags
		}
		if err := v.BindEnv(k.name, envName(k.name)); err != nil {
			return nil, fmt.Errorf("bind %s: %w", envName(k.name), err)
		}
		if f := p.flag(k); f != nil {
			if err := v.BindPFlag(k.name, f); err != nil {
				return nil, fmt.Errorf("bind --%s: %w", k.flag, err)
			}
		}
	}

	c := &Config{File: name}
	if p.proxy.mapping {
		c.Proxy = &ProxyConfig{}
	} else if m == modeProxy && !p.proxy.bad {
		p.errs = append(p.errs, &Error{File: p.name, Line: p.proxy.line, Key: "proxy", Msg: "required: aya proxy needs a proxy section"})
	}
	for i := range p.keys {
		k := &p.keys[i]
		if c.Proxy == nil && isProxyKey(k.name) {
			continue // no section: its variables and defaults are not read
		}
		var raw any
		if !k.fileOnly {
			raw = v.Get(k.name)
		}
		p.decode(k, raw, c)
	}
	if m == modeRelease {
		p.onlyReleaseKeys()
	}
	p.validate(c)
	if len(p.errs) > 0 {
		return nil, p.joined()
	}
	c.where = make(map[string]Error, len(p.keys))
	for i := range p.keys {
		k := &p.keys[i]
		e := Error{File: p.name, Key: k.name}
		switch origin, lf := p.source(k); {
		case origin != "":
			e.Origin = origin
		case lf != nil:
			e.Line = lf.line
		}
		c.where[k.name] = e
	}
	p.resolvePath("dns.zones_dir", &c.DNS.ZonesDir)
	p.resolvePath("geo.database", &c.Geo.Database)
	p.resolvePath("geo.overrides", &c.Geo.Overrides)
	p.resolvePath("cluster.data_dir", &c.Cluster.DataDir)
	p.resolvePath("dnssec.keys_dir", &c.DNSSEC.KeysDir)
	p.resolvePath("cluster.tls.cert_file", &c.Cluster.TLS.CertFile)
	p.resolvePath("cluster.tls.key_file", &c.Cluster.TLS.KeyFile)
	p.resolvePath("cluster.tls.ca_file", &c.Cluster.TLS.CAFile)
	// proxy.sticky_secret_file and cluster.secret_file are resolved by
	// validate, which reads them.
	return c, nil
}

// parser holds the state of one Parse call.
type parser struct {
	name   string
	fs     *pflag.FlagSet
	keys   []key
	leaves map[string]*leaf // keys present in the file
	bad    map[string]bool  // keys already reported as undecodable
	errs   []error

	// regionNames are the names of the regions in the file, valid or not,
	// for the references from pools; regionsKnown is false when regions
	// could not be read, and references to it are not checked.
	regionNames  []string
	regionsKnown bool
	values       int    // nodes of regions and pools visited, see count
	top          topKey // the one being decoded

	mode  mode
	proxy struct {
		line    int  // of the proxy key; 0 when absent
		mapping bool // the section is a mapping (possibly empty)
		bad     bool // it is neither a mapping nor null (reported)
	}
	proxyPos    map[string]int        // the lines of the proxy lists' items and their keys, by key path
	proxyChecks []*probes.CheckConfig // the checks of proxy.pools, by index
}

// joined returns the recorded errors as one error, those with a line in
// line order first, then the rest (absent keys, the environment, flags) in
// key table order.
func (p *parser) joined() error {
	slices.SortStableFunc(p.errs, func(a, b error) int {
		return cmp.Compare(sortLine(a), sortLine(b))
	})
	return errors.Join(p.errs...)
}

// sortLine orders errors for joined: file lines first, then the rest.
func sortLine(err error) int {
	if e, ok := errors.AsType[*Error](err); ok && e.Line > 0 && e.Origin == "" {
		return e.Line
	}
	return math.MaxInt
}

// flag returns the pflag bound to k, or nil.
func (p *parser) flag(k *key) *pflag.Flag {
	if k.flag == "" || p.fs == nil {
		return nil
	}
	return p.fs.Lookup(k.flag)
}

// key returns the table entry for name, which must exist.
func (p *parser) key(name string) *key {
	for i := range p.keys {
		if p.keys[i].name == name {
			return &p.keys[i]
		}
	}
	panic("config: unknown key " + name)
}

// source says where k's value comes from, by viper's rules: a flag the user
// set ("flag --listen"), else a non-empty environment variable
// ("AYA_DNS_LISTEN"), else the file (lf != nil, possibly a null value that
// falls back to the default), else the default (both zero).
func (p *parser) source(k *key) (origin string, lf *leaf) {
	if k.fileOnly || p.mode == modeRelease {
		return "", p.leaves[k.name]
	}
	if f := p.flag(k); f != nil && f.Changed {
		return "flag --" + k.flag, nil
	}
	if env := envName(k.name); os.Getenv(env) != "" {
		return env, nil
	}
	return "", p.leaves[k.name]
}

// errorf records a problem with key name, or with its item'th list item if
// item >= 0, placed where the value came from.
func (p *parser) errorf(name string, item int, format string, args ...any) {
	k := p.key(name)
	e := &Error{File: p.name, Key: name, Msg: fmt.Sprintf(format, args...)}
	if item >= 0 {
		e.Key = fmt.Sprintf("%s[%d]", name, item)
	}
	origin, lf := p.source(k)
	switch {
	case origin != "":
		e.Origin = origin
	case lf != nil:
		e.Line = lf.line
		if item >= 0 && lf.val.Kind == yaml.SequenceNode && item < len(lf.val.Content) {
			e.Line = lf.val.Content[item].Line
		}
	}
	p.errs = append(p.errs, e)
}

// decode converts raw, the merged value viper found for k, into k's field;
// a fileOnly key is decoded from its YAML nodes instead. A value of the
// wrong type is reported and marks k bad, so validate skips it.
func (p *parser) decode(k *key, raw any, c *Config) {
	switch f := k.field(c).(type) {
	case *[]RegionConfig:
		p.decodeRegions(c)
		return
	case *[]PoolConfig:
		p.decodePools(c)
		return
	case *[]proxy.Listener:
		p.decodeProxyListeners(c.Proxy)
		return
	case *[]proxy.Route:
		decodeProxyList(p, k.name, f)
		return
	case *[]proxy.Pool:
		p.decodeProxyPools(c.Proxy)
		return
	}
	if raw == nil {
		raw = k.def
	}
	bad := func(item int, format string, args ...any) {
		p.errorf(k.name, item, format, args...)
		p.bad[k.name] = true
	}
	switch f := k.field(c).(type) {
	case *string:
		s, ok := raw.(string)
		if !ok {
			bad(-1, "must be a string (got %s)", describe(raw))
			return
		}
		*f = s
	case *int:
		n, msg := toInt(raw, k.min, k.max)
		if msg != "" {
			bad(-1, "%s", msg)
			return
		}
		*f = n
	case *int64:
		n, msg := toInt(raw, k.min, k.max)
		if msg != "" {
			bad(-1, "%s", msg)
			return
		}
		*f = int64(n)
	case *float64:
		x, msg := toFloat(raw)
		if msg != "" {
			bad(-1, "%s", msg)
			return
		}
		*f = x
	case *bool:
		b, msg := toBool(raw)
		if msg != "" {
			bad(-1, "%s", msg)
			return
		}
		*f = b
	case *time.Duration:
		d, msg := toDuration(raw)
		if msg != "" {
			bad(-1, "%s", msg)
			return
		}
		*f = d
	case *[]byte:
		s, ok := raw.(string)
		if !ok {
			bad(-1, "must be a string (got %s)", describe(raw))
			return
		}
		if s != "" {
			*f = []byte(s)
		}
	case *[]string:
		*f, _ = p.strList(k, raw)
	case *[]netip.Prefix:
		list, ok := p.strList(k, raw)
		if !ok {
			return
		}
		for i, s := range list {
			pfx, msg := parsePrefix(s)
			if msg != "" {
				bad(i, "%s", msg)
				continue
			}
			*f = append(*f, pfx)
		}
		if p.bad[k.name] {
			*f = nil
		}
	default:
		panic(fmt.Sprintf("config: key %s: unsupported field type %T", k.name, f))
	}
}

// strList converts raw, the merged value of the list key k, to strings;
// ok is false, and k marked bad, when it is not a list of strings.
func (p *parser) strList(k *key, raw any) (list []string, ok bool) {
	bad := func(item int, format string, args ...any) {
		p.errorf(k.name, item, format, args...)
		p.bad[k.name] = true
	}
	switch r := raw.(type) {
	case []string: // a flag, or the default
		list = append([]string(nil), r...)
	case string: // the environment, or a single scalar in the file
		list = splitList(r)
	case []any: // a YAML sequence
		for i, item := range r {
			s, ok := item.(string)
			if !ok {
				bad(i, "must be a string (got %s)", describe(item))
				continue
			}
			list = append(list, s)
		}
	default:
		bad(-1, "must be a list (got %s)", describe(raw))
	}
	if p.bad[k.name] {
		return nil, false
	}
	return list, true
}

// splitList splits a comma-separated list, trimming spaces around items and
// dropping empty ones ("a, b," is [a b]; "" and " , " are empty).
func splitList(s string) []string {
	var items []string
	for item := range strings.SplitSeq(s, ",") {
		if item = strings.TrimSpace(item); item != "" {
			items = append(items, item)
		}
	}
	return items
}

// toInt converts a YAML integer or a decimal string (from the environment)
// to an int in [lo, hi]; msg says what is wrong.
func toInt(raw any, lo, hi int) (n int, msg string) {
	outside := func(got string) string {
		if hi == math.MaxInt {
			return fmt.Sprintf("must be at least %d (got %s)", lo, got)
		}
		return fmt.Sprintf("must be between %d and %d (got %s)", lo, hi, got)
	}
	switch r := raw.(type) {
	case int:
		n = r
	case int64:
		if r < math.MinInt || r > math.MaxInt {
			return 0, outside(strconv.FormatInt(r, 10))
		}
		n = int(r)
	case uint64:
		if r > math.MaxInt {
			return 0, outside(strconv.FormatUint(r, 10))
		}
		n = int(r)
	case string:
		var err error
		n, err = strconv.Atoi(r)
		if errors.Is(err, strconv.ErrRange) {
			return 0, outside(r)
		}
		if err != nil {
			return 0, fmt.Sprintf("must be an integer (got %q)", r)
		}
	default:
		return 0, fmt.Sprintf("must be an integer (got %s)", describe(raw))
	}
	if n < lo || n > hi {
		return 0, outside(strconv.Itoa(n))
	}
	return n, ""
}

// toFloat converts a YAML number or a decimal string (from the
// environment) to a finite float64.
func toFloat(raw any) (x float64, msg string) {
	switch r := raw.(type) {
	case float64:
		x = r
	case int:
		x = float64(r)
	case int64:
		x = float64(r)
	case uint64:
		x = float64(r)
	case string:
		var err error
		if x, err = strconv.ParseFloat(strings.TrimSpace(r), 64); err != nil {
			return 0, fmt.Sprintf("must be a number (got %q)", r)
		}
	default:
		return 0, fmt.Sprintf("must be a number (got %s)", describe(raw))
	}
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, fmt.Sprintf("must be a number (got %s)", describe(raw))
	}
	return x, ""
}

// toBool converts a YAML boolean, or a string strconv.ParseBool accepts
// ("true", "false", "1", "0", "t", "F", …, from the environment or a flag),
// to a bool.
func toBool(raw any) (b bool, msg string) {
	const want = "must be true or false"
	switch r := raw.(type) {
	case bool:
		return r, ""
	case string:
		b, err := strconv.ParseBool(strings.TrimSpace(r))
		if err != nil {
			return false, fmt.Sprintf("%s (got %q)", want, r)
		}
		return b, ""
	default:
		return false, fmt.Sprintf("%s (got %s)", want, describe(raw))
	}
}

// toDuration converts a Go duration string ("10s", "1m30s") to a
// time.Duration; a bare number is refused, since its unit would be a guess.
func toDuration(raw any) (d time.Duration, msg string) {
	const want = `must be a duration such as "10s" or "1m30s"`
	switch r := raw.(type) {
	case time.Duration: // the default
		return r, ""
	case string:
		d, err := time.ParseDuration(r)
		if err != nil {
			return 0, fmt.Sprintf("%s (got %q)", want, r)
		}
		return d, ""
	default:
		return 0, fmt.Sprintf("%s (got %s)", want, describe(raw))
	}
}

// describe renders a decoded value for a "(got …)" message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return strconv.Quote(v)
	case []any, []string:
		return "a list"
	case map[string]any, map[any]any:
		return "a mapping"
	default:
		return fmt.Sprint(v)
	}
}

// resolvePath resolves *path, the value of the path key name: a relative
// path from the file is made relative to the file's directory; one from a
// flag, the environment or the embedded default (whose name has no
// directory) stays relative to the working directory. The result is
// cleaned; "" stays "" (the optional files are then off).
func (p *parser) resolvePath(name string, path *string) {
	if *path == "" {
		return
	}
	dir := *path
	if origin, lf := p.source(p.key(name)); origin == "" && lf != nil && !filepath.IsAbs(dir) {
		dir = filepath.Join(filepath.Dir(p.name), dir)
	}
	*path = filepath.Clean(dir)
}
