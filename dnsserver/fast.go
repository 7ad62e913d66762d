package dnsserver

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/policy"
)

// The fast path. A static answer depends on the question and nothing else
// (bar the query ID, the RD and CD bits, the case of the name and EDNS), so
// every reply the zones can give to a name that exists is packed once, on
// the first query for the name after the zones are published, by the same
// resolve function the general path uses (see fastTable). A query then costs a map lookup on its lower-cased wire name and a
// copy: header and question from the query, the rest from the precomputed
// bytes. Compression pointers in those bytes point into the question at
// offset 12, which has the same shape in every query for the name, so they
// stay valid, and owner names that point there take the client's case.
// Other names that point into the question would take it too, where the
// general path (miekg/dns compresses case-sensitively) keeps the zone's
// case; so a query name with upper-case letters is answered here only when
// the reply has no name but the owner (caseFree).
//
// Whatever the fast path does not know how to answer byte for byte (names
// that do not exist, wildcards, delegations, ECS, NSID, transfers, oversize
// replies) goes to the general path, which is the reference: tests check that
// both give identical replies.

// fastEntry is one precomputed reply, less header and question.
type fastEntry struct {
	flags      uint16 // AA and RCODE
	an, ns, ar uint16
	body       []byte
	// queries are the query counters of this reply, bound once (nil for the
	// NODATA entry that serves many QTYPEs).
	queries [numTransports]prometheus.Counter
	zone    string
	// caseFree is set when the only names in body are owners equal to the
	// query name, so that the reply to any case of the name is the same as
	// the general path's.
	caseFree bool
	// base is the name rate limiting counts the reply under (result.base,
	// in lower-case wire form), when not the query name: the zone, the
	// delegation or the wildcard where a CNAME chain ends.
	base []byte
}

// fastTable is the fast path's index of one published view: the lower-case
// wire name of every name of its zones to that name's node (hidden for the
// names it leaves to the general path), and the zones' NXDOMAIN replies. The replies
// themselves are packed on the first query for the name, not at publish:
// packing every reply of every name of a zone of a million names took most
// of the time and memory of a load, for names most of which are never
// asked. A name's replies, once packed, stay with the view (until the next
// publish); at most maxFastFilled names of a view get theirs, so that a
// walk of every name of a big zone cannot grow the memory without bound:
// the names past it take the general path, which answers the same.
type fastTable struct {
	names *fastIndex
	// nx are the zones' NXDOMAIN replies (fastnx.go), in the order of
	// Zones.List.
	nx []nxZone
	// filled counts the nodes whose replies are packed, up to max
	// (maxFastFilled).
	filled atomic.Int64
	max    int64
}

// maxFastFilled bounds the names of one view with packed replies (about
// 300 bytes each).
const maxFastFilled = 1 << 19

// fastNode is one name of a fastTable.
type fastNode struct {
	name string // lower-case, fully qualified
	// cname is set at a CNAME, whose answer depends on the QTYPE: no NODATA
	// reply serves every other QTYPE there.
	cname bool
	// signed is set in a signed zone, and at the apex of a zone whose DS
	// a signed parent answers: a query with the DO bit gets the replies
	// with DNSSEC records (fastReplies.do). It, hidden, wild and nx sit
	// in the padding after cname: a node is no larger for them.
	signed bool
	// hidden is set on a name the fast path does not answer, indexed for
	// the walk up from a name that does not exist (fastnx.go): a
	// delegation point or a name below one, a `_why.` name, a name an SOA
	// name ends with that does not exist.
	hidden bool
	// wild is set on a name with a wildcard child: the names below it
	// that do not exist are synthesised from it (fastWildcard).
	wild bool
	// nx is 1 + the index in fastTable.nx of the zone whose NXDOMAIN the
	// names below this one that do not exist get here; 0 when they go to
	// the general path (a wildcard child, or see nxMarkers).
	nx uint32
	// gslb is set on a name bound to a pool: its A, AAAA and ANY are steered.
	gslb *fastPool
	// replies are packed by the first query that needs them (fill).
	replies atomic.Pointer[fastReplies]
}

// fastReplies are the packed replies for one name: per QTYPE, and the
// NODATA reply for every other QTYPE (nil when other QTYPEs must take the
// general path, as at a CNAME or a name bound to a pool).
type fastReplies struct {
	types map[uint16]*fastEntry
	other *fastEntry
	// do are the replies to queries with the DO bit, with their DNSSEC
	// records, in a signed zone; nil elsewhere.
	do *fastReplies
}

