package config

import (
	"errors"
	"fmt"
	"math"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aya-gslb/aya/internal/names"

	"gopkg.in/yaml.v3"

	"github.com/aya-gslb/aya/probes"
)

// The fields each item of regions and pools (and a pool's check) may have,
// in the order the documentation gives them; TestItemFields keeps them in
// step with the mapstructure tags of the item types.
var (
	regionFields   = []string{"name", "latitude", "longitude", "country", "continent"}
	poolFields     = []string{"name", "ttl", "answers", "fallback", "fallback_addresses", "country_map", "continent_map", "fences", "members", "check"}
	fenceFields    = []string{"name", "countries", "continents", "regions"}
	memberFields   = []string{"region", "bias_km", "min_endpoints", "endpoints"}
	endpointFields = []string{"name", "addresses", "weight", "check_target"}
	// A check's are the probes package's: the yaml tags of its type, and
	// the Go type of each.
	checkFields, checkTypes = yamlKeys(reflect.TypeFor[probes.CheckConfig]())
)

// Limits and defaults of the pool settings.
const (
	// maxValues bounds the values decodeRegions and decodePools visit, so
	// that aliases cannot make a small file expand into a huge one (the
	// "billion laughs"): yaml.v3 guards its own Decode, but these nodes are
	// walked directly.
	maxValues = 100_000

	maxTTL          = 86400 // seconds, one day
	defaultTTL      = 30
	maxBiasKm       = 20000 // about half the Earth's circumference
	defaultFallback = "fail_open"
)

// continents are the codes MaxMind databases use for continents.
var continents = []string{"AF", "AN", "AS", "EU", "NA", "OC", "SA"}

// item is one mapping inside regions or pools, its keys already checked
// against the fields its type allows.
type item struct {
	path  string                // key path of the mapping, e.g. "pools[0].members[1]"
	line  int                   // the mapping's line
	vals  map[string]*yaml.Node // non-null values by field, aliases resolved
	lines map[string]int        // the line of each field's key, null ones too
}

// key is the full key path of field f.
func (it *item) key(f string) string { return it.path + "." + f }

// lineOf is the line of field f's key, or the item's line when f is
// absent, so a missing field is reported where its item starts.
func (it *item) lineOf(f string) int {
	if l, ok := it.lines[f]; ok {
		return l
	}
	return it.line
}

// str is a string from a YAML list, with its line.
type str struct {
	val  string
	line int
}

// pair is an entry of a YAML mapping of strings, with the key's line.
type pair struct {
	key, val string
	line     int
}

