package proxy

import (
	"bytes"
	"strings"
)

// route is a Route ready for matching: host lower-cased, path prefix
// without its trailing slash.
type route struct {
	host     []byte // exact host, or the suffix (".example.com") when wildcard
	wildcard bool
	prefix   []byte // "" matches every path
	pool     *pool
}

// newRoute readies a validated route to pool pl.
func newRoute(rc Route, pl *pool) route {
	r := route{pool: pl}
	h := strings.ToLower(strings.TrimSuffix(rc.Host, "."))
	switch {
	case h == "":
	case strings.HasPrefix(h, "*."):
		r.wildcard = true
		r.host = []byte(h[1:])
	default:
		r.host = []byte(h)
	}
	r.prefix = []byte(strings.TrimRight(rc.PathPrefix, "/"))
	return r
}

// match reports whether a request for host (without port) and path
// matches r.
func (r *route) match(host, path []byte) bool {
	switch {
	case r.wildcard:
		// "*.example.com" matches a.example.com and a.b.example.com, not
		// example.com itself.
		if len(host) <= len(r.host) || !bytes.EqualFold(host[len(host)-len(r.host):], r.host) {
			return false
		}
	case r.host != nil:
		if !bytes.EqualFold(host, r.host) {
			return false
		}
	}
	return pathHasPrefix(path, r.prefix)
}

// pathHasPrefix reports whether path starts with the segments of prefix
// (which has no trailing slash): "/api" matches "/api" and "/api/x", not
// "/apix".
func pathHasPrefix(path, prefix []byte) bool {
	if len(prefix) == 0 {
		return true
	}
	if !bytes.HasPrefix(path, prefix) {
		return false
	}
	return len(path) == len(prefix) || path[len(prefix)] == '/'
}

// findRoute returns the first route matching, or nil. host may carry a
// port, which is ignored.
func (p *Proxy) findRoute(host, path []byte) *route {
	host = stripPort(host)
	for i := range p.routes {
		if p.routes[i].match(host, path) {
			return &p.routes[i]
		}
	}
	return nil
}

// stripPort removes a ":port" from host, and the brackets of an IPv6
// literal; it does not allocate.
func stripPort(host []byte) []byte {
	if len(host) > 0 && host[0] == '[' {
		if i := bytes.IndexByte(host, ']'); i > 0 {
			return host[1:i]
		}
		return host
	}
	if i := bytes.LastIndexByte(host, ':'); i >= 0 && bytes.IndexByte(host[:i], ':') < 0 {
		return host[:i]
	}
	return host
}

// unsafePath reports whether a raw request path (query included) has a
// dot-segment ("." or ".."), or an encoded dot or slash (%2e, %2f) that a
// backend may decode into one: routing and the backend could then read
// different paths (see Route).
func unsafePath(raw []byte) bool {
	if i := bytes.IndexByte(raw, '?'); i >= 0 {
		raw = raw[:i]
	}
	for i := range raw {
		switch raw[i] {
		case '%':
			if i+2 < len(raw) && raw[i+1] == '2' && (raw[i+2]|0x20 == 'e' || raw[i+2]|0x20 == 'f') {
				return true
			}
		case '.':
			// A segment of only dots, one or two.
			if i == 0 || raw[i-1] == '/' {
				j := i + 1
				if j < len(raw) && raw[j] == '.' {
					j++
				}
				if j == len(raw) || raw[j] == '/' {
					return true
				}
			}
		}
	}
	return false
}
