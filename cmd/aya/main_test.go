package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	ayasite "github.com/aya-gslb/aya/site"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/internal/testutil"
)

// These tests run the real binary, as an operator does.

var ayaBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "aya-bin")
	if err != nil {
		panic(err)
	}
	ayaBin = filepath.Join(dir, "aya")
	build := exec.Command("go", "build", "-race", "-o", ayaBin, ".")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		_ = os.RemoveAll(dir)
		panic("build aya: " + err.Error())
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

const goodZone = `$ORIGIN gslb.example.com.
$TTL 3600
@    IN SOA ns1 hostmaster 1 7200 3600 1209600 300
@    IN NS  ns1
ns1  IN A   192.0.2.53
www  30 IN A %s
`

func writeZone(t *testing.T, dir, body string) {
	t.Helper()
	// Write then rename, as deploy tools do, so a reload never sees half a file.
	tmp := filepath.Join(dir, ".tmp")
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "gslb.example.com.zone")); err != nil {
		t.Fatal(err)
	}
}

func zoneWith(addr string) string { return strings.Replace(goodZone, "%s", addr, 1) }

// syncBuffer collects a process's output for the test to read while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// proc is a child process of a test, with its output. At the end of the
// test it gets SIGTERM and must exit cleanly within stopWithin.
type proc struct {
	cmd  *exec.Cmd
	log  *syncBuffer
	done chan error // receives Wait's result once
	// killed is set by kill: the process is gone and reaped.
	killed atomic.Bool
}

// startProc starts cmd (its output into a buffer) and registers its stop.
func startProc(t *testing.T, cmd *exec.Cmd, stopWithin time.Duration) *proc {
	t.Helper()
	p := &proc{cmd: cmd, log: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() {
		if p.killed.Load() {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-p.done:
			if err != nil {
				t.Errorf("%s exited: %v\n%s", cmd.Args, err, p.log)
			}
		case <-time.After(stopWithin):
			_ = cmd.Process.Kill()
			t.Errorf("%s did not stop on SIGTERM\n%s", cmd.Args, p.log)
		}
	})
	return p
}

// kill stops the process with SIGKILL, as a crash would, reaps it and
// returns Wait's error ("signal: killed").
func (p *proc) kill() error {
	p.killed.Store(true)
	_ = p.cmd.Process.Kill()
	return <-p.done
}

// served is a running `aya serve`.
type served struct {
	*proc
	dns   string
	admin string
}

var (
	dnsAddrRe   = regexp.MustCompile(`msg="dns listening" udp=\[([^\]]+)\]`)
	adminAddrRe = regexp.MustCompile(`msg="admin listening" addr=(\S+)`)
)

// startServe runs `aya serve args...` with env added, and waits until it
// logs its addresses.
func startServe(t *testing.T, env []string, args ...string) *served {
	t.Helper()
	return startServeUnder(t, nil, env, args...)
}

// startServeUnder is startServe with the command run by wrapper (such as
// taskset -c 0).
func startServeUnder(t *testing.T, wrapper, env []string, args ...string) *served {
	t.Helper()
	argv := append(append(slices.Clone(wrapper), ayaBin, "serve"), args...)
	cmd := exec.Command(argv[0], argv[1:]...)
	// Each server keeps its Raft state in its own directory on a free
	// port, unless env says otherwise (the last value of a key wins).
	cmd.Env = append(os.Environ(), "AYA_CLUSTER_DATA_DIR="+t.TempDir(), "AYA_CLUSTER_BIND=127.0.0.1:0")
	cmd.Env = append(cmd.Env, env...)
	s := &served{proc: startProc(t, cmd, 10*time.Second)}
	log := s.log
	waitFor(t, 15*time.Second, func() bool {
		out := log.String()
		if m := dnsAddrRe.FindStringSubmatch(out); m != nil {
			s.dns = m[1]
		}
		if m := adminAddrRe.FindStringSubmatch(out); m != nil {
			s.admin = m[1]
		}
		return s.dns != ""
	}, func() string { return "aya serve did not start:\n" + log.String() })
	return s
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, d time.Duration, cond func() bool, msg func() string) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(msg())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func queryA(addr, name string) (string, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	c := &dns.Client{Timeout: time.Second}
	r, _, err := c.Exchange(m, addr)
	if err != nil {
		return "", err
	}
	if r.Rcode != dns.RcodeSuccess || !r.Authoritative || len(r.Answer) != 1 {
		return "", errors.New("unexpected reply: " + r.String())
	}
	return r.Answer[0].(*dns.A).A.String(), nil
}

