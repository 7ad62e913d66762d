package dnsserver

import (
	"bytes"
	"encoding/binary"
	"net/netip"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// The fast path's NXDOMAIN. A name that does not exist gets the same reply
// wherever it is in its zone, bar the question: the zone's SOA in the
// authority section (RFC 2308 §3), unless a wildcard at its closest
// encloser synthesises an answer (RFC 4592) or a delegation on the way
// refers it. A flood of random names below a zone (the "water torture" of
// resolvers) is answered here, as the names that exist are.
//
// The closest encloser is found from the query name upwards, in the fast
// index: the first of its ancestors there. For that walk the index holds
// every name of the zones, also those the fast path does not answer
// (fastNode.hidden: delegation points, names below them, `_why.` names),
// so that the first ancestor found is the closest encloser the general
// path's walk down from the apex meets. A name whose children may get
// NXDOMAIN here is marked with its zone (fastNode.nx): not one with a
// wildcard child.
//
// The SOA is packed once per zone after a question of the apex alone
// (nxEntry). In a reply to a longer name, the apex is the tail of the
// question, shifted by the octets of the labels before it, and so is every
// octet after the question: each compression pointer of the packed SOA is
// moved by that shift. miekg/dns, which packs the general path's reply,
// would also point into the labels before the apex where an SOA name
// (MNAME, RNAME) ends with one of them: those names are in the index too,
// hidden, and the names below them are not marked, so such queries go to
// the general path.

// nxZone is the NXDOMAIN reply of one zone of a view, packed by the first
// query that needs it.
//
// A query whose apex labels are not all in lower case (a resolver that
// randomises case, 0x20) gets another reply from miekg/dns: it compresses
// the SOA's owner into the question only as far as the question's suffix
// is the apex byte for byte, and writes the labels before that. The reply
// depends on that depth only (the labels from the right the question
// shares with the apex), so there is one reply per depth, each packed
// after a question of the apex whose other labels are in upper case; every
// pointer of it, into the question or into the reply itself, moves by the
// same shift. That holds while the SOA's names are in lower case (a name
// in another case could match the question's labels beyond the depth):
// otherwise such queries go to the general path.
type nxZone struct {
	zone *Zone
	// apex is the apex's wire length, -1 when the general path answers
	// the zone's names that do not exist; labels its label count.
	apex, labels int
	// byDepth are the replies by depth: the last one, at the apex's
	// label count, is the reply to a question whose apex is in lower
	// case. The others serve only when folds: the SOA's names are in
	// lower case.
	byDepth []atomic.Pointer[nxEntry]
	folds   bool
}

// init makes nz z's nxZone, nothing packed yet.
func (nz *nxZone) init(z *Zone) {
	nz.zone, nz.apex, nz.labels = z, -1, dns.CountLabel(z.Origin)
	var wire [256]byte
	if l, err := dns.PackDomainName(z.Origin, wire[:], 0, nil, false); err == nil {
		nz.apex = l
	}
	nz.byDepth = make([]atomic.Pointer[nxEntry], nz.labels+1)
	nz.folds = strings.ToLower(z.SOA.Ns) == z.SOA.Ns && strings.ToLower(z.SOA.Mbox) == z.SOA.Mbox && strings.ToLower(z.Origin) == z.Origin
}

// nxReply returns the reply for a question whose apex shares its last depth
// labels with z's; nil when the general path answers.
func (s *Server) nxReply(nz *nxZone, depth int) *nxEntry {
	if depth != nz.labels && !nz.folds {
		return nil
	}
	slot := &nz.byDepth[depth]
	e := slot.Load()
	if e == nil {
		if e = s.nx(nz.zone, depth); e == nil {
			return nil
		}
		slot.Store(e)
	}
	return e
}

// foldDepth is how many labels from the right q and l, wire names of the
// same shape, share byte for byte.
func foldDepth(q, l []byte) int {
	depth := 0
	for off := 0; off < len(l) && l[off] != 0; off += 1 + int(l[off]) {
		end := off + 1 + int(l[off])
		if end > len(l) || end > len(q) || !bytes.Equal(q[off:end], l[off:end]) {
			depth = 0
		} else {
			depth++
		}
	}
	return depth
}

// nxEntry is a zone's NXDOMAIN reply, less header and question, as packed
// after a question of the apex.
type nxEntry struct {
	body []byte
	// ptrs are the offsets in body of its compression pointers.
	ptrs []int
	// signed is set in a signed zone: a DO query needs the denial of
	// existence, which the general path adds.
	signed bool
	// queries are the counters of A and AAAA (the QTYPEs of floods of
	// random names); other QTYPEs are counted by label.
	queries [2][numTransports]prometheus.Counter
}

// nxMarkers are the names of z that an SOA name (MNAME, RNAME) ends with,
// below the apex: the general path's reply to a query name below one of
// them points into the query's labels.
func nxMarkers(z *Zone) []string {
	var out []string
	for _, target := range []string{z.SOA.Ns, z.SOA.Mbox} {
		t := strings.ToLower(target)
		for off, end := 0, false; !end; off, end = dns.NextLabel(t, off) {
			s := t[off:]
			if len(s) <= len(z.Origin) || !dns.IsSubDomain(z.Origin, s) {
				break
			}
			out = append(out, s)
		}
	}
	return out
}

// underMarker reports whether name is one of markers or below one.
func underMarker(name string, markers []string) bool {
	for _, m := range markers {
		if strings.HasSuffix(name, m) && (len(name) == len(m) || name[len(name)-len(m)-1] == '.') {
			return true
		}
	}
	return false
}

// nx packs z's NXDOMAIN reply after a question of its apex whose labels
// but the last depth are in upper case.
func (s *Server) nx(z *Zone, depth int) *nxEntry {
	qname := []byte(z.Origin)
	end := len(qname)
	if idx := dns.Split(z.Origin); depth > 0 && depth <= len(idx) {
		end = idx[len(idx)-depth] // the labels before the last depth
	}
	for i, c := range qname[:end] {
		if 'a' <= c && c <= 'z' {
			qname[i] = c - 'a' + 'A'
		}
	}
	m := &dns.Msg{
		MsgHdr:   dns.MsgHdr{Response: true, Authoritative: true, Rcode: dns.RcodeNameError},
		Compress: true,
		Question: []dns.Question{{Name: string(qname), Qtype: dns.TypeA, Qclass: dns.ClassINET}},
		Ns:       []dns.RR{z.negativeSOA()},
	}
	out, err := m.Pack()
	if err != nil {
		return nil
	}
	qlen := skipName(out, headerLen) + 4
	e := &nxEntry{body: out[qlen:], signed: z.sec != nil}
	// The SOA: owner, 10 octets of type to length, MNAME, RNAME, 20 octets.
	off := 0
	for i := range 3 {
		end := skipName(e.body, off)
		if end < 0 {
			return nil
		}
		if end >= off+2 && e.body[end-2]&0xc0 == 0xc0 {
			e.ptrs = append(e.ptrs, end-2)
		}
		off = end
		if i == 0 {
			off += 10
		}
	}
	if off+20 != len(e.body) {
		return nil
	}
	for i, t := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
		for tr := range numTransports {
			e.queries[i][tr] = s.metrics.queries.WithLabelValues(z.Origin, qtypeLabel(t), rcodeLabel(dns.RcodeNameError), tr.String())
		}
	}
	return e
}

