package dnsserver

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func hexString(b []byte) string { return hex.EncodeToString(b) }

func unhex(tb testing.TB, s string) []byte {
	tb.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// TestRFC9018Vectors makes the server cookies of RFC 9018 appendix A: A.1
// a new cookie, A.2 the same client's renewed one, A.3 another client's
// (whose query had the reserved octets set), A.4 an IPv6 client's after
// the secret rolled over.
func TestRFC9018Vectors(t *testing.T) {
	for _, tc := range []struct {
		name, secret, client string
		ip                   string
		ts                   uint32
		want                 string // the server cookie
	}{
		{"A.1 learning a new server cookie", "e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "198.51.100.100", 1559731985,
			"010000005cf79f111f8130c3eee29480"},
		{"A.2 the same client learning a renewed cookie", "e5e973e5a6b2a43f48e7dc849e37bfcf", "2464c4abcf10c957", "198.51.100.100", 1559734385,
			"010000005cf7a871d4a564a1442aca77"},
		{"A.3 another client learning a renewed cookie", "e5e973e5a6b2a43f48e7dc849e37bfcf", "fc93fc62807ddb86", "203.0.113.203", 1559734700,
			"010000005cf7a9acf73a7810aca2381e"},
		{"A.4 the cookie an IPv6 client had under the old secret", "dd3bdf9344b678b185a6f5cb60fca715", "22681ab97d52c298", "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741817,
			"010000005cf7c57926556bd0934c72f8"},
		{"A.4 an IPv6 client learning a cookie of the new secret", "445536bcd2513298075a5d379663c962", "22681ab97d52c298", "2001:db8:220:1:59de:d0f4:8769:82b8", 1559741961,
			"010000005cf7c609a6bb79d16625507a"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := unhex(t, tc.secret)
			k := [2]uint64{binary.LittleEndian.Uint64(sec), binary.LittleEndian.Uint64(sec[8:])}
			sc := make([]byte, serverCookieLen)
			sc[0] = cookieVersion
			binary.BigEndian.PutUint32(sc[4:], tc.ts)
			binary.LittleEndian.PutUint64(sc[8:], cookieHash(k, unhex(t, tc.client), sc, netip.MustParseAddr(tc.ip)))
			if got := hex.EncodeToString(sc); got != tc.want {
				t.Errorf("server cookie %s, want %s", got, tc.want)
			}
		})
	}
}

// TestEpochKey pins the key derivation (HKDF-SHA256, salt cookieSalt,
// the epoch as info): every site and every version of aya must derive the
// same keys from a cluster secret, or the cookies of one are invalid at
// another.
func TestEpochKey(t *testing.T) {
	secret := []byte("a base secret of thirty-two byte")
	for _, tc := range []struct {
		epoch int64
		want  string
	}{
		{0, "77edd8a89a5a8d4ac6cdf36f8ea80654"},
		{433258, "06e9ba603ae6d2170cf4b4252ae4b50b"},
		{1 << 40, "2addd5a34c917b79a648db55ac4f446a"},
	} {
		k := epochKey(secret, tc.epoch)
		got := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(nil, k[0]), k[1])
		if hex.EncodeToString(got) != tc.want {
			t.Errorf("epoch %d: %x, want %s", tc.epoch, got, tc.want)
		}
	}
}

// TestCookieValidity checks the window of RFC 9018 §4.3 across epochs,
// secrets and addresses.
func TestCookieValidity(t *testing.T) {
	secret := []byte("the current secret, 32 bytes....")
	old := []byte("the previous secret, 32 bytes...")
	j := newCookieJar([][]byte{secret, old})
	oldJar := newCookieJar([][]byte{old})
	cc := unhex(t, "0102030405060708")
	ip := netip.MustParseAddr("192.0.2.7")
	const made = 1_700_000_000 - 1_700_000_000%cookieEpoch + cookieEpoch - 60 // a minute before an epoch ends
	sc := make([]byte, serverCookieLen)
	j.make(sc, cc, ip, made)
	oldSC := make([]byte, serverCookieLen)
	oldJar.make(oldSC, cc, ip, made)
	for _, tc := range []struct {
		name      string
		sc        []byte
		cc        []byte
		ip        netip.Addr
		now       int64
		ok, fresh bool
	}{
		{"at once", sc, cc, ip, made, true, true},
		{"next epoch, 29 min", sc, cc, ip, made + 29*60, true, true},
		{"31 min: valid, renewed", sc, cc, ip, made + 31*60, true, false},
		{"an hour", sc, cc, ip, made + 3600, true, false},
		{"an hour and a second", sc, cc, ip, made + 3601, false, false},
		{"5 min in the future", sc, cc, ip, made - 300, true, true},
		{"6 min in the future", sc, cc, ip, made - 360, false, false},
		{"other address", sc, cc, netip.MustParseAddr("192.0.2.8"), made, false, false},
		{"mapped address is the same", sc, cc, netip.MustParseAddr("::ffff:192.0.2.7"), made, true, true},
		{"other client cookie", sc, unhex(t, "0102030405060709"), ip, made, false, false},
		{"the previous secret", oldSC, cc, ip, made + 60, true, true},
		{"bad version", append([]byte{2}, sc[1:]...), cc, ip, made, false, false},
		{"reserved set", append([]byte{1, 0, 1}, sc[3:]...), cc, ip, made, false, false},
		{"short", sc[:12], cc, ip, made, false, false},
		{"long", append(append([]byte{}, sc...), 0), cc, ip, made, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, fresh := j.valid(tc.cc, tc.sc, tc.ip, tc.now)
			if ok != tc.ok || fresh != tc.fresh {
				t.Errorf("valid %v fresh %v, want %v %v", ok, fresh, tc.ok, tc.fresh)
			}
		})
	}
	// The cluster-wide property: another jar with the same secrets accepts it.
	if ok, _ := newCookieJar([][]byte{secret}).valid(cc, sc, ip, made+10); !ok {
		t.Error("a cookie is not valid at a site with the same secret")
	}
}

