package dnsserver

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// signedCase is one query to a signed zone and the reply it must get. The
// sections are written in brief for records whose contents are random
// (signatures, keys): "owner TTL IN RRSIG <covered> <labels>", "owner TTL
// IN DNSKEY <flags>", "owner TTL IN CDNSKEY <flags>", "owner TTL IN CDS";
// every other record in full. Beside the table, every reply is checked
// whole: each RRSIG verifies with the zone's DNSKEY over its RRset, each
// RRset of the answer and authority sections of a DO reply is signed
// (but a delegation's NS), and the NSECs prove what the rcode says.
type signedCase struct {
	name  string
	rfc   string
	net   string // "udp", "tcp"; empty runs both
	qname string
	qtype uint16
	// do sets the DO bit; size is the EDNS UDP size (default 4096); noEDNS
	// sends no OPT at all; modify changes the query further.
	do     bool
	size   uint16
	noEDNS bool
	modify func(*dns.Msg)

	rcode             int
	aa, tc            bool
	answer, ns, extra []string
	// unsigned: the reply is expected to fail the DNSSEC checks.
	unsigned bool
}

// briefTypes are printed in brief by brief.
var briefTypes = map[string]bool{"RRSIG": true, "DNSKEY": true, "CDNSKEY": true, "CDS": true}

// brief is the text of rr that signedCase rows compare.
func brief(rr dns.RR) string {
	h := rr.Header()
	head := fmt.Sprintf("%s %d IN %s", h.Name, h.Ttl, dns.TypeToString[h.Rrtype])
	switch rr := rr.(type) {
	case *dns.RRSIG:
		return fmt.Sprintf("%s %s %d", head, dns.TypeToString[rr.TypeCovered], rr.Labels)
	case *dns.DNSKEY:
		return fmt.Sprintf("%s %d", head, rr.Flags)
	case *dns.CDNSKEY:
		return fmt.Sprintf("%s %d", head, rr.Flags)
	case *dns.CDS:
		return head
	}
	return rr.String()
}

// briefWant is a row's record in the form brief prints.
func briefWant(tb testing.TB, s string) string {
	tb.Helper()
	f := strings.Fields(s)
	if len(f) >= 4 && briefTypes[f[3]] {
		return strings.Join(f, " ")
	}
	return rrString(tb, s)
}

func checkBrief(t *testing.T, section string, got []dns.RR, want []string) {
	t.Helper()
	var g, w []string
	for _, rr := range got {
		if rr.Header().Rrtype != dns.TypeOPT {
			g = append(g, brief(rr))
		}
	}
	for _, s := range want {
		w = append(w, briefWant(t, s))
	}
	if !slices.Equal(g, w) {
		t.Errorf("%s section:\n got %q\nwant %q", section, g, w)
	}
}

// signedServer serves signed.test signed (signedFixture) with the test
// pools, and returns its address.
func signedServer(t *testing.T) (*Server, string, *signedFixture) {
	t.Helper()
	f := newSignedFixture(t)
	s, addr := serveSigned(t, f, f.sigs)
	return s, addr, f
}

// serveSigned serves the fixture's zone with sigs.
func serveSigned(t *testing.T, f *signedFixture, sigs *Signatures) (*Server, string) {
	t.Helper()
	return serveSignedRRL(t, f, sigs, nil)
}

// serveSignedRRL is serveSigned with the rate limiter rrl (nil: none).
func serveSignedRRL(t *testing.T, f *signedFixture, sigs *Signatures, rrl *RRLConfig) (*Server, string) {
	t.Helper()
	cfg := testConfig()
	cfg.GSLB = GSLB{Pools: signedPools(), Geo: testGeo(t)}
	cfg.RRL = rrl
	s, addr := testServer(t, cfg, signedZones)
	sz, err := f.zone.WithSignatures(sigs)
	if err != nil {
		t.Fatal(err)
	}
	zs, err := NewZones(sz)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(zs, cfg); err != nil {
		t.Fatal(err)
	}
	return s, addr
}

func (c signedCase) query() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(c.qname, c.qtype)
	m.RecursionDesired = false
	if !c.noEDNS {
		m.SetEdns0(cmpOr(c.size, 4096), c.do)
	}
	if c.modify != nil {
		c.modify(m)
	}
	return m
}

