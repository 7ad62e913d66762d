// Package demo runs `aya demo`: a whole AYA deployment on loopback (three
// sites of one Raft cluster, three regions each an aya proxy in front of
// two small HTTP backends), as child processes of this very binary.
package demo

import (
	"bufio"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Options say where the demo runs. Every address is on loopback (or
// wherever the caller says); the ports are fixed.
type Options struct {
	// Out gets what to try, and reports of children that die.
	Out io.Writer
	// In is read a line at a time: a line (Enter) restarts the children
	// that died. nil: no restarts.
	In io.Reader
	// Dir holds the configurations, logs and Raft data ("" for a new
	// temporary directory).
	Dir string
	// Sites, Proxies and Backends are the addresses of the three sites
	// (aya serve), the three regions' proxies and their six backends, as
	// ParseAddrs reads them; "" for the defaults (127.0.0.11-13,
	// 127.0.0.31-33, 127.0.0.41-46).
	Sites, Proxies, Backends string
	// Self is the command the printed commands start with: how the user
	// ran aya ("./bin/aya" under make demo); "" for "aya".
	Self string
}

// region is one region of the demo: its site (aya serve), its proxy and
// the proxy's two backends.
type region struct {
	name, site, proxy string
	backends          [2]string
}

var regionNames = [3]string{"us-east", "eu-west", "ap-southeast"}

// layout places the three regions on the addresses of o.
func layout(o Options) ([]region, error) {
	sites, err := ParseAddrs("--sites", cmp.Or(o.Sites, "127.0.0.11-13"), 3)
	if err != nil {
		return nil, err
	}
	proxies, err := ParseAddrs("--proxies", cmp.Or(o.Proxies, "127.0.0.31-33"), 3)
	if err != nil {
		return nil, err
	}
	backends, err := ParseAddrs("--backends", cmp.Or(o.Backends, "127.0.0.41-46"), 6)
	if err != nil {
		return nil, err
	}
	out := make([]region, 3)
	for i := range out {
		out[i] = region{regionNames[i], sites[i], proxies[i], [2]string{backends[2*i], backends[2*i+1]}}
	}
	return out, nil
}

// ParseAddrs reads want IPv4 addresses for flag: a range of last octets
// ("127.0.0.11-13") or a comma-separated list ("127.0.0.11,127.0.0.12,…").
func ParseAddrs(flag, s string, want int) ([]string, error) {
	bad := func(why string) error {
		return fmt.Errorf("%s: want %d addresses, as a range such as 127.0.0.11-%d or a comma-separated list (got %q: %s)", flag, want, 10+want, s, why)
	}
	var out []string
	if first, last, ok := strings.Cut(s, "-"); ok && !strings.Contains(s, ",") {
		a, err := netip.ParseAddr(first)
		if err != nil || !a.Is4() {
			return nil, bad("not an IPv4 address before the \"-\"")
		}
		end, err := strconv.Atoi(last)
		b := a.As4()
		if err != nil || end < int(b[3]) || end > 255 {
			return nil, bad("the last octet after \"-\" must be a number from the first address's on, at most 255")
		}
		for o := int(b[3]); o <= end; o++ {
			b[3] = byte(o)
			out = append(out, netip.AddrFrom4(b).String())
		}
	} else {
		for f := range strings.SplitSeq(s, ",") {
			a, err := netip.ParseAddr(strings.TrimSpace(f))
			if err != nil || !a.Is4() {
				return nil, bad(fmt.Sprintf("%q is not an IPv4 address", strings.TrimSpace(f)))
			}
			out = append(out, a.String())
		}
	}
	if len(out) != want {
		return nil, bad(fmt.Sprintf("%d addresses", len(out)))
	}
	return out, nil
}

const (
	demoDNSPort     = "5300"
	demoAdminPort   = "9053"
	demoRaftPort    = "7300"
	demoProxyPort   = "8080"
	demoBackendPort = "8081"
)

// Run runs the demo until ctx ends: three sites, three regions each with a
// proxy and two backends, from the zones/ of the working directory. It
// prints what to try to o.Out; a child that dies is reported there (which,
// its exit status, the last lines of its log), and a line on o.In restarts
// the children that died.
func Run(ctx context.Context, o Options) error {
	regions, err := layout(o)
	if err != nil {
		return err
	}
	zones, err := filepath.Abs("zones")
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(zones, "geo", "demo.yaml")); err != nil {
		return fmt.Errorf("run aya demo from the repo root: %w", err)
	}
	dir := o.Dir
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
	for _, r := range regions {
		for i, ip := range r.backends {
			addr := net.JoinHostPort(ip, demoBackendPort)
			name := fmt.Sprintf("%s-%d", r.name, i+1)
			if err := demoBackend(ctx, &wg, addr, name); err != nil {
				return err
			}
		}
	}
	// The sites and the proxies, as child processes.
	deaths := make(chan *demoProc, 6)
	var procs []*demoProc
	defer func() {
		for _, p := range procs {
			p.stop()
		}
	}()
	for i, r := range regions {
		cfg := filepath.Join(dir, fmt.Sprintf("site-%d.yaml", i+1))
		if err := os.WriteFile(cfg, []byte(demoSiteConfig(regions, i, zones, dir)), 0o600); err != nil {
			return err
		}
		p := &demoProc{name: fmt.Sprintf("site-%d (%s)", i+1, r.site), self: self, deaths: deaths,
			log: filepath.Join(dir, fmt.Sprintf("site-%d.log", i+1)), args: []string{"serve", "--config", cfg}}
		if err := p.start(ctx); err != nil {
			return err
		}
		procs = append(procs, p)
	}
	for i, r := range regions {
		cfg := filepath.Join(dir, fmt.Sprintf("proxy-%s.yaml", r.name))
		if err := os.WriteFile(cfg, []byte(demoProxyConfig(regions, i)), 0o600); err != nil {
			return err
		}
		p := &demoProc{name: fmt.Sprintf("%s's proxy (%s)", r.name, r.proxy), self: self, deaths: deaths,
			log: filepath.Join(dir, fmt.Sprintf("proxy-%s.log", r.name)), args: []string{"proxy", "--config", cfg}}
		if err := p.start(ctx); err != nil {
			return err
		}
		procs = append(procs, p)
	}
	if err := demoWait(ctx, regions, deaths); err != nil {
		return err
	}
	printDemo(o.Out, cmp.Or(o.Self, "aya"), dir, regions, procs)
	lines := make(chan struct{})
	if o.In != nil {
		go func() {
			sc := bufio.NewScanner(o.In)
			for sc.Scan() {
				select {
				case lines <- struct{}{}:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	var dead []*demoProc
	for {
		select {
		case <-ctx.Done():
			_, _ = fmt.Fprintln(o.Out, "\nstopping everything the demo started...")
			return nil
		case p := <-deaths:
			dead = append(dead, p)
			_, _ = fmt.Fprint(o.Out, p.report())
			if o.In != nil {
				_, _ = fmt.Fprintln(o.Out, "Press Enter to restart it.")
			}
		case <-lines:
			for _, p := range dead {
				if err := p.start(ctx); err != nil {
					_, _ = fmt.Fprintf(o.Out, "restarting %s: %v\n", p.name, err)
					continue
				}
				_, _ = fmt.Fprintf(o.Out, "restarted %s (pid %d)\n", p.name, p.pid())
			}
			dead = nil
		}
	}
}

// demoSiteConfig is site i's aya serve configuration: one Raft cluster of
// the three, the repo's zones, pool web over the three regions' proxies.
func demoSiteConfig(regions []region, i int, zones, dir string) string {
	r := regions[i]
	membership := "  bootstrap: true\n"
	if i > 0 {
		membership = fmt.Sprintf("  join: [\"%s:%s\"]\n", regions[0].site, demoAdminPort)
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
	for _, rr := range regions {
		fmt.Fprintf(&b, "      - region: %s\n        endpoints: [{name: %s-proxy, addresses: [%s]}]\n", rr.name, rr.name, rr.proxy)
	}
	return b.String()
}

// demoProxyConfig is region i's aya proxy configuration.
func demoProxyConfig(regions []region, i int) string {
	r := regions[i]
	var reportTo []string
	for _, s := range regions {
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

// demoProc is a child process of the demo: aya serve or aya proxy, its
// output in its log file. It can be started again after it died.
type demoProc struct {
	name, self, log string
	args            []string
	deaths          chan<- *demoProc // told when it dies, unless stopped

	stopping atomic.Bool
	mu       sync.Mutex
	cmd      *exec.Cmd
	done     chan struct{} // closed when cmd has exited
	ended    string        // how it last ended: "exit status 1", "signal: killed"
}

// start starts the process; the log is appended to, so the lines of a
// death stay in front of those of the restart.
func (p *demoProc) start(ctx context.Context) error {
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	// Cancelled with ctx, a child gets SIGTERM and 10s to stop, then SIGKILL.
	cmd := exec.CommandContext(ctx, p.self, p.args...) //nolint:gosec // G204: this very binary (os.Executable), with arguments the demo builds
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Stdout, cmd.Stderr = f, f
	if err := cmd.Start(); err != nil {
		_ = f.Close()
		return err
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		_ = f.Close()
		ended := "exited"
		if cmd.ProcessState != nil {
			ended = cmd.ProcessState.String()
		} else if err != nil {
			ended = err.Error()
		}
		p.mu.Lock()
		p.ended = ended
		p.mu.Unlock()
		close(done)
		if !p.stopping.Load() && ctx.Err() == nil {
			p.deaths <- p
		}
	}()
	return nil
}

func (p *demoProc) pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd.Process.Pid
}

// stop sends SIGTERM and waits up to 10s, then kills.
func (p *demoProc) stop() {
	p.stopping.Store(true)
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
	}
}

// demoLogLines is how much of a dead child's log its report shows.
const demoLogLines = 5

// report says that p died: which, how, and the end of its log.
func (p *demoProc) report() string {
	p.mu.Lock()
	ended, pid := p.ended, p.cmd.Process.Pid
	p.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "\n%s died (pid %d, %s): aya %s\n", p.name, pid, ended, strings.Join(p.args, " "))
	data, err := os.ReadFile(p.log)
	if err != nil {
		fmt.Fprintf(&b, "  (its log: %v)\n", err)
		return b.String()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	lines = lines[max(0, len(lines)-demoLogLines):]
	fmt.Fprintf(&b, "the last lines of %s:\n", p.log)
	for _, l := range lines {
		fmt.Fprintf(&b, "  %s\n", l)
	}
	return b.String()
}

// demoWait waits until every site answers on its admin API and every proxy
// on its port; a child that dies first is an error that reports it.
func demoWait(ctx context.Context, regions []region, deaths <-chan *demoProc) error {
	var addrs []string
	for _, r := range regions {
		addrs = append(addrs, net.JoinHostPort(r.site, demoAdminPort), net.JoinHostPort(r.proxy, demoProxyPort))
	}
	deadline := time.Now().Add(30 * time.Second)
	for _, a := range addrs {
		for {
			select {
			case p := <-deaths:
				return errors.New(strings.TrimSpace(p.report()))
			default:
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

// printDemo prints the layout and the commands to try, each as it runs:
// self is how the user ran aya ("./bin/aya" under make demo).
func printDemo(out io.Writer, self, dir string, regions []region, procs []*demoProc) {
	p := func(format string, args ...any) { _, _ = fmt.Fprintf(out, format, args...) }
	p("AYA demo: three sites, three regions, all on loopback (configs and logs in %s)\n\n", dir)
	for i, r := range regions {
		p("  site-%d  dns %s:%s  admin http://%s:%s  raft %s:%s\n", i+1, r.site, demoDNSPort, r.site, demoAdminPort, r.site, demoRaftPort)
	}
	for i, r := range regions {
		p("  %-12s proxy http://%s:%s (pid %d) -> backends %s, %s :%s\n", r.name, r.proxy, demoProxyPort,
			procs[len(regions)+i].pid(), r.backends[0], r.backends[1], demoBackendPort)
	}
	use, euw, apse := regions[0], regions[1], regions[2]
	p(`
Ask any site; clients land in their nearest region (ECS says where they are):
  dig @%[5]s -p %[1]s www.gslb.example.com +short +subnet=81.2.69.142/32      # London    -> eu-west  (%[9]s)
  dig @%[6]s -p %[1]s www.gslb.example.com +short +subnet=216.160.83.56/32    # Milton WA -> us-east  (%[8]s)
  dig @%[7]s -p %[1]s www.gslb.example.com +short +subnet=175.16.199.0/24     # Changchun -> ap-southeast (%[10]s)
Then through the region's proxy:
  curl -s http://%[9]s:%[2]s/ -H 'Host: www.gslb.example.com'
Why that answer:
  curl -s 'http://%[5]s:%[3]s/v1/explain?name=www.gslb.example.com&ecs=81.2.69.142/32'
The cluster, the health matrix and the regions' load:
  %[11]s status --admin %[5]s:%[3]s
Take eu-west out by hand, and back:
  %[11]s drain eu-west --reason demo --admin %[6]s:%[3]s
  %[11]s undrain eu-west --admin %[6]s:%[3]s
Or kill eu-west's proxy and watch London move to us-east within a few seconds:
  kill %[4]d
  watch -n 0.5 dig @%[7]s -p %[1]s www.gslb.example.com +short +subnet=81.2.69.142/32
The demo reports a child that dies; press Enter to restart it.

Ctrl-C stops everything.
`, demoDNSPort, demoProxyPort, demoAdminPort, procs[len(regions)+1].pid(),
		use.site, euw.site, apse.site, use.proxy, euw.proxy, apse.proxy, self)
}
