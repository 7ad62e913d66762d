package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
)

// The errors of raft's TCP transport for an unusable advertise address.
var (
	errNotAdvertisable = errors.New("local bind address is not advertisable")
	errNotTCP          = errors.New("local address is not a TCP address")
)

// newTransport returns the Raft network transport of cfg: plain TCP, or
// mutual TLS when cfg.TLS is set (certificate files or a cluster secret).
func newTransport(cfg Config, advertise net.Addr, hlog hclog.Logger) (*raft.NetworkTransport, error) {
	if cfg.TLS == nil {
		return raft.NewTCPTransportWithLogger(cfg.Bind, advertise, transportPool, transportTimeout, hlog)
	}
	stream, err := newTLSStream(cfg.Bind, advertise, cfg.TLS, transportTimeout)
	if err != nil {
		return nil, err
	}
	return raft.NewNetworkTransportWithConfig(&raft.NetworkTransportConfig{
		Stream:  stream,
		MaxPool: transportPool,
		Timeout: transportTimeout,
		Logger:  hlog,
	}), nil
}

// tlsStream is a raft.StreamLayer of mutual TLS over TCP. Nothing reaches
// raft's decoder from a connection whose handshake failed.
type tlsStream struct {
	ln        net.Listener
	advertise net.Addr
	cfg       *tls.Config
	// handshake bounds an accepted connection's handshake.
	handshake time.Duration
}

var _ raft.StreamLayer = (*tlsStream)(nil)

// newTLSStream listens on bind. The advertised address is advertise, or
// the bound one; like raft's TCP transport it must be a TCP address with a
// specified IP.
func newTLSStream(bind string, advertise net.Addr, cfg *tls.Config, handshake time.Duration) (*tlsStream, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", bind)
	if err != nil {
		return nil, err
	}
	s := &tlsStream{ln: ln, advertise: advertise, cfg: cfg, handshake: handshake}
	addr, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		_ = ln.Close()
		return nil, fmt.Errorf("%w: %v", errNotTCP, s.Addr())
	}
	if addr.IP == nil || addr.IP.IsUnspecified() {
		_ = ln.Close()
		return nil, fmt.Errorf("%w: %v", errNotAdvertisable, addr)
	}
	return s, nil
}

// Accept implements the net.Listener interface. It returns the connection
// before its handshake, which runs on the first Read or Write within the
// handshake timeout: raft's NetworkTransport calls Accept in one loop and
// serves each connection in its own goroutine, so the handshake runs there,
// and a slow or refused peer neither holds up other peers nor makes Accept
// fail (an Accept error makes the loop back off).
func (s *tlsStream) Accept() (net.Conn, error) {
	c, err := s.ln.Accept()
	if err != nil {
		return nil, err
	}
	return &serverConn{Conn: tls.Server(c, s.cfg), timeout: s.handshake}, nil
}

// Close implements the net.Listener interface.
func (s *tlsStream) Close() error { return s.ln.Close() }

// Addr implements the net.Listener interface: the advertised address.
func (s *tlsStream) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}

// Dial implements the raft.StreamLayer interface. It verifies the peer's
// certificate for the host of address, or for the configuration's
// ServerName when it has one (the certificates of a cluster secret all
// carry one name), and completes the handshake within timeout. With TLS 1.3
// the server checks our certificate after our side of the handshake ends:
// a refusal shows on the first read, as an RPC error.
func (s *tlsStream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, err
	}
	cfg := s.cfg.Clone()
	if cfg.ServerName == "" {
		// A link-local IPv6 zone is not part of the name in the certificate.
		cfg.ServerName, _, _ = strings.Cut(host, "%")
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
	return d.DialContext(ctx, "tcp", string(address))
}

// serverConn is an accepted TLS connection whose handshake runs, bounded
// by timeout, on its first Read or Write.
type serverConn struct {
	*tls.Conn
	timeout time.Duration
	once    sync.Once
	err     error
}

func (c *serverConn) handshakeOnce() error {
	c.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
		defer cancel()
		c.err = c.HandshakeContext(ctx)
	})
	return c.err
}

// Read implements the net.Conn interface.
func (c *serverConn) Read(b []byte) (int, error) {
	if err := c.handshakeOnce(); err != nil {
		return 0, err
	}
	return c.Conn.Read(b)
}

// Write implements the net.Conn interface.
func (c *serverConn) Write(b []byte) (int, error) {
	if err := c.handshakeOnce(); err != nil {
		return 0, err
	}
	return c.Conn.Write(b)
}
