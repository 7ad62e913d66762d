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
				if len(tok) > 0 && !bytes.EqualFold(tok, []byte("close")) && !bytes.EqualFold(tok, []byte("keep-alive")) {
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
// Forwarded headers of a request from peer: extended when peer is a
// trusted proxy, replaced otherwise. buf is scratch space, returned for
// reuse.
func setForwarded(h *fasthttp.RequestHeader, peer netip.Addr, trusted, tls bool, buf []byte) []byte {
	proto := "http"
	if tls {
		proto = "https"
	}
	host := h.Host()

	// X-Forwarded-For.
	buf = buf[:0]
	if trusted {
		for _, v := range h.PeekAll("X-Forwarded-For") {
			if len(buf) > 0 {
				buf = append(buf, ", "...)
			}
			buf = append(buf, v...)
		}
		if len(buf) > 0 {
			buf = append(buf, ", "...)
		}
	}
	buf = peer.AppendTo(buf)
	h.SetBytesV("X-Forwarded-For", buf)

	if !trusted || h.Peek("X-Forwarded-Proto") == nil {
		h.Set("X-Forwarded-Proto", proto)
	}
	if !trusted || h.Peek("X-Forwarded-Host") == nil {
		h.SetBytesV("X-Forwarded-Host", host)
	}

	// Forwarded (RFC 7239).
	buf = buf[:0]
	if trusted {
		for _, v := range h.PeekAll("Forwarded") {
			if len(buf) > 0 {
				buf = append(buf, ", "...)
			}
			buf = append(buf, v...)
		}
		if len(buf) > 0 {
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
	h.SetBytesV("Forwarded", buf)
	return buf
}
