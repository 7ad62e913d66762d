// Package demo runs `aya demo`: a whole AYA deployment on loopback (three
// sites of one Raft cluster, three regions each an aya proxy in front of
// two small HTTP backends), as child processes of this very binary.
package demo

import (
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
	"syscall"
	"time"
)

// The demo's layout: three sites (aya serve), three regions, each with an
// aya proxy in front of two backends. Every address is on loopback.
var demoRegions = []struct {
	name, site, proxy string
	backends          [2]string
}{
	{"us-east", "127.0.0.11", "127.0.0.31", [2]string{"127.0.0.41", "127.0.0.42"}},
	{"eu-west", "127.0.0.12", "127.0.0.32", [2]string{"127.0.0.43", "127.0.0.44"}},
	{"ap-southeast", "127.0.0.13", "127.0.0.33", [2]string{"127.0.0.45", "127.0.0.46"}},
}

const (
	demoDNSPort     = "5300"
	demoAdminPort   = "9053"
	demoRaftPort    = "7300"
	demoProxyPort   = "8080"
	demoBackendPort = "8081"
)

// Run runs the demo until ctx ends: three sites, three regions each with a
// proxy and two backends, on loopback, from the zones/ of the working
// directory; dir holds their configurations, logs and Raft data (""
// for a new temporary directory). It prints what to try to out.
func Run(ctx context.Context, out io.Writer, dir string) error {
	zones, err := filepath.Abs("zones")
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(zones, "geo", "demo.yaml")); err != nil {
		return fmt.Errorf("run aya demo from the repo root: %w", err)
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "aya-demo-"); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer func() { cancel(); wg.Wait() }()

	// The backends, in this process.
	for _, r := range demoRegions {
		for i, ip := range r.backends {
			addr := net.JoinHostPort(ip, demoBackendPort)
			name := fmt.Sprintf("%s-%d", r.name, i+1)
			if err := demoBackend(ctx, &wg, addr, name); err != nil {
				return err
			}
		}
	}
	// The sites and the proxies, as child processes.
	var procs []*demoProc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i := range demoRegions {
		cfg := filepath.Join(dir, fmt.Sprintf("site-%d.yaml", i+1))
		if err := os.WriteFile(cfg, []byte(demoSiteConfig(i, zones, dir)), 0o600); err != nil {
			return err
		}
		p, err := startDemoProc(ctx, self, filepath.Join(dir, fmt.Sprintf("site-%d.log", i+1)), "serve", "--config", cfg)
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	for i, r := range demoRegions {
		cfg := filepath.Join(dir, fmt.Sprintf("proxy-%s.yaml", r.name))
		if err := os.WriteFile(cfg, []byte(demoProxyConfig(i)), 0o600); err != nil {
			return err
		}
		p, err := startDemoProc(ctx, self, filepath.Join(dir, fmt.Sprintf("proxy-%s.log", r.name)), "proxy", "--config", cfg)
		if err != nil {
			return err
		}
		procs = append(procs, p)
	}
	if err := demoWait(ctx, procs); err != nil {
		return err
	}
	printDemo(out, dir, procs)
	<-ctx.Done()
	_, _ = fmt.Fprintln(out, "\nstopping everything the demo started...")
	return nil
}

// demoSiteConfig is site i's aya serve configuration: one Raft cluster of
// the three, the repo's zones, pool web over the three regions' proxies.
func demoSiteConfig(i int, zones, dir string) string {
	r := demoRegions[i]
	membership := "  bootstrap: true\n"
	if i > 0 {
		membership = fmt.Sprintf("  join: [\"%s:%s\"]\n", demoRegions[0].site, demoAdminPort)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `node: {id: site-%d}
dns: {listen: ["%s:%s"], zones_dir: %s}
admin: {listen: "%s:%s"}
geo: {database: %s}
cluster:
  bind: "%s:%s"
  data_dir: %s
%s  fresh_for: 30s
  report_interval: 2s
regions:
  - {name: us-east, latitude: 39.04, longitude: -77.49, country: US, continent: NA}
  - {name: eu-west, latitude: 53.35, longitude: -6.26, country: IE, continent: EU}
  - {name: ap-southeast, latitude: 1.29, longitude: 103.85, country: SG, continent: AS}
pools:
  - name: web
    ttl: 5
    check: {kind: http, port: %s, path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 2}
    members:
`, i+1, r.site, demoDNSPort, zones, r.site, demoAdminPort, filepath.Join(zones, "geo", "demo.yaml"),
		r.site, demoRaftPort, filepath.Join(dir, fmt.Sprintf("data-%d", i+1)), membership, demoProxyPort)
	for _, rr := range demoRegions {
		fmt.Fprintf(&b, "      - region: %s\n        endpoints: [{name: %s-proxy, addresses: [%s]}]\n", rr.name, rr.name, rr.proxy)
	}
	return b.String()
}

