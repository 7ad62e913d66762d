package proxy

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// Listen binds the listeners' addresses. Serve calls it when it was not
// called before; calling it first lets a caller learn the addresses of
// ":0" listeners with Addrs.
func (p *Proxy) Listen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.listeners != nil {
		return nil
	}
	var lc net.ListenConfig
	for _, cfg := range p.listenCfg {
		ln, err := lc.Listen(context.Background(), "tcp", cfg.addr)
		if err != nil {
			for _, l := range p.listeners {
				_ = l.Listener.Close()
			}
			p.listeners = nil
			return fmt.Errorf("proxy: %w", err) // a *net.OpError: "listen tcp ADDR: bind: …"
		}
		l := &listener{
			Listener: ln,
			p:        p,
			cfg:      cfg,
			h1:       make(chan net.Conn),
			done:     make(chan struct{}),
		}
		if cfg.tls != nil && cfg.http2 {
			l.h2 = newConnListener(ln.Addr())
		}
		p.listeners = append(p.listeners, l)
	}
	return nil
}

// Serve serves the listeners until ctx is done, then stops accepting new
// connections at once, lets the requests in flight finish within
// DrainTimeout and closes every connection. It returns nil after a clean
// drain, an error when the drain timed out or a listener failed. A Proxy
// serves once.
func (p *Proxy) Serve(ctx context.Context) error {
	if err := p.Listen(); err != nil {
		return err
	}
	p.mu.Lock()
	if p.served {
		p.mu.Unlock()
		return errors.New("proxy: Serve called twice")
	}
	p.served = true
	listeners := p.listeners
	p.mu.Unlock()
	if err := p.registerGauges(); err != nil {
		for _, l := range listeners {
			_ = l.Close()
		}
		return fmt.Errorf("proxy: metrics: %w", err)
	}

	fs := p.newFastServer()
	hs := p.newH2Server(context.WithoutCancel(ctx))

	hctx, stopHealth := context.WithCancel(context.WithoutCancel(ctx))
	defer stopHealth()
	var wg sync.WaitGroup
	for _, pl := range p.pools {
		wg.Go(func() { pl.health.run(hctx) })
	}

	errc := make(chan error, 2*len(listeners))
	var serving sync.WaitGroup
	for _, l := range listeners {
		if l.h2 != nil {
			serving.Go(func() {
				if err := hs.Serve(l.h2); !errors.Is(err, http.ErrServerClosed) {
					errc <- fmt.Errorf("proxy: serve http2 %s: %w", l.Addr(), err)
				}
			})
		}
		if l.cfg.tls != nil {
			go l.acceptTLS()
		}
		serving.Go(func() {
			if err := fs.Serve(l); err != nil {
				errc <- fmt.Errorf("proxy: serve %s: %w", l.Addr(), err)
			}
		})
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-errc:
		p.log.Error("listener failed", "err", serveErr)
	}

	// Drain: close the listeners at once, then wait for the connections.
	for _, l := range listeners {
		_ = l.Close()
	}
	dctx, cancel := context.WithTimeout(context.Background(), p.drain)
	defer cancel()
	// hs.Shutdown sends GOAWAY on the HTTP/2 connections and stops its
	// Serve calls. It polls for idle connections at up to 500 ms apart,
	// so it runs beside the rest of the drain, whose end is decided by
	// the connection tracker, and is stopped when that is done.
	sctx, stopShutdown := context.WithCancel(dctx)
	h2down := make(chan struct{})
	go func() {
		_ = hs.Shutdown(sctx)
		close(h2down)
	}()
	// Neither server closes a connection that never sent a request
	// before it is 5 seconds old, which may outlast the drain: the sweep
	// does.
	swctx, stopSweep := context.WithCancel(dctx)
	swept := make(chan struct{})
	go func() {
		p.conns.sweepUnused(swctx)
		close(swept)
	}()
	if err := fs.ShutdownWithContext(dctx); err != nil {
		p.log.Debug("http server shutdown", "err", err)
	}
	clean := p.conns.wait(dctx)
	stopSweep()
	<-swept
	if !clean {
		n := p.conns.closeAll()
		p.log.Warn("drain timed out", "connections_closed", n, "in_flight", p.inFlight.Load())
	}
	// No request is left that needs a backend: close the idle backend
	// connections too, so that nothing outlives Serve.
	p.upstream.closeAll()
	stopShutdown()
	<-h2down
	serving.Wait()
	stopHealth()
	wg.Wait()
	if serveErr != nil {
		return serveErr
	}
	if !clean {
		return fmt.Errorf("proxy: drain timed out after %v", p.drain)
	}
	return nil
}