// errAt records a problem with key at line of the file.
func (p *parser) errAt(line int, key, format string, args ...any) {
	p.errs = append(p.errs, &Error{File: p.name, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

// topList returns the items of the fileOnly key name, a YAML sequence in
// the file; nil when it is absent, null, or could not be decoded (already
// reported). ok is false when the key is unusable, so references to it
// cannot be checked.
func (p *parser) topList(name string) (items []*yaml.Node, ok bool) {
	lf := p.leaves[name]
	if lf != nil {
		p.top = topKey{name: name, line: lf.line, errs: len(p.errs)}
	}
	switch {
	case p.bad[name]:
		return nil, false
	case lf == nil || isNull(lf.val):
		return nil, true
	case lf.val.Kind != yaml.SequenceNode:
		p.errAt(lf.line, name, "must be a list (got %s)", nodeDesc(lf.val))
		return nil, false
	}
	return lf.val.Content, true
}

// decodeRegions fills c.Regions from the file and checks each region.
func (p *parser) decodeRegions(c *Config) {
	nodes, ok := p.topList("regions")
	p.regionsKnown = ok
	first := make(map[string]string) // name -> key path of its first use
	for i, n := range nodes {
		it, ok := p.item(n, fmt.Sprintf("regions[%d]", i), regionFields)
		if !ok {
			continue
		}
		var r RegionConfig
		name, ok := p.ident(it, "name")
		if !ok || names.Check(name) != "" {
			// Pools may refer to this region by the name it lacks, or by
			// the one meant: do not guess; check no references this time.
			p.regionsKnown = false
		}
		if ok {
			r.Name = name
			p.regionNames = append(p.regionNames, name)
			p.unique(first, it, "name", name)
		}
		r.Latitude, _ = p.float(it, "latitude", -90, 90, true, 0)
		r.Longitude, _ = p.float(it, "longitude", -180, 180, true, 0)
		if s, ok := p.str(it, "country", true); ok {
			if cc, msg := countryCode(s); msg != "" {
				p.errAt(it.lineOf("country"), it.key("country"), "%s", msg)
			} else {
				r.Country = cc
			}
		}
		if s, ok := p.str(it, "continent", true); ok {
			if ct, msg := continentCode(s); msg != "" {
				p.errAt(it.lineOf("continent"), it.key("continent"), "%s", msg)
			} else {
				r.Continent = ct
			}
		}
		c.Regions = append(c.Regions, r)
	}
}

// decodePools fills c.Pools from the file and checks each pool against
// the regions decodeRegions found.
func (p *parser) decodePools(c *Config) {
	nodes, _ := p.topList("pools")
	first := make(map[string]string)
	for i, n := range nodes {
		it, ok := p.item(n, fmt.Sprintf("pools[%d]", i), poolFields)
		if !ok {
			continue
		}
		var pc PoolConfig
		if name, ok := p.ident(it, "name"); ok {
			pc.Name = name
			p.unique(first, it, "name", name)
		}
		ttl, _ := p.integer(it, "ttl", 0, maxTTL, defaultTTL)
		pc.TTL = uint32(ttl)
		pc.Answers, _ = p.integer(it, "answers", 1, math.MaxInt, 1)
		p.decodeFallback(it, &pc)
		pch := p.decodeCheck(it, true)
		pc.Check = pch.cfg
		complete, untargeted := p.decodeMembers(it, &pc, pch)
		if pch.cfg != nil && !pch.portGiven && untargeted != "" {
			p.errAt(pch.item.lineOf("port"), pch.item.key("port"), "required unless every endpoint has check_target (%s has none)", untargeted)
		}

		members := make([]string, 0, len(pc.Members))
		for _, m := range pc.Members {
			members = append(members, m.Region)
		}
		ref := func(line int, key, region string) {
			// Without the whole list of members, a region missing from it
			// says nothing: the members' own errors are what to fix.
			if complete || slices.Contains(members, region) {
				p.memberRef(line, key, region, pc.Name, members)
			}
		}
		pc.CountryMap = p.codeMap(it, "country_map", countryCode, ref)
		pc.ContinentMap = p.codeMap(it, "continent_map", continentCode, ref)
		p.decodeFences(it, &pc, ref)
		c.Pools = append(c.Pools, pc)
	}
}

// decodeFallback fills the fallback settings of a pool.
func (p *parser) decodeFallback(it *item, pc *PoolConfig) {
	pc.Fallback = defaultFallback
	if s, ok := p.str(it, "fallback", false); ok && s != "" {
		switch v := strings.ToLower(s); v {
		case "fail_open", "fallback_addresses", "servfail":
			pc.Fallback = v
		default:
			p.errAt(it.lineOf("fallback"), it.key("fallback"),
				"must be one of fail_open, fallback_addresses, servfail (got %q)", s)
		}
	}
	addrs, ok := p.strs(it, "fallback_addresses")
	for _, a := range addrs {
		pc.FallbackAddresses = append(pc.FallbackAddresses, a.val)
	}
	pc.FallbackAddrs = p.addrs(it.key("fallback_addresses"), addrs)
	if ok && len(addrs) == 0 && pc.Fallback == "fallback_addresses" {
		line := it.lineOf("fallback_addresses")
		if _, set := it.lines["fallback_addresses"]; !set {
			line = it.lineOf("fallback")
		}
		p.errAt(line, it.key("fallback_addresses"), "at least one address required when fallback is fallback_addresses")
	}
}

// decodeMembers fills the members of a pool and their endpoints, which
// pch, the pool's check, probes. complete reports whether every member
// names its region, so that a region missing from them is really not a
// member; untargeted is the key path of the first endpoint without a
// check_target, "" if none.
func (p *parser) decodeMembers(it *item, pc *PoolConfig, pch poolCheck) (complete bool, untargeted string) {
	nodes, ok := p.items(it, "members")
	if ok && len(nodes) == 0 {
		p.errAt(it.lineOf("members"), it.key("members"), "at least one member required")
	}
	complete = len(nodes) > 0
	first := make(map[string]string)
	for i, n := range nodes {
		mi, ok := p.item(n, fmt.Sprintf("%s[%d]", it.key("members"), i), memberFields)
		if !ok {
			complete = false
			continue
		}
		var m MemberConfig
		region, ok := p.str(mi, "region", true)
		complete = complete && ok
		if ok {
			m.Region = region
			if p.unique(first, mi, "region", region) {
				if p.regionsKnown && !slices.Contains(p.regionNames, region) {
					p.errAt(mi.lineOf("region"), mi.key("region"), "unknown region %q%s", region, names.DidYouMean(region, p.regionNames))
				}
			}
		}
		m.BiasKm, _ = p.float(mi, "bias_km", -maxBiasKm, maxBiasKm, false, 0)
		var n int
		var u string
		m.Endpoints, n, u = p.decodeEndpoints(mi, pch)
		if untargeted == "" {
			untargeted = u
		}
		var minOK bool
		m.MinEndpoints, minOK = p.integer(mi, "min_endpoints", 1, math.MaxInt, 1)
		if minOK && n > 0 && m.MinEndpoints > n {
			p.errAt(mi.lineOf("min_endpoints"), mi.key("min_endpoints"),
				"must be at most the member's number of endpoints, %d (got %d)", n, m.MinEndpoints)
		}
		pc.Members = append(pc.Members, m)
	}
	return complete, untargeted
}

// decodeEndpoints returns the endpoints of a member, and n, the number of
// items in its endpoints list; pch is the pool's check. untargeted is the
// key path of the first endpoint without a check_target, "" if none.
func (p *parser) decodeEndpoints(mi *item, pch poolCheck) (out []EndpointConfig, n int, untargeted string) {
	nodes, ok := p.items(mi, "endpoints")
	if ok && len(nodes) == 0 {
		p.errAt(mi.lineOf("endpoints"), mi.key("endpoints"), "at least one endpoint required")
	}
	first := make(map[string]string)
	for i, n := range nodes {
		ei, ok := p.item(n, fmt.Sprintf("%s[%d]", mi.key("endpoints"), i), endpointFields)
		if !ok {
			continue
		}
		var e EndpointConfig
		if name, ok := p.ident(ei, "name"); ok {
			e.Name = name
			p.unique(first, ei, "name", name)
		}
		addrs, ok := p.strs(ei, "addresses")
		if ok && len(addrs) == 0 {
			p.errAt(ei.lineOf("addresses"), ei.key("addresses"), "at least one address required")
		}
		for _, a := range addrs {
			e.Addresses = append(e.Addresses, a.val)
		}
		e.Addrs = p.addrs(ei.key("addresses"), addrs)
		e.Weight, _ = p.integer(ei, "weight", 1, math.MaxInt, 1)
		if !p.decodeCheckTarget(ei, &e, pch) && untargeted == "" {
			untargeted = ei.path
		}
		out = append(out, e)
	}
	return out, len(nodes), untargeted
}

// decodeCheckTarget fills the check_target of an endpoint and what the
// pool's check pch probes on it. targeted reports whether the endpoint has
// a check_target, valid or not.
func (p *parser) decodeCheckTarget(ei *item, e *EndpointConfig, pch poolCheck) (targeted bool) {
	s, ok := p.str(ei, "check_target", false)
	if !ok {
		return true // reported; it is there, only wrong
	}
	e.CheckTarget = s
	switch {
	case s != "" && !pch.present:
		p.errAt(ei.lineOf("check_target"), ei.key("check_target"), "set, but the pool has no check")
	case s != "":
		ap, msg := names.ParseTarget(s)
		if msg != "" {
			p.errAt(ei.lineOf("check_target"), ei.key("check_target"), "%s", msg)
			break
		}
		e.CheckAddr = ap
	case pch.cfg != nil && pch.cfg.Port != nil && len(e.Addrs) > 0:
		a := e.Addrs[0]
		if i := slices.IndexFunc(e.Addrs, netip.Addr.Is4); i >= 0 {
			a = e.Addrs[i]
		}
		e.CheckAddr = netip.AddrPortFrom(a, uint16(*pch.cfg.Port))
	}
	return s != ""
}

// poolCheck is what decodeCheck found of a pool's check.
type poolCheck struct {
	cfg       *probes.CheckConfig // nil when absent or not a mapping
	item      *item               // the check mapping, when cfg is set
	present   bool                // the pool has a check, usable or not
	portGiven bool                // it has a port, valid or not
}

// decodeCheck decodes the check of pool it into the probes package's
// type, which owns its defaults and rules: config checks the keys and the
// type of each value (and resolves tls_ca_file), decodes the usable ones
// over the defaults of the kind, so that a zero written in the file stays
// one, then places each field error of Validate at its key. withPort is
// false for the check of a proxy pool, whose backends' addresses carry the
// port: a port is an error there, and Port stays nil.
func (p *parser) decodeCheck(it *item, withPort bool) poolCheck {
	n := it.vals["check"]
	if n == nil {
		return poolCheck{}
	}
	ci, ok := p.item(n, it.key("check"), checkFields)
	if !ok {
		return poolCheck{present: true}
	}
	pch := poolCheck{item: ci, present: true, portGiven: ci.vals["port"] != nil}
	if !withPort && pch.portGiven {
		p.errAt(ci.lineOf("port"), ci.key("port"), "must not be set: each backend's address has its port")
		delete(ci.vals, "port")
		pch.portGiven = false
	}
	vals, bad := p.typedValues(ci, checkFields, checkTypes)
	var kind probes.Kind
	if s, ok := vals["kind"].(string); ok {
		_ = kind.UnmarshalText([]byte(s)) // never fails
	}
	ck := probes.CheckConfig{Kind: kind}.WithDefaults()
	var vn yaml.Node
	if err := vn.Encode(vals); err != nil {
		p.errAt(ci.line, ci.path, "%v", err) // values of the types checked: not reached
		return pch
	}
	if err := vn.Decode(&ck); err != nil {
		p.errAt(ci.line, ci.path, "%v", err)
		return pch
	}
	p.fieldErrors(ci, bad, ck.Validate())
	if ck.TLSCAFile != "" {
		ck.TLSCAFile = p.fileRelative(ck.TLSCAFile)
	}
	pch.cfg = &ck
	return pch
}

// fieldErrors records the field errors err holds, each a
// *probes.FieldError naming a key of ci, at that key; but none for a key
// in bad, whose value was refused already (and left out).
func (p *parser) fieldErrors(ci *item, bad map[string]bool, err error) {
	var errs []error
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs = j.Unwrap()
	} else if err != nil {
		errs = []error{err}
	}
	for _, err := range errs {
		fe, ok := errors.AsType[*probes.FieldError](err)
		if !ok {
			p.errAt(ci.line, ci.path, "%v", err)
			continue
		}
		f, i, indexed := splitIndex(fe.Field)
		if bad[f] {
			continue
		}
		line := ci.lineOf(f)
		if n := ci.vals[f]; indexed && n != nil && n.Kind == yaml.SequenceNode && i < len(n.Content) {
			line = resolve(n.Content[i]).Line
		}
		p.errAt(line, ci.key(fe.Field), "%s", fe.Msg)
	}
}

// splitIndex splits a field error's field, "expect_status[1]", into the
// key and the index of the item it is about; indexed is false for a plain
// key.
func splitIndex(field string) (key string, i int, indexed bool) {
	key, rest, ok := strings.Cut(field, "[")
	if !ok {
		return field, 0, false
	}
	i, err := strconv.Atoi(strings.TrimSuffix(rest, "]"))
	return key, i, err == nil
}

// typedValues returns the values of fields of it that are of the Go type
// types gives each, converted to it, by field: what yaml.Node.Decode can
// then put in the tagged struct. Absent and null fields, and empty
// strings, are left out, so that the defaults stay; so is a value of the
// wrong type, reported with the messages of every other key, and its
// field is in bad.
func (p *parser) typedValues(it *item, fields []string, types map[string]reflect.Type) (vals map[string]any, bad map[string]bool) {
	vals, bad = make(map[string]any), make(map[string]bool)
	for _, f := range fields {
		if it.vals[f] == nil {
			continue
		}
		var v any
		ok := true
		switch t := types[f]; {
		case t == reflect.TypeFor[time.Duration]():
			v, ok = p.anyDuration(it, f)
		case t.Kind() == reflect.String:
			var s string
			if s, ok = p.str(it, f, false); ok && s == "" {
				continue
			}
			v = s
		case t.Kind() == reflect.Bool:
			v, ok = p.boolean(it, f, false)
		case t.Kind() == reflect.Int, t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Int:
			v, ok = p.integer(it, f, math.MinInt, math.MaxInt, 0)
		case t.Kind() == reflect.Float64:
			v, ok = p.float(it, f, -math.MaxFloat64, math.MaxFloat64, false, 0)
		case t == reflect.TypeFor[[2]int]():
			v, ok = p.statusRange(it, f)
		default:
			panic("config: no decoding for " + t.String()) // a field type added to probes.CheckConfig
		}
		if !ok {
			bad[f] = true
			continue
		}
		vals[f] = v
	}
	return vals, bad
}

// yamlKeys are the keys of struct type t, its yaml tags in field order,
// and the type of the field of each.
func yamlKeys(t reflect.Type) (keys []string, types map[string]reflect.Type) {
	types = make(map[string]reflect.Type)
	for f := range t.Fields() {
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name != "" && name != "-" {
			keys = append(keys, name)
			types[name] = f.Type
		}
	}
	return keys, types
}

// decodeFences fills the fences of a pool; ref checks a region name.
func (p *parser) decodeFences(it *item, pc *PoolConfig, ref func(line int, key, region string)) {
	nodes, _ := p.items(it, "fences")
	first := make(map[string]string)
	for i, n := range nodes {
		fi, ok := p.item(n, fmt.Sprintf("%s[%d]", it.key("fences"), i), fenceFields)
		if !ok {
			continue
		}
		var f FenceConfig
		if name, ok := p.ident(fi, "name"); ok {
			f.Name = name
			p.unique(first, fi, "name", name)
		}
		countries, cok := p.strs(fi, "countries")
		f.Countries = p.codes(fi.key("countries"), countries, countryCode)
		continents, tok := p.strs(fi, "continents")
		f.Continents = p.codes(fi.key("continents"), continents, continentCode)
		if cok && tok && len(countries)+len(continents) == 0 {
			p.errAt(fi.line, fi.path, "at least one country or continent required")
		}
		regions, ok := p.strs(fi, "regions")
		if ok && len(regions) == 0 {
			p.errAt(fi.lineOf("regions"), fi.key("regions"), "at least one region required")
		}
		for j, r := range regions {
			ref(r.line, fmt.Sprintf("%s[%d]", fi.key("regions"), j), r.val)
			f.Regions = append(f.Regions, r.val)
		}
		pc.Fences = append(pc.Fences, f)
	}
}

// memberRef checks that region, named at key, is one of members, the
// regions of the pool called pool.
func (p *parser) memberRef(line int, key, region, pool string, members []string) {
	switch {
	case slices.Contains(members, region):
	case !p.regionsKnown || slices.Contains(p.regionNames, region):
		p.errAt(line, key, "region %q is not a member of pool %q", region, pool)
	default:
		// A typo of a member first, else of any region.
		hint := names.DidYouMean(region, members)
		if hint == "" {
			hint = names.DidYouMean(region, p.regionNames)
		}
		p.errAt(line, key, "unknown region %q%s", region, hint)
	}
}

// codeMap decodes field f of it, a mapping from country or continent codes
// (checked and upper-cased by code) to member regions (checked by ref).
// It returns nil when the mapping is absent or empty.
func (p *parser) codeMap(it *item, f string, code func(string) (string, string),
	ref func(line int, key, region string)) map[string]string {
	pairs, _ := p.strMap(it, f)
	if len(pairs) == 0 {
		return nil
	}
	out := make(map[string]string, len(pairs))
	firstLine := make(map[string]int)
	for _, kv := range pairs {
		key := it.key(f) + "." + printable(kv.key)
		cc, msg := code(kv.key)
		if msg != "" {
			p.errAt(kv.line, key, "%s", msg)
			continue
		}
		if l, dup := firstLine[cc]; dup {
			p.errAt(kv.line, key, "duplicate key (first at line %d)", l)
			continue
		}
		firstLine[cc] = kv.line
		ref(kv.line, key, kv.val)
		out[cc] = kv.val
	}
	return out
}

// codes checks and upper-cases a list of country or continent codes named
// key; nil when the list is empty.
func (p *parser) codes(key string, list []str, code func(string) (string, string)) []string {
	var out []string
	for i, s := range list {
		c, msg := code(s.val)
		if msg != "" {
			p.errAt(s.line, fmt.Sprintf("%s[%d]", key, i), "%s", msg)
			continue
		}
		out = append(out, c)
	}
	return out
}

// addrs parses a list of answer addresses named key, reporting bad and
// repeated ones; nil when the list is empty.
func (p *parser) addrs(key string, list []str) []netip.Addr {
	var out []netip.Addr
	first := make(map[netip.Addr]int)
	for i, s := range list {
		at := fmt.Sprintf("%s[%d]", key, i)
		a, msg := names.ParseAddr(s.val)
		if msg != "" {
			p.errAt(s.line, at, "%s", msg)
			continue
		}
		if j, dup := first[a]; dup {
			p.errAt(s.line, at, "duplicate of %s[%d] (%q)", key, j, list[j].val)
			continue
		}
		first[a] = i
		out = append(out, a)
	}
	return out
}

// item checks that n, at path, is a mapping whose keys are all among
// fields, each once, and returns it. Problems are recorded; ok is false
// when n is not a mapping at all.
func (p *parser) item(n *yaml.Node, path string, fields []string) (*item, bool) {
	n = resolve(n)
	if !p.count(len(n.Content) / 2) {
		return nil, false
	}
	if n.Kind != yaml.MappingNode {
		p.errAt(n.Line, path, "must be a mapping of keys (got %s)", nodeDesc(n))
		return nil, false
	}
	it := &item{path: path, line: n.Line, vals: make(map[string]*yaml.Node), lines: make(map[string]int)}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolve(n.Content[i+1])
		line := kn.Line
		kn = resolve(kn)
		if kn.Kind != yaml.ScalarNode {
			p.errAt(line, path, "keys must be strings (got %s)", kindName(kn))
			continue
		}
		name := kn.Value
		key := path + "." + printable(name)
		switch {
		case kn.ShortTag() == "!!merge":
			p.errAt(line, key, "merge keys (<<) are not supported")
			continue
		case !slices.Contains(fields, name):
			p.errAt(line, key, "unknown key%s", names.DidYouMean(name, fields))
			continue
		}
		if first, dup := it.lines[name]; dup {
			p.errAt(line, key, "duplicate key (first at line %d)", first)
			continue
		}
		it.lines[name] = line
		if !isNull(vn) {
			it.vals[name] = vn
		}
	}
	return it, true
}

// str returns field f of it, a string; "" when absent or null. With req,
// a missing or blank value is reported as required. ok is false when the
// value is unusable (reported).
func (p *parser) str(it *item, f string, req bool) (string, bool) {
	n := it.vals[f]
	switch {
	case n == nil:
		if req {
			p.errAt(it.lineOf(f), it.key(f), "required")
			return "", false
		}
		return "", true
	case !isString(n):
		p.errAt(it.lineOf(f), it.key(f), "must be a string (got %s)", nodeDesc(n))
		return "", false
	case req && strings.TrimSpace(n.Value) == "":
		p.errAt(it.lineOf(f), it.key(f), "required")
		return "", false
	}
	return n.Value, true
}

// ident returns field f of it, a required name of lower-case letters,
// digits and "-".
func (p *parser) ident(it *item, f string) (string, bool) {
	s, ok := p.str(it, f, true)
	if !ok {
		return "", false
	}
	if msg := names.Check(s); msg != "" {
		p.errAt(it.lineOf(f), it.key(f), "%s", msg)
	}
	return s, true
}

// integer returns field f of it, an integer in [lo, hi]; def when absent
// or null.
func (p *parser) integer(it *item, f string, lo, hi, def int) (int, bool) {
	n := it.vals[f]
	if n == nil {
		return def, true
	}
	var raw any
	switch {
	case isString(n):
		raw = n.Value // toInt parses it, as it does a variable
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!int":
		if err := n.Decode(&raw); err != nil {
			_, msg := splitYAMLError(err)
			p.errAt(it.lineOf(f), it.key(f), "%s", msg)
			return def, false
		}
	default:
		p.errAt(it.lineOf(f), it.key(f), "must be an integer (got %s)", nodeDesc(n))
		return def, false
	}
	v, msg := toInt(raw, lo, hi)
	if msg != "" {
		p.errAt(it.lineOf(f), it.key(f), "%s", msg)
		return def, false
	}
	return v, true
}

// float returns field f of it, a finite number in [lo, hi]; def when
// absent or null, unless req, which reports that as required.
func (p *parser) float(it *item, f string, lo, hi float64, req bool, def float64) (float64, bool) {
	n := it.vals[f]
	if n == nil {
		if req {
			p.errAt(it.lineOf(f), it.key(f), "required")
			return def, false
		}
		return def, true
	}
	bad := func() (float64, bool) {
		p.errAt(it.lineOf(f), it.key(f), "must be a number (got %s)", nodeDesc(n))
		return def, false
	}
	if n.Kind != yaml.ScalarNode {
		return bad()
	}
	var v float64
	switch n.ShortTag() {
	case "!!int", "!!float":
		if err := n.Decode(&v); err != nil {
			return bad()
		}
	case "!!str":
		var err error
		if v, err = strconv.ParseFloat(strings.TrimSpace(n.Value), 64); err != nil {
			return bad()
		}
	default:
		return bad()
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return bad()
	}
	if v < lo || v > hi {
		p.errAt(it.lineOf(f), it.key(f), "must be between %s and %s (got %s)",
			formatFloat(lo), formatFloat(hi), strings.TrimSpace(n.Value))
		return def, false
	}
	return v, true
}

// duration returns field f of it, a positive Go duration string ("5s",
// "1m30s"); def when absent or null. A bare number is refused, as
// toDuration does.
func (p *parser) duration(it *item, f string, def time.Duration) (time.Duration, bool) {
	return p.durationFrom(it, f, def, false)
}

// durationFrom is duration, allowing 0 when zeroOK.
func (p *parser) durationFrom(it *item, f string, def time.Duration, zeroOK bool) (time.Duration, bool) {
	if it.vals[f] == nil {
		return def, true
	}
	d, ok := p.anyDuration(it, f)
	switch {
	case !ok:
		return def, false
	case zeroOK && d < 0:
		p.errAt(it.lineOf(f), it.key(f), "must be at least 0 (got %s)", d)
		return def, false
	case !zeroOK && d <= 0:
		p.errAt(it.lineOf(f), it.key(f), "must be greater than 0 (got %s)", d)
		return def, false
	}
	return d, true
}

// anyDuration returns field f of it, present, a Go duration string of any
// sign.
func (p *parser) anyDuration(it *item, f string) (time.Duration, bool) {
	n := it.vals[f]
	if !isString(n) {
		p.errAt(it.lineOf(f), it.key(f), `must be a duration such as "10s" or "1m30s" (got %s)`, nodeDesc(n))
		return 0, false
	}
	d, msg := toDuration(n.Value)
	if msg != "" {
		p.errAt(it.lineOf(f), it.key(f), "%s", msg)
		return 0, false
	}
	return d, true
}

// boolean returns field f of it, a YAML boolean or a string toBool
// accepts; def when absent or null.
func (p *parser) boolean(it *item, f string, def bool) (bool, bool) {
	n := it.vals[f]
	if n == nil {
		return def, true
	}
	var raw any
	switch {
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!bool":
		var b bool
		if err := n.Decode(&b); err != nil {
			p.errAt(it.lineOf(f), it.key(f), "must be true or false (got %s)", nodeDesc(n))
			return def, false
		}
		raw = b
	case isString(n):
		raw = n.Value
	default:
		p.errAt(it.lineOf(f), it.key(f), "must be true or false (got %s)", nodeDesc(n))
		return def, false
	}
	b, msg := toBool(raw)
	if msg != "" {
		p.errAt(it.lineOf(f), it.key(f), "%s", msg)
		return def, false
	}
	return b, true
}

// statusRange returns field f of it, a list of two integers, as an HTTP
// status range is written (the probes package judges the codes); zero
// when absent or null.
func (p *parser) statusRange(it *item, f string) ([2]int, bool) {
	n := it.vals[f]
	if n == nil {
		return [2]int{}, true
	}
	const want = "must be a list of two status codes, low and high, such as [200, 399]"
	switch {
	case !p.count(len(n.Content)):
		return [2]int{}, false
	case n.Kind != yaml.SequenceNode:
		p.errAt(it.lineOf(f), it.key(f), "%s (got %s)", want, nodeDesc(n))
		return [2]int{}, false
	case len(n.Content) != 2:
		p.errAt(it.lineOf(f), it.key(f), "%s (got %d items)", want, len(n.Content))
		return [2]int{}, false
	}
	var out [2]int
	ok := true
	for i, c := range n.Content {
		c = resolve(c)
		key := fmt.Sprintf("%s[%d]", it.key(f), i)
		var raw any
		switch {
		case isString(c):
			raw = c.Value
		case c.Kind == yaml.ScalarNode && c.ShortTag() == "!!int":
			if err := c.Decode(&raw); err != nil {
				_, msg := splitYAMLError(err)
				p.errAt(c.Line, key, "%s", msg)
				ok = false
				continue
			}
		default:
			p.errAt(c.Line, key, "must be an integer (got %s)", nodeDesc(c))
			ok = false
			continue
		}
		v, msg := toInt(raw, math.MinInt, math.MaxInt)
		if msg != "" {
			p.errAt(c.Line, key, "%s", msg)
			ok = false
			continue
		}
		out[i] = v
	}
	if !ok {
		return [2]int{}, false
	}
	return out, true
}

// strs returns field f of it, a list of strings: a YAML sequence, or one
// comma-separated string as everywhere else (see splitList); nil when
// absent or null. ok is false when it is not a list (reported); items that
// are not strings are reported and left out.
func (p *parser) strs(it *item, f string) ([]str, bool) {
	n := it.vals[f]
	switch {
	case n == nil:
		return nil, true
	case !p.count(len(n.Content)):
		return nil, false
	case isString(n):
		var out []str
		for _, s := range splitList(n.Value) {
			out = append(out, str{s, n.Line})
		}
		return out, true
	case n.Kind != yaml.SequenceNode:
		p.errAt(it.lineOf(f), it.key(f), "must be a list (got %s)", nodeDesc(n))
		return nil, false
	}
	var out []str
	ok := true
	for i, c := range n.Content {
		c = resolve(c)
		if !isString(c) {
			p.errAt(c.Line, fmt.Sprintf("%s[%d]", it.key(f), i), "must be a string (got %s)", nodeDesc(c))
			ok = false
			continue
		}
		out = append(out, str{c.Value, c.Line})
	}
	if !ok {
		// Keep the other checks quiet about a list that is only partly
		// usable: its indexes no longer match.
		return nil, false
	}
	return out, true
}

// items returns field f of it, a YAML sequence of mappings; nil when
// absent or null. ok is false when it is not a list (reported).
func (p *parser) items(it *item, f string) ([]*yaml.Node, bool) {
	n := it.vals[f]
	switch {
	case n == nil:
		return nil, true
	case n.Kind != yaml.SequenceNode:
		p.errAt(it.lineOf(f), it.key(f), "must be a list (got %s)", nodeDesc(n))
		return nil, false
	}
	return n.Content, true
}

// strMap returns field f of it, a mapping of strings to strings, in file
// order; nil when absent or null.
func (p *parser) strMap(it *item, f string) ([]pair, bool) {
	n := it.vals[f]
	switch {
	case n == nil:
		return nil, true
	case n.Kind != yaml.MappingNode:
		p.errAt(it.lineOf(f), it.key(f), "must be a mapping (got %s)", nodeDesc(n))
		return nil, false
	case !p.count(len(n.Content) / 2):
		return nil, false
	}
	var out []pair
	ok := true
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], resolve(n.Content[i+1])
		line := kn.Line
		kn = resolve(kn)
		if kn.Kind != yaml.ScalarNode {
			p.errAt(line, it.key(f), "keys must be strings (got %s)", kindName(kn))
			ok = false
			continue
		}
		key := it.key(f) + "." + printable(kn.Value)
		if kn.ShortTag() == "!!merge" {
			p.errAt(line, key, "merge keys (<<) are not supported")
			ok = false
			continue
		}
		if !isString(vn) {
			p.errAt(line, key, "must be a string (got %s)", nodeDesc(vn))
			ok = false
			continue
		}
		out = append(out, pair{kn.Value, vn.Value, line})
	}
	return out, ok
}

