package proxy

import (
	"bytes"
	"net/netip"
	"slices"

	"github.com/valyala/fasthttp"
)

// hopHeaders are the hop-by-hop headers (RFC 9110 7.6.1) removed in both
// directions besides those that Connection lists. Transfer-Encoding is
// framing that fasthttp handles itself; Upgrade is kept only for a
// WebSocket handshake, which does not go through here.
var hopHeaders = []string{
	"Keep-Alive",
	"Proxy-Connection",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Upgrade",
}

// headerPeeker is what the hop-by-hop sweep needs of a request or response
// header.
type headerPeeker interface {
	Peek(key string) []byte
	PeekAll(key string) [][]byte
	Del(key string)
	DelBytes(key []byte)
}

var (
	_ headerPeeker = (*fasthttp.RequestHeader)(nil)
	_ headerPeeker = (*fasthttp.ResponseHeader)(nil)
)

// removeHopHeaders deletes the hop-by-hop headers of h and those listed
// in its Connection headers. It does not allocate when h has none.
// fasthttp keeps "Connection: close" as a flag rather than a header, so
// callers save and restore that flag themselves.
func removeHopHeaders(h headerPeeker) {
	if conn := h.PeekAll("Connection"); len(conn) > 0 {
		for _, v := range conn {
			for len(v) > 0 {
				var tok []byte
				if i := bytes.IndexByte(v, ','); i >= 0 {
					tok, v = v[:i], v[i+1:]
				} else {
					tok, v = v, nil
				}
				tok = bytes.TrimSpace(tok)
				if len(tok) > 0 && !endToEnd(tok) {
					h.DelBytes(tok)
				}
			}
		}
		h.Del("Connection")
	}
	for _, k := range hopHeaders {
		if h.Peek(k) != nil {
			h.Del(k)
		}
	}
}

// keptHeaders are the headers that a Connection header may not remove:
// framing, the host, and the forwarding headers the proxy itself vouches
// for.
var keptHeaders = [...]string{
	"Close", "Keep-Alive", // Connection options, not header names
	"Host", "Content-Length", "Transfer-Encoding",
	"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "Forwarded",
}

// endToEnd reports whether the Connection token tok names a header that
// must not be removed as hop-by-hop.
func endToEnd(tok []byte) bool {
	for _, k := range keptHeaders {
		if len(tok) == len(k) && bytes.EqualFold(tok, []byte(k)) {
			return true
		}
	}
	return false
}

// spoofHeaders are client-address headers that only a trusted proxy may
// send; they are removed from everyone else's requests.
var spoofHeaders = [...]string{"X-Real-IP", "True-Client-IP", "CF-Connecting-IP"}

// forwardedHTTPS reports whether X-Forwarded-Proto says the client's
// request came over HTTPS: its first (the client's) value.
func forwardedHTTPS(h *fasthttp.RequestHeader) bool {
	v := h.Peek("X-Forwarded-Proto")
	if i := bytes.IndexByte(v, ','); i >= 0 {
		v = v[:i]
	}
	return bytes.EqualFold(bytes.TrimSpace(v), []byte("https"))
}

// joinAt appends to buf the values of every key header of h, in order,
// comma-separated after buf[start:]: a list header's repeated lines are
// one list (RFC 9110 5.3).
func joinAt(h *fasthttp.RequestHeader, key string, buf []byte, start int) []byte {
	for _, v := range h.PeekAll(key) {
		if len(buf) > start {
			buf = append(buf, ", "...)
		}
		buf = append(buf, v...)
	}
	return buf
}

// isTrusted reports whether addr is a trusted proxy.
func (p *Proxy) isTrusted(addr netip.Addr) bool {
	for _, pfx := range p.trusted {
		if pfx.Contains(addr) {
			return true
		}
	}
	return false
}

// clientAddr returns the client's address: the peer, or when the peer is
// a trusted proxy, the rightmost address of X-Forwarded-For that is not
// trusted (the leftmost when all are; the peer when the header is absent
// or unparsable).
func (p *Proxy) clientAddr(peer netip.Addr, trusted bool, h *fasthttp.RequestHeader) netip.Addr {
	if !trusted {
		return peer
	}
	client := peer
	vals := h.PeekAll("X-Forwarded-For")
	for _, v := range slices.Backward(vals) {
		for len(v) > 0 {
			var tok []byte
			if i := bytes.LastIndexByte(v, ','); i >= 0 {
				tok, v = v[i+1:], v[:i]
			} else {
				tok, v = v, nil
			}
			a, err := netip.ParseAddr(string(bytes.TrimSpace(tok)))
			if err != nil {
				return client
			}
			client = a.Unmap()
			if !p.isTrusted(client) {
				return client
			}
		}
	}
	return client
}

// setForwarded rewrites the X-Forwarded-For, -Proto and -Host and the
// Forwarded headers of a request from peer: extended (or kept, for -Proto
// and -Host) when peer is a trusted proxy, replaced otherwise. Every line
// of them is removed before the one line of each is set, and from an
// untrusted peer the other client-address headers (spoofHeaders) are
// removed too. buf is scratch space, returned for reuse.
func setForwarded(h *fasthttp.RequestHeader, peer netip.Addr, trusted, tls bool, buf []byte) []byte {
	proto := "http"
	if tls {
		proto = "https"
	}
	host := h.Host()
	if !trusted {
		for _, k := range spoofHeaders {
			if h.Peek(k) != nil {
				h.Del(k)
			}
		}
	}

	// Read every value before deleting any line: fasthttp's Del may move
	// another header's lines around, which would reorder a list. The
	// values are laid out in buf one after the other.
	buf = buf[:0]
	if trusted {
		if buf = joinAt(h, "X-Forwarded-For", buf, 0); len(buf) > 0 {
			buf = append(buf, ", "...)
		}
	}
	buf = peer.AppendTo(buf)
	e0 := len(buf)
	if trusted {
		buf = joinAt(h, "X-Forwarded-Proto", buf, e0)
	}
	if len(buf) == e0 {
		buf = append(buf, proto...)
	}
	e1 := len(buf)
	if trusted {
		buf = joinAt(h, "X-Forwarded-Host", buf, e1)
	}
	if len(buf) == e1 {
		buf = append(buf, host...)
	}
	e2 := len(buf)

	// Forwarded (RFC 7239).
	if trusted {
		if buf = joinAt(h, "Forwarded", buf, e2); len(buf) > e2 {
			buf = append(buf, ", "...)
		}
	}
	buf = append(buf, "for="...)
	if peer.Is6() {
		buf = append(buf, `"[`...)
		buf = peer.AppendTo(buf)
		buf = append(buf, `]"`...)
	} else {
		buf = peer.AppendTo(buf)
	}
	buf = append(buf, ";proto="...)
	buf = append(buf, proto...)
	if len(host) > 0 {
		buf = append(buf, `;host="`...)
		for _, c := range host {
			if c == '"' || c == '\\' {
				buf = append(buf, '\\')
			}
			buf = append(buf, c)
		}
		buf = append(buf, '"')
	}
	h.Del("X-Forwarded-For")
	h.Del("X-Forwarded-Proto")
	h.Del("X-Forwarded-Host")
	h.Del("Forwarded")
	h.SetBytesV("X-Forwarded-For", buf[:e0])
	h.SetBytesV("X-Forwarded-Proto", buf[e0:e1])
	h.SetBytesV("X-Forwarded-Host", buf[e1:e2])
	h.SetBytesV("Forwarded", buf[e2:])
	return buf
}
