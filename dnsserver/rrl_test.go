package dnsserver

import (
	"encoding/binary"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// testRRL is a small, fast limiter for tests: 10 responses a second, a
// window of 1 s, slip 2.
func testRRL() *RRLConfig {
	c := DefaultRRL()
	c.ResponsesPerSecond = 10
	c.Window = time.Second
	c.TableSize = 1024
	c.Exempt = nil // the tests send from loopback
	return &c
}

func TestRRLDebit(t *testing.T) {
	type step struct {
		sec  int64
		seq  []rrlAction // the actions of responses at sec, then
		n    int         // n more responses
		want rrlAction   // with this action
	}
	S, D, T := rrlSend, rrlDrop, rrlSlip
	for _, tc := range []struct {
		name               string
		rate, window, slip int
		steps              []step
	}{
		{name: "credit then slip every second", rate: 3, window: 2, slip: 2, steps: []step{
			{sec: 0, seq: []rrlAction{S, S, S, T, D, T, D, T}},
		}},
		{name: "slip 0 drops all", rate: 2, window: 2, slip: 0, steps: []step{
			{sec: 0, seq: []rrlAction{S, S, D, D, D}},
		}},
		{name: "slip 1 slips all", rate: 1, window: 2, slip: 1, steps: []step{
			{sec: 0, seq: []rrlAction{S, T, T, T}},
		}},
		{name: "slip 3", rate: 1, window: 1, slip: 3, steps: []step{
			{sec: 0, seq: []rrlAction{S, T, D, D, T, D, D, T}},
		}},
		{name: "credit per second, capped at the rate", rate: 2, window: 5, slip: 0, steps: []step{
			{sec: 0, n: 2, want: S},
			{sec: 1, n: 2, want: S},
			{sec: 1, n: 1, want: D},
			// 10 s later: a fresh account, whatever the debt: only 2.
			{sec: 11, seq: []rrlAction{S, S, D}},
		}},
		{name: "debt is paid back before sending", rate: 2, window: 3, slip: 0, steps: []step{
			{sec: 0, n: 2, want: S},
			{sec: 0, n: 10, want: D},         // balance down to the floor, -6
			{sec: 1, n: 1, want: D},          // -6+2-1 = -5
			{sec: 2, n: 1, want: D},          // -5+2-1 = -4
			{sec: 3, n: 1, want: D},          // -4+2-1 = -3
			{sec: 5, seq: []rrlAction{S, D}}, // -3+4 = 1, then 0
		}},
		{name: "quiet past the window starts afresh", rate: 2, window: 2, slip: 0, steps: []step{
			{sec: 0, seq: []rrlAction{S, S}, n: 50, want: D},
			{sec: 3, seq: []rrlAction{S, S, D}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := RRLConfig{Enabled: true, ResponsesPerSecond: tc.rate, Window: time.Duration(tc.window) * time.Second,
				Slip: tc.slip, IPv4Prefix: 24, IPv6Prefix: 56, TableSize: 16}
			l := newRRL(cfg, newRRLTable(16, time.Now()))
			for _, st := range tc.steps {
				seq := st.seq
				for range st.n {
					seq = append(seq, st.want)
				}
				for i, want := range seq {
					if got, _ := l.debit(0xabcd<<48|6, st.sec); got != want {
						t.Fatalf("second %d, response %d: got %d, want %d", st.sec, i, got, want)
					}
				}
			}
		})
	}
}

// TestRRLStart checks that limiting starts once per series.
func TestRRLStart(t *testing.T) {
	l := newRRL(RRLConfig{Enabled: true, ResponsesPerSecond: 2, Window: time.Second, Slip: 2, IPv4Prefix: 24, IPv6Prefix: 56}, newRRLTable(8, time.Now()))
	starts := 0
	for sec := range int64(3) {
		for range 5 {
			if _, start := l.debit(42<<48|2, sec*2); start {
				starts++
			}
		}
	}
	if starts != 3 {
		t.Errorf("%d starts over 3 separate floods, want 3", starts)
	}
}

// TestRRLClasses checks what is one account: the prefix, the kind and the
// name (not for errors).
func TestRRLClasses(t *testing.T) {
	l := newRRL(*testRRL(), newRRLTable(1024, time.Now()))
	var a, b [1 + 16 + 255]byte
	www := []byte("\x03www\x07example\x00")
	api := []byte("\x03api\x07example\x00")
	ip := netip.MustParseAddr
	for _, tc := range []struct {
		name   string
		src1   netip.Addr
		kind1  rrlKind
		name1  []byte
		src2   netip.Addr
		kind2  rrlKind
		name2  []byte
		shared bool
	}{
		{"same /24", ip("192.0.2.1"), rrlAnswer, www, ip("192.0.2.200"), rrlAnswer, www, true},
		{"other /24", ip("192.0.2.1"), rrlAnswer, www, ip("192.0.3.1"), rrlAnswer, www, false},
		{"mapped v4 is v4", ip("192.0.2.1"), rrlAnswer, www, ip("::ffff:192.0.2.9"), rrlAnswer, www, true},
		{"same /56", ip("2001:db8:0:100::1"), rrlAnswer, www, ip("2001:db8:0:1ff::2"), rrlAnswer, www, true},
		{"other /56", ip("2001:db8:0:100::1"), rrlAnswer, www, ip("2001:db8:0:200::1"), rrlAnswer, www, false},
		{"other name", ip("192.0.2.1"), rrlAnswer, www, ip("192.0.2.1"), rrlAnswer, api, false},
		{"other kind", ip("192.0.2.1"), rrlAnswer, www, ip("192.0.2.1"), rrlNoData, www, false},
		{"errors ignore the name", ip("192.0.2.1"), rrlError, www, ip("192.0.2.1"), rrlError, api, true},
		{"v4 and v6 differ", ip("0.0.0.1"), rrlAnswer, www, ip("::1"), rrlAnswer, www, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k1 := string(l.classKey(&a, tc.src1, tc.kind1, tc.name1))
			k2 := string(l.classKey(&b, tc.src2, tc.kind2, tc.name2))
			if (k1 == k2) != tc.shared {
				t.Errorf("keys %x and %x: shared %v, want %v", k1, k2, k1 == k2, tc.shared)
			}
		})
	}
}

func TestRRLConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		mod  func(*RRLConfig)
		want string
	}{
		{"default", func(*RRLConfig) {}, ""},
		{"off ignores the rest", func(c *RRLConfig) { *c = RRLConfig{} }, ""},
		{"rate 0", func(c *RRLConfig) { c.ResponsesPerSecond = 0 }, "responses_per_second: must be 1-1000000 (got 0)"},
		{"window fraction", func(c *RRLConfig) { c.Window = 1500 * time.Millisecond }, "window: must be whole seconds from 1s to 1h (got 1.5s)"},
		{"slip 11", func(c *RRLConfig) { c.Slip = 11 }, "slip: must be 0-10 (got 11)"},
		{"v4 33", func(c *RRLConfig) { c.IPv4Prefix = 33 }, "ipv4_prefix: must be 8-32 (got 33)"},
		{"v6 8", func(c *RRLConfig) { c.IPv6Prefix = 8 }, "ipv6_prefix: must be 16-128 (got 8)"},
		{"table 1", func(c *RRLConfig) { c.TableSize = 1 }, "table_size: must be 2-67108864 (got 1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultRRL()
			tc.mod(&c)
			err := c.Validate()
			if got := errString(err); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSlipReply(t *testing.T) {
	s, v := offline(t, testConfig(), testZones)
	for _, q := range []struct {
		name  string
		qtype uint16
	}{{"gslb.example.com.", dns.TypeMX}, {"nope.gslb.example.com.", dns.TypeA}, {"x.apps.gslb.example.com.", dns.TypeTXT}} {
		req := packQuery(t, q.name, q.qtype, edns(1232, false))
		out, _ := s.handle(v, req, udp, netip.MustParseAddr("192.0.2.1"), nil)
		full := len(out)
		out = slipReply(out)
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatalf("%s: slipped reply does not unpack: %v", q.name, err)
		}
		if !m.Truncated || len(m.Answer)+len(m.Ns)+len(m.Extra) != 0 || len(m.Question) != 1 || m.Question[0].Name != q.name {
			t.Errorf("%s: slipped reply %v", q.name, m)
		}
		if want := headerLen + len(q.name) + 1 + 4; len(out) != want || len(out) >= full {
			t.Errorf("%s: slipped reply of %d octets (full %d), want %d", q.name, len(out), full, want)
		}
	}
	if got := slipReply([]byte{1, 2}); len(got) != 2 {
		t.Errorf("short input changed: %x", got)
	}
}

// FuzzRRL drives the limiter with a sequence of responses in classes that
// never share a bucket (each byte: class, and seconds to advance), and
// checks the ISC bounds: no class is sent more than rate responses within
// one second, nor more than rate × (seconds + 1) over the run; every bucket
// keeps a balance within [floor, rate); and a class quiet for longer than
// the window is sent its next response. A second table, of 4 buckets, takes
// arbitrary hashes and must keep its balances in bounds.
//
//	go test -run=^$ -fuzz=FuzzRRL -fuzztime=45s ./dnsserver/
func FuzzRRL(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 0}, uint8(3), uint8(2), uint8(2))
	f.Add([]byte{1, 0x11, 2, 0x31, 1, 1, 1, 1, 0xf0, 3}, uint8(1), uint8(1), uint8(0))
	f.Add([]byte("the quick brown fox jumps over the lazy dog"), uint8(5), uint8(15), uint8(1))
	f.Fuzz(func(t *testing.T, ops []byte, rate, window, slip uint8) {
		if len(ops) > 4096 {
			ops = ops[:4096]
		}
		cfg := RRLConfig{Enabled: true, ResponsesPerSecond: int(rate%20) + 1, Window: time.Duration(window%10+1) * time.Second,
			Slip: int(slip % (MaxRRLSlip + 1)), IPv4Prefix: 24, IPv6Prefix: 56}
		const classes = 8
		l := newRRL(cfg, newRRLTable(2*classes, time.Now()))
		tiny := newRRL(cfg, newRRLTable(4, time.Now()))
		var sec int64
		var sentThisSec, sentTotal [classes]int64
		var first, last [classes]int64
		for i := range first {
			first[i], last[i] = -1, -1
		}
		for _, op := range ops {
			if adv := int64(op >> 5); adv > 0 {
				sec += adv * adv // 1, 4, 9, … 49 s: within and past the window
				sentThisSec = [classes]int64{}
			}
			c := int(op) % classes
			// Class c: set c (bits 1..), fingerprint c+1.
			h := uint64(c+1)<<bucketFPShift | uint64(2*c)
			act, _ := l.debit(h, sec)
			quiet := last[c] >= 0 && sec-last[c] > l.window
			if quiet && act != rrlSend {
				t.Fatalf("class %d quiet for %d s (window %d) was limited", c, sec-last[c], l.window)
			}
			if first[c] < 0 {
				first[c] = sec
			}
			last[c] = sec
			if quiet {
				first[c], sentTotal[c] = sec, 0
			}
			if act == rrlSend {
				sentThisSec[c]++
				sentTotal[c]++
			}
			if sentThisSec[c] > l.rate {
				t.Fatalf("class %d: %d responses sent in one second, rate %d", c, sentThisSec[c], l.rate)
			}
			if max := l.rate * (sec - first[c] + 1); sentTotal[c] > max {
				t.Fatalf("class %d: %d responses sent over %d s, at most %d", c, sentTotal[c], sec-first[c]+1, max)
			}
			if act == rrlSlip && cfg.Slip == 0 {
				t.Fatal("slipped with slip 0")
			}
			tiny.debit(binary.LittleEndian.Uint64([]byte{op, op * 7, op ^ 0x5a, 0, 0, 0, op * 13, op}), sec)
		}
		for _, tb := range []*rrl{l, tiny} {
			for i := range tb.table.buckets {
				b := tb.table.buckets[i].Load()
				if b == 0 {
					continue
				}
				_, s, _, bal := unpackBucket(b)
				if bal < tb.floor || bal >= tb.rate {
					t.Fatalf("bucket %d: balance %d outside [%d, %d)", i, bal, tb.floor, tb.rate)
				}
				if cfg.Slip > 0 && s >= uint32(cfg.Slip) {
					t.Fatalf("bucket %d: slip counter %d, slip %d", i, s, cfg.Slip)
				}
			}
		}
	})
}

