package dnsserver

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

// TCP connections (RFC 7766) and their limits. Each listener keeps its
// connections in a connPool: at most TCPMaxConnections of them, at most
// TCPMaxConnectionsPerClient from one client address. A connection is idle
// while it waits for (or reads) its next query and busy while one is
// answered. Idle timeouts shorten as the slots fill (scaledIdle, as NSD and
// Unbound do), and a connection that arrives with every slot taken takes
// the slot of the connection idle longest (as Knot does), so that clients
// holding connections open without querying cannot keep others out: the
// new connection is the one idle the shortest. A connection is also closed
// after TCPMaxQueries queries or TCPMaxLifetime, and at once on a
// zero-length message.

// tcpLimits are the reloadable limits of one connection.
type tcpLimits struct {
	idle, minIdle time.Duration
	lifetime      time.Duration
	maxQueries    int
}

func limitsOf(c Config) *tcpLimits {
	return &tcpLimits{idle: c.TCPIdleTimeout, minIdle: c.TCPMinIdleTimeout, lifetime: c.TCPMaxLifetime, maxQueries: c.TCPMaxQueries}
}

// scaledIdle is the idle timeout with live of max slots taken: full up to
// half the slots, then falling in proportion to the slots left, never
// below floor.
func scaledIdle(full, floor time.Duration, live, slots int) time.Duration {
	half := slots / 2
	if live <= half {
		return full
	}
	if live >= slots {
		return floor
	}
	return max(floor, time.Duration(int64(full)*int64(slots-live)/int64(slots-half)))
}

// The states of a connection. Only the pool moves one from idle to
// evicted, under its lock, and closes it; only the connection's goroutine
// moves it from idle to busy (with compare-and-swap, so that an evicted
// connection never answers) and back once the reply is written, so that a
// connection answering a query is never evicted.
const (
	connBusy int32 = iota
	connIdle
	connEvicted
)

// tcpConn is one TCP connection of a pool.
type tcpConn struct {
	net.Conn
	client netip.Addr
	state  atomic.Int32
	// since is when it last became idle (Unix nanoseconds).
	since atomic.Int64
}

// connPool holds the open connections of one listener.
type connPool struct {
	max, perClient int

	mu      sync.Mutex
	conns   map[*tcpConn]struct{}
	clients map[netip.Addr]int
	// live counts the connections not evicted; written under mu, read
	// without it to scale the idle timeout.
	live atomic.Int64
}

func newConnPool(slots, perClient int) *connPool {
	return &connPool{max: slots, perClient: perClient, conns: make(map[*tcpConn]struct{}), clients: make(map[netip.Addr]int)}
}

// The reasons a connection is turned away at accept.
type rejectReason uint8

const (
	rejectFull      rejectReason = iota // every slot busy: none idle to take
	rejectPerClient                     // the client has TCPMaxConnectionsPerClient open
	numRejectReasons
)

func (r rejectReason) String() string {
	if r == rejectPerClient {
		return "per_client"
	}
	return "full"
}

// admit adds c from client to the pool at time now. With every slot
// taken, it evicts the connection idle longest, which the caller closes.
// A connection over the client's cap, or with every slot busy, is not
// admitted (tc nil) and gets the reason.
func (p *connPool) admit(c net.Conn, client netip.Addr, now time.Time) (tc, evicted *tcpConn, reason rejectReason) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.clients[client] >= p.perClient {
		return nil, nil, rejectPerClient
	}
	if int(p.live.Load()) >= p.max {
		evicted = p.idlest()
		if evicted == nil {
			return nil, nil, rejectFull
		}
		p.live.Add(-1)
	}
	// Idle from the start: one accepted but not yet read from (its
	// goroutine not yet run, or the client silent) can be evicted too.
	tc = &tcpConn{Conn: c, client: client}
	tc.since.Store(now.UnixNano())
	tc.state.Store(connIdle)
	p.conns[tc] = struct{}{}
	p.clients[client]++
	p.live.Add(1)
	return tc, evicted, 0
}

// idlest marks the connection idle longest evicted and returns it; nil
// when none is idle. Called with mu held, only when the pool is full: a
// scan of at most TCPMaxConnections entries.
func (p *connPool) idlest() *tcpConn {
	for range 3 {
		var best *tcpConn
		for tc := range p.conns {
			if tc.state.Load() == connIdle && (best == nil || tc.since.Load() < best.since.Load()) {
				best = tc
			}
		}
		if best == nil {
			return nil
		}
		if best.state.CompareAndSwap(connIdle, connEvicted) {
			return best
		}
		// A query came in on it meanwhile: look again, a few times.
	}
	return nil
}

// release removes tc from the pool.
func (p *connPool) release(tc *tcpConn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.conns[tc]; !ok {
		return
	}
	delete(p.conns, tc)
	if p.clients[tc.client]--; p.clients[tc.client] <= 0 {
		delete(p.clients, tc.client)
	}
	if tc.state.Load() != connEvicted {
		p.live.Add(-1)
	}
}

