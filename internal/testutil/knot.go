package testutil

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// LookTool returns the path of the program name (searched in PATH, then
// in /usr/sbin, where Debian puts daemons), or skips the test without it;
// under CI (CI=true), which installs the apt package pkg (.ci/run), it
// fails instead.
func LookTool(t testing.TB, name, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	if p := filepath.Join("/usr/sbin", name); isExecutable(p) {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s not installed: .ci/run installs %s", name, pkg)
	}
	t.Skipf("%s not installed (apt-get install %s); .ci/run installs it", name, pkg)
	return ""
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// FreePort returns a port free for UDP and TCP on addr just now, for a
// process that cannot be told to pick one itself.
func FreePort(t testing.TB, addr string) int {
	t.Helper()
	ip := netip.MustParseAddr(addr)
	for range 20 {
		u, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(netip.AddrPortFrom(ip, 0)))
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
	t.Fatal("no free port on " + addr)
	return 0
}

// KnotSecondary is a Knot DNS secondary (knotd, apt package knot) to run.
type KnotSecondary struct {
	// Addr and Port are where it listens, and Addr where it transfers and
	// answers NOTIFY from.
	Addr string
	Port int
	// Primaries are the servers it transfers from and takes NOTIFY from.
	Primaries []netip.AddrPort
	// Zones are the zones it is a secondary for.
	Zones []string
}

// Knot is a running knotd.
type Knot struct {
	Addr string // host:port
	log  *lockedBuffer
}

// Log is what knotd has logged so far.
func (k *Knot) Log() string { return k.log.String() }

// Start runs knotd as k says, with its configuration, run directory and
// storage in a temporary directory (the zones in memory: no zone file, no
// journal), and waits until it answers. It stops with the test, and shows
// its log when the test fails.
func (k KnotSecondary) Start(t testing.TB) *Knot {
	t.Helper()
	bin := LookTool(t, "knotd", "knot")
	dir := t.TempDir()
	var conf strings.Builder
	fmt.Fprintf(&conf, "server:\n  rundir: %s\n  listen: %s@%d\ndatabase:\n  storage: %s\n", dir, k.Addr, k.Port, dir)
	conf.WriteString("log:\n  - target: stderr\n    any: info\nremote:\n")
	var ids, addrs []string
	for i, p := range k.Primaries {
		id := fmt.Sprintf("primary%d", i+1)
		fmt.Fprintf(&conf, "  - id: %s\n    address: %s@%d\n    via: %s\n", id, p.Addr(), p.Port(), k.Addr)
		ids, addrs = append(ids, id), append(addrs, p.Addr().String())
	}
	fmt.Fprintf(&conf, "acl:\n  - id: notify_from_primaries\n    address: [%s]\n    action: notify\n", strings.Join(addrs, ", "))
	fmt.Fprintf(&conf, "template:\n  - id: default\n    storage: %s\n    master: [%s]\n    acl: notify_from_primaries\n", dir, strings.Join(ids, ", "))
	conf.WriteString("    zonefile-sync: -1\n    zonefile-load: none\n    journal-content: none\nzone:\n")
	for _, z := range k.Zones {
		fmt.Fprintf(&conf, "  - domain: %s\n", z)
	}
	path := filepath.Join(dir, "knot.conf")
	if err := os.WriteFile(path, []byte(conf.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	log := &lockedBuffer{}
	cmd := exec.Command(bin, "-c", path)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		StopProcess(cmd, exited)
		if t.Failed() {
			t.Logf("knotd log:\n%s", log.String())
		}
	})
	addr := net.JoinHostPort(k.Addr, fmt.Sprint(k.Port))
	// Up when it answers (SERVFAIL until the zone is in).
	deadline := time.Now().Add(10 * time.Second)
	for {
		select {
		case err := <-exited:
			t.Fatalf("knotd exited: %v\n%s", err, log.String())
		default:
		}
		_, err := Query(addr, k.Zones[0], dns.TypeSOA)
		if err == nil {
			return &Knot{Addr: addr, log: log}
		}
		if time.Now().After(deadline) {
			t.Fatalf("knotd did not come up: %v\n%s", err, log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Query asks addr over UDP, without recursion, with a short timeout.
func Query(addr, name string, qtype uint16) (*dns.Msg, error) {
	q := new(dns.Msg)
	q.SetQuestion(name, qtype)
	q.RecursionDesired = false
	c := &dns.Client{Timeout: 500 * time.Millisecond}
	r, _, err := c.Exchange(q, addr)
	return r, err
}

// SOASerial is the serial addr answers for zone's SOA, or an error while
// it has none.
func SOASerial(addr, zone string) (uint32, error) {
	r, err := Query(addr, zone, dns.TypeSOA)
	if err != nil {
		return 0, err
	}
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		return 0, fmt.Errorf("SOA of %s: %s, %d answers", zone, dns.RcodeToString[r.Rcode], len(r.Answer))
	}
	soa, ok := r.Answer[0].(*dns.SOA)
	if !ok {
		return 0, errors.New("SOA answer " + r.Answer[0].String())
	}
	return soa.Serial, nil
}

// WaitSerial waits, within a deadline, for the server at addr to answer
// serial for zone's SOA, and returns how long it took.
func WaitSerial(t testing.TB, addr, zone string, serial uint32, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, err := SOASerial(addr, zone)
		if err == nil && got == serial {
			return time.Since(start)
		}
		if err == nil {
			err = fmt.Errorf("serial %d, want %d", got, serial)
		}
		if time.Since(start) > within {
			t.Fatalf("%s serial %d at %s: %v", zone, serial, addr, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// lockedBuffer is a bytes.Buffer written by a process's output copier
// and read by the test.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// StopProcess stops the process cmd started (exited receives its Wait):
// SIGTERM, then SIGKILL after 5 s.
func StopProcess(cmd *exec.Cmd, exited <-chan error) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		_ = cmd.Process.Kill()
		<-exited
	}
}
