package dnsserver

import (
	"maps"
	"net/netip"
	"slices"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/policy"
)

// What a zone transfer carries (RFC 5936). A secondary knows nothing of
// pools, so each name bound to one is exported as its static default
// answer: the A and AAAA records the pool answers a client with no
// location, every endpoint up and nothing drained (policy.Decide with the
// zero Client and a nil snapshot). That answer depends on the pool alone,
// never on this site's health view or clock, so every site exports the
// same zone for one release, and a secondary answers a steered name (and
// a CNAME to one) with addresses rather than NXDOMAIN. The GSLB records
// themselves never leave.
//
// A signed zone's transfer carries every DNSSEC record of the zone
// (Signatures.Records: DNSKEY, CDS, CDNSKEY, the NSEC chain, the RRSIGs)
// and each default answer with the RRSIGs of its signed set
// (Signatures.Steered, found by name, type and addresses), so that a
// secondary serves the zone signed (dnssec-verify passes on it).

// steeredDefaults returns the default answers of the names z binds to
// pools that st holds, by owner name, A before AAAA, each followed by its
// RRSIGs when z is signed. A family the default region has no address of
// is left out (the secondary answers NODATA, as we do), and so is a pool
// st lacks (Publish and Configure refuse that). missing counts the
// answers of a signed zone that have no signed set (the signatures were
// made for other pools): they go unsigned.
func steeredDefaults(z *Zone, st *steering) (out []dns.RR, missing int) {
	var d policy.Decision
	for _, owner := range slices.Sorted(maps.Keys(z.bindings)) {
		p := st.pools[z.bindings[owner].pool]
		if p == nil {
			continue
		}
		for _, fam := range [...]policy.Family{policy.IPv4, policy.IPv6} {
			policy.Decide(p, policy.Client{}, fam, nil, &d)
			if d.Servfail || len(d.Addrs) == 0 {
				continue
			}
			// Sorted, as a signed set lists them (SteeredSet.Addrs).
			addrs := slices.SortedFunc(slices.Values(d.Addrs), netip.Addr.Compare)
			out = append(out, addrRecords(owner, d.TTL, fam, addrs)...)
			if z.sec == nil {
				continue
			}
			t := dns.TypeA
			if fam == policy.IPv6 {
				t = dns.TypeAAAA
			}
			ss := z.sec.steeredSet(owner, t, addrs)
			if ss == nil || ss.TTL != d.TTL {
				missing++
				continue
			}
			for _, sig := range ss.Sigs {
				out = append(out, sig)
			}
		}
	}
	return out, missing
}

// dnssecRecords returns the DNSSEC records of a signed zone z that are not
// already among its records: Signatures.Records without its SOA (z.SOA is
// that one) and without copies of the zone's own records (its DS); nil
// for an unsigned zone. WithSignatures made the list: a transfer copies
// nothing of a large zone's signatures.
func dnssecRecords(z *Zone) []dns.RR {
	if z.sec == nil {
		return nil
	}
	return z.sec.records
}

// addrRecords makes the A (fam IPv4) or AAAA records of addrs at owner.
func addrRecords(owner string, ttl uint32, fam policy.Family, addrs []netip.Addr) []dns.RR {
	out := make([]dns.RR, 0, len(addrs))
	hdr := dns.RR_Header{Name: owner, Class: dns.ClassINET, Ttl: ttl}
	for _, a := range addrs {
		h := hdr
		if fam == policy.IPv4 {
			h.Rrtype = dns.TypeA
			out = append(out, &dns.A{Hdr: h, A: a.AsSlice()})
		} else {
			h.Rrtype = dns.TypeAAAA
			out = append(out, &dns.AAAA{Hdr: h, AAAA: a.AsSlice()})
		}
	}
	return out
}

// xfrRecords returns what an AXFR of z sends, in order, as a list of
// slices (z's own records are not copied): the SOA, the zone's other
// records, its DNSSEC records, the steered names' default answers, and the
// SOA again.
func (s *Server) xfrRecords(z *Zone, st *steering) [][]dns.RR {
	rest := z.records
	if len(rest) > 0 && rest[0].Header().Rrtype == dns.TypeSOA {
		rest = rest[1:]
	}
	defaults, missing := steeredDefaults(z, st)
	if missing > 0 {
		s.log.Warn("zone transfer: steered default answers without a signed set go unsigned", "zone", z.Origin, "answers", missing)
	}
	return [][]dns.RR{{z.SOA}, rest, dnssecRecords(z), defaults, {z.SOA}}
}

// rrCursor walks a list of record slices as one sequence.
type rrCursor struct {
	parts [][]dns.RR
}

func (c *rrCursor) done() bool {
	for len(c.parts) > 0 && len(c.parts[0]) == 0 {
		c.parts = c.parts[1:]
	}
	return len(c.parts) == 0
}

// peek appends up to n of the next records to buf, without consuming them.
func (c *rrCursor) peek(buf []dns.RR, n int) []dns.RR {
	for _, p := range c.parts {
		if n <= 0 {
			break
		}
		k := min(n, len(p))
		buf = append(buf, p[:k]...)
		n -= k
	}
	return buf
}

// skip consumes n records.
func (c *rrCursor) skip(n int) {
	for n > 0 && len(c.parts) > 0 {
		k := min(n, len(c.parts[0]))
		c.parts[0] = c.parts[0][k:]
		n -= k
		if len(c.parts[0]) == 0 {
			c.parts = c.parts[1:]
		}
	}
}
