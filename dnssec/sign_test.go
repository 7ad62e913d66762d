package dnssec

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/policy"
)

// verifyAll checks every RRSIG of the signed zone and of every steered
// answer with dns.RRSIG.Verify against the DNSKEY RRset, at now, and that
// every authoritative RRset is signed by every signer.
func verifyAll(t *testing.T, s *Signed, now time.Time, zoneSigners, keySigners int) {
	t.Helper()
	type ot struct {
		name string
		t    uint16
	}
	sets := map[ot][]dns.RR{}
	sigs := map[ot][]*dns.RRSIG{}
	keys := map[uint16]*dns.DNSKEY{}
	var order []ot
	for _, rr := range s.Records {
		h := rr.Header()
		switch rr := rr.(type) {
		case *dns.RRSIG:
			k := ot{h.Name, rr.TypeCovered}
			sigs[k] = append(sigs[k], rr)
			continue
		case *dns.DNSKEY:
			keys[rr.KeyTag()] = rr
		}
		k := ot{h.Name, h.Rrtype}
		if sets[k] == nil {
			order = append(order, k)
		}
		sets[k] = append(sets[k], rr)
	}
	check := func(what string, rrs []dns.RR, ss []*dns.RRSIG, want int) {
		t.Helper()
		if len(ss) != want {
			t.Errorf("%s: %d signatures, want %d", what, len(ss), want)
		}
		for _, sig := range ss {
			k := keys[sig.KeyTag]
			if k == nil {
				t.Errorf("%s: signed by key %d, not in the DNSKEY RRset", what, sig.KeyTag)
				continue
			}
			if err := sig.Verify(k, rrs); err != nil {
				t.Errorf("%s: signature by %d: %v", what, sig.KeyTag, err)
			}
			if !sig.ValidityPeriod(now) {
				t.Errorf("%s: signature by %d not valid at %v", what, sig.KeyTag, now)
			}
		}
	}
	for _, k := range order {
		what := k.name + " " + dns.TypeToString[k.t]
		glue := k.t == dns.TypeA && strings.HasSuffix(k.name, ".sub."+testOrigin)
		deleg := k.t == dns.TypeNS && k.name != testOrigin
		switch {
		case glue, deleg:
			if len(sigs[k]) != 0 {
				t.Errorf("%s: signed; a delegation's NS and glue are not", what)
			}
		case k.t == dns.TypeDNSKEY || k.t == dns.TypeCDS || k.t == dns.TypeCDNSKEY:
			check(what, sets[k], sigs[k], keySigners)
		default:
			check(what, sets[k], sigs[k], zoneSigners)
		}
	}
	for _, ss := range s.Steered {
		for _, list := range [][]SignedRRset{ss.A, ss.AAAA} {
			for _, set := range list {
				check(fmt.Sprintf("%s %v", ss.Name, set.RRset), set.RRset, set.Sigs, zoneSigners)
			}
		}
	}
}

func TestSignVerify(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		alg  uint8
		csk  bool
	}{
		{"ecdsa ksk+zsk", dns.ECDSAP256SHA256, false},
		{"ecdsa csk", dns.ECDSAP256SHA256, true},
		{"ed25519 ksk+zsk", dns.ED25519, false},
		{"ed25519 csk", dns.ED25519, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys := testKeys(t, tc.alg, tc.csk, now)
			s, err := NewSigner(Config{}, keys)
			if err != nil {
				t.Fatal(err)
			}
			signed, err := s.Sign(testInput(t), now, nil)
			if err != nil {
				t.Fatal(err)
			}
			verifyAll(t, signed, now, 1, 1)
			if signed.Reused != 0 || signed.Made == 0 {
				t.Errorf("made %d, reused %d", signed.Made, signed.Reused)
			}
		})
	}
}

