package dnsserver

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/policy"
)

const (
	signedZones  = "testdata/signed"
	signedOrigin = "signed.test."
)

// signedNow is the time the test zones are signed at: now, since the
// servers check the replies against the clock.
var signedNow = time.Now().UTC().Truncate(time.Second)

// signedPools are the pools signed.test binds.
func signedPools() []*policy.Pool {
	var out []*policy.Pool
	for _, p := range testPools() {
		if p.Name == "web" || p.Name == "v4only" {
			out = append(out, p)
		}
	}
	return out
}

// testSigner makes keys for origin (a KSK and a ZSK, or a CSK) active a
// day before now and a signer with them.
func testSigner(tb testing.TB, origin string, csk bool, now time.Time) (*dnssec.Signer, []*dnssec.Key) {
	tb.Helper()
	since := now.Add(-24 * time.Hour).Truncate(time.Second)
	roles := []dnssec.Role{dnssec.KSK, dnssec.ZSK}
	if csk {
		roles = []dnssec.Role{dnssec.CSK}
	}
	var keys []*dnssec.Key
	for _, r := range roles {
		tm := dnssec.Timing{Created: since, Publish: since, Activate: since}
		if r != dnssec.ZSK {
			tm.SyncPublish = since
		}
		k, err := dnssec.Generate(origin, dns.ECDSAP256SHA256, r, tm)
		if err != nil {
			tb.Fatal(err)
		}
		keys = append(keys, k)
	}
	s, err := dnssec.NewSigner(dnssec.Config{}, keys)
	if err != nil {
		tb.Fatal(err)
	}
	return s, keys
}

// signInput is what the signer signs of z: its static records and, for
// each name bound to one of pools, every answer the pool can give.
func signInput(tb testing.TB, z *Zone, pools []*policy.Pool) *dnssec.Input {
	tb.Helper()
	in := &dnssec.Input{Origin: z.Origin, Records: z.Records()}
	names := make([]string, 0, len(z.Bindings()))
	for name := range z.Bindings() {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		i := slices.IndexFunc(pools, func(p *policy.Pool) bool { return p.Name == z.Bindings()[name] })
		if i < 0 {
			tb.Fatalf("%s: pool %s not among the test pools", name, z.Bindings()[name])
		}
		a, err := dnssec.PoolAnswers(pools[i], 0)
		if err != nil {
			tb.Fatal(err)
		}
		in.Steered = append(in.Steered, dnssec.Steered{Name: name, TTL: pools[i].TTL, Answers: a})
	}
	return in
}

// toSignatures is the test's conversion of what the signer made to what a
// zone carries: the DNSSEC records (and the SOA when soa is set) and the
// steered sets.
func toSignatures(s *dnssec.Signed, soa bool) *Signatures {
	out := &Signatures{Expires: s.Expiration, Refresh: s.Refresh}
	for _, rr := range s.Records {
		switch rr.Header().Rrtype {
		case dns.TypeRRSIG, dns.TypeNSEC, dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY:
			out.Records = append(out.Records, rr)
		case dns.TypeSOA:
			if soa {
				out.Records = append(out.Records, rr)
			}
		}
	}
	for _, ss := range s.Steered {
		for _, list := range [][]dnssec.SignedRRset{ss.A, ss.AAAA} {
			for _, set := range list {
				h := set.RRset[0].Header()
				st := SteeredSet{Name: strings.ToLower(ss.Name), Type: h.Rrtype, TTL: h.Ttl, Sigs: set.Sigs}
				for _, rr := range set.RRset {
					switch rr := rr.(type) {
					case *dns.A:
						a, _ := netip.AddrFromSlice(rr.A.To4())
						st.Addrs = append(st.Addrs, a)
					case *dns.AAAA:
						a, _ := netip.AddrFromSlice(rr.AAAA)
						st.Addrs = append(st.Addrs, a)
					}
				}
				slices.SortFunc(st.Addrs, netip.Addr.Compare)
				out.Steered = append(out.Steered, st)
			}
		}
	}
	return out
}

// signedFixture is signed.test signed at signedNow.
type signedFixture struct {
	zone   *Zone // as parsed
	signed *dnssec.Signed
	sigs   *Signatures
	keys   []*dnssec.Key
}