func metric(t *testing.T, admin, name string) string {
	t.Helper()
	_, body := testutil.HTTP(t, http.MethodGet, "http://"+admin+"/metrics")
	for line := range strings.Lines(body) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			return v
		}
	}
	return ""
}

// TestServeReload: a running server reloads on file change and on SIGHUP; a
// broken zone is reported and the previous version keeps serving; a client
// querying throughout sees no failure.
func TestServeReload(t *testing.T) {
	dir := t.TempDir()
	writeZone(t, dir, zoneWith("192.0.2.1"))
	s := startServe(t, []string{
		"AYA_DNS_LISTEN=127.0.0.1:0", "AYA_ADMIN_LISTEN=127.0.0.1:0", "AYA_DNS_ZONES_DIR=" + dir,
		"AYA_GEO_DATABASE=../../zones/geo/demo.yaml", // the embedded default's path is relative to the repo root
	})
	if got, err := queryA(s.dns, "www.gslb.example.com."); err != nil || got != "192.0.2.1" {
		t.Fatalf("before reload: %q, %v", got, err)
	}

	// A client that queries throughout.
	ctx, cancel := context.WithCancel(t.Context())
	var sent, failed atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		for ctx.Err() == nil && sent.Load() < 200000 {
			sent.Add(1)
			if _, err := queryA(s.dns, "www.gslb.example.com."); err != nil {
				failed.Add(1)
				t.Logf("query failed: %v", err)
			}
		}
	})

	// A changed file is picked up without a signal.
	writeZone(t, dir, zoneWith("192.0.2.2"))
	waitFor(t, 5*time.Second, func() bool { got, _ := queryA(s.dns, "www.gslb.example.com."); return got == "192.0.2.2" },
		func() string { return "file change not reloaded:\n" + s.log.String() })

	// A broken zone: reported, the previous version keeps serving.
	writeZone(t, dir, zoneWith("192.0.2.3")+"bad IN CNAME www\nbad IN A 192.0.2.9\n")
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, func() bool { return metric(t, s.admin, `aya_release_builds_total{result="failure"}`) != "" },
		func() string { return "failed reload not counted:\n" + s.log.String() })
	if got, err := queryA(s.dns, "www.gslb.example.com."); err != nil || got != "192.0.2.2" {
		t.Errorf("after a broken reload: %q, %v; want the previous 192.0.2.2", got, err)
	}
	if want := "gslb.example.com.zone:8: CNAME and other data at bad.gslb.example.com. (RFC 1034 §3.6.2)"; !strings.Contains(s.log.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, s.log)
	}

	// Fixed again: served.
	writeZone(t, dir, zoneWith("192.0.2.4"))
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, func() bool { got, _ := queryA(s.dns, "www.gslb.example.com."); return got == "192.0.2.4" },
		func() string { return "fixed zone not reloaded:\n" + s.log.String() })

	cancel()
	wg.Wait()
	if sent.Load() == 0 || failed.Load() != 0 {
		t.Errorf("during reloads: %d queries, %d failed", sent.Load(), failed.Load())
	}
	t.Logf("%d queries during reloads, none failed", sent.Load())
}

