package geo

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"net/netip"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/aya-gslb/aya/internal/names"
)

// ParseError is a problem in a source or overrides file, with the line it
// was found on. It prints as "file:line: message" (line omitted when
// unknown), the form editors and CI logs link to.
type ParseError struct {
	File string
	Line int
	Msg  string
}

func (e *ParseError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.File, e.Msg)
}

// Network is one network of a source file: where its clients are.
type Network struct {
	Prefix              netip.Prefix
	Latitude, Longitude float64
	// Country is an ISO 3166-1 alpha-2 code and Continent a continent code
	// (AF AN AS EU NA OC SA); both optional, Continent derived from Country
	// when empty. City is an optional name.
	Country, Continent, City string
}

// ParseSource reads the small source format that Build compiles, YAML or
// CSV as name ends in .yaml/.yml or .csv (name is also the file named in
// errors).
//
// YAML is a list of networks:
//
//	# nets.yaml
//	- network: 81.2.69.0/24   # CIDR prefix, or one address
//	  latitude: 51.5142
//	  longitude: -0.0931
//	  country: GB             # optional
//	  continent: EU           # optional; from country when absent
//	  city: London            # optional
//
// CSV has a header naming its columns, network, latitude and longitude
// required, country, continent and city optional, in any order; lines
// starting with # are comments:
//
//	network,latitude,longitude,country,continent,city
//	81.2.69.0/24,51.5142,-0.0931,GB,EU,London
//
// Prefixes must be canonical (no host bits set) and appear once; the more
// specific of two overlapping networks wins. Errors name file:line; all that
// are found are returned, joined.
func ParseSource(r io.Reader, name string) ([]Network, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, &ParseError{File: name, Msg: err.Error()}
	}
	var ps []place
	var errs []error
	switch strings.ToLower(filepath.Ext(name)) {
	case ".yaml", ".yml":
		ps, errs = parseYAMLList(data, name, sourceFields)
	case ".csv":
		ps, errs = parseCSV(data, name)
	default:
		return nil, &ParseError{File: name, Msg: "unknown source format: want a .yaml, .yml or .csv file"}
	}
	seen := make(map[netip.Prefix]place, len(ps))
	nets := make([]Network, 0, len(ps))
	for _, p := range ps {
		if msg := p.checkSource(); msg != "" {
			errs = append(errs, &ParseError{File: name, Line: p.line, Msg: msg})
			continue
		}
		key := treeKey(p.prefix)
		if first, dup := seen[key]; dup {
			msg := fmt.Sprintf("network %s is also on line %d", p.prefix, first.line)
			if first.prefix != p.prefix {
				msg = fmt.Sprintf("network %s is the same as %s on line %d (a MaxMind DB keeps IPv4 at ::/96)", p.prefix, first.prefix, first.line)
			}
			errs = append(errs, &ParseError{File: name, Line: p.line, Msg: msg})
			continue
		}
		seen[key] = p
		nets = append(nets, Network{
			Prefix: p.prefix, Latitude: p.lat, Longitude: p.lon,
			Country: p.country, Continent: p.continent, City: p.city,
		})
	}
	if len(errs) > 0 {
		return nil, joinByLine(errs)
	}
	return nets, nil
}

// joinByLine joins errors in the order of their lines.
func joinByLine(errs []error) error {
	line := func(err error) int {
		if pe, ok := errors.AsType[*ParseError](err); ok {
			return pe.Line
		}
		return 0
	}
	slices.SortStableFunc(errs, func(a, b error) int { return cmp.Compare(line(a), line(b)) })
	return errors.Join(errs...)
}

// place is one entry of a source or overrides file as read, before the
// checks that differ between the two.
type place struct {
	line                             int
	prefix                           netip.Prefix
	lat, lon                         float64
	hasNetwork, hasLat, hasLon       bool
	country, continent, city, region string
}

// fieldSet is the keys an entry may have.
type fieldSet map[string]bool

var (
	sourceFields   = fieldSet{"network": true, "latitude": true, "longitude": true, "country": true, "continent": true, "city": true}
	overrideFields = fieldSet{"network": true, "latitude": true, "longitude": true, "country": true, "continent": true, "region": true}
)

// names lists a field set's keys for messages, in a fixed order.
func (fs fieldSet) names() string {
	var out []string
	for _, k := range []string{"network", "region", "latitude", "longitude", "country", "continent", "city"} {
		if fs[k] {
			out = append(out, k)
		}
	}
	return strings.Join(out, ", ")
}

