package dnsserver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// bigTXT returns the TXT records from-to (1-based) of label in big.test, as
// the $GENERATE lines of testdata/zones/big.test.zone make them.
func bigTXT(label string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf(`%s.big.test. 300 IN TXT "%s-%02d-%s"`, label, label, i, strings.Repeat("a", 60-len(label)-4)))
	}
	return out
}

// TestEDNS runs the EDNS(0) rules of RFC 6891 (and the DO bit of RFC 3225)
// on a server capped at the default 1232 octets.
func TestEDNS(t *testing.T) {
	_, addr := testServer(t, testConfig(), testZones)
	version := func(v uint8) func(*dns.Msg) { return func(m *dns.Msg) { m.IsEdns0().SetVersion(v) } }
	secondOPT := func(m *dns.Msg) {
		m.Extra = append(m.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 1232}})
	}
	runCases(t, addr, []dnsCase{
		{name: "opt echoed with our size", rfc: "RFC 6891 §6.2.3, §7: OPT in the reply, our UDP size",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: edns(4096, false),
			aa: true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232}},
		{name: "do bit echoed", rfc: "RFC 3225 §3: DO copied into the response",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, true),
			aa: true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232, do: true}},
		{name: "do bit echoed on the general path", rfc: "RFC 3225 §3",
			qname: "x.apps.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, true),
			aa: true, answer: []string{"x.apps.gslb.example.com. 3600 IN A 192.0.2.30"}, opt: &wantOPT{udpSize: 1232, do: true}},
		{name: "no opt without edns", rfc: "RFC 6891 §7: no OPT in a reply to a query without one",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			aa: true, answer: []string{wwwA}},
		{name: "badvers", rfc: "RFC 6891 §6.1.3: version 1 gets BADVERS with an OPT of version 0",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: all(edns(1232, false), version(1)),
			rcode: dns.RcodeBadVers, opt: &wantOPT{udpSize: 1232}},
		{name: "badvers with do", rfc: "RFC 6891 §6.1.3; RFC 3225 §3",
			qname: "nope.gslb.example.com.", qtype: dns.TypeA, modify: all(edns(1232, true), version(255)),
			rcode: dns.RcodeBadVers, opt: &wantOPT{udpSize: 1232, do: true}},
		{name: "two opt records", rfc: "RFC 6891 §6.1.1: more than one OPT is FORMERR",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: all(edns(1232, false), secondOPT),
			rcode: dns.RcodeFormatError, opt: &wantOPT{udpSize: 1232}},
		{name: "cookie of a bad length", rfc: "RFC 7873 §5.2.2: FORMERR",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			modify: ednsWith(&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405"}),
			rcode:  dns.RcodeFormatError, opt: &wantOPT{udpSize: 1232}},
		{name: "keepalive with a timeout over tcp", rfc: "RFC 7828 §3.2.1: FORMERR", net: "tcp",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			modify: ednsWith(&dns.EDNS0_TCP_KEEPALIVE{Code: dns.EDNS0TCPKEEPALIVE, Timeout: 100}),
			rcode:  dns.RcodeFormatError, opt: &wantOPT{udpSize: 1232}},
		{name: "keepalive with a timeout over udp", rfc: "RFC 7828 §3.2.1: ignored over UDP", net: "udp",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			modify: ednsWith(&dns.EDNS0_TCP_KEEPALIVE{Code: dns.EDNS0TCPKEEPALIVE, Timeout: 100}),
			aa:     true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232}},
		{name: "opt not owned by the root", rfc: "RFC 6891 §6.1.2: the OPT owner MUST be 0 (root)",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			modify: all(edns(1232, false), func(m *dns.Msg) { m.IsEdns0().Hdr.Name = "gslb.example.com." }),
			rcode:  dns.RcodeFormatError, opt: &wantOPT{udpSize: 1232}},

		// Sizes: a UDP reply fits in 512 without EDNS and in min(client
		// size, MaxUDPSize) with it, else it is truncated (TC) with the
		// records that fit; TCP carries everything (RFC 1035 §4.2, RFC 6891 §6.2.5).
		{name: "small fits in 512", rfc: "RFC 1035 §4.2.1",
			net: "udp", qname: "small.big.test.", qtype: dns.TypeTXT,
			aa: true, answer: bigTXT("small", 1, 4)},
		{name: "over 512 without edns truncated", rfc: "RFC 1035 §4.2.1: TC over UDP past 512",
			net: "udp", qname: "medium.big.test.", qtype: dns.TypeTXT,
			aa: true, tc: true, answer: bigTXT("medium", 1, 6)},
		{name: "over 512 without edns over tcp", rfc: "RFC 7766 §6.2: the full answer over TCP",
			net: "tcp", qname: "medium.big.test.", qtype: dns.TypeTXT,
			aa: true, answer: bigTXT("medium", 1, 10)},
		{name: "client size honoured", rfc: "RFC 6891 §6.2.5: up to the client's size",
			net: "udp", qname: "medium.big.test.", qtype: dns.TypeTXT, modify: edns(1232, false),
			aa: true, answer: bigTXT("medium", 1, 10), opt: &wantOPT{udpSize: 1232}},
		{name: "client size below the reply", rfc: "RFC 6891 §6.2.5",
			net: "udp", qname: "medium.big.test.", qtype: dns.TypeTXT, modify: edns(600, false),
			aa: true, tc: true, answer: bigTXT("medium", 1, 7), opt: &wantOPT{udpSize: 1232}},
		{name: "client size below 512 is 512", rfc: "RFC 6891 §6.2.5: values below 512 are treated as 512",
			net: "udp", qname: "small.big.test.", qtype: dns.TypeTXT, modify: edns(100, false),
			aa: true, answer: bigTXT("small", 1, 4), opt: &wantOPT{udpSize: 1232}},
		{name: "client size below 512 still truncates at 512", rfc: "RFC 6891 §6.2.5",
			net: "udp", qname: "medium.big.test.", qtype: dns.TypeTXT, modify: edns(100, false),
			aa: true, tc: true, answer: bigTXT("medium", 1, 6), opt: &wantOPT{udpSize: 1232}},
		{name: "client size capped by MaxUDPSize", rfc: "RFC 6891 §6.2.5: the responder's own limit",
			net: "udp", qname: "large.big.test.", qtype: dns.TypeTXT, modify: edns(4096, false),
			aa: true, tc: true, answer: bigTXT("large", 1, 16), opt: &wantOPT{udpSize: 1232}},
		{name: "large over tcp", rfc: "RFC 7766 §6.2",
			net: "tcp", qname: "large.big.test.", qtype: dns.TypeTXT, modify: edns(4096, false),
			aa: true, answer: bigTXT("large", 1, 30), opt: &wantOPT{udpSize: 1232}},
		{name: "large over tcp without edns", rfc: "RFC 7766 §6.2",
			net: "tcp", qname: "large.big.test.", qtype: dns.TypeTXT,
			aa: true, answer: bigTXT("large", 1, 30)},
	})

	t.Run("MaxUDPSize 4096", func(t *testing.T) {
		_, addr := testServer(t, Config{MaxUDPSize: 4096}, testZones)
		runCases(t, addr, []dnsCase{
			{name: "client size under the cap honoured", rfc: "RFC 6891 §6.2.5",
				net: "udp", qname: "large.big.test.", qtype: dns.TypeTXT, modify: edns(1232, false),
				aa: true, tc: true, answer: bigTXT("large", 1, 16), opt: &wantOPT{udpSize: 4096}},
			{name: "client size at the cap", rfc: "RFC 6891 §6.2.5",
				net: "udp", qname: "large.big.test.", qtype: dns.TypeTXT, modify: edns(4096, false),
				aa: true, answer: bigTXT("large", 1, 30), opt: &wantOPT{udpSize: 4096}},
			{name: "no edns still 512", rfc: "RFC 1035 §4.2.1",
				net: "udp", qname: "medium.big.test.", qtype: dns.TypeTXT,
				aa: true, tc: true, answer: bigTXT("medium", 1, 6)},
		})
	})
}

