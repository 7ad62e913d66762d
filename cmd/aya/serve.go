package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/aya-gslb/aya"
	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/internal/admin"
	ayasite "github.com/aya-gslb/aya/site"
	"github.com/aya-gslb/aya/state"
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
	cfg, err := config.Load(path, flags)
	if err != nil {
		printErrors(os.Stderr, err)
		return exitError{1}
	}
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

	db, err := openGeo(cfg, log)
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
	node, err := newNode(cfg, log, reg, tlsCfg)
	if err != nil {
		return err
	}
	defer func() {
		if err := node.Close(); err != nil {
			log.Error("cluster close", "err", err)
		}
	}()
	log.Info("cluster node", "id", node.ID(), "raft", node.Addr(), "data_dir", cfg.Cluster.DataDir, "voter", cfg.Cluster.Voter)
	if _, err := checks(cfg); err != nil {
		return err
	}
	var health state.Source = node
	srv := dnsserver.New(dnsConfig(cfg, log, reg, gslbConfig(cfg, db, health)))
	if err := srv.Listen(); err != nil {
		return err
	}
	r := &reloader{path: path, flags: flags, cfg: cfg, srv: srv, log: log, level: level, reg: reg, geo: db, health: health,
		node: node, probes: &probeRunner{node: node, log: log, reg: reg}, siteDirty: make(chan struct{}, 1)}
	r.cur.Store(cfg)
	r.metrics()

	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if cfg.Admin.Listen != "" {
		ac := admin.Config{
			Listen:   cfg.Admin.Listen,
			Gatherer: reg,
			Logger:   log,
			Routes:   append(clusterRoutes(node), drainRoutes(node, r.cur.Load)...),
			Token:    cfg.Admin.Token,
			Explain:  func(q admin.ExplainQuery) (any, error) { return explainJSON(srv, q) },
			Ready:    r.ready,
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
	wg.Go(func() { r.reportSites(ctx) })
	r.probes.ctx = ctx
	defer r.probes.stop()
	// The release: the one restored from disk at once, then, with a leader
	// reachable, the cluster's latest before the first answer.
	if node.Restored() > 0 {
		r.follow()
		if node.WaitCaughtUp(ctx, catchUp(cfg)) {
			log.Info("caught up with the cluster", "applied", node.Stats().LastApplied)
		} else {
			log.Warn("no leader reachable; answering from the state restored from disk", "index", node.Restored())
		}
	}
	wg.Go(func() { r.seed(ctx) })
	if !r.waitRelease(ctx) {
		cancel()
		wg.Wait()
		return ctx.Err()
	}
	wg.Go(func() { r.run(ctx) })
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
		rep := newLoadReporter(cfg, p, clusterClient(cfg, tlsCfg), log)
		wg.Go(func() { rep.run(ctx) })
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

// dnsConfig maps the configuration onto the DNS server's.
func dnsConfig(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, g dnsserver.GSLB) dnsserver.Config {
	nsid := cfg.DNS.NSID
	if nsid == "" {
		nsid = cfg.Node.ID
	}
	return dnsserver.Config{
		Listen:            cfg.DNS.Listen,
		UDPSockets:        cfg.DNS.UDPSockets,
		MaxUDPSize:        cfg.DNS.MaxUDPSize,
		NSID:              nsid,
		TCPIdleTimeout:    cfg.DNS.TCP.IdleTimeout,
		TCPMaxConnections: cfg.DNS.TCP.MaxConnections,
		TransferAllow:     cfg.DNS.Transfer.AllowPrefixes,
		Logger:            log,
		Registerer:        reg,
		GSLB:              g,
	}
}

// reloader reloads the configuration and the zones on SIGHUP and when their
// files change. A configuration that fails to load is reported and the
// previous one stays; zones that fail keep their previous version.
type reloader struct {
	path  string
	flags *pflag.FlagSet
	cfg   *config.Config
	srv   *dnsserver.Server
	log   *slog.Logger
	level *slog.LevelVar
	reg   prometheus.Registerer
	// geo is nil when no database is configured; health is the snapshot source.
	geo    *geo.DB
	health state.Source
	node   *cluster.Node
	// rel is the release being served (nil before the first), compiled;
	// cur is cfg with rel's steering configuration.
	rel atomic.Pointer[ayasite.Compiled]
	// local is the digest of this site's own files as a release ("" when
	// they do not build), for the comparison with the running release.
	local atomic.Pointer[string]
	// applying is the release being applied from this site's files.
	applyMu     sync.Mutex
	applyCancel context.CancelFunc
	// siteDirty asks reportSites to report this site's SiteInfo.
	siteDirty chan struct{}
	// cur is cfg with the release's steering, for other goroutines (the
	// admin API's drain checks).
	cur atomic.Pointer[config.Config]
	// probes runs the health checks; a reload that changes them restarts it.
	probes *probeRunner
	// geoChanged is set when the geo files changed (or on SIGHUP): a full
	// database takes a while to read and verify, so a zone edit alone does
	// not reload it.
	geoChanged bool

	configReloads *prometheus.CounterVec
	builds        *prometheus.CounterVec
}

func (r *reloader) metrics() {
	r.configReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_config_reloads_total",
		Help: `Configuration reloads, by result ("success" or "failure", which keeps the previous configuration).`,
	}, []string{"result"})
	r.builds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_release_builds_total",
		Help: `Releases built from this site's files (release.watch), by result: "success" (applied or unchanged) or "failure" (refused; the running release stays).`,
	}, []string{"result"})
	r.reg.MustRegister(r.configReloads, r.builds,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aya_release_local_differs",
			Help: "1 when this site's own files (its configuration's release part and dns.zones_dir) differ from the release it answers from."},
			func() float64 {
				rel, local := r.node.Release(), r.local.Load()
				return b2f(rel != nil && local != nil && *local != rel.Digest)
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aya_release_published_version",
			Help: "Version of the release the DNS server publishes (0: none yet)."},
			func() float64 {
				if c := r.rel.Load(); c != nil {
					return float64(c.Release.Version)
				}
				return 0
			}))
}