// TestCheck: `aya check` exits 1 and names file:line for each kind of broken
// zone, and 0 for the repo's own zones. The messages are pinned in
// testdata/check.golden (the zones directory shows as ZONES); refresh with
// go test ./cmd/aya -run TestCheck -update.
func TestCheck(t *testing.T) {
	tests := []struct {
		name string
		zone string
	}{
		{"syntax error", zoneWith("192.0.2.1") + "www2 IN A 300.1.1.1\n"},
		{"unknown type", zoneWith("192.0.2.1") + "www2 IN FOO 192.0.2.1\n"},
		{"CNAME beside other data", zoneWith("192.0.2.1") + "www IN CNAME ns1\n"},
		{"missing SOA", "$ORIGIN gslb.example.com.\n@ 300 IN NS ns1\nns1 300 IN A 192.0.2.53\n"},
		{"out of zone", zoneWith("192.0.2.1") + "www.example.org. IN A 192.0.2.1\n"},
		{"unknown pool", zoneWith("192.0.2.1") + "api 30 IN GSLB wbe\n"},
		{"misspelt pool", zoneWith("192.0.2.1") + "api 30 IN GSLB wen\n"},
		{"unclosed parenthesis", "$ORIGIN gslb.example.com.\n@ 300 IN SOA ns1 hostmaster ( 1 3600 600 86400 60\n@ 300 IN NS ns1\nns1 300 IN A 192.0.2.53\n"},
	}
	var golden strings.Builder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			writeZone(t, dir, tc.zone)
			out, err := exec.Command(ayaBin, "check", "--zones-dir", dir, "--geo-database=").CombinedOutput()
			var ee *exec.ExitError
			if !errors.As(err, &ee) || ee.ExitCode() != 1 {
				t.Fatalf("exit: %v, want status 1; output:\n%s", err, out)
			}
			fmt.Fprintf(&golden, "# %s\n%s", tc.name, strings.ReplaceAll(string(out), dir, "ZONES"))
		})
	}
	checkGolden(t, "check.golden", []byte(golden.String()))
	t.Run("repo zones", func(t *testing.T) {
		out, err := exec.Command(ayaBin, "check", "--config", "../../aya.yaml").CombinedOutput()
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
	})
}

// TestCheckFiles pins what `aya check` says of configuration files that a
// newcomer gets wrong: a zones directory or geo file that is not there
// (named by key and line), a tab in the YAML, and a node that neither
// bootstraps nor joins a cluster (a warning; check passes). Refresh with
// go test ./cmd/aya -run TestCheckFiles -update.
func TestCheckFiles(t *testing.T) {
	zones := t.TempDir()
	writeZone(t, zones, zoneWith("192.0.2.1"))
	tests := []struct {
		name, config string
		code         int
	}{
		{"missing zones and geo", "node: {id: n1}\ndns:\n  listen: [\"127.77.23.1:5300\"]\n  zones_dir: nozones\ngeo:\n  database: geo/nogeo.mmdb\n", 1},
		{"tab", "node: {id: n1}\ndns:\n\tzones_dir: zones\n", 1},
		{"no bootstrap, no join", "node: {id: n1}\ndns: {listen: [\"127.77.23.1:5300\"], zones_dir: " + zones + "}\ncluster: {bootstrap: false, data_dir: data}\n", 0},
	}
	var golden strings.Builder
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "aya.yaml")
			if err := os.WriteFile(path, []byte(tc.config), 0o600); err != nil {
				t.Fatal(err)
			}
			out, err := exec.Command(ayaBin, "check", "--config", path).CombinedOutput()
			code := 0
			if ee, ok := errors.AsType[*exec.ExitError](err); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code {
				t.Errorf("exit status %d, want %d:\n%s", code, tc.code, out)
			}
			text := strings.ReplaceAll(strings.ReplaceAll(string(out), dir, "DIR"), zones, "ZONES")
			fmt.Fprintf(&golden, "# %s (exit status %d)\n%s", tc.name, code, text)
		})
	}
	checkGolden(t, "check-files.golden", []byte(golden.String()))
}