// TestClientSubnet runs the EDNS Client Subnet rules of RFC 7871: a valid
// option is echoed with scope 0 (our answers are the same for every
// client), a malformed one is FORMERR.
func TestClientSubnet(t *testing.T) {
	_, addr := testServer(t, testConfig(), testZones)
	formerr := func(name, rfc string, opts ...dns.EDNS0) dnsCase {
		return dnsCase{name: name, rfc: rfc, qname: "www.gslb.example.com.", qtype: dns.TypeA,
			modify: ednsWith(opts...), rcode: dns.RcodeFormatError}
	}
	// Options miekg/dns can unpack but RFC 7871 refuses: the FORMERR
	// carries our OPT (RFC 6891 §7), without the offending option.
	formerrOPT := func(name, rfc string, opts ...dns.EDNS0) dnsCase {
		c := formerr(name, rfc, opts...)
		c.opt = &wantOPT{udpSize: 1232}
		return c
	}
	echo := func(name string, opt dns.EDNS0, want string) dnsCase {
		return dnsCase{name: name, rfc: "RFC 7871 §7.2.1: echoed, SCOPE PREFIX-LENGTH 0",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: ednsWith(opt),
			aa: true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232, options: []string{want}}}
	}
	runCases(t, addr, []dnsCase{
		echo("ipv4", ecs(1, 24, "192.0.2.0"), "192.0.2.0/24/0"),
		echo("ipv4 host", ecs(1, 32, "192.0.2.77"), "192.0.2.77/32/0"),
		echo("ipv4 odd prefix", ecs(1, 20, "198.51.96.0"), "198.51.96.0/20/0"),
		echo("ipv4 zero prefix", ecs(1, 0, "0.0.0.0"), "0.0.0.0/0/0"),
		echo("ipv6", ecs(2, 56, "2001:db8:1200::"), "[2001:db8:1200::]/56/0"),
		echo("family 0 from dig +subnet=0", ecsRaw(0, 0, 0), "0.0.0.0/0/0"),
		{name: "echoed on a negative answer", rfc: "RFC 7871 §7.2.1",
			qname: "nope.gslb.example.com.", qtype: dns.TypeA, modify: ednsWith(ecs(1, 24, "192.0.2.0")),
			rcode: dns.RcodeNameError, aa: true, ns: []string{soaGSLB},
			opt: &wantOPT{udpSize: 1232, options: []string{"192.0.2.0/24/0"}}},
		formerr("unknown family", "RFC 7871 §6: FAMILY from the IANA registry, 1 or 2", ecsRaw(3, 24, 0, 192, 0, 2)),
		formerr("family 0 with a prefix", "RFC 7871 §6", ecsRaw(0, 8, 0, 10)),
		formerr("ipv4 prefix over 32", "RFC 7871 §6: SOURCE PREFIX-LENGTH fits the family", ecsRaw(1, 33, 0, 192, 0, 2, 1, 0)),
		formerr("ipv6 prefix over 128", "RFC 7871 §6", ecsRaw(2, 129, 0, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)),
		formerrOPT("scope in a query", "RFC 7871 §6: SCOPE PREFIX-LENGTH MUST be 0 in queries", ecsRaw(1, 24, 16, 192, 0, 2)),
		formerrOPT("too many octets", "RFC 7871 §6: exactly ceil(SOURCE/8) octets", ecsRaw(1, 24, 0, 192, 0, 2, 0)),
		formerrOPT("too few octets", "RFC 7871 §6", ecsRaw(1, 24, 0, 192, 0)),
		formerrOPT("octets for a zero prefix", "RFC 7871 §6", ecsRaw(1, 0, 0, 0)),
		formerrOPT("bits beyond the prefix", "RFC 7871 §6: address bits past SOURCE PREFIX-LENGTH MUST be 0", ecsRaw(1, 20, 0, 192, 0, 2)),
		formerrOPT("ipv6 bits beyond the prefix", "RFC 7871 §6", ecsRaw(2, 33, 0, 0x20, 0x01, 0x0d, 0xb8, 0x7f)),
		formerrOPT("two options", "RFC 7871 §6: one ECS option per query", ecs(1, 24, "192.0.2.0"), ecs(1, 24, "192.0.2.0")),
	})
}

