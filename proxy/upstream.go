package proxy

import (
	"context"
	"errors"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"
)

// backend is a backend of a pool: its connection pool, and what lets the
// requests waiting on it give up when it is marked down.
//
// When its health makes it unusable (a failed active check or a passive
// ejection, see poolHealth), markDown abandons it: dials in progress are
// cancelled, idle connections closed, and so are the connections that
// sent a request and have not received a byte of its response yet, so
// that the tries waiting on a frozen backend end at once instead of at
// their try timeout. A response already streaming is left alone. While it
// is down, a dial or a request written on one of its connections fails
// before anything is sent (errBackendDown).
type backend struct {
	name   string
	addr   string
	client *fasthttp.HostClient
	codes  codeCounters

	// dialer opens connections (Config.dial, or a net.Dialer);
	// connectTimeout bounds it, idle is the try timeout (see
	// backendConn).
	dialer         func(ctx context.Context, network, addr string) (net.Conn, error)
	connectTimeout time.Duration
	idle           time.Duration
	tracker        *connTracker // the proxy's backend connections, for the drain

	// down is set while the backend is not usable; gen counts the times it
	// was marked down, so that a try that sees it change knows it was
	// abandoned.
	down atomic.Bool
	gen  atomic.Uint64

	mu         sync.Mutex
	conns      map[*backendConn]struct{}
	dialCtx    context.Context // cancelled by markDown
	cancelDial context.CancelFunc
}

// errBackendDown fails a dial or a request write on a backend marked down:
// nothing was sent.
var errBackendDown = errors.New("backend marked down")

// buildBackend returns backend b of pl with its connection pool; its
// connections are tracked in conns, so that a drain that times out can cut
// the requests still waiting on a backend.
func buildBackend(b Backend, pl *pool, lim Limits, conns *connTracker, dial func(context.Context, string, string) (net.Conn, error)) *backend {
	if dial == nil {
		d := &net.Dialer{KeepAlive: 30 * time.Second}
		dial = d.DialContext
	}
	be := &backend{
		name:           b.Name,
		addr:           b.Addr,
		dialer:         dial,
		connectTimeout: pl.connectTimeout,
		idle:           pl.tryTimeout,
		tracker:        conns,
		conns:          make(map[*backendConn]struct{}),
	}
	be.dialCtx, be.cancelDial = context.WithCancel(context.Background())
	maxConns := b.MaxConns
	if maxConns <= 0 {
		maxConns = 1 << 20
	}
	be.client = &fasthttp.HostClient{
		Addr:                      b.Addr,
		Dial:                      be.dialConn,
		MaxConns:                  maxConns,
		MaxIdemponentCallAttempts: 1,
		RetryIfErr:                func(*fasthttp.Request, int, error) (bool, bool) { return false, false },
		MaxIdleConnDuration:       backendIdle,
		ReadBufferSize:            lim.MaxHeaderBytes,
		StreamResponseBody:        true,
		DisablePathNormalizing:    true,
		NoDefaultUserAgentHeader:  true,
	}
	return be
}

// dial opens a connection to the backend within the connect timeout; a
// markDown cancels it. Errors are *dialError.
func (b *backend) dial() (net.Conn, error) {
	if b.down.Load() {
		return nil, &dialError{errBackendDown}
	}
	b.mu.Lock()
	base := b.dialCtx
	b.mu.Unlock()
	ctx, cancel := context.WithTimeout(base, b.connectTimeout)
	defer cancel()
	c, err := b.dialer(ctx, "tcp", b.addr)
	if err != nil {
		if base.Err() != nil {
			err = errBackendDown
		}
		return nil, &dialError{err}
	}
	return c, nil
}

// dialConn is the HostClient's Dial: a tracked backendConn.
func (b *backend) dialConn(string) (net.Conn, error) {
	c, err := b.dial()
	if err != nil {
		return nil, err
	}
	bc := &backendConn{Conn: b.tracker.add(c, math.MaxInt), idle: b.idle, b: b}
	b.mu.Lock()
	if b.down.Load() {
		b.mu.Unlock()
		_ = bc.Conn.Close()
		return nil, &dialError{errBackendDown}
	}
	b.conns[bc] = struct{}{}
	b.mu.Unlock()
	return bc, nil
}

