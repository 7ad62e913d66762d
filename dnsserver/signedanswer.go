package dnsserver

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// The DNSSEC records of an answer from a signed zone to a query with the
// DO bit (RFC 4035 §3.1): resolveIn calls these with the zone's
// signedZone only then, so an unsigned zone, or a query without DO, never
// reaches them. Records keep the zone's owner names except where the
// answer is owned by the query name (an RRSIG next to its RRset, which
// takes the query's case, or the expanded name of a wildcard: its Labels
// field still says it was synthesised, RFC 4035 §5.3.4).

// appendSigs appends the RRSIGs at n over type t, owned by owner.
func appendSigs(dst []dns.RR, n *node, t uint16, owner string) []dns.RR {
	for _, rr := range n.rrsets.get(dns.TypeRRSIG) {
		if rr.(*dns.RRSIG).TypeCovered == t {
			dst = appendOwned1(dst, rr, owner)
		}
	}
	return dst
}

// appendNSEC appends the NSEC of n and its RRSIGs, unless dst has them:
// one NSEC can prove two things of one answer (RFC 4035 §3.1.3.2).
func appendNSEC(dst []dns.RR, n *node) []dns.RR {
	if n == nil {
		return dst
	}
	nsec := n.rrsets.get(dns.TypeNSEC)
	if len(nsec) == 0 || slices.Contains(dst, nsec[0]) {
		return dst
	}
	dst = append(dst, nsec[0])
	return appendSigs(dst, n, dns.TypeNSEC, nsec[0].Header().Name)
}

// appendDelegation appends what a referral from cut proves (RFC 4035
// §3.1.4): its DS and their RRSIGs, or, for an insecure delegation, the
// NSEC of the cut, whose bitmap has no DS.
func (sec *signedZone) appendDelegation(ns []dns.RR, cut *node) []dns.RR {
	if ds := cut.rrsets.get(dns.TypeDS); len(ds) > 0 {
		ns = append(ns, ds...)
		return appendSigs(ns, cut, dns.TypeDS, ds[0].Header().Name)
	}
	return appendNSEC(ns, cut)
}

// appendNameError appends the proof of an NXDOMAIN for lname, whose
// closest encloser is closest (RFC 4035 §3.1.3.2): after the SOA, its
// RRSIGs, the NSEC that covers lname and the one that covers the wildcard
// the closest encloser would have (often the same one).
func (sec *signedZone) appendNameError(ns []dns.RR, lname string, closest *node) []dns.RR {
	ns = append(ns, sec.soaSigs...)
	ns = appendNSEC(ns, sec.covering(lname))
	return appendNSEC(ns, sec.covering("*."+closest.name))
}

// appendNoData appends the proof that n (lname's node, or the wildcard
// that lname was synthesised from when wild) has no RRset of the type
// asked (RFC 4035 §3.1.3.1): after the SOA, its RRSIGs and the NSEC of n;
// for an empty non-terminal, which owns none, the NSEC that covers it
// (§3.1.3.2); for a wildcard, also the NSEC that proves lname itself does
// not exist (§3.1.3.4).
func (sec *signedZone) appendNoData(ns []dns.RR, n *node, lname string, wild bool) []dns.RR {
	ns = append(ns, sec.soaSigs...)
	if wild {
		ns = appendNSEC(ns, sec.covering(lname))
	}
	if len(n.rrsets.get(dns.TypeNSEC)) == 0 {
		return appendNSEC(ns, sec.covering(n.name))
	}
	return appendNSEC(ns, n)
}

// appendNoCloser appends, for an answer synthesised from a wildcard, the
// NSEC that proves no closer name matched (RFC 4035 §3.1.3.3).
func (sec *signedZone) appendNoCloser(ns []dns.RR, lname string, wild bool) []dns.RR {
	if !wild {
		return ns
	}
	return appendNSEC(ns, sec.covering(lname))
}

// addrsOf returns the addresses of the A and AAAA records of rrs.
func addrsOf(rrs []dns.RR) []netip.Addr {
	out := make([]netip.Addr, 0, len(rrs))
	for _, rr := range rrs {
		switch rr := rr.(type) {
		case *dns.A:
			if a, ok := netip.AddrFromSlice(rr.A.To4()); ok {
				out = append(out, a)
			}
		case *dns.AAAA:
			if a, ok := netip.AddrFromSlice(rr.AAAA); ok {
				out = append(out, a)
			}
		}
	}
	return out
}

// wholeRRsets is kept, what Truncate left of the section all of a signed
// reply, less the part of the RRset (with its RRSIGs, which follow it)
// that the cut went through: a validator can use no part of one, and TC
// is set (RFC 4035 §3.1.1), so the client asks again over TCP.
func wholeRRsets(kept, all []dns.RR) []dns.RR {
	if len(kept) == len(all) || len(kept) == 0 {
		return kept
	}
	cut := all[len(kept)]
	i := len(kept)
	for i > 0 && sameRRset(kept[i-1], cut) {
		i--
	}
	return kept[:i]
}

// sameRRset reports whether a and b are of one RRset, an RRSIG counting
// as of the RRset it covers.
func sameRRset(a, b dns.RR) bool {
	return strings.EqualFold(a.Header().Name, b.Header().Name) && coveredType(a) == coveredType(b)
}

func coveredType(rr dns.RR) uint16 {
	if sig, ok := rr.(*dns.RRSIG); ok {
		return sig.TypeCovered
	}
	return rr.Header().Rrtype
}