func newSignedFixture(tb testing.TB) *signedFixture {
	tb.Helper()
	z, err := ParseZoneFile(signedZones+"/"+signedOrigin+"zone", signedOrigin)
	if err != nil {
		tb.Fatal(err)
	}
	signer, keys := testSigner(tb, signedOrigin, false, signedNow)
	signed, err := signer.Sign(signInput(tb, z, signedPools()), signedNow, nil)
	if err != nil {
		tb.Fatal(err)
	}
	return &signedFixture{zone: z, signed: signed, sigs: toSignatures(signed, false), keys: keys}
}

// TestWithSignatures: a signed copy carries the signatures and leaves the
// parsed zone as it was.
func TestWithSignatures(t *testing.T) {
	f := newSignedFixture(t)
	z := f.zone
	before := len(z.nodes[signedOrigin].rrsets)
	sz, err := z.WithSignatures(f.sigs)
	if err != nil {
		t.Fatal(err)
	}
	if sz.Signatures() != f.sigs || sz.Unsigned() != z {
		t.Errorf("Signatures() %p Unsigned() %p, want %p and %p", sz.Signatures(), sz.Unsigned(), f.sigs, z)
	}
	if z.Signatures() != nil || z.Unsigned() != z || z.sec != nil {
		t.Errorf("the parsed zone changed: Signatures() %v, Unsigned() %p", z.Signatures(), z.Unsigned())
	}
	if got := len(z.nodes[signedOrigin].rrsets); got != before {
		t.Errorf("the parsed apex has %d RRsets, had %d", got, before)
	}
	if len(z.nodes[signedOrigin].rrsets.get(dns.TypeDNSKEY)) != 0 {
		t.Error("the parsed apex has a DNSKEY")
	}
	apex := sz.nodes[signedOrigin]
	for _, typ := range []uint16{dns.TypeDNSKEY, dns.TypeCDS, dns.TypeCDNSKEY, dns.TypeNSEC, dns.TypeRRSIG, dns.TypeSOA, dns.TypeNS} {
		if len(apex.rrsets.get(typ)) == 0 {
			t.Errorf("signed apex: no %s", dns.TypeToString[typ])
		}
	}
	// Every name in the chain but glue and empty non-terminals, in
	// canonical order, wrapping to the apex.
	var chain []string
	for _, n := range sz.sec.chain {
		chain = append(chain, n.name)
	}
	for _, name := range []string{"ent.signed.test.", "ns.sub.signed.test."} {
		if slices.Contains(chain, name) {
			t.Errorf("%s is in the NSEC chain", name)
		}
	}
	for i, n := range sz.sec.chain {
		next := sz.sec.chain[(i+1)%len(sz.sec.chain)].name
		if got := n.rrsets.get(dns.TypeNSEC)[0].(*dns.NSEC).NextDomain; !strings.EqualFold(got, next) {
			t.Errorf("NSEC %s: next %s, the chain's next is %s", n.name, got, next)
		}
	}
	// Each steered set is found by its addresses in any order.
	for i := range f.sigs.Steered {
		ss := &f.sigs.Steered[i]
		rev := slices.Clone(ss.Addrs)
		slices.Reverse(rev)
		if got := sz.sec.steeredSet(ss.Name, ss.Type, rev); got != ss {
			t.Errorf("steered %s %v: found %v", ss.Name, ss.Addrs, got)
		}
	}
	if got := sz.sec.steeredSet("www.signed.test.", dns.TypeA, []netip.Addr{netip.MustParseAddr("192.0.2.99")}); got != nil {
		t.Errorf("an address set never signed: found %v", got)
	}
}

