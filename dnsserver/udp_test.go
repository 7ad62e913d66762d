package dnsserver

import (
	"context"
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// udpServer starts a server on the given UDP/TCP addresses (port 0) with
// one UDP socket per address, so that bursts fill its batches. stop cancels
// Serve and returns how long it took to return.
func udpServer(t *testing.T, listen ...string) (s *Server, stop func() time.Duration) {
	t.Helper()
	cfg := testConfig()
	cfg.Listen = listen
	cfg.UDPSockets = 1
	s = New(cfg)
	if err := s.LoadZones(testZones); err != nil {
		t.Fatalf("load zones: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	stopped := false
	stop = func() time.Duration {
		if stopped {
			return 0
		}
		stopped = true
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Serve did not return within 5 s of the cancel")
		}
		return time.Since(start)
	}
	t.Cleanup(func() { stop() })
	return s, stop
}

// udpQueries are the queries of the burst tests: the fast path (static and
// steered, with and without EDNS) and the general path.
var udpQueries = []struct {
	qname  string
	qtype  uint16
	modify func(*dns.Msg)
}{
	{"www.gslb.example.com.", dns.TypeA, nil},
	{"www.gslb.example.com.", dns.TypeAAAA, edns(1232, false)},
	{"gslb.example.com.", dns.TypeSOA, edns(1232, true)},
	{"nope.gslb.example.com.", dns.TypeA, edns(1232, false)},
}

// TestUDPBursts sends bursts longer than a batch (udpBatch) from several
// client sockets at once, over IPv4 and IPv6, and checks that every query
// gets exactly one reply, to the socket that sent it, from the server's
// address, answering its question with its ID.
func TestUDPBursts(t *testing.T) {
	listen := []string{"127.77.42.1:0"}
	if c, err := net.ListenUDP("udp6", &net.UDPAddr{IP: net.IPv6loopback}); err == nil {
		_ = c.Close()
		listen = append(listen, "[::1]:0")
	} else {
		t.Logf("no IPv6 loopback (%v): IPv4 only", err)
	}
	s, _ := udpServer(t, listen...)
	reqs := make([][]byte, len(udpQueries))
	for i, q := range udpQueries {
		reqs[i] = packQuery(t, q.qname, q.qtype, q.modify)
	}
	const clients, perClient = 6, 3 * udpBatch
	for _, server := range s.UDPAddrs() {
		t.Run(server.Addr().String(), func(t *testing.T) {
			conns := make([]*net.UDPConn, clients)
			for c := range conns {
				local := netip.AddrPortFrom(netip.MustParseAddr("::1"), 0)
				if server.Addr().Is4() {
					local = netip.AddrPortFrom(netip.AddrFrom4([4]byte{127, 77, 42, byte(2 + c)}), 0)
				}
				conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(local))
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Close()
				conns[c] = conn
			}
			// All clients send their whole burst before anyone reads.
			for c, conn := range conns {
				for i := range perClient {
					req := append([]byte(nil), reqs[i%len(reqs)]...)
					binary.BigEndian.PutUint16(req, uint16(c<<8|i))
					if _, err := conn.WriteToUDPAddrPort(req, server); err != nil {
						t.Fatal(err)
					}
				}
			}
			for c, conn := range conns {
				seen := make([]bool, perClient)
				buf := make([]byte, 65535)
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				for range perClient {
					n, from, err := conn.ReadFromUDPAddrPort(buf)
					if err != nil {
						t.Fatalf("client %d: %d of %d replies: %v", c, countTrue(seen), perClient, err)
					}
					if from.Addr().Unmap() != server.Addr() || from.Port() != server.Port() {
						t.Errorf("client %d: reply from %v, want %v", c, from, server)
					}
					r := new(dns.Msg)
					if err := r.Unpack(buf[:n]); err != nil {
						t.Fatalf("client %d: reply does not unpack: %v", c, err)
					}
					id := int(r.Id)
					if id>>8 != c || id&0xff >= perClient || seen[id&0xff] {
						t.Fatalf("client %d: reply id %#x not one of its queries, or a second reply", c, id)
					}
					seen[id&0xff] = true
					q := udpQueries[(id&0xff)%len(udpQueries)]
					if !r.Response || len(r.Question) != 1 || r.Question[0].Name != q.qname || r.Question[0].Qtype != q.qtype {
						t.Errorf("client %d: reply %#x answers %v, want %s %s", c, id, r.Question, q.qname, dns.TypeToString[q.qtype])
					}
				}
			}
		})
	}
}

func countTrue(b []bool) int {
	n := 0
	for _, v := range b {
		if v {
			n++
		}
	}
	return n
}

// TestUDPNoAllocs checks that the UDP path allocates nothing per query on
// the fast path: heap allocations in the whole process (the client
// included, which reads and writes with preallocated buffers) over 2000
// queries answered by the server stay well under one per query. x/net's
// ReadBatch, used before, allocated two per datagram (the source
// net.UDPAddr and its IP).
func TestUDPNoAllocs(t *testing.T) {
	s, _ := udpServer(t, "127.77.42.1:0")
	server := s.UDPAddrs()[0]
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.77.42.10:0")))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	req := packQuery(t, "www.gslb.example.com.", dns.TypeA, edns(1232, false))
	buf := make([]byte, 4096)
	roundTrips := func(n int) {
		for i := range n {
			binary.BigEndian.PutUint16(req, uint16(i))
			if _, err := conn.WriteToUDPAddrPort(req, server); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
				t.Fatalf("query %d: %v", i, err)
			}
		}
	}
	roundTrips(100) // warm up: buffers, caches, the decision pool
	const n = 2000
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	roundTrips(n)
	runtime.ReadMemStats(&after)
	perQuery := float64(after.Mallocs-before.Mallocs) / n
	t.Logf("%.3f heap allocations per query (whole process)", perQuery)
	if perQuery > 0.5 {
		t.Errorf("%.3f heap allocations per UDP query, want (nearly) none", perQuery)
	}
}