// markDown abandons the backend (see backend) and returns how many
// waiting requests it cut. It does nothing when the backend is down
// already.
func (b *backend) markDown() int {
	b.mu.Lock()
	if b.down.Load() {
		b.mu.Unlock()
		return 0
	}
	b.down.Store(true)
	b.gen.Add(1)
	b.cancelDial()
	var waiting []*backendConn
	for c := range b.conns {
		if c.phase.Load() == phaseSent {
			waiting = append(waiting, c)
		}
	}
	b.mu.Unlock()
	// Outside mu: closing takes it, and fasthttp's lock is taken on the
	// request path before a connection's Close.
	b.client.CloseIdleConnections()
	for _, c := range waiting {
		_ = c.Close()
	}
	return len(waiting)
}

// markUp lets the backend be dialed and written to again.
func (b *backend) markUp() {
	b.mu.Lock()
	if b.down.Load() {
		b.dialCtx, b.cancelDial = context.WithCancel(context.Background())
		b.down.Store(false)
	}
	b.mu.Unlock()
}

// The phases of a backendConn, for markDown: a connection that sent a
// request and has not received a byte of its response is waiting, and is
// cut when its backend is marked down.
const (
	phaseIdle     int32 = iota // new: nothing written yet
	phaseSent                  // a request's first bytes were written
	phaseReceived              // the response started
)

// dialError is a failure to connect to a backend: the request was not
// sent.
type dialError struct{ err error }

func (e *dialError) Error() string { return "dial backend: " + e.err.Error() }
func (e *dialError) Unwrap() error { return e.err }

// Timeout reports whether the dial timed out.
func (e *dialError) Timeout() bool {
	ne, ok := errors.AsType[net.Error](e.err)
	return ok && ne.Timeout()
}

// backendIdle is how long an idle backend connection is kept: shorter
// than the usual server keep-alive timeouts (Apache's is 5s), so that the
// proxy seldom reuses a connection the backend is closing, which fails a
// request that is not idempotent.
const backendIdle = 4 * time.Second

// backendConn is a connection to a backend. Until the response starts,
// reads are bounded by the try's deadline; once bytes arrived, a stalled
// read gets the try timeout again for each stretch of silence, so a long
// body streams as long as it keeps moving.
//
// A try sets the same deadline for writing the request and for reading
// the response (fasthttp's DoDeadline): the write sets both at once, one
// timer instead of two, and the read's then finds it set.
type backendConn struct {
	net.Conn
	idle     time.Duration
	progress bool // bytes read since the deadline was last set
	// both is the deadline that the last SetWriteDeadline set for reads
	// too, until a SetReadDeadline takes it (zero: none pending).
	both time.Time

	b     *backend
	phase atomic.Int32
	once  sync.Once
}

// SetWriteDeadline implements net.Conn. It sets the read deadline too
// (see backendConn): nothing reads from the connection while a request is
// written, and the read that follows wants the same deadline.
func (c *backendConn) SetWriteDeadline(t time.Time) error {
	if t.IsZero() {
		c.both = time.Time{}
		return c.Conn.SetWriteDeadline(t)
	}
	c.both = t
	return c.Conn.SetDeadline(t)
}

// SetReadDeadline implements net.Conn.
func (c *backendConn) SetReadDeadline(t time.Time) error {
	c.progress = false
	if !c.both.IsZero() && t.Equal(c.both) {
		c.both = time.Time{}
		return nil
	}
	c.both = time.Time{}
	return c.Conn.SetReadDeadline(t)
}

// SetDeadline implements net.Conn.
func (c *backendConn) SetDeadline(t time.Time) error {
	c.progress = false
	c.both = time.Time{}
	return c.Conn.SetDeadline(t)
}

