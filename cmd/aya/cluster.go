package main

import (
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/internal/admin"
	"github.com/aya-gslb/aya/internal/mtls"
	"github.com/aya-gslb/aya/release"
	ayasite "github.com/aya-gslb/aya/site"
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
func newNode(cfg *config.Config, log *slog.Logger, reg prometheus.Registerer, m *mtls.Config, comp *ayasite.Compiler) (*cluster.Node, error) {
	c := cfg.Cluster
	nc := cluster.Config{
		ID:                 cfg.Node.ID,
		Bind:               c.Bind,
		Advertise:          c.Advertise,
		DataDir:            c.DataDir,
		Bootstrap:          c.Bootstrap,
		CheckRelease:       func(r *release.Release) error { _, err := comp.Compile(r); return err },
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

// clusterRoutes mounts the cluster API.
func clusterRoutes(node *cluster.Node) []admin.Route {
	h := node.Handler()
	return []admin.Route{
		{Pattern: "GET " + cluster.PathStatus, Handler: h},
		{Pattern: "POST " + cluster.PathApply, Handler: h, Auth: true},
		{Pattern: "POST " + cluster.PathJoin, Handler: h, Auth: true},
		{Pattern: "POST " + cluster.PathRemove, Handler: h, Auth: true},
		{Pattern: "GET " + cluster.PathRelease, Handler: h, Auth: true}, // every zone file
		{Pattern: "POST " + cluster.PathRelease, Handler: h, Auth: true, MaxBody: cluster.MaxReleaseBody},
	}
}
