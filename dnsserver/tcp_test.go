package dnsserver

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// TestAXFR transfers every test zone over TCP with miekg/dns's Transfer
// (RFC 5936): the SOA, every record of the zone in file order, the SOA again.
// testdata/xfr/many.test has more records than one message carries.
func TestAXFR(t *testing.T) {
	for _, dir := range []string{testZones, "testdata/xfr"} {
		s, addr := testServer(t, testConfig(), dir)
		for _, z := range s.Zones().List() {
			t.Run(z.Origin, func(t *testing.T) {
				m := new(dns.Msg)
				m.SetAxfr(z.Origin)
				tr := &dns.Transfer{DialTimeout: 2 * time.Second, ReadTimeout: 2 * time.Second}
				ch, err := tr.In(m, addr)
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				envelopes := 0
				for e := range ch {
					if e.Error != nil {
						t.Fatalf("transfer: %v", e.Error)
					}
					envelopes++
					for _, rr := range e.RR {
						got = append(got, rr.String())
					}
				}
				want := rrStrings(append(slices.Clone(z.records), z.SOA))
				if !slices.Equal(got, want) {
					t.Errorf("transferred %d records, want %d:\n got %q\nwant %q", len(got), len(want), got, want)
				}
				if z.Len() > xfrChunk && envelopes < 2 {
					t.Errorf("%d records came in %d message(s)", z.Len(), envelopes)
				}
			})
		}
	}
}

