package dnsserver

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"

	ayatest "github.com/aya-gslb/aya/internal/testutil"
)

// The Knot DNS secondary of these tests: knotd from apt (package knot),
// run as a subprocess with its configuration, run directory and storage in
// a temporary directory, on 127.77.71.1, fed by AXFR and NOTIFY from a
// server on 127.77.70.2.
const (
	secondaryAddr = "127.77.71.1"
	primaryAddr   = "127.77.70.2"
)

// knotSecondary starts a primary (primaryServer, cfg), lets publish give
// it its first zone (of serial 1), starts Knot as its secondary for zone,
// and waits until Knot serves it. It returns the primary and Knot.
func knotSecondary(t *testing.T, cfg *Config, zone string, publish func(*Server)) (*Server, *ayatest.Knot) {
	t.Helper()
	ayatest.LookTool(t, "knotd", "knot")
	port := ayatest.FreePort(t, secondaryAddr)
	s := primaryServer(t, cfg, netip.AddrPortFrom(netip.MustParseAddr(secondaryAddr), uint16(port)))
	publish(s)
	k := ayatest.KnotSecondary{Addr: secondaryAddr, Port: port, Primaries: s.UDPAddrs(), Zones: []string{zone}}.Start(t)
	ayatest.WaitSerial(t, k.Addr, zone, 1, 10*time.Second)
	return s, k
}

// primaryServer serves on primaryAddr, allowing transfers from and
// notifying the secondary at notify: it sets those in cfg, which the
// test's publishes take.
func primaryServer(t *testing.T, cfg *Config, notify netip.AddrPort) *Server {
	t.Helper()
	cfg.Listen = []string{primaryAddr + ":0"}
	cfg.UDPSockets = 1
	cfg.TransferAllow = []netip.Prefix{netip.PrefixFrom(notify.Addr(), 32)}
	cfg.Notify = []netip.AddrPort{notify}
	s := New(*cfg)
	runServer(t, s)
	return s
}

// gslbZoneText is testdata/gslb/gslb.test.zone with the serial given and a
// TXT record at "version" that says it too.
func gslbZoneText(t *testing.T, serial uint32) string {
	t.Helper()
	text := string(readFile(t, filepath.Join(gslbZones, "gslb.test.zone")))
	if !strings.Contains(text, " hostmaster 1 ") {
		t.Fatal("gslb.test.zone: no serial 1 to replace")
	}
	text = strings.Replace(text, " hostmaster 1 ", fmt.Sprintf(" hostmaster %d ", serial), 1)
	return text + fmt.Sprintf("version 300 IN TXT \"%d\"\n", serial)
}

func gslbZonesAt(t *testing.T, serial uint32) *Zones {
	t.Helper()
	z, err := ParseZone(strings.NewReader(gslbZoneText(t, serial)), "gslb.test.", "gslb.test.zone")
	if err != nil {
		t.Fatal(err)
	}
	return zonesOf(t, z)
}