// fastPool is what the fast path needs to steer a name bound to a pool.
type fastPool struct {
	pool string
	name string // the bound name, lower-case
	zone string
	z    *Zone
	// wild is set on a wildcard's pool: its NODATA reply holds for the
	// wildcard's own name only (the SOA points into the question).
	wild bool
	// nodata is the reply's sections when the pool has no address of
	// the family (NODATA: the zone's SOA), packed by the first query
	// that needs it, after a question of the name (noData).
	nodata atomic.Pointer[[]byte]
	salt   uint64 // poolSalt(pool)
	// sec is the zone's signed part, nil when it is unsigned: a query with
	// the DO bit gets the RRSIGs of the answer's signed set.
	sec *signedZone
	// queries are the NOERROR counters per QTYPE (A, AAAA, ANY) and transport.
	queries [3][numTransports]prometheus.Counter
}

// buildFast indexes every name of zs for the fast path. Names at or below
// a delegation point, and `_why.` names, are indexed hidden: the general
// path answers them, and the walk up from a name that does not exist
// (fastNameError) stops at them. The index is two slices (fastIndex), so that a zone of a million names costs
// two allocations here, not millions.
func (s *Server) buildFast(zs *Zones) *fastTable {
	count := 0
	markers := make([][]string, len(zs.List()))
	for i, z := range zs.List() {
		markers[i] = nxMarkers(z)
		count += len(z.nodes) + len(markers[i])
	}
	var wire [256]byte
	idx := newFastIndex(count)
	nested := len(zs.List()) > 1 // a name may be in a zone below its zone's
	nx := make([]nxZone, len(zs.List()))
	var wildParents []string // the names with a wildcard child
	for i, z := range zs.List() {
		nx[i].init(z)
		markers := markers[i]
		for _, m := range markers {
			if z.nodes[m] == nil && zs.find(m) == z {
				if l, err := dns.PackDomainName(m, wire[:], 0, nil, false); err == nil {
					idx.add(wire[:l], m).hidden = true
				}
			}
		}
		for name, n := range z.nodes {
			if nested && zs.find(name) != z {
				continue // served by a zone nested below z
			}
			l, err := dns.PackDomainName(name, wire[:], 0, nil, false)
			if err != nil {
				continue
			}
			if strings.HasPrefix(name, "*.") {
				wildParents = append(wildParents, name[2:])
			}
			fn := idx.add(wire[:l], name)
			// Delegated, or may be asked why (why.go): the general path
			// decides. (A zone's names are in their wire spelling,
			// canonicalName: the name a query's wire form unpacks to.)
			if fn.hidden = n.cut || n.occluded || strings.HasPrefix(name, whyLabel); fn.hidden {
				continue
			}
			if !underMarker(name, markers) {
				fn.nx = uint32(i + 1)
			}
			fn.cname = len(n.rrsets.get(dns.TypeCNAME)) > 0
			fn.signed = z.sec != nil || name == z.Origin && zs.signedParent(z) != nil
			if gslb := n.rrsets.get(TypeGSLB); len(gslb) > 0 {
				pool := poolOf(gslb[0])
				fn.gslb = &fastPool{pool: pool, salt: poolSalt(pool), name: name, zone: z.Origin, z: z, wild: strings.HasPrefix(name, "*."), sec: z.sec}
				for i, t := range [...]uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY} {
					for tr := range numTransports {
						fn.gslb.queries[i][tr] = s.metrics.queries.WithLabelValues(z.Origin, qtypeLabel(t), rcodeLabel(dns.RcodeSuccess), tr.String())
					}
				}
			}
		}
	}
	idx.finish()
	// The names below a wildcard's parent that do not exist are
	// synthesised from it (RFC 4592): the general path answers them.
	for _, p := range wildParents {
		if l, err := dns.PackDomainName(p, wire[:], 0, nil, false); err == nil {
			if fn := idx.lookup(wire[:l]); fn != nil {
				fn.nx, fn.wild = 0, true
			}
		}
	}
	return &fastTable{names: idx, nx: nx, max: maxFastFilled}
}