// TestWithSignaturesSOA: an SOA among the records replaces the zone
// file's, in the signed copy only.
func TestWithSignaturesSOA(t *testing.T) {
	f := newSignedFixture(t)
	in := signInput(t, f.zone, signedPools())
	in.Records = slices.Clone(in.Records)
	soa := dns.Copy(f.zone.SOA).(*dns.SOA)
	soa.Serial = 2
	in.Records[0] = soa
	signer, _ := testSigner(t, signedOrigin, true, signedNow)
	signed, err := signer.Sign(in, signedNow, nil)
	if err != nil {
		t.Fatal(err)
	}
	sz, err := f.zone.WithSignatures(toSignatures(signed, true))
	if err != nil {
		t.Fatal(err)
	}
	if sz.Serial() != 2 || f.zone.Serial() != 1 {
		t.Errorf("serials: signed %d, parsed %d; want 2 and 1", sz.Serial(), f.zone.Serial())
	}
	if got := sz.nodes[signedOrigin].rrsets.get(dns.TypeSOA)[0].(*dns.SOA).Serial; got != 2 {
		t.Errorf("the signed apex's SOA has serial %d", got)
	}
	if sz.Records()[0] != sz.SOA || f.zone.Records()[0] != f.zone.SOA {
		t.Error("Records()[0] is not the zone's SOA")
	}
	// The whole signed zone as the signer gives it: the zone's own
	// records among it are ignored.
	all := &Signatures{Records: signed.Records, Steered: toSignatures(signed, false).Steered}
	if _, err := f.zone.WithSignatures(all); err != nil {
		t.Errorf("the signer's whole output: %v", err)
	}
}