// flood sends n queries for qname from the addresses srcs (port 0 each)
// to addr, cookie attached when not nil, and collects the replies for up
// to wait after the last send.
type floodResult struct {
	full, slipped int
	slipSizes     map[int]int
	elapsed       time.Duration
	cookies       [][]byte
}

func flood(t *testing.T, addr string, srcs []string, qname string, n int, cookie []byte) floodResult {
	t.Helper()
	dst := net.UDPAddrFromAddrPort(netip.MustParseAddrPort(addr))
	req := packQuery(t, qname, dns.TypeTXT, func(m *dns.Msg) {
		m.SetEdns0(1232, false)
		if cookie != nil {
			o := m.IsEdns0()
			o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hexString(cookie)})
		}
	})
	var (
		mu  sync.Mutex
		res = floodResult{slipSizes: map[int]int{}}
		wg  sync.WaitGroup
	)
	conns := make([]*net.UDPConn, len(srcs))
	for i, src := range srcs {
		c, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(src), 0)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		conns[i] = c
		wg.Go(func() {
			buf := make([]byte, 4096)
			for {
				_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
				k, err := c.Read(buf)
				if err != nil {
					return
				}
				m := new(dns.Msg)
				if err := m.Unpack(buf[:k]); err != nil {
					t.Errorf("reply does not unpack: %v", err)
					return
				}
				mu.Lock()
				// A slipped reply is truncated and holds no record; a full
				// one may be truncated too (the 1 KB TXT over 1232 octets).
				if m.Truncated && len(m.Answer)+len(m.Ns)+len(m.Extra) == 0 {
					res.slipped++
					res.slipSizes[k]++
				} else {
					res.full++
					if o := m.IsEdns0(); o != nil {
						for _, op := range o.Option {
							if ck, ok := op.(*dns.EDNS0_COOKIE); ok {
								res.cookies = append(res.cookies, unhex(t, ck.Cookie))
							}
						}
					}
				}
				mu.Unlock()
			}
		})
	}
	start := time.Now()
	for i := range n {
		binary.BigEndian.PutUint16(req, uint16(i))
		if _, err := conns[i%len(conns)].WriteToUDP(req, dst); err != nil {
			t.Fatal(err)
		}
		if i%64 == 63 {
			time.Sleep(time.Millisecond) // let the readers keep up: no loss in socket buffers
		}
	}
	res.elapsed = time.Since(start)
	wg.Wait()
	return res
}

