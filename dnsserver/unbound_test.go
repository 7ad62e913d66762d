package dnsserver

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/internal/testutil"
)

// The harness of the validation tests: a real Unbound (apt package
// unbound) as a validating resolver in front of the servers under test,
// each zone a stub zone with its key as the trust anchor.

// Loopback addresses of the validation tests (127.77.75–79 are theirs):
// Unbound listens on unboundAddr, AYA on ayaAddr, Knot on knotAddr.
const (
	unboundAddr = "127.77.75.1"
	ayaAddr     = "127.77.76.1"
	knotAddr    = "127.77.76.2"
)

// stubZone is a zone Unbound resolves by asking addr, validated from
// anchor (a DS or DNSKEY record in text form; empty: not validated).
type stubZone struct {
	name   string
	addr   netip.AddrPort
	anchor []string
}

// resolver is a running Unbound.
type resolver struct {
	addr    string // host:port it answers on, UDP and TCP
	conf    string // its unbound.conf
	logPath string
	ctl     string // unbound-control
	exited  chan error
}

// startUnbound runs Unbound on unboundAddr (a free port) with stubs, the
// client's ECS forwarded to every authority, and remote control on a Unix
// socket; it stops with the test, and its log (validation failures with
// their reasons: val-log-level 2) is printed when the test fails.
func startUnbound(t *testing.T, stubs ...stubZone) *resolver {
	t.Helper()
	bin := testutil.LookTool(t, "unbound", "unbound")
	ctl := testutil.LookTool(t, "unbound-control", "unbound")
	dir := t.TempDir()
	r := &resolver{conf: filepath.Join(dir, "unbound.conf"), logPath: filepath.Join(dir, "unbound.log"), ctl: ctl}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("unbound log (%s):\n%s", r.logPath, tail(r.logPath, 200))
		}
	})
	// A port found free may be taken before Unbound binds it: try a few.
	var err error
	for range 3 {
		port := testutil.FreePort(t, unboundAddr)
		r.addr = net.JoinHostPort(unboundAddr, strconv.Itoa(port))
		if err = os.WriteFile(r.conf, []byte(unboundConf(dir, port, stubs)), 0o600); err != nil {
			t.Fatal(err)
		}
		if err = r.start(t, bin); err == nil {
			return r
		}
	}
	t.Fatalf("unbound did not start: %v", err)
	return nil
}

// unboundConf is the configuration of a test resolver.
func unboundConf(dir string, port int, stubs []stubZone) string {
	var b strings.Builder
	fmt.Fprintf(&b, `server:
	interface: %[2]s@%[3]d
	port: %[3]d
	access-control: 127.0.0.0/8 allow
	chroot: ""
	username: ""
	directory: "%[1]s"
	pidfile: "%[1]s/unbound.pid"
	logfile: "%[1]s/unbound.log"
	use-syslog: no
	do-daemonize: no
	verbosity: 1
	val-log-level: 2
	log-servfail: yes
	ede: yes
	num-threads: 1
	so-reuseport: no
	do-ip6: no
	do-not-query-localhost: no
	module-config: "subnetcache validator iterator"
	# The client's ECS goes to every authority (no send-client-subnet:
	# Unbound adds none of its own, so answers to queries without ECS,
	# the DNSKEY RRset's among them, stay in the regular cache).
	client-subnet-always-forward: yes
	max-client-subnet-ipv4: 24
	max-client-subnet-ipv6: 56
	# As deployed: QNAME minimisation (RFC 9156), random case in the
	# queries' names (0x20), aggressive use of the NSEC chain (RFC 8198).
	qname-minimisation: yes
	use-caps-for-id: yes
	aggressive-nsec: yes
	minimal-responses: no
`, dir, unboundAddr, port)
	for _, s := range stubs {
		for _, a := range s.anchor {
			// One line, fields separated by spaces (%q would escape tabs).
			fmt.Fprintf(&b, "\ttrust-anchor: \"%s\"\n", strings.Join(strings.Fields(a), " "))
		}
		if len(s.anchor) == 0 {
			fmt.Fprintf(&b, "\tdomain-insecure: %q\n", s.name)
		}
	}
	fmt.Fprintf(&b, `remote-control:
	control-enable: yes
	control-interface: "%s/control.sock"
	control-use-cert: no
`, dir)
	for _, s := range stubs {
		fmt.Fprintf(&b, "stub-zone:\n\tname: %q\n\tstub-addr: %s@%d\n", s.name, s.addr.Addr(), s.addr.Port())
	}
	return b.String()
}

