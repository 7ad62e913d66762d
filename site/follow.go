package site

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"maps"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"runtime/metrics"
	"slices"
	"sync"
	"time"

	"github.com/aya-gslb/aya"
	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/release"
)

// ConfigDir is the directory relative paths of a release resolve against on
// this site: its configuration file's.
func ConfigDir(cfg *config.Config) string {
	if cfg.File == "" {
		return "."
	}
	return filepath.Dir(cfg.File)
}

// leaderBackoff bounds the further wait of a restarted site for a leader
// that other members report: hashicorp/raft backs off replicating to a
// member that was down, up to 10.24 s (failureWait 10ms × 2^10).
const leaderBackoff = 12 * time.Second

// catchUp bounds how long a restarted site waits for the cluster's latest
// state before it answers from the one restored from disk.
func catchUp(cfg *config.Config) time.Duration {
	return max(3*time.Second, 3*cfg.Cluster.ElectionTimeout)
}

// merged is the local configuration with the steering of a release.
func merged(local *config.Config, c *Compiled) *config.Config {
	if c == nil {
		return local
	}
	m := *local
	rc := c.Config
	m.Regions, m.Pools, m.ECS = rc.Regions, rc.Pools, rc.ECS
	m.Cluster.FreshFor, m.Cluster.ReportInterval, m.Cluster.Shed = rc.Cluster.FreshFor, rc.Cluster.ReportInterval, rc.Cluster.Shed
	return &m
}

// publish serves c (nil: keep serving no release) with the local
// configuration, and restarts the probes when the release changed them.
func (r *Site) publish(c *Compiled) error {
	m := merged(r.cfg, c)
	if c != nil {
		dc := DNSConfig(m, r.log, nil, GSLB(m, r.geo, r.health))
		dc.Release = dnsserver.ReleaseInfo{Version: c.Release.Version, Digest: c.Release.Digest}
		done := lessGC()
		err := r.srv.Publish(c.Zones, dc)
		done()
		if err != nil {
			return err
		}
	}
	prev := r.cur.Load()
	r.cur.Store(m)
	if c != nil && (r.rel.Load() == nil || !slices.EqualFunc(m.Pools, prev.Pools, sameChecks) ||
		m.Cluster.ReportInterval != prev.Cluster.ReportInterval) {
		if err := r.probes.start(m); err != nil {
			r.log.Error("health checks not reloaded; the previous checks keep running", "err", err)
		} else if r.rel.Load() != nil {
			r.log.Info("health checks reloaded")
		}
	}
	old := r.rel.Swap(c)
	if old != nil && c != nil {
		logZoneChanges(r.log, old, c)
	}
	if c != nil && (old == nil || old.Zones != c.Zones) && (records(c) >= bigRelease || records(old) >= bigRelease) {
		boundHeap(r.log, records(c) >= bigRelease)
	}
	r.touchSite()
	r.touchSigner()
	return nil
}

// bigRelease is the records of a release whose publish bounds the heap
// (about 40 MB of heap per 100k records).
const bigRelease = 100_000

// heapHeadroom is the heap a site with big zones may grow to beyond its
// live heap after a publish, as a fraction of it: the Go runtime's default
// (GOGC=100) lets the heap double before it collects, and a heap that is
// mostly zones, which queries never free, would hold twice their memory.
const heapHeadroom = 0.25

// boundHeap returns to the system what building the release took (file
// copies, the log entry, the parse, the previous zones), garbage now, and
// with big set caps the heap at the live heap plus heapHeadroom (a soft
// limit, debug.SetMemoryLimit: the collector works harder near it, never
// fails an allocation); without, it lifts the cap. GOMEMLIMIT, when set,
// is the operator's and stays.
func boundHeap(log *slog.Logger, big bool) {
	if os.Getenv("GOMEMLIMIT") != "" {
		debug.FreeOSMemory()
		return
	}
	heapBound.Lock()
	defer heapBound.Unlock()
	debug.SetMemoryLimit(math.MaxInt64)
	debug.FreeOSMemory()
	if !big {
		return
	}
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return
	}
	live := s[0].Value.Uint64()
	limit := int64(float64(live)*(1+heapHeadroom)) + 64<<20 // and the runtime's own
	debug.SetMemoryLimit(limit)
	log.Debug("heap bounded", "live_mb", live>>20, "limit_mb", limit>>20)
}

