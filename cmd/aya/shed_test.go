package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/cluster"
)

// startProxy runs `aya proxy --config path` and waits until it listens.
func startProxy(t *testing.T, path string) *syncBuffer {
	t.Helper()
	log := startProc(t, exec.Command(ayaBin, "proxy", "--config", path), 40*time.Second).log
	waitFor(t, 15*time.Second, func() bool { return strings.Contains(log.String(), "proxy listening") },
		func() string { return "aya proxy did not start:\n" + log.String() })
	return log
}

// TestShedding runs a site and eu-west's proxy (capacity 10) in front of a
// backend that holds requests: in-flight requests through the proxy cross
// the high water mark, the proxy reports it, and a share of London's client
// subnets moves to us-east at the site; in the band between the marks the
// answers hold; when the load is gone they all come back.
func TestShedding(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server and a proxy")
	}
	dir := t.TempDir()
	zones, _ := filepath.Abs("../../zones")
	geoDB, _ := filepath.Abs("../../zones/geo/demo.yaml")
	s := &site{id: "s1", ip: "127.77.4.1", data: filepath.Join(dir, "s1"), config: filepath.Join(dir, "s1.yaml")}
	// 400 networks in London (10.0.0.0/24 to 10.1.149.0/24): many client
	// subnets in one place. Shedding moves whole networks (the scope of
	// their answer), so each is one of its own.
	var ov strings.Builder
	ov.WriteString("overrides:\n")
	for i := range 400 {
		fmt.Fprintf(&ov, "  - {network: 10.%d.%d.0/24, latitude: 51.51, longitude: -0.13, country: GB, continent: EU}\n", i/250, i%250)
	}
	overrides := filepath.Join(dir, "overrides.yaml")
	if err := os.WriteFile(overrides, []byte(ov.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(shedSiteConfig, s.dnsAddr(), zones, s.adminAddr(), geoDB, overrides)
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start(t)

	// The backend holds each request of /hold?g=G until G's group is
	// released (a closed channel).
	var mu sync.Mutex
	groups := map[string]chan struct{}{}
	backend := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			mu.Lock()
			ch := groups[r.URL.Query().Get("g")]
			mu.Unlock()
			select {
			case <-ch:
			case <-r.Context().Done():
			}
		}
		_, _ = w.Write([]byte("ok\n"))
	})}
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.77.4.101:8080")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = backend.Serve(ln) }()
	t.Cleanup(func() { _ = backend.Close() })

	pcfg := filepath.Join(dir, "proxy.yaml")
	if err := os.WriteFile(pcfg, []byte(fmt.Sprintf(shedProxyConfig, s.adminAddr())), 0o600); err != nil {
		t.Fatal(err)
	}
	startProxy(t, pcfg)

	// 400 client subnets in London, all answered from eu-west at first.
	subnets := make([]string, 400)
	for i := range subnets {
		subnets[i] = fmt.Sprintf("10.%d.%d.0/24", i/250, i%250)
	}
	answers := func() map[string]string {
		out := make(map[string]string, len(subnets))
		for _, sub := range subnets {
			ans := queryECS(t, s.dnsAddr(), "www.gslb.example.com.", dns.TypeA, sub)
			if len(ans) != 1 {
				t.Fatalf("client %s: %v", sub, ans)
			}
			out[sub] = ans[0][strings.LastIndexByte(ans[0], '\t')+1:]
		}
		return out
	}
	share := func(a map[string]string) float64 {
		n := 0
		for _, v := range a {
			if v == usEast {
				n++
			}
		}
		return float64(n) / float64(len(a))
	}
	waitFor(t, 10*time.Second, func() bool { return share(answers()) == 0 }, func() string { return "not all in eu-west at first" })

	// hold sends n requests of group g that the backend holds; unhold
	// releases the group's and waits for them to end. Groups let the load
	// go from one level to another with no moment at zero between, which a
	// load report (every 200 ms) could catch.
	wgs := map[string]*sync.WaitGroup{}
	hold := func(g string, n int) {
		mu.Lock()
		if groups[g] == nil {
			groups[g], wgs[g] = make(chan struct{}), new(sync.WaitGroup)
		}
		wg := wgs[g]
		mu.Unlock()
		for range n {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.77.4.31:8080/hold?g="+g, nil)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					_ = resp.Body.Close()
				}
			})
		}
	}
	unhold := func(g string) {
		mu.Lock()
		close(groups[g])
		wg := wgs[g]
		delete(groups, g)
		delete(wgs, g)
		mu.Unlock()
		wg.Wait()
	}
	shed := func() float64 {
		var st cluster.StatusResponse
		if err := (&cluster.Client{}).Do(t.Context(), s.adminAddr(), cluster.PathStatus, "", nil, &st); err != nil {
			return -1
		}
		for _, l := range st.View.Loads {
			if l.Region == "eu-west" {
				return l.Shed
			}
		}
		return 0
	}

	// 16 in flight against a capacity of 10: 160%, shed 1 - 0.8/1.6 = 0.5.
	hold("band", 7)
	hold("over", 9)
	waitFor(t, 10*time.Second, func() bool { return shed() == 0.5 }, func() string { return fmt.Sprintf("shed %v, want 0.5", shed()) })
	over := answers()
	if got := share(over); got < 0.4 || got > 0.6 {
		t.Errorf("at 50%% shedding, %.2f of subnets moved to us-east", got)
	}
	t.Logf("over the high water mark: shed 0.5, %.2f of 400 subnets moved to us-east", share(over))
	// aya explain, asking the running site, says why a moved client moved.
	for sub, a := range over {
		if a != usEast {
			continue
		}
		out, err := exec.CommandContext(t.Context(), ayaBin, "explain", "--admin", s.adminAddr(), "--ecs", sub, "www.gslb.example.com").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "shed: load 160% of capacity, over the high water mark 80%") {
			t.Errorf("aya explain --admin for %s: %v\n%s", sub, err, out)
		}
		break
	}
	// 7 left in flight: 70%, between the marks: the share holds, and so
	// does every answer.
	unhold("over")
	time.Sleep(1500 * time.Millisecond)
	for range 3 {
		if sh := shed(); sh != 0.5 {
			t.Errorf("between the marks: shed %v, want it held at 0.5", sh)
		}
		now := answers()
		for sub, a := range over {
			if now[sub] != a {
				t.Errorf("client %s flapped: %s, then %s", sub, a, now[sub])
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	unhold("band")

	// No load: the share steps down to 0 and everyone comes back.
	waitFor(t, 20*time.Second, func() bool { return shed() == 0 }, func() string { return fmt.Sprintf("shed %v, want 0", shed()) })
	if got := share(answers()); got != 0 {
		t.Errorf("after the load: %.2f still in us-east", got)
	}
}

const shedSiteConfig = `node: {id: s1}
dns: {listen: ["%s"], zones_dir: %s}
admin: {listen: "%s"}
geo: {database: %s, overrides: %s}
cluster:
  bootstrap: true
  fresh_for: 5s
  report_interval: 1s
  heartbeat_timeout: 500ms
  election_timeout: 500ms
  leader_lease_timeout: 250ms
` + testRegions + testStaticPool

const shedProxyConfig = `node: {id: proxy-euw}
proxy:
  region: eu-west
  report_to: ["%s"]
  report_interval: 200ms
  capacity: 10
  drain_timeout: 2s
  listeners: [{address: "127.77.4.31:8080"}]
  routes: [{pool: app}]
  pools:
    - name: app
      backends: [{name: b1, address: "127.77.4.101:8080"}]
`

// TestDemo runs `aya demo` as `make demo` does (./bin/aya from a
// directory with the repo's zones/), on its own 127.77.23.x addresses
// (--sites, --proxies, --backends): it prints its commands, each of which
// runs as printed; the London dig lands in eu-west and the curl through
// eu-west's proxy reaches a backend; the printed kill of eu-west's proxy is
// reported (which, how, its log) and London moves to us-east; Enter
// restarts it and London comes back; SIGINT stops everything it started.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo")
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil || !strings.Contains(string(mk), "./$(BIN) demo") || !strings.Contains(string(mk), "BIN      := bin/aya") {
		t.Fatalf("Makefile has no demo target running ./bin/aya demo: %v", err)
	}
	// The repo root as make demo sees it: zones/ and bin/aya.
	root := t.TempDir()
	zones, _ := filepath.Abs("../../zones")
	if err := errors.Join(os.Symlink(zones, filepath.Join(root, "zones")), os.Mkdir(filepath.Join(root, "bin"), 0o755)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(ayaBin, filepath.Join(root, "bin", "aya")); err != nil {
		t.Fatal(err)
	}
	const (
		london = "81.2.69.142/32"
		site1  = "127.77.23.11:5300"
		usEast = "127.77.23.31"
		euWest = "127.77.23.32"
	)
	cmd := exec.Command(ayaBin, "demo", "--dir", t.TempDir(),
		"--sites", "127.77.23.11-13", "--proxies", "127.77.23.31-33", "--backends", "127.77.23.41-46")
	cmd.Args[0] = "./bin/aya" // as make demo runs it
	cmd.Dir = root
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if stopped {
			return
		}
		// SIGINT first: killed, the demo would leave its children running.
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case err := <-done:
			t.Logf("demo stopped: %v", err)
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Logf("demo killed: %v", <-done)
		}
	})
	waitFor(t, 40*time.Second, func() bool { return strings.Contains(out.String(), "Ctrl-C stops everything") },
		func() string { return "the demo did not start:\n" + out.String() })
	lands := func(addr string) func() bool {
		return func() bool {
			a := queryECS(t, site1, "www.gslb.example.com.", dns.TypeA, london)
			return len(a) == 1 && strings.HasSuffix(a[0], addr)
		}
	}
	waitFor(t, 15*time.Second, lands(euWest), func() string { return "London is not answered eu-west's proxy" })

	// Every command printed runs as printed, from the root; the kill last.
	var kill string
	_, rest, _ := strings.Cut(out.String(), "Ask any site")
	_, hasDig := exec.LookPath("dig")
	for line := range strings.Lines(rest) {
		line, _, _ = strings.Cut(strings.TrimSpace(line), " #")
		line = strings.TrimPrefix(line, "watch -n 0.5 ")
		switch {
		case strings.HasPrefix(line, "kill "):
			kill = line
			continue
		case strings.HasPrefix(line, "dig ") && hasDig != nil:
			continue // dig not installed (apt-get install bind9-dnsutils)
		case !strings.HasPrefix(line, "dig ") && !strings.HasPrefix(line, "curl ") && !strings.HasPrefix(line, "./bin/aya "):
			continue
		}
		c := exec.CommandContext(t.Context(), "sh", "-c", line)
		c.Dir = root
		got, err := c.CombinedOutput()
		if err != nil || len(bytes.TrimSpace(got)) == 0 {
			t.Errorf("printed command %q: %v\n%s", line, err, got)
		}
		if strings.HasPrefix(line, "curl -s http://") && !strings.Contains(string(got), "hello from eu-west-") {
			t.Errorf("curl through eu-west's proxy: %q", got)
		}
		if strings.Contains(line, "subnet="+london) && strings.TrimSpace(string(got)) != euWest {
			t.Errorf("%s: %q, want %s", line, got, euWest)
		}
	}
	if kill == "" {
		t.Fatalf("no kill command printed:\n%s", out)
	}
	if got, err := exec.CommandContext(t.Context(), "sh", "-c", kill).CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", kill, err, got)
	}
	waitFor(t, 10*time.Second, func() bool {
		return strings.Contains(out.String(), "eu-west's proxy (127.77.23.32) died (pid ") &&
			// aya proxy stops cleanly on kill's SIGTERM: "exit status 0".
			strings.Contains(out.String(), ", exit status 0): aya proxy --config ") &&
			strings.Contains(out.String(), "Press Enter to restart it.")
	}, func() string { return "the demo did not report the killed proxy:\n" + out.String() })
	if !strings.Contains(out.String(), "the last lines of ") {
		t.Errorf("no log lines in the report:\n%s", out)
	}
	waitFor(t, 15*time.Second, lands(usEast), func() string { return "London did not move to us-east" })
	if _, err := io.WriteString(stdin, "\n"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, func() bool { return strings.Contains(out.String(), "restarted eu-west's proxy (127.77.23.32) (pid ") },
		func() string { return "the demo did not restart the proxy:\n" + out.String() })
	waitFor(t, 15*time.Second, lands(euWest), func() string { return "London did not come back to eu-west" })

	_ = cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-done:
		stopped = true
		if err != nil {
			t.Errorf("demo exited: %v\n%s", err, out)
		}
	case <-time.After(40 * time.Second):
		t.Fatalf("the demo did not stop on SIGINT\n%s", out)
	}
	// Everything it started is gone: the sites' and proxies' ports are free.
	for _, a := range []string{"127.77.23.11:9053", "127.77.23.12:9053", "127.77.23.13:9053", "127.77.23.31:8080", "127.77.23.32:8080", "127.77.23.33:8080", "127.77.23.41:8081"} {
		var d net.Dialer
		if c, err := d.DialContext(t.Context(), "tcp", a); err == nil {
			_ = c.Close()
			t.Errorf("%s still listening after the demo stopped", a)
		}
	}
}