func cmpOr(a, b uint16) uint16 {
	if a != 0 {
		return a
	}
	return b
}

// TestSignedAnswers: a signed zone answers queries with the DO bit as RFC
// 4035 §3.1 says, and without it as an unsigned zone does.
func TestSignedAnswers(t *testing.T) {
	_, addr, f := signedServer(t)
	const (
		soa    = "signed.test. 300 IN SOA ns1.signed.test. hostmaster.signed.test. 1 7200 3600 1209600 300"
		soaSig = "signed.test. 300 IN RRSIG SOA 2"
		nsecSg = "RRSIG NSEC"
	)
	nsec := func(owner, next, types string) []string {
		return []string{fmt.Sprintf("%s 300 IN NSEC %s %s", owner, next, types), owner + " 300 IN " + nsecSg + " " + fmt.Sprint(signedLabels(owner))}
	}
	cat := func(parts ...any) []string {
		var out []string
		for _, p := range parts {
			switch p := p.(type) {
			case string:
				out = append(out, p)
			case []string:
				out = append(out, p...)
			}
		}
		return out
	}
	apexNSEC := nsec("signed.test.", "alias.signed.test.", "NS SOA MX RRSIG NSEC DNSKEY CDS CDNSKEY")
	mailNSEC := nsec("mail.signed.test.", "ns1.signed.test.", "A RRSIG NSEC")
	staticNSEC := nsec("static.signed.test.", "sub.signed.test.", "A AAAA RRSIG NSEC")
	edgeNSEC := nsec("edge.wild.signed.test.", "www.signed.test.", "A RRSIG NSEC")
	wildNSEC := nsec("*.wild.signed.test.", "edge.wild.signed.test.", "TXT RRSIG NSEC")
	dynNSEC := nsec("*.dyn.signed.test.", "host.ent.signed.test.", "A AAAA RRSIG NSEC")
	insecureNSEC := nsec("insecure.signed.test.", "mail.signed.test.", "NS RRSIG NSEC")
	v4NSEC := nsec("v4.signed.test.", "*.wild.signed.test.", "A RRSIG NSEC")
	staticA := "static.signed.test. 300 IN A 192.0.2.20"
	var bigTXT []string
	for i := 1; i <= 20; i++ {
		bigTXT = append(bigTXT, fmt.Sprintf(`big.signed.test. 300 IN TXT "big-%02d-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`, i))
	}
	cases := []signedCase{
		{name: "positive", rfc: "RFC 4035 §3.1.1: the RRset and its RRSIG",
			qname: "static.signed.test.", qtype: dns.TypeA, do: true, aa: true,
			answer: []string{staticA, "static.signed.test. 300 IN RRSIG A 3"}},
		{name: "positive in the query's case", rfc: "RFC 4034 §6.2: owners compare without case",
			qname: "StAtIc.Signed.TEST.", qtype: dns.TypeA, do: true, aa: true,
			answer: []string{"StAtIc.Signed.TEST. 300 IN A 192.0.2.20", "StAtIc.Signed.TEST. 300 IN RRSIG A 3"}},
		{name: "without DO: no DNSSEC records", rfc: "RFC 3225 §3",
			qname: "static.signed.test.", qtype: dns.TypeA, aa: true, answer: []string{staticA}},
		{name: "without EDNS", rfc: "RFC 3225 §3",
			qname: "static.signed.test.", qtype: dns.TypeA, noEDNS: true, aa: true, answer: []string{staticA}},
		{name: "apex MX: additional addresses with their RRSIGs", rfc: "RFC 4035 §3.1.1",
			qname: "signed.test.", qtype: dns.TypeMX, do: true, aa: true,
			answer: []string{"signed.test. 3600 IN MX 10 mail.signed.test.", "signed.test. 3600 IN RRSIG MX 2"},
			extra:  []string{"mail.signed.test. 3600 IN A 192.0.2.25", "mail.signed.test. 3600 IN RRSIG A 3"}},
		{name: "apex SOA", qname: "signed.test.", qtype: dns.TypeSOA, do: true, aa: true,
			answer: []string{"signed.test. 3600 IN SOA ns1.signed.test. hostmaster.signed.test. 1 7200 3600 1209600 300", "signed.test. 3600 IN RRSIG SOA 2"}},
		{name: "DNSKEY", rfc: "RFC 4035 §2.1: signed by the KSK",
			qname: "signed.test.", qtype: dns.TypeDNSKEY, do: true, aa: true,
			answer: []string{"signed.test. 3600 IN DNSKEY 257", "signed.test. 3600 IN DNSKEY 256", "signed.test. 3600 IN RRSIG DNSKEY 2"}},
		{name: "DNSKEY without DO: the records plainly", rfc: "RFC 3225 §3: asked for explicitly",
			qname: "signed.test.", qtype: dns.TypeDNSKEY, aa: true,
			answer: []string{"signed.test. 3600 IN DNSKEY 257", "signed.test. 3600 IN DNSKEY 256"}},
		{name: "CDS", rfc: "RFC 7344", qname: "signed.test.", qtype: dns.TypeCDS, do: true, aa: true,
			answer: []string{"signed.test. 3600 IN CDS", "signed.test. 3600 IN RRSIG CDS 2"}},
		{name: "CDNSKEY", rfc: "RFC 7344", qname: "signed.test.", qtype: dns.TypeCDNSKEY, do: true, aa: true,
			answer: []string{"signed.test. 3600 IN CDNSKEY 257", "signed.test. 3600 IN RRSIG CDNSKEY 2"}},
		{name: "RRSIG without DO: the name's RRSIGs", rfc: "RFC 3225 §3: asked for explicitly",
			qname: "static.signed.test.", qtype: dns.TypeRRSIG, aa: true,
			answer: []string{"static.signed.test. 300 IN RRSIG A 3", "static.signed.test. 300 IN RRSIG AAAA 3", "static.signed.test. 300 IN RRSIG NSEC 3"}},
		{name: "NSEC without DO", rfc: "RFC 3225 §3: asked for explicitly",
			qname: "static.signed.test.", qtype: dns.TypeNSEC, aa: true, answer: staticNSEC[:1]},
		{name: "NSEC with DO", qname: "static.signed.test.", qtype: dns.TypeNSEC, do: true, aa: true, answer: staticNSEC},
		{name: "ANY: one RRset and its RRSIG", rfc: "RFC 8482 §4.1",
			qname: "static.signed.test.", qtype: dns.TypeANY, do: true, aa: true,
			answer: []string{staticA, "static.signed.test. 300 IN RRSIG A 3"}},
		{name: "CNAME chain: each CNAME signed", rfc: "RFC 4035 §3.1.1",
			qname: "alias.signed.test.", qtype: dns.TypeA, do: true, aa: true,
			answer: []string{"alias.signed.test. 3600 IN CNAME cname.signed.test.", "alias.signed.test. 3600 IN RRSIG CNAME 3",
				"cname.signed.test. 3600 IN CNAME static.signed.test.", "cname.signed.test. 3600 IN RRSIG CNAME 3",
				staticA, "static.signed.test. 300 IN RRSIG A 3"}},
		{name: "NODATA", rfc: "RFC 4035 §3.1.3.1: the NSEC of the name",
			qname: "static.signed.test.", qtype: dns.TypeTXT, do: true, aa: true,
			ns: cat(soa, soaSig, staticNSEC)},
		{name: "NODATA without DO", rfc: "RFC 2308 §2.2",
			qname: "static.signed.test.", qtype: dns.TypeTXT, aa: true, ns: []string{soa}},
		{name: "NODATA at an empty non-terminal", rfc: "RFC 4035 §3.1.3.2: the NSEC that covers it",
			qname: "ent.signed.test.", qtype: dns.TypeA, do: true, aa: true,
			ns: cat(soa, soaSig, dynNSEC)},
		{name: "NXDOMAIN", rfc: "RFC 4035 §3.1.3.2: no such name, no wildcard",
			qname: "nope.signed.test.", qtype: dns.TypeA, do: true, aa: true, rcode: dns.RcodeNameError,
			ns: cat(soa, soaSig, mailNSEC, apexNSEC)},
		{name: "NXDOMAIN proved by one NSEC", rfc: "RFC 4035 §3.1.3.2: each NSEC once",
			qname: "a.signed.test.", qtype: dns.TypeA, do: true, aa: true, rcode: dns.RcodeNameError,
			ns: cat(soa, soaSig, apexNSEC)},
		{name: "NXDOMAIN below a name", rfc: "RFC 4035 §3.1.3.2: the closest encloser's wildcard",
			qname: "x.static.signed.test.", qtype: dns.TypeA, do: true, aa: true, rcode: dns.RcodeNameError,
			ns: cat(soa, soaSig, staticNSEC)},
		{name: "NXDOMAIN without DO", rfc: "RFC 2308 §2.1",
			qname: "nope.signed.test.", qtype: dns.TypeA, aa: true, rcode: dns.RcodeNameError, ns: []string{soa}},
		{name: "wildcard", rfc: "RFC 4035 §3.1.3.3: expanded, labels as signed, no closer match",
			qname: "foo.wild.signed.test.", qtype: dns.TypeTXT, do: true, aa: true,
			answer: []string{`foo.wild.signed.test. 3600 IN TXT "wildcard"`, "foo.wild.signed.test. 3600 IN RRSIG TXT 3"},
			ns:     edgeNSEC},
		{name: "wildcard NODATA", rfc: "RFC 4035 §3.1.3.4",
			qname: "foo.wild.signed.test.", qtype: dns.TypeA, do: true, aa: true,
			ns: cat(soa, soaSig, edgeNSEC, wildNSEC)},
		{name: "signed delegation", rfc: "RFC 4035 §3.1.4: DS and RRSIG, glue unsigned",
			qname: "www.sub.signed.test.", qtype: dns.TypeA, do: true,
			ns: []string{"sub.signed.test. 3600 IN NS ns.sub.signed.test.",
				"sub.signed.test. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
				"sub.signed.test. 3600 IN RRSIG DS 3"},
			extra: []string{"ns.sub.signed.test. 3600 IN A 192.0.2.99"}},
		{name: "insecure delegation", rfc: "RFC 4035 §3.1.4.1: the NSEC proves no DS",
			qname: "www.insecure.signed.test.", qtype: dns.TypeA, do: true,
			ns: cat("insecure.signed.test. 3600 IN NS ns.example.net.", insecureNSEC)},
		{name: "DS at the cut: the parent side", rfc: "RFC 4035 §3.1.4.1",
			qname: "sub.signed.test.", qtype: dns.TypeDS, do: true, aa: true,
			answer: []string{"sub.signed.test. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF",
				"sub.signed.test. 3600 IN RRSIG DS 3"}},
		{name: "no DS at an insecure cut", rfc: "RFC 4035 §3.1.4.1: NODATA from the parent",
			qname: "insecure.signed.test.", qtype: dns.TypeDS, do: true, aa: true,
			ns: cat(soa, soaSig, insecureNSEC)},
		{name: "steered", rfc: "issue 12: the signed set the policy answers",
			qname: "www.signed.test.", qtype: dns.TypeA, do: true, aa: true,
			answer: []string{"www.signed.test. 30 IN A 192.0.2.10", "www.signed.test. 30 IN RRSIG A 3"}},
		{name: "steered AAAA in the query's case", qname: "WWW.signed.test.", qtype: dns.TypeAAAA, do: true, aa: true,
			answer: []string{"WWW.signed.test. 30 IN AAAA 2001:db8:1::10", "WWW.signed.test. 30 IN RRSIG AAAA 3"}},
		{name: "steered for a client subnet", rfc: "RFC 7871 with RFC 4035",
			qname: "www.signed.test.", qtype: dns.TypeA, do: true, aa: true,
			modify: func(m *dns.Msg) {
				m.IsEdns0().Option = append(m.IsEdns0().Option, ecs(1, 24, "81.2.69.0"))
			},
			answer: []string{"www.signed.test. 30 IN A 198.51.100.10", "www.signed.test. 30 IN RRSIG A 3"}},
		{name: "steered ANY", rfc: "RFC 8482 §4.1: the addresses",
			qname: "www.signed.test.", qtype: dns.TypeANY, do: true, aa: true,
			answer: []string{"www.signed.test. 30 IN A 192.0.2.10", "www.signed.test. 30 IN RRSIG A 3"}},
		{name: "steered without DO", qname: "www.signed.test.", qtype: dns.TypeA, aa: true,
			answer: []string{"www.signed.test. 30 IN A 192.0.2.10"}},
		{name: "steered NODATA", rfc: "RFC 4035 §3.1.3.1: the bitmap has no AAAA",
			qname: "v4.signed.test.", qtype: dns.TypeAAAA, do: true, aa: true,
			ns: cat(soa, soaSig, v4NSEC)},
		{name: "steered static type", qname: "www.signed.test.", qtype: dns.TypeTXT, do: true, aa: true,
			answer: []string{`www.signed.test. 3600 IN TXT "steered"`, "www.signed.test. 3600 IN RRSIG TXT 3"}},
		{name: "steered wildcard", rfc: "RFC 4035 §3.1.3.3",
			qname: "x.dyn.signed.test.", qtype: dns.TypeA, do: true, aa: true,
			answer: []string{"x.dyn.signed.test. 30 IN A 192.0.2.10", "x.dyn.signed.test. 30 IN RRSIG A 3"},
			ns:     dynNSEC},
		{name: "too large for UDP: TC, no part of an RRset", rfc: "RFC 4035 §3.1.1: the RRSIG does not fit",
			net: "udp", qname: "big.signed.test.", qtype: dns.TypeTXT, size: 1232, do: true, aa: true, tc: true},
		{name: "too large for UDP, over TCP", rfc: "RFC 4035 §3.1.1",
			net: "tcp", qname: "big.signed.test.", qtype: dns.TypeTXT, size: 1232, do: true, aa: true,
			answer: append(bigTXT, "big.signed.test. 300 IN RRSIG TXT 3")},
	}
	runSignedCases(t, addr, f, cases)
}