// fill packs the replies of fn from zs, the zones of its view, and keeps
// them in fn; nil when the view has packed as many names as it may.
func (s *Server) fill(t *fastTable, zs *Zones, fn *fastNode) *fastReplies {
	if t.filled.Load() >= t.max {
		return nil
	}
	z := zs.find(fn.name)
	n := z.nodes[fn.name]
	qtypes := []uint16{dns.TypeANY}
	if fn.cname {
		qtypes = append(qtypes, dns.TypeA, dns.TypeAAAA)
	}
	qtypes = append(qtypes, n.rrsets.types()...)
	if fn.name == z.Origin && zs.signedParent(z) != nil {
		qtypes = append(qtypes, dns.TypeDS) // the parent's answer, not the NODATA of the others
	}
	r := s.fillReplies(zs, fn, qtypes, false)
	if fn.signed {
		r.do = s.fillReplies(zs, fn, qtypes, true)
	}
	if !fn.replies.CompareAndSwap(nil, r) {
		return fn.replies.Load() // packed meanwhile by another query
	}
	t.filled.Add(1)
	return r
}

// fillReplies packs the replies of fn to qtypes and its NODATA reply,
// with the DNSSEC records of a signed zone when do.
func (s *Server) fillReplies(zs *Zones, fn *fastNode, qtypes []uint16, do bool) *fastReplies {
	r := &fastReplies{types: make(map[uint16]*fastEntry, len(qtypes))}
	for _, qt := range qtypes {
		if e := s.precompute(zs, fn.name, qt, do, true); e != nil {
			r.types[qt] = e
		}
	}
	if fn.gslb == nil && !fn.cname {
		r.other = s.precompute(zs, fn.name, dns.TypeNone, do, false)
	}
	return r
}

// precompute packs the reply to name/qtype (with the DO bit when do) and
// keeps what follows the question; bind binds its query counters (not for
// the NODATA entry, whose QTYPE label varies).
func (s *Server) precompute(zs *Zones, name string, qtype uint16, do, bind bool) *fastEntry {
	res := zs.resolve(name, qtype, do, nil, nil)
	if res.dynamic {
		return nil // depends on the client: the general path steers it
	}
	m := &dns.Msg{
		MsgHdr:   dns.MsgHdr{Response: true, Authoritative: res.aa, Rcode: res.rcode},
		Compress: true,
		Question: []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}},
		Answer:   res.answer,
		Ns:       res.ns,
		Extra:    res.extra,
	}
	out, err := m.Pack()
	if err != nil || res.rcode > 0xf || len(out) > maxTCPSize {
		return nil
	}
	qlen := skipName(out, headerLen) + 4
	e := &fastEntry{
		flags: binary.BigEndian.Uint16(out[2:]) & (flagAA | 0xf),
		an:    uint16(len(res.answer)),
		ns:    uint16(len(res.ns)),
		ar:    uint16(len(res.extra)),
		body:  out[qlen:],
	}
	if res.zone != nil {
		e.zone = res.zone.Origin
	}
	if res.base != "" {
		var k queryKey
		k.setName(res.base)
		e.base = slices.Clone(k.bytes())
	}
	e.caseFree = caseFree(res, name)
	for tr := range numTransports {
		if !bind {
			break
		}
		e.queries[tr] = s.metrics.queries.WithLabelValues(e.zone, qtypeLabel(qtype), rcodeLabel(res.rcode), tr.String())
	}
	return e
}

// caseFree reports whether the reply res to name holds no domain name but
// owners equal to name: only A, AAAA and TXT records of name itself, and
// their RRSIGs (whose signer name is never compressed, RFC 4034 §3.1.7,
// so it points nowhere).
func caseFree(res result, name string) bool {
	if len(res.ns) > 0 || len(res.extra) > 0 {
		return false
	}
	for _, rr := range res.answer {
		switch rr.Header().Rrtype {
		case dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeRRSIG:
		default:
			return false
		}
		if rr.Header().Name != name {
			return false
		}
	}
	return true
}

// optRR is the OPT record of a fast reply, less the UDP size and DO bit.
var optRR = [11]byte{0, 0, 41, 0, 0, 0, ednsVersion, 0, 0, 0, 0}

// fastAnswer answers req from the precomputed replies when it can; ok false
// sends the query to the general path.
// qs receives the reply's cookie and class (its key is the lookup key).
func (s *Server) fastAnswer(v *view, req []byte, tr transport, src netip.Addr, buf []byte, qs *qstate) (_ []byte, ok bool) {
	key := &qs.key
	q, ok := parsePlainQuery(req, key)
	if !ok {
		return nil, false
	}
	switch q.qtype {
	case dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, dns.TypeMAILB:
		return nil, false
	}
	fn := v.fast.names.lookup(key.bytes())
	if fn == nil {
		return s.fastNameError(v, req, q, tr, src, buf, qs)
	}
	if fn.hidden {
		return nil, false
	}
	return s.fastName(v, req, q, fn, false, tr, src, buf, qs)
}

