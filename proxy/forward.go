package proxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
)

// exchange is one request on its way through the forwarding core, which
// both the HTTP/1.1 (fasthttp) and the HTTP/2 (net/http) front ends feed.
// Exchanges are pooled.
type exchange struct {
	req  *fasthttp.Request
	resp *fasthttp.Response
	// peer is the address of the TCP peer, client the client's address
	// (see Proxy.clientAddr).
	peer, client netip.Addr
	tls          bool
	start        time.Time
	// streamed is set when the request body is a stream that the first
	// try that reaches a backend consumes: it cannot be retried then.
	streamed bool
	// tooLarge is set by the body limit when a streamed body exceeds
	// Limits.MaxBodyBytes.
	tooLarge bool
	// bodyErr is set when the client's body could not be read, and
	// bodyTimeout when that was because the client stalled: both are the
	// client's fault, never the backend's.
	bodyErr, bodyTimeout bool
	// secure is set when the client reached the proxy over TLS, or
	// through a trusted proxy that says so (X-Forwarded-Proto: https).
	secure bool

	route   *route
	pool    *pool
	backend int // index in pool, -1: none
	tries   int
	status  int

	tried [8]int
	key   [16]byte
	buf   []byte
	body  bodyLimit
}

var exchangePool = sync.Pool{New: func() any { return &exchange{buf: make([]byte, 0, 256)} }}

func acquireExchange() *exchange {
	x := exchangePool.Get().(*exchange)
	x.backend = -1
	return x
}

func releaseExchange(x *exchange) {
	x.body.release()
	buf := x.buf[:0]
	*x = exchange{buf: buf}
	exchangePool.Put(x)
}

// errorBodies are the bodies of the proxy's own error responses: short,
// and free of internals.
var errorBodies = map[int][]byte{
	fasthttp.StatusBadRequest:                  []byte("400 bad request\n"),
	fasthttp.StatusNotFound:                    []byte("404 not found\n"),
	fasthttp.StatusMethodNotAllowed:            []byte("405 method not allowed\n"),
	fasthttp.StatusRequestTimeout:              []byte("408 request timeout\n"),
	fasthttp.StatusRequestEntityTooLarge:       []byte("413 request body too large\n"),
	fasthttp.StatusTooManyRequests:             []byte("429 too many requests\n"),
	fasthttp.StatusRequestHeaderFieldsTooLarge: []byte("431 request header fields too large\n"),
	fasthttp.StatusBadGateway:                  []byte("502 bad gateway\n"),
	fasthttp.StatusServiceUnavailable:          []byte("503 service unavailable\n"),
	fasthttp.StatusGatewayTimeout:              []byte("504 gateway timeout\n"),
}

// fail answers x with the proxy's own error response.
func (x *exchange) fail(status int) {
	x.resp.ResetBody()
	x.resp.Header.SetStatusCode(status)
	x.resp.Header.SetContentType("text/plain; charset=utf-8")
	x.resp.SetBodyRaw(errorBodies[status])
	x.status = status
}

// failClient answers x when the client's request body failed it: too
// large (413), stalled (408) or unreadable (400). The connection is closed,
// since the rest of the body is unread. It reports whether the body
// failed.
func (x *exchange) failClient() bool {
	switch {
	case x.tooLarge:
		x.fail(fasthttp.StatusRequestEntityTooLarge)
	case x.bodyTimeout:
		x.fail(fasthttp.StatusRequestTimeout)
	case x.bodyErr:
		x.fail(fasthttp.StatusBadRequest)
	default:
		return false
	}
	x.resp.SetConnectionClose()
	return true
}

