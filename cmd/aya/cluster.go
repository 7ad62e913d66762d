package main

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya"
	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/internal/admin"
	"github.com/aya-gslb/aya/internal/httpjson"
	"github.com/aya-gslb/aya/internal/mtls"
	"github.com/aya-gslb/aya/probes"
	"github.com/aya-gslb/aya/release"
	ayasite "github.com/aya-gslb/aya/site"
	"github.com/aya-gslb/aya/state"
)

// loadTLS loads the cluster's mutual TLS files; nil when none are set.
func loadTLS(cfg *config.Config) (*mtls.Config, error) {
	t := cfg.Cluster.TLS
	if t.CertFile == "" {
		return nil, nil
	}
	m, err := mtls.Load(t.CertFile, t.KeyFile, t.CAFile)
	if err != nil {
		return nil, fmt.Errorf("cluster.tls: %w", err)
	}
	return m, nil
}

// clusterClient is the client of other nodes' admin APIs: HTTPS with this
// node's certificate under mutual TLS, and the bearer token.
func clusterClient(cfg *config.Config, m *mtls.Config) *cluster.Client {
	c := &cluster.Client{Token: cfg.Admin.Token}
	if m != nil {
		c.HTTPS = true
		c.HTTP = cluster.NewHTTPClient(m.Client)
	}
	return c
}

// newNode starts this site's Raft node. Its transport runs mutual TLS
// with the cluster.tls files m, or with the cluster secret, or plain TCP
// (config allows that on loopback only).
func newNode(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, m *mtls.Config) (*cluster.Node, error) {
	c := cfg.Cluster
	nc := cluster.Config{
		ID:                 cfg.Node.ID,
		Bind:               c.Bind,
		Advertise:          c.Advertise,
		DataDir:            c.DataDir,
		Bootstrap:          c.Bootstrap,
		CheckRelease:       func(r *release.Release) error { _, err := ayasite.Compile(r, cfgDir(cfg)); return err },
		Logger:             log,
		Registerer:         reg,
		Admin:              cfg.Admin.Listen,
		Join:               c.Join,
		NonVoter:           !c.Voter,
		Client:             clusterClient(cfg, m),
		HeartbeatTimeout:   c.HeartbeatTimeout,
		ElectionTimeout:    c.ElectionTimeout,
		LeaderLeaseTimeout: c.LeaderLeaseTimeout,
		SnapshotThreshold:  uint64(max(c.SnapshotThreshold, 1)),
		SnapshotInterval:   c.SnapshotInterval,
	}
	switch {
	case m != nil:
		nc.TLS = m.Peer()
	case len(c.Secrets) > 0:
		sc, err := mtls.FromSecrets(cfg.Node.ID, c.Secrets)
		if err != nil {
			return nil, fmt.Errorf("cluster.secret: %w", err)
		}
		nc.TLS = sc.Peer
		// The IDs are public fingerprints: equal on nodes that hold the
		// same secrets, and no help in guessing them.
		log.Info("raft transport over TLS from the cluster secret", "secret_ids", sc.IDs)
	}
	return cluster.NewNode(nc)
}

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
				c, err := probeCheck(p.Check, state.EndpointKey{Pool: p.Name, Region: m.Region, Endpoint: e.Name}, e.CheckAddr, ua)
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

// drainRequest is the body of POST /v1/drain and /v1/undrain. Target is a
// region ("eu-west") or an endpoint ("pool/region/endpoint").
type drainRequest struct {
	Target string `json:"target"`
	Reason string `json:"reason,omitempty"`
	By     string `json:"by"`
}

// Paths of the drain API.
const (
	pathDrain   = "/v1/drain"
	pathUndrain = "/v1/undrain"
)

// parseTarget checks a drain target against the configuration: a region
// name, or pool/region/endpoint.
func parseTarget(cfg *config.Config, target string) (region string, ep *state.EndpointKey, err error) {
	parts := strings.Split(target, "/")
	switch len(parts) {
	case 1:
		if _, ok := cfg.Region(target); !ok {
			return "", nil, fmt.Errorf("unknown region %q", target)
		}
		return target, nil, nil
	case 3:
		k := state.EndpointKey{Pool: parts[0], Region: parts[1], Endpoint: parts[2]}
		p, ok := cfg.Pool(k.Pool)
		if !ok {
			return "", nil, fmt.Errorf("unknown pool %q", k.Pool)
		}
		for _, m := range p.Members {
			if m.Region != k.Region {
				continue
			}
			for _, e := range m.Endpoints {
				if e.Name == k.Endpoint {
					return "", &k, nil
				}
			}
		}
		return "", nil, fmt.Errorf("pool %s has no endpoint %s in region %s", k.Pool, k.Endpoint, k.Region)
	}
	return "", nil, fmt.Errorf("target %q: want a region, or pool/region/endpoint", target)
}

// drainRoutes are the admin routes of aya drain and aya undrain; cfg
// returns the running configuration.
func drainRoutes(node *cluster.Node, cfg func() *config.Config) []admin.Route {
	handle := func(drain bool) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var req drainRequest
			if !httpjson.Read(w, r, &req) {
				return
			}
			region, ep, err := parseTarget(cfg(), req.Target)
			switch {
			case err != nil:
			case req.By == "":
				err = errors.New("by: who drains is required")
			case drain && req.Reason == "":
				err = errors.New("reason: required")
			}
			if err != nil {
				httpjson.Error(w, http.StatusBadRequest, err.Error())
				return
			}
			ctx, cancel := context.WithTimeout(r.Context(), cluster.DefaultApplyTimeout)
			defer cancel()
			if drain {
				err = node.Drain(ctx, cluster.Drain{Region: region, Endpoint: ep, Reason: req.Reason, By: req.By})
			} else {
				err = node.Undrain(ctx, cluster.Undrain{Region: region, Endpoint: ep, By: req.By})
			}
			if err != nil {
				status := http.StatusServiceUnavailable
				if ae, ok := errors.AsType[*cluster.APIError](err); ok {
					status = ae.Status
				}
				httpjson.Error(w, status, err.Error())
				return
			}
			httpjson.Write(w, http.StatusOK, map[string]bool{"ok": true})
		})
	}
	return []admin.Route{
		{Pattern: "POST " + pathDrain, Handler: handle(true), Write: true},
		{Pattern: "POST " + pathUndrain, Handler: handle(false), Write: true},
	}
}

// clusterRoutes mounts the cluster API.
func clusterRoutes(node *cluster.Node) []admin.Route {
	h := node.Handler()
	return []admin.Route{
		{Pattern: "GET " + cluster.PathStatus, Handler: h},
		{Pattern: "POST " + cluster.PathApply, Handler: h, Write: true},
		{Pattern: "POST " + cluster.PathJoin, Handler: h, Write: true},
		{Pattern: "POST " + cluster.PathRemove, Handler: h, Write: true},
		{Pattern: "GET " + cluster.PathRelease, Handler: h},
		{Pattern: "POST " + cluster.PathRelease, Handler: h, Write: true},
	}
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