// TestWithSignaturesRefuses: signatures that do not fit the zone are
// refused, saying what does not fit.
func TestWithSignaturesRefuses(t *testing.T) {
	f := newSignedFixture(t)
	other, err := ParseZoneFile(gslbZones+"/gslb.test.zone", "gslb.test.")
	if err != nil {
		t.Fatal(err)
	}
	drop := func(pred func(dns.RR) bool) func(*Signatures) {
		return func(s *Signatures) { s.Records = slices.DeleteFunc(s.Records, pred) }
	}
	sigOver := func(owner string, t uint16) func(dns.RR) bool {
		return func(rr dns.RR) bool {
			sig, ok := rr.(*dns.RRSIG)
			return ok && sig.Hdr.Name == owner && sig.TypeCovered == t
		}
	}
	editSig := func(owner string, t uint16, edit func(*dns.RRSIG)) func(*Signatures) {
		return func(s *Signatures) {
			for i, rr := range s.Records {
				if sigOver(owner, t)(rr) {
					c := dns.Copy(rr).(*dns.RRSIG)
					edit(c)
					s.Records[i] = c
				}
			}
		}
	}
	add := func(text string) func(*Signatures) {
		return func(s *Signatures) {
			rr, err := dns.NewRR(text)
			if err != nil {
				panic(err)
			}
			s.Records = append(s.Records, rr)
		}
	}
	nextName := func(owner, next string) func(*Signatures) {
		return func(s *Signatures) {
			for i, rr := range s.Records {
				if n, ok := rr.(*dns.NSEC); ok && n.Hdr.Name == owner {
					c := dns.Copy(n).(*dns.NSEC)
					c.NextDomain = next
					s.Records[i] = c
				}
			}
		}
	}
	for _, tc := range []struct {
		name   string
		zone   *Zone
		modify func(*Signatures)
		want   string
	}{
		{name: "no DNSKEY", modify: drop(func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeDNSKEY }),
			want: "signed.test.: no DNSKEY at the zone apex"},
		{name: "a name without NSEC", modify: drop(func(rr dns.RR) bool {
			return rr.Header().Rrtype == dns.TypeNSEC && rr.Header().Name == "www.signed.test."
		}), want: "www.signed.test.: no NSEC"},
		{name: "an RRSIG over an RRset the zone does not have", modify: editSig("static.signed.test.", dns.TypeAAAA, func(s *dns.RRSIG) { s.TypeCovered = dns.TypeMX }),
			want: "static.signed.test. RRSIG MX: the zone has no such RRset"},
		{name: "an RRset without RRSIG", modify: drop(sigOver("signed.test.", dns.TypeMX)),
			want: "signed.test. MX: no RRSIG"},
		{name: "original TTL", modify: editSig("static.signed.test.", dns.TypeA, func(s *dns.RRSIG) { s.OrigTtl = 3600 }),
			want: "static.signed.test. RRSIG A: original TTL 3600, the RRset's is 300"},
		{name: "labels", modify: editSig("edge.wild.signed.test.", dns.TypeA, func(s *dns.RRSIG) { s.Labels = 2 }),
			want: "edge.wild.signed.test. RRSIG A: 2 labels, the owner has 4"},
		{name: "a wildcard's labels", modify: editSig("*.wild.signed.test.", dns.TypeTXT, func(s *dns.RRSIG) { s.Labels = 4 }),
			want: "*.wild.signed.test. RRSIG TXT: 4 labels, the owner has 3"},
		{name: "signer", modify: editSig("mail.signed.test.", dns.TypeA, func(s *dns.RRSIG) { s.SignerName = "test." }),
			want: "mail.signed.test. RRSIG A: signed by test., not the zone"},
		{name: "a delegation's NS signed", modify: add("sub.signed.test. 3600 IN RRSIG NS 13 3 3600 20260315000000 20260228000000 1 signed.test. AAAA"),
			want: "sub.signed.test. RRSIG NS: the RRset is not authoritative"},
		{name: "glue signed", modify: add("ns.sub.signed.test. 3600 IN RRSIG A 13 4 3600 20260315000000 20260228000000 1 signed.test. AAAA"),
			want: "ns.sub.signed.test. RRSIG: below a delegation"},
		{name: "a steered name's addresses among the records", modify: add("www.signed.test. 30 IN RRSIG A 13 3 30 20260315000000 20260228000000 1 signed.test. AAAA"),
			want: "www.signed.test. RRSIG A: a steered name's addresses are signed in Signatures.Steered"},
		{name: "an NSEC at an empty non-terminal", modify: add("ent.signed.test. 300 IN NSEC host.ent.signed.test. NSEC RRSIG"),
			want: "ent.signed.test. NSEC: an empty non-terminal owns no NSEC"},
		{name: "a name the zone does not have", modify: add("nope.signed.test. 300 IN NSEC signed.test. NSEC RRSIG"),
			want: "nope.signed.test. NSEC: the zone has no such name"},
		{name: "not a DNSSEC record", modify: add("static.signed.test. 300 IN TXT \"new\""),
			want: "static.signed.test. TXT: not a DNSSEC record, and not one of the zone's"},
		{name: "a DNSKEY below the apex", modify: add("static.signed.test. 300 IN DNSKEY 256 3 13 AAAA"),
			want: "static.signed.test. DNSKEY: belongs at the zone apex signed.test. only"},
		{name: "a bitmap that does not list a type", modify: func(s *Signatures) {
			for i, rr := range s.Records {
				if n, ok := rr.(*dns.NSEC); ok && n.Hdr.Name == "static.signed.test." {
					c := dns.Copy(n).(*dns.NSEC)
					c.TypeBitMap = []uint16{dns.TypeA, dns.TypeRRSIG, dns.TypeNSEC}
					s.Records[i] = c
				}
			}
		}, want: "static.signed.test. NSEC: type bitmap [A RRSIG NSEC], the name has [A AAAA RRSIG NSEC]"},
		{name: "an NSEC chain that skips a name", modify: nextName("alias.signed.test.", "Static.signed.test."),
			want: "alias.signed.test. NSEC: next name Static.signed.test., the zone's next name is big.signed.test."},
		{name: "an NSEC chain that loops", modify: nextName("alias.signed.test.", "alias.signed.test."),
			want: "alias.signed.test. NSEC: next name alias.signed.test., the zone's next name is big.signed.test."},
		{name: "an NSEC chain that does not end at the apex", modify: nextName("www.signed.test.", "alias.signed.test."),
			want: "www.signed.test. NSEC: next name alias.signed.test., the zone's next name is signed.test."},
		{name: "too many RRSIGs over an RRset", modify: func(s *Signatures) {
			i := slices.IndexFunc(s.Records, sigOver("static.signed.test.", dns.TypeA))
			for k := range maxSigsPerRRset {
				c := dns.Copy(s.Records[i]).(*dns.RRSIG)
				c.KeyTag = uint16(60000 + k)
				s.Records = append(s.Records, c)
			}
		}, want: "static.signed.test. RRSIG A: more than 8 (a signer makes one per key)"},
		{name: "too many DNSKEYs", modify: func(s *Signatures) {
			i := slices.IndexFunc(s.Records, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeDNSKEY })
			for k := range maxKeyRecords {
				c := dns.Copy(s.Records[i]).(*dns.DNSKEY)
				c.Protocol = uint8(4 + k) // another record
				s.Records = append(s.Records, c)
			}
		}, want: "signed.test. DNSKEY: more than 16 (a signer publishes a few keys)"},
		{name: "a steered set for a name not bound", modify: func(s *Signatures) {
			ss := s.Steered[0]
			ss.Name = "static.signed.test."
			s.Steered = append(s.Steered, ss)
		}, want: "the zone binds no pool to static.signed.test."},
		{name: "a steered set unsorted", modify: func(s *Signatures) {
			s.Steered[0].Addrs = []netip.Addr{netip.MustParseAddr("192.0.2.2"), netip.MustParseAddr("192.0.2.1")}
		}, want: "the addresses are not sorted"},
		{name: "a steered set of the wrong family", modify: func(s *Signatures) {
			s.Steered[0].Addrs = []netip.Addr{netip.MustParseAddr("2001:db8::1")}
		}, want: "2001:db8::1 is not an address of the type"},
		{name: "a steered set's TTL", modify: func(s *Signatures) { s.Steered[0].TTL = 31 },
			want: "an RRSIG with the original TTL 30, the set's is 31"},
		{name: "a bound name without signed sets", modify: func(s *Signatures) {
			s.Steered = slices.DeleteFunc(s.Steered, func(ss SteeredSet) bool { return ss.Name == "v4.signed.test." })
		}, want: "v4.signed.test.: bound to a pool, but no signed address set"},
		{name: "another zone's signatures", zone: other, want: "zone gslb.test.: signatures do not fit the zone"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sigs := *f.sigs
			sigs.Records = slices.Clone(f.sigs.Records)
			sigs.Steered = slices.Clone(f.sigs.Steered)
			if tc.modify != nil {
				tc.modify(&sigs)
			}
			z := tc.zone
			if z == nil {
				z = f.zone
			}
			sz, err := z.WithSignatures(&sigs)
			if err == nil {
				t.Fatalf("accepted: %v", sz.Signatures() != nil)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q\nwant it to say %q", err, tc.want)
			}
		})
	}
	if _, err := f.zone.WithSignatures(nil); err == nil {
		t.Error("nil signatures accepted")
	}
}