// start runs Unbound and waits until it answers (at most 10 s).
func (r *resolver) start(t *testing.T, bin string) error {
	t.Helper()
	if out, err := exec.CommandContext(t.Context(), filepath.Join(filepath.Dir(bin), "unbound-checkconf"), r.conf).CombinedOutput(); err != nil {
		t.Fatalf("unbound-checkconf: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, "-d", "-c", r.conf)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start unbound: %v", err)
	}
	r.exited = make(chan error, 1)
	go func() { r.exited <- cmd.Wait() }()
	stop := func() { testutil.StopProcess(cmd, r.exited) }
	deadline := time.Now().Add(10 * time.Second)
	for {
		q := new(dns.Msg)
		q.SetQuestion("version.server.", dns.TypeTXT)
		q.Question[0].Qclass = dns.ClassCHAOS
		c := &dns.Client{Timeout: 200 * time.Millisecond}
		if _, _, err := c.Exchange(q, r.addr); err == nil {
			break
		}
		select {
		case err := <-r.exited:
			return fmt.Errorf("unbound exited: %v\n%s\n%s", err, stderr.String(), tail(r.logPath, 20))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			stop()
			return fmt.Errorf("unbound does not answer on %s after 10s\n%s", r.addr, tail(r.logPath, 20))
		}
	}
	t.Cleanup(stop)
	return nil
}

// tail is the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}

// query asks the resolver for name and qtype with RD and DO set, and the
// client subnet ecs when it is valid, over UDP (TCP when truncated).
func (r *resolver) query(t *testing.T, name string, qtype uint16, ecs netip.Prefix) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = true
	q.SetEdns0(1232, true)
	if ecs.IsValid() {
		fam := uint16(1)
		if ecs.Addr().Is6() {
			fam = 2
		}
		o := q.IsEdns0()
		o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam,
			SourceNetmask: uint8(ecs.Bits()), Address: ecs.Masked().Addr().AsSlice()})
	}
	c := &dns.Client{Timeout: 5 * time.Second, UDPSize: 1232}
	reply, _, err := c.Exchange(q, r.addr)
	if err == nil && reply.Truncated {
		c.Net = "tcp"
		reply, _, err = c.Exchange(q, r.addr)
	}
	if err != nil {
		t.Fatalf("query %s %s: %v", name, dns.TypeToString[qtype], err)
	}
	return reply
}

// control runs unbound-control with args and returns its output.
func (r *resolver) control(t *testing.T, args ...string) string {
	t.Helper()
	out, err := r.runControl(t, args)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func (r *resolver) runControl(t *testing.T, args []string) (string, error) {
	out, err := exec.CommandContext(t.Context(), r.ctl, append([]string{"-c", r.conf}, args...)...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("unbound-control %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out), nil
}

// controlAll runs unbound-control once for each of cmds, a few at a time.
func (r *resolver) controlAll(t *testing.T, cmds [][]string) {
	t.Helper()
	errs := make([]error, len(cmds))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, args := range cmds {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			_, errs[i] = r.runControl(t, args)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// answerText is the answer section of m in text form with the TTLs zeroed
// (a resolver counts them down) and the RRSIGs left out, sorted.
func answerText(m *dns.Msg) []string {
	var out []string
	for _, rr := range m.Answer {
		if rr.Header().Rrtype == dns.TypeRRSIG {
			continue
		}
		rr = dns.Copy(rr)
		rr.Header().Ttl = 0
		out = append(out, rr.String())
	}
	slices.Sort(out)
	return out
}

// ede is the extended DNS errors of m (RFC 8914), in text form.
func ede(m *dns.Msg) string {
	var out []string
	if o := m.IsEdns0(); o != nil {
		for _, e := range o.Option {
			if e, ok := e.(*dns.EDNS0_EDE); ok {
				out = append(out, e.String())
			}
		}
	}
	return strings.Join(out, "; ")
}