// set parses one field; it returns a message for a bad value.
func (p *place) set(key, val string) string {
	val = strings.TrimSpace(val)
	switch key {
	case "network":
		pfx, msg := parseNetwork(val)
		if msg != "" {
			return msg
		}
		p.prefix, p.hasNetwork = pfx, true
	case "latitude", "longitude":
		limit := 90.0
		if key == "longitude" {
			limit = 180
		}
		f, err := strconv.ParseFloat(val, 64)
		if err != nil || math.IsNaN(f) || f < -limit || f > limit {
			return fmt.Sprintf("%s %q: want a number from %g to %g", key, val, -limit, limit)
		}
		if key == "latitude" {
			p.lat, p.hasLat = f, true
		} else {
			p.lon, p.hasLon = f, true
		}
	case "country":
		c := strings.ToUpper(val)
		if _, ok := centroids[c]; !ok {
			if meant := names.CountryFor(c); meant != "" {
				return fmt.Sprintf("country %q: not an ISO 3166-1 alpha-2 code (did you mean %q?)", val, meant)
			}
			return fmt.Sprintf("country %q: not an ISO 3166-1 alpha-2 code", val)
		}
		p.country = c
	case "continent":
		c := strings.ToUpper(val)
		if _, ok := continents[c]; !ok {
			return fmt.Sprintf("continent %q: want one of AF AN AS EU NA OC SA", val)
		}
		p.continent = c
	case "city":
		p.city = val
	case "region":
		if val == "" {
			return "region: empty"
		}
		p.region = val
	}
	return ""
}

// checkSource checks a source entry as a whole; "" means fine.
func (p *place) checkSource() string {
	switch {
	case !p.hasNetwork:
		return "network is required"
	case !p.hasLat || !p.hasLon:
		return fmt.Sprintf("network %s: latitude and longitude are required", p.prefix)
	}
	if a, ok := aliasHolding(p.prefix); ok {
		return fmt.Sprintf("network %s is inside %s, which MaxMind DBs alias to IPv4: list IPv4 networks instead", p.prefix, a)
	}
	p.fillContinent()
	return ""
}

// fillContinent derives the continent from the country when absent.
func (p *place) fillContinent() {
	if p.continent == "" && p.country != "" {
		p.continent = centroids[p.country].continent
	}
}

// treeKey is where p sits in the IPv6 tree of a MaxMind DB, which keeps
// IPv4 at ::/96: ::a.b.c.d/(96+n) is the same network as a.b.c.d/n.
func treeKey(p netip.Prefix) netip.Prefix {
	a := p.Addr()
	if !a.Is6() || p.Bits() < 96 {
		return p
	}
	b := a.As16()
	if [12]byte(b[:12]) != [12]byte{} {
		return p
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(b[12:])), p.Bits()-96)
}

// aliased are the IPv6 networks that MaxMind DBs map onto the IPv4 tree
// (mmdbwriter's IPv4 aliasing: IPv4-mapped, Teredo, 6to4): a database
// cannot hold records of its own inside them.
var aliased = []netip.Prefix{
	netip.MustParsePrefix("::ffff:0:0/96"),
	netip.MustParsePrefix("2001::/32"),
	netip.MustParsePrefix("2002::/16"),
}

// parseNetwork parses a canonical CIDR prefix, or one address as a host
// prefix; it returns a message when s is neither.
func parseNetwork(s string) (netip.Prefix, string) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		a, aerr := netip.ParseAddr(s)
		if aerr != nil || a.Zone() != "" {
			return p, fmt.Sprintf("network %q: not a CIDR prefix or an address", s)
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if m := p.Masked(); m != p {
		return p, fmt.Sprintf("network %s has host bits set: the network is %s", p, m)
	}
	if p.Addr().Is4In6() && p.Bits() >= 96 {
		v4 := netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		return p, fmt.Sprintf("network %s is IPv4-mapped: write it %s", p, v4)
	}
	return p, ""
}

// aliasHolding returns the aliased network that p lies in, if any. (A
// network that holds an aliased one is fine: the alias keeps pointing at
// the IPv4 tree.)
func aliasHolding(p netip.Prefix) (netip.Prefix, bool) {
	for _, a := range aliased {
		if p.Bits() >= a.Bits() && a.Contains(p.Addr()) {
			return a, true
		}
	}
	return netip.Prefix{}, false
}

// yamlLine finds the line in a yaml.v3 error message ("yaml: line 3: …").
var yamlLine = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 syntax error into a ParseError.
func yamlError(name string, err error) error {
	msg := err.Error()
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &ParseError{File: name, Line: line, Msg: m[2]}
	}
	return &ParseError{File: name, Msg: strings.TrimPrefix(msg, "yaml: ")}
}

