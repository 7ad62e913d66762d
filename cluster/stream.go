package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// The bounds of the Raft port (see transportLimits). A member keeps at
// most transportPool idle connections to each peer (raft's MaxPool), and
// has a few more in use at once: the heartbeat, the replication pipeline,
// a snapshot, a vote or TimeoutNow. connsPerPeer covers both.
const (
	connsPerPeer = 2*transportPool + 4
	// connsPerRemote bounds the inbound connections from one IP address:
	// two members behind one address (every member on loopback dials
	// from 127.0.0.1), or one member and the stale connections of its
	// previous run.
	connsPerRemote = 2 * connsPerPeer
	// minConnPeers sizes the cap on connections from addresses that are
	// not a member's (a joining member's, a member behind NAT, strangers):
	// as many as from that many members.
	minConnPeers = 5

	// connIdle closes a connection that waits this long for its next
	// request. The leader's heartbeat connection is busy every tenth of
	// the heartbeat timeout; a pooled or pipeline connection closed while
	// idle fails its next RPC once, and raft redials at once.
	connIdle = 2 * time.Minute
	// requestWait bounds the time a request may spend waiting for its
	// bytes, summed over its reads: raft's sender writes a request
	// within its transport timeout (transportTimeout), so a request that
	// trickles or stalls longer is not from a member at work. Time raft
	// spends on a request it has read, or on the one before it, does not
	// count.
	requestWait = transportTimeout
	// evictIdle is how long a connection must have been waiting for its
	// next request before a new connection may take its place.
	evictIdle = 2 * time.Second

	// requestFree is what a request may hold without the shared budget:
	// heartbeats, votes and ordinary AppendEntries (64 entries of
	// observations are ~20 KiB) never wait for it.
	requestFree = 256 << 10
	// requestBudget bounds the bytes over requestFree of all requests
	// being received together, and so the largest request: a batch of
	// AppendEntries with two releases at the release.MaxTotalSize limit.
	requestBudget = 2*MaxReleaseBody + 16<<20
	// requestValues bounds the msgpack values of a request: 64 per entry
	// of a batch of raft's MaxAppendEntries (64; a log entry is 13).
	requestValues = 64 * 64
	// maxSnapshot bounds the snapshot data of an InstallSnapshot, which
	// raft streams to disk.
	maxSnapshot = 1 << 30
)

// transportLimits are the bounds of the inbound connections of the Raft
// port. What they make the node hold at most is
// conns × (raft's 256 KiB read buffer + 2 × RequestFree + RequestValues ×
// ~130 bytes) + 2 × RequestBudget, where conns is at most
// PerRemote × (member addresses) + PerPeer × MinPeers.
type transportLimits struct {
	// PerRemote bounds the connections from one IP address, times the
	// members whose Raft address has it.
	PerRemote int
	// PerPeer × MinPeers caps the connections from addresses that are
	// not a member's; a member's address has PerRemote of its own.
	PerPeer, MinPeers int
	// Idle closes a connection that waits this long for a request.
	Idle time.Duration
	// RequestWait bounds the time a request waits for its bytes; an
	// InstallSnapshot's data has as long again as raft gives its sender.
	RequestWait time.Duration
	// EvictIdle is the least idle time of a connection that a new one may
	// replace when a cap is reached.
	EvictIdle time.Duration
	// Handshake bounds a TLS handshake.
	Handshake time.Duration
	// RequestFree, RequestBudget: see requestFree, requestBudget.
	RequestFree, RequestBudget int64
	// RPC bounds each request; its MaxBytes is RequestBudget's.
	RPC rpcLimits
}

// defaultTransportLimits are the bounds of the Raft port.
func defaultTransportLimits() transportLimits {
	return transportLimits{
		PerRemote: connsPerRemote, PerPeer: connsPerPeer, MinPeers: minConnPeers,
		Idle: connIdle, RequestWait: requestWait, EvictIdle: evictIdle, Handshake: transportTimeout,
		RequestFree: requestFree, RequestBudget: requestBudget,
		RPC: rpcLimits{MaxBytes: requestBudget, MaxValues: requestValues, MaxSnapshot: maxSnapshot},
	}
}

