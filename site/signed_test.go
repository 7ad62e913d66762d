package site

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	promtestutil "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/release"
)

// signedZoneFile is example.com with a steered name (pool web) and
// static names, the zone the signing tests sign.
const signedZoneFile = apex + "www IN GSLB web\na IN A 192.0.2.1\nmail IN MX 10 a\n"

// testNow is the tests' signing time; the keys sign from a day before.
var testNow = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

// withKeys generates a KSK and a ZSK of zone into a keys directory next
// to cfg's file and points dnssec.keys_dir at it.
func withKeys(t *testing.T, cfg *config.Config, zone string) []*dnssec.Key {
	t.Helper()
	dir := filepath.Join(filepath.Dir(cfg.File), "keys")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	since := testNow.Add(-24 * time.Hour)
	var keys []*dnssec.Key
	for _, role := range []dnssec.Role{dnssec.KSK, dnssec.ZSK} {
		tm := dnssec.Timing{Created: since, Publish: since, Activate: since}
		if role == dnssec.KSK {
			tm.SyncPublish = since
		}
		k, err := dnssec.Generate(zone, dns.ECDSAP256SHA256, role, tm)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	cfg.DNSSEC.KeysDir = dir
	return keys
}

// verifyZone checks every signature of z with its DNSKEYs (a real RRSIG
// verification, over the RRsets the zone answers), and returns the
// number verified.
func verifyZone(t *testing.T, z *dnsserver.Zone, at time.Time) int {
	t.Helper()
	sigs := z.Signatures()
	if sigs == nil {
		t.Fatalf("zone %s not signed", z.Origin)
	}
	var keys []*dns.DNSKEY
	for _, rr := range sigs.Records {
		if k, ok := rr.(*dns.DNSKEY); ok {
			keys = append(keys, k)
		}
	}
	sets := map[string][]dns.RR{}
	key := func(name string, t uint16) string { return dns.CanonicalName(name) + "/" + dns.TypeToString[t] }
	soaSigned := false
	for _, rr := range sigs.Records {
		if rr.Header().Rrtype == dns.TypeSOA {
			soaSigned = true
		}
	}
	for _, rr := range z.Unsigned().Records() {
		if rr.Header().Rrtype == dns.TypeSOA && soaSigned {
			continue
		}
		sets[key(rr.Header().Name, rr.Header().Rrtype)] = append(sets[key(rr.Header().Name, rr.Header().Rrtype)], rr)
	}
	var rrsigs []*dns.RRSIG
	for _, rr := range sigs.Records {
		if s, ok := rr.(*dns.RRSIG); ok {
			rrsigs = append(rrsigs, s)
			continue
		}
		sets[key(rr.Header().Name, rr.Header().Rrtype)] = append(sets[key(rr.Header().Name, rr.Header().Rrtype)], rr)
	}
	n := 0
	check := func(sig *dns.RRSIG, rrs []dns.RR) {
		for _, k := range keys {
			if k.KeyTag() == sig.KeyTag {
				if err := sig.Verify(k, rrs); err != nil {
					t.Errorf("%s %s: %v", sig.Hdr.Name, dns.TypeToString[sig.TypeCovered], err)
				}
				if !sig.ValidityPeriod(at) {
					t.Errorf("%s %s: not valid at %s", sig.Hdr.Name, dns.TypeToString[sig.TypeCovered], at)
				}
				n++
				return
			}
		}
		t.Errorf("%s: no key %d", sig.Hdr.Name, sig.KeyTag)
	}
	for _, sig := range rrsigs {
		rrs := sets[key(sig.Hdr.Name, sig.TypeCovered)]
		if len(rrs) == 0 {
			t.Errorf("RRSIG over nothing: %s", sig)
			continue
		}
		check(sig, rrs)
	}
	for _, s := range sigs.Steered {
		var rrs []dns.RR
		for _, a := range s.Addrs {
			rrs = append(rrs, addrRR(s.Name, s.Type, s.TTL, a))
		}
		for _, sig := range s.Sigs {
			check(sig, rrs)
		}
	}
	return n
}

// TestBuildSigned: a site with the keys builds a signed release; it
// travels as JSON to a site without keys, which attaches the very
// signatures (each one verifies with the zone's DNSKEY) to the zone it
// parses from the release.
func TestBuildSigned(t *testing.T) {
	cfg, _ := newSite(t, map[string]string{"example.com.zone": signedZoneFile, "example.org.zone": apex})
	withKeys(t, cfg, "example.com.")
	r, c, done, err := BuildSigned(cfg, "ci", "test", nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Signed) != 1 || r.Signed[0].Zone != "example.com." || len(done) != 1 || done[0].Made == 0 || done[0].Reused != 0 || done[0].Serial != 1 {
		t.Fatalf("signed %v, signings %+v", r.Signed, done)
	}
	if ans, err := dnssec.PoolAnswers(c.Pools[0], 0); err != nil || len(r.Signed[0].Steered) != ans.Count() {
		t.Errorf("%d steered sets signed, the pool answers %v (%v)", len(r.Signed[0].Steered), ans, err)
	}
	if c.Zones.Zone("example.org.").Signatures() != nil {
		t.Error("example.org. signed without keys")
	}
	if verifyZone(t, c.Zones.Zone("example.com."), testNow) == 0 {
		t.Fatal("no signature verified")
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var got release.Release
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	other, err := Compile(&got, t.TempDir(), cfg.DNS.Zones.Limits())
	if err != nil {
		t.Fatal(err)
	}
	z := other.Zones.Zone("example.com.")
	if n := verifyZone(t, z, testNow); n != countSigs(c.Zones.Zone("example.com.").Signatures()) {
		t.Errorf("%d signatures verified on the receiving site", n)
	}
	if s := z.Signatures(); !s.Expires.Equal(r.Signed[0].Expires) || len(s.Steered) != len(r.Signed[0].Steered) {
		t.Errorf("received signatures %v %d", s.Expires, len(s.Steered))
	}
	// The text form is what the signer made, through a round trip.
	if again := SignedZone("example.com.", z.Signatures()); !sameSigned(&again, &r.Signed[0]) {
		t.Error("the signatures do not survive a round trip through the release")
	}
	// Without keys, the same files build the unsigned release.
	cfg.DNSSEC.KeysDir = filepath.Join(t.TempDir(), "none")
	u, _, _, err := BuildSigned(cfg, "ci", "test", nil, testNow)
	if err != nil || len(u.Signed) != 0 || u.Digest != r.UnsignedDigest() {
		t.Errorf("unsigned build %v, %v", u.Signed, err)
	}
}

// TestSignSerial pins the serial rule of a re-sign (signZone): the file's
// serial when it is above the previous signed one, else the previous,
// raised by one when anything a secondary transfers changed.
func TestSignSerial(t *testing.T) {
	week := 7 * 24 * time.Hour
	for _, tc := range []struct {
		name string
		// zone is the zone file of the second build; at its time.
		zone   string
		at     time.Time
		serial uint32
		same   bool // the same signatures as the first build's
	}{
		{"nothing due", signedZoneFile, testNow.Add(time.Hour), 1, true},
		{"signatures due", signedZoneFile, testNow.Add(week), 2, false},
		{"file serial raised", strings.Replace(signedZoneFile, " 1 7200", " 7 7200", 1), testNow.Add(time.Hour), 7, false},
		{"file changed, serial not", signedZoneFile + "b IN A 192.0.2.9\n", testNow.Add(time.Hour), 2, false},
		{"glue changed, serial not", signedZoneFile + "sub IN NS ns.sub\nns.sub IN A 192.0.2.99\n", testNow.Add(time.Hour), 2, false},
		// What a secondary transfers is the same: the signed serial stays.
		{"file serial lower", strings.Replace(signedZoneFile, " 1 7200", " 0 7200", 1), testNow.Add(time.Hour), 1, true},
		{"file serial behind in RFC 1982", strings.Replace(signedZoneFile, " 1 7200", " 2147483650 7200", 1), testNow.Add(time.Hour), 1, true},
		{"file serial ahead in RFC 1982", strings.Replace(signedZoneFile, " 1 7200", " 2147483647 7200", 1), testNow.Add(time.Hour), 2147483647, false},
		{"file serial lower and changed", strings.Replace(signedZoneFile, " 1 7200", " 0 7200", 1) + "b IN A 192.0.2.9\n", testNow.Add(time.Hour), 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, zones := newSite(t, map[string]string{"example.com.zone": signedZoneFile})
			withKeys(t, cfg, "example.com.")
			r1, c1, _, err := BuildSigned(cfg, "", "", nil, testNow)
			if err != nil {
				t.Fatal(err)
			}
			write(t, filepath.Join(zones, "example.com.zone"), tc.zone)
			r2, c2, done, err := BuildSigned(cfg, "", "", c1, tc.at)
			if err != nil {
				t.Fatal(err)
			}
			if got := c2.Zones.Zone("example.com.").Serial(); got != tc.serial || done[0].Serial != tc.serial {
				t.Errorf("serial %d (signing says %d), want %d", got, done[0].Serial, tc.serial)
			}
			if same := sameSigned(&r1.Signed[0], &r2.Signed[0]); same != tc.same {
				t.Errorf("same signatures %v, want %v", same, tc.same)
			}
			if tc.same && tc.zone == signedZoneFile && r2.Digest != r1.Digest {
				t.Error("a re-sign with nothing due makes another release")
			}
			if tc.same && (done[0].Made != 0 || done[0].Reused == 0) {
				t.Errorf("made %d, reused %d", done[0].Made, done[0].Reused)
			}
			if !tc.same && done[0].Made == 0 {
				t.Error("nothing made")
			}
			verifyZone(t, c2.Zones.Zone("example.com."), tc.at)
		})
	}
}

// TestSignRefused: a pool that cannot be signed refuses the release,
// naming the zone and the pool.
func TestSignRefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(cfg *config.Config)
		zone   string
		want   []string
	}{
		{"over the limit", func(cfg *config.Config) { cfg.DNSSEC.MaxAnswerSets = 2 }, signedZoneFile,
			[]string{"zone example.com.", "www.example.com.", `pool "web"`, "over the limit of 2"}},
		{"refresh under the TTL", func(cfg *config.Config) { cfg.DNSSEC.Refresh = time.Minute; cfg.DNSSEC.Jitter = time.Minute },
			signedZoneFile, []string{"zone example.com.", "dnssec.refresh (1m0s) must exceed"}},
		{"DNSSEC records in the file", func(*config.Config) {}, signedZoneFile + "x IN NSEC a A\n",
			[]string{"zone example.com.", "the signer makes these records"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := newSite(t, map[string]string{"example.com.zone": tc.zone})
			withKeys(t, cfg, "example.com.")
			tc.change(cfg)
			_, _, _, err := BuildSigned(cfg, "", "", nil, testNow)
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Fatalf("err %v, want %q", err, w)
				}
			}
		})
	}
	// An unprovable pool: AAAA answers in one region, none in the other.
	cfg, _ := newSite(t, map[string]string{"example.com.zone": signedZoneFile})
	withKeys(t, cfg, "example.com.")
	cfg.Pools[0].Members[1].Endpoints[0].Addrs = append(cfg.Pools[0].Members[1].Endpoints[0].Addrs, netip.MustParseAddr("2001:db8::1"))
	c, err := compileRelease(mustBuild(t, cfg), ConfigDir(cfg), cfg.DNS.Zones.Limits(), nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Pools = Pools(cfg)
	_, _, err = SignRelease(cfg, c, nil, testNow)
	if ue, ok := errors.AsType[*dnssec.UnprovableError](err); !ok || ue.Pool != "web" || !strings.Contains(err.Error(), "zone example.com.") {
		t.Errorf("err %v, want an UnprovableError of pool web", err)
	}
}

