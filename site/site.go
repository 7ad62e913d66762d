package site

import (
	"context"
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

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/state"
	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
)

// DNSConfig maps the configuration onto the DNS server's.
func DNSConfig(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, g dnsserver.GSLB) dnsserver.Config {
	nsid := cfg.DNS.NSID
	if nsid == "" {
		nsid = cfg.Node.ID
	}
	r := cfg.DNS.RRL
	rrl := dnsserver.RRLConfig{
		Enabled: r.Enabled, ResponsesPerSecond: r.ResponsesPerSecond, Window: r.Window, Slip: r.Slip,
		IPv4Prefix: r.IPv4Prefix, IPv6Prefix: r.IPv6Prefix, Exempt: r.ExemptPrefixes, LogOnly: r.LogOnly, TableSize: r.TableSize,
	}
	cookies := cookieConfig(cfg)
	return dnsserver.Config{
		Listen:                     cfg.DNS.Listen,
		UDPSockets:                 cfg.DNS.UDPSockets,
		MaxUDPSize:                 cfg.DNS.MaxUDPSize,
		NSID:                       nsid,
		TCPIdleTimeout:             cfg.DNS.TCP.IdleTimeout,
		TCPMaxConnections:          cfg.DNS.TCP.MaxConnections,
		TCPMaxConnectionsPerClient: cfg.DNS.TCP.MaxConnectionsPerClient,
		TCPMaxQueries:              cfg.DNS.TCP.MaxQueries,
		TCPMaxLifetime:             cfg.DNS.TCP.MaxLifetime,
		TCPMinIdleTimeout:          cfg.DNS.TCP.MinIdleTimeout,
		TransferAllow:              cfg.DNS.Transfer.AllowPrefixes,
		Notify:                     cfg.DNS.NotifyAddrs,
		WhyClients:                 cfg.DNS.WhyPrefixes,
		Zones:                      cfg.DNS.Zones.Limits(),
		Logger:                     log,
		Registerer:                 reg,
		GSLB:                       g,
		RRL:                        &rrl,
		Cookies:                    cookies,
	}
}

// cookieConfig maps dns.cookies: the base secrets are the cluster secrets,
// shared by every site, or without them a secret generated once in the data
// directory.
func cookieConfig(cfg *config.Config) dnsserver.CookieConfig {
	c := dnsserver.CookieConfig{Disabled: !cfg.DNS.Cookies.Enabled, Secrets: cfg.Cluster.Secrets}
	if len(c.Secrets) == 0 && cfg.Cluster.DataDir != "" {
		c.SecretFile = filepath.Join(cfg.Cluster.DataDir, dnsserver.CookieSecretFile)
	}
	return c
}

// Config is what a Site runs with.
type Config struct {
	// Path and Flags are where Config came from ("" for the embedded
	// default), to load it again on a reload.
	Path   string
	Flags  *pflag.FlagSet
	Config *config.Config
	// Logger receives the site's logs; Level is its level, which a reload
	// sets.
	Logger *slog.Logger
	Level  *slog.LevelVar
	// Registerer receives the site's metrics. Required.
	Registerer prometheus.Registerer
	// Geo places clients; nil without a database.
	Geo *geo.DB
	// Node is the site's Raft node; DNS its server, listening but not
	// serving yet.
	Node *cluster.Node
	DNS  *dnsserver.Server
	// Compiler compiles the releases, shared with the node's
	// CheckRelease so that a release is parsed once (nil: the site's own).
	Compiler *Compiler
}

// Site runs what one site runs besides its Raft node and its listeners: it
// follows the release the cluster answers from and publishes it to the DNS
// server, builds releases from the site's files (applied with
// release.watch, compared otherwise), reloads the site's own settings and
// the geo database on SIGHUP or a file change, runs the probes of the
// release's checks, reports what the site runs, and serves the drain API.
type Site struct {
	// hup receives SIGHUP from New on; Run reloads on it.
	hup   chan os.Signal
	comp  *Compiler
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
	rel atomic.Pointer[Compiled]
	// local is the digest of this site's own files as a release ("" when
	// they do not build), for the comparison with the running release.
	local atomic.Pointer[string]
	// applying is the release being applied from this site's files.
	applyMu     sync.Mutex
	applyCancel context.CancelFunc
	// refused is the digest of the last release that did not compile or
	// publish here, logged once (follow).
	refused string
	// siteDirty asks reportSites to report this site's SiteInfo.
	siteDirty chan struct{}
	// published wakes the signer role (resign) after a publish.
	published chan struct{}
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
	buildFailed   *prometheus.GaugeVec
	compileFailed prometheus.Gauge
	geoReloaded   prometheus.Gauge
	sign          signMetrics

	wg sync.WaitGroup
}

