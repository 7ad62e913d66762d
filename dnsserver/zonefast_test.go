package dnsserver

import (
	"bytes"
	"math/rand/v2"
	"net/netip"
	"reflect"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// miekgParse is what dns.ZoneParser makes of data for origin: the
// reference the fast parser is held to.
func miekgParse(data []byte, origin string) ([]dns.RR, error) {
	zp := dns.NewZoneParser(bytes.NewReader(data), origin, "z")
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rrs = append(rrs, rr)
	}
	return rrs, zp.Err()
}

// checkFast fails unless fastParse of data gives up or makes exactly the
// records dns.ZoneParser makes (same Go values, field by field); it
// returns whether the fast parser read the file.
func checkFast(t *testing.T, data []byte, origin string) bool {
	t.Helper()
	registerGSLB()
	got, _, ok := fastParse(data, origin, "z", 0)
	if !ok {
		return false
	}
	want, err := miekgParse(data, origin)
	if err != nil {
		t.Fatalf("fast parser read a file dns.ZoneParser refuses (%v):\n%s", err, data)
	}
	if len(got) != len(want) {
		t.Fatalf("fast parser made %d records, dns.ZoneParser %d:\n%s", len(got), len(want), data)
	}
	for i := range got {
		if !sameRR(got[i], want[i]) {
			t.Fatalf("record %d: fast %#v\nwant %#v\nin:\n%s", i, got[i], want[i], data)
		}
	}
	return true
}

// sameRR reports whether a and b are the same Go values, field by field;
// private records (GSLB), which hold a function, by header and text.
func sameRR(a, b dns.RR) bool {
	pa, ok1 := a.(*dns.PrivateRR)
	pb, ok2 := b.(*dns.PrivateRR)
	if ok1 && ok2 {
		return pa.Hdr == pb.Hdr && pa.String() == pb.String()
	}
	return reflect.DeepEqual(a, b)
}

// TestFastParse: the fast parser reads the common files itself (and each
// makes what dns.ZoneParser makes), and leaves the rest to it.
func TestFastParse(t *testing.T) {
	const apex = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 30\n@ IN NS ns1\n"
	for _, tc := range []struct {
		name, text string
		fast       bool
	}{
		{"bench zone", string(bigZone(100)), true},
		{"ttl and class orders", apex + "a 60 IN A 192.0.2.1\nb IN 60 A 192.0.2.2\nc 60 A 192.0.2.3\nd IN A 192.0.2.4\ne A 192.0.2.5\n", true},
		{"ttl units", apex + "a 1h30m IN A 192.0.2.1\n$TTL 1d\nb A 192.0.2.2\n", true},
		{"no $TTL: last TTL", "@ 3600 IN SOA ns1 h 1 2 3 4 5\n@ NS ns1\nns1 IN A 192.0.2.1\nb 60 A 192.0.2.2\nc A 192.0.2.3\n", true},
		{"$TTL beats the last TTL", apex + "a 60 A 192.0.2.1\nb A 192.0.2.2\n", true},
		{"owner omitted", apex + "a 60 IN A 192.0.2.1\n  IN AAAA 2001:db8::1\n\t30 MX 10 mail\n", true},
		{"$ORIGIN relative and absolute", apex + "$ORIGIN sub\na A 192.0.2.1\n$ORIGIN other.example.\n@ A 192.0.2.2\nb CNAME a.sub.example.com.\n", true},
		{"mixed case", apex + "WWW In a 192.0.2.1\nMail iN Mx 10 WWW\n$ttl 60\nx CnAmE www\n", true},
		{"comments", apex + "; a comment\na A 192.0.2.1 ; web (\n   ; indented comment\nb A 192.0.2.2;x\n", true},
		{"parentheses", "@ 3600 IN SOA ns1 hostmaster (\n  1 ; serial\n  7200 3600 1209600 30 )\n@ NS ns1\nns1 A 192.0.2.1\n", true},
		{"TXT with quotes and escapes", apex + "t TXT \"v=spf1 -all\" \"a;b\" \"c\\\"d\"\nu A 192.0.2.1\n\t TXT x\n", true},
		{"escaped owner", apex + "a\\.b A 192.0.2.1\nc\\032d A 192.0.2.2\n  A 192.0.2.3\n", true},
		{"GSLB", apex + "www 30 IN GSLB web\nstatic A 192.0.2.1\n", true},
		{"generic type and class", apex + "a TYPE1 192.0.2.1\nb CLASS1 A 192.0.2.2\nc IN TYPE28 \\# 16 20010db8000000000000000000000001\n", true},
		{"other types", apex + "s SRV 0 5 5060 sip\nc CAA 0 issue \"ca.example\"\nd DS 1 8 2 0000000000000000000000000000000000000000000000000000000000000000\n", true},
		{"CRLF", strings.ReplaceAll(apex+"a A 192.0.2.1\nb A 192.0.2.2\n", "\n", "\r\n"), true},
		{"no newline at the end", apex + "a A 192.0.2.1", true},
		{"mapped address as AAAA", apex + "a AAAA ::ffff:192.0.2.1\n", true},
		{"bad address", apex + "a A 192.0.2\n", false},
		{"IPv6 as A", apex + "a A 2001:db8::1\n", false},
		{"missing TTL", "@ IN SOA ns1 h 1 2 3 4 5\na A 192.0.2.1\n", false},
		{"$INCLUDE", apex + "$INCLUDE other.zone\n", false},
		{"$GENERATE", apex + "$GENERATE 1-4 h$ A 192.0.2.$\n", false},
		{"unclosed parenthesis", apex + "a TXT ( x\n", false},
		{"extra closing parenthesis", apex + "a A 192.0.2.1 )\n", false},
		{"escaped newline", apex + "a TXT x\\\ny\n", false},
		{"garbage after rdata", apex + "a A 192.0.2.1 192.0.2.2\n", false},
		{"unknown type", apex + "a FOO 192.0.2.1\n", false},
		// Found by FuzzFastParse: an entry read alone must read as it does
		// in the file.
		{"owner alone", "00\n", false},
		{"owner alone at the end", "A", false},
		{"type without data before more text", "0 0 ns\n0\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := checkFast(t, []byte(tc.text), "example.com."); got != tc.fast {
				t.Errorf("fast parser read the file: %v, want %v", got, tc.fast)
			}
		})
	}
}

