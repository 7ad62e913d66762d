package dnsserver

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/internal/names"
)

// ZoneError is a problem in a zone file, with the position it was found at.
// It prints as "file:line:col: message" (col omitted when unknown), the form
// editors and CI logs link to.
type ZoneError struct {
	File string
	Line int
	Col  int
	Msg  string
}

func (e *ZoneError) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
}

// ZoneLimits bound what one zone file with the files it includes may make:
// a zone from a release is parsed by every site, so what a few bytes can
// make ($GENERATE makes up to 65536 records a line, nested $INCLUDEs
// multiply) is bounded, and checked before the parser expands or reads
// anything. A zone over a limit is refused with the file:line of the entry
// that passes it; the zero value of a field means its default.
type ZoneLimits struct {
	// MaxRecords is the most records a zone may hold (default 2,000,000;
	// dns.zones.max_records).
	MaxRecords int
	// MaxFileSize is the most bytes of a zone file and the files it
	// includes together (default 64 MiB; dns.zones.max_file_size).
	MaxFileSize int64
	// MaxGenerate is the most records one $GENERATE line may make (default
	// 65536, miekg/dns's own bound; dns.zones.max_generate).
	MaxGenerate int
	// MaxGenerateTotal is the most records the $GENERATE lines of a zone
	// may make together (default 262,144; dns.zones.max_generate_total).
	MaxGenerateTotal int
}

// Defaults of ZoneLimits.
const (
	DefaultMaxZoneRecords   = 2_000_000
	DefaultMaxZoneFileSize  = 64 << 20
	DefaultMaxGenerate      = 65536
	DefaultMaxGenerateTotal = 1 << 18
)

// WithDefaults returns l with each zero field set to its default.
func (l ZoneLimits) WithDefaults() ZoneLimits {
	if l.MaxRecords <= 0 {
		l.MaxRecords = DefaultMaxZoneRecords
	}
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = DefaultMaxZoneFileSize
	}
	if l.MaxGenerate <= 0 {
		l.MaxGenerate = DefaultMaxGenerate
	}
	if l.MaxGenerateTotal <= 0 {
		l.MaxGenerateTotal = DefaultMaxGenerateTotal
	}
	return l
}

// maxIncludes is the most $INCLUDEs a zone may open, all nested ones
// counted.
const maxIncludes = 4096

var errTooManyIncludes = fmt.Errorf("more than %d files included by the zone", maxIncludes)

// countFS is an include FS that opens at most maxIncludes files.
type countFS struct {
	fs.FS
	n int
}

// Open implements fs.FS.
func (c *countFS) Open(name string) (fs.File, error) {
	if c.n++; c.n > maxIncludes {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errTooManyIncludes}
	}
	return c.FS.Open(name)
}

// node is one owner name of a zone: its RRsets, or none for an empty
// non-terminal (RFC 4592 §2.2.2).
type node struct {
	name   string // lower-case, fully qualified
	rrsets rrsets
	// cut is set on a delegation point: a name below the apex with NS.
	cut bool
	// occluded is set on names strictly below a delegation point (glue).
	occluded bool
}

// rrsets are the RRsets of one name, in the order of their first records:
// a name has few, and a slice of them takes a tenth of the memory of a map
// (a zone of a million names held 280 MB of one-entry maps).
type rrsets []rrset

// rrset is the records of one type of a name.
type rrset struct {
	t   uint16
	rrs []dns.RR
}

// get returns the records of type t.
func (s rrsets) get(t uint16) []dns.RR {
	for i := range s {
		if s[i].t == t {
			return s[i].rrs
		}
	}
	return nil
}

// put sets the records of type t.
func (s *rrsets) put(t uint16, rrs []dns.RR) {
	for i := range *s {
		if (*s)[i].t == t {
			(*s)[i].rrs = rrs
			return
		}
	}
	*s = append(*s, rrset{t: t, rrs: rrs})
}