func srcs(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strconv.Itoa(i+2)
	}
	return out
}

// rrlServer starts a server whose limiter is cfg, on loopback.
func rrlServer(t *testing.T, rrl *RRLConfig) (*Server, string) {
	t.Helper()
	cfg := testConfig()
	cfg.RRL = rrl
	return testServer(t, cfg, testZones)
}

// TestRRLFlood floods one name from 16 addresses of 127.77.30.0/24 (one
// spoofed source, as far as a /24 limiter sees): at most the rate plus one
// second's credit per second is answered in full, half of the rest is
// slipped (slip 2), slipped replies are header and question, and another
// /24 asking the same name meanwhile is answered in full.
func TestRRLFlood(t *testing.T) {
	s, addr := rrlServer(t, testRRL())
	const n = 400
	const qname = "large.big.test." // a ~1 KB TXT: the amplification of the attack
	r := flood(t, addr, srcs("127.77.30.", 16), qname, n, nil)
	secs := int(r.elapsed/time.Second) + 1
	maxFull := 10 * (secs + 1)
	t.Logf("%d queries in %v: %d full, %d slipped %v", n, r.elapsed, r.full, r.slipped, r.slipSizes)
	if r.full > maxFull || r.full < 10 {
		t.Errorf("%d full replies, want 10 to %d (rate 10, %d s)", r.full, maxFull, secs)
	}
	limited := n - r.full
	if r.slipped < limited/2-2 || r.slipped > limited/2+secs+2 {
		t.Errorf("%d slipped of %d limited, want about half", r.slipped, limited)
	}
	want := headerLen + len(qname) + 1 + 4
	for size := range r.slipSizes {
		if size != want {
			t.Errorf("slipped reply of %d octets, want %d (header and question)", size, want)
		}
	}
	if got := testutil.ToFloat64(s.metrics.rrl[rrlDrop]) + testutil.ToFloat64(s.metrics.rrl[rrlSlip]); int(got) != limited {
		t.Errorf("metrics count %v limited, want %d", got, limited)
	}
	if got := int(testutil.ToFloat64(s.metrics.rrl[rrlSlip])); got != r.slipped {
		t.Errorf("aya_dns_rrl_slipped_total %d, want %d", got, r.slipped)
	}
	// Another prefix is another account: all its answers are full.
	other := flood(t, addr, []string{"127.77.31.1"}, qname, 8, nil)
	if other.full != 8 {
		t.Errorf("another /24 got %d full replies of 8 (%d slipped)", other.full, other.slipped)
	}
}