// fastName answers q from fn's packed replies (the entry of its QTYPE, or
// its NODATA), or steers it at a name bound to a pool; ok false sends it
// to the general path. With wild, fn is the wildcard q's name is
// synthesised from (fastWildcard): its reply serves only where it names
// nothing but its owner (caseFree), whose pointers at the question then
// name the query's name.
func (s *Server) fastName(v *view, req []byte, q plainQuery, fn *fastNode, wild bool, tr transport, src netip.Addr, buf []byte, qs *qstate) ([]byte, bool) {
	if fn.gslb != nil {
		switch q.qtype {
		case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
			return s.fastSteer(v, req, q, fn.gslb, tr, src, buf, qs)
		}
		if wild {
			return nil, false
		}
	}
	r := fn.replies.Load()
	if r == nil {
		if r = s.fill(v.fast, v.zones, fn); r == nil {
			return nil, false
		}
	}
	if q.do && fn.signed {
		if r = r.do; r == nil {
			return nil, false
		}
	}
	e := r.types[q.qtype]
	if e == nil {
		if e = r.other; e == nil {
			return nil, false
		}
	}
	if (q.folded || wild) && !e.caseFree {
		return nil, false // the general path keeps the zone's case, or the names synthesis does not change (see caseFree)
	}
	out := s.fastFixed(v, req, &q, tr, src, buf, qs, e.body, e.flags, e.an, e.ns, e.ar)
	if out == nil {
		return nil, false // the general path truncates
	}
	qs.kind = kindOf(int(e.flags&0xf), int(e.an), int(e.ns), e.flags&flagAA != 0)
	if e.base != nil {
		qs.key.n = copy(qs.key.buf[:], e.base)
	}
	if c := e.queries[tr]; c != nil {
		c.Inc()
	} else {
		s.metrics.count(e.zone, q.qtype, int(e.flags&0xf), tr)
	}
	return out, true
}