// fastNameError answers the query for key, a name not in the fast index,
// with its zone's NXDOMAIN when the walk up its ancestors says it does not
// exist; ok false sends it to the general path.
func (s *Server) fastNameError(v *view, req []byte, q plainQuery, tr transport, src netip.Addr, buf []byte, qs *qstate) ([]byte, bool) {
	key := qs.key.bytes()
	if len(key) == 1 || q.qtype == dns.TypeTXT && bytes.HasPrefix(key, []byte("\x04_why")) {
		return nil, false // `_why.` explains
	}
	t := v.fast
	var fn *fastNode
	off := 0
	for {
		off += 1 + int(key[off])
		if key[off] == 0 {
			return nil, false // above every zone: REFUSED
		}
		if fn = t.names.lookup(key[off:]); fn != nil {
			break
		}
	}
	if fn.wild && !fn.hidden {
		return s.fastWildcard(v, req, q, tr, src, buf, qs, key[off:])
	}
	if fn.hidden || fn.nx == 0 {
		return nil, false // a delegation, or the general path's compression
	}
	nz := &t.nx[fn.nx-1]
	if nz.apex < 0 {
		return nil, false
	}
	apex := len(key) - nz.apex // where the apex starts in the name
	depth := nz.labels
	if q.folded {
		depth = foldDepth(req[headerLen+apex:headerLen+len(key)], key[apex:])
	}
	e := s.nxReply(nz, depth)
	if e == nil || q.do && e.signed {
		return nil, false
	}
	shift := apex // the octets before the apex
	out := s.fastFixed(v, req, &q, tr, src, buf, qs, e.body, flagAA|dns.RcodeNameError, 0, 1, 0)
	if out == nil {
		return nil, false
	}
	body := out[q.qend : q.qend+len(e.body)]
	for _, p := range e.ptrs {
		binary.BigEndian.PutUint16(body[p:], binary.BigEndian.Uint16(body[p:])+uint16(shift))
	}
	// Rate limiting counts an NXDOMAIN under its zone (res.base).
	qs.kind = rrlNXDomain
	qs.key.n = copy(qs.key.buf[:], key[shift:])
	switch q.qtype {
	case dns.TypeA:
		e.queries[0][tr].Inc()
	case dns.TypeAAAA:
		e.queries[1][tr].Inc()
	default:
		s.metrics.count(nz.zone.Origin, q.qtype, dns.RcodeNameError, tr)
	}
	return out, true
}

// fastWildcard answers a query for a name that does not exist below enc,
// its closest encloser (a suffix of the query's key), whose wildcard child
// synthesises the answer (RFC 4592): the wildcard's own reply, whose
// owners point at the question and so take the query's name, when it
// names nothing else (fastEntry.caseFree: A, AAAA, TXT); a steered
// wildcard is steered. The rest (NODATA and referrals below a wildcard, a
// CNAME, DO in a signed zone, whose proof and RRSIG labels differ) goes to
// the general path. Rate limiting counts the reply under the wildcard.
func (s *Server) fastWildcard(v *view, req []byte, q plainQuery, tr transport, src netip.Addr, buf []byte, qs *qstate, enc []byte) ([]byte, bool) {
	var w [256]byte
	if 2+len(enc) > len(w) {
		return nil, false
	}
	w[0], w[1] = 1, '*'
	wild := w[:2+copy(w[2:], enc)]
	wn := v.fast.names.lookup(wild)
	if wn == nil || wn.hidden || q.do && wn.signed {
		return nil, false
	}
	out, ok := s.fastName(v, req, q, wn, true, tr, src, buf, qs)
	if !ok {
		return nil, false
	}
	qs.key.n = copy(qs.key.buf[:], wild)
	return out, true
}