// TestNSID runs RFC 5001: the NSID option is answered when asked for and
// configured, never otherwise.
func TestNSID(t *testing.T) {
	nsid := &dns.EDNS0_NSID{Code: dns.EDNS0NSID}
	t.Run("configured", func(t *testing.T) {
		_, addr := testServer(t, testConfig(), testZones)
		runCases(t, addr, []dnsCase{
			{name: "asked", rfc: "RFC 5001 §2.1: the server's NSID in the reply",
				qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: ednsWith(nsid),
				aa: true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232, options: []string{testNSIDHex}}},
			{name: "asked on the general path", rfc: "RFC 5001 §2.1",
				qname: "example.org.", qtype: dns.TypeA, modify: ednsWith(nsid),
				rcode: dns.RcodeRefused, opt: &wantOPT{udpSize: 1232, options: []string{testNSIDHex}}},
			{name: "asked with a subnet", rfc: "RFC 5001 §2.1; RFC 7871 §7.2.1",
				qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: ednsWith(ecs(1, 24, "192.0.2.0"), nsid),
				aa: true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232, options: []string{"192.0.2.0/24/0", testNSIDHex}}},
			{name: "not asked", rfc: "RFC 5001 §2.1: only in reply to a request",
				qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, false),
				aa: true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232}},
		})
	})
	t.Run("not configured", func(t *testing.T) {
		_, addr := testServer(t, Config{}, testZones)
		runCases(t, addr, []dnsCase{
			{name: "asked", rfc: "RFC 5001 §2.1: nothing to return",
				qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: ednsWith(nsid),
				aa: true, answer: []string{wwwA}, opt: &wantOPT{udpSize: 1232}},
		})
	})
}