// TestCookieAnswer checks the reply cookie: a new one for a client cookie
// alone, the same one echoed while fresh, a new one once older than half an
// hour or when invalid.
func TestCookieAnswer(t *testing.T) {
	j := newCookieJar([][]byte{randomSecret()})
	cc := unhex(t, "a1a2a3a4a5a6a7a8")
	ip := netip.MustParseAddr("2001:db8::1")
	now := time.Now().Unix()
	var r cookieReply
	j.answer(&r, cc, ip, now)
	if r.n != 28 || r.valid || r.had || !bytes.Equal(r.opt[4:12], cc) || binary.BigEndian.Uint16(r.opt[:]) != optCookie {
		t.Fatalf("first reply %+v", r)
	}
	full := append([]byte{}, r.opt[4:r.n]...)
	var r2 cookieReply
	j.answer(&r2, full, ip, now+60)
	if !r2.valid || !bytes.Equal(r2.opt[4:r2.n], full) {
		t.Errorf("fresh cookie not echoed: %+v", r2)
	}
	j.answer(&r2, full, ip, now+1900)
	if !r2.valid || bytes.Equal(r2.opt[4:r2.n], full) || binary.BigEndian.Uint32(r2.opt[16:]) != uint32(now+1900) {
		t.Errorf("cookie of 31 min not renewed: %+v", r2)
	}
	bad := append([]byte{}, full...)
	bad[len(bad)-1] ^= 1
	j.answer(&r2, bad, ip, now)
	if r2.valid || !r2.had || r2.state() != cookieInvalid {
		t.Errorf("bad cookie: %+v", r2)
	}
}

// TestCookieSecretFile checks the generated base secret: created 0600,
// read back by the next server, refused when the wrong size.
func TestCookieSecretFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", CookieSecretFile)
	a, err := loadCookieSecret(path)
	if err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || len(a) != cookieSecretLen {
		t.Errorf("mode %v, %d bytes", fi.Mode().Perm(), len(a))
	}
	b, err := loadCookieSecret(path)
	if err != nil || !bytes.Equal(a, b) {
		t.Errorf("second load: %x %v, want %x", b, err, a)
	}
	if err := os.WriteFile(path, []byte("short"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := loadCookieSecret(path); err == nil {
		t.Error("a secret of 5 bytes was accepted")
	}
}

// TestCookiesOverUDP runs a client through a real server: learn a cookie,
// use it, keep it across a restart with the same secret file, and query for
// a cookie with no question (RFC 7873 §5.4).
func TestCookiesOverUDP(t *testing.T) {
	file := filepath.Join(t.TempDir(), CookieSecretFile)
	cfg := testConfig()
	cfg.Cookies.SecretFile = file
	s1, addr1 := testServer(t, cfg, testZones)
	cc := unhex(t, "0011223344556677")
	ask := func(addr string, cookie []byte, question bool) (*dns.Msg, []byte) {
		t.Helper()
		m := new(dns.Msg)
		if question {
			m.SetQuestion("www.gslb.example.com.", dns.TypeA)
		} else {
			m.Id = dns.Id()
		}
		m.SetEdns0(1232, false)
		o := m.IsEdns0()
		o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hexString(cookie)})
		r, err := dns.Exchange(m, addr)
		if err != nil {
			t.Fatal(err)
		}
		for _, op := range r.IsEdns0().Option {
			if ck, ok := op.(*dns.EDNS0_COOKIE); ok {
				return r, unhex(t, ck.Cookie)
			}
		}
		t.Fatalf("no cookie in reply %v", r)
		return nil, nil
	}
	r, got := ask(addr1, cc, true)
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || len(got) != 24 || !bytes.Equal(got[:8], cc) {
		t.Fatalf("reply %v cookie %x", r, got)
	}
	if _, again := ask(addr1, got, true); !bytes.Equal(again, got) {
		t.Errorf("a fresh valid cookie came back as %x, want %x echoed", again, got)
	}
	if v := testutil.ToFloat64(s1.metrics.cookies[cookieValid]); v != 1 {
		t.Errorf("aya_dns_cookies_total{state=valid} %v, want 1", v)
	}
	// RFC 7873 §5.4: no question, a client cookie alone → NOERROR and a cookie.
	r, _ = ask(addr1, cc, false)
	if r.Rcode != dns.RcodeSuccess || len(r.Question) != 0 {
		t.Errorf("cookie query with no question: %v", r)
	}
	// A second server with the same secret file accepts the cookie.
	_, addr2 := testServer(t, cfg, testZones)
	if _, again := ask(addr2, got, true); !bytes.Equal(again, got) {
		t.Errorf("after a restart, the cookie came back as %x, want %x", again, got)
	}
	// Cookies off: no cookie in the reply.
	off := testConfig()
	off.Cookies.Disabled = true
	_, addr3 := testServer(t, off, testZones)
	m := new(dns.Msg)
	m.SetQuestion("www.gslb.example.com.", dns.TypeA)
	m.SetEdns0(1232, false)
	m.IsEdns0().Option = append(m.IsEdns0().Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hexString(cc)})
	r, err := dns.Exchange(m, addr3)
	if err != nil {
		t.Fatal(err)
	}
	if o := r.IsEdns0(); o == nil || len(o.Option) != 0 {
		t.Errorf("cookies off: reply OPT %v", o)
	}
}

