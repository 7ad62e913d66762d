package cluster

import (
	"context"
	"errors"
	"maps"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// runEvery is how often Run checks the node's membership and metadata.
const runEvery = time.Second

// Run keeps the node's membership up to date until ctx is done:
//   - while the node is in no cluster configuration (a new node that did
//     not bootstrap), it asks the members in Config.Join, in turn, to add it
//     (as a voter, or a non-voter with Config.NonVoter); a restarted node
//     has a configuration in its log and never joins again;
//   - while the log does not hold this node's admin address
//     (Config.Admin), it records it (through the leader), so followers can
//     forward writes here when this node leads.
func (n *Node) Run(ctx context.Context) {
	t := time.NewTicker(runEvery)
	defer t.Stop()
	leaderCh := n.raft.LeaderCh()
	next := 0 // the Join address to try next
	for {
		n.tick(ctx, &next)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-leaderCh:
		}
	}
}

func (n *Node) tick(ctx context.Context, next *int) {
	ctx, cancel := context.WithTimeout(ctx, runEvery*5)
	defer cancel()
	if !n.inConfiguration() {
		if len(n.join) == 0 {
			return
		}
		addr := n.join[*next%len(n.join)]
		*next++
		req := JoinRequest{ID: n.id, Addr: n.addr, Admin: n.admin, Voter: n.voter}
		if err := n.client.Do(ctx, addr, PathJoin, "", req, nil); err != nil {
			n.log.Warn("join failed; retrying", "via", addr, "err", err)
			return
		}
		n.log.Info("joined the cluster", "via", addr)
		return
	}
	if n.admin == "" {
		return
	}
	if a, ok := n.fsm.Admin(n.id); ok && a == n.admin {
		return
	}
	if lid, _ := n.Leader(); lid == "" {
		return
	}
	err := n.apply(ctx, CmdMeta, Meta{ID: n.id, Admin: n.admin})
	if err != nil && !errors.Is(err, ErrNoLeader) && ctx.Err() == nil {
		n.log.Warn("recording this node's admin address failed; retrying", "err", err)
	}
}

// inConfiguration reports whether the node's latest Raft configuration
// includes it.
func (n *Node) inConfiguration() bool {
	f := n.raft.GetConfiguration()
	if f.Error() != nil {
		return false
	}
	for _, s := range f.Configuration().Servers {
		if s.ID == raft.ServerID(n.id) {
			return true
		}
	}
	return false
}

// nodeMetrics are the node's Prometheus metrics.
type nodeMetrics struct {
	forwards prometheus.Counter
}

func newNodeMetrics(n *Node, reg prometheus.Registerer) nodeMetrics {
	m := nodeMetrics{
		forwards: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "aya_cluster_forwarded_writes_total",
			Help: "Writes this node forwarded to the leader's admin API.",
		}),
	}
	if reg == nil {
		return m
	}
	gauge := func(name, help string, f func() float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, f)
	}
	reg.MustRegister(m.forwards,
		gauge("aya_cluster_staleness_seconds",
			"Seconds since this node last heard from a Raft leader (0 on the leader): how old the state its answers come from may be.",
			func() float64 { return n.Staleness().Seconds() }),
		gauge("aya_cluster_leader", "1 when this node is the Raft leader.",
			func() float64 { return b2f(n.IsLeader()) }),
		gauge("aya_cluster_has_leader", "1 when this node knows a Raft leader.",
			func() float64 { id, _ := n.Leader(); return b2f(id != "") }),
		gauge("aya_cluster_term", "The current Raft term.",
			func() float64 { return float64(n.raft.CurrentTerm()) }),
		gauge("aya_cluster_applied_index", "The last Raft log index applied to the state.",
			func() float64 { return float64(n.raft.AppliedIndex()) }),
		gauge("aya_cluster_state_version", "Version of the decision snapshot the DNS answers read.",
			func() float64 { return float64(n.Current().Version) }),
		gauge("aya_release_version", "Version of the release this node answers from (0: none yet).",
			func() float64 {
				if r := n.Release(); r != nil {
					return float64(r.Version)
				}
				return 0
			}),
		gauge("aya_cluster_restored_index",
			"Log index of the state restored from disk that this node answers from until it has caught up (0: none, or caught up).",
			func() float64 { return float64(n.Restored()) }),
		differGauge(n, "version"), differGauge(n, "geo"), differGauge(n, "release"), differGauge(n, "local"),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "aya_cluster_skipped_entries_total",
			Help: "Log entries skipped because they do not decode or are stamped too far ahead; every node skips the same ones."},
			func() float64 { return float64(n.fsm.Skipped()) }),
		stateCollector{n.fsm},
	)
	return m
}

