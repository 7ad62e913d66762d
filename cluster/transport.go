package cluster

import (
	"net"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// newTransport returns the Raft network transport of cfg: plain TCP, or
// mutual TLS when cfg.TLS is set.
func newTransport(cfg Config, advertise net.Addr, hlog hclog.Logger) (*raft.NetworkTransport, error) {
	return raft.NewTCPTransportWithLogger(cfg.Bind, advertise, transportPool, transportTimeout, hlog)
}