// TestRRLCookieExempt checks that a client with a valid server cookie is
// never limited, while the same prefix without one is.
func TestRRLCookieExempt(t *testing.T) {
	_, addr := rrlServer(t, testRRL())
	first := flood(t, addr, []string{"127.77.30.40"}, "www.gslb.example.com.", 1, []byte{1, 2, 3, 4, 5, 6, 7, 8})
	if len(first.cookies) != 1 || len(first.cookies[0]) != clientCookieLen+serverCookieLen {
		t.Fatalf("no server cookie learned: %+v", first)
	}
	r := flood(t, addr, []string{"127.77.30.40"}, "www.gslb.example.com.", 100, first.cookies[0])
	if r.full != 100 {
		t.Errorf("with a valid cookie: %d full of 100, %d slipped", r.full, r.slipped)
	}
	// A cookie learnt by another address is not valid from this one.
	r = flood(t, addr, []string{"127.77.30.41"}, "www.gslb.example.com.", 100, first.cookies[0])
	if r.full > 20 {
		t.Errorf("with another address's cookie: %d full of 100, want limited", r.full)
	}
}

func TestRRLLogOnly(t *testing.T) {
	c := testRRL()
	c.LogOnly = true
	s, addr := rrlServer(t, c)
	r := flood(t, addr, srcs("127.77.30.", 4), "www.gslb.example.com.", 100, nil)
	if r.full != 100 {
		t.Errorf("log only: %d full of 100, %d slipped", r.full, r.slipped)
	}
	would := testutil.ToFloat64(s.metrics.rrlLogOnly[rrlDrop]) + testutil.ToFloat64(s.metrics.rrlLogOnly[rrlSlip])
	if would < 80 || testutil.ToFloat64(s.metrics.rrl[rrlDrop]) != 0 {
		t.Errorf("log only counted %v would-be limited (want at least 80) and %v dropped (want 0)", would, testutil.ToFloat64(s.metrics.rrl[rrlDrop]))
	}
	if got := testutil.ToFloat64(s.metrics.rrlMode.WithLabelValues("log_only")); got != 1 {
		t.Errorf("aya_dns_rrl_mode{mode=log_only} %v, want 1", got)
	}
}

