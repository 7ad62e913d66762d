package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/aya-gslb/aya"
	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/internal/admin"
	"github.com/aya-gslb/aya/internal/backoff"
	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/proxy"
	"github.com/aya-gslb/aya/state"
)

func newProxyCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "proxy --config FILE",
		Short: "Run the region's HTTP reverse proxy, reporting its load to the cluster",
		Long: `Proxy runs the in-region L7 reverse proxy of the proxy section of FILE: its
listeners, routes and backend pools, with health checks, retries and session
persistence, and reports the region's load (requests in flight against
proxy.capacity) to the cluster through proxy.report_to, so that DNS sheds
clients to the next region before this one is overloaded. SIGINT or SIGTERM
stops accepting at once and lets requests in flight finish within
proxy.drain_timeout. The admin server (admin.listen) serves /metrics.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			cfg, err := config.LoadProxy(path, cmd.Flags())
			if err != nil {
				printErrors(os.Stderr, err)
				return exitError{1}
			}
			return runProxy(ctx, cfg)
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file with a proxy section (required)")
	_ = cmd.MarkFlagRequired("config")
	config.AddFlags(cmd.Flags())
	return cmd
}

// runProxy runs the proxy of cfg with its admin server and load reporter
// until ctx is done.
func runProxy(ctx context.Context, cfg *config.Config) error {
	level := new(slog.LevelVar)
	level.Set(cfg.SlogLevel())
	log := newLogger(cfg, level)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := newProxy(cfg, log, reg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	defer func() { cancel(); <-done }()
	go func() {
		defer close(done)
		if cfg.Admin.Listen == "" {
			return
		}
		adm, err := admin.New(admin.Config{Listen: cfg.Admin.Listen, Gatherer: reg, Logger: log})
		if err != nil {
			log.Error("admin listen", "err", err)
			return
		}
		log.Info("admin listening", "addr", adm.Addr().String())
		if err := adm.Serve(ctx); err != nil {
			log.Error("admin server", "err", err)
		}
	}()
	m, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	go newLoadReporter(cfg, p, clusterClient(cfg, m), log).run(ctx)
	log.Info("proxy listening", "addrs", fmt.Sprint(p.Addrs()), "region", cfg.Proxy.Region, "version", aya.Version)
	err = p.Serve(ctx)
	log.Info("stopped")
	return err
}

// newProxy builds the proxy of cfg's proxy section and binds its listeners.
func newProxy(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (*proxy.Proxy, error) {
	pc, err := proxyConfig(cfg, log, reg)
	if err != nil {
		return nil, err
	}
	p, err := proxy.New(pc)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	if err := p.Listen(); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	return p, nil
}

// proxyConfig is the engine's configuration of cfg's proxy section, with
// the logs, metrics and pool checks wired in.
func proxyConfig(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer) (proxy.Config, error) {
	pc := cfg.Proxy.Config
	pc.Logger, pc.Registerer = log.With("component", "proxy"), reg
	if cfg.Proxy.AccessLog {
		pc.AccessLog = log.With("component", "access")
	}
	pc.Pools = slices.Clone(pc.Pools)
	for i, cc := range cfg.Proxy.Checks {
		if cc == nil {
			continue
		}
		p := &pc.Pools[i]
		ch, err := probeCheck(cc, state.EndpointKey{Pool: p.Name}, netip.AddrPort{}, "aya-proxy/"+aya.Version+" ("+cfg.Node.ID+")")
		if err != nil {
			return pc, fmt.Errorf("proxy pool %s: %w", p.Name, err)
		}
		p.Check = &ch
	}
	return pc, nil
}

// newLoadReporter returns the reporter of p's load, to proxy.report_to, or
// to this node's own admin API when p runs inside aya serve.
func newLoadReporter(cfg *config.Config, p *proxy.Proxy, client *cluster.Client, log *slog.Logger) *loadReporter {
	addrs := cfg.Proxy.ReportTo
	if len(addrs) == 0 && len(cfg.DNS.Listen) > 0 && cfg.Admin.Listen != "" {
		addrs = []string{cfg.Admin.Listen} // a role of aya serve: its own node
	}
	return &loadReporter{
		load: p.Load, region: cfg.Proxy.Region, id: cfg.Node.ID, addrs: addrs,
		interval: cfg.Proxy.ReportInterval, client: client, log: log,
	}
}

// loadReporter reports the proxy's load to the cluster: when utilisation
// moved by reportDelta since the last report, else every refresh, so the
// report stays fresh without filling the log. A report that fails is
// retried after loadRetry with the load read afresh (a newer load
// supersedes the one that failed), not at the next interval.
type loadReporter struct {
	load     func() proxy.Load
	region   string
	id       string
	addrs    []string
	interval time.Duration
	client   *cluster.Client
	log      *slog.Logger

	next     int // the address to try first
	last     float64
	lastSent time.Time
}

const (
	reportDelta   = 0.05 // utilisation change that is reported at once
	reportRefresh = 5    // report at least every reportRefresh intervals
)

// loadRetry is the backoff between the attempts of a load report that
// failed, the prober's: 50ms doubling to 1s.
var loadRetry = backoff.Policy{Base: 50 * time.Millisecond, Max: time.Second}

func (r *loadReporter) run(ctx context.Context) {
	if len(r.addrs) == 0 {
		return
	}
	t := time.NewTicker(r.interval)
	defer t.Stop()
	again := time.NewTimer(time.Hour)
	again.Stop()
	defer again.Stop()
	failures := 0 // consecutive failed reports
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-again.C:
		}
		l := r.load()
		if failures == 0 && math.Abs(l.Utilisation-r.last) < reportDelta && time.Since(r.lastSent) < reportRefresh*r.interval {
			continue
		}
		err := r.send(ctx, l)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			failures++
			if failures == 1 {
				r.log.Warn("load report failed; retrying", "err", err)
			}
			// Jitter needs no secure randomness, only a spread of load.
			again.Reset(loadRetry.Delay(failures, rand.Float64())) //nolint:gosec // G404: see above
			continue
		}
		if failures > 0 {
			r.log.Info("load report delivered", "attempts", failures+1)
		}
		failures = 0
		again.Stop()
		r.last, r.lastSent = l.Utilisation, time.Now()
	}
}

// send posts a load report to the first member that takes it.
func (r *loadReporter) send(ctx context.Context, l proxy.Load) error {
	v, err := json.Marshal(cluster.LoadReport{
		Region: r.region, Reporter: r.id, InFlight: l.InFlight, Capacity: l.Capacity,
		RPS: l.RPS, P99Micros: l.P99.Microseconds(),
	})
	if err != nil {
		return err
	}
	var errs []error
	for range r.addrs {
		addr := r.addrs[r.next%len(r.addrs)]
		cctx, cancel := context.WithTimeout(ctx, r.interval)
		err := r.client.Do(cctx, addr, cluster.PathApply, "", cluster.ApplyRequest{Type: cluster.CmdLoad, V: v}, nil)
		cancel()
		if err == nil {
			return nil
		}
		errs = append(errs, err)
		r.next++
	}
	return fmt.Errorf("every member refused: %v", errs)
}

// probeCheck maps a configured check onto a probes.Check for key at target.
func probeCheck(cc *config.CheckConfig, key state.EndpointKey, target netip.AddrPort, ua string) (probes.Check, error) {
	c := probes.Check{
		Key:                   key,
		Kind:                  probes.Kind(cc.Kind),
		Target:                target,
		Method:                cc.Method,
		Path:                  cc.Path,
		Host:                  cc.Host,
		ExpectStatus:          cc.ExpectStatus,
		BodyMatch:             cc.BodyRegexp,
		TLSServerName:         cc.TLSServerName,
		TLSInsecureSkipVerify: cc.TLSInsecureSkipVerify,
		Interval:              cc.Interval,
		Jitter:                cc.Jitter,
		Timeout:               cc.Timeout,
		Rise:                  cc.Rise,
		Fall:                  cc.Fall,
	}
	if c.Kind != probes.KindTCP {
		c.UserAgent = ua
	}
	if cc.TLSCAFile != "" {
		roots, err := loadRoots(cc.TLSCAFile)
		if err != nil {
			return c, err
		}
		c.RootCAs = roots
	}
	return c, nil
}