// Write implements net.Conn. The first write of a request on a backend
// marked down fails with errBackendDown, having sent nothing; one that
// races with markDown closes the connection itself, which ends the try as
// markDown would have.
func (c *backendConn) Write(p []byte) (int, error) {
	if c.phase.Load() == phaseSent {
		return c.Conn.Write(p)
	}
	if c.b.down.Load() {
		return 0, errBackendDown
	}
	n, err := c.Conn.Write(p)
	if n > 0 {
		c.phase.Store(phaseSent)
		if c.b.down.Load() {
			// markDown may have looked at this connection before it
			// was waiting.
			_ = c.Conn.Close()
		}
	}
	return n, err
}

// Read implements net.Conn.
func (c *backendConn) Read(b []byte) (int, error) {
	for {
		n, err := c.Conn.Read(b)
		if n > 0 {
			c.progress = true
			if c.phase.Load() == phaseSent {
				c.phase.Store(phaseReceived)
			}
			return n, err
		}
		var ne net.Error
		if err == nil || !c.progress || !errors.As(err, &ne) || !ne.Timeout() {
			return n, err
		}
		c.progress = false
		if err := c.Conn.SetReadDeadline(time.Now().Add(c.idle)); err != nil {
			return 0, err
		}
	}
}

// Close implements net.Conn.
func (c *backendConn) Close() error {
	c.once.Do(func() {
		c.b.mu.Lock()
		delete(c.b.conns, c)
		c.b.mu.Unlock()
	})
	return c.Conn.Close()
}

// failure is why a try failed.
type failure uint8

// The failures of a try, by what they mean for the backend: only
// failConnect, failConnectTimeout, failTimeout and failError are its
// fault, and feed its passive health.
const (
	failConnect        failure = iota // the backend refused or could not be reached; not sent
	failConnectTimeout                // connecting timed out; not sent
	failLocal                         // the proxy ran out of a resource (fds, buffers, ports); not sent
	failConnLimit                     // the proxy's own connection cap for the backend; not sent
	failAbandoned                     // the backend was marked down during the try
	failTimeout                       // no response within the try timeout
	failError                         // the connection broke or the response was malformed
	failClient                        // the client's body failed (too large, stalled, aborted)
	numFailures
)

// failureReasons are the failures' reason labels in metrics.
var failureReasons = [numFailures]string{
	failConnect:        "connect",
	failConnectTimeout: "connect_timeout",
	failLocal:          "local_resources",
	failConnLimit:      "conn_limit",
	failAbandoned:      "abandoned",
	failTimeout:        "timeout",
	failError:          "error",
	failClient:         "client",
}

// backendFault reports whether f is held against the backend.
func (f failure) backendFault() bool {
	switch f {
	case failConnect, failConnectTimeout, failTimeout, failError:
		return true
	}
	return false
}

// localErrnos are the dial errors that say the proxy's host, not the
// backend, is out of something: file descriptors (EMFILE, ENFILE), memory
// or socket buffers (ENOMEM, ENOBUFS), local ports (EADDRNOTAVAIL,
// EADDRINUSE).
var localErrnos = []syscall.Errno{syscall.EMFILE, syscall.ENFILE, syscall.ENOMEM, syscall.ENOBUFS, syscall.EADDRNOTAVAIL, syscall.EADDRINUSE}

// isLocal reports whether err is one of localErrnos.
func isLocal(err error) bool {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return false
	}
	for _, e := range localErrnos {
		if errno == e {
			return true
		}
	}
	return false
}

// classify tells why a try failed, and whether the request was never
// sent, which makes any request safe to retry: a dial error, the proxy's
// own connection cap, or a write refused because the backend was marked
// down.
func classify(err error) (f failure, notSent bool) {
	if errors.Is(err, errBackendDown) {
		return failAbandoned, true
	}
	if de, ok := errors.AsType[*dialError](err); ok {
		switch {
		case isLocal(de.err):
			return failLocal, true
		case de.Timeout():
			return failConnectTimeout, true
		}
		return failConnect, true
	}
	if errors.Is(err, fasthttp.ErrNoFreeConns) {
		return failConnLimit, true
	}
	if errors.Is(err, fasthttp.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) {
		return failTimeout, false
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return failTimeout, false
	}
	return failError, false
}