// demoProxyConfig is region i's aya proxy configuration.
func demoProxyConfig(i int) string {
	r := demoRegions[i]
	var reportTo []string
	for _, s := range demoRegions {
		reportTo = append(reportTo, fmt.Sprintf("\"%s:%s\"", s.site, demoAdminPort))
	}
	return fmt.Sprintf(`node: {id: proxy-%s}
proxy:
  region: %s
  report_to: [%s]
  report_interval: 2s
  capacity: 200
  access_log: false
  listeners:
    - {address: "%s:%s"}
  routes:
    - {pool: app}
  pools:
    - name: app
      algorithm: least_time
      check: {kind: http, path: /healthz, interval: 1s, timeout: 500ms, rise: 2, fall: 2}
      consecutive_failures: 3
      backends:
        - {name: %s-1, address: "%s:%s"}
        - {name: %s-2, address: "%s:%s"}
`, r.name, r.name, strings.Join(reportTo, ", "), r.proxy, demoProxyPort,
		r.name, r.backends[0], demoBackendPort, r.name, r.backends[1], demoBackendPort)
}

// demoBackend serves "hello from <name>" and /healthz on addr until ctx ends.
func demoBackend(ctx context.Context, wg *sync.WaitGroup, addr, name string) error {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("demo backend %s: %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		// Plain text, so the echoed request parts cannot be markup.
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = fmt.Fprintf(w, "hello from %s (%s %s, X-Forwarded-For: %s)\n", name, r.Method, r.URL.Path, r.Header.Get("X-Forwarded-For")) //nolint:gosec // G705: text/plain with nosniff, a demo echo
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	wg.Go(func() { _ = srv.Serve(ln) })
	wg.Go(func() {
		<-ctx.Done()
		_ = srv.Close()
	})
	return nil
}

// demoProc is a child process of the demo.
type demoProc struct {
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

func startDemoProc(ctx context.Context, self, logFile string, args ...string) (*demoProc, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	// Cancelled with ctx, a child gets SIGTERM and 10s to stop, then SIGKILL.
	cmd := exec.CommandContext(ctx, self, args...) //nolint:gosec // G204: this very binary (os.Executable), with arguments the demo builds
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return nil, err
	}
	p := &demoProc{args: args, cmd: cmd, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = f.Close()
		close(p.done)
	}()
	return p, nil
}

// stop sends SIGTERM and waits up to 10s, then kills.
func (p *demoProc) stop() {
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// demoWait waits until every site answers on its admin API and every proxy
// on its port, or a child exits.
func demoWait(ctx context.Context, procs []*demoProc) error {
	var addrs []string
	for _, r := range demoRegions {
		addrs = append(addrs, net.JoinHostPort(r.site, demoAdminPort), net.JoinHostPort(r.proxy, demoProxyPort))
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range addrs {
		for {
			for _, p := range procs {
				select {
				case <-p.done:
					return fmt.Errorf("aya %s exited; see its log", strings.Join(p.args, " "))
				default:
				}
			}
			var d net.Dialer
			c, err := d.DialContext(ctx, "tcp", a)
			if err == nil {
				_ = c.Close()
				break
			}
			if ctx.Err() != nil || time.Now().After(deadline) {
				return errors.Join(fmt.Errorf("%s did not come up", a), ctx.Err())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	return nil
}

func printDemo(out io.Writer, dir string, procs []*demoProc) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(out, format, args...) }
	p("AYA demo: three sites, three regions, all on loopback (configs and logs in %s)\n\n", dir)
	for i, r := range demoRegions {
		p("  site-%d  dns %s:%s  admin http://%s:%s  raft %s:%s\n", i+1, r.site, demoDNSPort, r.site, demoAdminPort, r.site, demoRaftPort)
	}
	for i, r := range demoRegions {
		p("  %-12s proxy http://%s:%s (pid %d) -> backends %s, %s :%s\n", r.name, r.proxy, demoProxyPort,
			procs[len(demoRegions)+i].cmd.Process.Pid, r.backends[0], r.backends[1], demoBackendPort)
	}
	p(`
Ask any site; clients land in their nearest region (ECS says where they are):
  dig @127.0.0.11 -p %[1]s www.gslb.example.com +short +subnet=81.2.69.142/32      # London    -> eu-west  (127.0.0.32)
  dig @127.0.0.12 -p %[1]s www.gslb.example.com +short +subnet=216.160.83.56/32    # Milton WA -> us-east  (127.0.0.31)
  dig @127.0.0.13 -p %[1]s www.gslb.example.com +short +subnet=175.16.199.0/24     # Changchun -> ap-southeast (127.0.0.33)
Then through the region's proxy:
  curl -s http://127.0.0.32:%[2]s/ -H 'Host: www.gslb.example.com'
Why that answer:
  curl -s 'http://127.0.0.11:%[3]s/v1/explain?name=www.gslb.example.com&ecs=81.2.69.142/32'
The cluster, the health matrix and the regions' load:
  aya status --admin 127.0.0.11:%[3]s
Take eu-west out by hand, and back:
  aya drain eu-west --reason demo --admin 127.0.0.12:%[3]s
  aya undrain eu-west --admin 127.0.0.12:%[3]s
Or kill eu-west's proxy and watch London move to us-east within a few seconds:
  kill %[4]d
  watch -n 0.5 dig @127.0.0.13 -p %[1]s www.gslb.example.com +short +subnet=81.2.69.142/32

Ctrl-C stops everything.
`, demoDNSPort, demoProxyPort, demoAdminPort, procs[len(demoRegions)+1].cmd.Process.Pid)
}