// types returns the types of the RRsets.
func (s rrsets) types() []uint16 {
	out := make([]uint16, len(s))
	for i := range s {
		out[i] = s[i].t
	}
	return out
}

// Zone is one parsed, validated zone. It is immutable once returned by
// ParseZone: queries read it concurrently without locks.
type Zone struct {
	Origin string // lower-case, fully qualified
	File   string
	SOA    *dns.SOA
	nodes  map[string]*node
	// records in file order (SOA first), for zone transfers; GSLB records,
	// which never leave the server, are not among them.
	records []dns.RR
	// bindings maps owner names to the pool their GSLB record names.
	bindings map[string]binding
	// sec is set on a signed copy (WithSignatures, signed.go), nil on a
	// zone as parsed.
	sec *signedZone
}

// Serial is the SOA serial of the zone.
func (z *Zone) Serial() uint32 { return z.SOA.Serial }

// Len is the number of records in the zone.
func (z *Zone) Len() int { return len(z.records) }

// negativeSOA is the SOA for the authority section of negative answers, with
// TTL = min(SOA TTL, SOA MINIMUM) (RFC 2308 §3).
func (z *Zone) negativeSOA() *dns.SOA {
	soa := *z.SOA
	soa.Hdr.Ttl = min(z.SOA.Hdr.Ttl, z.SOA.Minttl)
	return &soa
}

// ParseZoneFile reads and parses the zone file at path for origin. Its
// $INCLUDEs are confined to the file's directory (see ParseZoneFS).
func ParseZoneFile(file, origin string) (*Zone, error) {
	return ZoneLimits{}.ParseFile(file, origin)
}

// ParseFile is ParseZoneFile within l.
func (l ZoneLimits) ParseFile(file, origin string) (*Zone, error) {
	dir, name := filepath.Split(file)
	return l.ParseFS(os.DirFS(cmp.Or(dir, ".")), dir, name, origin)
}

// ParseZone parses an RFC 1035 master file for origin, read from r (file is
// the name used in errors; $INCLUDE paths are resolved in its directory,
// which they cannot leave), and checks what a master file parser alone does
// not: an SOA at the apex and nowhere else, NS at the apex, every owner
// inside the zone, no CNAME beside other data, one TTL per RRset (RFC 2181
// §5.2), class IN, and nothing but glue below a delegation. Errors carry
// file:line.
func ParseZone(r io.Reader, origin, file string) (*Zone, error) {
	lim := ZoneLimits{}.WithDefaults()
	data, err := io.ReadAll(io.LimitReader(r, lim.MaxFileSize+1))
	if err != nil {
		return nil, &ZoneError{File: file, Msg: err.Error()}
	}
	if int64(len(data)) > lim.MaxFileSize {
		return nil, tooLarge(file, lim)
	}
	dir, name := filepath.Split(file)
	return parseZone(data, os.DirFS(cmp.Or(dir, ".")), dir, name, origin, lim)
}

func tooLarge(file string, lim ZoneLimits) error {
	return &ZoneError{File: file, Msg: fmt.Sprintf("more than %d bytes (dns.zones.max_file_size)", lim.MaxFileSize)}
}

// ParseZoneFS parses the zone file name of fsys for origin, as ParseZone
// does. Its $INCLUDEs are read from fsys alone: a path that leaves it
// (absolute, or with ".." past its root) is not found. Errors and the
// zone's File name files as dir joined with their name in fsys.
func ParseZoneFS(fsys fs.FS, dir, name, origin string) (*Zone, error) {
	return ZoneLimits{}.ParseFS(fsys, dir, name, origin)
}

// ParseFS is ParseZoneFS within l: a file larger than l.MaxFileSize is
// refused before it is read.
func (l ZoneLimits) ParseFS(fsys fs.FS, dir, name, origin string) (*Zone, error) {
	l = l.WithDefaults()
	if st, err := fs.Stat(fsys, name); err == nil && st.Size() > l.MaxFileSize {
		return nil, tooLarge(filepath.Join(dir, name), l)
	}
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, &ZoneError{File: filepath.Join(dir, name), Msg: fsError(err)}
	}
	if int64(len(data)) > l.MaxFileSize {
		return nil, tooLarge(filepath.Join(dir, name), l)
	}
	return parseZone(data, fsys, dir, name, origin, l)
}

