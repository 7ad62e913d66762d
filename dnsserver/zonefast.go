package dnsserver

import (
	"bytes"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/internal/names"
)

// The fast parser reads the common lines of a master file ("owner [ttl]
// [IN] type rdata" of A, AAAA, CNAME, NS, PTR and MX, with $ORIGIN and
// $TTL) itself, and hands every other entry to dns.ZoneParser, alone and
// in the state the parser would be in at that entry (origin, default TTL,
// previous owner). It makes exactly the records dns.ZoneParser makes of
// the whole file (FuzzFastParse holds it to that), at a fraction of the
// garbage: a zone of a million records makes about 13 million objects
// through dns.ZoneParser, and the collector's work on them was the largest
// share of loading the zone. Records, their addresses and owner names are
// carved out of shared blocks instead.
//
// Anything it does not follow makes it give up on the file, and the whole
// file goes to dns.ZoneParser: an error anywhere (so that every error is
// dns.ZoneParser's own, with its position), $INCLUDE and $GENERATE, an
// escape before a newline, or too many entries that are not its own.

// fastBlock is how many records, or bytes of names and addresses, one
// block of the fast parser's holds.
const fastBlock = 4096

// fastState is what dns.ZoneParser carries from one entry to the next.
type fastState struct {
	origin string
	// ttl is the default TTL when hasTTL: from $TTL (byDirective), else
	// from the last record with one.
	ttl                 uint32
	hasTTL, byDirective bool
	// owner is the last record's owner, for an entry that omits it.
	owner string
}

// fastParser holds the blocks records are carved from.
type fastParser struct {
	file  string
	st    fastState
	rrs   []dns.RR
	as    []dns.A
	aaaas []dns.AAAA
	ips   []byte
	names strings.Builder
	// complex counts the entries handed to dns.ZoneParser.
	complex int
	// zone is the zone's origin, lower-case; outside is set by an $ORIGIN
	// that is not in it (the scanner says so, at its line).
	zone    string
	outside bool
	toks    [8][]byte
	up      [16]byte
}

// fastParse returns the records of data, a master file for origin, as
// dns.NewZoneParser(data, origin, file) would make them; ok is false when
// the file must be parsed by dns.ZoneParser (it may be in error). n is the
// number of records expected (capacity); outside reports an $ORIGIN
// outside the zone of origin.
func fastParse(data []byte, origin, file string, n int) (rrs []dns.RR, outside, ok bool) {
	if origin == "" {
		return nil, false, false
	}
	origin = dns.Fqdn(origin)
	if _, ok := dns.IsDomainName(origin); !ok {
		return nil, false, false
	}
	p := &fastParser{file: file, st: fastState{origin: origin}, zone: names.Canonical(origin), rrs: make([]dns.RR, 0, n)}
	for off := 0; off < len(data); {
		end := bytes.IndexByte(data[off:], '\n')
		if end < 0 {
			end = len(data)
		} else {
			end += off
		}
		last := data[off:end]
		if end == len(data) && len(last) > 0 && last[0] == '$' {
			return nil, false, false // dns.ZoneParser reads a directive the end cuts short its own way
		}
		switch p.line(last) {
		case lineDone:
			off = end + 1
		case lineComplex:
			if end == len(data) {
				return nil, false, false // as a directive
			}
			next, ok := p.entry(data, off)
			if !ok {
				return nil, false, false
			}
			if p.complex++; p.complex > 1024 && p.complex*4 > len(p.rrs) {
				return nil, false, false // mostly not ours: the parser alone is faster
			}
			off = next
		default:
			return nil, false, false
		}
	}
	return p.rrs, p.outside, true
}

type lineKind int

const (
	lineDone    lineKind = iota // read (a record, a directive, nothing)
	lineComplex                 // an entry for dns.ZoneParser
	lineGiveUp                  // the whole file for dns.ZoneParser
)

// plainByte reports whether c may be in a line the fast parser reads:
// printable ASCII but for what quotes, escapes or groups.
func plainByte(c byte) bool {
	return c > ' ' && c < 0x7f && c != '"' && c != '(' && c != ')' && c != '\\' && c != ';'
}