// TestUDPShutdown checks that Serve returns promptly when stopped while its
// UDP readers are parked and while they are busy, and that no goroutine of
// the server is left behind.
func TestUDPShutdown(t *testing.T) {
	for _, busy := range []bool{false, true} {
		name := "idle"
		if busy {
			name = "busy"
		}
		t.Run(name, func(t *testing.T) {
			before := runtime.NumGoroutine()
			s, stop := udpServer(t, "127.77.42.1:0")
			server := s.UDPAddrs()[0]
			conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.77.42.11:0")))
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			req := packQuery(t, "www.gslb.example.com.", dns.TypeA, nil)
			if _, err := conn.WriteToUDPAddrPort(req, server); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
			if _, _, err := conn.ReadFromUDPAddrPort(make([]byte, 512)); err != nil {
				t.Fatalf("no reply before the stop: %v", err)
			}
			sending := make(chan struct{})
			if busy {
				go func() {
					defer close(sending)
					deadline := time.Now().Add(3 * time.Second)
					for time.Now().Before(deadline) {
						if _, err := conn.WriteToUDPAddrPort(req, server); err != nil {
							return // closed by the test
						}
					}
				}()
				time.Sleep(20 * time.Millisecond)
			} else {
				close(sending)
			}
			if took := stop(); took > time.Second {
				t.Errorf("Serve took %v to return, want well under 1 s", took)
			}
			_ = conn.Close()
			<-sending
			// Goroutines wind down asynchronously (the cancel's own, the
			// runtime's); poll, bounded.
			if err := poll(t, 2*time.Second, func() error {
				if n := runtime.NumGoroutine(); n > before {
					return fmt.Errorf("%d goroutines, %d before the server", n, before)
				}
				return nil
			}); err != nil {
				buf := make([]byte, 1<<16)
				t.Errorf("%v\n%s", err, buf[:runtime.Stack(buf, true)])
			}
		})
	}
}

// BenchmarkUDP measures the UDP path over loopback: a client sends bursts
// of 16 queries for the steered name (A and AAAA, EDNS: the fast path) and
// reads the replies; one op is one query, client and server included.
// allocs/op counts the whole process (the client allocates nothing).
//
//	go test -run=^$ -bench=BenchmarkUDP -benchmem ./dnsserver/
func BenchmarkUDP(b *testing.B) {
	cfg := testConfig()
	cfg.Listen = []string{"127.77.42.1:0"}
	cfg.UDPSockets = 1
	s := New(cfg)
	if err := s.LoadZones(testZones); err != nil {
		b.Fatal(err)
	}
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	server := s.UDPAddrs()[0]
	conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.MustParseAddrPort("127.77.42.20:0")))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	const burst = 16
	reqs := [][]byte{
		packQuery(b, "www.gslb.example.com.", dns.TypeA, edns(1232, false)),
		packQuery(b, "www.gslb.example.com.", dns.TypeAAAA, edns(1232, false)),
	}
	buf := make([]byte, 4096)
	b.ReportAllocs()
	b.ResetTimer()
	sent := 0
	for sent < b.N {
		k := min(burst, b.N-sent)
		for i := range k {
			if _, err := conn.WriteToUDPAddrPort(reqs[(sent+i)%len(reqs)], server); err != nil {
				b.Fatal(err)
			}
		}
		_ = conn.SetReadDeadline(time.Now().Add(2 * time.Second))
		for range k {
			if _, _, err := conn.ReadFromUDPAddrPort(buf); err != nil {
				b.Fatalf("after %d queries: %v", sent, err)
			}
		}
		sent += k
	}
}