// ScanFS reads the zone file name of fsys and the files it includes, and
// checks them within l, as ParseFS does before it parses: it reads what
// ParseFS would read, for a tenth of the time and no records. Errors are
// ParseFS's for the limits, the scanner's own for an $INCLUDE that does not
// read (ParseFS says more).
func (l ZoneLimits) ScanFS(fsys fs.FS, dir, name, origin string) error {
	l = l.WithDefaults()
	display := func(f string) string { return filepath.Join(dir, filepath.FromSlash(f)) }
	if st, err := fs.Stat(fsys, name); err == nil && st.Size() > l.MaxFileSize {
		return tooLarge(display(name), l)
	}
	data, err := fs.ReadFile(fsys, name)
	if err != nil {
		return &ZoneError{File: display(name), Msg: fsError(err)}
	}
	if int64(len(data)) > l.MaxFileSize {
		return tooLarge(display(name), l)
	}
	_, soft, err := scanZone(fsys, l, data, name, names.Canonical(origin))
	if err == nil {
		err = soft
	}
	if ze, ok := errors.AsType[*ZoneError](err); ok {
		ze.File = display(ze.File)
	}
	return err
}

// fsError is err without the path an fs.PathError repeats.
func fsError(err error) string {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err.Error()
	}
	return err.Error()
}

// parseZone is ParseZoneFS of data, the contents of name.
func parseZone(data []byte, fsys fs.FS, dir, name, origin string, lim ZoneLimits) (*Zone, error) {
	z, err := parseZoneData(data, fsys, name, origin, lim)
	display := func(f string) string {
		if dir == "" {
			return f
		}
		return filepath.Join(dir, filepath.FromSlash(f))
	}
	if err != nil {
		if ze, ok := errors.AsType[*ZoneError](err); ok {
			ze.File = display(ze.File)
		}
		return nil, err
	}
	z.File = display(z.File)
	for k, b := range z.bindings {
		b.file = display(b.file)
		z.bindings[k] = b
	}
	return z, nil
}