func runSignedCases(t *testing.T, addr string, f *signedFixture, cases []signedCase) {
	t.Helper()
	for _, c := range cases {
		nets := []string{"udp", "tcp"}
		if c.net != "" {
			nets = []string{c.net}
		}
		for _, nw := range nets {
			t.Run(c.name+"/"+nw, func(t *testing.T) {
				t.Parallel()
				q := c.query()
				cl := &dns.Client{Net: nw, UDPSize: dns.MaxMsgSize}
				r, _, err := cl.Exchange(q, addr)
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != c.rcode || r.Authoritative != c.aa || r.Truncated != c.tc {
					t.Errorf("rcode %s AA %v TC %v, want %s %v %v", rcodeName(r.Rcode), r.Authoritative, r.Truncated, rcodeName(c.rcode), c.aa, c.tc)
				}
				checkBrief(t, "answer", r.Answer, c.answer)
				checkBrief(t, "authority", r.Ns, c.ns)
				checkBrief(t, "additional", r.Extra, c.extra)
				if o := r.IsEdns0(); c.noEDNS != (o == nil) || o != nil && o.Do() != c.do {
					t.Errorf("reply OPT %v; want DO %v", o, c.do)
				}
				if !r.Truncated && !c.unsigned {
					checkDNSSEC(t, f, q, r)
				}
				if t.Failed() {
					t.Logf("reply:\n%v", r)
				}
			})
		}
	}
}