// admit runs the checks before forwarding: client address, rate limit,
// route and body size. It reports whether x may go on (when not, x.resp
// holds the answer) and whether its peer is a trusted proxy.
func (p *Proxy) admit(x *exchange) (trusted, ok bool) {
	trusted = p.isTrusted(x.peer)
	x.client = p.clientAddr(x.peer, trusted, &x.req.Header)
	if p.limiter != nil {
		if allowed, wait := p.limiter.allow(x.client, x.start); !allowed {
			p.m.rateLimited.Inc()
			x.fail(fasthttp.StatusTooManyRequests)
			x.resp.Header.Set("Retry-After", strconv.Itoa(int((wait+time.Second-1)/time.Second)))
			return trusted, false
		}
	}
	if x.req.Header.IsConnect() {
		// A reverse proxy is no tunnel.
		x.fail(fasthttp.StatusMethodNotAllowed)
		return trusted, false
	}
	// The request's host is the authority of an absolute-form target, or
	// the Host header (RFC 9112 3.2.2): route by what the backend will see.
	uri := x.req.URI()
	if s := uri.Scheme(); !bytes.Equal(s, schemeHTTP) && !bytes.Equal(s, schemeHTTPS) {
		// Only an absolute-form target has a scheme of its own.
		x.fail(fasthttp.StatusBadRequest)
		return trusted, false
	}
	if h := uri.Host(); len(h) > 0 && !bytes.Equal(h, x.req.Header.Host()) {
		x.req.Header.SetHostBytes(h)
	}
	// The backend hop is plain HTTP, whatever the client's target said.
	uri.SetSchemeBytes(schemeHTTP)
	if bytes.IndexByte(x.req.Header.Host(), '@') >= 0 || len(uri.Username()) > 0 || len(uri.Password()) > 0 {
		// Userinfo has no place in an authority sent to a server.
		x.fail(fasthttp.StatusBadRequest)
		return trusted, false
	}
	if unsafePath(uri.PathOriginal()) {
		x.fail(fasthttp.StatusBadRequest)
		return trusted, false
	}
	r := p.findRoute(x.req.Header.Host(), uri.Path())
	if r == nil {
		x.fail(fasthttp.StatusNotFound)
		return trusted, false
	}
	x.route, x.pool = r, r.pool
	if x.failClient() {
		return trusted, false
	}
	x.secure = x.tls || trusted && forwardedHTTPS(&x.req.Header)
	return trusted, true
}

// handle runs the forwarding core on x and leaves the response to send in
// x.resp.
func (p *Proxy) handle(x *exchange) {
	trusted, ok := p.admit(x)
	if !ok {
		return
	}
	clientClose := x.req.Header.ConnectionClose()
	removeHopHeaders(&x.req.Header)
	x.req.Header.ResetConnectionClose()
	x.buf = setForwarded(&x.req.Header, x.peer, trusted, x.tls, x.buf)
	p.forward(x)
	if clientClose {
		x.req.Header.SetConnectionClose()
		x.resp.SetConnectionClose()
	}
}

var (
	schemeHTTP  = []byte("http")
	schemeHTTPS = []byte("https")
)

// isIdempotent reports whether a request of method may be sent twice.
func isIdempotent(h *fasthttp.RequestHeader) bool {
	return h.IsGet() || h.IsHead() || h.IsOptions() || h.IsPut() || h.IsDelete() || h.IsTrace()
}

// affinity returns the request's hash key (ip_hash, consistent_hash) and
// the backend its sticky cookie pins it to (-1: none or not valid).
func (p *Proxy) affinity(x *exchange, pl *pool) (key []byte, pinned int) {
	switch {
	case pl.ipHash:
		key = addrKey(x.client, &x.key)
	case pl.hashHeader != "":
		key = x.req.Header.Peek(pl.hashHeader)
	case pl.hashCookie != "":
		key = x.req.Header.Cookie(pl.hashCookie)
	}
	pinned = -1
	if pl.sticky {
		pinned = p.stickyBackend(pl, x.req.Header.Cookie(pl.stickyCookie))
	}
	return key, pinned
}