// debounce gathers the burst of events an editor or a git checkout makes
// into one reload.
const debounce = 200 * time.Millisecond

func (r *reloader) run(ctx context.Context) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	w, err := fsnotify.NewWatcher()
	if err != nil {
		r.log.Warn("file watching off; reload with SIGHUP", "err", err)
	} else {
		defer func() { _ = w.Close() }()
		r.watch(w)
	}
	var events <-chan fsnotify.Event
	var errs <-chan error
	if w != nil {
		events, errs = w.Events, w.Errors
	}
	timer := time.NewTimer(0)
	<-timer.C
	r.checkLocal(ctx)
	for {
		changed := r.node.Changed()
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-changed:
			if r.follow() {
				r.checkLocal(ctx)
			}
		case <-hup:
			r.log.Info("reload requested", "by", "SIGHUP")
			r.geoChanged = true
			r.reload(w)
		case ev := <-events:
			if r.relevant(ev) {
				timer.Reset(debounce)
			}
		case err := <-errs:
			r.log.Warn("file watcher", "err", err)
		case <-timer.C:
			r.log.Info("reload requested", "by", "file change")
			r.reload(w)
		}
	}
}

// watch watches the configuration file's and the zones' directories
// (directories, not files, so that editors' rename-over-save is seen).
func (r *reloader) watch(w *fsnotify.Watcher) {
	for _, d := range w.WatchList() {
		_ = w.Remove(d)
	}
	dirs := []string{r.cfg.DNS.ZonesDir}
	if r.path != "" {
		dirs = append(dirs, filepath.Dir(r.path))
	}
	for _, f := range r.geoFiles() {
		dirs = append(dirs, filepath.Dir(f))
	}
	slices.Sort(dirs)
	for _, d := range slices.Compact(dirs) {
		if err := w.Add(d); err != nil {
			r.log.Warn("cannot watch; reload with SIGHUP", "dir", d, "err", err)
		}
	}
}

func (r *reloader) relevant(ev fsnotify.Event) bool {
	if ev.Op == fsnotify.Chmod {
		return false
	}
	if filepath.Ext(ev.Name) == dnsserver.ZoneFileSuffix {
		return true
	}
	for _, f := range r.geoFiles() {
		if filepath.Clean(ev.Name) == filepath.Clean(f) {
			r.geoChanged = true
			return true
		}
	}
	return r.path != "" && filepath.Clean(ev.Name) == filepath.Clean(r.path)
}

// geoFiles are the geo database and overrides files, when configured.
func (r *reloader) geoFiles() []string {
	var out []string
	for _, f := range []string{r.cfg.Geo.Database, r.cfg.Geo.Overrides} {
		if f != "" {
			out = append(out, f)
		}
	}
	return out
}

// apply makes cfg the running local configuration, unless the DNS server
// refuses it.
func (r *reloader) apply(cfg *config.Config, w *fsnotify.Watcher) error {
	zonesMoved := cfg.DNS.ZonesDir != r.cfg.DNS.ZonesDir
	if !reflect.DeepEqual(cfg.Cluster.TLS, r.cfg.Cluster.TLS) || cfg.Cluster.Bind != r.cfg.Cluster.Bind ||
		cfg.Cluster.DataDir != r.cfg.Cluster.DataDir || cfg.Cluster.Voter != r.cfg.Cluster.Voter {
		r.log.Warn("cluster settings change on restart only")
	}
	old := r.cfg
	r.cfg = cfg
	if err := r.publish(r.rel.Load()); err != nil {
		r.cfg = old
		return err
	}
	r.level.Set(cfg.SlogLevel())
	if zonesMoved && w != nil {
		r.watch(w)
	}
	return nil
}

func (r *reloader) reload(w *fsnotify.Watcher) {
	cfg, err := config.Load(r.path, r.flags)
	if err != nil {
		r.configReloads.WithLabelValues("failure").Inc()
		r.log.Error("config reload failed; keeping the previous configuration", "err", err)
		cfg = r.cfg
	} else {
		if !slices.Equal(cfg.DNS.Listen, r.cfg.DNS.Listen) || cfg.DNS.UDPSockets != r.cfg.DNS.UDPSockets ||
			cfg.DNS.TCP.MaxConnections != r.cfg.DNS.TCP.MaxConnections || cfg.Admin.Listen != r.cfg.Admin.Listen {
			r.log.Warn("listen addresses, socket counts and connection caps change on restart only")
		}
		if cfg.Geo != r.cfg.Geo {
			r.log.Warn("geo.database and geo.overrides change on restart only; their files reload in place")
			cfg.Geo = r.cfg.Geo
		}
	}
	if r.geo != nil && r.geoChanged {
		r.geoChanged = false
		if err := r.geo.Reload(); err != nil {
			r.log.Error("geo reload failed; keeping the previous database", "err", err)
		}
		r.touchSite()
	}
	if cfg != r.cfg {
		if err := r.apply(cfg, w); err != nil {
			r.configReloads.WithLabelValues("failure").Inc()
			r.log.Error("config reload refused; keeping the previous configuration", "err", err)
		} else {
			r.configReloads.WithLabelValues("success").Inc()
		}
	}
	r.checkLocal(context.Background())
}
