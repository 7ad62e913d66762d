package cluster

import (
	"errors"
	"log/slog"
	"net"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
)

// The errors of raft's TCP transport for an unusable advertise address.
var (
	errNotAdvertisable = errors.New("local bind address is not advertisable")
	errNotTCP          = errors.New("local address is not a TCP address")
)

// newTransport returns the Raft network transport of cfg over a stream
// that bounds its inbound connections (see stream): plain TCP, or mutual
// TLS when cfg.TLS is set (certificate files or a cluster secret).
func newTransport(cfg Config, advertise net.Addr, hlog hclog.Logger, log *slog.Logger, reg prometheus.Registerer) (*raft.NetworkTransport, *stream, error) {
	lim := defaultTransportLimits()
	if cfg.transportLimits != nil {
		lim = *cfg.transportLimits
	}
	budget := &byteBudget{limit: lim.RequestBudget}
	st, err := newStream(cfg.Bind, advertise, cfg.TLS, lim, newTransportMetrics(reg, budget), budget, log)
	if err != nil {
		return nil, nil, err
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  st,
		MaxPool: transportPool,
		Timeout: transportTimeout,
		Logger:  hlog,
	}), st, nil
}