// fastSteer answers A, AAAA or ANY at a name bound to a pool without
// miekg/dns: place the client (ECS read from the wire), decide with the
// policy, and write the address records, pointing their owner at the
// question, and the OPT with the client subnet echoed and scoped. It
// writes NODATA (the zone's SOA) for a pool with no address of the family,
// and declines what the general path must shape (SERVFAIL, a reply too
// large).
// TestFastSteerMatchesGeneral holds it to the general path byte for byte.
func (s *Server) fastSteer(v *view, req []byte, q plainQuery, g *fastPool, tr transport, src netip.Addr, buf []byte, qs *qstate) ([]byte, bool) {
	st := v.steer
	p := st.pools[g.pool]
	if p == nil {
		return nil, false
	}
	c := client{src: src}
	if q.ecs != nil {
		c.ecsSource = q.ecs[2]
		var a [16]byte
		copy(a[:], q.ecs[4:])
		if binary.BigEndian.Uint16(q.ecs) == 1 {
			c.ecsAddr = netip.AddrFrom4([4]byte(a[:4]))
		} else {
			c.ecsAddr = netip.AddrFrom16(a)
		}
	}
	fam, rtype, rdlen := policy.IPv4, dns.TypeA, 4
	if q.qtype == dns.TypeAAAA {
		fam, rtype, rdlen = policy.IPv6, dns.TypeAAAA, 16
	}
	// The answer is remembered per client subnet (steercache.go): the
	// version and the snapshot are read before the lookup and the decision
	// they cover.
	geoVer, cacheable := st.geoVersion()
	snap := st.state.Current()
	a, source := st.subject(&c)
	key := answerKey{pool: p, fam: fam, subnet: policy.ClientSubnet(a, source, st.ecs.MaxPrefixV4, st.ecs.MaxPrefixV6), ecs: c.usedECS}
	h := key.hash(g.salt)
	gen := s.generation(st, snap, geoVer)
	ans, held := s.steered.Get(h, key)
	if !cacheable || !held || ans.gen != gen {
		st.locate(&c, a, source)
		// Decisions are reused: Decide refills one without allocating.
		d, _ := s.decisions.Get().(*policy.Decision)
		if d == nil {
			d = new(policy.Decision)
		}
		defer s.decisions.Put(d)
		policy.Decide(p, c.Client, fam, snap, d)
		if d.Servfail {
			return nil, false
		}
		ans = steered{gen: gen, addrs: d.Addrs, ttl: d.TTL, scope: c.scope, count: st.counter(g.pool, d)}
		// A stale entry gives way at once, a live one of another key in
		// its turn (lossy.Cache.Claim), so that a flood of new subnets
		// copies an answer on one miss in lossy.ReplaceEvery at most.
		if cacheable {
			if sl, ok := s.steered.Claim(h, key, func(e steered) bool { return e.gen != gen }); ok {
				ans.addrs = slices.Clone(d.Addrs)
				sl.Store(key, ans)
			}
		}
	}
	// No address of the family: NODATA, the zone's SOA in the authority
	// section. In a signed zone a DO query needs the NSEC proof, and a
	// name in another case than the zone's gets the SOA's owner written
	// out (miekg/dns compresses it into the question only byte for byte):
	// the general path answers those.
	var nodata []byte
	if len(ans.addrs) == 0 {
		if q.do && g.sec != nil || q.folded || g.wild {
			return nil, false
		}
		if nodata = g.noData(); nodata == nil {
			return nil, false
		}
	}
	// With the DO bit, a signed zone's answer carries the RRSIGs of the
	// signed set of these addresses, packed in advance; without one (the
	// general path counts it), the general path answers.
	var sigs *steeredEntry
	if q.do && g.sec != nil && nodata == nil {
		if sigs = g.sec.steeredEntry(g.name, rtype, ans.addrs); sigs == nil {
			return nil, false
		}
	}
	// The client subnet option goes back scoped when it was used, as sent
	// when its source prefix is 0, and not at all from an untrusted resolver.
	echo := q.ecs != nil && (c.usedECS || q.ecs[2] == 0)
	size := q.qend + len(ans.addrs)*(12+rdlen) + len(nodata)
	if sigs != nil {
		size += len(sigs.sigs)
	}
	if q.edns {
		size += s.fastOPTLen(v, &q, src, qs, echo)
	}
	if size > v.replyLimit(&q, tr) {
		return nil, false
	}
	if ans.count != nil {
		ans.count.Inc()
	}
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	out := buf[:size]
	copy(out, req[:q.qend])
	reqFlags := binary.BigEndian.Uint16(req[2:])
	binary.BigEndian.PutUint16(out[2:], flagQR|flagAA|reqFlags&(flagRD|flagCD))
	an := uint16(len(ans.addrs))
	if sigs != nil {
		an += sigs.n
	}
	binary.BigEndian.PutUint16(out[6:], an)
	binary.BigEndian.PutUint16(out[8:], 0)
	off := q.qend
	if nodata != nil {
		binary.BigEndian.PutUint16(out[8:], 1)
		off += copy(out[off:], nodata)
	}
	for _, a := range ans.addrs {
		binary.BigEndian.PutUint16(out[off:], 0xc000|headerLen) // the owner: the question's name
		binary.BigEndian.PutUint16(out[off+2:], rtype)
		binary.BigEndian.PutUint16(out[off+4:], dns.ClassINET)
		binary.BigEndian.PutUint32(out[off+6:], ans.ttl)
		binary.BigEndian.PutUint16(out[off+10:], uint16(rdlen))
		if rdlen == 4 {
			a4 := a.Unmap().As4()
			copy(out[off+12:], a4[:])
		} else {
			a16 := a.As16()
			copy(out[off+12:], a16[:])
		}
		off += 12 + rdlen
	}
	if sigs != nil {
		off += copy(out[off:], sigs.sigs)
	}
	ar := uint16(0)
	if q.edns {
		ar = 1
		scope := uint8(0) // as sent (a query's is 0) when the option was not used
		if c.usedECS {
			scope = ans.scope
		}
		v.putOPT(out[off:], &q, echo, scope, qs)
	}
	binary.BigEndian.PutUint16(out[10:], ar)
	i := 0
	switch q.qtype {
	case dns.TypeAAAA:
		i = 1
	case dns.TypeANY:
		i = 2
	}
	g.queries[i][tr].Inc()
	qs.kind = rrlAnswer
	if nodata != nil {
		qs.kind = rrlNoData
	}
	return out, true
}