// forward sends x to the backends of its pool, with retries, and leaves
// the backend's response or the proxy's error in x.resp.
func (p *Proxy) forward(x *exchange) {
	pl := x.pool
	deadline := x.start.Add(pl.timeout)

	key, pinned := p.affinity(x, pl)
	idempotent := isIdempotent(&x.req.Header)

	tried := x.tried[:0]
	// What the last try gave: a failure, or a status that was retried.
	failed, last, lastStatus, late := false, failure(0), 0, false
	for attempt := 0; attempt <= pl.retries; attempt++ {
		var i int
		if attempt == 0 && pinned >= 0 && pl.bal.TryStart(pinned) {
			i = pinned
		} else {
			i = pickStart(pl, key, tried)
		}
		if i < 0 {
			break
		}
		if attempt > 0 {
			pl.pm.retries.Inc()
		}
		tried = append(tried, i)
		x.backend = i
		x.tries++

		be := pl.backends[i]
		now := time.Now()
		td := now.Add(pl.tryTimeout)
		if deadline.Before(td) {
			td = deadline
		}
		gen := be.gen.Load()
		err := be.client.DoDeadline(x.req, x.resp, td)
		took := time.Since(now)
		if err != nil && (x.tooLarge || x.bodyErr) {
			// The client failed the try, not the backend: no retry, and
			// nothing held against the backend.
			pl.bal.Done(i, took, true)
			pl.pm.failures[failClient].Inc()
			x.failClient()
			return
		}
		if err == nil {
			status := x.resp.StatusCode()
			ok := status < 500
			if status == fasthttp.StatusSwitchingProtocols {
				// Only a WebSocket handshake may switch protocols, and
				// that does not come here.
				ok = false
			}
			pl.bal.Done(i, took, ok)
			pl.health.observe(i, ok)
			if status == fasthttp.StatusSwitchingProtocols {
				_ = x.resp.CloseBodyStream()
				x.fail(fasthttp.StatusBadGateway)
				return
			}
			retryable := status >= 502 && status <= 504 && idempotent && !x.streamed
			if retryable && attempt < pl.retries && time.Now().Before(deadline) {
				failed, lastStatus = false, status
				_ = x.resp.CloseBodyStream()
				continue
			}
			p.relay(x, pl, i, pinned)
			return
		}

		f, notSent := classify(err)
		if be.gen.Load() != gen {
			// Marked down while this try waited on it: its error is the
			// cut connection or dial, not the backend's answer.
			f = failAbandoned
		}
		pl.bal.Done(i, took, false)
		if f.backendFault() {
			pl.health.observe(i, false)
		}
		pl.pm.failures[f].Inc()
		failed, last = true, f
		p.log.Debug("backend try failed", "pool", pl.name, "backend", be.name, "reason", failureReasons[f], "err", err)
		if !notSent && !(idempotent && !x.streamed && (f != failTimeout || pl.retryOnTimeout)) {
			break
		}
		if !time.Now().Before(deadline) {
			late = true
			break
		}
	}
	switch {
	case failed && (last == failLocal || last == failConnLimit):
		// The proxy, not the backend, is short of connections: the
		// answer is the proxy's own.
		x.backend = -1
		x.fail(fasthttp.StatusServiceUnavailable)
	case failed && (late || last == failTimeout || last == failConnectTimeout):
		x.fail(fasthttp.StatusGatewayTimeout)
	case failed:
		x.fail(fasthttp.StatusBadGateway)
	case lastStatus == fasthttp.StatusGatewayTimeout:
		x.fail(fasthttp.StatusGatewayTimeout)
	case lastStatus != 0:
		x.fail(fasthttp.StatusBadGateway)
	default:
		x.fail(fasthttp.StatusServiceUnavailable)
	}
}

// relay prepares the backend's response in x.resp for the client.
func (p *Proxy) relay(x *exchange, pl *pool, i, pinned int) {
	removeHopHeaders(&x.resp.Header)
	x.resp.Header.ResetConnectionClose()
	if pl.sticky && i != pinned {
		c := p.stickyCookie(pl, i, x.secure)
		x.resp.Header.SetCookie(c)
		fasthttp.ReleaseCookie(c)
	}
	x.status = x.resp.StatusCode()
}

// stickyCookie returns the cookie that pins a client to backend i of pl;
// release it with fasthttp.ReleaseCookie.
func (p *Proxy) stickyCookie(pl *pool, i int, secure bool) *fasthttp.Cookie {
	c := fasthttp.AcquireCookie()
	c.SetKey(pl.stickyCookie)
	c.SetValue(p.sticky.encode(pl.name, pl.backends[i].name))
	c.SetPath("/")
	c.SetHTTPOnly(true)
	c.SetSameSite(fasthttp.CookieSameSiteLaxMode)
	c.SetSecure(secure)
	if pl.stickyMaxAge > 0 {
		c.SetMaxAge(pl.stickyMaxAge)
	}
	return c
}

// pickStart picks a backend and starts a request on it; it returns -1
// when none is usable.
func pickStart(pl *pool, key []byte, tried []int) int {
	for range 4 {
		i := pl.bal.Pick(key, tried)
		if i < 0 {
			return -1
		}
		if pl.bal.TryStart(i) {
			return i
		}
		// Another request took its last slot since Pick: pick again.
	}
	return -1
}

// stickyBackend returns the backend a sticky cookie names, or -1.
func (p *Proxy) stickyBackend(pl *pool, cookie []byte) int {
	if len(cookie) == 0 {
		return -1
	}
	name, ok := p.sticky.decode(pl.name, string(cookie))
	if !ok {
		return -1
	}
	i, ok := pl.byName[name]
	if !ok {
		return -1
	}
	return i
}

// addrKey returns the bytes of a (4 for IPv4) in buf.
func addrKey(a netip.Addr, buf *[16]byte) []byte {
	if a.Is4() {
		b := a.As4()
		copy(buf[:], b[:])
		return buf[:4]
	}
	*buf = a.As16()
	return buf[:]
}

