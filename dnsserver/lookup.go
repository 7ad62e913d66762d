package dnsserver

import (
	"cmp"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// maxChain bounds how many in-zone CNAMEs one answer follows; it also ends
// CNAME loops.
const maxChain = 8

// result is the outcome of a lookup: the sections of the reply, its rcode and
// whether it is authoritative.
type result struct {
	rcode  int
	aa     bool
	zone   *Zone // the zone of the query name, nil when it is not ours
	answer []dns.RR
	ns     []dns.RR
	extra  []dns.RR
	// dynamic is set when the answer depends on the client (a GSLB name was
	// answered, or met without a client to steer for): never precomputed.
	dynamic bool
	// base is the name rate limiting counts the response under when it is
	// not the query name (rrl.go): the zone of an NXDOMAIN, the delegation
	// point of a referral, the wildcard of a synthesised answer.
	base string
	// unsigned is set when a steered answer to a DO query in a signed zone
	// had no signed set and went out unsigned (aya_dns_unsigned_answers_total).
	unsigned bool
}

// resolve answers qname/qtype from the zones as an authoritative server does
// (RFC 1034 §4.3.2, RFC 4592 for wildcards, RFC 8482 for ANY): exact match,
// in-zone CNAME chains, wildcard synthesis, referrals at delegations, and
// negative answers with the SOA. qname keeps the case the client used.
// Names bound to a pool are answered by st for client c; with c nil (when
// precomputing) they only mark the result dynamic. do is the query's DO
// bit: a signed zone then adds its DNSSEC records (RFC 4035 §3.1; see
// signedanswer.go); an unsigned zone answers as without it.
func (s *Zones) resolve(qname string, qtype uint16, do bool, st *steering, c *client) result {
	var res result
	lname := strings.ToLower(qname)
	z := s.find(lname)
	if z == nil {
		res.rcode = dns.RcodeRefused
		return res
	}
	if qtype == dns.TypeDS && lname == z.Origin {
		z = cmp.Or(s.signedParent(z), z)
	}
	res.zone = z
	res.aa = true
	s.resolveIn(&res, z, qname, lname, qtype, do, 0, st, c)
	return res
}

// signedParent returns the zone we serve that z is delegated from, when
// it is signed, else nil: the DS of z is its answer (RFC 4035 §3.1.4.1),
// with its signatures.
func (s *Zones) signedParent(z *Zone) *Zone {
	if off, end := dns.NextLabel(z.Origin, 0); !end {
		if p := s.find(z.Origin[off:]); p != nil && p.sec != nil {
			return p
		}
	}
	return nil
}

func (s *Zones) resolveIn(res *result, z *Zone, qname, lname string, qtype uint16, do bool, depth int, st *steering, c *client) {
	// sec is set when the answer carries DNSSEC records: a DO query to a
	// signed zone. Every DNSSEC addition below is under sec != nil.
	var sec *signedZone
	if do {
		sec = z.sec
	}
	n, closest, cut := z.walk(lname, qtype)
	if cut != nil {
		// Referral: not authoritative for what lies below (RFC 1034 §4.3.2 3b).
		if depth == 0 {
			res.aa = false
		}
		res.base = cmp.Or(res.base, cut.name)
		res.ns = append(res.ns, cut.rrsets.get(dns.TypeNS)...)
		if sec != nil {
			res.ns = sec.appendDelegation(res.ns, cut)
		}
		for _, ns := range cut.rrsets.get(dns.TypeNS) {
			res.extra = z.appendAddrs(res.extra, ns.(*dns.NS).Ns, sec)
		}
		return
	}
	wild := false
	if n == nil {
		// RFC 4592 §3.3.1: the source of synthesis is "*." + closest encloser.
		n = z.nodes["*."+closest.name]
		if n == nil {
			res.rcode = dns.RcodeNameError
			res.ns = append(res.ns, z.negativeSOA())
			if sec != nil {
				res.ns = sec.appendNameError(res.ns, lname, closest)
			}
			res.base = cmp.Or(res.base, z.Origin)
			return
		}
		res.base = cmp.Or(res.base, n.name)
		wild = true
	}
	if cname := n.rrsets.get(dns.TypeCNAME); len(cname) > 0 && qtype != dns.TypeCNAME {
		if depth > 0 && hasCNAME(res.answer, qname) {
			return // a loop: each CNAME once (RFC 2181 §5: no duplicate records)
		}
		res.answer = appendOwned(res.answer, cname, qname)
		if sec != nil {
			res.answer = appendSigs(res.answer, n, dns.TypeCNAME, qname)
			res.ns = sec.appendNoCloser(res.ns, lname, wild)
		}
		if qtype == dns.TypeANY || depth+1 >= maxChain {
			return
		}
		target := cname[0].(*dns.CNAME).Target
		ltarget := strings.ToLower(target)
		if tz := s.find(ltarget); tz != nil {
			s.resolveIn(res, tz, target, ltarget, qtype, do, depth+1, st, c)
		}
		return
	}
	if gslb := n.rrsets.get(TypeGSLB); len(gslb) > 0 && (qtype == dns.TypeA || qtype == dns.TypeAAAA || qtype == dns.TypeANY) {
		res.dynamic = true
		if c == nil || st == nil {
			return
		}
		if qtype == dns.TypeANY {
			qtype = dns.TypeA // RFC 8482: one RRset; the addresses
		}
		rrs, rcode := st.steer(c, poolOf(gslb[0]), qname, qtype)
		if rcode != dns.RcodeSuccess {
			res.rcode = rcode
			res.aa = false
			return
		}
		if len(rrs) == 0 {
			res.ns = append(res.ns, z.negativeSOA()) // NODATA: no address of that family
			if sec != nil {
				res.ns = sec.appendNoData(res.ns, n, lname, wild)
			}
			return
		}
		res.answer = append(res.answer, rrs...)
		if sec != nil {
			set := sec.steeredSet(n.name, qtype, addrsOf(rrs))
			if set == nil {
				res.unsigned = true // should not happen: the signer signs every answer
				return
			}
			for _, sig := range set.Sigs {
				res.answer = appendOwned1(res.answer, sig, qname)
			}
			res.ns = sec.appendNoCloser(res.ns, lname, wild)
		}
		return
	}
	rrs := n.rrsets.get(qtype)
	switch qtype {
	case dns.TypeANY:
		rrs = anyRRset(n, z.sec != nil)
	case TypeGSLB:
		rrs = nil // the binding never leaves the server
	}
	if len(rrs) == 0 {
		res.ns = append(res.ns, z.negativeSOA()) // NODATA (RFC 2308 §2.2)
		if sec != nil {
			res.ns = sec.appendNoData(res.ns, n, lname, wild)
		}
		return
	}
	res.answer = appendOwned(res.answer, rrs, qname)
	if sec != nil {
		res.answer = appendSigs(res.answer, n, rrs[0].Header().Rrtype, qname)
		res.ns = sec.appendNoCloser(res.ns, lname, wild)
	}
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.NS:
			res.extra = z.appendAddrs(res.extra, rr.Ns, sec)
		case *dns.MX:
			res.extra = z.appendAddrs(res.extra, rr.Mx, sec)
		case *dns.SRV:
			res.extra = z.appendAddrs(res.extra, rr.Target, sec)
		}
	}
}