// Reasons of aya_cluster_transport_rejected_total and _closed_total.
const (
	rejectRemote    = "per_remote" // the remote address has PerRemote connections
	rejectStrangers = "strangers"  // the cap on addresses that are no member's is reached

	closedPeer      = "peer"    // the peer closed it, or raft did
	closedIdle      = "idle"    // no request within Idle
	closedStalled   = "stalled" // a request waited RequestWait for its bytes
	closedEvicted   = "evicted" // idle, and replaced by a new connection
	closedHandshake = "handshake"
	closedTooLarge  = "too_large" // a request over RPC.MaxBytes, or a snapshot over MaxSnapshot
	closedValues    = "values"    // a request with more than RPC.MaxValues values, or nested too deep
	closedMalformed = "malformed" // not raft's framing
	closedBudget    = "budget"    // the shared budget was spent
)

// errRequestStalled is returned to raft for a request whose bytes stopped.
var errRequestStalled = errors.New("raft rpc stalled: closed")

// transportMetrics are the Raft port's.
type transportMetrics struct {
	open     prometheus.Gauge
	rejected *prometheus.CounterVec
	closed   *prometheus.CounterVec
}

func newTransportMetrics(reg prometheus.Registerer, budget *byteBudget) *transportMetrics {
	m := &transportMetrics{
		open: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "aya_cluster_transport_connections",
			Help: "Inbound connections open on the Raft port.",
		}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_cluster_transport_rejected_total",
			Help: "Inbound connections to the Raft port closed at accept, by the cap reached (per_remote, strangers).",
		}, []string{"reason"}),
		closed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "aya_cluster_transport_closed_total",
			Help: "Inbound connections of the Raft port closed, by reason (peer, idle, stalled, evicted, handshake, too_large, values, malformed, budget).",
		}, []string{"reason"}),
	}
	if reg != nil {
		reg.MustRegister(m.open, m.rejected, m.closed,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "aya_cluster_transport_buffered_bytes",
				Help: "Bytes of Raft requests being received beyond each one's free allowance, all connections together.",
			}, func() float64 { return float64(budget.used.Load()) }))
	}
	return m
}

// byteBudget is a number of bytes shared by the connections.
type byteBudget struct {
	limit int64
	used  atomic.Int64
}