// TestServeProxyRole: aya serve with a proxy section runs the region's
// proxy too, and reports its load to its own node.
func TestServeProxyRole(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server")
	}
	dir := t.TempDir()
	zones, _ := filepath.Abs("../../zones")
	geoDB, _ := filepath.Abs("../../zones/geo/demo.yaml")
	b := newBackend(t, "127.77.5.101:8080")
	s := &site{id: "s1", ip: "127.77.5.1", data: filepath.Join(dir, "s1"), config: filepath.Join(dir, "s1.yaml")}
	cfg := fmt.Sprintf(shedSiteConfig, s.dnsAddr(), zones, s.adminAddr(), geoDB, `""`) + `proxy:
  region: eu-west
  report_interval: 200ms
  listeners: [{address: "127.77.5.31:8080"}]
  routes: [{pool: app}]
  pools: [{name: app, backends: [{name: b1, address: "` + b.addr + `"}]}]
`
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	s.start(t)
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.77.5.31:8080/", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("through the serve's proxy: %d", resp.StatusCode)
	}
	waitFor(t, 10*time.Second, func() bool {
		var st cluster.StatusResponse
		if err := (&cluster.Client{}).Do(t.Context(), s.adminAddr(), cluster.PathStatus, "", nil, &st); err != nil {
			return false
		}
		for _, l := range st.View.Loads {
			if l.Region == "eu-west" && len(l.Reports) == 1 && l.Reports[0].Reporter == "s1" && l.Reports[0].Fresh {
				return true
			}
		}
		return false
	}, func() string { return "no load report from the serve's own proxy:\n" + s.s.log.String() })
}
