package site

import (
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"reflect"
	"sync"

	"github.com/aya-gslb/aya"
	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/state"
	"github.com/prometheus/client_golang/prometheus"
)

// checks are the probes of every endpoint of every pool with a check.
func checks(cfg *config.Config) ([]probes.Check, error) {
	var out []probes.Check
	for _, p := range cfg.Pools {
		if p.Check == nil {
			continue
		}
		ua := fmt.Sprintf("aya-probe/%s (site %s)", aya.Version, cfg.Node.ID)
		for _, m := range p.Members {
			for _, e := range m.Endpoints {
				c, err := ProbeCheck(p.Check, state.EndpointKey{Pool: p.Name, Region: m.Region, Endpoint: e.Name}, e.CheckAddr, ua)
				if err != nil {
					return nil, fmt.Errorf("pool %s: check: %w", p.Name, err)
				}
				out = append(out, c)
			}
		}
	}
	return out, nil
}

// loadRoots reads a PEM bundle of CA certificates.
func loadRoots(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("tls_ca_file: %w", err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("tls_ca_file %s: no PEM certificates", file)
	}
	return roots, nil
}

// reporter hands this site's observations to the cluster, through the
// leader.
type reporter struct {
	node *cluster.Node
	site string
}

func (r reporter) Report(ctx context.Context, o probes.Observation) error {
	return r.node.Observe(ctx, cluster.Observe{
		Site: r.site, Key: o.Key, Up: o.Up, LatencyMicros: o.Latency.Microseconds(), Err: o.Err,
	})
}

// probeRunner runs this site's prober, and replaces it when a reload
// changes the checks.
type probeRunner struct {
	ctx  context.Context // serve's: the prober stops with it
	node *cluster.Node
	log  *slog.Logger
	reg  prometheus.Registerer

	mu     sync.Mutex
	cancel context.CancelFunc
	done   chan struct{}
}

// start starts the prober of cfg in place of the running one. When cfg's
// checks cannot be set up, the running prober stays and the error says why.
func (pr *probeRunner) start(cfg *config.Config) error {
	cs, err := checks(cfg)
	if err != nil {
		return err
	}
	for i := range cs {
		if err := cs[i].Validate(); err != nil {
			return err
		}
	}
	pr.mu.Lock()
	defer pr.mu.Unlock()
	// The old prober goes first: it deletes its metric series on the way
	// out, and the new one must not lose the series it shares.
	pr.stopLocked()
	p, err := newProber(cfg, pr.node, pr.log, pr.reg)
	if err != nil || p == nil {
		return err
	}
	ctx, cancel := context.WithCancel(pr.ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = p.Run(ctx)
	}()
	pr.cancel, pr.done = cancel, done
	return nil
}

// stop stops the running prober and waits for it.
func (pr *probeRunner) stop() {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	pr.stopLocked()
}

func (pr *probeRunner) stopLocked() {
	if pr.cancel != nil {
		pr.cancel()
		<-pr.done
		pr.cancel, pr.done = nil, nil
	}
}

// newProber returns the prober of this site's checks; nil for a non-voter
// (an edge site only serves DNS) or when no pool has a check.
func newProber(cfg *config.Config, node *cluster.Node, log *slog.Logger, reg prometheus.Registerer) (*probes.Prober, error) {
	cs, err := checks(cfg)
	if err != nil {
		return nil, err
	}
	if !cfg.Cluster.Voter || len(cs) == 0 {
		return nil, nil
	}
	p, err := probes.New(probes.Config{
		Checks:     cs,
		Reporter:   reporter{node: node, site: cfg.Node.ID},
		Refresh:    cfg.Cluster.ReportInterval,
		Logger:     log.With("component", "probes"),
		Registerer: reg,
	})
	if err != nil {
		return nil, fmt.Errorf("probes: %w", err)
	}
	log.Info("probing", "checks", len(cs))
	return p, nil
}

// sameChecks reports whether two pools probe the same way: the checks,
// the endpoints' targets and the regions' minimums.
func sameChecks(a, b config.PoolConfig) bool {
	if a.Name != b.Name || !reflect.DeepEqual(a.Check, b.Check) || len(a.Members) != len(b.Members) {
		return false
	}
	for i := range a.Members {
		ma, mb := a.Members[i], b.Members[i]
		if ma.Region != mb.Region || ma.MinEndpoints != mb.MinEndpoints || len(ma.Endpoints) != len(mb.Endpoints) {
			return false
		}
		for j := range ma.Endpoints {
			if ma.Endpoints[j].Name != mb.Endpoints[j].Name || ma.Endpoints[j].CheckAddr != mb.Endpoints[j].CheckAddr {
				return false
			}
		}
	}
	return true
}

// ProbeCheck is the probes.Check of cc for key at target, with its
// tls_ca_file read.
func ProbeCheck(cc *probes.CheckConfig, key state.EndpointKey, target netip.AddrPort, ua string) (probes.Check, error) {
	var roots *x509.CertPool
	if cc.TLSCAFile != "" {
		var err error
		if roots, err = loadRoots(cc.TLSCAFile); err != nil {
			return probes.Check{}, err
		}
	}
	return cc.Check(key, target, ua, roots)
}
