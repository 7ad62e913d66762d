package dnsserver

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The Knot DNS secondary of these tests: knotd from apt (package knot),
// run as a subprocess with its configuration, run directory and storage in
// a temporary directory, on 127.77.71.1, fed by AXFR and NOTIFY from a
// server on 127.77.70.2.
const (
	secondaryAddr = "127.77.71.1"
	primaryAddr   = "127.77.70.2"
)

// knotd returns the path of knotd (lookTool).
func knotd(t *testing.T) string { return lookTool(t, "knotd", "knot") }

// lookTool returns the path of the program name, or skips the test without
// it; under CI, which installs pkg (.ci/run), it fails instead.
func lookTool(t *testing.T, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed: .ci/run installs %s", name, pkg)
		}
		t.Skipf("%s not installed (apt-get install %s); .ci/run installs it", name, pkg)
	}
	return p
}

// freeUDPPort returns a port free for UDP and TCP on addr just now, for a
// process that picks no port itself.
func freeUDPPort(t *testing.T, addr string) int {
	t.Helper()
	for range 20 {
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(netip.MustParseAddr(addr), 0)))
		if err != nil {
			t.Fatal(err)
		}
		port := u.LocalAddr().(*net.UDPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort(addr, fmt.Sprint(port)))
		u.Close()
		if err == nil {
			l.Close()
			return port
		}
	}
	t.Fatal("no free port")
	return 0
}

// startKnotSecondary runs knotd on secondaryAddr and port as a secondary
// of primary for zones, and returns its address. It stops with the test;
// its log is shown when the test fails. (validate_test.go of the unbound
// tests runs Knot as a primary; this one is a secondary.)
func startKnotSecondary(t *testing.T, port int, primary netip.AddrPort, zones ...string) string {
	t.Helper()
	bin := knotd(t)
	dir := t.TempDir()
	var conf strings.Builder
	fmt.Fprintf(&conf, `server:
  rundir: %[1]s
  listen: %[2]s@%[3]d
database:
  storage: %[1]s
log:
  - target: stderr
    any: info
remote:
  - id: aya
    address: %[4]s@%[5]d
    via: %[2]s
acl:
  - id: notify_from_aya
    address: %[4]s
    action: notify
template:
  - id: default
    storage: %[1]s
    master: aya
    acl: notify_from_aya
    # Keep the zone in memory: no zone file, no journal.
    zonefile-sync: -1
    zonefile-load: none
    journal-content: none
zone:
`, dir, secondaryAddr, port, primary.Addr(), primary.Port())
	for _, z := range zones {
		fmt.Fprintf(&conf, "  - domain: %s\n", z)
	}
	path := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("knotd log:\n%s", log.String())
		}
	})
	addr := net.JoinHostPort(secondaryAddr, fmt.Sprint(port))
	// Up when it answers (REFUSED or SERVFAIL until the zone is in).
	if err := poll(t, 10*time.Second, func() error {
		select {
		case err := <-exited:
			return fmt.Errorf("knotd exited: %v\n%s", err, log.String())
		default:
		}
		_, err := knotQuery(addr, zones[0], dns.TypeSOA)
		return err
	}); err != nil {
		t.Fatalf("knotd did not come up: %v", err)
	}
	return addr
}

// knotQuery asks addr over UDP, without recursion.
func knotQuery(addr, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(q, addr)
	return r, err
}

// soaSerial is the serial addr answers for zone's SOA, or an error while
// it has no zone.
func soaSerial(addr, zone string) (uint32, error) {
	r, err := knotQuery(addr, zone, dns.TypeSOA)
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return 0, fmt.Errorf("SOA: %s, %d answers", rcodeName(r.Rcode), len(r.Answer))
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, fmt.Errorf("SOA answer %v", r.Answer[0])
	}
	return soa.Serial, nil
}

// waitSerial waits, within a deadline, for the server at addr to answer
// serial for zone's SOA, and returns how long it took.
func waitSerial(t *testing.T, addr, zone string, serial uint32, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	if err := poll(t, within, func() error {
		got, err := soaSerial(addr, zone)
		if err == nil && got != serial {
			err = fmt.Errorf("serial %d, want %d", got, serial)
		}
		return err
	}); err != nil {
		t.Fatalf("%s serial %d at %s: %v", zone, serial, addr, err)
	}
	return time.Since(start)
}

// knotSecondary starts a primary (primaryServer, cfg), lets publish give
// it its first zone (of serial 1), starts Knot as its secondary for zone,
// and waits until Knot serves it. It returns the primary and Knot's address.
func knotSecondary(t *testing.T, cfg *Config, zone string, publish func(*Server)) (*Server, string) {
	t.Helper()
	knotd(t)
	port := freeUDPPort(t, secondaryAddr)
	s := primaryServer(t, cfg, netip.AddrPortFrom(netip.MustParseAddr(secondaryAddr), uint16(port)))
	publish(s)
	addr := startKnotSecondary(t, port, s.UDPAddrs()[0], zone)
	waitSerial(t, addr, zone, 1, 10*time.Second)
	return s, addr
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
	s, addr := knotSecondary(t, &cfg, "gslb.test.", func(s *Server) {
		if err := s.Publish(gslbZonesAt(t, 1), cfg); err != nil {
			t.Fatal(err)
		}
	})

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
			r, err := knotQuery(addr, tc.qname, tc.qtype)
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
		waitSerial(t, addr, "gslb.test.", serial, 5*time.Second)
		took := time.Since(start)
		worst = max(worst, took)
		t.Logf("serial %d at the secondary %v after the publish", serial, took.Round(time.Millisecond))
		r, err := knotQuery(addr, "version.gslb.test.", dns.TypeTXT)
		if err != nil {
			t.Fatal(err)
		}
		checkSection(t, "answer", r.Answer, []string{fmt.Sprintf(`version.gslb.test. 300 IN TXT "%d"`, serial)})
	}
	if worst > time.Second {
		t.Errorf("a new serial took %v to reach the secondary, want under 1s", worst)
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
	s, addr := knotSecondary(t, &cfg, signedOrigin, func(s *Server) { publish(s, f.sigs) })

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
	waitSerial(t, addr, signedOrigin, 2, 5*time.Second)
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
			bin := lookTool(t, tc.tool, tc.pkg)
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