func parseZoneData(data []byte, fsys fs.FS, file, origin string, lim ZoneLimits) (*Zone, error) {
	registerGSLB()
	origin = names.Canonical(origin)
	// The scanner goes first: it checks the limits before the parser
	// expands a $GENERATE, and it numbers the records. A file the fast
	// parser reads whole expands and includes nothing (and its size was
	// checked before it was read): it is scanned only when a record's line
	// is needed (an error, a GSLB binding), it has more records than the
	// zone may (the scanner names the line), or an $ORIGIN outside the zone
	// (the scanner refuses it at its line). A big zone is then read once,
	// not twice.
	rrs, outside, fast := fastParse(data, origin, file, bytes.Count(data, []byte{'\n'})+1)
	var (
		pos     *positions
		soft    error
		scanErr error
		scanned bool
	)
	scan := func() error {
		if !scanned {
			scanned = true
			pos, soft, scanErr = scanZone(fsys, lim, data, file, origin)
		}
		return scanErr
	}
	if !fast || outside || len(rrs) > lim.MaxRecords {
		if err := scan(); err != nil {
			return nil, err
		}
	}
	if fast && len(rrs) > lim.MaxRecords {
		return nil, &ZoneError{File: file, Msg: fmt.Sprintf("more than %d records in the zone (dns.zones.max_records)", lim.MaxRecords)}
	}
	if !fast {
		zp := dns.NewZoneParser(bytes.NewReader(data), origin, file)
		zp.SetIncludeAllowed(true)
		zp.SetIncludeFS(&countFS{FS: fsys})
		rrs = make([]dns.RR, 0, len(pos.lines))
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			if len(rrs) == lim.MaxRecords {
				// Only if the scanner and the parser disagree on the count.
				return nil, &ZoneError{File: file, Msg: fmt.Sprintf("more than %d records in the zone (dns.zones.max_records)", lim.MaxRecords)}
			}
			rrs = append(rrs, rr)
		}
		if err := zp.Err(); err != nil {
			return nil, fromParseError(err, file, data)
		}
	}
	if soft != nil {
		return nil, soft
	}
	// at returns the position of the i-th record. The scanner follows the
	// parser's grammar; should it ever disagree on the count, errors still
	// name the file rather than a wrong line.
	at := func(i int) (string, int) {
		if scan() == nil && len(pos.lines) == len(rrs) {
			return pos.at(i)
		}
		return file, 0
	}
	fail := func(i int, format string, args ...any) error {
		f, l := at(i)
		return &ZoneError{File: f, Line: l, Msg: fmt.Sprintf(format, args...)}
	}

	z := &Zone{Origin: origin, File: file, nodes: make(map[string]*node, len(rrs)), bindings: make(map[string]binding)}
	var blk zoneBlocks
	dotOrigin := "." + origin
	apexFirst := 0 // index of the apex's first record, for the missing NS error
	cuts := false  // an NS below the apex was seen
	// The records are rrs itself while none is dropped or moved (a zone
	// whose SOA comes first, without duplicates or GSLB records): z.records
	// is rrs[:i] until own() copies it out, at the first that is.
	same := true
	own := func(i int) {
		if same {
			same = false
			z.records = append(make([]dns.RR, 0, len(rrs)), rrs[:i]...)
		}
	}
	for i, rr := range rrs {
		wireNames(rr)
		h := rr.Header()
		owner := names.Canonical(h.Name)
		if h.Class != dns.ClassINET {
			return nil, fail(i, "class %s: only IN is served", dns.ClassToString[h.Class])
		}
		if !inZone(origin, dotOrigin, owner) {
			return nil, fail(i, "%s is outside the zone %s", h.Name, origin)
		}
		if h.Rrtype == dns.TypeSOA {
			if owner != origin {
				return nil, fail(i, "SOA for %s: an SOA belongs at the zone apex %s only", h.Name, origin)
			}
			if z.SOA != nil {
				return nil, fail(i, "a second SOA record: a zone has exactly one")
			}
			z.SOA = rr.(*dns.SOA)
		}
		n := z.nodes[owner]
		if n == nil {
			n = blk.node(owner)
			z.nodes[owner] = n
			if owner == origin {
				apexFirst = i
			}
		}
		set := n.rrsets.get(h.Rrtype)
		if slices.ContainsFunc(set, func(o dns.RR) bool { return dns.IsDuplicate(o, rr) }) {
			own(i)
			continue // an RRset is a set (RFC 2181 §5)
		}
		if len(set) > 0 && set[0].Header().Ttl != h.Ttl {
			return nil, fail(i, "TTL %d differs from %d of the rest of the %s %s RRset (RFC 2181 §5.2)",
				h.Ttl, set[0].Header().Ttl, h.Name, dns.TypeToString[h.Rrtype])
		}
		if h.Rrtype == dns.TypeCNAME && len(set) > 0 {
			return nil, fail(i, "a second CNAME at %s: a name has at most one", h.Name)
		}
		if conflictsWithCNAME(n, h.Rrtype) {
			return nil, fail(i, "CNAME and other data at %s (RFC 1034 §3.6.2)", h.Name)
		}
		if msg := conflictsWithGSLB(n, h.Rrtype); msg != "" {
			return nil, fail(i, msg, h.Name)
		}
		if len(set) == 0 {
			set = blk.rrs(rr)
		} else {
			set = append(set, rr)
		}
		if len(n.rrsets) == 0 {
			n.rrsets = blk.rrset(rrset{t: h.Rrtype, rrs: set})
		} else {
			n.rrsets.put(h.Rrtype, set)
		}
		cuts = cuts || h.Rrtype == dns.TypeNS && owner != origin
		switch {
		case h.Rrtype == TypeGSLB:
			own(i)
			f, l := at(i)
			z.bindings[owner] = binding{pool: poolOf(rr), file: f, line: l}
		case same && (h.Rrtype != dns.TypeSOA || i == 0):
		case h.Rrtype == dns.TypeSOA:
			own(i)
			z.records = slices.Insert(z.records, 0, rr)
		default:
			z.records = append(z.records, rr)
		}
		// Every name between the owner and the apex exists, as an empty
		// non-terminal if nothing else (RFC 4592 §2.2.2); none above the apex.
		for off, end := dns.NextLabel(owner, 0); !end && owner != origin && owner[off:] != origin; off, end = dns.NextLabel(owner, off) {
			if _, ok := z.nodes[owner[off:]]; !ok {
				z.nodes[owner[off:]] = blk.node(owner[off:])
			}
		}
	}
	if same {
		z.records = rrs
	}
	if z.SOA == nil {
		return nil, &ZoneError{File: file, Line: 1, Msg: fmt.Sprintf("no SOA record at the zone apex %s", origin)}
	}
	if apex := z.nodes[origin]; len(apex.rrsets.get(dns.TypeNS)) == 0 {
		_, l := at(apexFirst)
		return nil, &ZoneError{File: file, Line: l, Msg: fmt.Sprintf("no NS records at the zone apex %s", origin)}
	}
	if err := z.markDelegations(rrs, cuts, fail); err != nil {
		return nil, err
	}
	return z, nil
}