// New returns the site of c; Start gets it its first release.
func New(c Config) *Site {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	level := c.Level
	if level == nil {
		level = new(slog.LevelVar)
	}
	s := &Site{path: c.Path, flags: c.Flags, cfg: c.Config, srv: c.DNS, log: log, level: level, reg: c.Registerer,
		geo: c.Geo, health: c.Node, node: c.Node, probes: &probeRunner{node: c.Node, log: log, reg: c.Registerer},
		siteDirty: make(chan struct{}, 1), published: make(chan struct{}, 1), comp: c.Compiler, hup: make(chan os.Signal, 1)}
	if s.comp == nil {
		s.comp = NewCompiler(c.Config)
	}
	// SIGHUP is caught from here on, before the site starts and answers:
	// its default action ends the process, and a reload asked for as the
	// server comes up (systemctl reload, a deploy script) must not stop
	// it. Run handles what came meanwhile.
	signal.Notify(s.hup, syscall.SIGHUP)
	s.cur.Store(c.Config)
	s.metrics()
	return s
}

// Current is the running configuration: the site's own, with the
// release's steering.
func (r *Site) Current() *config.Config { return r.cur.Load() }

// Start gets the site its first release before it answers: the one
// restored from its disk at once and then, with a leader reachable, the
// cluster's latest; with no state at all, the cluster's first (which a
// leader with no release takes from its own files). It starts the site's
// background work, which ends with ctx (Wait waits for it). It reports
// false when ctx ends first.
func (r *Site) Start(ctx context.Context) bool {
	r.probes.ctx = ctx
	if r.geo != nil && !r.geo.Info().Verified {
		// Not in wg: the walk cannot be cut short, and a stop during it
		// need not wait for it.
		go r.verifyGeo()
	}
	r.wg.Go(func() { r.reportSites(ctx) })
	if r.node.Restored() > 0 {
		r.follow()
		caught := r.node.WaitCaughtUp(ctx, catchUp(r.cfg))
		if !caught && r.node.LeaderElsewhere(ctx) {
			// A leader exists but has not reached this node yet (Raft
			// backs off replicating to a member that was down): its state
			// may be newer than the disk's, so wait for it a while longer.
			r.log.Info("a leader is up elsewhere; waiting for it before answering")
			caught = r.node.WaitCaughtUp(ctx, leaderBackoff)
		}
		if caught {
			r.log.Info("caught up with the cluster", "applied", r.node.Stats().LastApplied)
		} else {
			r.log.Warn("no leader reachable; answering from the state restored from disk", "index", r.node.Restored())
		}
	}
	r.wg.Go(func() { r.seed(ctx) })
	r.wg.Go(func() { r.resign(ctx) })
	return r.WaitRelease(ctx)
}

// verifyGeo verifies the geo database that OpenServingGeo published
// unverified; on failure the database is dropped (geo.DB.Verify) and the
// site serves without it until a reload brings a sound file.
func (r *Site) verifyGeo() {
	if err := r.geo.Verify(); err != nil {
		r.geoReloaded.Set(0)
	}
	r.touchSite()
}

// Wait waits for the site's background work, after its ctx ended, and
// stops its probes.
func (r *Site) Wait() {
	r.wg.Wait()
	r.probes.stop()
}

