package geo

import (
	"net/netip"
	"slices"
)

// Networks yields every network that the DB places, in address order
// (IPv4 first, then IPv6), with the Location that Lookup gives each address
// in it: for every yielded (p, loc) and every address a in p,
// Lookup(a) == loc, and loc.Network == p. It is an iter.Seq2:
//
//	for p, loc := range db.Networks { … }
//
// The networks are the database's records and the overrides, merged as
// lookups merge them: an override wins over the database networks it
// covers, and a database network that holds an override is yielded as the
// pieces around it (as are overrides around more specific ones). The IPv6
// networks that a MaxMind DB aliases to its IPv4 tree (::ffff:0:0/96,
// 2001::/32, 2002::/16) are not yielded, nor are networks that neither the
// database nor an override places: they only mirror IPv4, or hold no data.
// A record that does not decode (Open verified them all, so only a damaged
// database in memory could have one) is yielded as unknown, as Lookup
// treats it.
//
// The database must have been verified (Open does it, or Verify after
// DeferVerify): the walk over a search tree that is not sound may never end
// (a node that points back up doubles the paths at every bit), so the
// networks of a database still unverified are not yielded, only the
// overrides.
//
// Networks runs over the files loaded when it starts, whatever Reload does
// meanwhile, and finds nothing on a nil or closed DB. It decodes each record
// once per call, however many networks share it; it is meant for whole-
// database passes (`aya diff`), not for the DNS hot path.
func (d *DB) Networks(yield func(netip.Prefix, Location) bool) {
	if d == nil {
		return
	}
	st := d.cur.Load()
	if st == nil {
		return
	}
	w := walker{st: st, yield: yield}
	if st.ov != nil {
		w.pending = st.ov.pieces()
	}
	if st.db != nil && st.info.Verified && !w.database() {
		return
	}
	for _, p := range w.pending {
		if !yield(p, st.ov.located(p)) {
			return
		}
	}
}

// walker merges the database's networks with the override pieces, both in
// address order and disjoint from each other once the database networks
// are cut around the overrides.
type walker struct {
	st    *state
	yield func(netip.Prefix, Location) bool
	// pending are the override pieces not yet yielded.
	pending []netip.Prefix
	// records caches decoded records by offset: a City database has far
	// fewer records than networks.
	records map[uintptr]Location
}

// database yields the database's networks, cut around the overrides, and
// the override pieces that come before each; false when yield stopped.
func (w *walker) database() bool {
	w.records = make(map[uintptr]Location, 1024)
	for res := range w.st.db.reader.Networks() {
		if res.Err() != nil {
			// Open verified the tree; a walk that fails anyway stops
			// here rather than yield networks it cannot vouch for.
			return true
		}
		p := res.Prefix()
		if p.Addr().Is4In6() {
			continue // the aliases are skipped by the reader; be sure
		}
		loc := w.record(res.Offset())
		if w.st.ov == nil {
			loc.Network = p
			if !w.yield(p, loc) {
				return false
			}
			continue
		}
		if !w.cut(p, loc) {
			return false
		}
	}
	return true
}

// record is the Location of the record at off, Network unset.
func (w *walker) record(off uintptr) Location {
	if loc, ok := w.records[off]; ok {
		return loc
	}
	var loc Location
	if rec, err := decodeRecord(w.st.db.data, uint(off)); err == nil {
		loc.place(rec)
	}
	w.records[off] = loc
	return loc
}

// cut yields the parts of database network p that no override covers, each
// after the override pieces that come before it.
func (w *walker) cut(p netip.Prefix, loc Location) bool {
	ov := w.st.ov
	if ov.covers(p) {
		return true // the override's pieces hold it
	}
	if ov.inside(p) {
		lo, hi := halves(p)
		return w.cut(lo, loc) && w.cut(hi, loc)
	}
	for len(w.pending) > 0 && w.pending[0].Addr().Less(p.Addr()) {
		q := w.pending[0]
		w.pending = w.pending[1:]
		if !w.yield(q, ov.located(q)) {
			return false
		}
	}
	loc.Network = p
	return w.yield(p, loc)
}

// halves splits p, which is not a host prefix, into its two halves.
func halves(p netip.Prefix) (lo, hi netip.Prefix) {
	lo = netip.PrefixFrom(p.Addr(), p.Bits()+1)
	b := p.Addr().AsSlice()
	b[p.Bits()/8] |= 0x80 >> (p.Bits() % 8)
	a, _ := netip.AddrFromSlice(b)
	return lo, netip.PrefixFrom(a, p.Bits()+1)
}

// covers reports whether an override holds all of p.
func (o *overrides) covers(p netip.Prefix) bool {
	lens := o.lens6
	if p.Addr().Is4() {
		lens = o.lens4
	}
	for _, l := range lens {
		if l > p.Bits() {
			continue
		}
		q, _ := p.Addr().Prefix(l)
		if _, ok := o.locs[q]; ok {
			return true
		}
	}
	return false
}

// inside reports whether an override lies strictly within p. Of the
// overrides sorted by address, the first at or after p's address is within
// p if any is; one at p's address that holds p is ruled out by covers.
func (o *overrides) inside(p netip.Prefix) bool {
	sorted := o.sorted6
	if p.Addr().Is4() {
		sorted = o.sorted4
	}
	i, _ := slices.BinarySearchFunc(sorted, p.Addr(), func(q netip.Prefix, a netip.Addr) int { return q.Addr().Compare(a) })
	for ; i < len(sorted) && p.Contains(sorted[i].Addr()); i++ {
		if sorted[i].Bits() > p.Bits() {
			return true
		}
	}
	return false
}

// pieces is every override cut around the more specific overrides within
// it, in address order (IPv4 first): the networks that Networks yields for
// the overrides.
func (o *overrides) pieces() []netip.Prefix {
	var out []netip.Prefix
	var cut func(p netip.Prefix)
	cut = func(p netip.Prefix) {
		if o.inside(p) {
			lo, hi := halves(p)
			cut(lo)
			cut(hi)
			return
		}
		out = append(out, p)
	}
	for _, sorted := range [][]netip.Prefix{o.sorted4, o.sorted6} {
		for _, p := range sorted {
			if !o.coveredByOther(p) { // nested ones are cut out of the one around them
				cut(p)
			}
		}
	}
	return out
}

// coveredByOther reports whether a shorter override holds p.
func (o *overrides) coveredByOther(p netip.Prefix) bool {
	return p.Bits() > 0 && o.covers(netip.PrefixFrom(p.Addr(), p.Bits()-1))
}

// located is the Location of override piece p: the override that holds it,
// with Network p.
func (o *overrides) located(p netip.Prefix) Location {
	loc, _ := o.match(p.Addr())
	loc.Network = p
	return loc
}