// Wire changes for malformed packets.

// qdcount sets the question count, removing the question for 0 and
// repeating it for 2.
func qdcount(n int) func([]byte) []byte {
	return func(p []byte) []byte {
		q := append([]byte(nil), p[headerLen:]...)
		out := append([]byte(nil), p[:headerLen]...)
		binary.BigEndian.PutUint16(out[4:], uint16(n))
		for range n {
			out = append(out, q...)
		}
		return out
	}
}

func setQR(p []byte) []byte { p[2] |= 0x80; return p }

// Header count offsets, for setCount.
const (
	qdOff = 4
	anOff = 6
	nsOff = 8
	arOff = 10
)

// setCount sets the count at header offset off to n, leaving the sections.
func setCount(off int, n uint16) func([]byte) []byte {
	return func(p []byte) []byte { binary.BigEndian.PutUint16(p[off:], n); return p }
}

// appendOctets adds octets after the last record.
func appendOctets(b ...byte) func([]byte) []byte {
	return func(p []byte) []byte { return append(p, b...) }
}

// lyingCases are queries whose header counts promise records that are
// not there, or that carry octets after their last record: FORMERR, with
// the question (RFC 1035 §4.1; RFC 9619 for QDCOUNT). Names with a
// precomputed reply are the fast path's; it must decline them.
var lyingCases = []struct {
	name   string
	qname  string
	modify func(*dns.Msg)
	wire   func([]byte) []byte
}{
	{"ARCOUNT 1, no record", "www.gslb.example.com.", nil, setCount(arOff, 1)},
	{"ARCOUNT 2, one OPT", "www.gslb.example.com.", edns(1232, false), setCount(arOff, 2)},
	{"ARCOUNT 65535, one OPT", "www.gslb.example.com.", edns(1232, true), setCount(arOff, 65535)},
	{"ANCOUNT 1, no record", "www.gslb.example.com.", nil, setCount(anOff, 1)},
	{"NSCOUNT 1, no record", "www.gslb.example.com.", edns(1232, false), setCount(nsOff, 1)},
	{"ANCOUNT 1 on the general path", "nope.gslb.example.com.", nil, setCount(anOff, 1)},
	{"OPT not counted", "www.gslb.example.com.", edns(1232, false), setCount(arOff, 0)},
	{"one trailing zero octet", "www.gslb.example.com.", nil, appendOctets(0)},
	{"trailing octets", "www.gslb.example.com.", nil, appendOctets(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)},
	{"trailing octets after the OPT", "www.gslb.example.com.", edns(1232, false), appendOctets(0, 0)},
	{"trailing octets on the general path", "nope.gslb.example.com.", edns(1232, false), appendOctets(0xc0, 0x0c)},
	{"a whole second OPT not counted", "www.gslb.example.com.", edns(1232, false), appendOctets(0, 0, 41, 4, 0xd0, 0, 0, 0, 0, 0, 0)},
}