// wireNames respells, in wire spelling (names.WireSpelling), rr's owner and the
// names in its data that the server looks up: a CNAME's or DNAME's target
// (followed), an NS, MX or SRV target (their addresses go in the
// additional section), the SOA's names (written into replies by the fast
// path) and a PTR's target. Then a name written with needless escapes, or
// with raw octets, is found by queries for it, as in Knot and BIND.
func wireNames(rr dns.RR) {
	h := rr.Header()
	h.Name = names.WireSpelling(h.Name)
	switch r := rr.(type) {
	case *dns.CNAME:
		r.Target = names.WireSpelling(r.Target)
	case *dns.DNAME:
		r.Target = names.WireSpelling(r.Target)
	case *dns.NS:
		r.Ns = names.WireSpelling(r.Ns)
	case *dns.MX:
		r.Mx = names.WireSpelling(r.Mx)
	case *dns.SRV:
		r.Target = names.WireSpelling(r.Target)
	case *dns.SOA:
		r.Ns, r.Mbox = names.WireSpelling(r.Ns), names.WireSpelling(r.Mbox)
	case *dns.PTR:
		r.Ptr = names.WireSpelling(r.Ptr)
	}
}

// inZone is dns.IsSubDomain(origin, owner) of two canonical names, without
// its allocations (two per call: a million in a big zone) when neither has
// an escape; dotOrigin is "." + origin.
func inZone(origin, dotOrigin, owner string) bool {
	if strings.IndexByte(owner, '\\') >= 0 || strings.IndexByte(origin, '\\') >= 0 {
		return dns.IsSubDomain(origin, owner)
	}
	return owner == origin || origin == "." || strings.HasSuffix(owner, dotOrigin)
}

// zoneBlocks hands out the nodes of a zone, and the first RRset of a node
// and the first record of an RRset (most names have one of each), from
// blocks: a zone of a million names is then a few hundred objects for the
// collector to find, not three million. A slice it hands out has the
// capacity of its length, so an append copies it out of the block.
type zoneBlocks struct {
	nodes []node
	sets  []rrset
	rrs1  []dns.RR
}

func (b *zoneBlocks) node(name string) *node {
	if len(b.nodes) == cap(b.nodes) {
		b.nodes = make([]node, 0, fastBlock)
	}
	b.nodes = append(b.nodes, node{name: name})
	return &b.nodes[len(b.nodes)-1]
}