func (b *byteBudget) take(n int64) bool {
	if b.used.Add(n) > b.limit {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *byteBudget) release(n int64) { b.used.Add(-n) }

// stream is the raft.StreamLayer of the Raft port, plain TCP or mutual
// TLS, that bounds inbound connections (transportLimits): how many, from
// one address and in total; how long one may sit idle or take to send a
// request; how large a request may be and how much all requests being
// received may hold together. raft's NetworkTransport serves each
// connection in a goroutine that reads one request, hands it to raft over
// an unbuffered channel and writes the answer before it reads the next,
// so the requests waiting for raft are bounded by the connections.
type stream struct {
	ln        net.Listener
	advertise net.Addr
	tls       *tls.Config // nil: plain TCP
	lim       transportLimits
	budget    *byteBudget
	m         *transportMetrics
	log       *slog.Logger
	// members returns the members' Raft addresses (nil: none).
	members atomic.Pointer[func() []raft.ServerAddress]

	mu        sync.Mutex
	conns     map[*boundedConn]struct{}
	byRemote  map[netip.Addr]int
	strangers int // conns not from a member's address

	logReject, logClose rate.Sometimes
}

var _ raft.StreamLayer = (*stream)(nil)

// newStream listens on bind. The advertised address is advertise, or the
// bound one; like raft's TCP transport it must be a TCP address with a
// specified IP. tlsCfg nil: plain TCP.
func newStream(bind string, advertise net.Addr, tlsCfg *tls.Config, lim transportLimits, m *transportMetrics, budget *byteBudget, log *slog.Logger) (*stream, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", bind)
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if budget == nil {
		budget = &byteBudget{limit: lim.RequestBudget}
	}
	if m == nil {
		m = newTransportMetrics(nil, budget)
	}
	s := &stream{
		ln: ln, advertise: advertise, tls: tlsCfg, lim: lim, budget: budget, m: m, log: log,
		conns: make(map[*boundedConn]struct{}), byRemote: make(map[netip.Addr]int),
		logReject: rate.Sometimes{Interval: 10 * time.Second},
		logClose:  rate.Sometimes{Interval: 10 * time.Second},
	}
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

// setMembers gives the stream the Raft addresses of the members (from
// the configuration): connections from their IP addresses are not counted
// against the cap on strangers.
func (s *stream) setMembers(f func() []raft.ServerAddress) { s.members.Store(&f) }

// membersAt returns how many members have remote as the IP address of
// their Raft address (a name is not resolved: its connections count as
// strangers).
func (s *stream) membersAt(remote netip.Addr) int {
	f := s.members.Load()
	if f == nil {
		return 0
	}
	n := 0
	for _, a := range (*f)() {
		if ap, err := netip.ParseAddrPort(string(a)); err == nil && ap.Addr().Unmap() == remote {
			n++
		}
	}
	return n
}

// maxStrangers is the cap on connections from addresses that are not a
// member's.
func (s *stream) maxStrangers() int { return s.lim.PerPeer * s.lim.MinPeers }

// Accept implements the net.Listener interface. A connection over a cap
// takes the place of the one that has waited longest for its next request,
// from the same address for PerRemote, from any stranger for the cap on
// strangers, if it has waited EvictIdle; otherwise it is closed at once.
// Over TLS, the connection is returned before its handshake, which runs on
// the first Read or Write within the handshake timeout: raft's
// NetworkTransport calls Accept in one loop and serves each connection in
// its own goroutine, so the handshake runs there, and a slow or refused
// peer neither holds up other peers nor makes Accept fail (an Accept error
// makes the loop back off).
func (s *stream) Accept() (net.Conn, error) {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return nil, err
		}
		if bc := s.admit(c); bc != nil {
			return bc, nil
		}
	}
}

// admit registers c, or closes it when a cap is reached.
func (s *stream) admit(c net.Conn) *boundedConn {
	var remote netip.Addr
	if a, ok := c.RemoteAddr().(*net.TCPAddr); ok {
		remote = a.AddrPort().Addr().Unmap()
	}
	// An address that several members share (loopback) has room for
	// each of them.
	at := s.membersAt(remote)
	member, perRemote := at > 0, s.lim.PerRemote*max(at, 1)
	now := time.Now()
	s.mu.Lock()
	reason := ""
	if s.byRemote[remote] >= perRemote && !s.evictLocked(func(c *boundedConn) bool { return c.remote == remote }, now) {
		reason = rejectRemote
	} else if !member && s.strangers >= s.maxStrangers() && !s.evictLocked(func(c *boundedConn) bool { return !c.member }, now) {
		reason = rejectStrangers
	}
	if reason != "" {
		s.mu.Unlock()
		// Counted before it is closed: whoever sees the close finds it
		// counted.
		s.m.rejected.WithLabelValues(reason).Inc()
		_ = c.Close()
		s.logReject.Do(func() {
			s.log.Warn("raft connection refused (more are counted in aya_cluster_transport_rejected_total, not logged for 10s)",
				"reason", reason, "remote", remote.String())
		})
		return nil
	}
	inner := c
	if s.tls != nil {
		inner = &serverConn{Conn: tls.Server(c, s.tls), timeout: s.lim.Handshake}
	}
	bc := &boundedConn{Conn: inner, s: s, remote: remote, member: member, scan: rpcScanner{lim: s.lim.RPC}}
	s.conns[bc] = struct{}{}
	s.byRemote[remote]++
	if !member {
		s.strangers++
	}
	s.mu.Unlock()
	s.m.open.Inc()
	return bc
}