// topKey is the fileOnly key being decoded.
type topKey struct {
	name string
	line int
	errs int // len(parser.errs) when its decoding started
}

// count adds a node with k children to the values visited, and reports
// whether the walk may go on. Once maxValues is exceeded it is false, and
// the errors found so far in the key being decoded, likely the same few
// repeated by the aliases, are replaced by one.
func (p *parser) count(k int) bool {
	if p.values > maxValues {
		return false
	}
	p.values += 1 + k
	if p.values > maxValues {
		p.errs = p.errs[:p.top.errs]
		p.errAt(p.top.line, p.top.name, "more than %d values, counting each use of an alias: aliases expanding too far?", maxValues)
		return false
	}
	return true
}

// isString reports whether n is a YAML string scalar.
func isString(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!str"
}

// nodeDesc renders a node for a "(got …)" message, as describe does a
// decoded value: strings quoted, other scalars (5, true, .nan) as written
// unless that would not read as one token, as with a tagged
// `!!int "1\n2"`.
func nodeDesc(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode && !isNull(n) && !isString(n) {
		if strings.ContainsFunc(n.Value, func(r rune) bool { return r <= ' ' || r >= 0x7f || r == '"' }) || n.Value == "" {
			return strconv.Quote(n.Value)
		}
		return n.Value
	}
	return kindName(n)
}

