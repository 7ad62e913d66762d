package dnsserver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// TestFastNameError pins which names that do not exist the fast path
// answers NXDOMAIN (fastnx.go) and which it leaves to the general path,
// and holds the replies it gives to the general path's, byte for byte
// (compareFastGeneral, every QTYPE, case and EDNS variant).
func TestFastNameError(t *testing.T) {
	s, v := offline(t, testConfig(), testZones)
	for _, c := range []struct {
		qname string
		qtype uint16
		fast  bool
		why   string
	}{
		{"nonexistent.gslb.example.com.", dns.TypeA, true, "below the apex"},
		{"a.b.c.gslb.example.com.", dns.TypeAAAA, true, "three labels below the apex"},
		{"x.www.gslb.example.com.", dns.TypeA, true, "below a name with records"},
		{"x.dc1.gslb.example.com.", dns.TypeA, true, "below an empty non-terminal"},
		{"x.alias.gslb.example.com.", dns.TypeA, true, "below a CNAME"},
		{"x.host.ent.wild.test.", dns.TypeA, true, "below a name of a zone with a wildcard at its apex"},
		{"x.ent.wild.test.", dns.TypeMX, true, "below an empty non-terminal beside a wildcard"},
		{"nowhere.cname.test.", dns.TypeA, true, "another zone"},
		{"x.other.test.", dns.TypeTXT, true, "a zone whose SOA names are its own"},
		{"NoneXistent.gslb.example.com.", dns.TypeA, true, "upper case before the apex"},
		{"nonexistent.GSLB.example.com.", dns.TypeA, false, "upper case in the apex"},
		{"x.y.apps.gslb.example.com.", dns.TypeA, false, "a wildcard synthesises it"},
		{"x.wild.test.", dns.TypeA, false, "a wildcard at the apex"},
		{"x.child.gslb.example.com.", dns.TypeA, false, "a referral"},
		{"x.ns1.child.gslb.example.com.", dns.TypeA, false, "below glue"},
		{"hostmaster.gslb.example.com.", dns.TypeA, false, "the RNAME: miekg/dns points at the question"},
		{"x.hostmaster.gslb.example.com.", dns.TypeA, false, "below the RNAME"},
		{"x.ns1.gslb.example.com.", dns.TypeA, false, "below the MNAME"},
		{"admin.other.test.", dns.TypeA, false, "another zone's RNAME"},
		{"_why.nonexistent.gslb.example.com.", dns.TypeTXT, false, "asks why"},
		{"nope.example.org.", dns.TypeA, false, "no zone: REFUSED"},
		{".", dns.TypeA, false, "the root"},
	} {
		req := packQuery(t, c.qname, c.qtype, edns(1232, false))
		if _, ok := s.fastAnswer(v, req, udp, netip.Addr{}, nil, &qstate{now: testNow}); ok != c.fast {
			t.Errorf("%s %s (%s): fast path %v, want %v", c.qname, dns.TypeToString[c.qtype], c.why, ok, c.fast)
		}
		compareFastGeneral(t, s, v, []string{c.qname}, comparedTypes, queryVariants)
	}
}

// TestFastNameErrorSigned: in a signed zone, a DO query for a name that
// does not exist needs the denial of existence (NSEC), which the general
// path adds; without DO the fast path answers, as the general path does
// (TestFastMatchesSlowSigned compares the bytes).
func TestFastNameErrorSigned(t *testing.T) {
	s, v := offlineSigned(t, newSignedFixture(t), true)
	for _, do := range []bool{false, true} {
		req := packQuery(t, "nonexistent.signed.test.", dns.TypeA, edns(1232, do))
		if _, ok := s.fastAnswer(v, req, udp, netip.Addr{}, nil, &qstate{now: testNow}); ok == do {
			t.Errorf("DO %v: fast path %v, want %v", do, ok, !do)
		}
	}
}