func (b *zoneBlocks) rrset(s rrset) rrsets {
	if len(b.sets) == cap(b.sets) {
		b.sets = make([]rrset, 0, fastBlock)
	}
	b.sets = append(b.sets, s)
	return b.sets[len(b.sets)-1 : len(b.sets) : len(b.sets)]
}

func (b *zoneBlocks) rrs(rr dns.RR) []dns.RR {
	if len(b.rrs1) == cap(b.rrs1) {
		b.rrs1 = make([]dns.RR, 0, fastBlock)
	}
	b.rrs1 = append(b.rrs1, rr)
	return b.rrs1[len(b.rrs1)-1 : len(b.rrs1) : len(b.rrs1)]
}

// conflictsWithCNAME reports whether adding a record of type t to n breaks
// the rule that a CNAME stands alone (DNSSEC types excepted, RFC 2181 §10.1).
func conflictsWithCNAME(n *node, t uint16) bool {
	if t == dns.TypeRRSIG || t == dns.TypeNSEC {
		return false
	}
	for _, set := range n.rrsets {
		have := set.t
		if have == dns.TypeRRSIG || have == dns.TypeNSEC || have == t {
			continue
		}
		if t == dns.TypeCNAME || have == dns.TypeCNAME {
			return true
		}
	}
	return false
}

// conflictsWithGSLB returns the error format (with %s for the owner) when
// adding a record of type t to n clashes with a GSLB binding: one pool per
// name, and no static addresses beside the pool's.
func conflictsWithGSLB(n *node, t uint16) string {
	gslb := len(n.rrsets.get(TypeGSLB)) > 0
	switch {
	case t == TypeGSLB && gslb:
		return "a second GSLB record at %s: a name is bound to one pool"
	case t == TypeGSLB && (len(n.rrsets.get(dns.TypeA)) > 0 || len(n.rrsets.get(dns.TypeAAAA)) > 0),
		gslb && (t == dns.TypeA || t == dns.TypeAAAA):
		return "GSLB and A/AAAA records at %s: the pool answers A and AAAA there"
	}
	return ""
}

// sortedBindings returns the zone's bindings in file order.
func (z *Zone) sortedBindings() []binding {
	out := make([]binding, 0, len(z.bindings))
	for _, b := range z.bindings {
		out = append(out, b)
	}
	slices.SortFunc(out, func(a, b binding) int { return cmp.Or(strings.Compare(a.file, b.file), a.line-b.line) })
	return out
}

// markDelegations flags delegation points and the names below them, and
// refuses data below a delegation that is not glue (it would never be served).
func (z *Zone) markDelegations(rrs []dns.RR, cuts bool, fail func(int, string, ...any) error) error {
	if !cuts {
		return nil // no NS below the apex: nothing is delegated
	}
	for name, n := range z.nodes {
		if name != z.Origin && len(n.rrsets.get(dns.TypeNS)) > 0 {
			n.cut = true
		}
	}
	for name, n := range z.nodes {
		for off, end := dns.NextLabel(name, 0); !end && name[off:] != z.Origin; off, end = dns.NextLabel(name, off) {
			if p := z.nodes[name[off:]]; p != nil && p.cut {
				n.occluded = true
				break
			}
		}
	}
	for i, rr := range rrs {
		h := rr.Header()
		n := z.nodes[names.Canonical(h.Name)]
		switch {
		case n.cut && h.Rrtype != dns.TypeNS && h.Rrtype != dns.TypeDS:
			return fail(i, "%s %s at the delegation point %s: only NS and DS belong there",
				h.Name, dns.TypeToString[h.Rrtype], h.Name)
		case n.occluded && h.Rrtype != dns.TypeA && h.Rrtype != dns.TypeAAAA:
			return fail(i, "%s %s below a delegation: only glue (A, AAAA) belongs there",
				h.Name, dns.TypeToString[h.Rrtype])
		}
	}
	return nil
}