// TestCanonicalKey: the sort keys order names as RFC 4034 §6.1 does (its
// example, plus escapes and octets that sort around the label end).
func TestCanonicalKey(t *testing.T) {
	names := []string{
		"example.", "a.example.", "yljkjljk.a.example.", "Z.a.example.", "zABC.a.EXAMPLE.",
		"z.example.", "\\001.z.example.", "*.z.example.", "\\200.z.example.",
	}
	for i := 1; i < len(names); i++ {
		a, b := canonicalKey(names[i-1]), canonicalKey(names[i])
		if a >= b {
			t.Errorf("%s sorts after %s", names[i-1], names[i])
		}
	}
	if canonicalKey("A.Example.") != canonicalKey("a.example.") {
		t.Error("the key depends on case")
	}
	if canonicalKey("a\\000.example.") <= canonicalKey("a.example.") {
		t.Error("a\\000 sorts before a")
	}
}

// TestWithSignaturesDropsCopies: signatures that repeat their RRSIGs (a
// release made by hand, say) are taken once: answers and transfers carry
// each RRSIG once.
func TestWithSignaturesDropsCopies(t *testing.T) {
	f := newSignedFixture(t)
	once, err := f.zone.WithSignatures(f.sigs)
	if err != nil {
		t.Fatal(err)
	}
	twice := *f.sigs
	twice.Records = slices.Clone(f.sigs.Records)
	for _, rr := range f.sigs.Records {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			twice.Records = append(twice.Records, dns.Copy(rr))
		}
	}
	z, err := f.zone.WithSignatures(&twice)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := len(dnssecRecords(z)), len(dnssecRecords(once)); got != want {
		t.Errorf("%d DNSSEC records transferred, want %d", got, want)
	}
	for name, n := range z.nodes {
		if got, want := len(n.rrsets.get(dns.TypeRRSIG)), len(once.nodes[name].rrsets.get(dns.TypeRRSIG)); got != want {
			t.Errorf("%s: %d RRSIGs, want %d", name, got, want)
		}
	}
}
