package dnsserver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// TestParseNotifyTarget pins what dns.notify accepts.
func TestParseNotifyTarget(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "192.0.2.1:53", want: "192.0.2.1:53"},
		{in: "192.0.2.1", want: "192.0.2.1:53"},
		{in: "[2001:db8::1]:5353", want: "[2001:db8::1]:5353"},
		{in: "2001:db8::1", want: "[2001:db8::1]:53"},
		{in: "[::ffff:192.0.2.1]:53", want: "192.0.2.1:53"},
		{in: "ns2.example.com:53", err: `host must be an IP address, not a name (got "ns2.example.com:53")`},
		{in: "192.0.2.1:0", err: `port must be 1-65535 (got "192.0.2.1:0")`},
		{in: "192.0.2.1:65536", err: `port must be 1-65535 (got "192.0.2.1:65536")`},
		{in: "192.0.2.1:", err: `port must be 1-65535 (got "192.0.2.1:")`},
		{in: "0.0.0.0:53", err: `must be a unicast address (got "0.0.0.0:53")`},
		{in: "[ff02::1]:53", err: `must be a unicast address (got "[ff02::1]:53")`},
		{in: "[fe80::1%eth0]:53", err: `must not have an IPv6 zone (got "[fe80::1%eth0]:53")`},
		{in: "", err: `must be ip:port or an IP address (got "")`},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseNotifyTarget(tc.in)
			switch {
			case tc.err != "" && (err == nil || err.Error() != tc.err):
				t.Errorf("error %v, want %s", err, tc.err)
			case tc.err == "" && err != nil:
				t.Errorf("error %v", err)
			case tc.err == "" && got.String() != tc.want:
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
}

// FuzzParseNotifyTarget: any text is refused or parsed to a unicast
// address with a port, which parses back to itself.
//
//	go test -run=^$ -fuzz=FuzzParseNotifyTarget -fuzztime=1m ./dnsserver/
func FuzzParseNotifyTarget(f *testing.F) {
	for _, s := range []string{"192.0.2.1:53", "192.0.2.1", "[2001:db8::1]:5353", "2001:db8::1", "[::ffff:192.0.2.1]:53",
		"ns2.example.com:53", "192.0.2.1:0", "0.0.0.0:53", "[fe80::1%eth0]:53", "[::1]", ":53", "1.2.3.4:+53", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		ap, err := ParseNotifyTarget(s)
		if err != nil {
			if !strings.Contains(err.Error(), strconv.Quote(s)) {
				t.Errorf("error %q does not quote the input", err)
			}
			return
		}
		a := ap.Addr()
		if !a.IsValid() || ap.Port() == 0 || a.Zone() != "" || a.IsUnspecified() || a.IsMulticast() || a.Is4In6() {
			t.Fatalf("%q parsed to %s", s, ap)
		}
		if back, err := ParseNotifyTarget(ap.String()); err != nil || back != ap {
			t.Fatalf("%q parsed to %s, which parses to %s, %v", s, ap, back, err)
		}
	})
}

// secondary is a loopback UDP endpoint that takes NOTIFY messages the way
// a secondary does and answers them as answer says (rcode, or no answer
// when ok is false), for the n-th message it gets (from 1).
type secondary struct {
	t      *testing.T
	conn   *net.UDPConn
	answer func(n int, m *dns.Msg) (rcode int, ok bool)

	mu   sync.Mutex
	got  []*dns.Msg
	from []netip.AddrPort
	seen chan struct{}
}