// TestNSECChain pins the chain: its order (RFC 4034 §6.1), the names it
// skips (glue, empty non-terminals) and the type bitmaps, steered names'
// included.
func TestNSECChain(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	s, err := NewSigner(Config{}, testKeys(t, dns.ECDSAP256SHA256, false, now))
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign(testInput(t), now, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range signed.Records {
		if n, ok := rr.(*dns.NSEC); ok {
			var types []string
			for _, t := range n.TypeBitMap {
				types = append(types, dns.TypeToString[t])
			}
			got = append(got, fmt.Sprintf("%s -> %s %s", strings.TrimSuffix(n.Hdr.Name, testOrigin), strings.TrimSuffix(n.NextDomain, testOrigin), strings.Join(types, " ")))
		}
	}
	want := []string{
		" -> alias. NS SOA MX RRSIG NSEC DNSKEY CDS CDNSKEY",
		"alias. -> api. CNAME RRSIG NSEC",
		"api. -> a.b.c. A RRSIG NSEC",
		"a.b.c. -> *.geo. TXT RRSIG NSEC",
		"*.geo. -> insecure. A RRSIG NSEC",
		"insecure. -> mail. NS RRSIG NSEC",
		"mail. -> ns1. A RRSIG NSEC",
		"ns1. -> ns2. A RRSIG NSEC",
		"ns2. -> static. A RRSIG NSEC",
		"static. -> sub. A AAAA RRSIG NSEC",
		"sub. -> *.wild. NS DS RRSIG NSEC",
		"*.wild. -> www. TXT RRSIG NSEC",
		"www. ->  A AAAA RRSIG NSEC", // back to the apex
	}
	if !slices.Equal(got, want) {
		t.Errorf("NSEC chain:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	for _, rr := range signed.Records {
		if n, ok := rr.(*dns.NSEC); ok && n.Hdr.Ttl != 300 {
			t.Errorf("%s NSEC TTL %d, want 300 (the SOA minimum, RFC 9077)", n.Hdr.Name, n.Hdr.Ttl)
		}
	}
	// A wildcard's RRSIG has the label count of the wildcard's parent
	// (RFC 4034 §3.1.3), so that it validates any name it expands to.
	for _, ss := range signed.Steered {
		if ss.Name == "*.geo."+testOrigin && ss.A[0].Sigs[0].Labels != 4 {
			t.Errorf("*.geo RRSIG labels %d, want 4", ss.A[0].Sigs[0].Labels)
		}
	}
}

// TestSignRefuses pins what the signer refuses and how it says so.
func TestSignRefuses(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	keys := testKeys(t, dns.ECDSAP256SHA256, true, now)
	zone := func(extra string) []dns.RR {
		t.Helper()
		base := "$ORIGIN " + testOrigin + "\n@ 3600 IN SOA ns1 h 1 2 3 4 300\n@ 3600 IN NS ns1\nns1 3600 IN A 192.0.2.53\n"
		zp := dns.NewZoneParser(strings.NewReader(base+extra), testOrigin, "t.zone")
		var rrs []dns.RR
		for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
			rrs = append(rrs, rr)
		}
		if err := zp.Err(); err != nil {
			t.Fatal(err)
		}
		return rrs
	}
	mixed := webPool()
	// eu3 loses its IPv6 address: with eu1 and eu2 down, AAAA is NODATA.
	mixed.Members[0].Endpoints[2].Addrs = addrs("192.0.2.3")
	noV6 := webPool()
	// The na region has no IPv6 at all.
	noV6.Members[1].Endpoints[0].Addrs = addrs("198.51.100.1")
	fbNoV6 := webPool()
	fbNoV6.Fallback = policy.FallbackAddrs
	fbNoV6.FallbackAddrs = addrs("203.0.113.9")
	for _, tc := range []struct {
		name    string
		records string
		steered []Steered
		cfg     Config
		want    string
	}{
		{name: "region without AAAA", steered: []Steered{steered(t, "www."+testOrigin, noV6)},
			want: `pool "web": www.gslb.example.com. AAAA can be answered (6 address sets) and can be empty (region "na" has no IPv6 address)`},
		{name: "endpoint without AAAA", steered: []Steered{steered(t, "www."+testOrigin, mixed)},
			want: `pool "web": www.gslb.example.com. AAAA can be answered (4 address sets) and can be empty (region "eu": its endpoints without an IPv6 address can be the only ones up (min_up 1))`},
		{name: "fallback without AAAA", steered: []Steered{steered(t, "www."+testOrigin, fbNoV6)},
			want: `can be empty (the fallback addresses have no IPv6 address)`},
		{name: "static A at steered", records: "www 30 IN A 192.0.2.1\n", steered: []Steered{steered(t, "www."+testOrigin, webPool())},
			want: `pool "web": www.gslb.example.com.: also has a static A record`},
		{name: "steered below cut", records: "sub IN NS ns.example.net.\n", steered: []Steered{steered(t, "www.sub."+testOrigin, webPool())},
			want: `pool "web": www.sub.gslb.example.com.: below the delegation sub.gslb.example.com.`},
		{name: "rrsig in zone", records: "x IN RRSIG A 13 3 3600 20300101000000 20200101000000 1 gslb.example.com. AAAA\n",
			want: `x.gslb.example.com. RRSIG: the signer makes these records`},
		{name: "ds without ns", records: "x IN DS 1 13 2 00\n", want: `x.gslb.example.com. DS: no NS here`},
		{name: "cname and data", records: "x IN CNAME ns1\nx IN TXT hi\n", want: `x.gslb.example.com. CNAME: other records at the same name`},
		{name: "ttl mix", records: "x 60 IN TXT a\nx 70 IN TXT b\n", want: `x.gslb.example.com. TXT: TTLs 60 and 70 in one RRset`},
		{name: "refresh under ttl", records: "x 864000 IN TXT a\n", want: `dnssec.refresh (168h0m0s) must exceed the zone's largest TTL (864000s)`},
		{name: "out of zone", records: "example.org. IN TXT a\n", want: `example.org. TXT: not in the zone`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := NewSigner(tc.cfg, keys)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Sign(&Input{Origin: testOrigin, Records: zone(tc.records), Steered: tc.steered}, now, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v\nwant it to contain %s", err, tc.want)
			}
			if strings.Contains(tc.want, "can be empty") {
				if _, ok := errors.AsType[*UnprovableError](err); !ok {
					t.Errorf("error %v is not an *UnprovableError", err)
				}
			}
		})
	}
	t.Run("no signing key", func(t *testing.T) {
		s, _ := NewSigner(Config{}, keys)
		_, err := s.Sign(&Input{Origin: testOrigin, Records: zone("")}, now.Add(-48*time.Hour), nil)
		if err == nil || !strings.Contains(err.Error(), "no active ZSK or CSK") {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("public key only", func(t *testing.T) {
		pub := *keys[0]
		pub.signer = nil
		s, _ := NewSigner(Config{}, []*Key{&pub})
		_, err := s.Sign(&Input{Origin: testOrigin, Records: zone("")}, now, nil)
		if err == nil || !strings.Contains(err.Error(), "private key is not loaded") {
			t.Fatalf("error %v", err)
		}
	})
}

// TestResign runs the signer on a fake clock, signing again whenever
// Signed.Refresh comes: no signature served ever has less than
// Config.Refresh left, signatures are reused until then, expirations stay
// within the jitter, and signing twice at one time gives the same
// validity periods (the jitter is a hash, not a random draw).
func TestResign(t *testing.T) {
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	cfg := Config{}.WithDefaults()
	keys := testKeys(t, dns.ED25519, false, start)
	s, err := NewSigner(cfg, keys)
	if err != nil {
		t.Fatal(err)
	}
	in := testInput(t)
	first, err := s.Sign(in, start, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Sign(in, start, nil)
	if err != nil {
		t.Fatal(err)
	}
	periods := func(sd *Signed) []string {
		var out []string
		for _, rr := range sd.Zone(0) {
			if sig, ok := rr.(*dns.RRSIG); ok {
				out = append(out, fmt.Sprintf("%s %d %d-%d", sig.Hdr.Name, sig.TypeCovered, sig.Inception, sig.Expiration))
			}
		}
		return out
	}
	if a, b := periods(first), periods(again); !slices.Equal(a, b) {
		t.Errorf("two signings at one time differ in validity periods")
	}
	// Bounded jitter: expirations in (start+validity-jitter, start+validity].
	lo, hi := timeToSerial(start.Add(cfg.Validity-cfg.Jitter)), timeToSerial(start.Add(cfg.Validity))
	spread := map[uint32]bool{}
	for _, rr := range first.Zone(0) {
		if sig, ok := rr.(*dns.RRSIG); ok {
			if serialBefore(sig.Expiration, lo+1) || serialBefore(hi, sig.Expiration) {
				t.Errorf("%s: expiration %d outside (%d, %d]", sig.Hdr.Name, sig.Expiration, lo, hi)
			}
			spread[sig.Expiration] = true
		}
	}
	if len(spread) < 5 {
		t.Errorf("only %d distinct expirations: jitter does not spread them", len(spread))
	}

	prev, now := first, start
	resigns := 0
	end := start.Add(45 * 24 * time.Hour)
	for step := 0; now.Before(end) && step < 10_000; step++ {
		// Serve until the next refresh, checking every hour.
		for t2 := now; t2.Before(prev.Refresh) && t2.Before(end); t2 = t2.Add(time.Hour) {
			if left := prev.Expiration.Sub(t2); left < cfg.Refresh {
				t.Fatalf("at %v a served signature has %v left, under refresh %v", t2, left, cfg.Refresh)
			}
		}
		now = prev.Refresh
		next, err := s.Sign(in, now, prev)
		if err != nil {
			t.Fatal(err)
		}
		if next.Made == 0 {
			t.Fatalf("re-sign at %v made nothing: it would loop", now)
		}
		// A signing between refreshes (a new release) renews nothing.
		if mid, err := s.Sign(in, now.Add(cfg.Jitter/2), next); err != nil || mid.Made != 0 || mid.Reused != next.Made+next.Reused {
			t.Fatalf("signing again %v later: %v, made %d reused %d, want all %d reused", cfg.Jitter/2, err, mid.Made, mid.Reused, next.Made+next.Reused)
		}
		if resigns%8 == 0 {
			verifyAll(t, next, now, 1, 1)
		}
		if gap := next.Refresh.Sub(now); gap < cfg.Jitter {
			t.Fatalf("next signing %v after this one, under the jitter %v: renewals are not batched", gap, cfg.Jitter)
		}
		if !next.Refresh.After(now) {
			t.Fatalf("refresh %v not after %v", next.Refresh, now)
		}
		prev = next
		resigns++
	}
	verifyAll(t, prev, now, 1, 1)
	if resigns < 5 || resigns > 2*45 {
		t.Errorf("%d re-signs in 45 days, want several, at most two a day", resigns)
	}
	t.Logf("%d signings in 45 days", resigns+1)
}

// TestDNSSECVerify writes the signed zone as master files, one per
// variant so that every steered answer is in one of them, and runs BIND's
// dnssec-verify on each: the chain and every signature must pass.
func TestDNSSECVerify(t *testing.T) {
	verify, err := exec.LookPath("dnssec-verify")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dnssec-verify not installed: .ci/run installs bind9-utils")
		}
		t.Skip("dnssec-verify not installed (apt-get install bind9-utils); .ci/run installs it")
	}
	// dnssec-verify checks validity against the real clock.
	now := time.Now().UTC().Truncate(time.Second)
	for _, csk := range []bool{false, true} {
		t.Run(fmt.Sprintf("csk=%v", csk), func(t *testing.T) {
			s, err := NewSigner(Config{}, testKeys(t, dns.ECDSAP256SHA256, csk, now))
			if err != nil {
				t.Fatal(err)
			}
			signed, err := s.Sign(testInput(t), now, nil)
			if err != nil {
				t.Fatal(err)
			}
			dir := t.TempDir()
			n := signed.Variants()
			if n < 2 || n > 16 {
				t.Fatalf("%d variants: the test pools should give a few", n)
			}
			for v := range n {
				var b bytes.Buffer
				if err := signed.WriteZone(&b, v); err != nil {
					t.Fatal(err)
				}
				path := filepath.Join(dir, fmt.Sprintf("v%d.zone", v))
				if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
					t.Fatal(err)
				}
				args := []string{"-o", testOrigin, path}
				if csk {
					// -z: a zone signed by one key with the SEP flag alone.
					args = append([]string{"-z"}, args...)
				}
				out, err := exec.CommandContext(t.Context(), verify, args...).CombinedOutput()
				if err != nil {
					t.Fatalf("dnssec-verify variant %d: %v\n%s\nzone:\n%s", v, err, out, b.String())
				}
				if v == 0 {
					t.Logf("dnssec-verify: %s", bytes.TrimSpace(out))
				}
			}
		})
	}
}

// BenchmarkSignPool signs the test zone with a steered pool of 3 regions
// of 12 dual-stack endpoints, answers 2: 2×3×(66+12) = 468 candidate
// RRsets, from scratch and again (everything reused).
func BenchmarkSignPool(b *testing.B) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	t := &testing.T{}
	p := &policy.Pool{Name: "big", TTL: 30, Answers: 2, Fallback: policy.FailOpen}
	for r := range 3 {
		m := policy.Member{Region: region(fmt.Sprint("r", r))}
		for e := range 12 {
			m.Endpoints = append(m.Endpoints, policy.Endpoint{Name: fmt.Sprint(e), Weight: 1,
				Addrs: addrs(fmt.Sprintf("10.%d.0.%d", r, e), fmt.Sprintf("2001:db8:%d::%d", r, e))})
		}
		p.Members = append(p.Members, m)
	}
	ans, err := PoolAnswers(p, 0)
	if err != nil {
		b.Fatal(err)
	}
	in := &Input{Origin: testOrigin, Records: readZone(t, "gslb.example.com.zone"), Steered: []Steered{{Name: "www." + testOrigin, TTL: 30, Answers: ans}}}
	for _, alg := range []uint8{dns.ECDSAP256SHA256, dns.ED25519} {
		s, err := NewSigner(Config{}, testKeys(t, alg, false, now))
		if err != nil {
			b.Fatal(err)
		}
		first, err := s.Sign(in, now, nil)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(dns.AlgorithmToString[alg]+"/fresh", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Sign(in, now, nil); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(dns.AlgorithmToString[alg]+"/reuse", func(b *testing.B) {
			for b.Loop() {
				if _, err := s.Sign(in, now.Add(time.Hour), first); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