// heapBound serialises the changes of the memory limit: boundHeap's, and
// roomToCompile's, which may overlap (a compile inside a build).
var heapBound struct {
	sync.Mutex
	// n counts the roomToCompile calls not yet restored; raised is the
	// bound they set, prev the one before.
	n            int
	prev, raised int64
}

// roomToCompile raises the bound of boundHeap by compileRoom while a
// release is compiled beside the one served (old and new zones live at
// once), which the bound would otherwise make the collector chase for the
// whole parse (a reload of a zone of a million records took 35 s instead of
// 14 unbounded). It returns the function that puts the bound back when the
// compile ends; a publish sets the next bound, which the restore keeps
// (the calls may nest: the last one out restores). GOMEMLIMIT, when set,
// stays.
func roomToCompile() (restore func()) {
	r := roomFor()
	return func() { r(false) }
}

// roomFor is roomToCompile, whose restore with keep leaves the raised
// bound in place for the publish that follows (which sets the next one;
// should that publish fail, the bound stays raised until the next).
func roomFor() (restore func(keep bool)) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func(bool) {}
	}
	heapBound.Lock()
	defer heapBound.Unlock()
	if heapBound.n == 0 {
		prev := debug.SetMemoryLimit(-1)
		if prev == math.MaxInt64 {
			return func(bool) {}
		}
		heapBound.prev, heapBound.raised = prev, int64(float64(prev)*compileRoom)
		debug.SetMemoryLimit(heapBound.raised)
	}
	heapBound.n++
	var once sync.Once
	return func(keep bool) {
		once.Do(func() {
			heapBound.Lock()
			defer heapBound.Unlock()
			if heapBound.n--; heapBound.n == 0 && !keep && debug.SetMemoryLimit(-1) == heapBound.raised {
				debug.SetMemoryLimit(heapBound.prev)
			}
		})
	}
}

// building is lessGC and roomToCompile together, for the whole of a build
// and its apply: the log entry of a release is encoded and stored (raft's
// log store copies it twice more) beside the zones compiled from it and
// those served, and at GOGC=100 under the tight bound every cycle of the
// collector marked all of them (two cycles over 300 to 500 MB of a zone of
// a million records, half a second of CPU, between the compile and the
// publish). done(applied) ends it; applied (a new release entered the log)
// keeps the raised bound for its publish, which sets the next: until then
// the new zones live beside the served ones, and the bound put back under
// both made the collector run back to back (a reload of a zone of a
// million records took minutes).
func building() (done func(applied bool)) {
	gc, room := lessGC(), roomFor()
	return func(applied bool) { room(applied); gc() }
}

// compileGOGC is the collector's GOGC while a release is built, compiled
// or published (the heap grows by the zones' size then, and each cycle of
// the collector marks all of it: at GOGC=100 a zone of a million records
// took the collector about as long as the parse); the default again after.
// The memory limit still bounds the heap (boundHeap, roomToCompile); a
// GOGC set by the operator stays.
const compileGOGC = 400

// gcBoost counts the builds under lessGC, which may overlap.
var gcBoost struct {
	sync.Mutex
	n    int
	prev int
}

// lessGC sets GOGC to compileGOGC until done is called.
func lessGC() (done func()) {
	if os.Getenv("GOGC") != "" {
		return func() {}
	}
	gcBoost.Lock()
	if gcBoost.n == 0 {
		gcBoost.prev = debug.SetGCPercent(compileGOGC)
	}
	gcBoost.n++
	gcBoost.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			gcBoost.Lock()
			defer gcBoost.Unlock()
			if gcBoost.n--; gcBoost.n == 0 {
				debug.SetGCPercent(gcBoost.prev)
			}
		})
	}
}

// compileRoom is the factor roomToCompile raises the bound by: room for a
// second copy of the zones (the bound is 1.25 times the live heap) and a
// little more.
const compileRoom = 1.6

// records is the number of records in c's zones (0 for nil).
func records(c *Compiled) int {
	n := 0
	if c != nil {
		for _, z := range c.Zones.List() {
			n += z.Len()
		}
	}
	return n
}