// line reads one line, when it is the whole entry and one the fast parser
// reads.
func (p *fastParser) line(l []byte) lineKind {
	if len(l) > 0 && l[len(l)-1] == '\r' {
		l = l[:len(l)-1] // dropped outside quotes, as miekg/dns's lexer drops it (CRLF files)
	}
	directive := len(l) > 0 && l[0] == '$'
	if i := bytes.IndexByte(l, ';'); i >= 0 {
		if len(l)-i > 256 {
			if directive {
				return lineGiveUp
			}
			return lineComplex
		}
		l = l[:i]
	}
	n := 0
	for i := 0; i < len(l); {
		c := l[i]
		if c == ' ' || c == '\t' {
			i++
			continue
		}
		j := i
		for j < len(l) && l[j] != ' ' && l[j] != '\t' {
			if !plainByte(l[j]) {
				if directive {
					return lineGiveUp
				}
				return lineComplex
			}
			j++
		}
		if n == len(p.toks) || j-i > 255 {
			if directive {
				return lineGiveUp
			}
			return lineComplex
		}
		p.toks[n] = l[i:j]
		n++
		i = j
	}
	if n == 0 {
		return lineDone // blank, or a comment
	}
	toks := p.toks[:n]
	blank := l[0] == ' ' || l[0] == '\t'
	if directive {
		return p.directive(toks)
	}
	return p.record(toks, blank)
}

// upper returns b in upper case, in p's buffer (b is at most 16 bytes, or
// "" is returned).
func (p *fastParser) upper(b []byte) []byte {
	if len(b) > len(p.up) {
		return nil
	}
	u := p.up[:len(b)]
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			c -= 'a' - 'A'
		}
		u[i] = c
	}
	return u
}

func (p *fastParser) directive(toks [][]byte) lineKind {
	if len(toks) != 2 {
		return lineGiveUp
	}
	switch string(p.upper(toks[0])) {
	case "$TTL":
		ttl, ok := stringToTTL(toks[1])
		if !ok {
			return lineGiveUp
		}
		p.st.ttl, p.st.hasTTL, p.st.byDirective = ttl, true, true
	case "$ORIGIN":
		o, ok := p.absolute(toks[1])
		if !ok {
			return lineGiveUp
		}
		// The scanner's test (scanner.entry), on the same name.
		p.st.origin = o
		p.outside = p.outside || !dns.IsSubDomain(p.zone, names.Canonical(o))
	default:
		return lineGiveUp
	}
	return lineDone
}

// rrKind is what the fast parser knows of a type word.
func rrKind(up []byte) (t uint16, known bool) {
	switch string(up) {
	case "A":
		return dns.TypeA, true
	case "AAAA":
		return dns.TypeAAAA, true
	case "CNAME":
		return dns.TypeCNAME, true
	case "NS":
		return dns.TypeNS, true
	case "PTR":
		return dns.TypePTR, true
	case "MX":
		return dns.TypeMX, true
	}
	return 0, false
}