// TestCookieFastMatchesGeneral holds the fast path's cookie replies to the
// general path's, byte for byte, over names of every fast kind.
func TestCookieFastMatchesGeneral(t *testing.T) {
	s, v := offline(t, gslbConfig(t), "testdata/gslb")
	s2, v2 := offline(t, testConfig(), testZones)
	sc := make([]byte, serverCookieLen)
	cc := unhex(t, "0102030405060708")
	src := netip.MustParseAddr("192.0.2.1")
	v.opts.cookies.make(sc, cc, src, testNow.Unix())
	for _, tc := range []struct {
		s    *Server
		v    *view
		name string
		t    uint16
		ecs  bool
	}{
		{s2, v2, "www.gslb.example.com.", dns.TypeA, false},
		{s2, v2, "gslb.example.com.", dns.TypeMX, false},
		{s2, v2, "www.gslb.example.com.", dns.TypeMX, false}, // NODATA
		{s, v, "www.gslb.test.", dns.TypeA, false},           // steered
		{s, v, "www.gslb.test.", dns.TypeAAAA, true},         // steered, with ECS
	} {
		for _, cookie := range [][]byte{cc, append(append([]byte{}, cc...), sc...)} {
			if tc.s == s2 {
				tc.v.opts.cookies = v.opts.cookies // the same secret
			}
			req := packQuery(t, tc.name, tc.t, func(m *dns.Msg) {
				m.SetEdns0(1232, false)
				o := m.IsEdns0()
				if tc.ecs {
					o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: 24, Address: netip.MustParseAddr("81.2.69.0").AsSlice()})
				}
				o.Option = append(o.Option, &dns.EDNS0_COOKIE{Code: dns.EDNS0COOKIE, Cookie: hexString(cookie)})
			})
			qf := qstate{now: testNow}
			got, ok := tc.s.fastAnswer(tc.v, req, udp, src, nil, &qf)
			if !ok {
				t.Fatalf("%s %s: not on the fast path", tc.name, dns.TypeToString[tc.t])
			}
			qg := qstate{now: testNow}
			want, _ := tc.s.generalAnswer(tc.v, req, udp, src, nil, nil, &qg)
			if !bytes.Equal(got, want) {
				t.Errorf("%s %s cookie %x: fast and general differ\nfast    %x\ngeneral %x\n%v\n%v", tc.name, dns.TypeToString[tc.t], cookie, got, want, unpack(got), unpack(want))
			}
			if qf.cookie.valid != (len(cookie) > 8) || qf.cookie.valid != qg.cookie.valid || qf.kind != qg.kind {
				t.Errorf("%s: cookie valid %v/%v, kind %v/%v", tc.name, qf.cookie.valid, qg.cookie.valid, qf.kind, qg.kind)
			}
		}
	}
}

// BenchmarkCookie is the cost of the cookie of one query: making a server
// cookie for a client cookie alone, and checking (and echoing) a valid one.
//
//	go test -run=^$ -bench=BenchmarkCookie -benchmem ./dnsserver/
func BenchmarkCookie(b *testing.B) {
	j := newCookieJar([][]byte{randomSecret()})
	ip := netip.MustParseAddr("192.0.2.1")
	now := time.Now().Unix()
	cc := []byte{1, 2, 3, 4, 5, 6, 7, 8}
	var r cookieReply
	j.answer(&r, cc, ip, now)
	full := append([]byte{}, r.opt[4:r.n]...)
	for _, bc := range []struct {
		name string
		c    []byte
	}{{"client only", cc}, {"valid server cookie", full}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				j.answer(&r, bc.c, ip, now)
			}
		})
	}
}