// evictLocked closes the connection of those that match which has waited
// longest for a request, if at least EvictIdle, and reports whether it did.
func (s *stream) evictLocked(match func(*boundedConn) bool, now time.Time) bool {
	var victim *boundedConn
	oldest := now.Add(-s.lim.EvictIdle).UnixNano()
	for c := range s.conns {
		if since := c.idleSince.Load(); since != 0 && since <= oldest && match(c) {
			victim, oldest = c, since
		}
	}
	if victim == nil {
		return false
	}
	victim.setReason(closedEvicted)
	s.forgetLocked(victim)
	_ = victim.Conn.Close() // its Read returns io.EOF; raft then calls Close
	return true
}

// forgetLocked unregisters c once.
func (s *stream) forgetLocked(c *boundedConn) {
	if _, ok := s.conns[c]; !ok {
		return
	}
	delete(s.conns, c)
	if !c.member {
		s.strangers--
	}
	if s.byRemote[c.remote]--; s.byRemote[c.remote] <= 0 {
		delete(s.byRemote, c.remote)
	}
	s.m.open.Dec()
}

// Close implements the net.Listener interface. It closes the inbound
// connections too: raft's goroutine for each returns from its Read.
func (s *stream) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Conn.Close()
	}
	s.mu.Unlock()
	return err
}

// Addr implements the net.Listener interface: the advertised address.
func (s *stream) Addr() net.Addr {
	if s.advertise != nil {
		return s.advertise
	}
	return s.ln.Addr()
}

// Dial implements the raft.StreamLayer interface. Over TLS it verifies the
// peer's certificate for the host of address, or for the configuration's
// ServerName when it has one (the certificates of a cluster secret all
// carry one name), and completes the handshake within timeout. With TLS 1.3
// the server checks our certificate after our side of the handshake ends:
// a refusal shows on the first read, as an RPC error.
func (s *stream) Dial(address raft.ServerAddress, timeout time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if s.tls == nil {
		var d net.Dialer
		return d.DialContext(ctx, "tcp", string(address))
	}
	host, _, err := net.SplitHostPort(string(address))
	if err != nil {
		return nil, err
	}
	cfg := s.tls.Clone()
	if cfg.ServerName == "" {
		// A link-local IPv6 zone is not part of the name in the certificate.
		cfg.ServerName, _, _ = strings.Cut(host, "%")
	}
	d := &tls.Dialer{NetDialer: &net.Dialer{}, Config: cfg}
	return d.DialContext(ctx, "tcp", string(address))
}

// boundedConn is an inbound connection of the Raft port. Its Read, called
// by raft's one goroutine for the connection, follows the requests with an
// rpcScanner, sets the read deadline of the phase (Idle between requests,
// what is left of RequestWait inside one), and takes a request's bytes
// beyond RequestFree from the shared budget until raft asks for the next
// request, which it does only after answering this one.
type boundedConn struct {
	net.Conn
	s      *stream
	remote netip.Addr
	member bool // remote is a member's address
	scan   rpcScanner

	// waited is the time the current request has spent in Read; allowed
	// is what it may.
	waited, allowed time.Duration
	snapTimed       bool
	// reserved is the budget taken by the current request, done the
	// budget of requests read before, released at the next Read.
	reserved, done int64
	// held is reserved+done, for Close.
	held atomic.Int64
	// idleSince is when Read began waiting for a request (UnixNano); 0
	// while raft works on one or reads one.
	idleSince atomic.Int64

	reason    atomic.Pointer[string]
	closeOnce sync.Once
	closeErr  error
}

func (c *boundedConn) setReason(r string) { c.reason.CompareAndSwap(nil, &r) }

