package dnsserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// testZones is the zones directory most tests serve: the example zone (plus
// a CNAME into other.test), other.test, cname.test and big.test.
const testZones = "testdata/zones"

// testNSID is the NSID of testConfig; miekg/dns presents it in hex.
const (
	testNSID    = "aya-test"
	testNSIDHex = "6179612d74657374"
)

// testConfig is the configuration of the table tests' server: NSID on,
// transfers allowed from loopback, the default 1232 octet UDP cap, and no
// rate limiting: those tests send more than its default rate from one
// address (rate limiting has its own, rrl_test.go).
func testConfig() Config {
	return Config{NSID: testNSID, TransferAllow: allowLoopback(), RRL: &RRLConfig{}}
}

func allowLoopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// testServer starts a real server on 127.0.0.1 (UDP and TCP, port 0) with
// the zones of dir, and returns it with its address. It stops with the test.
func testServer(t *testing.T, cfg Config, dir string) (*Server, string) {
	t.Helper()
	cfg.Listen = []string{"127.0.0.1:0"}
	if cfg.UDPSockets == 0 {
		cfg.UDPSockets = 2
	}
	s := New(cfg)
	if err := s.LoadZones(dir); err != nil {
		t.Fatalf("load zones: %v", err)
	}
	listenAndServe(t, s)
	udp, tcp := s.UDPAddrs()[0], s.TCPAddrs()[0]
	if udp.Port() != tcp.Port() {
		t.Fatalf("udp %v and tcp %v differ", udp, tcp)
	}
	return s, udp.String()
}

// listenAndServe opens s's sockets and serves until the test ends.
func listenAndServe(t *testing.T, s *Server) {
	t.Helper()
	if err := s.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
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

// offline returns a server with the zones of dir and no sockets, for tests
// that call its query path directly.
func offline(tb testing.TB, cfg Config, dir string) (*Server, *view) {
	tb.Helper()
	s := New(cfg)
	if err := s.LoadZones(dir); err != nil {
		tb.Fatalf("load zones: %v", err)
	}
	return s, s.view.Load()
}

// dnsCase is one query and the reply it must get: the shape of CoreDNS's
// test.Case, plus what the protocol rules need (transport, flags, EDNS, and
// raw changes to the packet for malformed queries).
type dnsCase struct {
	name  string
	rfc   string // the rule the row checks
	net   string // "udp" or "tcp"; empty runs the row over both
	qname string
	qtype uint16
	// modify changes the query (made with SetQuestion: RD=1, no EDNS)
	// before it is packed; wire changes the packed bytes. A row with wire
	// or noReply is sent on a raw connection instead of with dns.Client.
	modify func(*dns.Msg)
	wire   func([]byte) []byte
	// noReply: the server must drop the packet.
	noReply bool

	rcode             int
	aa, tc            bool
	answer, ns, extra []string // RRs in text form, in order; extra has no OPT
	opt               *wantOPT // nil: the reply must have no OPT
}

// wantOPT is the OPT record a reply must carry.
type wantOPT struct {
	udpSize uint16
	do      bool
	options []string // EDNS0 options as miekg/dns prints them
}

func (c dnsCase) nets() []string {
	if c.net != "" {
		return []string{c.net}
	}
	return []string{"udp", "tcp"}
}

// runCases runs every row over its transports against the server at addr.
func runCases(t *testing.T, addr string, cases []dnsCase) {
	t.Helper()
	for _, c := range cases {
		for _, nw := range c.nets() {
			t.Run(c.name+"/"+nw, func(t *testing.T) {
				t.Parallel()
				q := c.query()
				r := exchange(t, nw, addr, q, c.wire, c.noReply)
				if c.noReply {
					return
				}
				c.check(t, q, r)
			})
		}
	}
}

func (c dnsCase) query() *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(c.qname, c.qtype)
	if c.modify != nil {
		c.modify(m)
	}
	return m
}