func newSecondary(t *testing.T, ip string, answer func(int, *dns.Msg) (int, bool)) *secondary {
	t.Helper()
	registerGSLB() // before unpacking, as New does
	c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(ip), 0)))
	if err != nil {
		t.Fatal(err)
	}
	sec := &secondary{t: t, conn: c, answer: answer, seen: make(chan struct{}, 64)}
	done := make(chan struct{})
	t.Cleanup(func() { c.Close(); <-done })
	go func() {
		defer close(done)
		buf := make([]byte, dns.MaxMsgSize)
		for {
			n, from, err := c.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			m := new(dns.Msg)
			if err := m.Unpack(buf[:n]); err != nil {
				t.Errorf("secondary: unpack: %v", err)
				continue
			}
			sec.mu.Lock()
			sec.got = append(sec.got, m)
			sec.from = append(sec.from, from)
			k := len(sec.got)
			sec.mu.Unlock()
			q := m.Copy() // answer may change it
			if rc, ok := sec.answer(k, q); ok {
				r := new(dns.Msg)
				r.SetRcode(q, rc)
				r.Answer = nil
				out, _ := r.Pack()
				_, _ = c.WriteToUDPAddrPort(out, from)
			}
			sec.seen <- struct{}{}
		}
	}()
	return sec
}

func (s *secondary) addr() netip.AddrPort { return s.conn.LocalAddr().(*net.UDPAddr).AddrPort() }

func (s *secondary) messages() ([]*dns.Msg, []netip.AddrPort) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*dns.Msg(nil), s.got...), append([]netip.AddrPort(nil), s.from...)
}

// notifyZone is a small zone with the serial given.
func notifyZone(t *testing.T, origin string, serial uint32) *Zone {
	t.Helper()
	text := fmt.Sprintf("$ORIGIN %s\n@ 300 IN SOA ns1 hostmaster %d 7200 3600 1209600 300\n@ 300 IN NS ns1\nns1 300 IN A 192.0.2.53\n", origin, serial)
	z, err := ParseZone(strings.NewReader(text), origin, origin+"zone")
	if err != nil {
		t.Fatal(err)
	}
	return z
}

