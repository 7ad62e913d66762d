package dnssec

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aya-gslb/aya/policy"
)

// FuzzParseKey: any .key text gives a key or an error, never a panic,
// and a key read back writes a .key that reads back the same.
func FuzzParseKey(f *testing.F) {
	seeds, _ := filepath.Glob("../cmd/aya/testdata/dnssec/*.key")
	for _, s := range seeds {
		if b, err := os.ReadFile(s); err == nil {
			f.Add(b)
		}
	}
	f.Add([]byte("; Role: CSK\n; Publish: 20260101000000\nx. IN DNSKEY 257 3 15 AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := ParseKey(bytes.NewReader(data), "f.key")
		if err != nil {
			return
		}
		again, err := ParseKey(strings.NewReader(k.keyText()), "again.key")
		if err != nil {
			t.Fatalf("written key does not read back: %v\n%s", err, k.keyText())
		}
		if again.Tag() != k.Tag() || again.Role != k.Role || !again.Timing.equal(k.Timing) {
			t.Fatalf("round trip changed the key: %s %s vs %s %s", k.Base(), k.Role, again.Base(), again.Role)
		}
	})
}

// FuzzPoolAnswers: any pool shape (from bytes: regions, endpoints,
// addresses, answers, min_up) gives answer sets within the limit, each of
// at most Answers addresses (or all fallback ones), or a *LimitError;
// never a panic, and in bounded time (the limit bounds the walk).
func FuzzPoolAnswers(f *testing.F) {
	f.Add([]byte{2, 3, 1, 2, 3, 4, 5, 6, 7, 8, 9})
	f.Add([]byte{5, 1, 30, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29})
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < 3 {
			return
		}
		p := policy.Pool{Name: "f", Answers: int(data[0] % 8), Fallback: policy.Fallback(data[1] % 3)}
		limit := 1 + int(data[1])*8
		rest := data[2:]
		for len(rest) > 0 && len(p.Members) < 4 {
			n := int(rest[0] % 12)
			rest = rest[1:]
			m := policy.Member{Region: policy.Region{Name: string(rune('a' + len(p.Members)))}, MinUp: n % 4}
			for i := 0; i < n && len(rest) > 0; i++ {
				b := rest[0]
				rest = rest[1:]
				var a netip.Addr
				if b&0x80 != 0 {
					a = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: b & 0x3f})
				} else {
					a = netip.AddrFrom4([4]byte{192, 0, 2, b & 0x3f})
				}
				m.Endpoints = append(m.Endpoints, policy.Endpoint{Name: string(rune('a' + i)), Addrs: []netip.Addr{a}, Weight: 1})
			}
			p.Members = append(p.Members, m)
		}
		p.FallbackAddrs = []netip.Addr{netip.MustParseAddr("203.0.113.1")}
		a, err := PoolAnswers(&p, limit)
		if err != nil {
			return
		}
		if a.Count() > limit {
			t.Fatalf("%d sets over the limit %d", a.Count(), limit)
		}
		for _, s := range append(append([][]netip.Addr(nil), a.A...), a.AAAA...) {
			if len(s) == 0 || len(s) > max(p.Answers, 1) && !(len(s) == 1 && s[0] == p.FallbackAddrs[0]) {
				t.Fatalf("set %v with answers %d", s, p.Answers)
			}
		}
	})
}
