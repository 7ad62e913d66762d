package geo

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"io"
	"math/bits"
	"net/netip"
	"slices"

	"gopkg.in/yaml.v3"
)

// overrides are the operator's networks, matched by longest prefix ahead of
// the database. Immutable once built.
type overrides struct {
	locs map[netip.Prefix]Location
	// lens4 and lens6 are the prefix lengths in use per family, longest
	// first: a lookup tries each once.
	lens4, lens6 []int
	// sorted4 and sorted6 are the prefixes per family in address order, for
	// narrowing a network around more specific overrides (narrow).
	sorted4, sorted6 []netip.Prefix
}

// loadOverrides reads and parses the overrides file at path.
func loadOverrides(path string, max int64, h io.Writer) (*overrides, error) {
	data, err := readCapped(path, max)
	if err != nil {
		return nil, err
	}
	hashFile(h, data)
	return parseOverrides(data, path)
}

// parseOverrides parses an overrides file:
//
//	overrides:
//	  - network: 10.0.0.0/8
//	    region: eu-west          # straight to a region
//	  - network: 192.0.2.0/24
//	    latitude: 48.85
//	    longitude: 2.35
//	    country: FR              # optional
//	    continent: EU            # optional; from the country when absent
//
// An entry needs a network and at least one of region, latitude and
// longitude (both), country or continent. A country without coordinates
// places the network at the country's centre. Errors name file:line; all
// that are found are returned, joined.
func parseOverrides(data []byte, name string) (*overrides, error) {
	o := &overrides{locs: map[netip.Prefix]Location{}}
	root, err := parseYAMLDoc(data, name)
	if err != nil || root == nil {
		return o, err
	}
	if root.Kind != yaml.MappingNode {
		return nil, &ParseError{File: name, Line: root.Line, Msg: "want a mapping with the key overrides"}
	}
	var list *yaml.Node
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if k.Value != "overrides" {
			return nil, &ParseError{File: name, Line: k.Line, Msg: fmt.Sprintf("unknown key %q: want overrides", k.Value)}
		}
		list = v
	}
	if list == nil || (list.Kind == yaml.ScalarNode && list.Tag == "!!null") {
		return o, nil
	}
	ps, errs := parseYAMLEntries(list, name, overrideFields)
	lines := map[netip.Prefix]int{}
	for _, p := range ps {
		if msg := p.checkOverride(); msg != "" {
			errs = append(errs, &ParseError{File: name, Line: p.line, Msg: msg})
			continue
		}
		if line, dup := lines[p.prefix]; dup {
			errs = append(errs, &ParseError{File: name, Line: p.line, Msg: fmt.Sprintf("network %s is also on line %d", p.prefix, line)})
			continue
		}
		lines[p.prefix] = p.line
		o.add(p)
	}
	if len(errs) > 0 {
		return nil, joinByLine(errs)
	}
	o.index()
	return o, nil
}

// checkOverride checks an overrides entry as a whole; "" means fine.
func (p *place) checkOverride() string {
	switch {
	case !p.hasNetwork:
		return "network is required"
	case p.hasLat != p.hasLon:
		return fmt.Sprintf("network %s: give latitude and longitude together", p.prefix)
	case p.region == "" && !p.hasLat && p.country == "" && p.continent == "":
		return fmt.Sprintf("network %s: give a region, latitude and longitude, a country or a continent", p.prefix)
	}
	p.fillContinent()
	return ""
}

// add records the location an entry gives.
func (o *overrides) add(p place) {
	loc := Location{
		Region:    p.region,
		Country:   p.country,
		Continent: p.continent,
		Network:   p.prefix,
		Source:    SourceOverride,
	}
	switch {
	case p.hasLat:
		loc.Latitude, loc.Longitude, loc.HasCoordinates = p.lat, p.lon, true
	case p.country != "":
		c := centroids[p.country]
		loc.Latitude, loc.Longitude, loc.HasCoordinates = c.lat, c.lon, true
	}
	o.locs[p.prefix] = loc
}