// TestQuickStart runs the README's quick start: `aya serve` on the shipped
// aya.yaml (what `make run` does) and the dig line `make run` prints, which
// must return the zone's answer with the AA bit.
func TestQuickStart(t *testing.T) {
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed (apt-get install bind9-dnsutils); .ci/run installs it")
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	digLine := regexp.MustCompile(`(?m)^\s*@echo "\s*(dig @[^"]+)"`).FindSubmatch(mk)
	if digLine == nil {
		t.Fatal("Makefile's run target prints no dig line")
	}
	s := startServe(t, nil, "--config", "../../aya.yaml")
	args := strings.Fields(string(digLine[1]))[1:]
	if !strings.Contains(string(digLine[1]), "@127.0.0.1 -p 5300") || s.dns != "127.0.0.1:5300" {
		t.Fatalf("dig line %q does not match the served address %s", digLine[1], s.dns)
	}
	out, err := exec.CommandContext(t.Context(), "dig", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig: %v\n%s", err, out)
	}
	for _, want := range []string{"status: NOERROR", "flags: qr aa;", "www.gslb.example.com.\t30\tIN\tA\t198.51.100.10"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dig output lacks %q:\n%s", want, out)
		}
	}
}

// queryECS asks addr for name/qtype with the client subnet sub ("" for
// none) and returns the answer records as text.
func queryECS(t *testing.T, addr, name string, qtype uint16, sub string) []string {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	if sub != "" {
		p := netip.MustParsePrefix(sub)
		o := &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()}
		if p.Addr().Is6() {
			o.Family = 2
		}
		m.SetEdns0(1232, false)
		m.IsEdns0().Option = append(m.IsEdns0().Option, o)
	}
	r, _, err := (&dns.Client{Timeout: 2 * time.Second}).Exchange(m, addr)
	if err != nil {
		t.Fatal(err)
	}
	out := []string{}
	for _, rr := range r.Answer {
		out = append(out, rr.String())
	}
	return out
}

// TestExplainMatchesServe: `aya explain` (and the admin API's /v1/explain)
// give the answer the running server gives, for a spread of clients.
func TestExplainMatchesServe(t *testing.T) {
	s := startServe(t, []string{"AYA_DNS_LISTEN=127.0.0.1:0", "AYA_ADMIN_LISTEN=127.0.0.1:0"}, "--config", "../../aya.yaml")
	for _, sub := range []string{"", "81.2.69.142/32", "216.160.83.56/32", "175.16.199.0/24", "2a02:cfc0::/32", "214.0.1.0/24", "10.1.2.0/24"} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			t.Run(sub+"/"+dns.TypeToString[qt], func(t *testing.T) {
				want := queryECS(t, s.dns, "www.gslb.example.com.", qt, sub)
				args := []string{"explain", "--config", "../../aya.yaml", "--json", "www.gslb.example.com", dns.TypeToString[qt]}
				if sub != "" {
					args = append(args, "--ecs", sub)
				}
				out, err := exec.CommandContext(t.Context(), ayaBin, args...).Output()
				if err != nil {
					t.Fatalf("aya explain: %v", err)
				}
				var cli ayasite.Explanation
				if err := json.Unmarshal(out, &cli); err != nil {
					t.Fatal(err)
				}
				_, body := testutil.HTTP(t, http.MethodGet, "http://"+s.admin+"/v1/explain?name=www.gslb.example.com&type="+dns.TypeToString[qt]+"&ecs="+url.QueryEscape(sub))
				var api ayasite.Explanation
				if err := json.Unmarshal([]byte(body), &api); err != nil {
					t.Fatalf("%v: %s", err, body)
				}
				if !slices.Equal(cli.Answer.Records, want) || !slices.Equal(api.Answer.Records, want) {
					t.Errorf("server answers %q\nexplain %q\n/v1/explain %q", want, cli.Answer.Records, api.Answer.Records)
				}
				if cli.Pool != "web" || len(cli.Regions) != 3 {
					t.Errorf("explain: pool %q with %d regions, want web with 3", cli.Pool, len(cli.Regions))
				}
			})
		}
	}
}