// newH2Server returns the HTTP/2 server: net/http's own, serving only
// HTTP/2, on the TLS connections whose handshake chose h2 (see
// connListener). base is the requests' base context.
func (p *Proxy) newH2Server(base context.Context) *http.Server {
	var protocols http.Protocols
	protocols.SetHTTP2(true)
	return &http.Server{
		Handler:           http.HandlerFunc(p.serveHTTP2),
		Protocols:         &protocols,
		MaxHeaderBytes:    p.limits.MaxHeaderBytes,
		ReadHeaderTimeout: p.limits.ReadHeaderTimeout,
		IdleTimeout:       p.limits.IdleTimeout,
		ErrorLog:          slog.NewLogLogger(p.log.Handler(), slog.LevelDebug),
		BaseContext:       func(net.Listener) context.Context { return base },
	}
}

// newFastServer returns the HTTP/1.1 server.
func (p *Proxy) newFastServer() *fasthttp.Server {
	return &fasthttp.Server{
		Handler:        p.serveHTTP1,
		ErrorHandler:   p.serveError,
		ReadBufferSize: p.limits.MaxHeaderBytes,
		ReadTimeout:    p.limits.ReadHeaderTimeout,
		IdleTimeout:    p.limits.IdleTimeout,
		// ReadTimeout is a deadline for the header from its first byte
		// (fasthttp sets it once, not per read). Every body with bytes is
		// a stream (see prepareBody): fasthttp reads ahead at most
		// MaxRequestBodySize bytes of it under that deadline, so one byte
		// leaves the body to the deadlines of uploadPace.
		MaxRequestBodySize:           1,
		StreamRequestBody:            true,
		DisablePreParseMultipartForm: true,
		NoDefaultServerHeader:        true,
		NoDefaultContentType:         true,
		NoDefaultDate:                true,
		CloseOnShutdown:              true,
		// Idle keep-alive connections give their buffers back: with a
		// read buffer of MaxHeaderBytes, 10000 idle clients would
		// otherwise hold ~700 MB. It costs no measurable CPU.
		ReduceMemoryUsage:     true,
		SecureErrorLogMessage: true,
		Concurrency:           p.limits.MaxConns,
		Logger:                fastLogger{p},
	}
}

// fastLogger passes fasthttp's logs to the proxy's logger at debug level.
type fastLogger struct{ p *Proxy }

// Printf implements fasthttp.Logger.
func (l fastLogger) Printf(format string, args ...any) {
	l.p.log.Debug("http server", "msg", fmt.Sprintf(format, args...))
}

// serveError answers a request that could not be read.
func (p *Proxy) serveError(ctx *fasthttp.RequestCtx, err error) {
	status := fasthttp.StatusBadRequest
	var small *fasthttp.ErrSmallBuffer
	var ne net.Error
	why := rejectBadRequest
	switch {
	case errors.Is(err, errTooManyHeaders):
		status, why = fasthttp.StatusRequestHeaderFieldsTooLarge, rejectTooManyHeaders
	case errors.As(err, &small):
		status, why = fasthttp.StatusRequestHeaderFieldsTooLarge, rejectHeaderTooLarge
	case errors.Is(err, fasthttp.ErrBodyTooLarge):
		status, why = fasthttp.StatusRequestEntityTooLarge, rejectBodyTooLarge
	case errors.As(err, &ne) && ne.Timeout():
		status, why = fasthttp.StatusRequestTimeout, rejectHeaderTimeout
	}
	p.m.reject(why)
	ctx.Response.Header.SetStatusCode(status)
	ctx.Response.Header.SetContentType("text/plain; charset=utf-8")
	ctx.Response.SetBodyString(fasthttp.StatusMessage(status) + "\n")
	ctx.SetConnectionClose()
}

