package main

import (
	"context"
	"fmt"
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

	// The backend holds each request until release is closed.
	var mu sync.Mutex
	release := make(chan struct{})
	backend := &http.Server{ReadHeaderTimeout: time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ch := release
		mu.Unlock()
		if r.URL.Path == "/hold" {
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

	// hold sends n requests that the backend holds.
	var wg sync.WaitGroup
	hold := func(n int) {
		for range n {
			wg.Go(func() {
				req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, "http://127.77.4.31:8080/hold", nil)
				if resp, err := http.DefaultClient.Do(req); err == nil {
					_ = resp.Body.Close()
				}
			})
		}
	}
	unhold := func() {
		mu.Lock()
		close(release)
		release = make(chan struct{})
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
	hold(16)
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
	unhold()

	// 7 in flight: 70%, between the marks: the share holds, and so does
	// every answer.
	hold(7)
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
	unhold()

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

// TestDemo runs `aya demo` from the repo root, as `make demo` does: it
// prints its commands, the London dig lands in eu-west, the curl through
// eu-west's proxy reaches a backend, and SIGINT stops everything it started.
func TestDemo(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the demo")
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil || !strings.Contains(string(mk), "./$(BIN) demo") {
		t.Fatalf("Makefile has no demo target running aya demo: %v", err)
	}
	dir := t.TempDir()
	cmd := exec.Command(ayaBin, "demo", "--dir", dir)
	cmd.Dir = "../.."
	out := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			_ = cmd.Process.Kill()
			t.Logf("demo killed: %v", <-done)
		}
	})
	waitFor(t, 40*time.Second, func() bool { return strings.Contains(out.String(), "Ctrl-C stops everything") },
		func() string { return "the demo did not start:\n" + out.String() })
	waitFor(t, 15*time.Second, func() bool {
		a := queryECS(t, "127.0.0.11:5300", "www.gslb.example.com.", dns.TypeA, "81.2.69.142/32")
		return len(a) == 1 && strings.HasSuffix(a[0], "127.0.0.32")
	}, func() string { return "London is not answered eu-west's proxy" })
	req, _ := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://127.0.0.32:8080/", nil)
	req.Host = "www.gslb.example.com"
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 256)
	n, _ := resp.Body.Read(body)
	_ = resp.Body.Close()
	if !strings.Contains(string(body[:n]), "hello from eu-west-") {
		t.Errorf("curl through eu-west's proxy: %d %q", resp.StatusCode, body[:n])
	}
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
	for _, a := range []string{"127.0.0.11:9053", "127.0.0.12:9053", "127.0.0.13:9053", "127.0.0.31:8080", "127.0.0.32:8080", "127.0.0.33:8080", "127.0.0.41:8081"} {
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