// fastLines are the pieces generated zones are made of: the fast
// parser's own lines and others, in every state they may meet.
var fastLines = []string{
	"$TTL 300", "$TTL 1h", "$ORIGIN sub", "$ORIGIN example.com.", "$ORIGIN Other.Example.",
	"@ IN SOA ns1 hostmaster 1 7200 3600 1209600 30", "@ 3600 IN SOA ns1 hostmaster ( 1 7200\n 3600 1209600 30 )",
	"@ NS ns1", "ns1 IN A 192.0.2.53", "a 60 IN A 192.0.2.1", "b IN 60 A 10.0.0.1", "c A 192.0.2.3",
	"d AAAA 2001:db8::1", "  IN A 192.0.2.9", "\t60 AAAA ::1", " MX 10 mail", "mail MX 0 @",
	"w CNAME www.example.net.", "W CNAME a", "p PTR host", "n NS ns.elsewhere.", "x 0 A 192.0.2.7",
	"t TXT \"hello world\"", "t2 TXT a\\;b", " TXT (\n \"one\"\n \"two\" )", "e\\.f A 192.0.2.4",
	"g\\065 A 192.0.2.5", "; comment", "h A 192.0.2.6 ; c", "", "   ", "i 1d2h IN A 192.0.2.8",
	"srv SRV 0 0 53 ns1", "j IN TYPE1 192.0.2.10", "www 30 GSLB web", "k A 192.0.2.11\r",
}

// genZone is a zone of n lines drawn from fastLines by r.
func genZone(r *rand.Rand, n int) []byte {
	var b []byte
	for range n {
		b = append(b, fastLines[r.IntN(len(fastLines))]...)
		b = append(b, '\n')
	}
	return b
}

// TestFastParseGenerated holds the fast parser to dns.ZoneParser on
// generated zones, which mix its lines with others in every order.
func TestFastParseGenerated(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	read := 0
	for i := range 2000 {
		data := genZone(r, 1+i%40)
		if checkFast(t, data, "example.com.") {
			read++
		}
	}
	if read < 200 {
		t.Errorf("the fast parser read %d of 2000 generated zones", read)
	}
}

// FuzzFastParse: whatever the text, the fast parser gives up or makes
// exactly what dns.ZoneParser makes.
//
//	go test -run='^$' -fuzz=FuzzFastParse -fuzztime=60s ./dnsserver/
func FuzzFastParse(f *testing.F) {
	r := rand.New(rand.NewPCG(3, 4))
	for i := range 64 {
		f.Add(genZone(r, 1+i%16), "example.com.")
	}
	f.Add(bigZone(10), "big.test.")
	f.Add([]byte("a A 192.0.2.1\n"), ".")
	f.Fuzz(func(t *testing.T, data []byte, origin string) {
		if len(data) > 1<<16 {
			return
		}
		checkFast(t, data, origin)
	})
}

// BenchmarkFastParse compares the fast parser with dns.ZoneParser on the
// bench zone.
func BenchmarkFastParse(b *testing.B) {
	data := bigZone(100_000)
	b.Run("fast", func(b *testing.B) {
		for b.Loop() {
			if _, _, ok := fastParse(data, "big.test.", "z", 100_005); !ok {
				b.Fatal("not read")
			}
		}
	})
	b.Run("miekg", func(b *testing.B) {
		for b.Loop() {
			if _, err := miekgParse(data, "big.test."); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzParseIPv4: parseIPv4 reads what netip.ParseAddr reads as an IPv4
// address, alike, and nothing else.
func FuzzParseIPv4(f *testing.F) {
	for _, s := range []string{"192.0.2.1", "0.0.0.0", "255.255.255.255", "01.2.3.4", "1.2.3", "1.2.3.4.5", "256.1.1.1", "::1", "1..2.3", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseIPv4([]byte(s))
		want, err := netip.ParseAddr(s)
		if ok && (err != nil || got != want) || !ok && err == nil && want.Is4() {
			t.Fatalf("parseIPv4(%q) = %v, %v; netip: %v, %v", s, got, ok, want, err)
		}
	})
}

// FuzzInZone: inZone says what dns.IsSubDomain says of canonical names.
func FuzzInZone(f *testing.F) {
	for _, c := range [][2]string{{"example.com.", "a.example.com."}, {"example.com.", "example.com."}, {"example.com.", "aexample.com."},
		{"example.com.", "a\\.example.com."}, {".", "a."}, {"b.example.com.", "a.example.com."}, {"example.com.", "\\065.example.com."}} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, origin, owner string) {
		origin, owner = dns.CanonicalName(origin), dns.CanonicalName(owner)
		if _, ok := dns.IsDomainName(origin); !ok {
			return
		}
		if _, ok := dns.IsDomainName(owner); !ok {
			return
		}
		if got, want := inZone(origin, "."+origin, owner), dns.IsSubDomain(origin, owner); got != want {
			t.Fatalf("inZone(%q, %q) = %v, dns.IsSubDomain %v", origin, owner, got, want)
		}
	})
}