func TestRRLExempt(t *testing.T) {
	c := testRRL()
	c.Exempt = []netip.Prefix{netip.MustParsePrefix("127.77.30.0/25")}
	_, addr := rrlServer(t, c)
	if r := flood(t, addr, srcs("127.77.30.", 4), "www.gslb.example.com.", 100, nil); r.full != 100 {
		t.Errorf("exempt: %d full of 100", r.full)
	}
	if r := flood(t, addr, []string{"127.77.30.200"}, "www.gslb.example.com.", 100, nil); r.full > 20 {
		t.Errorf("outside the exempt prefix: %d full of 100, want limited", r.full)
	}
}

// TestRRLTCPNotLimited: TCP cannot be spoofed, so it is never limited.
func TestRRLTCPNotLimited(t *testing.T) {
	_, addr := rrlServer(t, testRRL())
	c := &dns.Client{Net: "tcp", Timeout: 2 * time.Second}
	conn, err := c.Dial(addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for i := range 50 {
		m := new(dns.Msg)
		m.SetQuestion("www.gslb.example.com.", dns.TypeA)
		r, _, err := c.ExchangeWithConn(m, conn)
		if err != nil || r.Truncated || len(r.Answer) == 0 {
			t.Fatalf("tcp query %d: %v %v", i, r, err)
		}
	}
}

// BenchmarkRRLCheck is the cost of the limiter per response, over 4096
// client prefixes in credit:
//
//	go test -run=^$ -bench=BenchmarkRRL -benchmem ./dnsserver/
func BenchmarkRRLCheck(b *testing.B) {
	l := newRRL(DefaultRRL(), newRRLTable(DefaultRRLTableSize, time.Now()))
	name := []byte("\x03www\x04gslb\x07example\x03com\x00")
	var srcs [4096]netip.Addr
	for i := range srcs {
		srcs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
	}
	now := time.Now()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		l.check(srcs[i&4095], rrlAnswer, name, now)
		i++
	}
}

