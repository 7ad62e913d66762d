package proxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/valyala/fasthttp"
)

// isWebSocket reports whether a request asks for a WebSocket upgrade.
func isWebSocket(h *fasthttp.RequestHeader) bool {
	return h.ConnectionUpgrade() && bytes.EqualFold(h.Peek("Upgrade"), []byte("websocket"))
}

// maxUpgradeRefusal bounds the body of a backend's answer that refuses a
// WebSocket upgrade, which is relayed whole.
const maxUpgradeRefusal = 1 << 20

// serveWebSocket proxies a WebSocket: the handshake goes to a backend like
// a request (routing, limits, balancing, forwarded headers); on 101 the
// client connection is hijacked and bytes are spliced both ways until
// either side closes or both are silent for Limits.IdleTimeout. The
// session counts as in flight, on the proxy and on the backend, while it
// is open.
func (p *Proxy) serveWebSocket(ctx *fasthttp.RequestCtx) {
	p.inFlight.Add(1)
	x := acquireExchange()
	x.req, x.resp = &ctx.Request, &ctx.Response
	x.start = time.Now()
	x.tls = ctx.IsTLS()
	x.peer = connPeer(ctx)
	hijacked := false
	defer func() {
		p.finish(x)
		releaseExchange(x)
		if !hijacked {
			p.inFlight.Add(-1)
		}
	}()
	trusted, ok := p.admit(x)
	if !ok {
		return
	}
	if cl := x.req.Header.ContentLength(); cl > 0 || cl == -1 {
		// A handshake has no body, and bytes after it belong to the
		// WebSocket: refuse the ambiguity.
		x.fail(fasthttp.StatusBadRequest)
		x.resp.SetConnectionClose()
		return
	}
	pl := x.pool
	removeHopHeaders(&x.req.Header)
	x.req.Header.ResetConnectionClose()
	x.req.Header.Set("Connection", "Upgrade")
	x.req.Header.Set("Upgrade", "websocket")
	x.buf = setForwarded(&x.req.Header, x.peer, trusted, x.tls, x.buf)

	key, pinned := p.affinity(x, pl)
	i := -1
	if pinned >= 0 && pl.bal.TryStart(pinned) {
		i = pinned
	} else {
		i = pickStart(pl, key, nil)
	}
	if i < 0 {
		x.fail(fasthttp.StatusServiceUnavailable)
		return
	}
	x.backend, x.tries = i, 1
	start := time.Now()
	bc, br, err := p.upgrade(x, pl, i)
	if err != nil {
		pl.bal.Done(i, time.Since(start), false)
		f, _ := classify(err)
		if f.backendFault() {
			pl.health.observe(i, false)
		}
		pl.pm.failures[f].Inc()
		switch f {
		case failLocal, failConnLimit:
			x.backend = -1
			x.fail(fasthttp.StatusServiceUnavailable)
		case failTimeout, failConnectTimeout:
			x.fail(fasthttp.StatusGatewayTimeout)
		default:
			x.fail(fasthttp.StatusBadGateway)
		}
		p.log.Debug("websocket handshake failed", "pool", pl.name, "backend", pl.backends[i].name, "reason", failureReasons[f], "err", err)
		return
	}
	status := x.resp.StatusCode()
	pl.health.observe(i, status < 500)
	if status != fasthttp.StatusSwitchingProtocols {
		pl.bal.Done(i, time.Since(start), status < 500)
		_ = bc.Close()
		p.relay(x, pl, i, pinned)
		return
	}

	// Build the 101 for the client from the backend's, without its
	// hop-by-hop headers but the upgrade's own.
	removeHopHeaders(&x.resp.Header)
	hdr := make([]byte, 0, 256)
	hdr = append(hdr, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"...)
	for k, v := range x.resp.Header.All() {
		if bytes.EqualFold(k, []byte("Connection")) || bytes.EqualFold(k, []byte("Upgrade")) {
			continue
		}
		hdr = append(hdr, k...)
		hdr = append(hdr, ": "...)
		hdr = append(hdr, v...)
		hdr = append(hdr, "\r\n"...)
	}
	if pl.sticky && i != pinned {
		c := p.stickyCookie(pl, i, x.secure)
		hdr = append(hdr, "Set-Cookie: "...)
		hdr = c.AppendBytes(hdr)
		hdr = append(hdr, "\r\n"...)
		fasthttp.ReleaseCookie(c)
	}
	hdr = append(hdr, "\r\n"...)
	x.status = status

	hijacked = true
	idle := p.limits.IdleTimeout
	ctx.HijackSetNoResponse(true)
	ctx.Hijack(func(cc net.Conn) {
		defer p.inFlight.Add(-1)
		defer func() { pl.bal.Done(i, time.Since(start), true) }()
		defer bc.Close()
		_ = bc.SetDeadline(time.Time{})
		_ = cc.SetWriteDeadline(time.Now().Add(idle))
		if _, err := cc.Write(hdr); err != nil {
			return
		}
		splice(cc, bc, br, idle)
	})
}

// upgrade dials backend i, sends the handshake and reads the answer into
// x.resp. It returns the connection and its reader, which may hold bytes
// the backend sent after its 101.
func (p *Proxy) upgrade(x *exchange, pl *pool, i int) (net.Conn, *bufio.Reader, error) {
	c, err := pl.backends[i].dial()
	if err != nil {
		return nil, nil, err
	}
	deadline := time.Now().Add(pl.tryTimeout)
	if end := x.start.Add(pl.timeout); end.Before(deadline) {
		deadline = end
	}
	_ = c.SetDeadline(deadline)
	if _, err := c.Write(x.req.Header.Header()); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	br := bufio.NewReader(c)
	x.resp.Header.SetNoDefaultContentType(true)
	if err := x.resp.ReadLimitBody(br, maxUpgradeRefusal); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	return c, br, nil
}

// splice copies bytes both ways between a client and a backend until one
// side closes or neither sent anything for idle.
func splice(client, backend net.Conn, br *bufio.Reader, idle time.Duration) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	done := make(chan struct{})
	go func() {
		copyIdle(client, br, backend, &last, idle)
		_ = client.Close()
		_ = backend.Close()
		close(done)
	}()
	copyIdle(backend, client, client, &last, idle)
	_ = client.Close()
	_ = backend.Close()
	<-done
}

// copyIdle copies src (read from conn) to dst. A read that times out
// while the other direction was active within idle waits on.
func copyIdle(dst io.Writer, src io.Reader, conn net.Conn, last *atomic.Int64, idle time.Duration) {
	buf := make([]byte, 32<<10)
	for {
		_ = conn.SetReadDeadline(time.Unix(0, last.Load()).Add(idle))
		n, err := src.Read(buf)
		if n > 0 {
			last.Store(time.Now().UnixNano())
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() && time.Since(time.Unix(0, last.Load())) < idle {
				continue
			}
			return
		}
	}
}