// TestWholeRRsets: a truncated signed section keeps whole RRsets, each
// with its RRSIGs.
func TestWholeRRsets(t *testing.T) {
	rr := func(s string) dns.RR {
		r, err := dns.NewRR(s)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	all := []dns.RR{
		rr("a.test. 60 IN CNAME b.test."),
		rr("a.test. 60 IN RRSIG CNAME 13 2 60 20260315000000 20260228000000 1 test. AAAA"),
		rr("B.test. 60 IN A 192.0.2.1"),
		rr("b.test. 60 IN A 192.0.2.2"),
		rr("b.test. 60 IN RRSIG A 13 2 60 20260315000000 20260228000000 1 test. AAAA"),
	}
	for _, tc := range []struct{ kept, want int }{{5, 5}, {4, 2}, {3, 2}, {2, 2}, {1, 0}, {0, 0}} {
		if got := wholeRRsets(all[:tc.kept], all); len(got) != tc.want {
			t.Errorf("%d kept: %d after, want %d", tc.kept, len(got), tc.want)
		}
	}
}

// TestSteeredWithoutSignedSet: a steered answer whose addresses have no
// signed set (the release's signatures lag its pools) goes out unsigned,
// and is counted.
func TestSteeredWithoutSignedSet(t *testing.T) {
	f := newSignedFixture(t)
	// us-east's A, which the loopback client is steered to.
	sigs := f.withoutSet("www.signed.test.", dns.TypeA, "192.0.2.10")
	s, addr := serveSigned(t, f, sigs)
	runSignedCases(t, addr, f, []signedCase{
		{name: "unsigned", qname: "www.signed.test.", qtype: dns.TypeA, do: true, aa: true, net: "udp", unsigned: true,
			answer: []string{"www.signed.test. 30 IN A 192.0.2.10"}},
		{name: "others signed", qname: "www.signed.test.", qtype: dns.TypeAAAA, do: true, aa: true, net: "udp",
			answer: []string{"www.signed.test. 30 IN AAAA 2001:db8:1::10", "www.signed.test. 30 IN RRSIG AAAA 3"}},
	})
	t.Cleanup(func() {
		if got := testutil.ToFloat64(s.metrics.unsigned.WithLabelValues(signedOrigin)); got != 1 {
			t.Errorf("aya_dns_unsigned_answers_total %v, want 1", got)
		}
	})
}

// TestDSFromParent: with a signed zone and its child both served, the DS
// of the child is the parent's answer (RFC 4035 §3.1.4.1), signed; the
// rest of the child's names are the child's.
func TestDSFromParent(t *testing.T) {
	f := newSignedFixture(t)
	child := childZone(t)
	sz, err := f.zone.WithSignatures(f.sigs)
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.GSLB = GSLB{Pools: signedPools(), Geo: testGeo(t)}
	s, addr := testServer(t, cfg, signedZones)
	zs, err := NewZones(sz, child)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Publish(zs, cfg); err != nil {
		t.Fatal(err)
	}
	ds := "sub.signed.test. 3600 IN DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"
	runSignedCases(t, addr, f, []signedCase{
		{name: "DS from the parent", qname: "sub.signed.test.", qtype: dns.TypeDS, do: true, aa: true,
			answer: []string{ds, "sub.signed.test. 3600 IN RRSIG DS 3"}},
		{name: "DS from the parent without DO", qname: "sub.signed.test.", qtype: dns.TypeDS, aa: true, answer: []string{ds}},
		{name: "the child's names", qname: "www.sub.signed.test.", qtype: dns.TypeA, aa: true, unsigned: true,
			answer: []string{"www.sub.signed.test. 3600 IN A 192.0.2.98"}},
		{name: "the child's apex", qname: "sub.signed.test.", qtype: dns.TypeNS, aa: true, unsigned: true,
			answer: []string{"sub.signed.test. 3600 IN NS ns.sub.signed.test."}, extra: []string{"ns.sub.signed.test. 3600 IN A 192.0.2.99"}},
	})
}

// childZone is sub.signed.test, the child of signed.test's signed
// delegation, unsigned.
func childZone(tb testing.TB) *Zone {
	tb.Helper()
	z, err := ParseZone(strings.NewReader(`$ORIGIN sub.signed.test.
$TTL 3600
@   IN SOA ns hostmaster 1 7200 3600 1209600 300
@   IN NS  ns
ns  IN A   192.0.2.99
www IN A   192.0.2.98
`), "sub.signed.test.", "sub.signed.test.zone")
	if err != nil {
		tb.Fatal(err)
	}
	return z
}

// withoutSet is f's signatures less the signed sets of name and qtype
// whose first address is first: a release whose signatures lag its pools.
func (f *signedFixture) withoutSet(name string, qtype uint16, first string) *Signatures {
	sigs := *f.sigs
	sigs.Steered = slices.DeleteFunc(slices.Clone(sigs.Steered), func(ss SteeredSet) bool {
		return ss.Name == name && ss.Type == qtype && ss.Addrs[0].String() == first
	})
	return &sigs
}