// index builds the lookup structures once every entry is added.
func (o *overrides) index() {
	for p := range o.locs {
		if p.Addr().Is4() {
			o.sorted4 = append(o.sorted4, p)
		} else {
			o.sorted6 = append(o.sorted6, p)
		}
	}
	for _, s := range []*[]netip.Prefix{&o.sorted4, &o.sorted6} {
		slices.SortFunc(*s, func(a, b netip.Prefix) int {
			return cmp.Or(a.Addr().Compare(b.Addr()), cmp.Compare(a.Bits(), b.Bits()))
		})
	}
	lens := func(ps []netip.Prefix) []int {
		var ls []int
		for _, p := range ps {
			ls = append(ls, p.Bits())
		}
		slices.Sort(ls)
		ls = slices.Compact(ls)
		slices.Reverse(ls)
		return ls
	}
	o.lens4, o.lens6 = lens(o.sorted4), lens(o.sorted6)
}

// len is the number of overrides.
func (o *overrides) len() int { return len(o.locs) }

// match returns the override with the longest prefix that holds a.
func (o *overrides) match(a netip.Addr) (Location, bool) {
	lens := o.lens6
	if a.Is4() {
		lens = o.lens4
	}
	for _, l := range lens {
		p, _ := a.Prefix(l)
		if loc, ok := o.locs[p]; ok {
			return loc, true
		}
	}
	return Location{}, false
}

// narrow shortens the reach of n, the network a's answer came from (an
// override's, or the database's), so that it holds no more specific
// override that a is not in: n's prefix is the ECS scope of the answer, and
// a resolver must not reuse it for clients of such an override. The result
// is the longest prefix of a that keeps every such override out.
func (o *overrides) narrow(a netip.Addr, n netip.Prefix) netip.Prefix {
	sorted := o.sorted6
	if a.Is4() {
		sorted = o.sorted4
	}
	if len(sorted) == 0 {
		return n
	}
	// inside reports whether p is an override strictly within n; a is in no
	// such override (it would have matched, being longer).
	inside := func(p netip.Prefix) bool { return p.Bits() > n.Bits() && n.Contains(p.Addr()) }
	// Of the overrides inside n, the ones nearest a in address order share
	// the longest common prefix with it. Between a and those neighbours lie
	// only overrides that contain a (at most one per prefix length).
	i, _ := slices.BinarySearchFunc(sorted, a, func(p netip.Prefix, a netip.Addr) int { return p.Addr().Compare(a) })
	need := n.Bits()
	for j := i - 1; j >= 0 && sorted[j].Addr().Compare(n.Addr()) >= 0; j-- {
		if inside(sorted[j]) {
			need = max(need, commonBits(a, sorted[j].Addr())+1)
			break
		}
	}
	for j := i; j < len(sorted) && n.Contains(sorted[j].Addr()); j++ {
		if inside(sorted[j]) {
			need = max(need, commonBits(a, sorted[j].Addr())+1)
			break
		}
	}
	if need == n.Bits() {
		return n
	}
	p, _ := a.Prefix(need)
	return p
}

// commonBits is the length of the common prefix of a and b, of one family.
func commonBits(a, b netip.Addr) int {
	if a.Is4() {
		x, y := a.As4(), b.As4()
		return bits.LeadingZeros32(binary.BigEndian.Uint32(x[:]) ^ binary.BigEndian.Uint32(y[:]))
	}
	x, y := a.As16(), b.As16()
	if hi := binary.BigEndian.Uint64(x[:8]) ^ binary.BigEndian.Uint64(y[:8]); hi != 0 {
		return bits.LeadingZeros64(hi)
	}
	return 64 + bits.LeadingZeros64(binary.BigEndian.Uint64(x[8:])^binary.BigEndian.Uint64(y[8:]))
}
