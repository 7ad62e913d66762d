package dnsserver

import (
	"bytes"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
)

// caseVariants returns name as it is (lower case in the zones), in upper
// case, and in alternating case.
func caseVariants(name string) []string {
	alt := []byte(name)
	for i := range alt {
		if i%2 == 0 {
			alt[i] = strings.ToUpper(string(alt[i]))[0]
		}
	}
	return []string{name, strings.ToUpper(name), string(alt)}
}

// queryVariants are the ways a query is sent in TestFastMatchesSlow: header
// bits and EDNS(0) options the fast path copies or ignores.
var queryVariants = []queryVariant{
	{"plain", func(*dns.Msg) {}},
	{"no rd", func(m *dns.Msg) { m.RecursionDesired = false }},
	{"cd", func(m *dns.Msg) { m.CheckingDisabled = true }},
	{"edns", edns(1232, false)},
	{"edns do", edns(1232, true)},
	{"edns 512", edns(512, false)},
	{"edns 100", edns(100, true)},
	{"edns 4096", edns(4096, false)},
	{"edns cookie", ednsWith(&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})},
	{"edns padding", ednsWith(&dns.EDNS0_PADDING{Padding: make([]byte, 16)})},
	{"edns keepalive", ednsWith(&dns.EDNS0_TCP_KEEPALIVE{Code: dns.EDNS0TCPKEEPALIVE})},
	{"edns nsid", ednsWith(&dns.EDNS0_NSID{Code: dns.EDNS0NSID})},
	{"edns ecs v4", ednsWith(ecs(1, 24, "192.0.2.0"))},
	{"edns ecs v6 do", func(m *dns.Msg) {
		ednsWith(ecs(2, 56, "2001:db8:1:200::"))(m)
		m.IsEdns0().SetDo()
	}},
	{"edns ecs /0", ednsWith(ecs(1, 0, "0.0.0.0"))},
	{"edns ecs scope set", ednsWith(ecsRaw(1, 24, 16, 198, 51, 100))},
	{"edns ecs bits past source", ednsWith(ecsRaw(1, 20, 0, 203, 0, 127))},
	{"edns ecs long address", ednsWith(ecsRaw(1, 8, 0, 10, 0, 0, 0))},
	{"edns ecs cookie", ednsWith(ecs(1, 20, "203.0.112.0"), &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"})},
}

var comparedTypes = []uint16{
	dns.TypeA, dns.TypeAAAA, dns.TypeNS, dns.TypeSOA, dns.TypeMX, dns.TypeTXT, dns.TypeCNAME,
	dns.TypeSRV, dns.TypeCAA, dns.TypeDS, dns.TypePTR, dns.TypeHTTPS, dns.TypeANY, dns.TypeNone,
	dns.TypeAXFR, dns.TypeIXFR, dns.TypeMAILA, 65280, // a private-use type
}

// TestFastMatchesSlow checks that the precomputed fast path gives the same
// bytes as the general path, the reference, for every name of the test
// zones (and names just below them), a set of QTYPEs, the case of the name,
// header bits and EDNS variants, over both transports; except where the fast
// path declines.
func TestFastMatchesSlow(t *testing.T) {
	s, v := offline(t, testConfig(), testZones)
	var names []string
	for _, z := range v.zones.List() {
		for name := range z.nodes {
			names = append(names, name, "below."+name)
		}
	}
	fast, _, declined := compareFastGeneral(t, s, v, names, comparedTypes, queryVariants)
	t.Logf("%d replies compared, %d queries declined by the fast path", fast, declined)
	if fast < 1000 {
		t.Errorf("only %d fast replies compared", fast)
	}
	// Static answers and NXDOMAIN to a query with ECS, as the public
	// resolvers send it, are the fast path's as often as without (scope 0
	// in the reply); a malformed option (a scope set in the query, address
	// bits past the source prefix or octets beyond it: RFC 7871 §6) is the
	// general path's, which answers FORMERR.
	types := []uint16{dns.TypeA, dns.TypeTXT, dns.TypeMX}
	var plainEDNS []queryVariant
	for _, qv := range queryVariants {
		if qv.name == "edns" {
			plainEDNS = append(plainEDNS, qv)
		}
	}
	plain, _, _ := compareFastGeneral(t, s, v, names, types, plainEDNS)
	for _, qv := range queryVariants {
		if !strings.HasPrefix(qv.name, "edns ecs") {
			continue
		}
		want := plain
		switch qv.name {
		case "edns ecs scope set", "edns ecs bits past source", "edns ecs long address":
			want = 0 // malformed (RFC 7871 §6): FORMERR
		}
		if got, _, _ := compareFastGeneral(t, s, v, names, types, []queryVariant{qv}); got != want {
			t.Errorf("%s: %d fast replies, want %d as without ECS", qv.name, got, want)
		}
	}
}

// queryVariant is a way a query is sent: a name and a change to the query.
type queryVariant = struct {
	name   string
	modify func(*dns.Msg)
}

// compareFastGeneral sends every name (in each of its caseVariants), type
// and variant to both paths over both transports, and fails the test
// where the fast path answers other bytes than the general path. It
// returns how many replies the fast path gave (with the DO bit among
// them) and how many queries it declined.
func compareFastGeneral(t *testing.T, s *Server, v *view, names []string, types []uint16, variants []queryVariant) (fast, fastDO, declined int) {
	t.Helper()
	src := netip.MustParseAddr("127.0.0.1")
	for _, name := range names {
		for _, qname := range caseVariants(name) {
			for _, qtype := range types {
				for _, qv := range variants {
					m := new(dns.Msg)
					m.SetQuestion(qname, qtype)
					m.Id = 0xbeef
					qv.modify(m)
					req, err := m.Pack()
					if err != nil {
						t.Fatal(err)
					}
					for tr := range numTransports {
						fq := qstate{now: testNow}
						got, ok := s.fastAnswer(v, req, tr, src, nil, &fq)
						if !ok {
							declined++
							continue
						}
						fast++
						if o := m.IsEdns0(); o != nil && o.Do() {
							fastDO++
						}
						gq := qstate{now: testNow}
						want, _ := s.generalAnswer(v, req, tr, src, nil, nil, &gq)
						if !bytes.Equal(got, want) {
							t.Errorf("%s %s %s over %s: fast and general paths differ\nfast:    %x\ngeneral: %x\nfast:\n%v\ngeneral:\n%v",
								qname, dns.TypeToString[qtype], qv.name, tr, got, want, unpack(got), unpack(want))
						}
						// Rate limiting sees the same reply: its kind and the
						// name it is counted under (rrl.go).
						if fq.kind != gq.kind || !bytes.Equal(fq.key.bytes(), gq.key.bytes()) {
							t.Errorf("%s %s %s over %s: the fast path classes the reply %v under %q, the general path %v under %q",
								qname, dns.TypeToString[qtype], qv.name, tr, fq.kind, fq.key.bytes(), gq.kind, gq.key.bytes())
						}
					}
				}
			}
		}
	}
	return fast, fastDO, declined
}

func unpack(b []byte) string {
	m := new(dns.Msg)
	if err := m.Unpack(b); err != nil {
		return "unpack: " + err.Error()
	}
	return m.String()
}

// TestFastPathMixedCase pins which mixed-case queries the fast path takes:
// those whose reply names nothing but the owner (A and AAAA of a name, the
// hot path for resolvers that randomise case), and not the others.
func TestFastPathMixedCase(t *testing.T) {
	s, v := offline(t, testConfig(), testZones)
	for _, c := range []struct {
		qname string
		qtype uint16
		fast  bool
	}{
		{"WwW.GsLb.ExAmPlE.CoM.", dns.TypeA, true},
		{"WWW.GSLB.EXAMPLE.COM.", dns.TypeAAAA, true},
		{"www.gslb.example.com.", dns.TypeTXT, true}, // NODATA, lower case
		{"WWW.gslb.example.com.", dns.TypeTXT, false},
		{"GSLB.example.com.", dns.TypeNS, false},
		{"Alias.gslb.example.com.", dns.TypeA, false},
	} {
		req := packQuery(t, c.qname, c.qtype, nil)
		if _, ok := s.fastAnswer(v, req, udp, netip.Addr{}, nil, &qstate{now: testNow}); ok != c.fast {
			t.Errorf("%s %s: fast path %v, want %v", c.qname, dns.TypeToString[c.qtype], ok, c.fast)
		}
	}
}

func packQuery(tb testing.TB, qname string, qtype uint16, modify func(*dns.Msg)) []byte {
	tb.Helper()
	m := new(dns.Msg)
	m.SetQuestion(qname, qtype)
	m.Id = 0xbeef
	if modify != nil {
		modify(m)
	}
	req, err := m.Pack()
	if err != nil {
		tb.Fatal(err)
	}
	return req
}

// answerCases are the queries of BenchmarkAnswer and TestFastPathAllocs.
var answerCases = []struct {
	name   string
	qname  string
	qtype  uint16
	modify func(*dns.Msg)
	fast   bool
}{
	{"fast/www A", "www.gslb.example.com.", dns.TypeA, nil, true},
	{"fast/www A edns", "www.gslb.example.com.", dns.TypeA, edns(1232, true), true},
	{"fast/www A mixed case", "WwW.GsLb.ExAmPlE.CoM.", dns.TypeA, edns(1232, false), true},
	{"fast/nodata", "www.gslb.example.com.", dns.TypeTXT, edns(1232, false), true},
	{"fast/nxdomain", "nope.gslb.example.com.", dns.TypeA, edns(1232, false), true},
	{"fast/nxdomain TXT", "nope.gslb.example.com.", dns.TypeTXT, edns(1232, false), true},
	{"fast/nxdomain random case", "x7Fq2.a9.GSLB.example.com.", dns.TypeAAAA, edns(1232, false), true},
	{"fast/nxdomain deep", "x7fq2.a9.www.gslb.example.com.", dns.TypeAAAA, edns(1232, false), true},
	{"general/_why not allowed", "_why.www.gslb.example.com.", dns.TypeTXT, edns(1232, false), false},
	{"fast/wildcard", "x.apps.gslb.example.com.", dns.TypeA, edns(1232, false), true},
	{"fast/static ecs", "gslb.example.com.", dns.TypeSOA, ednsWith(ecs(1, 24, "198.51.100.0")), true},
	{"fast/nxdomain ecs", "x7fq2.gslb.example.com.", dns.TypeA, ednsWith(ecs(1, 24, "198.51.100.0")), true},
	{"general/referral", "www.child.gslb.example.com.", dns.TypeA, edns(1232, false), false},
}

// BenchmarkAnswer measures the query path from request bytes to reply
// bytes (s.handle), on the fast path and the general path:
//
//	go test -run=^$ -bench=BenchmarkAnswer -benchmem ./dnsserver/
func BenchmarkAnswer(b *testing.B) {
	s, v := offline(b, testConfig(), testZones)
	src := netip.MustParseAddr("192.0.2.1")
	for _, c := range answerCases {
		b.Run(c.name, func(b *testing.B) {
			req := packQuery(b, c.qname, c.qtype, c.modify)
			buf := make([]byte, 0, 4096)
			b.ReportAllocs()
			for b.Loop() {
				out, _ := s.handle(v, req, udp, src, buf[:0])
				if len(out) == 0 {
					b.Fatal("no reply")
				}
			}
		})
	}
}

// TestFastPathAllocs checks that a fast path answer allocates nothing.
func TestFastPathAllocs(t *testing.T) {
	s, v := offline(t, testConfig(), testZones)
	src := netip.MustParseAddr("192.0.2.1")
	for _, c := range answerCases {
		if !c.fast {
			continue
		}
		req := packQuery(t, c.qname, c.qtype, c.modify)
		buf := make([]byte, 0, 4096)
		if _, ok := s.fastAnswer(v, req, udp, netip.Addr{}, buf, &qstate{now: testNow}); !ok {
			t.Fatalf("%s: not on the fast path", c.name)
		}
		allocs := testing.AllocsPerRun(100, func() { s.handle(v, req, udp, src, buf[:0]) })
		if allocs != 0 {
			t.Errorf("%s: %v allocations per answer, want 0", c.name, allocs)
		}
	}
}

// TestLyingCounts holds both paths to FORMERR for the queries of
// lyingCases: the fast path declines them (parsePlainQuery checks the
// counts and the length), and the general path answers FORMERR with the
// question copied, for both transports.
func TestLyingCounts(t *testing.T) {
	s, v := offline(t, testConfig(), testZones)
	src := netip.MustParseAddr("192.0.2.1")
	for _, c := range lyingCases {
		t.Run(c.name, func(t *testing.T) {
			req := c.wire(packQuery(t, c.qname, dns.TypeA, c.modify))
			if sectionsExact(req) {
				t.Fatalf("sectionsExact(%x) = true", req)
			}
			var key queryKey
			if _, ok := parsePlainQuery(req, &key); ok {
				t.Errorf("the fast path takes %x", req)
			}
			for tr := range numTransports {
				reply, _ := s.handle(v, req, tr, src, nil)
				r := new(dns.Msg)
				if err := r.Unpack(reply); err != nil {
					t.Fatalf("over %s: reply does not unpack: %v", tr, err)
				}
				if r.Rcode != dns.RcodeFormatError || r.Id != 0xbeef || !r.Response {
					t.Errorf("over %s: id %#x rcode %s QR %v, want id 0xbeef FORMERR QR", tr, r.Id, rcodeName(r.Rcode), r.Response)
				}
				if len(r.Question) != 1 || r.Question[0].Name != c.qname || r.Question[0].Qtype != dns.TypeA {
					t.Errorf("over %s: question %v, want %s A copied", tr, r.Question, c.qname)
				}
			}
			// Without the lie, the same query is answered.
			good := packQuery(t, c.qname, dns.TypeA, c.modify)
			if !sectionsExact(good) {
				t.Errorf("sectionsExact(%x) = false for the query as packed", good)
			}
		})
	}
}

// TestFastFill: the replies of a name are packed by its first query, once
// when many ask at once, and only for as many names as a view may pack;
// past that, queries take the general path and get the same reply.
func TestFastFill(t *testing.T) {
	s, v := offline(t, testConfig(), testZones)
	src := netip.MustParseAddr("127.0.0.1")
	names := []string{"static.gslb.example.com.", "gslb.example.com.", "ns1.gslb.example.com."}
	req := packQuery(t, names[0], dns.TypeA, nil)
	want, _ := s.generalAnswer(v, req, udp, src, nil, nil, &qstate{now: testNow})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				got, ok := s.fastAnswer(v, req, udp, src, nil, &qstate{now: testNow})
				if !ok || !bytes.Equal(got, want) {
					t.Errorf("fast %v: %x, want %x", ok, got, want)
					return
				}
			}
		})
	}
	wg.Wait()
	if n := v.fast.filled.Load(); n != 1 {
		t.Errorf("%d names packed, want 1", n)
	}
	v.fast.max = 2
	for i, name := range names {
		req := packQuery(t, name, dns.TypeNS, nil)
		got, ok := s.fastAnswer(v, req, udp, src, nil, &qstate{now: testNow})
		if wantFast := i < 2; ok != wantFast {
			t.Errorf("%s: fast path %v, want %v", name, ok, wantFast)
		}
		if ok {
			if want, _ := s.generalAnswer(v, req, udp, src, nil, nil, &qstate{now: testNow}); !bytes.Equal(got, want) {
				t.Errorf("%s: fast and general paths differ", name)
			}
		}
		if r, _ := s.handle(v, req, udp, src, nil); len(r) == 0 {
			t.Errorf("%s: no answer", name)
		}
	}
	if n := v.fast.filled.Load(); n != 2 {
		t.Errorf("%d names packed, want 2", n)
	}
}