// walk descends from the apex toward lname. It returns the node for lname
// when it exists, else nil and the closest encloser; or, when a delegation
// point lies on the way, that cut (a DS query at the cut itself is answered
// here, by the parent side).
func (z *Zone) walk(lname string, qtype uint16) (exact, closest, cut *node) {
	var offs [128]int // label starts below the apex; a name has at most 127 labels
	k := 0
	for off, end := 0, false; !end && lname[off:] != z.Origin && k < len(offs); off, end = dns.NextLabel(lname, off) {
		offs[k] = off
		k++
	}
	closest = z.nodes[z.Origin]
	for i := k - 1; i >= 0; i-- {
		n := z.nodes[lname[offs[i]:]]
		if n == nil {
			return nil, closest, nil
		}
		if n.cut && (i > 0 || qtype != dns.TypeDS) {
			return nil, closest, n
		}
		closest = n
	}
	return closest, closest, nil
}

// anyRRset picks the one RRset answered for QTYPE ANY (RFC 8482 §4.1):
// the addresses when there are any, else the lowest type; in a signed
// zone, not the RRSIGs or the NSEC (signed says so).
func anyRRset(n *node, signed bool) []dns.RR {
	if rrs := n.rrsets.get(dns.TypeA); len(rrs) > 0 {
		return rrs
	}
	if rrs := n.rrsets.get(dns.TypeAAAA); len(rrs) > 0 {
		return rrs
	}
	best := uint16(0)
	for _, set := range n.rrsets {
		if t, rrs := set.t, set.rrs; len(rrs) > 0 && t != TypeGSLB && (best == 0 || t < best) &&
			!(signed && (t == dns.TypeRRSIG || t == dns.TypeNSEC)) {
			best = t
		}
	}
	return n.rrsets.get(best)
}

// appendAddrs adds the A and AAAA records of target, when the zone has them
// (glue below a delegation included), unless they are there already; with
// sec (a DO query to a signed zone), each authoritative RRset's RRSIGs
// after it (glue is not signed).
func (z *Zone) appendAddrs(extra []dns.RR, target string, sec *signedZone) []dns.RR {
	n := z.nodes[strings.ToLower(target)]
	if n == nil {
		return extra
	}
	for _, t := range [...]uint16{dns.TypeA, dns.TypeAAAA} {
		added := false
		for _, rr := range n.rrsets.get(t) {
			if !slices.Contains(extra, rr) {
				extra = append(extra, rr)
				added = true
			}
		}
		if added && sec != nil && !n.occluded {
			extra = appendSigs(extra, n, t, n.rrsets.get(t)[0].Header().Name)
		}
	}
	return extra
}

// hasCNAME reports whether rrs has a CNAME owned by name.
func hasCNAME(rrs []dns.RR, name string) bool {
	for _, rr := range rrs {
		if h := rr.Header(); h.Rrtype == dns.TypeCNAME && strings.EqualFold(h.Name, name) {
			return true
		}
	}
	return false
}

// appendOwned appends rrs with qname as their owner: the case the client
// asked with, and the name a wildcard answer is synthesised for. Records whose
// owner is already qname are shared, not copied; zone data is never mutated.
func appendOwned(dst, rrs []dns.RR, qname string) []dns.RR {
	for _, rr := range rrs {
		dst = appendOwned1(dst, rr, qname)
	}
	return dst
}

// appendOwned1 is appendOwned of one record.
func appendOwned1(dst []dns.RR, rr dns.RR, qname string) []dns.RR {
	if rr.Header().Name != qname {
		rr = dns.Copy(rr)
		rr.Header().Name = qname
	}
	return append(dst, rr)
}