// BenchmarkAnswerProtected is BenchmarkAnswer with rate limiting and
// cookies on (the defaults), from 65536 client prefixes in turn, a second
// apart per round so that accounts stay in credit, without a cookie and with a valid one:
//
//	go test -run=^$ -bench=BenchmarkAnswerProtected -benchmem ./dnsserver/
func BenchmarkAnswerProtected(b *testing.B) {
	cfg := testConfig()
	cfg.RRL = nil // the default: on
	s, v := offline(b, cfg, testZones)
	var srcs [65536]netip.Addr
	for i := range srcs {
		srcs[i] = netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1})
	}
	now := time.Now()
	cc := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	for _, c := range answerCases {
		for _, withCookie := range []bool{false, true} {
			name := c.name
			if withCookie {
				name += "/cookie"
			}
			b.Run(name, func(b *testing.B) {
				buf := make([]byte, 0, 4096)
				reqs := make([][]byte, 1)
				reqs[0] = packQuery(b, c.qname, c.qtype, c.modify)
				if withCookie {
					// One valid cookie per source address would need 65536
					// queries; one source with a valid cookie is exempt
					// from the limiter, so the cost measured is the cookie's.
					var r cookieReply
					v.opts.cookies.answer(&r, cc, srcs[0], now.Unix())
					mod := c.modify
					if mod == nil {
						mod = func(*dns.Msg) {}
					}
					reqs[0] = packQuery(b, c.qname, c.qtype, all(mod, func(m *dns.Msg) {
						if m.IsEdns0() == nil {
							m.SetEdns0(1232, false)
						}
						o := m.IsEdns0()
						o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hexString(r.opt[4:r.n])})
					}))
				}
				b.ReportAllocs()
				i := 0
				at := now
				for b.Loop() {
					src := srcs[i&0xffff]
					if withCookie {
						src = srcs[0]
					} else if i&0xffff == 0xffff {
						// A second per round of the prefixes: each sends
						// one query a second, far below the default rate,
						// however long the benchmark runs.
						at = at.Add(time.Second)
					}
					out, _ := s.handleAt(v, reqs[0], udp, src, buf[:0], at)
					if len(out) == 0 {
						b.Fatal("no reply")
					}
					i++
				}
			})
		}
	}
}