// FuzzFastMatchesGeneral sends arbitrary packets to the test zones: where
// the fast path answers (names that exist, names that do not: fastnx.go),
// its reply is the general path's, byte for byte, and rate limiting
// classes it alike.
//
//	go test -run=^$ -fuzz=FuzzFastMatchesGeneral -fuzztime=3m ./dnsserver/
func FuzzFastMatchesGeneral(f *testing.F) {
	s, v := offline(f, testConfig(), testZones)
	src := netip.MustParseAddr("127.0.0.1")
	for _, name := range []string{"www.gslb.example.com.", "nonexistent.gslb.example.com.", "a.b.c.gslb.example.com.",
		"x.www.gslb.example.com.", "x.dc1.gslb.example.com.", "x.y.apps.gslb.example.com.", "x.child.gslb.example.com.",
		"x.hostmaster.gslb.example.com.", "NoNe.gslb.example.com.", "x.GSLB.Example.com.", "x.ent.wild.test.", "nowhere.cname.test.",
		"x.other.test.", "x.wild.test.", "A.B.wild.test.", "x.*.wild.test.", "*.wild.test.", "_why.x.wild.test."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeTXT, dns.TypeMX} {
			f.Add(packQuery(f, name, qt, nil))
			f.Add(packQuery(f, name, qt, edns(1232, true)))
			f.Add(packQuery(f, name, qt, edns(512, false)))
		}
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		for tr := range numTransports {
			fq := qstate{now: testNow}
			got, ok := s.fastAnswer(v, req, tr, src, nil, &fq)
			if !ok {
				continue
			}
			gq := qstate{now: testNow}
			want, _ := s.generalAnswer(v, req, tr, src, nil, nil, &gq)
			if !bytes.Equal(got, want) {
				t.Fatalf("fast and general paths differ over %s\nfast:\n%v\ngeneral:\n%v", tr, unpack(got), unpack(want))
			}
			if fq.kind != gq.kind || !bytes.Equal(fq.key.bytes(), gq.key.bytes()) {
				t.Fatalf("over %s the fast path classes the reply %v under %q, the general path %v under %q",
					tr, fq.kind, fq.key.bytes(), gq.kind, gq.key.bytes())
			}
		}
	})
}