func zonesOf(t *testing.T, zs ...*Zone) *Zones {
	t.Helper()
	out, err := NewZones(zs...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// notifyServer serves on 127.77.70.1 and notifies the addresses given,
// with every wait between tries cut to wait.
func notifyServer(t *testing.T, wait time.Duration, targets ...netip.AddrPort) *Server {
	t.Helper()
	cfg := testConfig()
	cfg.Listen = []string{"127.77.70.1:0"}
	cfg.UDPSockets = 1
	cfg.Notify = targets
	s := New(cfg)
	s.notify.waits = slices.Repeat([]time.Duration{wait}, len(notifyWaits))
	runServer(t, s)
	return s
}

// runServer opens s's sockets and serves until the test ends.
func runServer(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(t.Context()) }()
	t.Cleanup(func() {
		// t.Context is cancelled before cleanups run: Serve is returning.
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
}

// TestNotify: a publish that adds a zone or changes its serial sends a
// NOTIFY (RFC 1996 §3.7: opcode NOTIFY, AA, the SOA question, the new SOA
// in the answer) from the server's address to each secondary, again with
// a wait until one answers, at most len(notifyWaits) times, and counts how it
// ended.
func TestNotify(t *testing.T) {
	const wait = 150 * time.Millisecond // long enough for an answer under load, so no try is extra
	tries := len(notifyWaits)
	tests := []struct {
		name   string
		answer func(n int, m *dns.Msg) (int, bool)
		// sent is how many messages the secondary gets; result how it is counted.
		sent   int
		result string
	}{
		{"answered at once", func(int, *dns.Msg) (int, bool) { return dns.RcodeSuccess, true }, 1, notifyOK},
		{"answered at the third try", func(n int, _ *dns.Msg) (int, bool) { return dns.RcodeSuccess, n >= 3 }, 3, notifyOK},
		{"never answered", func(int, *dns.Msg) (int, bool) { return 0, false }, tries, notifyTimeout},
		{"refused: not tried again", func(int, *dns.Msg) (int, bool) { return dns.RcodeRefused, true }, 1, notifyRejected},
		{"answer with another id: ignored", func(n int, m *dns.Msg) (int, bool) {
			m.Id++ // the reply echoes it
			return dns.RcodeSuccess, true
		}, tries, notifyTimeout},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sec := newSecondary(t, fmt.Sprintf("127.77.70.%d", 10+i), tc.answer)
			s := notifyServer(t, wait, sec.addr())
			s.SetZones(zonesOf(t, notifyZone(t, "n.test.", 7)))
			result := s.metrics.notify.WithLabelValues("n.test.", tc.result)
			if err := poll(t, 5*time.Second, func() error {
				if v := testutil.ToFloat64(result); v != 1 {
					return fmt.Errorf("aya_dns_notify_total{result=%q} is %v, want 1", tc.result, v)
				}
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(3 * wait) // nothing more may come
			got, from := sec.messages()
			if len(got) != tc.sent {
				t.Errorf("secondary got %d messages, want %d", len(got), tc.sent)
			}
			for j, m := range got {
				checkNotify(t, m, "n.test.", 7)
				if from[j].Addr() != netip.MustParseAddr("127.77.70.1") {
					t.Errorf("notify came from %s, want the server's address 127.77.70.1", from[j])
				}
				if m.Id != got[0].Id {
					t.Errorf("try %d has id %d, the first %d: tries of one notification share it", j+1, m.Id, got[0].Id)
				}
			}
		})
	}
}

func checkNotify(t *testing.T, m *dns.Msg, zone string, serial uint32) {
	t.Helper()
	if m.Opcode != dns.OpcodeNotify || !m.Authoritative || m.Response {
		t.Errorf("opcode %s AA %v QR %v, want NOTIFY, AA, a query", dns.OpcodeToString[m.Opcode], m.Authoritative, m.Response)
	}
	if len(m.Question) != 1 || m.Question[0] != (dns.Question{Name: zone, Qtype: dns.TypeSOA, Qclass: dns.ClassINET}) {
		t.Errorf("question %v, want %s IN SOA", m.Question, zone)
	}
	if len(m.Answer) != 1 {
		t.Fatalf("answer %v, want the SOA", m.Answer)
	}
	if soa, ok := m.Answer[0].(*dns.SOA); !ok || soa.Serial != serial || soa.Hdr.Name != zone {
		t.Errorf("answer %v, want the SOA of %s with serial %d", m.Answer[0], zone, serial)
	}
}

// TestNotifyPublishes: which publishes notify, and whom. A zone added or
// with a new serial is notified, an unchanged one is not; a newer serial
// replaces a notification still unanswered (the latest wins); Publish and
// Configure set the secondaries, each notified once however often listed.
func TestNotifyPublishes(t *testing.T) {
	const wait = 150 * time.Millisecond
	var (
		mu     sync.Mutex
		silent = true // the secondary does not answer until told
	)
	sec := newSecondary(t, "127.77.70.20", func(int, *dns.Msg) (int, bool) {
		mu.Lock()
		defer mu.Unlock()
		return dns.RcodeSuccess, !silent
	})
	s := notifyServer(t, wait, sec.addr())
	metric := func(zone, result string) float64 {
		return testutil.ToFloat64(s.metrics.notify.WithLabelValues(zone, result))
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		if err := poll(t, 5*time.Second, func() error {
			if !cond() {
				return errors.New(what)
			}
			return nil
		}); err != nil {
			t.Fatal(err)
		}
	}

	a1, b1 := notifyZone(t, "a.test.", 1), notifyZone(t, "b.test.", 1)
	s.SetZones(zonesOf(t, a1))
	waitFor("a first notify of a.test.", func() bool { got, _ := sec.messages(); return len(got) >= 1 })
	// Serial 2 while serial 1 is unanswered: 1 is superseded.
	s.SetZones(zonesOf(t, notifyZone(t, "a.test.", 2)))
	mu.Lock()
	silent = false
	mu.Unlock()
	waitFor("a.test. acknowledged", func() bool { return metric("a.test.", notifyOK) == 1 })
	if v := metric("a.test.", notifySuperseded); v != 1 {
		t.Errorf("superseded %v, want 1", v)
	}
	got, _ := sec.messages()
	last := got[len(got)-1]
	checkNotify(t, last, "a.test.", 2)
	n := len(got)

	// The same serial again, and a new zone beside it: only the new zone.
	s.SetZones(zonesOf(t, notifyZone(t, "a.test.", 2), b1))
	waitFor("b.test. acknowledged", func() bool { return metric("b.test.", notifyOK) == 1 })
	time.Sleep(3 * wait)
	got, _ = sec.messages()
	if len(got) != n+1 {
		t.Fatalf("%d more messages, want 1 (b.test. only):\n%v", len(got)-n, got[n:])
	}
	checkNotify(t, got[n], "b.test.", 1)

	// Publish with another configuration: serial 3 of a.test. goes to the
	// secondary of the new list only.
	sec2 := newSecondary(t, "127.77.70.21", func(int, *dns.Msg) (int, bool) { return dns.RcodeSuccess, true })
	cfg := testConfig()
	cfg.Notify = []netip.AddrPort{sec2.addr(), sec2.addr()} // listed twice, notified once
	if err := s.Publish(zonesOf(t, notifyZone(t, "a.test.", 3), b1), cfg); err != nil {
		t.Fatal(err)
	}
	waitFor("a.test. serial 3 acknowledged", func() bool { return metric("a.test.", notifyOK) == 2 })
	time.Sleep(3 * wait)
	got2, _ := sec2.messages()
	if len(got2) != 1 {
		t.Fatalf("second secondary got %d messages, want 1", len(got2))
	}
	checkNotify(t, got2[0], "a.test.", 3)
	if got, _ := sec.messages(); len(got) != n+1 {
		t.Errorf("the secondary no longer listed got %d more messages", len(got)-n-1)
	}

	// A reload (Configure) lists the first secondary again: serial 4 of
	// a.test., published with SetZones, goes to it alone.
	cfg.Notify = []netip.AddrPort{sec.addr()}
	if err := s.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	s.SetZones(zonesOf(t, notifyZone(t, "a.test.", 4), b1))
	waitFor("a.test. serial 4 acknowledged", func() bool { return metric("a.test.", notifyOK) == 3 })
	time.Sleep(3 * wait)
	got, _ = sec.messages()
	if len(got) != n+2 {
		t.Fatalf("the secondary listed again got %d more messages, want 1", len(got)-n-1)
	}
	checkNotify(t, got[n+1], "a.test.", 4)
	if got2, _ := sec2.messages(); len(got2) != 1 {
		t.Errorf("the secondary no longer listed got %d more messages", len(got2)-1)
	}
}

// TestNotifyBeforeServe: a server whose Serve returns sends nothing more, and a
// publish before Serve is notified once it runs.
func TestNotifyBeforeServe(t *testing.T) {
	sec := newSecondary(t, "127.77.70.22", func(int, *dns.Msg) (int, bool) { return dns.RcodeSuccess, true })
	cfg := testConfig()
	cfg.Listen = []string{"127.77.70.1:0"}
	cfg.UDPSockets = 1
	cfg.Notify = []netip.AddrPort{sec.addr()}
	s := New(cfg)
	s.SetZones(zonesOf(t, notifyZone(t, "early.test.", 5)))
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	if err := poll(t, 5*time.Second, func() error {
		if v := testutil.ToFloat64(s.metrics.notify.WithLabelValues("early.test.", notifyOK)); v != 1 {
			return fmt.Errorf("ok %v, want 1", v)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s.SetZones(zonesOf(t, notifyZone(t, "early.test.", 6)))
	time.Sleep(100 * time.Millisecond)
	if got, _ := sec.messages(); len(got) != 1 {
		t.Errorf("secondary got %d messages, want 1 (none after Serve returned)", len(got))
	}
}