// counts returns the connections held (evicted ones not yet gone
// included) and the live ones.
func (p *connPool) counts() (held, live int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns), int(p.live.Load())
}

// The reasons a connection closes.
type closeReason uint8

const (
	closeClient     closeReason = iota // the client closed it
	closeIdle                          // idle past the (scaled) idle timeout
	closeLifetime                      // open TCPMaxLifetime
	closeMaxQueries                    // answered TCPMaxQueries queries
	closeMalformed                     // a zero-length message
	closeEvicted                       // idle longest when a new connection needed the slot
	closeError                         // a read or write failed otherwise
	closeShutdown                      // the server is stopping
	numCloseReasons
)

var closeReasonNames = [numCloseReasons]string{"client", "idle", "lifetime", "max_queries", "malformed", "evicted", "error", "shutdown"}

func (r closeReason) String() string { return closeReasonNames[r] }

// The TCP events logged, each at most once per tcpLogPeriod.
const (
	logRejectFull = iota
	logRejectPerClient
	logEvicted
	logMalformed
	numTCPEvents
)

const tcpLogPeriod = 10 * time.Second

// rateLog lets one log line per period through and counts the others, so
// that an attack cannot flood the log.
type rateLog struct {
	next       atomic.Int64 // Unix nanoseconds before which lines are suppressed
	suppressed atomic.Int64
}

// allow reports whether a line may be logged at now, and how many were
// suppressed since the last one.
func (r *rateLog) allow(now time.Time, period time.Duration) (suppressed int64, ok bool) {
	next := r.next.Load()
	if now.UnixNano() < next || !r.next.CompareAndSwap(next, now.Add(period).UnixNano()) {
		r.suppressed.Add(1)
		return 0, false
	}
	return r.suppressed.Swap(0), true
}

func (s *Server) logTCP(event int, msg string, args ...any) {
	n, ok := s.tcpLogs[event].allow(time.Now(), tcpLogPeriod)
	if !ok {
		return
	}
	s.log.Warn(msg, append(args, "suppressed", n, "period", tcpLogPeriod)...)
}

func (s *Server) serveTCP(l *net.TCPListener, p *connPool) {
	for {
		c, err := l.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(5 * time.Millisecond) // EMFILE and the like: back off
			continue
		}
		client := c.RemoteAddr().(*net.TCPAddr).AddrPort().Addr().Unmap()
		tc, evicted, reason := p.admit(c, client, time.Now())
		if evicted != nil {
			// Its goroutine sees the state, counts the close and leaves.
			_ = evicted.Close()
			s.logTCP(logEvicted, "tcp slots full: closed the connection idle longest", "client", evicted.client, "for", client)
		}
		if tc == nil {
			s.metrics.tcpRejected[reason].Inc()
			if reason == rejectPerClient {
				s.logTCP(logRejectPerClient, "tcp connection refused: client at dns.tcp.max_connections_per_client", "client", client, "max", p.perClient)
			} else {
				s.logTCP(logRejectFull, "tcp connection refused: every slot busy", "client", client, "max", p.max)
			}
			_ = c.Close()
			continue
		}
		if !s.track(c) {
			p.release(tc)
			_ = c.Close()
			return
		}
		s.wg.Go(func() { s.serveConn(tc, p) })
	}
}

// track registers an open connection for shutdown; false once Serve is ending.
func (s *Server) track(c net.Conn) bool {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.metrics.tcpConns.Inc()
	return true
}

func (s *Server) untrack(c net.Conn) {
	s.connMu.Lock()
	delete(s.conns, c)
	s.connMu.Unlock()
	s.metrics.tcpConns.Dec()
	c.Close()
}

func (s *Server) serveConn(tc *tcpConn, p *connPool) {
	reason := s.serveQueries(tc, p)
	if tc.state.Load() == connEvicted {
		reason = closeEvicted
	}
	if reason == closeMalformed {
		s.logTCP(logMalformed, "tcp connection closed: zero-length message", "client", tc.client)
	}
	p.release(tc)
	s.untrack(tc.Conn)
	s.metrics.tcpClosed[reason].Inc()
}