func (r *Site) metrics() {
	r.configReloads = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_config_reloads_total",
		Help: `Configuration reloads, by result ("success" or "failure", which keeps the previous configuration).`,
	}, []string{"result"})
	r.builds = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "aya_release_builds_total",
		Help: `Releases built from this site's files (release.watch), by result: "success" (applied or unchanged) or "failure" (refused; the running release stays).`,
	}, []string{"result"})
	r.buildFailed = prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "aya_release_build_failed",
		Help: `Per file of this site's files (its configuration file and each zone file of dns.zones_dir, with what it includes), 1 while the latest build of a release from them fails on that file (file="" for a failure no file is to blame for), 0 once it builds; with release.watch the whole build is refused and the running release keeps serving.`,
	}, []string{"file"})
	r.compileFailed = prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "aya_release_compile_failed",
		Help: "1 while the cluster's latest release does not compile or publish here (the previous one keeps serving), 0 once it serves.",
	})
	r.dnssecMetrics()
	r.reg.MustRegister(r.configReloads, r.builds, r.buildFailed, r.compileFailed,
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
	if r.geo != nil {
		r.geoReloaded = prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aya_geo_last_reload_successful",
			Help: "1 when the last load of the geo database and overrides files succeeded (at start, or the last reload), 0 when the last reload was refused and the previous database keeps serving.",
		})
		r.geoReloaded.Set(1)
		r.reg.MustRegister(r.geoReloaded,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aya_geo_database_verified",
				Help: "1 when the geo database being served has been verified whole; 0 while its verification after start runs (lookups are bounds-checked meanwhile), or once it failed (the database is then dropped and clients are placed by the overrides alone) or with no database."},
				func() float64 { i := r.geo.Info(); return b2f(i.Path != "" && i.Verified) }))
		if r.geo.Info().Path != "" {
			r.reg.MustRegister(
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aya_geo_build_timestamp_seconds",
					Help: "Build time of the geo database being served (its metadata's), in seconds since the Unix epoch."},
					func() float64 { return float64(r.geo.Info().BuildTime.Unix()) }),
				prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "aya_geo_age_seconds",
					Help: "Seconds since the build time of the geo database being served."},
					func() float64 { return time.Since(r.geo.Info().BuildTime).Seconds() }))
		}
	}
}

// setBuildFailed records the result of a build from this site's files:
// a series per file of them, 1 for those err names.
func (r *Site) setBuildFailed(cfg *config.Config, err error) {
	failed := FailedFiles(err)
	r.buildFailed.Reset()
	for _, f := range buildFiles(cfg) {
		r.buildFailed.WithLabelValues(f).Set(b2f(failed[f]))
	}
	for f := range failed {
		r.buildFailed.WithLabelValues(f).Set(1)
	}
}

// debounce gathers the burst of events an editor or a git checkout makes
// into one reload.
const debounce = 200 * time.Millisecond

// Run reloads on SIGHUP and file changes, and publishes every new release
// of the cluster, until ctx ends.
func (r *Site) Run(ctx context.Context) {
	hup := r.hup
	signal.Notify(hup, syscall.SIGHUP) // New did; again after a Run that ended
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
		// The channel is taken before the check: a release applied while
		// this loop was busy (a reload's own, applied by checkLocal's
		// goroutine) is followed here, not missed until the next one.
		changed := r.node.Changed()
		if r.follow() {
			r.checkLocal(ctx)
		}
		select {
		case <-ctx.Done():
			timer.Stop()
			return
		case <-changed:
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
func (r *Site) watch(w *fsnotify.Watcher) {
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

func (r *Site) relevant(ev fsnotify.Event) bool {
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
func (r *Site) geoFiles() []string {
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
func (r *Site) apply(cfg *config.Config, w *fsnotify.Watcher) error {
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
	r.comp.Configure(cfg)
	// A release refused under the previous configuration (a missing
	// tls_ca_file, lower zone limits) may compile under this one.
	r.refused = ""
	r.level.Set(cfg.SlogLevel())
	if zonesMoved && w != nil {
		r.watch(w)
	}
	return nil
}

func (r *Site) reload(w *fsnotify.Watcher) {
	cfg, err := config.Load(r.path, r.flags)
	if err != nil {
		r.configReloads.WithLabelValues("failure").Inc()
		r.log.Error("config reload failed; keeping the previous configuration", "err", err)
		cfg = r.cfg
	} else {
		if !slices.Equal(cfg.DNS.Listen, r.cfg.DNS.Listen) || cfg.DNS.UDPSockets != r.cfg.DNS.UDPSockets ||
			cfg.DNS.TCP.MaxConnections != r.cfg.DNS.TCP.MaxConnections ||
			cfg.DNS.TCP.MaxConnectionsPerClient != r.cfg.DNS.TCP.MaxConnectionsPerClient || cfg.Admin.Listen != r.cfg.Admin.Listen {
			r.log.Warn("listen addresses, socket counts and connection caps change on restart only")
		}
		if cfg.Geo != r.cfg.Geo {
			r.log.Warn("geo.database, geo.overrides and geo.max_file_bytes change on restart only; their files reload in place")
			cfg.Geo = r.cfg.Geo
		}
	}
	if r.geo != nil && r.geoChanged {
		r.geoChanged = false
		if err := r.geo.Reload(); err != nil {
			r.geoReloaded.Set(0)
			r.log.Error("geo reload failed; keeping the previous database", "err", err)
		} else {
			r.geoReloaded.Set(1)
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