// parseYAMLDoc parses data into its root node; nil for an empty document.
func parseYAMLDoc(data []byte, name string) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, yamlError(name, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil, nil
	}
	return root, nil
}

// parseYAMLList parses a document that is a list of entries. It returns
// the entries whose fields are fine and the errors of the others.
func parseYAMLList(data []byte, name string, fields fieldSet) ([]place, []error) {
	root, err := parseYAMLDoc(data, name)
	if err != nil {
		return nil, []error{err}
	}
	if root == nil {
		return nil, nil
	}
	return parseYAMLEntries(root, name, fields)
}

// parseYAMLEntries parses a sequence node of entries, each a mapping of
// fields to scalars. It returns the entries whose fields are fine and the
// errors of the others.
func parseYAMLEntries(seq *yaml.Node, name string, fields fieldSet) ([]place, []error) {
	if seq.Kind != yaml.SequenceNode {
		return nil, []error{&ParseError{File: name, Line: seq.Line, Msg: "want a list of networks"}}
	}
	var errs []error
	fail := func(line int, format string, args ...any) {
		errs = append(errs, &ParseError{File: name, Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	ps := make([]place, 0, len(seq.Content))
	for _, item := range seq.Content {
		if item.Kind != yaml.MappingNode {
			fail(item.Line, "want a mapping of %s", fields.names())
			continue
		}
		p := place{line: item.Line}
		seen := map[string]bool{}
		ok := true
		for i := 0; i+1 < len(item.Content); i += 2 {
			k, v := item.Content[i], item.Content[i+1]
			switch {
			case k.Kind != yaml.ScalarNode || !fields[k.Value]:
				fail(k.Line, "unknown key %q: want %s", k.Value, fields.names())
				ok = false
			case seen[k.Value]:
				fail(k.Line, "%s given twice", k.Value)
				ok = false
			case v.Kind != yaml.ScalarNode:
				fail(v.Line, "%s: want a single value", k.Value)
				ok = false
			default:
				seen[k.Value] = true
				if msg := p.set(k.Value, v.Value); msg != "" {
					fail(v.Line, "%s", msg)
					ok = false
				}
			}
		}
		if ok {
			ps = append(ps, p)
		}
	}
	return ps, errs
}

// parseCSV parses the CSV source format. It returns the rows whose fields
// are fine and the errors of the others.
func parseCSV(data []byte, name string) ([]place, []error) {
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF")) // a UTF-8 BOM from spreadsheet exports
	r := csv.NewReader(bytes.NewReader(data))
	r.Comment = '#'
	r.TrimLeadingSpace = true
	r.FieldsPerRecord = -1 // checked here, for a clearer message
	csvErr := func(err error) error {
		if pe, ok := errors.AsType[*csv.ParseError](err); ok {
			return &ParseError{File: name, Line: pe.Line, Msg: pe.Err.Error()}
		}
		return &ParseError{File: name, Msg: err.Error()}
	}
	header, err := r.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil
	}
	if err != nil {
		return nil, []error{csvErr(err)}
	}
	line, _ := r.FieldPos(0)
	cols := make([]string, len(header))
	seen := map[string]bool{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(h))
		if !sourceFields[h] {
			return nil, []error{&ParseError{File: name, Line: line, Msg: fmt.Sprintf("header: unknown column %q: want %s", h, sourceFields.names())}}
		}
		if seen[h] {
			return nil, []error{&ParseError{File: name, Line: line, Msg: fmt.Sprintf("header: column %q given twice", h)}}
		}
		seen[h], cols[i] = true, h
	}
	for _, h := range []string{"network", "latitude", "longitude"} {
		if !seen[h] {
			return nil, []error{&ParseError{File: name, Line: line, Msg: fmt.Sprintf("header: column %q is required (header: %s)", h, sourceFields.names())}}
		}
	}
	var errs []error
	var ps []place
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			errs = append(errs, csvErr(err))
			break
		}
		line, _ := r.FieldPos(0)
		if len(rec) != len(cols) {
			errs = append(errs, &ParseError{File: name, Line: line, Msg: fmt.Sprintf("%d fields, want %d (%s)", len(rec), len(cols), strings.Join(cols, ","))})
			continue
		}
		p := place{line: line}
		ok := true
		for i, v := range rec {
			if strings.TrimSpace(v) == "" {
				continue // an empty optional column; required ones are checked after
			}
			if msg := p.set(cols[i], v); msg != "" {
				errs = append(errs, &ParseError{File: name, Line: line, Msg: msg})
				ok = false
			}
		}
		if ok {
			ps = append(ps, p)
		}
	}
	return ps, errs
}