// exchange sends q to addr over nw and returns the reply. With wire, the
// packed query is changed by it and sent on a raw connection. With noReply,
// it checks that no reply comes: a second, valid query follows on the same
// connection (and so the same server socket and goroutine), and the first
// reply read must be the answer to it.
func exchange(t *testing.T, nw, addr string, q *dns.Msg, wire func([]byte) []byte, noReply bool) *dns.Msg {
	t.Helper()
	if wire == nil && !noReply {
		// The client reads UDP replies into a buffer of the size the query
		// advertises (512 without EDNS): a longer reply fails to unpack.
		c := &dns.Client{Net: nw, Timeout: 2 * time.Second}
		r, _, err := c.Exchange(q, addr)
		if err != nil {
			t.Fatalf("exchange %v over %s: %v", q.Question, nw, err)
		}
		return r
	}
	pkt, err := q.Pack()
	if err != nil {
		t.Fatalf("pack: %v", err)
	}
	if wire != nil {
		pkt = wire(pkt)
	}
	co := dialRaw(t, nw, addr)
	if _, err := co.Write(pkt); err != nil {
		t.Fatalf("write: %v", err)
	}
	if noReply {
		sentinel := new(dns.Msg)
		sentinel.SetQuestion("www.gslb.example.com.", dns.TypeA)
		sentinel.Id = ^q.Id
		if err := co.WriteMsg(sentinel); err != nil {
			t.Fatalf("write: %v", err)
		}
		r, err := co.ReadMsg()
		if err != nil {
			t.Fatalf("read reply to the query after the dropped one: %v", err)
		}
		if r.Id != sentinel.Id {
			t.Fatalf("got a reply with id %d to a packet that must be dropped:\n%v", r.Id, r)
		}
		return nil
	}
	r, err := co.ReadMsg()
	if err != nil {
		t.Fatalf("read reply: %v", err)
	}
	if len(pkt) >= 2 && r.Id != binary.BigEndian.Uint16(pkt) {
		t.Fatalf("reply id %d, query id %d", r.Id, binary.BigEndian.Uint16(pkt))
	}
	return r
}

// dialRaw opens a DNS connection for hand-made packets; it closes with the
// test, and every read or write on it fails after 2 s.
func dialRaw(t *testing.T, nw, addr string) *dns.Conn {
	t.Helper()
	var d net.Dialer
	c, err := d.DialContext(t.Context(), nw, addr)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if err := c.SetDeadline(time.Now().Add(2 * time.Second)); err != nil {
		t.Fatal(err)
	}
	return &dns.Conn{Conn: c, UDPSize: dns.MaxMsgSize}
}

// check compares the reply r to q with the row, and the rules that hold for
// every reply: QR set, RA never set (no recursion), RD and opcode echoed,
// and the question echoed exactly, case included (RFC 1035 §7.3).
func (c dnsCase) check(t *testing.T, q, r *dns.Msg) {
	t.Helper()
	if !r.Response {
		t.Errorf("QR not set")
	}
	if r.RecursionAvailable {
		t.Errorf("RA set: we never recurse")
	}
	if r.RecursionDesired != q.RecursionDesired {
		t.Errorf("RD %v, query had %v", r.RecursionDesired, q.RecursionDesired)
	}
	if r.Opcode != q.Opcode {
		t.Errorf("opcode %s, query had %s", dns.OpcodeToString[r.Opcode], dns.OpcodeToString[q.Opcode])
	}
	if len(r.Question) > 0 && (len(q.Question) != 1 || r.Question[0] != q.Question[0]) {
		t.Errorf("question %v, query had %v", r.Question, q.Question)
	}
	if r.Rcode != c.rcode {
		t.Errorf("rcode %s, want %s", rcodeName(r.Rcode), rcodeName(c.rcode))
	}
	if r.Authoritative != c.aa {
		t.Errorf("AA %v, want %v", r.Authoritative, c.aa)
	}
	if r.Truncated != c.tc {
		t.Errorf("TC %v, want %v", r.Truncated, c.tc)
	}
	checkSection(t, "answer", r.Answer, c.answer)
	checkSection(t, "authority", r.Ns, c.ns)
	var extra []dns.RR
	for _, rr := range r.Extra {
		if rr.Header().Rrtype != dns.TypeOPT {
			extra = append(extra, rr)
		}
	}
	checkSection(t, "additional", extra, c.extra)
	checkOPT(t, r, c.opt)
	if t.Failed() {
		t.Logf("reply:\n%v", r)
	}
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rc)
}