// logZoneChanges logs, once per publish, each zone that c adds, deletes
// or changes against old: its name, file and serial (aya serve logs every
// zone of the first release).
func logZoneChanges(log *slog.Logger, old, c *Compiled) {
	if old.Release == c.Release {
		return
	}
	data := func(rel *release.Release) map[string][]byte {
		m := make(map[string][]byte, len(rel.Zones))
		for _, f := range rel.Zones {
			m[f.Name] = f.Data
		}
		return m
	}
	oldData, newData := data(old.Release), data(c.Release)
	before := map[string]*dnsserver.Zone{}
	for _, z := range old.Zones.List() {
		before[z.Origin] = z
	}
	for _, z := range c.Zones.List() {
		p, ok := before[z.Origin]
		delete(before, z.Origin)
		switch {
		case !ok:
			log.Info("zone added", "zone", z.Origin, "file", z.File, "serial", z.Serial(), "records", z.Len())
		case p.Serial() != z.Serial():
			log.Info("zone reloaded", "zone", z.Origin, "file", z.File, "serial", z.Serial(), "previous_serial", p.Serial(), "records", z.Len())
		case p.File != z.File || p.Len() != z.Len() || !bytes.Equal(oldData[p.File], newData[z.File]):
			// Secondaries that poll the SOA do not see this change.
			log.Warn("zone reloaded with the same serial", "zone", z.Origin, "file", z.File, "serial", z.Serial(), "records", z.Len())
		}
	}
	for _, origin := range slices.Sorted(maps.Keys(before)) {
		p := before[origin]
		log.Info("zone deleted", "zone", origin, "file", p.File, "serial", p.Serial())
	}
}

// follow publishes the node's release when it is not the one served. It
// reports whether it published one.
func (r *Site) follow() bool {
	rel := r.node.Release()
	if rel == nil {
		return false
	}
	if cur := r.rel.Load(); cur != nil && cur.Release.Digest == rel.Digest && cur.Release.Version == rel.Version {
		return false
	}
	if rel.Digest == r.refused {
		return false // said already; the site reports what it publishes
	}
	c, err := r.comp.Compile(rel)
	if err == nil {
		err = r.publish(c)
	}
	if err != nil {
		// Every release was compiled before it entered the log; this one
		// does not compile here (another binary version, a missing
		// tls_ca_file): keep serving the previous one, loudly, once.
		r.refused = rel.Digest
		r.compileFailed.Set(1)
		r.log.Error("release not served; the previous one keeps serving", "version", rel.Version, "digest", release.ShortDigest(rel.Digest), "err", err)
		return false
	}
	r.compileFailed.Set(0)
	r.log.Info("release serving", "version", rel.Version, "digest", release.ShortDigest(rel.Digest), "index", rel.Index,
		"by", rel.By, "source", rel.Source, "zones", len(c.Zones.List()))
	return true
}

// WaitRelease waits until a release is published; false if ctx ends first.
func (r *Site) WaitRelease(ctx context.Context) bool {
	t := time.NewTicker(5 * time.Second)
	defer t.Stop()
	for {
		changed := r.node.Changed()
		if r.follow() || r.rel.Load() != nil {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-changed:
		case <-t.C:
			r.log.Info("waiting for a release from the cluster before answering")
		}
	}
}

// Ready is /readyz: the site has a state to answer from (the cluster's, or
// the one it restored from its disk; aya status says which).
func (r *Site) Ready() error {
	if r.rel.Load() == nil {
		return errors.New("no release yet: waiting for the cluster's")
	}
	return nil
}

// whoAmI is the By of a release built here.
func whoAmI(site string) string {
	if h, err := os.Hostname(); err == nil {
		return site + "@" + h
	}
	return site
}