// TestKnotSecondary: a real Knot DNS secondary, fed by AXFR and NOTIFY,
// serves the zone with the steered names' default answers (and CNAMEs and
// wildcards to them), and has each new serial within a second of the
// publish.
func TestKnotSecondary(t *testing.T) {
	cfg := gslbConfig(t)
	s, knot := knotSecondary(t, &cfg, "gslb.test.", func(s *Server) {
		if err := s.Publish(gslbZonesAt(t, 1), cfg); err != nil {
			t.Fatal(err)
		}
	})
	addr := knot.Addr

	// What the secondary answers: the defaults of testPools (each pool's
	// first region), whatever the primary's health view says (the dead
	// pool's endpoint is down there).
	for _, tc := range []struct {
		qname  string
		qtype  uint16
		rcode  int
		answer []string
	}{
		{"www.gslb.test.", dns.TypeA, dns.RcodeSuccess, []string{"www.gslb.test. 30 IN A 192.0.2.10"}},
		{"www.gslb.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"www.gslb.test. 30 IN AAAA 2001:db8:1::10"}},
		{"www.gslb.test.", dns.TypeTXT, dns.RcodeSuccess, []string{`www.gslb.test. 3600 IN TXT "steered"`}},
		{"api.gslb.test.", dns.TypeA, dns.RcodeSuccess, []string{"api.gslb.test. 3600 IN CNAME www.gslb.test.", "www.gslb.test. 30 IN A 192.0.2.10"}},
		{"x.dyn.gslb.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"x.dyn.gslb.test. 30 IN AAAA 2001:db8:1::10"}},
		{"v4.gslb.test.", dns.TypeA, dns.RcodeSuccess, []string{"v4.gslb.test. 60 IN A 192.0.2.44"}},
		{"v4.gslb.test.", dns.TypeAAAA, dns.RcodeSuccess, nil},
		{"sf.gslb.test.", dns.TypeA, dns.RcodeSuccess, []string{"sf.gslb.test. 30 IN A 198.51.100.99"}},
		{"nope.gslb.test.", dns.TypeA, dns.RcodeNameError, nil},
	} {
		t.Run(tc.qname+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			r, err := ayatest.Query(addr, tc.qname, tc.qtype)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tc.rcode || !r.Authoritative {
				t.Errorf("rcode %s AA %v, want %s and AA", rcodeName(r.Rcode), r.Authoritative, rcodeName(tc.rcode))
			}
			checkSection(t, "answer", r.Answer, tc.answer)
		})
	}

	// New versions: the time from Publish to the secondary answering the
	// new serial. NOTIFY makes it transfer at once; without it the zone's
	// refresh (7200 s) would.
	var worst time.Duration
	for serial := uint32(2); serial <= 6; serial++ {
		start := time.Now()
		if err := s.Publish(gslbZonesAt(t, serial), cfg); err != nil {
			t.Fatal(err)
		}
		ayatest.WaitSerial(t, addr, "gslb.test.", serial, 5*time.Second)
		took := time.Since(start)
		worst = max(worst, took)
		t.Logf("serial %d at the secondary %v after the publish", serial, took.Round(time.Millisecond))
		r, err := ayatest.Query(addr, "version.gslb.test.", dns.TypeTXT)
		if err != nil {
			t.Fatal(err)
		}
		checkSection(t, "answer", r.Answer, []string{fmt.Sprintf(`version.gslb.test. 300 IN TXT "%d"`, serial)})
	}
	if worst > time.Second {
		t.Errorf("a new serial took %v to reach the secondary, want under 1s", worst)
	}
	// Knot asks IXFR for each new serial and takes the whole zone we
	// answer it with (RFC 1995 §4: no history kept).
	if err := poll(t, 2*time.Second, func() error {
		if n := strings.Count(knot.Log(), "receiving AXFR-style IXFR"); n < 5 {
			return fmt.Errorf("knotd logged %d AXFR-style IXFRs, want one per new serial (5)", n)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
	// Knot acknowledged the notifications (serial 1's too, if it came up
	// before the tries ran out).
	if err := poll(t, 2*time.Second, func() error {
		if ok := testutil.ToFloat64(s.metrics.notify.WithLabelValues("gslb.test.", notifyOK)); ok < 5 {
			return fmt.Errorf("%v notifications acknowledged, want at least 5", ok)
		}
		return nil
	}); err != nil {
		t.Error(err)
	}
}

// TestKnotSecondarySigned: the Knot secondary of a signed zone serves it
// signed: DNSKEY, NSEC proofs and the steered defaults with their RRSIGs,
// and takes a new signed version (re-signed with a raised serial) within a
// second.
func TestKnotSecondarySigned(t *testing.T) {
	f := newSignedFixture(t)
	cfg := testConfig()
	cfg.GSLB = GSLB{Pools: signedPools(), Geo: testGeo(t)}
	publish := func(s *Server, sigs *Signatures) {
		t.Helper()
		sz, err := f.zone.WithSignatures(sigs)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Publish(zonesOf(t, sz), cfg); err != nil {
			t.Fatal(err)
		}
	}
	s, knot := knotSecondary(t, &cfg, signedOrigin, func(s *Server) { publish(s, f.sigs) })
	addr := knot.Addr

	for _, tc := range []struct {
		qname string
		qtype uint16
		rcode int
		// answer and ns in brief form (signedanswer_test.go: an RRSIG as
		// its type covered and labels).
		answer, ns []string
	}{
		{"signed.test.", dns.TypeDNSKEY, dns.RcodeSuccess, []string{"signed.test. 3600 IN DNSKEY 256", "signed.test. 3600 IN DNSKEY 257", "signed.test. 3600 IN RRSIG DNSKEY 2"}, nil},
		{"www.signed.test.", dns.TypeA, dns.RcodeSuccess, []string{"www.signed.test. 30 IN A 192.0.2.10", "www.signed.test. 30 IN RRSIG A 3"}, nil},
		{"www.signed.test.", dns.TypeAAAA, dns.RcodeSuccess, []string{"www.signed.test. 30 IN AAAA 2001:db8:1::10", "www.signed.test. 30 IN RRSIG AAAA 3"}, nil},
		{"x.dyn.signed.test.", dns.TypeA, dns.RcodeSuccess, []string{"x.dyn.signed.test. 30 IN A 192.0.2.10", "x.dyn.signed.test. 30 IN RRSIG A 3"},
			// The NSEC proving no closer name (RFC 4035 §3.1.3.3).
			[]string{"*.dyn.signed.test. 300 IN NSEC host.ent.signed.test. A AAAA RRSIG NSEC", "*.dyn.signed.test. 300 IN RRSIG NSEC 3"}},
		{"v4.signed.test.", dns.TypeAAAA, dns.RcodeSuccess, nil, []string{
			"signed.test. 300 IN SOA ns1.signed.test. hostmaster.signed.test. 1 7200 3600 1209600 300",
			"v4.signed.test. 300 IN NSEC *.wild.signed.test. A RRSIG NSEC",
			"signed.test. 300 IN RRSIG SOA 2", "v4.signed.test. 300 IN RRSIG NSEC 3"}},
		// NXDOMAIN: the NSEC covering the name and the one covering its
		// wildcard (RFC 4035 §3.1.3.2).
		{"nope.signed.test.", dns.TypeA, dns.RcodeNameError, nil, []string{
			"signed.test. 300 IN SOA ns1.signed.test. hostmaster.signed.test. 1 7200 3600 1209600 300",
			"mail.signed.test. 300 IN NSEC ns1.signed.test. A RRSIG NSEC",
			"signed.test. 300 IN NSEC alias.signed.test. NS SOA MX RRSIG NSEC DNSKEY CDS CDNSKEY",
			"signed.test. 300 IN RRSIG SOA 2", "mail.signed.test. 300 IN RRSIG NSEC 3", "signed.test. 300 IN RRSIG NSEC 2"}},
	} {
		t.Run(tc.qname+"/"+dns.TypeToString[tc.qtype], func(t *testing.T) {
			q := new(dns.Msg)
			q.SetQuestion(tc.qname, tc.qtype)
			q.RecursionDesired = false
			q.SetEdns0(4096, true)
			c := &dns.Client{Net: "tcp", Timeout: time.Second}
			r, _, err := c.Exchange(q, addr)
			if err != nil {
				t.Fatal(err)
			}
			if r.Rcode != tc.rcode || !r.Authoritative {
				t.Errorf("rcode %s AA %v, want %s and AA", rcodeName(r.Rcode), r.Authoritative, rcodeName(tc.rcode))
			}
			checkBrief(t, "answer", r.Answer, tc.answer)
			checkBrief(t, "authority", r.Ns, tc.ns)
		})
	}

	// A new signed version, serial 2.
	v := signing{name: "serial 2", soa2: true}
	sigs := v.sign(t, f)
	start := time.Now()
	publish(s, sigs)
	ayatest.WaitSerial(t, addr, signedOrigin, 2, 5*time.Second)
	took := time.Since(start)
	t.Logf("signed serial 2 at the secondary %v after the publish", took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the new signed serial took %v to reach the secondary, want under 1s", took)
	}
}

// docBlock returns the first fenced code block of docs/operations.md after
// the line that starts with after.
func docBlock(t *testing.T, after string) string {
	t.Helper()
	text := string(readFile(t, "../docs/operations.md"))
	i := strings.Index(text, "\n"+after)
	if i < 0 {
		t.Fatalf("docs/operations.md: no line starting %q", after)
	}
	rest := text[i:]
	start := strings.Index(rest, "\n```")
	if start < 0 {
		t.Fatalf("docs/operations.md: no code block after %q", after)
	}
	rest = rest[start+4:]
	rest = rest[strings.Index(rest, "\n")+1:] // past the fence's language
	end := strings.Index(rest, "\n```")
	if end < 0 {
		t.Fatalf("docs/operations.md: the code block after %q does not end", after)
	}
	return rest[:end+1]
}

// TestSecondaryConfigDocs: the Knot and BIND secondary configurations of
// docs/operations.md ("Secondaries and NOTIFY") are valid for knotc
// conf-check and named-checkconf.
func TestSecondaryConfigDocs(t *testing.T) {
	for _, tc := range []struct {
		name, after, tool, pkg string
		args                   func(path string) []string
	}{
		{"knot", "Knot DNS (`knot` from apt)", "knotc", "knot", func(p string) []string { return []string{"-c", p, "conf-check"} }},
		{"bind", "The address Knot transfers from", "named-checkconf", "bind9-utils", func(p string) []string { return []string{p} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bin := ayatest.LookTool(t, tc.tool, tc.pkg)
			conf := docBlock(t, tc.after)
			path := filepath.Join(t.TempDir(), "secondary.conf")
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			if out, err := exec.CommandContext(t.Context(), bin, tc.args(path)...).CombinedOutput(); err != nil {
				t.Errorf("%s: %v\n%s\nconfiguration:\n%s", tc.tool, err, out, conf)
			}
		})
	}
}
