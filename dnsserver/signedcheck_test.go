package dnsserver

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The checks every signed reply of the tests gets, written apart from the
// server's code: signatures verify (miekg/dns's RRSIG.Verify with the
// zone's DNSKEY), RRsets are signed where RFC 4035 §3.1 says, and the
// NSECs prove what the reply claims (RFC 4035 §5.4 as a validator reads it).

// canonicalLess reports whether a sorts before b in the canonical order
// of RFC 4034 §6.1 (test names have no escapes).
func canonicalLess(a, b string) bool {
	la, lb := dns.SplitDomainName(strings.ToLower(a)), dns.SplitDomainName(strings.ToLower(b))
	slices.Reverse(la)
	slices.Reverse(lb)
	for i := 0; i < len(la) && i < len(lb); i++ {
		if c := strings.Compare(la[i], lb[i]); c != 0 {
			return c < 0
		}
	}
	return len(la) < len(lb)
}

// covers reports whether nsec proves that name does not exist: it sorts
// strictly between the owner and the next name (or after the owner, for
// the last NSEC, whose next is the apex).
func covers(nsec *dns.NSEC, name string) bool {
	owner, next := nsec.Hdr.Name, nsec.NextDomain
	if !canonicalLess(owner, name) {
		return false
	}
	return canonicalLess(name, next) || !canonicalLess(owner, next)
}

// matches reports whether nsec is owned by name.
func matches(nsec *dns.NSEC, name string) bool { return strings.EqualFold(nsec.Hdr.Name, name) }

// commonAncestor is the longest name both a and b are at or below.
func commonAncestor(a, b string) string {
	n := dns.CompareDomainName(strings.ToLower(a), strings.ToLower(b))
	labels := dns.SplitDomainName(strings.ToLower(a))
	return dns.Fqdn(strings.Join(labels[len(labels)-n:], "."))
}

// closestEncloser is the closest encloser of name that nsec (which
// covers it) implies: the longer of the names it shares with the owner
// and with the next name.
func closestEncloser(nsec *dns.NSEC, name string) string {
	a, b := commonAncestor(name, nsec.Hdr.Name), commonAncestor(name, nsec.NextDomain)
	if dns.CountLabel(b) > dns.CountLabel(a) {
		return b
	}
	return a
}

type ownerType struct {
	name string
	t    uint16
}

