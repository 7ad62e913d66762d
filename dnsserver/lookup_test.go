package dnsserver

import (
	"testing"

	"github.com/miekg/dns"
)

// Records of testdata/zones the tables below expect, as miekg/dns prints them.
const (
	// Negative answers carry the SOA with TTL min(SOA TTL, MINIMUM): 300 here,
	soaGSLB = "gslb.example.com. 300 IN SOA ns1.gslb.example.com. hostmaster.gslb.example.com. 2026112401 7200 3600 1209600 300"
	// 120 in other.test (TTL 600, MINIMUM 120),
	soaOther = "other.test. 120 IN SOA ns.other.test. admin.other.test. 7 3600 600 86400 120"
	// 30 in big.test (TTL 30, MINIMUM 60),
	soaBig = "big.test. 30 IN SOA ns1.gslb.example.com. hostmaster.big.test. 1 3600 600 86400 60"
	// 60 in cname.test and wild.test (TTL 300, MINIMUM 60).
	soaCNAME = "cname.test. 60 IN SOA ns1.gslb.example.com. hostmaster.cname.test. 1 3600 600 86400 60"
	soaWild  = "wild.test. 60 IN SOA ns1.gslb.example.com. hostmaster.wild.test. 1 3600 600 86400 60"

	wwwA    = "www.gslb.example.com. 30 IN A 192.0.2.10"
	wwwAAAA = "www.gslb.example.com. 30 IN AAAA 2001:db8::10"
)

var (
	// apexGlue is the additional section of answers that name ns1 and ns2.
	apexGlue = []string{
		"ns1.gslb.example.com. 3600 IN A 192.0.2.53",
		"ns1.gslb.example.com. 3600 IN AAAA 2001:db8::53",
		"ns2.gslb.example.com. 3600 IN A 198.51.100.53",
		"ns2.gslb.example.com. 3600 IN AAAA 2001:db8:1::53",
	}
	apexNS = []string{
		"gslb.example.com. 3600 IN NS ns1.gslb.example.com.",
		"gslb.example.com. 3600 IN NS ns2.gslb.example.com.",
	}
	childNS = []string{
		"child.gslb.example.com. 3600 IN NS ns1.child.gslb.example.com.",
		"child.gslb.example.com. 3600 IN NS ns2.child.gslb.example.com.",
	}
	childGlue = []string{
		"ns1.child.gslb.example.com. 3600 IN A 192.0.2.101",
		"ns2.child.gslb.example.com. 3600 IN A 192.0.2.102",
		"ns2.child.gslb.example.com. 3600 IN AAAA 2001:db8::102",
	}
	mailAddrs = []string{
		"mail.gslb.example.com. 3600 IN A 192.0.2.25",
		"mail.gslb.example.com. 3600 IN AAAA 2001:db8::25",
	}
	aliasChain = []string{
		"alias.gslb.example.com. 3600 IN CNAME api.gslb.example.com.",
		"api.gslb.example.com. 3600 IN CNAME www.gslb.example.com.",
	}
)