// serveHTTP1 is the HTTP/1.1 front end.
func (p *Proxy) serveHTTP1(ctx *fasthttp.RequestCtx) {
	if headerLines(ctx.Request.Header.RawHeaders()) > p.limits.MaxHeaders {
		p.serveError(ctx, errTooManyHeaders)
		return
	}
	if isWebSocket(&ctx.Request.Header) {
		p.serveWebSocket(ctx)
		return
	}
	p.inFlight.Add(1)
	x := acquireExchange()
	x.req, x.resp = &ctx.Request, &ctx.Response
	x.start = time.Now()
	x.tls = ctx.IsTLS()
	x.peer = connPeer(ctx)
	if ctx.Request.IsBodyStream() && ctx.Request.Header.ContentLength() != 0 {
		p.prepareBody(x, ctx.Request.BodyStream(), ctx.Conn())
	} else {
		p.prepareBody(x, nil, nil)
	}
	p.handle(x)
	p.finish(x)
	releaseExchange(x)
	p.inFlight.Add(-1)
}

// errTooManyHeaders is a request with more than Limits.MaxHeaders header
// fields.
var errTooManyHeaders = errors.New("too many header fields")

// headerLines returns the number of header fields in raw, a request's
// header block as received (each field a line, the block ending with an
// empty one). A folded field counts a line per line: it is refused
// anyway, by the header parser or here.
func headerLines(raw []byte) int {
	n := bytes.Count(raw, newline)
	if n > 0 && bytes.HasSuffix(raw, newline) {
		n-- // the empty line that ends the block
	}
	return n
}

var newline = []byte{'\n'}

// h2HeaderCount returns the number of header fields of an HTTP/2
// request, pseudo-header fields aside.
func h2HeaderCount(h http.Header) int {
	n := 0
	for _, vs := range h {
		n += len(vs)
	}
	return n
}

// connPeer returns the IP address of the client connection of ctx: the
// one its trackedConn took at accept (no interface call and conversion per
// request), else that of its remote address.
func connPeer(ctx *fasthttp.RequestCtx) netip.Addr {
	c := ctx.Conn()
	if tc, ok := c.(*tls.Conn); ok {
		c = tc.NetConn()
	}
	if t, ok := c.(*trackedConn); ok && t.peer.IsValid() {
		return t.peer
	}
	return peerAddr(ctx.RemoteAddr())
}

// peerAddr returns the IP address of a connection's remote address.
func peerAddr(a net.Addr) netip.Addr {
	if ta, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(ta.IP)
		return ip.Unmap()
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// h2Skip are response headers not sent over HTTP/2 (connection-specific
// ones, RFC 9113 8.2.2) or set by net/http itself.
var h2Skip = map[string]bool{
	"Connection":        true,
	"Keep-Alive":        true,
	"Transfer-Encoding": true,
	"Upgrade":           true,
	"Content-Length":    true,
	"Proxy-Connection":  true,
}

// serveHTTP2 is the HTTP/2 front end: it converts the request to the
// forwarding core's and its response back.
func (p *Proxy) serveHTTP2(w http.ResponseWriter, r *http.Request) {
	if h2HeaderCount(r.Header) > p.limits.MaxHeaders {
		p.m.reject(rejectTooManyHeaders)
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusRequestHeaderFieldsTooLarge)
		_, _ = w.Write(errorBodies[http.StatusRequestHeaderFieldsTooLarge])
		return
	}
	p.inFlight.Add(1)
	defer p.inFlight.Add(-1)
	x := acquireExchange()
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer func() {
		_ = resp.CloseBodyStream()
		fasthttp.ReleaseRequest(req)
		fasthttp.ReleaseResponse(resp)
		releaseExchange(x)
	}()
	x.req, x.resp = req, resp
	x.start = time.Now()
	x.tls = r.TLS != nil
	if ap, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		x.peer = ap.Addr().Unmap()
	}
	req.Header.SetMethod(r.Method)
	req.SetRequestURI(r.URL.RequestURI())
	req.Header.SetHost(r.Host)
	for k, vs := range r.Header {
		for _, v := range vs {
			req.Header.Add(k, v)
		}
	}
	if r.Body != nil && r.Body != http.NoBody && r.ContentLength != 0 {
		req.Header.SetContentLength(int(r.ContentLength))
		p.prepareBody(x, r.Body, http.NewResponseController(w))
	} else {
		req.Header.SetContentLength(0)
		p.prepareBody(x, nil, nil)
	}
	p.handle(x)

	h := w.Header()
	for k, v := range resp.Header.All() {
		ks := string(k)
		if h2Skip[ks] {
			continue
		}
		h.Add(ks, string(v))
	}
	if cl := resp.Header.ContentLength(); cl >= 0 && !noBody(resp.StatusCode()) {
		h.Set("Content-Length", strconv.Itoa(cl))
	}
	w.WriteHeader(resp.StatusCode())
	if resp.IsBodyStream() {
		if err := p.copyBody(w, resp); err != nil {
			// The client must not take a truncated body for a whole
			// one: reset the stream rather than end it.
			p.log.Debug("response body", "err", err)
			p.finish(x)
			panic(http.ErrAbortHandler)
		}
	} else {
		_, _ = w.Write(resp.Body())
	}
	p.finish(x)
}