// checkDNSSEC checks the reply r to q from the fixture's signed zone.
func checkDNSSEC(t *testing.T, f *signedFixture, q, r *dns.Msg) {
	t.Helper()
	keys := map[uint16]*dns.DNSKEY{}
	for _, rr := range f.sigs.Records {
		if k, ok := rr.(*dns.DNSKEY); ok {
			keys[k.KeyTag()] = k
		}
	}
	do := q.IsEdns0() != nil && q.IsEdns0().Do()
	qq := q.Question[0]
	explicit := qq.Qtype == dns.TypeRRSIG || qq.Qtype == dns.TypeNSEC
	referral := !r.Authoritative && r.Rcode == dns.RcodeSuccess && len(r.Answer) == 0
	now := time.Now()
	for _, sec := range []struct {
		name string
		rrs  []dns.RR
	}{{"answer", r.Answer}, {"authority", r.Ns}, {"additional", r.Extra}} {
		sets := map[ownerType][]dns.RR{}
		signed := map[ownerType]bool{}
		var order []ownerType
		for _, rr := range sec.rrs {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			if !do && !explicit && (h.Rrtype == dns.TypeRRSIG || h.Rrtype == dns.TypeNSEC) {
				t.Errorf("%s: %v without DO", sec.name, rr)
			}
			if sig, ok := rr.(*dns.RRSIG); ok && do {
				k := ownerType{strings.ToLower(h.Name), sig.TypeCovered}
				signed[k] = true
				continue
			}
			k := ownerType{strings.ToLower(h.Name), h.Rrtype}
			if sets[k] == nil {
				order = append(order, k)
			}
			sets[k] = append(sets[k], rr)
		}
		if !do {
			continue
		}
		for _, rr := range sec.rrs {
			sig, ok := rr.(*dns.RRSIG)
			if !ok {
				continue
			}
			k := ownerType{strings.ToLower(sig.Hdr.Name), sig.TypeCovered}
			set := sets[k]
			key := keys[sig.KeyTag]
			switch {
			case len(set) == 0:
				t.Errorf("%s: %v: no RRset it covers", sec.name, sig)
			case key == nil:
				t.Errorf("%s: %v: key %d is not in the DNSKEY RRset", sec.name, sig, sig.KeyTag)
			default:
				if err := sig.Verify(key, set); err != nil {
					t.Errorf("%s: %v does not verify: %v", sec.name, sig, err)
				}
				if !sig.ValidityPeriod(now) {
					t.Errorf("%s: %v is not valid now", sec.name, sig)
				}
				if sig.Hdr.Ttl != set[0].Header().Ttl {
					t.Errorf("%s: %v: TTL %d, its RRset's is %d (RFC 4034 §3)", sec.name, sig, sig.Hdr.Ttl, set[0].Header().Ttl)
				}
			}
		}
		if sec.name == "additional" {
			continue
		}
		for _, k := range order {
			if !signed[k] && !(referral && k.t == dns.TypeNS) {
				t.Errorf("%s: %s %s is not signed", sec.name, k.name, dns.TypeToString[k.t])
			}
		}
	}
	if !do {
		return
	}
	var nsecs []*dns.NSEC
	for _, rr := range r.Ns {
		if n, ok := rr.(*dns.NSEC); ok {
			nsecs = append(nsecs, n)
		}
	}
	find := func(pred func(*dns.NSEC) bool) *dns.NSEC {
		for _, n := range nsecs {
			if pred(n) {
				return n
			}
		}
		return nil
	}
	lacks := func(n *dns.NSEC, types ...uint16) bool {
		for _, t := range types {
			if slices.Contains(n.TypeBitMap, t) {
				return false
			}
		}
		return true
	}
	qname := qq.Name
	switch {
	case r.Rcode == dns.RcodeNameError:
		c := find(func(n *dns.NSEC) bool { return covers(n, qname) })
		if c == nil {
			t.Errorf("NXDOMAIN: no NSEC covers %s", qname)
			return
		}
		wild := "*." + closestEncloser(c, qname)
		if find(func(n *dns.NSEC) bool { return covers(n, wild) }) == nil {
			t.Errorf("NXDOMAIN: no NSEC covers the wildcard %s", wild)
		}
	case referral:
		cut := r.Ns[0].Header().Name
		hasDS := slices.ContainsFunc(r.Ns, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeDS })
		if !hasDS && find(func(n *dns.NSEC) bool { return matches(n, cut) && lacks(n, dns.TypeDS) && !lacks(n, dns.TypeNS) }) == nil {
			t.Errorf("referral to %s: neither a DS nor an NSEC that proves there is none", cut)
		}
	case r.Rcode == dns.RcodeSuccess && !slices.ContainsFunc(r.Answer, func(rr dns.RR) bool {
		return rr.Header().Rrtype == qq.Qtype || qq.Qtype == dns.TypeANY
	}) && !slices.ContainsFunc(r.Answer, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeCNAME }):
		// NODATA: the name's NSEC without the type; an empty
		// non-terminal's covering NSEC; or a wildcard's.
		exact := find(func(n *dns.NSEC) bool { return matches(n, qname) && lacks(n, qq.Qtype, dns.TypeCNAME) })
		ent := find(func(n *dns.NSEC) bool {
			return covers(n, qname) && dns.IsSubDomain(strings.ToLower(qname), strings.ToLower(n.NextDomain))
		})
		wildOK := false
		if c := find(func(n *dns.NSEC) bool { return covers(n, qname) }); c != nil {
			wild := "*." + closestEncloser(c, qname)
			wildOK = find(func(n *dns.NSEC) bool { return matches(n, wild) && lacks(n, qq.Qtype, dns.TypeCNAME) }) != nil
		}
		if exact == nil && ent == nil && !wildOK {
			t.Errorf("NODATA for %s %s: no NSEC proves it", qname, dns.TypeToString[qq.Qtype])
		}
	}
	// A wildcard answer proves no closer name matched.
	for _, rr := range r.Answer {
		if sig, ok := rr.(*dns.RRSIG); ok && int(sig.Labels) < dns.CountLabel(sig.Hdr.Name) {
			if find(func(n *dns.NSEC) bool { return covers(n, sig.Hdr.Name) }) == nil {
				t.Errorf("wildcard answer %s: no NSEC proves %s does not exist", sig.Hdr.Name, sig.Hdr.Name)
			}
		}
	}
}