// TestHeader runs the rules about the header and the shape of a query:
// what gets FORMERR, NOTIMP, or no reply at all.
func TestHeader(t *testing.T) {
	_, addr := testServer(t, testConfig(), testZones)
	opcode := func(op int) func(*dns.Msg) { return func(m *dns.Msg) { m.Opcode = op } }
	runCases(t, addr, []dnsCase{
		{name: "no question", rfc: "RFC 9619 §4: QDCOUNT 0 is FORMERR",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, wire: qdcount(0),
			rcode: dns.RcodeFormatError},
		{name: "two questions", rfc: "RFC 9619 §4: QDCOUNT over 1 is FORMERR",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, wire: qdcount(2),
			rcode: dns.RcodeFormatError},
		{name: "two questions with edns", rfc: "RFC 9619 §4",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, false), wire: qdcount(2),
			rcode: dns.RcodeFormatError},
		{name: "garbage after the header", rfc: "RFC 1035 §4.1.2: a question that does not parse is FORMERR",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			wire:  func(p []byte) []byte { return append(p[:headerLen], 0xff, 0xfe, 0xfd, 0xfc, 0xfb) },
			rcode: dns.RcodeFormatError},
		{name: "question cut short", rfc: "RFC 1035 §4.1.2",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			wire:  func(p []byte) []byte { return p[:headerLen+6] },
			rcode: dns.RcodeFormatError},
		{name: "question without its type", rfc: "RFC 1035 §4.1.2",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			wire:  func(p []byte) []byte { return p[:len(p)-3] },
			rcode: dns.RcodeFormatError},
		{name: "ARCOUNT 1 and no record", rfc: "RFC 1035 §4.1: the counts say what the sections hold",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, wire: setCount(arOff, 1),
			rcode: dns.RcodeFormatError},
		{name: "ARCOUNT 2 and one OPT", rfc: "RFC 1035 §4.1; the OPT is not echoed: the extra section is what is malformed",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, false), wire: setCount(arOff, 2),
			rcode: dns.RcodeFormatError},
		{name: "ANCOUNT 1 and no record", rfc: "RFC 1035 §4.1",
			qname: "nope.gslb.example.com.", qtype: dns.TypeA, wire: setCount(anOff, 1),
			rcode: dns.RcodeFormatError},
		{name: "NSCOUNT 1 and no record", rfc: "RFC 1035 §4.1",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, false), wire: setCount(nsOff, 1),
			rcode: dns.RcodeFormatError},
		{name: "trailing octets", rfc: "RFC 1035 §4.1: nothing follows the last record",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, wire: appendOctets(0, 1, 2),
			rcode: dns.RcodeFormatError},
		{name: "trailing octets after the OPT", rfc: "RFC 1035 §4.1",
			qname: "nope.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, true), wire: appendOctets(0),
			rcode: dns.RcodeFormatError},
		{name: "OPT not counted", rfc: "RFC 1035 §4.1: an uncounted OPT is trailing octets",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, false), wire: setCount(arOff, 0),
			rcode: dns.RcodeFormatError},
		{name: "notify", rfc: "RFC 1035 §4.1.1 NOTIMP: we are no secondary (RFC 1996)",
			qname: "gslb.example.com.", qtype: dns.TypeSOA, modify: opcode(dns.OpcodeNotify),
			rcode: dns.RcodeNotImplemented},
		{name: "notify as a primary sends it", rfc: "RFC 1996 §3.7: AA, the new SOA in the answer; still NOTIMP (Knot 3.2 answers NOTAUTH, its ACL)",
			qname: "gslb.example.com.", qtype: dns.TypeSOA, modify: func(m *dns.Msg) {
				m.SetNotify("gslb.example.com.")
				soa, _ := dns.NewRR("gslb.example.com. 3600 IN SOA ns1.gslb.example.com. hostmaster.gslb.example.com. 9 7200 3600 1209600 300")
				m.Answer = []dns.RR{soa}
			},
			rcode: dns.RcodeNotImplemented},
		{name: "notify for a zone not ours", rfc: "RFC 1996; RFC 1035 §4.1.1",
			qname: "example.org.", qtype: dns.TypeSOA, modify: opcode(dns.OpcodeNotify),
			rcode: dns.RcodeNotImplemented},
		{name: "update", rfc: "RFC 2136 §3: NOTIMP from a server without dynamic update",
			qname: "gslb.example.com.", qtype: dns.TypeSOA, modify: opcode(dns.OpcodeUpdate),
			rcode: dns.RcodeNotImplemented},
		{name: "status", rfc: "RFC 1035 §4.1.1",
			qname: "gslb.example.com.", qtype: dns.TypeSOA, modify: opcode(dns.OpcodeStatus),
			rcode: dns.RcodeNotImplemented},
		{name: "iquery", rfc: "RFC 3425 §3: IQUERY is obsolete, NOTIMP",
			qname: "gslb.example.com.", qtype: dns.TypeSOA, modify: opcode(dns.OpcodeIQuery),
			rcode: dns.RcodeNotImplemented},
		{name: "notify with edns", rfc: "RFC 6891 §7: a reply to a query with OPT carries an OPT, errors included",
			qname: "gslb.example.com.", qtype: dns.TypeSOA, modify: all(opcode(dns.OpcodeNotify), edns(1232, true)),
			rcode: dns.RcodeNotImplemented, opt: &wantOPT{udpSize: 1232, do: true}},
		{name: "unassigned opcode", rfc: "RFC 1035 §4.1.1",
			qname: "gslb.example.com.", qtype: dns.TypeSOA, modify: opcode(15),
			rcode: dns.RcodeNotImplemented},
		{name: "response dropped", rfc: "RFC 1035 §7.3: a response (QR set) gets no reply",
			qname: "www.gslb.example.com.", qtype: dns.TypeA, wire: setQR, noReply: true},
		{name: "response with edns dropped", rfc: "RFC 1035 §7.3",
			qname: "nope.gslb.example.com.", qtype: dns.TypeA, modify: edns(1232, false), wire: setQR, noReply: true},
		{name: "short packet dropped", rfc: "RFC 1035 §4.1.1: less than a header cannot be answered",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			wire: func(p []byte) []byte { return p[:headerLen-1] }, noReply: true},
		{name: "two octets dropped", rfc: "RFC 1035 §4.1.1",
			qname: "www.gslb.example.com.", qtype: dns.TypeA,
			wire: func(p []byte) []byte { return p[:2] }, noReply: true},
		{name: "empty packet dropped", rfc: "RFC 1035 §4.1.1; over TCP a zero-length message closes the connection (TestTCPZeroLength)",
			net: "udp", qname: "www.gslb.example.com.", qtype: dns.TypeA,
			wire: func([]byte) []byte { return nil }, noReply: true},
	})
}