// seed makes this site's files the first release of a cluster that has
// none, when this site leads; with release.watch, it applies them whenever
// they differ from the running release (at start; reload calls checkLocal).
func (r *Site) seed(ctx context.Context) {
	var lastErr string
	for r.node.Release() == nil {
		wait := seedPoll
		if r.node.IsLeader() && r.node.CaughtUp() {
			wait = seedRetry
			cfg := r.cur.Load() // no release yet: the site's own configuration
			done := building()
			rel, signed, err := r.comp.Build(cfg, whoAmI(cfg.Node.ID), "seed: "+cfg.Node.ID, nil, time.Now())
			var resp cluster.ReleaseResponse
			if err == nil {
				resp, err = r.node.ApplyRelease(ctx, rel)
			}
			done(err == nil && !resp.Unchanged)
			if err == nil {
				r.signed(signed, "seed")
			}
			if err != nil && err.Error() != lastErr {
				lastErr = err.Error()
				r.log.Error("this site's files cannot be the cluster's first release", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// seed's waits: for leadership and the log (a bootstrapping node leads
// tens of milliseconds after its start, and a quarter of a second more was
// a tenth of the time to the first answer of a zone of a million records),
// and between builds that fail or are not taken.
const (
	seedPoll  = 20 * time.Millisecond
	seedRetry = 250 * time.Millisecond
)

// checkLocal builds a release from this site's files: with release.watch
// it applies it (retrying until a leader takes it), otherwise it only
// compares it with the running release (aya_release_local_differs).
func (r *Site) checkLocal(ctx context.Context) {
	done := building()
	defer done(false) // a release applied is the goroutine's below
	cfg := r.cfg
	rel, signed, err := r.comp.Build(cfg, whoAmI(cfg.Node.ID), "watch: "+cfg.Node.ID, r.rel.Load(), time.Now())
	r.setBuildFailed(cfg, err)
	if err != nil {
		none := ""
		r.local.Store(&none)
		r.touchSite()
		if cfg.Release.Watch {
			r.builds.WithLabelValues("failure").Inc()
			r.log.Error("release not built from this site's files; the running release keeps serving", "err", err)
		}
		return
	}
	d := rel.Digest
	if cur := r.node.Release(); cur != nil && cur.UnsignedDigest() == rel.UnsignedDigest() {
		// The running release is these files, signed by the signer (or
		// signed here at another time): the files do not differ from it.
		d = cur.Digest
	}
	if len(rel.Zones) == 0 && !cfg.Release.Watch {
		// No zone files of its own (an edge site with an empty
		// dns.zones_dir): nothing to compare with the running release.
		d = ""
	}
	r.local.Store(&d)
	r.touchSite()
	if d == "" {
		return
	}
	if !cfg.Release.Watch {
		if cur := r.node.Release(); cur != nil && cur.Digest != d {
			r.log.Warn("this site's files differ from the release it answers from", "running", release.ShortDigest(cur.Digest), "local", release.ShortDigest(d))
		}
		return
	}
	if cur := r.node.Release(); cur != nil && cur.Digest == d {
		r.builds.WithLabelValues("success").Inc()
		return
	}
	r.applyMu.Lock()
	if r.applyCancel != nil {
		r.applyCancel()
	}
	actx, cancel := context.WithTimeout(context.Background(), time.Minute)
	r.applyCancel = cancel
	r.applyMu.Unlock()
	applyDone := building() // taken before checkLocal's own ends: no gap
	go func() {
		defer cancel()
		applied := false
		defer func() { applyDone(applied) }()
		backoff := 50 * time.Millisecond
		for {
			resp, err := r.node.ApplyRelease(actx, rel)
			if err == nil {
				applied = !resp.Unchanged
				r.signed(signed, "watch")
				r.builds.WithLabelValues("success").Inc()
				r.log.Info("release applied from this site's files", "version", resp.Version, "digest", release.ShortDigest(resp.Digest), "unchanged", resp.Unchanged)
				return
			}
			var ae *cluster.APIError
			if errors.As(err, &ae) && ae.Status == 400 || isRefused(err) {
				r.builds.WithLabelValues("failure").Inc()
				r.log.Error("release refused; the running release keeps serving", "err", err)
				return
			}
			select {
			case <-actx.Done():
				r.builds.WithLabelValues("failure").Inc()
				r.log.Error("release not applied: no leader took it", "err", err)
				return
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
	}()
}

// isRefused reports whether err is the cluster's verdict on a release
// itself, which retrying will not change.
func isRefused(err error) bool {
	return cluster.IsCommandError(err)
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// siteInfo is what this site runs, for the cluster's comparison of sites.
func (r *Site) siteInfo() cluster.SiteInfo {
	s := cluster.SiteInfo{Version: aya.Version}
	if r.geo != nil {
		i := r.geo.Info()
		s.Geo, s.GeoInfo = i.Digest, i.String()
	}
	if c := r.rel.Load(); c != nil {
		s.Published = c.Release.Digest
	}
	if l := r.local.Load(); l != nil {
		s.Local = *l
	}
	return s
}

// touchSite asks reportSites to report what this site runs.
func (r *Site) touchSite() {
	select {
	case r.siteDirty <- struct{}{}:
	default:
	}
}

// reportSites records what this site runs in the log when it changes, and
// checks every few seconds that the log still holds it (a report made
// while there was no leader is retried).
func (r *Site) reportSites(ctx context.Context) {
	t := time.NewTicker(2 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.siteDirty:
		case <-t.C:
		}
		if lid, _ := r.node.Leader(); lid == "" {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		if err := r.node.ReportSite(rctx, r.siteInfo()); err != nil && ctx.Err() == nil {
			r.log.Debug("site report failed; retrying", "err", err)
		}
		cancel()
	}
}