// noData returns the sections of g's NODATA reply after a question of
// g.name in lower case, packing them on first use; nil if they do not
// pack.
func (g *fastPool) noData() []byte {
	if b := g.nodata.Load(); b != nil {
		return *b
	}
	m := &dns.Msg{
		MsgHdr:   dns.MsgHdr{Response: true, Authoritative: true},
		Compress: true,
		Question: []dns.Question{{Name: g.name, Qtype: dns.TypeAAAA, Qclass: dns.ClassINET}},
		Ns:       []dns.RR{g.z.negativeSOA()},
	}
	out, err := m.Pack()
	if err != nil {
		return nil
	}
	b := out[skipName(out, headerLen)+4:]
	g.nodata.Store(&b)
	return b
}

// replyLimit is the largest reply q may get over tr: over UDP, 512 octets
// without EDNS, the client's UDP size within ours with it (RFC 6891 §6.2.5).
func (v *view) replyLimit(q *plainQuery, tr transport) int {
	switch {
	case tr != udp:
		return maxTCPSize
	case q.edns:
		return min(max(int(q.udpSize), minUDPSize), v.opts.maxUDP)
	default:
		return minUDPSize
	}
}

// fastFixed writes the reply to q whose sections are body, the octets of a
// packed reply after its question: the query's header (with QR, the
// query's RD and CD, and flags) and question, body, and an OPT record when
// the query has one, with the DO bit and the cookie echoed, and the client
// subnet option echoed with scope 0: the answer is the same for every
// client (RFC 7871 §7.2.1), so a resolver that sends ECS, as the large
// public ones do, caches it once for all. It returns nil when the reply
// does not fit tr.
func (s *Server) fastFixed(v *view, req []byte, q *plainQuery, tr transport, src netip.Addr, buf []byte, qs *qstate, body []byte, flags, an, ns, ar uint16) []byte {
	size := q.qend + len(body)
	if q.edns {
		size += s.fastOPTLen(v, q, src, qs, q.ecs != nil)
	}
	if size > v.replyLimit(q, tr) {
		return nil
	}
	if cap(buf) < size {
		buf = make([]byte, size)
	}
	out := buf[:size]
	copy(out, req[:q.qend])
	reqFlags := binary.BigEndian.Uint16(req[2:])
	binary.BigEndian.PutUint16(out[2:], flagQR|reqFlags&(flagRD|flagCD)|flags)
	binary.BigEndian.PutUint16(out[6:], an)
	binary.BigEndian.PutUint16(out[8:], ns)
	copy(out[q.qend:], body)
	if q.edns {
		ar++
		v.putOPT(out[q.qend+len(body):], q, q.ecs != nil, 0, qs) // scope 0: every client
	}
	binary.BigEndian.PutUint16(out[10:], ar)
	return out
}

// fastOPTLen is the length of the OPT record of a fast reply to q (which
// has one): the record, the client subnet option when echoed, and the
// cookie, which it computes into qs (fastCookie).
func (s *Server) fastOPTLen(v *view, q *plainQuery, src netip.Addr, qs *qstate, echo bool) int {
	n := len(optRR) + s.fastCookie(v, q, src, qs)
	if echo {
		n += 4 + len(q.ecs)
	}
	return n
}

// putOPT writes the OPT record of a fast reply to q at the start of opt
// (fastOPTLen octets): our UDP size, the DO bit echoed, the query's client
// subnet option with scope when echo, and the cookie of qs.
func (v *view) putOPT(opt []byte, q *plainQuery, echo bool, scope uint8, qs *qstate) {
	copy(opt, optRR[:])
	binary.BigEndian.PutUint16(opt[3:], uint16(v.opts.maxUDP))
	if q.do {
		opt[7] = 0x80
	}
	rdata := opt[11:11]
	if echo {
		rdata = binary.BigEndian.AppendUint16(rdata, optECS)
		rdata = binary.BigEndian.AppendUint16(rdata, uint16(len(q.ecs)))
		rdata = append(rdata, q.ecs...)
		rdata[4+3] = scope
	}
	rdata = append(rdata, qs.cookie.opt[:qs.cookie.n]...)
	binary.BigEndian.PutUint16(opt[9:], uint16(len(rdata)))
}

// fastCookie computes the reply's cookie into qs when the query has one and
// cookies are on, and returns the octets it adds to the OPT record.
func (s *Server) fastCookie(v *view, q *plainQuery, src netip.Addr, qs *qstate) int {
	if q.cookie == nil || v.opts.cookies == nil {
		return 0
	}
	v.opts.cookies.answer(&qs.cookie, q.cookie, src, qs.now.Unix())
	return qs.cookie.n
}