// TestTransfer runs the zone transfer rules (RFC 5936 AXFR, RFC 1995 IXFR)
// for a client that is allowed and one that is not; TestAXFR checks the
// transferred zone itself.
func TestTransfer(t *testing.T) {
	ixfr := func(m *dns.Msg) {
		m.SetIxfr("gslb.example.com.", 2026112400, "ns1.gslb.example.com.", "hostmaster.gslb.example.com.")
	}
	const apexSOA = "gslb.example.com. 3600 IN SOA ns1.gslb.example.com. hostmaster.gslb.example.com. 2026112401 7200 3600 1209600 300"
	t.Run("allowed", func(t *testing.T) {
		_, addr := testServer(t, testConfig(), testZones)
		runCases(t, addr, []dnsCase{
			{name: "axfr over udp", rfc: "RFC 5936 §4.2: AXFR is TCP only; FORMERR over UDP",
				net: "udp", qname: "gslb.example.com.", qtype: dns.TypeAXFR,
				rcode: dns.RcodeFormatError},
			{name: "ixfr over udp", rfc: "RFC 1995 §2: the SOA alone when the reply does not fit",
				net: "udp", qname: "gslb.example.com.", qtype: dns.TypeIXFR, modify: ixfr,
				aa: true, answer: []string{apexSOA}},
			{name: "axfr of a name below the apex", rfc: "RFC 5936 §2.2.1: NOTAUTH for no zone of ours",
				qname: "www.gslb.example.com.", qtype: dns.TypeAXFR,
				rcode: dns.RcodeNotAuth},
			{name: "axfr of a delegated zone", rfc: "RFC 5936 §2.2.1",
				qname: "child.gslb.example.com.", qtype: dns.TypeAXFR,
				rcode: dns.RcodeNotAuth},
			{name: "axfr outside our zones", rfc: "RFC 5936 §2.2.1",
				qname: "example.org.", qtype: dns.TypeAXFR,
				rcode: dns.RcodeNotAuth},
		})
	})
	t.Run("refused", func(t *testing.T) {
		cfg := testConfig()
		cfg.TransferAllow = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		_, addr := testServer(t, cfg, testZones)
		runCases(t, addr, []dnsCase{
			{name: "axfr", rfc: "RFC 5936 §6: REFUSED to a client not allowed",
				net: "tcp", qname: "gslb.example.com.", qtype: dns.TypeAXFR,
				rcode: dns.RcodeRefused},
			{name: "ixfr", rfc: "RFC 5936 §6; RFC 1995",
				qname: "gslb.example.com.", qtype: dns.TypeIXFR, modify: ixfr,
				rcode: dns.RcodeRefused},
		})
	})
}