// errShortBody is a backend response body shorter than its Content-Length.
var errShortBody = errors.New("response body shorter than its content length")

// copyBody streams the backend's response body to an HTTP/2 client. It
// returns an error when the body from the backend broke off (a read error,
// or fewer bytes than it declared); not when the client went away.
func (p *Proxy) copyBody(w http.ResponseWriter, resp *fasthttp.Response) error {
	rc := http.NewResponseController(w)
	buf := make([]byte, 32<<10)
	cl := resp.Header.ContentLength()
	n := 0
	for {
		m, err := resp.BodyStream().Read(buf)
		if m > 0 {
			n += m
			if _, werr := w.Write(buf[:m]); werr != nil {
				return nil
			}
			_ = rc.Flush()
		}
		switch {
		case err == nil:
		case !errors.Is(err, io.EOF):
			return err
		case cl >= 0 && n < cl:
			return errShortBody
		default:
			return nil
		}
	}
}

// noBody reports whether a response of status has no body.
func noBody(status int) bool {
	return status < 200 || status == fasthttp.StatusNoContent || status == fasthttp.StatusNotModified
}

// listener is a Listener's socket. For HTTP it hands connections straight
// to fasthttp; for HTTPS it handshakes each connection and sends those
// that chose h2 to the HTTP/2 server, the others to fasthttp.
type listener struct {
	net.Listener
	p   *Proxy
	cfg listenerConfig
	h2  *connListener // the HTTP/2 server's; nil without TLS and HTTP2

	h1        chan net.Conn
	done      chan struct{}
	closeOnce sync.Once
}