// finish records a finished exchange: metrics, load and the access log.
func (p *Proxy) finish(x *exchange) {
	d := time.Since(x.start)
	now := x.start.Add(d)
	p.load.record(now, d)
	if x.status == 0 {
		x.status = x.resp.StatusCode()
	}
	if x.pool != nil {
		x.pool.pm.duration.Observe(d.Seconds())
		if x.backend >= 0 {
			x.pool.backends[x.backend].codes.inc(x.status)
		} else {
			x.pool.pm.codes.inc(x.status)
		}
	} else {
		p.m.unrouted.inc(x.status)
	}
	p.m.reject(clientFault(x))
	if p.access == nil {
		return
	}
	n := x.resp.Header.ContentLength()
	if !x.resp.IsBodyStream() {
		n = len(x.resp.Body())
	}
	poolName, backendName, routeHost := "", "", ""
	if x.pool != nil {
		poolName = x.pool.name
		if x.backend >= 0 {
			backendName = x.pool.backends[x.backend].name
		}
	}
	if x.route != nil {
		routeHost = string(x.route.host)
		if x.route.wildcard {
			routeHost = "*" + routeHost
		}
		routeHost += string(x.route.prefix)
	}
	p.access.Log(context.Background(), slog.LevelInfo, "request",
		"client", x.client.String(),
		"method", string(x.req.Header.Method()),
		"host", string(x.req.Header.Host()),
		"path", string(x.req.URI().PathOriginal()),
		"status", x.status,
		"bytes", n,
		"duration", d,
		"pool", poolName,
		"backend", backendName,
		"tries", x.tries,
		"route", routeHost,
	)
}

// readDeadliner sets the deadline of the next read of a request body: a
// client connection (HTTP/1.1) or an *http.ResponseController (an HTTP/2
// stream).
type readDeadliner interface {
	SetReadDeadline(t time.Time) error
}

// bodyLimit streams a request body while bounding its size and the
// silence between its reads. Any read error but EOF is the client's
// fault, and marks x so.
type bodyLimit struct {
	r    io.Reader
	conn readDeadliner // nil: no deadline
	pace uploadPace
	left int64 // <0: unbounded
	// want is the declared length (<0: chunked), got what was read.
	want, got int64
	x         *exchange
	// prefix holds the body's first bytes, read before a backend was
	// picked (see bufferBody); Read returns them first. nil: none.
	prefix *[]byte
	off    int
}

func (b *bodyLimit) Read(p []byte) (int, error) {
	if n, ok := b.fromPrefix(p); ok {
		return n, nil
	}
	if b.left == 0 {
		// Allow reading EOF, refuse anything more.
		var one [1]byte
		n, err := b.read(one[:])
		if n > 0 {
			b.x.tooLarge = true
			return 0, errBodyTooLarge
		}
		return 0, err
	}
	if b.left > 0 && int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.read(p)
	if b.left > 0 {
		b.left -= int64(n)
	}
	b.got += int64(n)
	if errors.Is(err, io.EOF) && b.got < b.want {
		// The client ended the body before its declared end.
		err = io.ErrUnexpectedEOF
	}
	if err != nil && !errors.Is(err, io.EOF) {
		b.x.bodyErr = true
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			b.x.bodyTimeout = true
		}
	}
	return n, err
}

var errBodyTooLarge = errors.New("request body too large")

// prepareBody decides how x's request body goes to the backend: a body up
// to Limits.BufferBodyBytes is read now (a retry can resend it), of a
// larger one that many bytes are read now and the rest is streamed, under
// the body limits (see uploadPace). body is the body's stream (nil: none,
// or already in x.req); conn sets the read deadlines (the client
// connection, or the HTTP/2 stream's response controller). A body declared
// larger than Limits.MaxBodyBytes marks x tooLarge.
func (p *Proxy) prepareBody(x *exchange, body io.Reader, conn readDeadliner) {
	cl := x.req.Header.ContentLength()
	limit := p.limits.MaxBodyBytes
	if limit > 0 && int64(cl) > limit {
		x.tooLarge = true
		return
	}
	if body == nil {
		return
	}
	x.body = bodyLimit{r: body, conn: conn, pace: newPace(p.limits), left: limit, want: int64(cl), x: x}
	lb := &x.body
	if bufferBody(x, lb, cl, p.limits.BufferBodyBytes) {
		return
	}
	x.streamed = true
	x.req.SetBodyStream(lb, cl)
}