// checkSection compares RRs with their text forms, in order.
func checkSection(t *testing.T, section string, got []dns.RR, want []string) {
	t.Helper()
	gotS := make([]string, len(got))
	for i, rr := range got {
		gotS[i] = rr.String()
	}
	wantS := make([]string, len(want))
	for i, s := range want {
		wantS[i] = rrString(t, s)
	}
	if !slices.Equal(gotS, wantS) {
		t.Errorf("%s section:\n got %q\nwant %q", section, gotS, wantS)
	}
}

// rrString is the text of an RR as miekg/dns prints it, so that rows can be
// written with any spacing.
func rrString(tb testing.TB, s string) string {
	tb.Helper()
	rr, err := dns.NewRR(s)
	if err != nil || rr == nil {
		tb.Fatalf("bad RR in test table %q: %v", s, err)
	}
	return rr.String()
}

func checkOPT(t *testing.T, r *dns.Msg, want *wantOPT) {
	t.Helper()
	var opts []*dns.OPT
	for _, rr := range r.Extra {
		if o, ok := rr.(*dns.OPT); ok {
			opts = append(opts, o)
		}
	}
	switch {
	case want == nil && len(opts) == 0:
		return
	case want == nil:
		t.Errorf("reply has an OPT, want none: %v", opts[0])
		return
	case len(opts) != 1:
		t.Errorf("reply has %d OPT records, want 1", len(opts))
		return
	}
	o := opts[0]
	if o.Version() != 0 {
		t.Errorf("OPT version %d, want 0", o.Version())
	}
	if o.UDPSize() != want.udpSize {
		t.Errorf("OPT UDP size %d, want %d", o.UDPSize(), want.udpSize)
	}
	if o.Do() != want.do {
		t.Errorf("OPT DO %v, want %v", o.Do(), want.do)
	}
	var got []string
	for _, e := range o.Option {
		got = append(got, e.String())
	}
	if !slices.Equal(got, want.options) {
		t.Errorf("OPT options %q, want %q", got, want.options)
	}
}

// Query modifiers for the tables.

// edns adds an OPT with the UDP size and DO bit.
func edns(size uint16, do bool) func(*dns.Msg) {
	return func(m *dns.Msg) { m.SetEdns0(size, do) }
}

// ednsWith adds an OPT of size 1232 with the options.
func ednsWith(opts ...dns.EDNS0) func(*dns.Msg) {
	return func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		o := m.IsEdns0()
		o.Option = append(o.Option, opts...)
	}
}

// ecsRaw is a client subnet option with hand-made contents (family, source
// prefix, scope, address octets), which miekg/dns would refuse to pack
// when they are malformed.
func ecsRaw(family uint16, source, scope uint8, addr ...byte) dns.EDNS0 {
	b := binary.BigEndian.AppendUint16(nil, family)
	b = append(b, source, scope)
	return &dns.EDNS0_LOCAL{Code: dns.EDNS0SUBNET, Data: append(b, addr...)}
}

func ecs(family uint16, source uint8, addr string) dns.EDNS0 {
	return &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: family, SourceNetmask: source, Address: net.ParseIP(addr)}
}

func all(fs ...func(*dns.Msg)) func(*dns.Msg) {
	return func(m *dns.Msg) {
		for _, f := range fs {
			f(m)
		}
	}
}

// poll calls f until it returns nil or the deadline passes, and returns its
// last error.
func poll(t *testing.T, within time.Duration, f func() error) error {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		err := f()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		select {
		case <-t.Context().Done():
			return errors.Join(err, t.Context().Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// readFile is os.ReadFile that fails the test.
func readFile(tb testing.TB, path string) []byte {
	tb.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// testNow is the time of the tests that compare the fast and the general
// path: the same for both, so that the cookies they make are the same.
var testNow = time.Now()