func (p *fastParser) record(toks [][]byte, blank bool) lineKind {
	var owner string
	if blank {
		if p.st.owner == "" {
			return lineComplex
		}
		owner = p.st.owner
	} else {
		o, ok := p.absolute(toks[0])
		if !ok {
			return lineComplex
		}
		owner, toks = o, toks[1:]
	}
	var (
		ttl          uint32
		hasTTL, inet bool
		t            uint16
	)
	for t == 0 {
		if len(toks) == 0 {
			return lineComplex
		}
		up := p.upper(toks[0])
		if up == nil {
			return lineComplex
		}
		if rt, ok := rrKind(up); ok {
			t = rt
		} else if _, ok := dns.StringToType[string(up)]; ok || bytes.HasPrefix(up, []byte("TYPE")) {
			return lineComplex
		} else if string(up) == "IN" && !inet {
			inet = true
		} else if _, ok := dns.StringToClass[string(up)]; ok || bytes.HasPrefix(up, []byte("CLASS")) {
			return lineComplex
		} else if v, ok := stringToTTL(toks[0]); ok && !hasTTL {
			ttl, hasTTL = v, true
		} else {
			return lineComplex
		}
		toks = toks[1:]
	}
	switch {
	case hasTTL:
	case p.st.hasTTL:
		ttl = p.st.ttl
	default:
		return lineComplex
	}
	h := dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: ttl}
	var rr dns.RR
	switch t {
	case dns.TypeA, dns.TypeAAAA:
		if len(toks) != 1 {
			return lineComplex
		}
		v6 := bytes.IndexByte(toks[0], ':') >= 0
		a, ok := parseIPv4(toks[0])
		if !ok {
			var err error
			if a, err = netip.ParseAddr(string(toks[0])); err != nil || a.Zone() != "" {
				return lineComplex
			}
		}
		if v6 != (t == dns.TypeAAAA) {
			return lineComplex
		}
		ip := p.ip(a)
		if t == dns.TypeA {
			if len(p.as) == cap(p.as) {
				p.as = make([]dns.A, 0, fastBlock)
			}
			p.as = append(p.as, dns.A{Hdr: h, A: ip})
			rr = &p.as[len(p.as)-1]
		} else {
			if len(p.aaaas) == cap(p.aaaas) {
				p.aaaas = make([]dns.AAAA, 0, fastBlock)
			}
			p.aaaas = append(p.aaaas, dns.AAAA{Hdr: h, AAAA: ip})
			rr = &p.aaaas[len(p.aaaas)-1]
		}
	case dns.TypeMX:
		if len(toks) != 2 {
			return lineComplex
		}
		pref, err := strconv.ParseUint(string(toks[0]), 10, 16)
		name, ok := p.absolute(toks[1])
		if err != nil || !ok {
			return lineComplex
		}
		rr = &dns.MX{Hdr: h, Preference: uint16(pref), Mx: name}
	default:
		if len(toks) != 1 {
			return lineComplex
		}
		name, ok := p.absolute(toks[0])
		if !ok {
			return lineComplex
		}
		switch t {
		case dns.TypeCNAME:
			rr = &dns.CNAME{Hdr: h, Target: name}
		case dns.TypeNS:
			rr = &dns.NS{Hdr: h, Ns: name}
		default:
			rr = &dns.PTR{Hdr: h, Ptr: name}
		}
	}
	if hasTTL && !p.st.byDirective {
		p.st.ttl, p.st.hasTTL = ttl, true
	}
	p.st.owner = owner
	p.rrs = append(p.rrs, rr)
	return lineDone
}

// parseIPv4 parses a dotted-quad address as netip.ParseAddr does (four
// decimal fields of at most 255, no leading zeros), without making a
// string of s; false for anything else, which netip.ParseAddr then reads.
func parseIPv4(s []byte) (netip.Addr, bool) {
	var (
		b      [4]byte
		field  int
		digits int
		v      int
	)
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || field == 4 {
				return netip.Addr{}, false
			}
			b[field] = byte(v)
			field, digits, v = field+1, 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits > 0 && v == 0 {
			return netip.Addr{}, false // not a digit, or a leading zero
		}
		if v = v*10 + int(c-'0'); v > 255 {
			return netip.Addr{}, false
		}
		digits++
	}
	if field != 4 {
		return netip.Addr{}, false
	}
	return netip.AddrFrom4(b), true
}

// ip returns a's 16 bytes (net.ParseIP's form, for IPv4 too) in p's block.
func (p *fastParser) ip(a netip.Addr) net.IP {
	if len(p.ips)+16 > cap(p.ips) {
		p.ips = make([]byte, 0, fastBlock*16)
	}
	b := a.As16()
	start := len(p.ips)
	p.ips = append(p.ips, b[:]...)
	return net.IP(p.ips[start : start+16 : start+16])
}

// absolute is miekg/dns's toAbsoluteName of name under the current origin,
// its result in p's block of names.
func (p *fastParser) absolute(name []byte) (string, bool) {
	if len(name) == 1 && name[0] == '@' {
		return p.st.origin, true
	}
	if _, ok := dns.IsDomainName(string(name)); !ok {
		return "", false
	}
	fq := name[len(name)-1] == '.'
	n := len(name)
	if !fq {
		n += len(p.st.origin)
		if p.st.origin != "." {
			n++
		}
	}
	if p.names.Cap()-p.names.Len() < n {
		p.names = strings.Builder{}
		p.names.Grow(max(fastBlock*8, n))
	}
	start := p.names.Len()
	p.names.Write(name)
	if !fq {
		if p.st.origin != "." {
			p.names.WriteByte('.')
		}
		p.names.WriteString(p.st.origin)
	}
	return p.names.String()[start:], true
}

