package dnsserver

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
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

// dialFrom opens a DNS connection to addr from the loopback address from
// (port 0); it closes with the test, and every read or write on it fails
// after 2 s.
func dialFrom(t *testing.T, from, addr string) *dns.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: 2 * time.Second}
	c, err := d.DialContext(t.Context(), "tcp", addr)
	if err != nil {
		t.Fatalf("dial from %s: %v", from, err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &dns.Conn{Conn: c, UDPSize: dns.MaxMsgSize}
}

// ask sends one query for www on co and checks the reply's ID.
func ask(co *dns.Conn) error {
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

// TestTCPMaxConnections checks the cap on open connections: with
// TCPMaxConnections 2, a third connection takes the slot of the one idle
// longest (the first), the second is still served, and so is the third.
func TestTCPMaxConnections(t *testing.T) {
	s, addr := testServer(t, Config{TCPMaxConnections: 2}, testZones)
	// Each connection is dialed once the one before is idle again after
	// its query (the client reads a reply before the server marks the
	// connection idle), so that the first is the one idle longest.
	var conns []*dns.Conn
	for i, from := range []string{"127.77.32.2", "127.77.32.3"} {
		co := dialFrom(t, from, addr)
		conns = append(conns, co)
		if err := ask(co); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
		if err := poll(t, 2*time.Second, func() error {
			if n := idleConns(s.pools[0]); n != i+1 {
				return fmt.Errorf("%d connections idle, want %d", n, i+1)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}
	first, second := conns[0], conns[1]
	third := dialFrom(t, "127.77.32.4", addr)
	if err := ask(third); err != nil {
		t.Fatalf("third connection: %v, want it served in the slot of the first", err)
	}
	var b [1]byte
	if _, err := first.Read(b[:]); !isClosed(err) {
		t.Fatalf("first connection, idle longest: read %v, want it closed by the server", err)
	}
	for i, co := range []*dns.Conn{second, third} {
		if err := ask(co); err != nil {
			t.Fatalf("connection %d after the eviction: %v", i+2, err)
		}
	}
	// The evicted connection's goroutine counts it as it ends, which may
	// be after its client saw the close (a make test run read 0 here).
	if err := poll(t, 2*time.Second, func() error {
		if got := testutil.ToFloat64(s.metrics.tcpClosed[closeEvicted]); got != 1 {
			return fmt.Errorf("closed evicted = %v, want 1", got)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

func idleConns(p *connPool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for tc := range p.conns {
		if tc.state.Load() == connIdle {
			n++
		}
	}
	return n
}

// TestTCPMaxConnectionsPerClient checks the per-client cap: a client with
// TCPMaxConnectionsPerClient open has its next one closed at accept, its
// others are still served, and another client is served.
func TestTCPMaxConnectionsPerClient(t *testing.T) {
	s, addr := testServer(t, Config{TCPMaxConnections: 8, TCPMaxConnectionsPerClient: 2}, testZones)
	first, second := dialFrom(t, "127.77.32.2", addr), dialFrom(t, "127.77.32.2", addr)
	for i, co := range []*dns.Conn{first, second} {
		if err := ask(co); err != nil {
			t.Fatalf("connection %d: %v", i+1, err)
		}
	}
	if err := ask(dialFrom(t, "127.77.32.2", addr)); !isClosed(err) {
		t.Fatalf("third connection from the same client: %v, want it closed by the server", err)
	}
	if err := ask(dialFrom(t, "127.77.33.2", addr)); err != nil {
		t.Fatalf("another client: %v", err)
	}
	for i, co := range []*dns.Conn{first, second} {
		if err := ask(co); err != nil {
			t.Fatalf("connection %d after the third: %v", i+1, err)
		}
	}
	if got := testutil.ToFloat64(s.metrics.tcpRejected[rejectPerClient]); got != 1 {
		t.Errorf("rejected per_client = %v, want 1", got)
	}
	first.Close()
	err := poll(t, 2*time.Second, func() error {
		c := dialFrom(t, "127.77.32.2", addr)
		defer c.Close()
		return ask(c)
	})
	if err != nil {
		t.Fatalf("a new connection after one closed: %v", err)
	}
}

// TestTCPZeroLength checks that a zero-length message, which no DNS
// message is, closes the connection at once (counted as malformed), after
// the queries before it are answered.
func TestTCPZeroLength(t *testing.T) {
	s, addr := testServer(t, Config{}, testZones)
	co := dialRaw(t, "tcp", addr)
	if err := ask(co); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := co.Conn.Write([]byte{0, 0}); err != nil { // raw: co.Write adds a length
		t.Fatal(err)
	}
	var b [1]byte
	if _, err := co.Conn.Read(b[:]); !isClosed(err) {
		t.Fatalf("read after a zero-length message: %v, want the connection closed", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("closed after %v, want at once", waited)
	}
	if err := poll(t, time.Second, func() error {
		if got := testutil.ToFloat64(s.metrics.tcpClosed[closeMalformed]); got != 1 {
			return fmt.Errorf("closed malformed = %v, want 1", got)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestTCPMaxQueries pipelines more queries than TCPMaxQueries allows in
// one write: exactly TCPMaxQueries replies come, whole, then the server
// closes the connection.
func TestTCPMaxQueries(t *testing.T) {
	const limit = 3
	s, addr := testServer(t, Config{TCPMaxQueries: limit}, testZones)
	co := dialRaw(t, "tcp", addr)
	var batch []byte
	for i := range limit + 2 {
		p := packQuery(t, "www.gslb.example.com.", dns.TypeA, func(m *dns.Msg) { m.Id = uint16(100 + i) })
		batch = binary.BigEndian.AppendUint16(batch, uint16(len(p)))
		batch = append(batch, p...)
	}
	if _, err := co.Conn.Write(batch); err != nil {
		t.Fatal(err)
	}
	for i := range limit {
		r, err := co.ReadMsg()
		if err != nil {
			t.Fatalf("reply %d of %d: %v", i+1, limit, err)
		}
		if r.Id != uint16(100+i) {
			t.Fatalf("reply %d: id %d, want %d", i+1, r.Id, 100+i)
		}
	}
	var b [1]byte
	if _, err := co.Conn.Read(b[:]); !isClosed(err) {
		t.Fatalf("read after %d replies: %v, want the connection closed", limit, err)
	}
	if err := poll(t, time.Second, func() error {
		if got := testutil.ToFloat64(s.metrics.tcpClosed[closeMaxQueries]); got != 1 {
			return fmt.Errorf("closed max_queries = %v, want 1", got)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestTCPMaxLifetime queries every 20 ms on one connection: every query
// written is answered whole until the server closes the connection, at
// TCPMaxLifetime and not long after.
func TestTCPMaxLifetime(t *testing.T) {
	const lifetime = 300 * time.Millisecond
	s, addr := testServer(t, Config{TCPMaxLifetime: lifetime}, testZones)
	// Before the dial: the server's clock for the lifetime starts at its
	// accept, which may come before the dial returns here.
	start := time.Now()
	co := dialRaw(t, "tcp", addr)
	answered := 0
	var err error
	for range 200 { // bounded: 4 s of queries; the server closes at 300 ms
		if err = ask(co); err != nil {
			break
		}
		answered++
		time.Sleep(20 * time.Millisecond)
	}
	open := time.Since(start)
	if !isClosed(err) {
		t.Fatalf("after %d answers: %v, want the connection closed by the server", answered, err)
	}
	if open < lifetime || open > lifetime+time.Second {
		t.Errorf("closed after %v, want at %v", open, lifetime)
	}
	if answered < 3 {
		t.Errorf("%d queries answered in %v", answered, lifetime)
	}
	if err := poll(t, time.Second, func() error {
		if got := testutil.ToFloat64(s.metrics.tcpClosed[closeLifetime]); got != 1 {
			return fmt.Errorf("closed lifetime = %v, want 1", got)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestTCPIdleScaling: with 4 slots, the idle timeout is the full one up to
// 2 connections and the floor with all 4 taken, so the fourth idle
// connection is closed after the floor while the first stays open.
func TestTCPIdleScaling(t *testing.T) {
	const floor = 100 * time.Millisecond
	_, addr := testServer(t, Config{TCPMaxConnections: 4, TCPMinIdleTimeout: floor}, testZones)
	var conns []*dns.Conn
	for i := range 4 {
		co := dialFrom(t, fmt.Sprintf("127.77.32.%d", 2+i), addr)
		if err := ask(co); err != nil { // served: its slot is counted
			t.Fatalf("connection %d: %v", i+1, err)
		}
		conns = append(conns, co)
	}
	start := time.Now()
	var b [1]byte
	if _, err := conns[3].Read(b[:]); !isClosed(err) {
		t.Fatalf("fourth connection: %v, want it closed after the floor", err)
	}
	if waited := time.Since(start); waited > time.Second {
		t.Errorf("fourth connection closed after %v idle, want about %v", waited, floor)
	}
	if err := ask(conns[0]); err != nil {
		t.Errorf("first connection, armed with the full timeout: %v", err)
	}
}

func TestScaledIdle(t *testing.T) {
	const full, floor = 10 * time.Second, 500 * time.Millisecond
	for _, c := range []struct {
		live, slots int
		want        time.Duration
	}{
		{0, 1024, full},
		{512, 1024, full},
		{513, 1024, full * 511 / 512},
		{768, 1024, full / 2},
		{1000, 1024, floor}, // 469ms: the floor
		{900, 1024, full * 124 / 512},
		{1023, 1024, floor},
		{1024, 1024, floor},
		{1, 1, floor},
		{0, 1, full},
		{2, 4, full},
		{3, 4, full / 2},
		{5, 4, floor},
	} {
		if got := scaledIdle(full, floor, c.live, c.slots); got != c.want {
			t.Errorf("scaledIdle(%d of %d) = %v, want %v", c.live, c.slots, got, c.want)
		}
	}
}

// TestTCPSlotAttack redoes the attack of issue 11 on loopback: clients
// from 127.77.32.x open connections as fast as they are closed and hold
// them without a query (idle), with a zero-length message every 5 s, or
// with one octet of a length and nothing more, while a victim from
// 127.77.33.2 asks 30 queries over a second, each on a new connection. Every one of them
// must be answered. Connections held stay within the cap, and once the
// attack stops every one is released.
func TestTCPSlotAttack(t *testing.T) {
	for _, c := range []struct {
		name      string
		sources   int // attacking addresses, 127.77.32.2 on
		perClient int
	}{
		{"one address, per-client cap", 1, 0},
		{"eight addresses, no per-client cap: eviction", 8, 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			const slots, attackers, victimQueries = 64, 96, 30
			s, addr := testServer(t, Config{
				TCPMaxConnections: slots, TCPMaxConnectionsPerClient: c.perClient,
				TCPIdleTimeout: 5 * time.Second, TCPMinIdleTimeout: 200 * time.Millisecond,
			}, testZones)
			baseGoroutines := runtime.NumGoroutine()
			ctx, stop := context.WithCancel(t.Context())
			var wg sync.WaitGroup
			var dials atomic.Int64
			for i := range attackers {
				from := fmt.Sprintf("127.77.32.%d", 2+i%c.sources)
				wg.Go(func() { hog(ctx, from, addr, i%3, &dials) })
			}
			// Let the attack fill the slots before the victim comes.
			if err := poll(t, 5*time.Second, func() error {
				if held, _ := s.pools[0].counts(); held < min(slots, c.sources*s.cfg.TCPMaxConnectionsPerClient) {
					return fmt.Errorf("%d connections held", held)
				}
				return nil
			}); err != nil {
				t.Fatalf("the attack did not fill the slots: %v", err)
			}
			answered := 0
			var failures []string
			maxHeld := 0
			for i := range victimQueries {
				if held, live := s.pools[0].counts(); live > slots {
					t.Errorf("%d live connections, cap %d", live, slots)
				} else {
					maxHeld = max(maxHeld, held)
				}
				co, err := dialVictim(addr)
				if err == nil {
					err = ask(co)
					co.Close()
				}
				if err != nil {
					failures = append(failures, fmt.Sprintf("query %d: %v", i+1, err))
				} else {
					answered++
				}
				time.Sleep(30 * time.Millisecond) // the victim's queries span the attack's churn
			}
			stop()
			wg.Wait()
			t.Logf("victim: %d of %d answered; attackers dialled %d connections; at most %d held (cap %d); closed: idle %v, evicted %v, malformed %v; rejected: per_client %v, full %v",
				answered, victimQueries, dials.Load(), maxHeld, slots,
				testutil.ToFloat64(s.metrics.tcpClosed[closeIdle]), testutil.ToFloat64(s.metrics.tcpClosed[closeEvicted]),
				testutil.ToFloat64(s.metrics.tcpClosed[closeMalformed]),
				testutil.ToFloat64(s.metrics.tcpRejected[rejectPerClient]), testutil.ToFloat64(s.metrics.tcpRejected[rejectFull]))
			if answered != victimQueries {
				t.Errorf("victim got %d of %d answers:\n%s", answered, victimQueries, strings.Join(failures, "\n"))
			}
			if maxHeld > 2*slots {
				t.Errorf("%d connections held at once, cap %d", maxHeld, slots)
			}
			// Memory stays bounded: every connection and its goroutine go.
			if err := poll(t, 5*time.Second, func() error {
				held, live := s.pools[0].counts()
				if g := runtime.NumGoroutine(); held != 0 || live != 0 || g > baseGoroutines+5 {
					return fmt.Errorf("%d connections held (%d live), %d goroutines (%d before the attack)", held, live, g, baseGoroutines)
				}
				return nil
			}); err != nil {
				t.Errorf("after the attack: %v", err)
			}
		})
	}
}

// dialVictim opens a connection from 127.77.33.2 with 2 s deadlines.
func dialVictim(addr string) (*dns.Conn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.77.33.2")}, Timeout: 2 * time.Second}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		c.Close()
		return nil, err
	}
	return &dns.Conn{Conn: c}, nil
}

// hog holds connections to addr from from until ctx is done, opening a
// new one whenever the server closes the last: kind 0 idles, kind 1 sends
// a zero-length message every 5 s, kind 2 sends one octet of a length.
func hog(ctx context.Context, from, addr string, kind int, dials *atomic.Int64) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}, Timeout: time.Second}
	for ctx.Err() == nil {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			sleepCtx(ctx, 20*time.Millisecond)
			continue
		}
		dials.Add(1)
		closed := make(chan struct{})
		go func() {
			defer close(closed)
			switch kind {
			case 1:
				for ctx.Err() == nil {
					if _, err := c.Write([]byte{0, 0}); err != nil {
						return
					}
					sleepCtx(ctx, 5*time.Second)
				}
			case 2:
				_, _ = c.Write([]byte{0})
			}
		}()
		// Wait for the server to close it (a read fails), or the end.
		go func() {
			<-ctx.Done()
			_ = c.SetReadDeadline(time.Now())
		}()
		var b [512]byte
		for {
			if _, err := c.Read(b[:]); err != nil {
				break
			}
		}
		c.Close()
		<-closed
		sleepCtx(ctx, 10*time.Millisecond) // keeps the machine usable; still hundreds of dials a second
	}
}

func sleepCtx(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
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

// FuzzConnPool drives a pool with admissions, state changes of its
// connections (what their goroutines do) and releases, and checks after
// each step: live counts the connections not evicted and stays within the
// cap, each client's count is its connections and stays within its cap, a
// refusal or an eviction happens only when due, and the connection
// evicted is one idle longest.
//
//	go test -run=^$ -fuzz=FuzzConnPool -fuzztime=1m ./dnsserver/
func FuzzConnPool(f *testing.F) {
	f.Add([]byte{3, 1, 0, 1, 2, 0x40, 0x41, 0, 0xc0, 0})
	f.Add([]byte{1, 7, 0, 0x40, 0, 0x80, 0, 0xc1, 0xc0})
	f.Add([]byte{7, 2, 0, 0, 0, 1, 1, 1, 2, 2, 3, 3, 0x40, 0x42, 0x44, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		// Bounded: evicted connections stay until a step releases them,
		// and every step checks them all.
		if len(data) < 2 || len(data) > 1024 {
			return
		}
		slots := 1 + int(data[0]%8)
		perClient := min(1+int(data[1]%8), slots)
		p := newConnPool(slots, perClient)
		var open []*tcpConn
		clock := time.Unix(1e9, 0)
		for _, b := range data[2:] {
			clock = clock.Add(time.Millisecond)
			arg := int(b & 63)
			switch b >> 6 {
			case 0: // a connection from client arg%4
				client := netip.AddrFrom4([4]byte{127, 77, 32, byte(arg % 4)})
				liveBefore := int(p.live.Load())
				var idle []*tcpConn
				clientConns := 0
				for _, tc := range open {
					if tc.state.Load() == connIdle {
						idle = append(idle, tc)
					}
					if tc.client == client {
						clientConns++
					}
				}
				tc, evicted, reason := p.admit(nil, client, clock)
				switch {
				case tc == nil && reason == rejectPerClient:
					if clientConns < perClient {
						t.Fatalf("refused per client with %d of %d open", clientConns, perClient)
					}
				case tc == nil:
					if liveBefore < slots || len(idle) > 0 {
						t.Fatalf("refused full with %d of %d live and %d idle", liveBefore, slots, len(idle))
					}
				default:
					if clientConns >= perClient {
						t.Fatalf("admitted a client's connection %d, cap %d", clientConns+1, perClient)
					}
					if (evicted != nil) != (liveBefore >= slots) {
						t.Fatalf("evicted %v with %d of %d live", evicted != nil, liveBefore, slots)
					}
					if evicted != nil {
						if evicted.state.Load() != connEvicted {
							t.Fatalf("evicted connection in state %d", evicted.state.Load())
						}
						for _, o := range idle {
							if o.since.Load() < evicted.since.Load() {
								t.Fatalf("evicted a connection idle since %d, one idle since %d", evicted.since.Load(), o.since.Load())
							}
						}
					}
					open = append(open, tc)
				}
			case 1: // its goroutine arms the deadline: idle
				if len(open) > 0 {
					tc := open[arg%len(open)]
					tc.since.Store(clock.UnixNano())
					tc.state.CompareAndSwap(connBusy, connIdle)
				}
			case 2: // a query comes in: busy
				if len(open) > 0 {
					open[arg%len(open)].state.CompareAndSwap(connIdle, connBusy)
				}
			case 3: // the connection ends
				if len(open) > 0 {
					i := arg % len(open)
					p.release(open[i])
					p.release(open[i]) // twice: a no-op
					open = slices.Delete(open, i, i+1)
				}
			}
			checkPool(t, p, open)
		}
		for _, tc := range open {
			p.release(tc)
		}
		if held, live := p.counts(); held != 0 || live != 0 || len(p.clients) != 0 {
			t.Fatalf("all released: %d held, %d live, %d clients", held, live, len(p.clients))
		}
	})
}

func checkPool(t *testing.T, p *connPool, open []*tcpConn) {
	t.Helper()
	if len(p.conns) != len(open) {
		t.Fatalf("pool holds %d connections, %d open", len(p.conns), len(open))
	}
	live := 0
	clients := map[netip.Addr]int{}
	for _, tc := range open {
		if _, ok := p.conns[tc]; !ok {
			t.Fatal("an open connection is not in the pool")
		}
		if tc.state.Load() != connEvicted {
			live++
		}
		clients[tc.client]++
	}
	if int(p.live.Load()) != live || live > p.max {
		t.Fatalf("live %d, counted %d, cap %d", p.live.Load(), live, p.max)
	}
	if !maps.Equal(clients, p.clients) {
		t.Fatalf("per-client counts %v, want %v", p.clients, clients)
	}
	for c, n := range clients {
		if n > p.perClient {
			t.Fatalf("client %v has %d connections, cap %d", c, n, p.perClient)
		}
	}
}

// FuzzRateLog calls a rateLog at times the input spaces: the lines let
// through are at least a period apart, the first one is, and each reports
// the calls suppressed since the one before.
//
//	go test -run=^$ -fuzz=FuzzRateLog -fuzztime=30s ./dnsserver/
func FuzzRateLog(f *testing.F) {
	f.Add([]byte{0, 1, 2, 100, 0, 0, 200, 255})
	f.Add([]byte{50, 50, 50, 50})
	f.Fuzz(func(t *testing.T, data []byte) {
		const period = 100 * time.Millisecond
		var r rateLog
		now := time.Unix(1e9, 0)
		var last time.Time
		suppressed := int64(0)
		for i, b := range data {
			now = now.Add(time.Duration(b) * time.Millisecond)
			n, ok := r.allow(now, period)
			if !ok {
				if i == 0 {
					t.Fatal("the first line suppressed")
				}
				if now.Sub(last) >= period {
					t.Fatalf("suppressed %v after the last line, period %v", now.Sub(last), period)
				}
				suppressed++
				continue
			}
			if i > 0 && now.Sub(last) < period {
				t.Fatalf("a line %v after the last, period %v", now.Sub(last), period)
			}
			if n != suppressed {
				t.Fatalf("reported %d suppressed, want %d", n, suppressed)
			}
			last, suppressed = now, 0
		}
	})
}

// TestTCPWriteBlocked: a client that sends queries and never reads the
// replies cannot hold its slot past the idle timeout: once the socket
// buffers fill, the server's write (or its read of the queries that stop
// coming) meets its deadline, the connection is closed and its slot freed,
// and another client is served.
func TestTCPWriteBlocked(t *testing.T) {
	const idle = 300 * time.Millisecond
	// No cap on queries: the connection must end by its stalled write.
	s, addr := testServer(t, Config{TCPIdleTimeout: idle, TCPMinIdleTimeout: idle, TCPMaxQueries: 1 << 30}, testZones)
	raddr, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.DialTCP("tcp", nil, raddr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.SetReadBuffer(4096); err != nil { // a small window: the server's sends stall soon
		t.Fatal(err)
	}
	q := new(dns.Msg)
	q.SetQuestion("medium.big.test.", dns.TypeTXT) // a reply of ~800 bytes
	wire, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	frame := append([]byte{byte(len(wire) >> 8), byte(len(wire))}, wire...)
	probe := dialFrom(t, "127.0.0.1", addr)
	if err := probe.WriteMsg(q); err != nil {
		t.Fatal(err)
	}
	if r, err := probe.ReadMsg(); err != nil || len(r.Answer) != 10 {
		t.Fatalf("the query: %v, %v; want 10 TXT records", r, err)
	}
	probe.Close()
	// 20,000 queries (16 MB of replies, more than loopback buffers hold),
	// written without reading; the server stops reading them once its
	// writes stall, so the writes here may stall too: bounded by a deadline.
	_ = c.SetWriteDeadline(time.Now().Add(3 * time.Second))
	batch := bytes.Repeat(frame, 1000)
	for range 20 {
		if _, err := c.Write(batch); err != nil {
			break
		}
	}
	start := time.Now()
	if err := poll(t, 5*time.Second, func() error {
		if held, live := s.pools[0].counts(); held != 0 {
			return fmt.Errorf("held %d live %d", held, live)
		}
		return nil
	}); err != nil {
		t.Fatalf("the write-blocked connection still holds its slot: %v", err)
	}
	if waited := time.Since(start); waited < idle/2 {
		t.Errorf("the blocked connection went after %v, before the write deadline %v", waited, idle)
	}
	// The replies stalled: the server answered far fewer than it was sent
	// (the connection did not simply run out of queries).
	answered := testutil.ToFloat64(s.metrics.queries.WithLabelValues("big.test.", qtypeLabel(dns.TypeTXT), rcodeLabel(dns.RcodeSuccess), tcp.String()))
	t.Logf("%v of 20000 pipelined queries answered before the connection was closed", answered)
	if answered >= 20000 {
		t.Errorf("all %v queries answered: the client's unread replies never stalled the server", answered)
	}
	// Whichever deadline passed first (the write's, or the read's once the
	// client's stalled queries stop arriving), the connection ended by one.
	if got := testutil.ToFloat64(s.metrics.tcpClosed[closeError]) + testutil.ToFloat64(s.metrics.tcpClosed[closeIdle]); got != 1 {
		t.Errorf("connections closed by a deadline: %v, want 1", got)
	}
	if err := ask(dialFrom(t, "127.0.0.1", addr)); err != nil {
		t.Errorf("another client: %v", err)
	}
}
