package dnsserver

import (
	"net/netip"
	"os"
	"path/filepath"
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
		{"nonexistent.GSLB.example.com.", dns.TypeA, true, "upper case in the apex (0x20): the reply of its depth"},
		{"x.gslb.EXAMPLE.com.", dns.TypeA, true, "upper case further up the apex"},
		{"X.GsLb.ExAmPlE.CoM.", dns.TypeAAAA, true, "no apex label in lower case"},
		{"x.y.apps.gslb.example.com.", dns.TypeA, true, "a wildcard synthesises it: the wildcard's A"},
		{"X.apps.GSLB.example.com.", dns.TypeTXT, true, "a wildcard's TXT, in any case"},
		{"x.apps.gslb.example.com.", dns.TypeMX, false, "NODATA below a wildcard: the SOA points into the question"},
		{"x.wild.test.", dns.TypeA, true, "a wildcard at the apex"},
		{"x.wild.test.", dns.TypeMX, false, "a wildcard's MX names another name"},
		{"*.apps.gslb.example.com.", dns.TypeA, true, "the wildcard itself, asked"},
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

// TestFastNameErrorSOACase: in a zone whose SOA names are not in lower
// case, miekg/dns may compress them into a question's labels in any case,
// so only queries whose apex is in lower case take the fast path; the
// replies are the general path's either way.
func TestFastNameErrorSOACase(t *testing.T) {
	dir := t.TempDir()
	zone := "$ORIGIN mixed.test.\n@ 300 IN SOA NS.Mixed.Test. Admin.mixed.test. 1 3600 600 86400 120\n@ 300 IN NS NS.Mixed.Test.\nns 300 IN A 192.0.2.1\n"
	if err := os.WriteFile(filepath.Join(dir, "mixed.test.zone"), []byte(zone), 0o644); err != nil {
		t.Fatal(err)
	}
	s, v := offline(t, testConfig(), dir)
	for _, c := range []struct {
		qname string
		fast  bool
	}{
		{"nope.mixed.test.", true},
		{"nope.Mixed.Test.", false},
		{"nope.mixed.TEST.", false},
	} {
		req := packQuery(t, c.qname, dns.TypeA, nil)
		if _, ok := s.fastAnswer(v, req, udp, netip.Addr{}, nil, &qstate{now: testNow}); ok != c.fast {
			t.Errorf("%s: fast path %v, want %v", c.qname, ok, c.fast)
		}
		compareFastGeneral(t, s, v, []string{c.qname}, comparedTypes, queryVariants)
	}
}

func TestFoldDepth(t *testing.T) {
	for _, c := range []struct {
		q, l string
		want int
	}{
		{"gslb.example.com.", "gslb.example.com.", 3},
		{"GSLB.example.com.", "gslb.example.com.", 2},
		{"gslb.EXAMPLE.com.", "gslb.example.com.", 1},
		{"gslb.example.COM.", "gslb.example.com.", 0},
		{"GSLB.EXAMPLE.COM.", "gslb.example.com.", 0},
		{"123.example.com.", "123.example.com.", 3},
		{".", ".", 0},
	} {
		q, l := make([]byte, 256), make([]byte, 256)
		nq, err := dns.PackDomainName(c.q, q, 0, nil, false)
		if err != nil {
			t.Fatal(err)
		}
		nl, _ := dns.PackDomainName(c.l, l, 0, nil, false)
		if got := foldDepth(q[:nq], l[:nl]); got != c.want {
			t.Errorf("foldDepth(%s, %s) = %d, want %d", c.q, c.l, got, c.want)
		}
	}
}

// TestFastNonCanonicalNames: a name written so that miekg/dns unpacks its
// wire form to another text (an escape of a plain letter, raw octets past
// ASCII, an escaped origin) is kept in that wire spelling (canonicalName),
// so the fast path, whose index is keyed by wire form, and the general
// path, by text, find the same names: each reply is the general path's.
func TestFastNonCanonicalNames(t *testing.T) {
	for _, c := range []struct {
		file, zone string
		queries    []string
	}{
		{"esc.test.zone", "$ORIGIN esc.test.\n@ 300 IN SOA ns.esc.test. h.esc.test. 1 3600 600 86400 120\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\n*.wild 300 IN A 192.0.2.6\na\\098c.wild 300 IN A 192.0.2.7\nabc 300 IN TXT x\n",
			[]string{"q.abc.wild.esc.test.", "abc.wild.esc.test.", "abc.esc.test.", "x.abc.esc.test."}},
		{"a\\098c.test.zone", "$ORIGIN a\\098c.test.\n@ 300 IN SOA ns h 1 3600 600 86400 120\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\n",
			[]string{"x.abc.test.", "abc.test.", "ns.abc.test."}},
		{"u.test.zone", "$ORIGIN u.test.\n@ 300 IN SOA ns h 1 3600 600 86400 120\n@ 300 IN NS ns\nns 300 IN A 192.0.2.1\n* 300 IN A 192.0.2.8\n\xc3\x89 300 IN A 192.0.2.9\n",
			[]string{"x.\\195\\137.u.test.", "\\195\\137.u.test.", "x.u.test."}},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, c.file), []byte(c.zone), 0o644); err != nil {
			t.Fatal(err)
		}
		s, v := offline(t, testConfig(), dir)
		compareFastGeneral(t, s, v, c.queries, comparedTypes, queryVariants)
	}
}