// stringToTTL is miekg/dns's: a number of seconds, or one with units
// ("1h30m").
func stringToTTL(token []byte) (uint32, bool) {
	var s, i uint
	for _, c := range token {
		switch c {
		case 's', 'S':
			s += i
			i = 0
		case 'm', 'M':
			s += i * 60
			i = 0
		case 'h', 'H':
			s += i * 60 * 60
			i = 0
		case 'd', 'D':
			s += i * 60 * 60 * 24
			i = 0
		case 'w', 'W':
			s += i * 60 * 60 * 24 * 7
			i = 0
		case '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
			i *= 10
			i += uint(c) - '0'
		default:
			return 0, false
		}
	}
	if s+i > math.MaxUint32 {
		return 0, false
	}
	return uint32(s + i), true
}

// entry hands the entry that starts at off in data to dns.ZoneParser, in
// the state the whole file's parser would be in, and returns the offset
// after it; false when the file must go to dns.ZoneParser whole.
func (p *fastParser) entry(data []byte, off int) (int, bool) {
	end, ok := entryEnd(data, off)
	if !ok {
		return 0, false
	}
	// With its newline: dns.ZoneParser reads an entry the end of the text
	// cuts short otherwise than one a newline ends.
	text := data[off:min(end+1, len(data))]
	if len(text) > 0 && (text[0] == ' ' || text[0] == '\t') {
		if p.st.owner == "" {
			return 0, false
		}
		// The owner of the entry before, which the whole file's parser
		// would carry over.
		text = append([]byte(p.st.owner), text...)
	}
	rr, ok := p.parseOne(text, p.st.byDirective, p.st.ttl)
	if !ok {
		return 0, false
	}
	if rr != nil {
		explicit := p.st.hasTTL
		if !p.st.hasTTL {
			// No default TTL yet (a record without one has TTL 0): the
			// record's is its own if a default does not change it.
			again, ok := p.parseOne(text, true, 1)
			if !ok || again == nil {
				return 0, false
			}
			explicit = again.Header().Ttl == rr.Header().Ttl
		}
		if explicit && !p.st.byDirective {
			p.st.ttl, p.st.hasTTL = rr.Header().Ttl, true
		}
		p.st.owner = rr.Header().Name
		p.rrs = append(p.rrs, rr)
	}
	return end + 1, true
}

// parseOne parses text, one entry, with dns.ZoneParser: under a $TTL of
// ttl with directive, else with the default TTL of the state. It returns
// the entry's record (nil for none); false on an error or more than one.
func (p *fastParser) parseOne(text []byte, directive bool, ttl uint32) (dns.RR, bool) {
	// A newline after the entry: dns.ZoneParser reads a type with no data
	// before the end of the text as an update's record, and as an error
	// before more text, which the whole file has.
	var b []byte
	if directive {
		b = strconv.AppendUint(append(b, "$TTL "...), uint64(ttl), 10)
		b = append(b, '\n')
	}
	text = append(append(b, text...), '\n')
	zp := dns.NewZoneParser(bytes.NewReader(text), p.st.origin, p.file)
	if !directive && p.st.hasTTL {
		zp.SetDefaultTTL(p.st.ttl)
	}
	rr, ok := zp.Next()
	if ok {
		if _, more := zp.Next(); more {
			return nil, false
		}
	}
	if zp.Err() != nil {
		return nil, false
	}
	return rr, true
}

// entryEnd returns the offset of the newline that ends the entry starting
// at off (len(data) at the end), as miekg/dns's lexer reads the text:
// newlines inside parentheses or quotes do not end it, ";" starts a
// comment, a backslash escapes the next byte. False for what the fast
// parser leaves to the whole file's parser: unbalanced parentheses or
// quotes, an escaped newline.
func entryEnd(data []byte, off int) (int, bool) {
	var (
		brace                  int
		quote, escape, comment bool
	)
	for i := off; i < len(data); i++ {
		c := data[i]
		switch {
		case comment:
			if c == '\n' {
				comment = false
				if brace == 0 {
					return i, true
				}
			}
		case escape:
			if c == '\n' {
				return 0, false
			}
			escape = false
		case c == '\\':
			escape = true
		case c == '"':
			quote = !quote
		case quote:
		case c == ';':
			comment = true
		case c == '(':
			brace++
		case c == ')':
			if brace--; brace < 0 {
				return 0, false
			}
		case c == '\n':
			if brace == 0 {
				return i, true
			}
		}
	}
	if brace != 0 || quote || escape {
		return 0, false
	}
	return len(data), true
}