// Accept implements net.Listener for fasthttp.
func (l *listener) Accept() (net.Conn, error) {
	if l.cfg.tls == nil {
		return l.acceptRaw()
	}
	select {
	case c := <-l.h1:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (l *listener) Close() error {
	var err error
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// acceptRaw accepts the next TCP connection within Limits.MaxConns and
// Limits.MaxConnsPerClient. It fails only when the listener is closed: a
// failed accept (out of descriptors: EMFILE, ENFILE; ENOBUFS…) is
// retried after a pause that doubles up to a second, so that the proxy
// serves again as soon as descriptors are freed.
func (l *listener) acceptRaw() (net.Conn, error) {
	var pause time.Duration
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			if isClosed(err) {
				return nil, err
			}
			select {
			case <-l.done:
				return nil, net.ErrClosed
			default:
			}
			pause = l.p.gate.acceptFailed(err, pause)
			t := time.NewTimer(pause)
			select {
			case <-t.C:
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			}
			continue
		}
		pause = 0
		if tc := l.p.gate.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// acceptTLS accepts TLS connections until the listener closes.
func (l *listener) acceptTLS() {
	for {
		c, err := l.acceptRaw()
		if err != nil {
			return
		}
		go l.handshake(c)
	}
}

// handshake runs the TLS handshake of c and dispatches it by ALPN.
func (l *listener) handshake(c net.Conn) {
	tc := tls.Server(c, l.cfg.tls)
	ctx, cancel := context.WithTimeout(context.Background(), l.p.limits.ReadHeaderTimeout)
	err := tc.HandshakeContext(ctx)
	cancel()
	if err != nil {
		_ = tc.Close()
		return
	}
	if t, ok := c.(*trackedConn); ok {
		// The handshake is no request: until one comes, the connection
		// is as new to the drain as an unused plain one.
		t.used.Store(false)
	}
	if tc.ConnectionState().NegotiatedProtocol == "h2" && l.h2 != nil {
		select {
		case l.h2.conns <- tc:
		case <-l.h2.done:
			_ = tc.Close()
		case <-l.done:
			_ = tc.Close()
		}
		return
	}
	select {
	case l.h1 <- tc:
	case <-l.done:
		_ = tc.Close()
	}
}

// connListener is the net.Listener of the HTTP/2 server: it yields the
// *tls.Conn values whose handshake is done and chose h2. net/http's
// Server.Serve skips the finished handshake and, seeing NegotiatedProtocol
// "h2", serves HTTP/2 on them (net/http (*conn).serve, TLSNextProto).
type connListener struct {
	addr  net.Addr
	conns chan *tls.Conn
	done  chan struct{}
	once  sync.Once
}

// newConnListener returns a connListener reporting addr as its address.
func newConnListener(addr net.Addr) *connListener {
	return &connListener{addr: addr, conns: make(chan *tls.Conn), done: make(chan struct{})}
}

// Accept implements net.Listener.
func (l *connListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener. The HTTP/2 server closes it on Shutdown;
// the connections handed to it are its own to close.
func (l *connListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr implements net.Listener.
func (l *connListener) Addr() net.Addr { return l.addr }

// connTracker counts and tracks the client connections, for the
// connection limit, the client_connections gauge and the drain.
type connTracker struct {
	n     atomic.Int64
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

// trackedConn is a client connection known to its tracker until closed.
type trackedConn struct {
	net.Conn
	t    *connTracker
	once sync.Once
	// born is when it was accepted; used is set once a byte of a request
	// arrived. Neither fasthttp nor net/http closes a connection at
	// shutdown that never sent a request until it is 5 seconds old: the
	// drain does so sooner (see unusedGrace).
	born time.Time
	used atomic.Bool
	// peer is the IP address of the remote end (zero: unknown).
	peer netip.Addr
	// key is the client's key in clients, which counts the connections
	// of each client; clients is nil when uncounted.
	key     netip.Addr
	clients *clientConns
	// raw does the reads and writes of a TCP connection (nil: Conn's).
	raw *rawIO
}

// unusedGrace is how long a drain waits for a request on a connection
// that has not sent one yet: a client that connected just before the drain
// began may be sending it.
const unusedGrace = 250 * time.Millisecond

// Read implements net.Conn.
func (c *trackedConn) Read(b []byte) (int, error) {
	var n int
	var err error
	if c.raw != nil {
		n, err = c.raw.read(b)
	} else {
		n, err = c.Conn.Read(b)
	}
	if n > 0 && !c.used.Load() {
		c.used.Store(true)
	}
	return n, err
}

// Write implements net.Conn.
func (c *trackedConn) Write(b []byte) (int, error) {
	if c.raw != nil {
		return c.raw.write(b)
	}
	return c.Conn.Write(b)
}

// Close implements net.Conn.
func (c *trackedConn) Close() error {
	c.once.Do(func() {
		c.t.mu.Lock()
		delete(c.t.conns, c)
		c.t.mu.Unlock()
		c.t.n.Add(-1)
		if c.clients != nil {
			c.clients.release(c.key)
		}
	})
	return c.Conn.Close()
}

// add tracks c, or returns nil when limit connections are open.
func (t *connTracker) add(c net.Conn, limit int) *trackedConn {
	if t.n.Add(1) > int64(limit) {
		t.n.Add(-1)
		return nil
	}
	tc := &trackedConn{Conn: c, t: t, born: time.Now(), raw: newRawIO(c)}
	t.mu.Lock()
	if t.conns == nil {
		t.conns = make(map[*trackedConn]struct{})
	}
	t.conns[tc] = struct{}{}
	t.mu.Unlock()
	return tc
}

// wait waits until no connection is open, or ctx is done; it reports
// whether none is.
func (t *connTracker) wait(ctx context.Context) bool {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for t.n.Load() > 0 {
		select {
		case <-ctx.Done():
			return t.n.Load() == 0
		case <-tick.C:
		}
	}
	return true
}

// sweepUnused closes, until ctx is done, the connections that never sent
// a request once they are unusedGrace old.
func (t *connTracker) sweepUnused(ctx context.Context) {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		t.closeUnused(time.Now().Add(-unusedGrace))
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// closeUnused closes the connections born before that never sent a
// request.
func (t *connTracker) closeUnused(before time.Time) {
	t.mu.Lock()
	var unused []*trackedConn
	for c := range t.conns {
		if !c.used.Load() && c.born.Before(before) {
			unused = append(unused, c)
		}
	}
	t.mu.Unlock()
	for _, c := range unused {
		_ = c.Close()
	}
}

// closeAll closes every open connection and returns how many.
func (t *connTracker) closeAll() int {
	t.mu.Lock()
	conns := make([]*trackedConn, 0, len(t.conns))
	for c := range t.conns {
		conns = append(conns, c)
	}
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
	}
	return len(conns)
}