// parseErrorPos extracts "at line: L:C" from a miekg/dns ParseError, whose
// position fields are not exported.
var parseErrorPos = regexp.MustCompile(`^(.*): dns: (.*) at line: (\d+):(\d+)$`)

// unknownTypeMsg is what miekg/dns says of a word in the type position that
// is no type it knows.
var unknownTypeMsg = regexp.MustCompile(`^(?:not a TTL|expecting RR type or class, not this\.\.\.): "([A-Za-z][A-Za-z0-9-]*)"$`)

// badAddr is miekg/dns's message for an A or AAAA record whose address
// does not parse: "bad A A: \"192.0.2\"".
var badAddr = regexp.MustCompile(`^bad (A|AAAA) (?:A|AAAA): "(.*)"$`)

// fromParseError turns a miekg/dns syntax error into a ZoneError. The error
// text is "file: dns: msg: \"token\" at line: L:C"; anything else (an I/O
// error of an $INCLUDE, say) keeps its text and the zone's file. data is
// the text of file, read again for what miekg/dns does not say: a "(" that
// nothing closes makes the record run on, and miekg/dns reports whatever
// it then trips on ("garbage after rdata: \"IN\"") lines later.
func fromParseError(err error, file string, data []byte) error {
	var pe *dns.ParseError
	if !errors.As(err, &pe) {
		return &ZoneError{File: file, Msg: err.Error()}
	}
	m := parseErrorPos.FindStringSubmatch(pe.Error())
	if m == nil {
		return &ZoneError{File: file, Msg: strings.TrimPrefix(pe.Error(), file+": ")}
	}
	line, _ := strconv.Atoi(m[3])
	col, _ := strconv.Atoi(m[4])
	msg := m[2]
	if m[1] == "" || m[1] == file {
		if pl, pc := unclosedParen(data); pl > 0 && pl <= line {
			what := "nothing closes it before the end of the file"
			if !strings.HasSuffix(msg, `: "unbalanced brace"`) {
				what = fmt.Sprintf("the record runs on to line %d, where: %s", line, msg)
			}
			return &ZoneError{File: file, Line: pl, Col: pc, Msg: `unclosed "(": ` + what}
		}
	}
	switch {
	case strings.HasSuffix(msg, `: "extra closing brace"`):
		msg = `")" without a "(" before it`
	case badAddr.MatchString(msg):
		a := badAddr.FindStringSubmatch(msg)
		family := "IPv4"
		if a[1] == "AAAA" {
			family = "IPv6"
		}
		msg = fmt.Sprintf("bad %s record: %q is not an %s address", a[1], a[2], family)
	}
	if u := unknownTypeMsg.FindStringSubmatch(msg); u != nil {
		// "www IN FOO 192.0.2.1" reads as a bad TTL or class to miekg/dns.
		msg = fmt.Sprintf("unknown record type %q", u[1])
	}
	if strings.HasPrefix(msg, ": ") || msg == "" {
		// miekg/dns drops the message of a private type's parse error, and
		// GSLB is our only private type.
		msg = "bad GSLB record: it names one pool, as in \"www 30 IN GSLB web\""
	}
	return &ZoneError{File: cmp.Or(m[1], file), Line: line, Col: col, Msg: msg}
}

// ZoneFileSuffix names the files of a zones directory: <origin>.zone.
const ZoneFileSuffix = ".zone"

// OriginFromFile returns the zone origin a file name stands for
// ("gslb.example.com.zone" → "gslb.example.com."), in the spelling the
// zone is kept under (names.Canonical: "A\098c.test.zone" → "abc.test.",
// "CAFÉ.test.zone" → "caf\195\137.test.", only ASCII folds).
func OriginFromFile(path string) string {
	return names.Canonical(dns.Fqdn(strings.TrimSuffix(filepath.Base(path), ZoneFileSuffix)))
}

// Bindings returns the names of z bound to pools, with their pools.
func (z *Zone) Bindings() map[string]string {
	out := make(map[string]string, len(z.bindings))
	for name, b := range z.bindings {
		out[name] = b.pool
	}
	return out
}