// Read implements the net.Conn interface.
func (c *boundedConn) Read(p []byte) (int, error) {
	if c.done > 0 {
		c.s.budget.release(c.done)
		c.held.Add(-c.done)
		c.done = 0
	}
	start := time.Now()
	idle := c.scan.phase == phaseIdle
	var deadline time.Time
	if idle {
		deadline = start.Add(c.s.lim.Idle)
		c.idleSince.Store(start.UnixNano())
	} else {
		deadline = start.Add(c.allowed - c.waited)
	}
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return 0, c.fail(closedPeer, err)
	}
	n, err := c.Conn.Read(p)
	end := time.Now()
	c.idleSince.Store(0)
	if !idle {
		c.waited += end.Sub(start)
	}
	if n > 0 {
		if reason, ferr := c.consume(p[:n]); ferr != nil {
			return 0, c.fail(reason, ferr)
		}
	}
	if err == nil {
		return n, nil
	}
	switch r := c.reason.Load(); {
	case r != nil && *r == closedEvicted:
		return n, io.EOF
	case errors.Is(err, os.ErrDeadlineExceeded) && idle:
		c.setReason(closedIdle)
		return n, io.EOF // a clean end: raft logs nothing
	case errors.Is(err, os.ErrDeadlineExceeded):
		return n, c.fail(closedStalled, fmt.Errorf("%w after waiting %v for its bytes", errRequestStalled, c.waited.Round(time.Millisecond)))
	}
	if sc, ok := c.Conn.(*serverConn); ok && sc.handshakeFailed() {
		c.setReason(closedHandshake)
	}
	return n, err
}

// fail records why the connection ends, logs it (rate-limited) and returns
// err.
func (c *boundedConn) fail(reason string, err error) error {
	c.setReason(reason)
	if reason != closedPeer {
		c.s.logClose.Do(func() {
			c.s.log.Warn("raft connection closed (more are counted in aya_cluster_transport_closed_total, not logged for 10s)",
				"reason", reason, "remote", c.remote.String(), "err", err)
		})
	}
	return err
}

// consume scans b, read from the connection.
func (c *boundedConn) consume(b []byte) (string, error) {
	for len(b) > 0 {
		if c.scan.phase == phaseIdle {
			c.waited, c.allowed, c.snapTimed = 0, c.s.lim.RequestWait, false
		}
		k, ended, err := c.scan.feed(b)
		b = b[k:]
		if err != nil {
			return scanReason(err), err
		}
		if c.scan.phase == phaseSnapshot && !c.snapTimed {
			// As long as raft's sender has: its timeout per 256 KiB.
			c.snapTimed = true
			c.allowed += max(c.s.lim.RequestWait, c.s.lim.RequestWait*time.Duration(c.scan.snapSize/raft.DefaultTimeoutScale))
		}
		// scan.bytes is the request's so far, or all of it when it ended.
		if over := c.scan.bytes - c.s.lim.RequestFree; over > c.reserved {
			if !c.s.budget.take(over - c.reserved) {
				return closedBudget, fmt.Errorf("raft rpc of %d bytes and more: the %d bytes shared by requests being received are in use", c.scan.bytes, c.s.budget.limit)
			}
			c.held.Add(over - c.reserved)
			c.reserved = over
		}
		if ended {
			c.done += c.reserved
			c.reserved = 0
		}
	}
	return "", nil
}

func scanReason(err error) string {
	switch {
	case errors.Is(err, errRPCTooLarge), errors.Is(err, errRPCSnapshot):
		return closedTooLarge
	case errors.Is(err, errRPCValues), errors.Is(err, errRPCDepth):
		return closedValues
	}
	return closedMalformed
}

// Close implements the net.Conn interface: it frees the connection's
// place and budget.
func (c *boundedConn) Close() error {
	c.closeOnce.Do(func() {
		c.closeErr = c.Conn.Close()
		c.s.mu.Lock()
		c.s.forgetLocked(c)
		c.s.mu.Unlock()
		c.s.budget.release(c.held.Swap(0))
		reason := closedPeer
		if r := c.reason.Load(); r != nil {
			reason = *r
		}
		c.s.m.closed.WithLabelValues(reason).Inc()
	})
	return c.closeErr
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

// handshakeFailed reports whether the handshake failed. Only the goroutine
// that reads calls it, after a Read.
func (c *serverConn) handshakeFailed() bool { return c.err != nil }

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