func mustBuild(t *testing.T, cfg *config.Config) *release.Release {
	t.Helper()
	r, _, err := Build(cfg, "", "")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TestCompileReusesSigned: a release that changes only the signatures
// keeps the parsed zone (the unsigned one, signed anew); one that changes
// only the steering keeps the signed zone too.
func TestCompileReusesSigned(t *testing.T) {
	cfg, _ := newSite(t, map[string]string{"example.com.zone": signedZoneFile})
	withKeys(t, cfg, "example.com.")
	comp := NewCompiler(cfg)
	r1, _, err := comp.Build(cfg, "", "", nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	c1, err := comp.Compile(r1)
	if err != nil {
		t.Fatal(err)
	}
	r2, _, err := SignRelease(cfg, c1, c1, testNow.Add(8*24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if r2.Digest == r1.Digest {
		t.Fatal("not re-signed")
	}
	c2, err := comp.Compile(r2)
	if err != nil {
		t.Fatal(err)
	}
	z1, z2 := c1.Zones.Zone("example.com."), c2.Zones.Zone("example.com.")
	if z1 == z2 || z1.Unsigned() != z2.Unsigned() {
		t.Errorf("zone parsed again (%p, %p) or its signatures not renewed", z1.Unsigned(), z2.Unsigned())
	}
	if z2.Serial() != 2 {
		t.Errorf("serial %d after a re-sign", z2.Serial())
	}
	// The same signatures again: the signed zone itself.
	r3 := *r2
	r3.By = "another"
	c3, err := compileRelease(&r3, ConfigDir(cfg), cfg.DNS.Zones.Limits(), c2)
	if err != nil {
		t.Fatal(err)
	}
	if c3.Zones.Zone("example.com.") != z2 {
		t.Error("signed zone not reused for the same signatures")
	}
	// The signatures dropped: the unsigned zone.
	u := release.New(r2.Content, "", "")
	u.Signed = nil
	u.Digest = u.Content.Digest()
	c4, err := compileRelease(u, ConfigDir(cfg), cfg.DNS.Zones.Limits(), c2)
	if err != nil {
		t.Fatal(err)
	}
	if z := c4.Zones.Zone("example.com."); z != z1.Unsigned() || z.Signatures() != nil {
		t.Error("the unsigned zone is not the parsed one")
	}
}

// TestParseSignedZone: what a site refuses in the signatures a release
// carries, each error naming the zone.
func TestParseSignedZone(t *testing.T) {
	cfg, _ := newSite(t, map[string]string{"example.com.zone": signedZoneFile})
	withKeys(t, cfg, "example.com.")
	r, _, _, err := BuildSigned(cfg, "", "", nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	good := r.Signed[0]
	for _, tc := range []struct {
		name   string
		change func(z *release.SignedZone)
		limit  int
		want   string
	}{
		{"good", func(*release.SignedZone) {}, 1 << 20, ""},
		{"syntax", func(z *release.SignedZone) { z.Records += "x.example.com. IN RRSIG A 13\n" }, 1 << 20, "release: signed zone example.com.: records: "},
		{"include", func(z *release.SignedZone) { z.Records += "$INCLUDE /etc/passwd\n" }, 1 << 20, "records: "},
		{"not a signing's record", func(z *release.SignedZone) { z.Records += "x.example.com. 300 IN A 192.0.2.7\n" }, 1 << 20, "x.example.com. A: not a record signing makes"},
		{"out of the zone", func(z *release.SignedZone) { z.Records += "example.org. 300 IN NSEC example.org. A\n" }, 1 << 20, "example.org. NSEC: not in the zone"},
		{"too many", func(*release.SignedZone) {}, 3, "release: signed zone example.com.: more than 3 records"},
		{"generate", func(z *release.SignedZone) { z.Records = "$GENERATE 1-65535 x$ 300 IN NSEC example.com. A\n" }, 1 << 20, "more records than lines"},
		{"steered type", func(z *release.SignedZone) { z.Steered[0].Type = "MX" }, 1 << 20, `type "MX"`},
		{"steered address", func(z *release.SignedZone) { z.Steered[0].Addrs[0] = "192.0.2.300" }, 1 << 20, `address "192.0.2.300"`},
		{"steered family", func(z *release.SignedZone) { z.Steered[0].Addrs[0] = "2001:db8::1" }, 1 << 20, `address "2001:db8::1"`},
		{"steered signature", func(z *release.SignedZone) { z.Steered[0].Sigs[0] = "www.example.com. 30 IN A 192.0.2.1" }, 1 << 20, "is not an RRSIG of the set"},
		{"steered signature syntax", func(z *release.SignedZone) { z.Steered[0].Sigs[0] = "www.example.com. IN RRSIG" }, 1 << 20, "signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			z := good
			z.Steered = append([]release.SignedSet(nil), good.Steered...)
			z.Steered[0].Addrs = append([]string(nil), good.Steered[0].Addrs...)
			z.Steered[0].Sigs = append([]string(nil), good.Steered[0].Sigs...)
			tc.change(&z)
			_, err := ParseSignedZone(&z, tc.limit)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "example.com.")):
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
}

// FuzzParseSignedZone: whatever the text, no panic, and what parses
// converts back to text that parses to the same.
func FuzzParseSignedZone(f *testing.F) {
	f.Add("example.com.\t300\tIN\tNSEC\twww.example.com. NS SOA RRSIG NSEC DNSKEY\n", "www.example.com.", "A", "192.0.2.1",
		"www.example.com.\t30\tIN\tRRSIG\tA 13 3 30 20261215000000 20261201000000 1234 example.com. AAAA")
	f.Add("$GENERATE 1-65535 x$ NSEC a A\n", "", "AAAA", "::1", "")
	f.Add("( ( ( \n", "www.example.com.", "A", "0.0.0.0", "\\")
	f.Fuzz(func(t *testing.T, records, name, typ, addr, sig string) {
		sz := &release.SignedZone{Zone: "example.com.", Records: records,
			Steered: []release.SignedSet{{Name: name, Type: typ, TTL: 30, Addrs: []string{addr}, Sigs: []string{sig}}}}
		sigs, err := ParseSignedZone(sz, 1000)
		if err != nil {
			return
		}
		back := SignedZone("example.com.", sigs)
		again, err := ParseSignedZone(&back, 1000)
		if err != nil {
			t.Fatalf("round trip: %v", err)
		}
		if len(again.Records) != len(sigs.Records) || len(again.Steered) != len(sigs.Steered) {
			t.Fatalf("round trip: %d/%d records, %d/%d sets", len(again.Records), len(sigs.Records), len(again.Steered), len(sigs.Steered))
		}
	})
}

// TestResignDue: the signer role re-signs at the earliest refresh of the
// zones it holds keys of, or at a key event after the release was made,
// and at once for a zone it holds keys of that the release does not sign.
func TestResignDue(t *testing.T) {
	for _, tc := range []struct {
		name string
		// event adds a ZSK published at this offset from testNow (0: none).
		event    time.Duration
		unsigned bool // the running release does not sign the zone
		noKeys   bool
		want     func(c *Compiled) time.Time
	}{
		{"refresh", 0, false, false, func(c *Compiled) time.Time { return c.Release.Signed[0].Refresh }},
		{"a key published before the refresh", time.Hour, false, false, func(*Compiled) time.Time { return testNow.Add(time.Hour) }},
		{"a key published after the refresh", 30 * 24 * time.Hour, false, false, func(c *Compiled) time.Time { return c.Release.Signed[0].Refresh }},
		{"a key published before the release", -time.Hour, false, false, func(c *Compiled) time.Time { return c.Release.Signed[0].Refresh }},
		{"not signed yet", 0, true, false, func(*Compiled) time.Time { return testNow }},
		{"no keys", 0, false, true, func(*Compiled) time.Time { return time.Time{} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, _ := newSite(t, map[string]string{"example.com.zone": signedZoneFile})
			withKeys(t, cfg, "example.com.")
			if tc.event != 0 {
				since := testNow.Add(-24 * time.Hour)
				activate := testNow.Add(tc.event + 48*time.Hour)
				if tc.event < 0 {
					activate = testNow.Add(tc.event / 2) // before the release too
				}
				k, err := dnssec.Generate("example.com.", dns.ECDSAP256SHA256, dnssec.ZSK,
					dnssec.Timing{Created: since, Publish: testNow.Add(tc.event), Activate: activate})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := k.WriteFiles(cfg.DNSSEC.KeysDir); err != nil {
					t.Fatal(err)
				}
			}
			_, c, _, err := BuildSigned(cfg, "", "", nil, testNow)
			if err != nil {
				t.Fatal(err)
			}
			if tc.unsigned {
				c = &Compiled{Release: mustBuild(t, cfg), Zones: c.Zones, Pools: c.Pools, Config: c.Config}
			}
			rel := *c.Release
			rel.At = testNow
			c.Release = &rel
			if tc.noKeys {
				cfg.DNSSEC.KeysDir = filepath.Join(t.TempDir(), "none")
			}
			r := &Site{}
			r.cur.Store(cfg)
			if got, want := r.resignDue(c, testNow), tc.want(c); !got.Equal(want) {
				t.Errorf("due %s, want %s", got, want)
			}
		})
	}
}

// TestRollKeys: the signer starts a ZSK rollover once the key's
// dnssec.zsk_lifetime ends within the pre-publication time plus
// dnssec.refresh, writes the successor to the keys directory, counts it,
// starts no second one, and the successor's publication is the next
// re-sign time.
func TestRollKeys(t *testing.T) {
	cfg, _ := newSite(t, map[string]string{"example.com.zone": signedZoneFile})
	keys := withKeys(t, cfg, "example.com.")
	_, c, _, err := BuildSigned(cfg, "", "", nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	rel := *c.Release
	rel.At = testNow
	c.Release = &rel
	r := &Site{log: slog.New(slog.DiscardHandler), reg: prometheus.NewRegistry()}
	r.cur.Store(cfg)
	r.dnssecMetrics()
	count := func(result string) float64 {
		return promtestutil.ToFloat64(r.sign.rollovers.WithLabelValues("example.com.", "ZSK", result))
	}
	zskEnd := keys[1].Timing.Activate.Add(cfg.DNSSEC.ZSKLifetime)
	p := cfg.DNSSEC.RollTimings(keys)
	startBy := zskEnd.Add(-(p.Propagation + p.DNSKEYTTL + cfg.DNSSEC.Refresh))

	r.rollKeys(c, startBy.Add(-time.Minute))
	if got, _ := dnssec.LoadKeys(cfg.DNSSEC.KeysDir, "example.com.", false); len(got) != 2 || count("success") != 0 {
		t.Fatalf("a minute early: %d keys, %v rollovers; want none started", len(got), count("success"))
	}
	r.rollKeys(c, startBy)
	got, err := dnssec.LoadKeys(cfg.DNSSEC.KeysDir, "example.com.", true)
	if err != nil || len(got) != 3 || count("success") != 1 {
		t.Fatalf("when due: %d keys (%v), %v rollovers; want a successor", len(got), err, count("success"))
	}
	var succ *dnssec.Key
	for _, k := range got {
		if k.Role == dnssec.ZSK && k.Tag() != keys[1].Tag() {
			succ = k
		}
		if k.Tag() == keys[1].Tag() && !k.Timing.Inactive.Equal(zskEnd) {
			t.Errorf("the old ZSK retires %s, want %s (its lifetime's end)", k.Timing.Inactive, zskEnd)
		}
	}
	if succ == nil || !succ.Timing.Activate.Equal(zskEnd) || !succ.HasPrivate() {
		t.Fatalf("successor %+v: want a ZSK with its private half, active from %s", succ, zskEnd)
	}
	r.rollKeys(c, startBy.Add(time.Hour))
	if again, _ := dnssec.LoadKeys(cfg.DNSSEC.KeysDir, "example.com.", false); len(again) != 3 || count("success") != 1 {
		t.Errorf("an hour later: %d keys, %v rollovers; want no second one", len(again), count("success"))
	}
	if due := r.resignDue(c, startBy); !due.Equal(succ.Timing.Publish) && !due.Before(succ.Timing.Publish) {
		t.Errorf("re-sign due %s, want by the successor's publication %s", due, succ.Timing.Publish)
	}
}

// TestResignFailureCounted: a signer whose key does not load (a .private
// corrupted) fails to re-sign, says which file, and counts the failure in
// aya_dnssec_signings_total{result="failure"}, which the runbook of
// AyaDNSSECResignOverdue sends the operator to.
func TestResignFailureCounted(t *testing.T) {
	cfg, _ := newSite(t, map[string]string{"example.com.zone": signedZoneFile})
	keys := withKeys(t, cfg, "example.com.")
	_, c, _, err := BuildSigned(cfg, "", "", nil, testNow)
	if err != nil {
		t.Fatal(err)
	}
	r := &Site{log: slog.New(slog.DiscardHandler), reg: prometheus.NewRegistry()}
	r.cur.Store(cfg)
	r.dnssecMetrics()
	private := filepath.Join(cfg.DNSSEC.KeysDir, keys[1].Base()+".private")
	if err := os.WriteFile(private, []byte("Private-key-format: v1.3\nAlgorithm: 13 (ECDSAP256SHA256)\nPrivateKey: AAAA\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err = r.resignNow(t.Context(), c, testNow.Add(8*24*time.Hour))
	if err == nil || !strings.Contains(err.Error(), keys[1].Base()) {
		t.Fatalf("re-sign with a corrupted .private: %v, want an error naming %s", err, keys[1].Base())
	}
	if got := promtestutil.ToFloat64(r.sign.signings.WithLabelValues("example.com.", "failure")); got != 1 {
		t.Errorf("aya_dnssec_signings_total{result=failure} %v, want 1", got)
	}
	if due := r.resignDue(c, testNow); !due.Equal(testNow) {
		t.Errorf("re-sign due %s with keys that do not load, want now (%s): try again, and say why", due, testNow)
	}
}
