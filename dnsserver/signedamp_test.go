package dnsserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestSignedAmplification measures what a DO query without a cookie over
// UDP makes a signed zone send (octets out per octet in) for the queries an
// attacker would pick, checks that no reply exceeds the client's EDNS buffer
// and that a truncated one carries no partial RRset, and then floods the
// largest of them from one spoofed /24 (127.77.85.0/24): the limiter (rate
// 10, slip 2) bounds what goes out to the rate, and the slipped replies are
// header and question, smaller than the query.
func TestSignedAmplification(t *testing.T) {
	f := newSignedFixture(t)
	serve := func(rrl *RRLConfig) (*Server, *net.UDPAddr) {
		s, addr := serveSignedRRL(t, f, f.sigs, rrl)
		return s, net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr))
	}
	// The sizes from a server without a limiter; the flood to one with.
	_, dst := serve(nil)
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.77.85.1:0")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ask := func(c *net.UDPConn, req []byte) []byte {
		t.Helper()
		if _, err := c.WriteToUDP(req, dst); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 65536)
		_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return buf[:n]
	}

	var worst struct {
		factor float64
		req    []byte
		what   string
	}
	for _, q := range []struct {
		name  string
		qtype uint16
	}{
		{signedOrigin, dns.TypeDNSKEY}, {signedOrigin, dns.TypeANY}, {signedOrigin, dns.TypeRRSIG},
		{signedOrigin, dns.TypeMX}, {signedOrigin, dns.TypeCDNSKEY}, {"nope." + signedOrigin, dns.TypeA},
		{"www." + signedOrigin, dns.TypeA}, {"www." + signedOrigin, dns.TypeANY}, {"big." + signedOrigin, dns.TypeTXT},
		{"sub." + signedOrigin, dns.TypeA}, {"x.wild." + signedOrigin, dns.TypeTXT},
		{strings.Repeat("x", 63) + "." + strings.Repeat("y", 63) + "." + strings.Repeat("z", 63) + "." + signedOrigin, dns.TypeA},
		{"www." + signedOrigin, dns.TypeRRSIG}, {"x.dyn." + signedOrigin, dns.TypeRRSIG}, {"www." + signedOrigin, dns.TypeNSEC},
	} {
		for _, size := range []uint16{512, 1232, 4096} {
			req := packQuery(t, q.name, q.qtype, edns(size, true))
			out := ask(conn, req)
			m := new(dns.Msg)
			if err := m.Unpack(out); err != nil {
				t.Fatalf("%s %s %d: %v", q.name, dns.TypeToString[q.qtype], size, err)
			}
			if len(out) > int(size) {
				t.Errorf("%s %s: a reply of %d octets to a buffer of %d", q.name, dns.TypeToString[q.qtype], len(out), size)
			}
			// RRSIGs of several types are a reply of several RRsets in
			// effect: a truncated one may keep the first whole.
			// (A truncated denial may keep the SOA and its RRSIG whole and
			// drop the NSECs: the client asks again over TCP.)
			if m.Truncated && len(m.Answer) > 0 && q.qtype != dns.TypeRRSIG {
				t.Errorf("%s %s %d: truncated with %d answers (whole RRsets, or TC and none)\n%v", q.name, dns.TypeToString[q.qtype], size, len(m.Answer), m)
			}
			factor := float64(len(out)) / float64(len(req))
			t.Logf("%-24s %-7s buffer %4d: %4d octets in, %4d out (x%.1f)%s", q.name, dns.TypeToString[q.qtype], size, len(req), len(out), factor,
				map[bool]string{true: " TC"}[m.Truncated])
			if factor > worst.factor {
				worst.factor, worst.req, worst.what = factor, req, q.name+" "+dns.TypeToString[q.qtype]
			}
		}
	}
	t.Logf("largest amplification: %s, x%.1f", worst.what, worst.factor)
	// No reply exceeds dns.max_udp_size (1232): no query makes more than
	// 1232/40 (x31) without the limiter.
	if worst.factor > float64(DefaultMaxUDPSize)/40 {
		t.Errorf("x%.1f over the cap of the reply size", worst.factor)
	}

	// The flood: 300 queries of the worst kind from 127.77.85.0/24.
	s, dst := serve(testRRL())
	const n = 300
	in, out, full, slipped := 0, 0, 0, 0
	start := time.Now()
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for {
			_ = conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			k, err := conn.Read(buf)
			if err != nil {
				return
			}
			out += k
			m := new(dns.Msg)
			if err := m.Unpack(buf[:k]); err != nil {
				t.Errorf("reply does not unpack: %v", err)
				return
			}
			if m.Truncated && len(m.Answer)+len(m.Ns) == 0 && m.IsEdns0() == nil {
				slipped++
				if k >= len(worst.req) {
					t.Errorf("a slipped reply of %d octets to a query of %d", k, len(worst.req))
				}
			} else {
				full++
			}
		}
	}()
	req := append([]byte(nil), worst.req...)
	for i := range n {
		binary.BigEndian.PutUint16(req, uint16(i))
		if _, err := conn.WriteToUDP(req, dst); err != nil {
			t.Fatal(err)
		}
		in += len(req)
		if i%64 == 63 {
			time.Sleep(time.Millisecond)
		}
	}
	<-done
	secs := int(time.Since(start)/time.Second) + 1
	t.Logf("flood of %d %s queries: %d octets in, %d out (x%.2f): %d full, %d slipped", n, worst.what, in, out, float64(out)/float64(in), full, slipped)
	if max := 10 * (secs + 1); full > max {
		t.Errorf("%d full replies in %d s, the rate is 10", full, secs)
	}
	if limited := testutil.ToFloat64(s.metrics.rrl[rrlDrop]) + testutil.ToFloat64(s.metrics.rrl[rrlSlip]); int(limited) < n-10*(secs+1) {
		t.Errorf("the limiter counted %v limited of %d", limited, n)
	}
}
