package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"os/signal"
	"slices"
	"syscall"

	ayasite "github.com/aya-gslb/aya/site"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/aya-gslb/aya"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/internal/admin"
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
		adm, err := admin.New(admin.Config{Listen: cfg.Admin.Listen, Gatherer: reg, Registerer: reg, Logger: log})
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
	go ayasite.NewLoadReporter(cfg, p, clusterClient(cfg, m), log).Run(ctx)
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
	// The proxy package's errors start with "proxy: " already.
	p, err := proxy.New(pc)
	if err != nil {
		return nil, err
	}
	if err := p.Listen(); err != nil {
		return nil, err
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
		ch, err := ayasite.ProbeCheck(cc, state.EndpointKey{Pool: p.Name}, netip.AddrPort{}, "aya-proxy/"+aya.Version+" ("+cfg.Node.ID+")")
		if err != nil {
			return pc, fmt.Errorf("proxy pool %s: %w", p.Name, err)
		}
		p.Check = &ch
	}
	return pc, nil
}