// serveQueries answers the queries of one TCP connection in order (RFC
// 7766: pipelined queries are read while earlier replies are written),
// until the client closes, it idles past the timeout, it sends a
// zero-length message, or it reaches a limit; it returns why it stopped.
func (s *Server) serveQueries(tc *tcpConn, p *connPool) closeReason {
	c := tc.Conn
	r := bufio.NewReaderSize(c, 4096)
	req := make([]byte, 512) // grown for a larger query; most are far smaller
	out := make([]byte, 0, 4096)
	opened := time.Now()
	for queries := 0; ; {
		lim := s.tcpLimits.Load()
		now := time.Now()
		idle := scaledIdle(lim.idle, lim.minIdle, int(p.live.Load()), p.max)
		deadline, end := now.Add(idle), opened.Add(lim.lifetime)
		if deadline.After(end) {
			deadline = end
		}
		if err := c.SetReadDeadline(deadline); err != nil {
			return closeError
		}
		// Checked after the deadline is armed: either Serve's wake-up
		// deadline comes later and wins, or the flag is seen here.
		if s.stopping.Load() {
			return closeShutdown
		}
		if tc.state.Load() == connEvicted {
			return closeEvicted // closed by the pool: the read would fail
		}
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			return s.readClosed(err, end)
		}
		n := int(binary.BigEndian.Uint16(l[:]))
		if n == 0 {
			return closeMalformed // no DNS message is empty: garbage or a slot hog
		}
		if n > len(req) {
			req = make([]byte, n)
		}
		if _, err := io.ReadFull(r, req[:n]); err != nil {
			return s.readClosed(err, end)
		}
		if !tc.state.CompareAndSwap(connIdle, connBusy) {
			return closeEvicted // evicted as the query came in: the client retries
		}
		queries++
		start := time.Now()
		v := s.view.Load()
		reply, xfr := s.safeHandle(v, req[:n], tcp, tc.client, out[:0])
		if reply != nil {
			if err := c.SetWriteDeadline(time.Now().Add(idle)); err != nil {
				return closeError
			}
			if xfr != nil {
				if err := s.streamZone(c, req[:n], xfr, v.steer, lim.idle); err != nil {
					s.log.Warn("zone transfer", "zone", xfr.Origin, "client", tc.client, "err", err)
					return closeError
				}
			} else {
				// One write (writev): length prefix and reply.
				binary.BigEndian.PutUint16(l[:], uint16(len(reply)))
				bufs := net.Buffers{l[:], reply}
				if _, err := bufs.WriteTo(c); err != nil {
					return closeError
				}
				if cap(reply) > cap(out) && cap(reply) <= maxTCPSize {
					out = reply[:0]
				}
				s.metrics.latency[tcp].Observe(time.Since(start).Seconds())
			}
		}
		// The limits close the connection after the reply is written.
		if queries >= lim.maxQueries {
			return closeMaxQueries
		}
		done := time.Now()
		if !done.Before(end) {
			return closeLifetime
		}
		// Idle again: evictable from here until the next query is read
		// (a Close by the pool makes the next deadline or read fail).
		tc.since.Store(done.UnixNano())
		tc.state.Store(connIdle) // busy, so only this goroutine writes it
	}
}

// readClosed is why a read that failed with err ends its connection,
// whose lifetime ends at end.
func (s *Server) readClosed(err error, end time.Time) closeReason {
	var ne net.Error
	switch {
	case s.stopping.Load():
		return closeShutdown
	case errors.As(err, &ne) && ne.Timeout():
		if !time.Now().Before(end) {
			return closeLifetime
		}
		return closeIdle
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET):
		return closeClient
	}
	return closeError
}

// deadlineWriter is what a zone transfer is written to: a net.Conn.
type deadlineWriter interface {
	io.Writer
	SetWriteDeadline(time.Time) error
}

// xfrChunk is how many records go in one message of a zone transfer before
// the size is checked; RFC 5936 §2.2 lets a message carry as many as fit.
const xfrChunk = 256

// streamZone writes zone z to c as an AXFR response (RFC 5936): the SOA,
// every record, the DNSSEC records of a signed zone, the default answers of
// the names st steers (xfr.go), the SOA again, in as many messages as it takes. An IXFR is answered the same
// way (RFC 1995 §4). Each message gets its own write deadline of idle, so a
// large zone to a slow secondary is not cut off.
func (s *Server) streamZone(c deadlineWriter, req []byte, z *Zone, st *steering, idle time.Duration) error {
	q := new(dns.Msg)
	if err := q.Unpack(req); err != nil {
		return err
	}
	records := rrCursor{parts: s.xfrRecords(z, st)}
	first := true
	buf := make([]dns.RR, 0, xfrChunk)
	for !records.done() {
		n := xfrChunk
		for {
			m := &dns.Msg{Compress: true, Answer: records.peek(buf[:0], n)}
			n = len(m.Answer)
			m.Id, m.Response, m.Authoritative = q.Id, true, true
			if first {
				m.Question = q.Question
			}
			out, err := m.Pack()
			if err != nil {
				return err
			}
			if len(out) > maxTCPSize && n > 1 {
				n /= 2
				continue
			}
			if len(out) > maxTCPSize {
				return errors.New("a record does not fit in a message")
			}
			var l [2]byte
			binary.BigEndian.PutUint16(l[:], uint16(len(out)))
			if err := c.SetWriteDeadline(time.Now().Add(idle)); err != nil {
				return err
			}
			bufs := net.Buffers{l[:], out}
			if _, err := bufs.WriteTo(c); err != nil {
				return err
			}
			break
		}
		records.skip(n)
		first = false
	}
	s.metrics.count(z.Origin, q.Question[0].Qtype, dns.RcodeSuccess, tcp)
	return nil
}
