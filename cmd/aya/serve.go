package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"sync"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aya-gslb/aya"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/internal/admin"
	ayasite "github.com/aya-gslb/aya/site"
	"github.com/aya-gslb/aya/site/statuspage"
)

func newServeCmd() *cobra.Command {
	var path string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Serve the zones over DNS, with the admin HTTP API",
		Long: `Serve answers for the zone files of dns.zones_dir on every dns.listen address,
over UDP and TCP. SIGHUP, or a change to the configuration file or a zone file,
reloads them; what fails to load is reported and the previous version keeps
serving. SIGINT or SIGTERM stops it after the queries in progress.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return serve(ctx, path, cmd.Flags())
		},
	}
	cmd.Flags().StringVarP(&path, "config", "c", "", "configuration file (default: the embedded aya.yaml)")
	config.AddFlags(cmd.Flags())
	return cmd
}

func serve(ctx context.Context, path string, flags *pflag.FlagSet) error {
	cfg, err := loadConfig(os.Stderr, path, flags)
	if err != nil {
		return err
	}
	spareP()
	level := new(slog.LevelVar)
	level.Set(cfg.SlogLevel())
	log := newLogger(cfg, level)

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	buildInfo := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aya_build_info", Help: "Version of the running aya; always 1.",
	}, []string{"version"})
	buildInfo.WithLabelValues(aya.Version).Set(1)
	reg.MustRegister(buildInfo)

	db, err := ayasite.OpenServingGeo(cfg, log)
	if err != nil {
		return err
	}
	if db != nil {
		defer func() { _ = db.Close() }()
		log.Info("geo database", "info", db.Info())
	}
	tlsCfg, err := loadTLS(cfg)
	if err != nil {
		return err
	}
	comp := ayasite.NewCompiler(cfg)
	node, err := newNode(cfg, log, reg, tlsCfg, comp)
	if err != nil {
		return err
	}
	defer func() {
		if err := node.Close(); err != nil {
			log.Error("cluster close", "err", err)
		}
	}()
	log.Info("cluster node", "id", node.ID(), "raft", node.Addr(), "data_dir", cfg.Cluster.DataDir, "voter", cfg.Cluster.Voter)
	srv := dnsserver.New(ayasite.DNSConfig(cfg, log, reg, ayasite.GSLB(cfg, db, node)))
	if err := srv.Listen(); err != nil {
		return err
	}
	st := ayasite.New(ayasite.Config{Path: path, Flags: flags, Config: cfg, Logger: log, Level: level, Registerer: reg,
		Geo: db, Node: node, DNS: srv, Compiler: comp})

	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Admin.Listen != "" {
		ac := admin.Config{
			Listen:     cfg.Admin.Listen,
			Gatherer:   reg,
			Registerer: reg,
			Logger:     log,
			Routes:     slices.Concat(clusterRoutes(node), ayasite.DrainRoutes(node, st.Current), statuspage.Routes()),
			Token:      cfg.Admin.Token,
			Explain:    func(q admin.ExplainQuery) (any, error) { return ayasite.Explain(srv, q) },
			Ready:      st.Ready,
		}
		if tlsCfg != nil {
			ac.TLS = tlsCfg.AdminServer()
		}
		adm, err := admin.New(ac)
		if err != nil {
			return fmt.Errorf("admin listen: %w", err)
		}
		wg.Go(func() {
			if err := adm.Serve(ctx); err != nil {
				log.Error("admin server", "err", err)
			}
		})
		log.Info("admin listening", "addr", adm.Addr().String())
	}
	wg.Go(func() { node.Run(ctx) })
	defer st.Wait()
	if !st.Start(ctx) {
		cancel()
		wg.Wait()
		return ctx.Err()
	}
	wg.Go(func() { st.Run(ctx) })
	if cfg.Proxy != nil {
		// The proxy role: this site also runs its region's proxy.
		p, err := newProxy(cfg, log, reg)
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := p.Serve(ctx); err != nil {
				log.Error("proxy", "err", err)
			}
		})
		rep := ayasite.NewLoadReporter(cfg, p, clusterClient(cfg, tlsCfg), log)
		wg.Go(func() { rep.Run(ctx) })
		log.Info("proxy listening", "addrs", fmt.Sprint(p.Addrs()), "region", cfg.Proxy.Region)
	}

	for _, z := range srv.Zones().List() {
		log.Info("zone serving", "zone", z.Origin, "serial", z.Serial(), "records", z.Len(), "file", z.File)
	}
	log.Info("dns listening", "udp", srv.UDPAddrs(), "tcp", srv.TCPAddrs(), "version", aya.Version)
	err = srv.Serve(ctx)
	cancel()
	wg.Wait()
	log.Info("stopped")
	return err
}

func newLogger(cfg *config.Config, level *slog.LevelVar) *slog.Logger {
	opts := &slog.HandlerOptions{Level: level}
	if cfg.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}

// spareP gives a server that may run on one CPU only a second P (unless
// GOMAXPROCS is set). With one P, a query that arrives while another
// goroutine holds it (a probe, a Raft write, the garbage collector's
// worker, a view being published) waits until that goroutine yields, up to
// milliseconds: the tail of the latencies at moderate load. With two, the
// kernel runs the query's thread as soon as it wakes. The DNS server still
// reads one UDP socket per CPU (dnsserver.Config.UDPSockets), so that a
// saturated server does not split its batches between two threads taking
// turns on one CPU.
func spareP() {
	if _, set := os.LookupEnv("GOMAXPROCS"); !set && runtime.NumCPU() == 1 && runtime.GOMAXPROCS(0) == 1 {
		runtime.GOMAXPROCS(2)
	}
}