// TestAnswers runs the authoritative answering rules on a real server over
// UDP and TCP: one row per rule, the reply pinned section by section.
func TestAnswers(t *testing.T) {
	_, addr := testServer(t, testConfig(), testZones)
	noRD := func(m *dns.Msg) { m.RecursionDesired = false }
	runCases(t, addr, []dnsCase{
		// Authoritative data, minimal responses.
		{name: "a record", rfc: "RFC 1035 §4.1.1 AA; RFC 1034 §4.3.2: no NS in authority of a positive answer",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			aa: true, answer: []string{wwwA}},
		{name: "aaaa record", rfc: "RFC 1035 §4.1.1",
			qname: "www.gslb.example.com.", qtype: dns.TypeAAAA,
			aa: true, answer: []string{wwwAAAA}},
		{name: "a record with edns", rfc: "RFC 6891 §6.1.1: OPT in the reply, our UDP size",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: edns(4096, false),
			aa: true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232}},
		{name: "apex soa", rfc: "RFC 1035 §4.1.1",
			qname: "gslb.example.com.", qtype: dns.TypeSOA,
			aa: true, answer: []string{"gslb.example.com. 3600 IN SOA ns1.gslb.example.com. hostmaster.gslb.example.com. 2026112401 7200 3600 1209600 300"}},
		{name: "apex ns with glue", rfc: "RFC 1034 §4.3.2 step 6: addresses of the NS in additional",
			qname: "gslb.example.com.", qtype: dns.TypeNS,
			aa: true, answer: apexNS, extra: apexGlue},
		{name: "mx with addresses", rfc: "RFC 1035 §3.3.9: MX additional section processing",
			qname: "gslb.example.com.", qtype: dns.TypeMX,
			aa: true, answer: []string{"gslb.example.com. 3600 IN MX 10 mail.gslb.example.com."}, extra: mailAddrs},
		{name: "srv with addresses", rfc: "RFC 2782: SRV target addresses in additional",
			qname: "_sip._udp.gslb.example.com.", qtype: dns.TypeSRV,
			aa: true, answer: []string{"_sip._udp.gslb.example.com. 3600 IN SRV 10 60 5060 mail.gslb.example.com."}, extra: mailAddrs},
		{name: "rd clear echoed", rfc: "RFC 1035 §4.1.1: RD copied into the response",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: noRD,
			aa: true, answer: []string{wwwA}},

		// Negative answers (RFC 2308): SOA in authority, TTL min(SOA TTL, MINIMUM).
		{name: "nxdomain", rfc: "RFC 2308 §2.1, §3",
			qname: "nope.gslb.example.com.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaGSLB}},
		{name: "nxdomain with edns", rfc: "RFC 2308 §2.1; RFC 6891 §7",
			qname: "nope.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, false),
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaGSLB}, opt: &wantOPT{udpSize: 1232}},
		{name: "nxdomain below an existing name", rfc: "RFC 1034 §4.3.2 step 3c",
			qname: "deep.www.gslb.example.com.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaGSLB}},
		{name: "nodata", rfc: "RFC 2308 §2.2",
			qname: "www.gslb.example.com.", qtype: dns.TypeTXT,
			aa: true, ns: []string{soaGSLB}},
		{name: "nodata soa ttl from minimum", rfc: "RFC 2308 §3: MINIMUM 120 below SOA TTL 600",
			qname: "target.other.test.", qtype: dns.TypeTXT,
			aa: true, ns: []string{soaOther}},
		{name: "nxdomain soa ttl from soa", rfc: "RFC 2308 §3: SOA TTL 30 below MINIMUM 60",
			qname: "nope.big.test.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaBig}},
		{name: "nodata at an empty non-terminal", rfc: "RFC 4592 §2.2.2: an empty non-terminal exists",
			qname: "dc1.gslb.example.com.", qtype: dns.TypeA,
			aa: true, ns: []string{soaGSLB}},

		// Outside our zones: REFUSED, no AA, no recursion whatever RD says.
		{name: "refused outside our zones", rfc: "RFC 1035 §4.1.1 REFUSED; RFC 1034 §4.3.1: RA clear",
			qname: "example.org.", qtype: dns.TypeA,
			rcode: dns.RcodeRefused},
		{name: "refused for the parent of a zone", rfc: "RFC 1034 §4.3.2 step 2",
			qname: "example.com.", qtype: dns.TypeNS,
			rcode: dns.RcodeRefused},
		{name: "refused for the root", rfc: "RFC 1034 §4.3.2 step 2",
			qname: ".", qtype: dns.TypeNS,
			rcode: dns.RcodeRefused},
		{name: "refused with rd clear", rfc: "RFC 1035 §4.1.1",
			qname: "example.org.", qtype: dns.TypeA, modify: noRD,
			rcode: dns.RcodeRefused},
		{name: "refused with edns", rfc: "RFC 6891 §7: OPT in every reply to an EDNS query",
			qname: "example.org.", qtype: dns.TypeA, modify: edns(1232, true),
			rcode: dns.RcodeRefused, opt: &wantOPT{udpSize: 1232, do: true}},
		{name: "refused for class chaos", rfc: "RFC 1035 §3.2.4: only class IN is served",
			qname: "version.bind.", qtype: dns.TypeTXT, modify: func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS },
			rcode: dns.RcodeRefused},

		// Delegation to child.gslb.example.com: a referral, not an answer.
		{name: "referral at the cut", rfc: "RFC 1034 §4.3.2 step 3b: NS in authority, glue in additional, no AA",
			qname: "child.gslb.example.com.", qtype: dns.TypeNS,
			ns: childNS, extra: childGlue},
		{name: "referral below the cut", rfc: "RFC 1034 §4.3.2 step 3b",
			qname: "www.child.gslb.example.com.", qtype: dns.TypeA,
			ns: childNS, extra: childGlue},
		{name: "referral deep below the cut", rfc: "RFC 1034 §4.3.2 step 3b",
			qname: "a.b.child.gslb.example.com.", qtype: dns.TypeTXT,
			ns: childNS, extra: childGlue},
		{name: "referral for glue owner", rfc: "RFC 1034 §4.2.1: glue is not authoritative data",
			qname: "ns1.child.gslb.example.com.", qtype: dns.TypeA,
			ns: childNS, extra: childGlue},
		{name: "referral with edns", rfc: "RFC 1034 §4.3.2 step 3b; RFC 6891 §7",
			qname: "www.child.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, false),
			ns: childNS, extra: childGlue, opt: &wantOPT{udpSize: 1232}},
		{name: "ds at the cut from the parent", rfc: "RFC 4035 §3.1.4.1: the parent answers DS at the cut",
			qname: "child.gslb.example.com.", qtype: dns.TypeDS,
			aa: true, ns: []string{soaGSLB}},
		{name: "ds below the cut is referred", rfc: "RFC 4035 §3.1.4.1",
			qname: "www.child.gslb.example.com.", qtype: dns.TypeDS,
			ns: childNS, extra: childGlue},

		// CNAME (RFC 1034 §3.6.2, §4.3.2 step 3a; RFC 6604).
		{name: "cname chain", rfc: "RFC 1034 §4.3.2 step 3a: the chain, then the answer",
			qname: "alias.gslb.example.com.", qtype: dns.TypeA,
			aa: true, answer: append(aliasChain, wwwA)},
		{name: "cname chain aaaa", rfc: "RFC 1034 §4.3.2 step 3a",
			qname: "alias.gslb.example.com.", qtype: dns.TypeAAAA,
			aa: true, answer: append(aliasChain, wwwAAAA)},
		{name: "cname chain with edns", rfc: "RFC 1034 §4.3.2 step 3a",
			qname: "alias.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, true),
			aa: true, answer: append(aliasChain, wwwA), opt: &wantOPT{udpSize: 1232, do: true}},
		{name: "cname query returns the cname only", rfc: "RFC 1034 §3.6.2",
			qname: "alias.gslb.example.com.", qtype: dns.TypeCNAME,
			aa: true, answer: aliasChain[:1]},
		{name: "cname then nodata", rfc: "RFC 2308 §2.2: NODATA at the end of a chain",
			qname: "api.gslb.example.com.", qtype: dns.TypeTXT,
			aa: true, answer: aliasChain[1:], ns: []string{soaGSLB}},
		{name: "cname into the other zone", rfc: "RFC 1034 §4.3.2 step 3a: restart in the zone of the target",
			qname: "cross.gslb.example.com.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"cross.gslb.example.com. 3600 IN CNAME target.other.test.",
				"target.other.test. 600 IN A 203.0.113.7",
			}},
		{name: "cname to a missing name", rfc: "RFC 6604 §2.1: NXDOMAIN for the last name, CNAME in the answer",
			qname: "dangling.cname.test.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true,
			answer: []string{"dangling.cname.test. 300 IN CNAME nowhere.cname.test."}, ns: []string{soaCNAME}},
		{name: "cname loop ends", rfc: "RFC 1034 §3.6.2: loops must be detected",
			qname: "loop1.cname.test.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"loop1.cname.test. 300 IN CNAME loop2.cname.test.",
				"loop2.cname.test. 300 IN CNAME loop1.cname.test.",
			}},
		{name: "cname to a wildcard", rfc: "RFC 4592 §3.3.1 after RFC 1034 §4.3.2 step 3a",
			qname: "towild.cname.test.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"towild.cname.test. 300 IN CNAME x.apps.gslb.example.com.",
				"x.apps.gslb.example.com. 3600 IN A 192.0.2.30",
			}},
		{name: "cname to a delegated name", rfc: "RFC 1034 §4.3.2 step 3b after step 3a",
			qname: "todeleg.cname.test.", qtype: dns.TypeA,
			aa: true, answer: []string{"todeleg.cname.test. 300 IN CNAME www.child.gslb.example.com."},
			ns: childNS, extra: childGlue},

		// Wildcards (RFC 4592).
		{name: "wildcard synthesis", rfc: "RFC 4592 §3.3.1: owner is the query name",
			qname: "x.apps.gslb.example.com.", qtype: dns.TypeA,
			aa: true, answer: []string{"x.apps.gslb.example.com. 3600 IN A 192.0.2.30"}},
		{name: "wildcard two labels down", rfc: "RFC 4592 §3.3.1: closest encloser apps",
			qname: "x.y.apps.gslb.example.com.", qtype: dns.TypeTXT,
			aa: true, answer: []string{`x.y.apps.gslb.example.com. 3600 IN TXT "wildcard"`}},
		{name: "wildcard nodata", rfc: "RFC 4592 §3.3.1, RFC 2308 §2.2: the wildcard matches, the type does not",
			qname: "x.apps.gslb.example.com.", qtype: dns.TypeAAAA,
			aa: true, ns: []string{soaGSLB}},
		{name: "wildcard with edns", rfc: "RFC 4592 §3.3.1",
			qname: "x.apps.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, false),
			aa: true, answer: []string{"x.apps.gslb.example.com. 3600 IN A 192.0.2.30"}, opt: &wantOPT{udpSize: 1232}},
		{name: "wildcard not for an existing name", rfc: "RFC 4592 §2.2.1: edge.apps exists, so TXT is NODATA",
			qname: "edge.apps.gslb.example.com.", qtype: dns.TypeTXT,
			aa: true, ns: []string{soaGSLB}},
		{name: "existing name beside a wildcard", rfc: "RFC 4592 §2.2.1",
			qname: "edge.apps.gslb.example.com.", qtype: dns.TypeA,
			aa: true, answer: []string{"edge.apps.gslb.example.com. 3600 IN A 192.0.2.31"}},
		{name: "wildcard not below an existing name", rfc: "RFC 4592 §2.2.1: closest encloser edge.apps has no *",
			qname: "x.edge.apps.gslb.example.com.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaGSLB}},
		{name: "wildcard name queried literally", rfc: "RFC 4592 §2.1.1: * is an ordinary label in a query",
			qname: "*.apps.gslb.example.com.", qtype: dns.TypeA,
			aa: true, answer: []string{"*.apps.gslb.example.com. 3600 IN A 192.0.2.30"}},
		{name: "wildcard name queried literally nodata", rfc: "RFC 4592 §2.1.1",
			qname: "*.apps.gslb.example.com.", qtype: dns.TypeAAAA,
			aa: true, ns: []string{soaGSLB}},
		{name: "apex wildcard", rfc: "RFC 4592 §3.3.1",
			qname: "anything.wild.test.", qtype: dns.TypeA,
			aa: true, answer: []string{"anything.wild.test. 300 IN A 192.0.2.50"}},
		{name: "apex wildcard mx with addresses", rfc: "RFC 4592 §3.3.1; RFC 1035 §3.3.9",
			qname: "anything.wild.test.", qtype: dns.TypeMX,
			aa: true, answer: []string{"anything.wild.test. 300 IN MX 10 mx.wild.test."},
			extra: []string{"mx.wild.test. 300 IN A 192.0.2.52"}},
		{name: "wildcard not for an empty non-terminal", rfc: "RFC 4592 §2.2.2: ent exists (host.ent), so NODATA",
			qname: "ent.wild.test.", qtype: dns.TypeA,
			aa: true, ns: []string{soaWild}},
		{name: "wildcard not below an empty non-terminal", rfc: "RFC 4592 §2.2.1: closest encloser ent has no *",
			qname: "x.ent.wild.test.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaWild}},
		{name: "wildcard not for an existing name at the apex", rfc: "RFC 4592 §2.2.1",
			qname: "sub.wild.test.", qtype: dns.TypeA,
			aa: true, ns: []string{soaWild}},
		{name: "wildcard not below an existing name at the apex", rfc: "RFC 4592 §2.2.1",
			qname: "x.sub.wild.test.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaWild}},

		// QTYPE ANY (RFC 8482): one RRset, not everything.
		{name: "any gives one rrset", rfc: "RFC 8482 §4.1: A, not also AAAA",
			qname: "www.gslb.example.com.", qtype: dns.TypeANY,
			aa: true, answer: []string{wwwA}},
		{name: "any at the apex", rfc: "RFC 8482 §4.1: one RRset (NS) of the apex",
			qname: "gslb.example.com.", qtype: dns.TypeANY,
			aa: true, answer: apexNS, extra: apexGlue},
		{name: "any at a cname", rfc: "RFC 8482 §4.1; RFC 1034 §3.6.2",
			qname: "alias.gslb.example.com.", qtype: dns.TypeANY,
			aa: true, answer: aliasChain[:1]},
		{name: "any at a wildcard", rfc: "RFC 8482 §4.1; RFC 4592 §3.3.1",
			qname: "x.apps.gslb.example.com.", qtype: dns.TypeANY,
			aa: true, answer: []string{"x.apps.gslb.example.com. 3600 IN A 192.0.2.30"}},
		{name: "any with edns", rfc: "RFC 8482 §4.1",
			qname: "www.gslb.example.com.", qtype: dns.TypeANY, modify: edns(1232, false),
			aa: true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232}},

		// The query name's case is kept in the question and the answer owner
		// (RFC 4343 §4.1), on the fast path (plain queries of existing names)
		// and the general path.
		{name: "mixed case fast path", rfc: "RFC 4343 §4.1",
			qname: "WwW.GsLb.ExAmPlE.CoM.", qtype: dns.TypeA,
			aa: true, answer: []string{"WwW.GsLb.ExAmPlE.CoM. 30 IN A 192.0.2.10"}},
		{name: "mixed case fast path with edns", rfc: "RFC 4343 §4.1",
			qname: "WWW.gslb.EXAMPLE.com.", qtype: dns.TypeAAAA, modify: edns(1232, false),
			aa: true, answer: []string{"WWW.gslb.EXAMPLE.com. 30 IN AAAA 2001:db8::10"}, opt: &wantOPT{udpSize: 1232}},
		{name: "mixed case wildcard", rfc: "RFC 4343 §4.1; RFC 4592 §3.3.1",
			qname: "X.Apps.gslb.example.com.", qtype: dns.TypeA,
			aa: true, answer: []string{"X.Apps.gslb.example.com. 3600 IN A 192.0.2.30"}},
		{name: "mixed case nxdomain", rfc: "RFC 4343 §4.1",
			qname: "NoPe.Gslb.Example.Com.", qtype: dns.TypeA,
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaGSLB}},
		{name: "mixed case referral", rfc: "RFC 4343 §4.1",
			qname: "WWW.Child.gslb.example.com.", qtype: dns.TypeA,
			ns: childNS, extra: childGlue},
		{name: "mixed case cname chain", rfc: "RFC 4343 §4.1",
			qname: "ALIAS.gslb.example.com.", qtype: dns.TypeA,
			aa: true, answer: []string{
				"ALIAS.gslb.example.com. 3600 IN CNAME api.gslb.example.com.",
				"api.gslb.example.com. 3600 IN CNAME www.gslb.example.com.",
				wwwA,
			}},
	})
}