// TestIXFROverTCP checks that an IXFR is answered with the whole zone, as an
// AXFR (RFC 1995 §4), the SOA first and last.
func TestIXFROverTCP(t *testing.T) {
	s, addr := testServer(t, testConfig(), testZones)
	z := s.Zones().Zone("gslb.example.com.")
	full := rrStrings(append(slices.Clone(z.records), z.SOA))
	soaOnly := rrStrings([]dns.RR{z.SOA})
	tests := []struct {
		name   string
		serial uint32
		want   []string
	}{
		{"client behind: the whole zone (RFC 1995 §4)", z.Serial() - 1, full},
		{"client behind across the wrap (RFC 1982)", z.Serial() + 1<<31 + 1, full},
		{"client current: our SOA alone (RFC 1995 §2)", z.Serial(), soaOnly},
		{"client ahead: our SOA alone", z.Serial() + 5, soaOnly},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := new(dns.Msg)
			m.SetIxfr(z.Origin, tc.serial, "ns1.gslb.example.com.", "hostmaster.gslb.example.com.")
			c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
			r, _, err := c.Exchange(m, addr)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Authoritative || r.Rcode != dns.RcodeSuccess {
				t.Errorf("AA %v rcode %s, want AA and NOERROR", r.Authoritative, rcodeName(r.Rcode))
			}
			if got := rrStrings(r.Answer); !slices.Equal(got, tc.want) {
				t.Errorf("answer:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func rrStrings(rrs []dns.RR) []string {
	out := make([]string, len(rrs))
	for i, rr := range rrs {
		out[i] = rr.String()
	}
	return out
}

// TestTCPIdleTimeout checks that a connection idle for TCPIdleTimeout is
// closed by the server (RFC 7766 §6.2.3), and not before.
func TestTCPIdleTimeout(t *testing.T) {
	const idle = 200 * time.Millisecond
	_, addr := testServer(t, Config{TCPIdleTimeout: idle}, testZones)
	co := dialRaw(t, "tcp", addr)
	// A query first: the connection is served, and the timer restarts.
	q := new(dns.Msg)
	q.SetQuestion("www.gslb.example.com.", dns.TypeA)
	if err := co.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	if _, err := co.ReadMsg(); err != nil {
		t.Fatalf("query before idling: %v", err)
	}
	start := time.Now()
	var buf [1]byte
	_, err := co.Conn.Read(buf[:]) // blocks until the server closes (or our 2 s deadline)
	waited := time.Since(start)
	if !isClosed(err) {
		t.Fatalf("read on an idle connection: %v, want it closed by the server", err)
	}
	if waited < idle/2 {
		t.Errorf("closed after %v, before the idle timeout %v", waited, idle)
	}
}

// isClosed reports whether err from a read means the peer closed the
// connection (as opposed to our own deadline passing).
func isClosed(err error) bool {
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	return true
}

// TestTCPMaxConnections checks the cap on open connections: with
// TCPMaxConnections 2, a third connection is closed at once; once one of
// the two closes, a new one is served again.
func TestTCPMaxConnections(t *testing.T) {
	_, addr := testServer(t, Config{TCPMaxConnections: 2}, testZones)
	ask := func(co *dns.Conn) error {
		q := new(dns.Msg)
		q.SetQuestion("www.gslb.example.com.", dns.TypeA)
		if err := co.WriteMsg(q); err != nil {
			return err
		}
		r, err := co.ReadMsg()
		if err == nil && r.Id != q.Id {
			err = fmt.Errorf("reply id %d, query id %d", r.Id, q.Id)
		}
		return err
	}
	first, second := dialRaw(t, "tcp", addr), dialRaw(t, "tcp", addr)
	for i, co := range []*dns.Conn{first, second} {
		if err := ask(co); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	third := dialRaw(t, "tcp", addr)
	if err := ask(third); !isClosed(err) {
		t.Fatalf("third connection: %v, want it closed by the server", err)
	}
	// Both first connections are still served.
	for i, co := range []*dns.Conn{first, second} {
		if err := ask(co); err != nil {
			t.Fatalf("connection %d after the third: %v", i+1, err)
		}
	}
	first.Close()
	err := poll(t, 2*time.Second, func() error {
		c := dialRaw(t, "tcp", addr)
		defer c.Close()
		return ask(c)
	})
	if err != nil {
		t.Fatalf("a new connection after one closed: %v", err)
	}
}

// TestTCPPipelining sends many queries in one write and checks every reply
// comes, in order (RFC 7766 §6.2.1.1), zone transfer included.
func TestTCPPipelining(t *testing.T) {
	s, addr := testServer(t, testConfig(), testZones)
	type query struct {
		name  string
		qtype uint16
	}
	queries := []query{
		{"www.gslb.example.com.", dns.TypeA},
		{"nope.gslb.example.com.", dns.TypeA},
		{"alias.gslb.example.com.", dns.TypeA},
		{"x.apps.gslb.example.com.", dns.TypeTXT},
		{"gslb.example.com.", dns.TypeAXFR},
		{"www.child.gslb.example.com.", dns.TypeA},
		{"example.org.", dns.TypeA},
		{"large.big.test.", dns.TypeTXT},
	}
	for range 3 {
		queries = append(queries, queries...)
	}
	var batch []byte
	ids := make([]uint16, len(queries))
	for i, q := range queries {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		m.Id = uint16(1000 + i)
		ids[i] = m.Id
		p, err := m.Pack()
		if err != nil {
			t.Fatal(err)
		}
		batch = binary.BigEndian.AppendUint16(batch, uint16(len(p)))
		batch = append(batch, p...)
	}
	co := dialRaw(t, "tcp", addr)
	if err := co.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := co.Conn.Write(batch); err != nil {
		t.Fatal(err)
	}
	axfrLen := s.Zones().Zone("gslb.example.com.").Len() + 1
	for i, q := range queries {
		r, err := co.ReadMsg()
		if err != nil {
			t.Fatalf("reply %d: %v", i, err)
		}
		if r.Id != ids[i] || len(r.Question) != 1 || r.Question[0].Name != q.name {
			t.Fatalf("reply %d: id %d question %v, want id %d for %s", i, r.Id, r.Question, ids[i], q.name)
		}
		if q.qtype == dns.TypeAXFR {
			// The zone fits in one message: SOA, records, SOA.
			if len(r.Answer) != axfrLen {
				t.Fatalf("reply %d: AXFR with %d records, want %d", i, len(r.Answer), axfrLen)
			}
		}
	}
}

// TestShutdownWithBusyTCPClient: a client that keeps querying on one
// connection does not hold up shutdown.
func TestShutdownWithBusyTCPClient(t *testing.T) {
	s := New(Config{Listen: []string{"127.0.0.1:0"}, UDPSockets: 1})
	if err := s.LoadZones(testZones); err != nil {
		t.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	co := dialRaw(t, "tcp", s.TCPAddrs()[0].String())
	q := new(dns.Msg)
	q.SetQuestion("www.gslb.example.com.", dns.TypeA)
	answered := make(chan struct{}, 1)
	go func() {
		for range 1_000_000 { // bounded; ends when the server closes the connection
			if co.WriteMsg(q) != nil {
				return
			}
			if _, err := co.ReadMsg(); err != nil {
				return
			}
			select {
			case answered <- struct{}{}:
			default:
			}
		}
	}()
	<-answered
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(3 * time.Second):
		t.Fatal("Serve did not return within 3 s of cancel while a client kept querying")
	}
}