// formatFloat prints a bound in a message: 90, -20000, 0.5.
func formatFloat(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// countryCode checks an ISO 3166-1 alpha-2 code and returns it upper-case.
// Only the shape is checked, plus "UK": ISO reserves it, but geo databases
// place the United Kingdom in "GB", so a rule for "UK" would never match.
func countryCode(s string) (string, string) {
	up := strings.ToUpper(s)
	if len(up) != 2 || up[0] < 'A' || up[0] > 'Z' || up[1] < 'A' || up[1] > 'Z' {
		return "", fmt.Sprintf("must be an ISO 3166-1 alpha-2 country code such as \"US\" (got %q)", s)
	}
	if meant := names.CountryFor(up); meant != "" {
		return "", fmt.Sprintf("must be an ISO 3166-1 alpha-2 country code (got %q; did you mean %q?)", s, meant)
	}
	return up, ""
}

// continentCode checks a continent code and returns it upper-case.
func continentCode(s string) (string, string) {
	up := strings.ToUpper(s)
	if !slices.Contains(continents, up) {
		return "", fmt.Sprintf("must be one of %s (got %q)", strings.Join(continents, ", "), s)
	}
	return up, ""
}

// unique reports a value of field that an earlier item of the list already
// has, naming that item; it returns whether the value was new. seen maps
// values to the paths of the items that had them first.
func (p *parser) unique(seen map[string]string, it *item, field, val string) bool {
	if prev, dup := seen[val]; dup {
		p.errAt(it.lineOf(field), it.key(field), "duplicate of %s (%q)", prev, val)
		return false
	}
	seen[val] = it.path
	return true
}