// TestGeoReload: a corrupt database on reload is refused with its path,
// and the previous one keeps steering; a good one is picked up.
func TestGeoReload(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "geo.mmdb")
	build := func(src string) {
		t.Helper()
		srcFile := filepath.Join(dir, "src.yaml")
		if err := os.WriteFile(srcFile, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(ayaBin, "geo", "build", srcFile, "-o", db).CombinedOutput(); err != nil {
			t.Fatalf("aya geo build: %v\n%s", err, out)
		}
	}
	// 10.9.0.0/16 first in London, later in Singapore.
	build("- {network: 10.9.0.0/16, latitude: 51.5, longitude: -0.1, country: GB, continent: EU}\n")
	s := startServe(t, []string{"AYA_DNS_LISTEN=127.0.0.1:0", "AYA_ADMIN_LISTEN=127.0.0.1:0", "AYA_GEO_DATABASE=" + db}, "--config", "../../aya.yaml")
	eu := []string{"www.gslb.example.com.\t30\tIN\tA\t198.51.100.10"}
	if got := queryECS(t, s.dns, "www.gslb.example.com.", dns.TypeA, "10.9.1.0/24"); !slices.Equal(got, eu) {
		t.Fatalf("before: %q, want %q", got, eu)
	}

	// Corrupt: a truncated copy, written in place.
	data, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, data[:len(data)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Process.Signal(syscall.SIGHUP)
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(s.log.String(), "geo reload failed") },
		func() string { return "corrupt database not reported:\n" + s.log.String() })
	if !strings.Contains(s.log.String(), db) {
		t.Errorf("the error does not name %s:\n%s", db, s.log)
	}
	if got := queryECS(t, s.dns, "www.gslb.example.com.", dns.TypeA, "10.9.1.0/24"); !slices.Equal(got, eu) {
		t.Errorf("after a corrupt reload: %q, want the previous database's %q", got, eu)
	}

	// A good database again: picked up.
	build("- {network: 10.9.0.0/16, latitude: 1.3, longitude: 103.8, country: SG, continent: AS}\n")
	ap := []string{"www.gslb.example.com.\t30\tIN\tA\t203.0.113.10"}
	waitFor(t, 5*time.Second, func() bool {
		return slices.Equal(queryECS(t, s.dns, "www.gslb.example.com.", dns.TypeA, "10.9.1.0/24"), ap)
	}, func() string { return "new database not picked up:\n" + s.log.String() })
}

// TestServeSIGHUPAtStart: a SIGHUP that comes while aya serve is still
// starting (here, as soon as the admin API listens, before the site has
// started) neither stops it nor is lost: it serves, and reloads.
func TestServeSIGHUPAtStart(t *testing.T) {
	cmd := exec.Command(ayaBin, "serve", "--config", "../../aya.yaml")
	cmd.Env = append(os.Environ(), "AYA_CLUSTER_DATA_DIR="+t.TempDir(), "AYA_CLUSTER_BIND=127.0.0.1:0",
		"AYA_DNS_LISTEN=127.0.0.1:0", "AYA_ADMIN_LISTEN=127.0.0.1:0")
	p := startProc(t, cmd, 10*time.Second)
	waitFor(t, 15*time.Second, func() bool { return adminAddrRe.MatchString(p.log.String()) },
		func() string { return "no admin listening:\n" + p.log.String() })
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	var dnsAddr string
	waitFor(t, 15*time.Second, func() bool {
		if m := dnsAddrRe.FindStringSubmatch(p.log.String()); m != nil {
			dnsAddr = m[1]
		}
		return dnsAddr != ""
	}, func() string { return "aya serve did not start after a SIGHUP:\n" + p.log.String() })
	if got, err := queryA(dnsAddr, "www.gslb.example.com."); err != nil || got == "" {
		t.Errorf("query: %q, %v", got, err)
	}
	waitFor(t, 5*time.Second, func() bool { return strings.Contains(p.log.String(), `msg="reload requested" by=SIGHUP`) },
		func() string { return "the early SIGHUP was lost:\n" + p.log.String() })
}