// FuzzServeDNS feeds arbitrary packets to the query path (s.handle, both
// transports, from a client allowed zone transfers). It must not panic; a
// packet gets no reply only when it is shorter than a header or a response;
// any reply unpacks, carries the query's ID, has QR set and fits the
// transport; a query whose counts lie or with trailing octets gets
// FORMERR (and sectionsExact agrees with miekg/dns on the messages both
// read); a zone transfer streams messages that unpack.
//
//	go test -run=^$ -fuzz=FuzzServeDNS -fuzztime=3m ./dnsserver/
func FuzzServeDNS(f *testing.F) {
	s, v := offline(f, testConfig(), testZones)
	src := netip.MustParseAddr("127.0.0.1")
	twoOPT := func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		m.Extra = append(m.Extra, &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT, Class: 512}})
	}
	modifiers := []func(*dns.Msg){
		nil,
		edns(1232, true),
		edns(100, false),
		all(edns(1232, false), func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }),
		twoOPT,
		ednsWith(ecs(1, 24, "192.0.2.0")),
		ednsWith(ecs(2, 56, "2001:db8::")),
		ednsWith(ecsRaw(1, 20, 0, 192, 0, 2)),
		ednsWith(ecsRaw(3, 24, 0, 192, 0, 2)),
		ednsWith(&dns.EDNS0_NSID{Code: dns.EDNS0NSID}),
		ednsWith(&dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: "0102030405060708"}),
		func(m *dns.Msg) { m.Opcode = dns.OpcodeNotify },
		func(m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS },
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{"www.gslb.example.com.", dns.TypeA}, {"WwW.GsLb.ExAmPlE.CoM.", dns.TypeAAAA},
		{"gslb.example.com.", dns.TypeANY}, {"gslb.example.com.", dns.TypeNS},
		{"nope.gslb.example.com.", dns.TypeA}, {"alias.gslb.example.com.", dns.TypeA},
		{"x.apps.gslb.example.com.", dns.TypeTXT}, {"www.child.gslb.example.com.", dns.TypeA},
		{"loop1.cname.test.", dns.TypeA}, {"large.big.test.", dns.TypeTXT},
		{"example.org.", dns.TypeA}, {"gslb.example.com.", dns.TypeAXFR},
		{"other.test.", dns.TypeIXFR},
	} {
		for _, mod := range modifiers {
			req := packQuery(f, q.name, q.qtype, mod)
			f.Add(req)
			for _, wire := range []func([]byte) []byte{
				qdcount(0), qdcount(2), setQR,
				func(p []byte) []byte { return p[:headerLen-1] },
				func(p []byte) []byte { return p[:len(p)-3] },
				func(p []byte) []byte { return append(p[:headerLen], 0xff, 0xfe, 0xfd) },
				setCount(arOff, 1), setCount(anOff, 2), setCount(nsOff, 1), setCount(arOff, 0),
				appendOctets(0), appendOctets(0xc0, 0x0c, 0, 1),
			} {
				f.Add(wire(slices.Clone(req)))
			}
		}
	}
	f.Fuzz(func(t *testing.T, req []byte) {
		// sectionsExact against miekg/dns: a message it finds exact and
		// miekg/dns unpacks has as many entries as its counts say.
		if q := new(dns.Msg); sectionsExact(req) && q.Unpack(req) == nil {
			got := [4]int{len(q.Question), len(q.Answer), len(q.Ns), len(q.Extra)}
			var want [4]int
			for i := range want {
				want[i] = int(binary.BigEndian.Uint16(req[4+2*i:]))
			}
			if got != want {
				t.Fatalf("exact message unpacks to %v entries, header counts %v\nquery %x", got, want, req)
			}
		}
		for tr := range numTransports {
			reply, xfr := s.handle(v, req, tr, src, nil)
			if reply == nil {
				if len(req) >= headerLen && req[2]&0x80 == 0 {
					t.Fatalf("no reply over %s to a query", tr)
				}
				continue
			}
			m := checkFuzzReply(t, req, reply)
			if !sectionsExact(req) && m.Rcode != dns.RcodeFormatError {
				t.Fatalf("%s to a query whose counts lie or with trailing octets over %s, want FORMERR\nquery %x", rcodeName(m.Rcode), tr, req)
			}
			limit := maxTCPSize
			if tr == udp {
				limit = v.opts.maxUDP
				if binary.BigEndian.Uint16(req[10:]) == 0 {
					limit = minUDPSize // no OPT possible
				}
			}
			if len(reply) > limit {
				t.Fatalf("%d octet reply over %s, limit %d:\n%v", len(reply), tr, limit, m)
			}
			if xfr == nil {
				continue
			}
			if tr != tcp {
				t.Fatalf("zone transfer over %s", tr)
			}
			var out bufferConn
			if err := s.streamZone(&out, req, xfr, v.steer, time.Second); err != nil {
				t.Fatalf("stream %s: %v", xfr.Origin, err)
			}
			for b := out.Bytes(); len(b) > 0; {
				n := int(binary.BigEndian.Uint16(b))
				checkFuzzReply(t, req, b[2:2+n])
				b = b[2+n:]
			}
		}
	})
}

func checkFuzzReply(t *testing.T, req, reply []byte) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	if err := m.Unpack(reply); err != nil {
		t.Fatalf("reply does not unpack: %v\nquery %x\nreply %x", err, req, reply)
	}
	if id := binary.BigEndian.Uint16(req); m.Id != id {
		t.Fatalf("reply id %d, query id %d", m.Id, id)
	}
	if !m.Response {
		t.Fatalf("reply without QR")
	}
	return m
}

// bufferConn collects a zone transfer in memory.
type bufferConn struct{ bytes.Buffer }

func (*bufferConn) SetWriteDeadline(time.Time) error { return nil }