// differGauge is aya_cluster_sites_differ{what}: the number of sites
// concerned by a difference of what (0: all agree).
func differGauge(n *Node, what string) prometheus.Collector {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name:        "aya_cluster_sites_differ",
		Help:        `Sites that differ from the others, by what: "version" (aya's), "geo" (database and overrides files), "release" (publishing another release than the log's, 5s after it), "local" (own files that differ from the release).`,
		ConstLabels: prometheus.Labels{"what": what},
	}, func() float64 { return float64(len(n.fsm.Differ()[what])) })
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// stateCollector exports what the replicated state says of the sites and
// regions. Every value comes from the log (ages are measured against its
// newest leader time), so every node exports the same numbers for the
// same applied index.
type stateCollector struct{ f *FSM }

var (
	siteReportAgeDesc = prometheus.NewDesc("aya_cluster_site_report_age_seconds",
		"Log-time age of the newest probe report of each site: a site that stopped reporting grows old at every node alike.",
		[]string{"site"}, nil)
	regionUpDesc = prometheus.NewDesc("aya_cluster_region_up",
		"1 when the cluster decides a pool's region up (enough endpoints up), 0 when down; regions drained by an operator are not down.",
		[]string{"pool", "region"}, nil)
	regionShedDesc = prometheus.NewDesc("aya_cluster_region_shed_ratio",
		"Share of a region's clients answered from the next-best region because its proxies report it loaded (0: not shedding).",
		[]string{"region"}, nil)
	regionLoadDesc = prometheus.NewDesc("aya_cluster_region_load_ratio",
		"A region's requests in flight over its capacity, from its proxies' fresh load reports (absent without any).",
		[]string{"region"}, nil)
)

// Describe implements prometheus.Collector.
func (c stateCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- siteReportAgeDesc
	ch <- regionUpDesc
	ch <- regionShedDesc
	ch <- regionLoadDesc
}

// Collect implements prometheus.Collector.
func (c stateCollector) Collect(ch chan<- prometheus.Metric) {
	f := c.f
	f.mu.Lock()
	d := f.d
	newest := map[string]int64{}
	regions := map[RegionKey]bool{}
	for k, ep := range d.eps {
		regions[RegionKey{k.Pool, k.Region}] = true
		for site, r := range ep.Reports {
			if at, ok := newest[site]; !ok || r.At > at {
				newest[site] = r.At
			}
		}
	}
	down := maps.Clone(d.rdown)
	shed := map[string]float64{}
	for rk := range regions {
		shed[rk.Region] = 0
	}
	load := map[string]float64{}
	for region, rl := range d.loads {
		shed[region] = rl.Shed
		if u, ok := f.utilisation(d, rl, d.now); ok {
			load[region] = u
		}
	}
	now := d.now
	f.mu.Unlock()

	for site, at := range newest {
		ch <- prometheus.MustNewConstMetric(siteReportAgeDesc, prometheus.GaugeValue, time.Duration(now-at).Seconds(), site)
	}
	for rk := range regions {
		_, isDown := down[rk]
		ch <- prometheus.MustNewConstMetric(regionUpDesc, prometheus.GaugeValue, b2f(!isDown), rk.Pool, rk.Region)
	}
	for region, s := range shed {
		ch <- prometheus.MustNewConstMetric(regionShedDesc, prometheus.GaugeValue, s, region)
	}
	for region, u := range load {
		ch <- prometheus.MustNewConstMetric(regionLoadDesc, prometheus.GaugeValue, u, region)
	}
}
