package proxy

import (
	"bytes"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/netip"
	"net/url"
	"testing"
	"time"

	"github.com/valyala/fasthttp"
)

// fastBackend is a fasthttp backend on loopback answering a small body,
// so that the benchmark measures the proxy more than the backend.
func fastBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	body := []byte("hello from the backend\n")
	srv := &fasthttp.Server{Handler: func(ctx *fasthttp.RequestCtx) {
		ctx.SetContentType("text/plain")
		ctx.SetBody(body)
	}}
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}

// BenchmarkProxyGET measures a GET through the proxy to a loopback
// backend, client and backend included (both fasthttp, near free), with
// 64 concurrent clients. The "direct" and "httputil" sub-benchmarks are
// the baselines: no proxy, and net/http/httputil.ReverseProxy.
func BenchmarkProxyGET(b *testing.B) {
	addr := fastBackend(b)
	b.Run("aya", func(b *testing.B) {
		_, paddr := startProxy(b, Config{
			Pools:  []Pool{{Name: "web", Backends: []Backend{{Name: "a", Addr: addr}}}},
			Routes: []Route{{Pool: "web"}},
		})
		benchGET(b, paddr)
	})
	b.Run("direct", func(b *testing.B) { benchGET(b, addr) })
	b.Run("httputil", func(b *testing.B) {
		u, _ := url.Parse("http://" + addr)
		rp := httputil.NewSingleHostReverseProxy(u)
		rp.Transport = &http.Transport{MaxIdleConnsPerHost: 256}
		srv := httptest.NewServer(rp)
		b.Cleanup(srv.Close)
		benchGET(b, srv.Listener.Addr().String())
	})
}

func benchGET(b *testing.B, addr string) {
	b.Helper()
	c := &fasthttp.HostClient{Addr: addr, MaxConns: 256}
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://example.com/index.html")
		for pb.Next() {
			if err := c.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != 200 {
				b.Errorf("status %d", resp.StatusCode())
				return
			}
		}
	})
}

// BenchmarkProxyPOST is BenchmarkProxyGET with a 1 KiB request body,
// which the proxy reads whole, under the body limits, before it picks a
// backend.
func BenchmarkProxyPOST(b *testing.B) {
	addr := fastBackend(b)
	_, paddr := startProxy(b, Config{
		Pools:  []Pool{{Name: "web", Backends: []Backend{{Name: "a", Addr: addr}}}},
		Routes: []Route{{Pool: "web"}},
	})
	c := &fasthttp.HostClient{Addr: paddr, MaxConns: 256}
	body := bytes.Repeat([]byte("b"), 1024)
	b.SetParallelism(32)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(req)
		defer fasthttp.ReleaseResponse(resp)
		req.SetRequestURI("http://example.com/upload")
		req.Header.SetMethod(fasthttp.MethodPost)
		req.SetBody(body)
		for pb.Next() {
			if err := c.Do(req, resp); err != nil {
				b.Error(err)
				return
			}
			if resp.StatusCode() != 200 {
				b.Errorf("status %d", resp.StatusCode())
				return
			}
		}
	})
}

func BenchmarkHeaderLines(b *testing.B) {
	raw := []byte("Host: example.com\r\nUser-Agent: bench\r\nAccept: */*\r\nAccept-Encoding: gzip\r\nCookie: a=b\r\nX-Request-Id: 0123456789\r\n\r\n")
	b.ReportAllocs()
	for b.Loop() {
		if headerLines(raw) != 6 {
			b.Fatal("miscounted")
		}
	}
}

// BenchmarkTryDeadlines measures the deadlines of one backend try as
// fasthttp's RoundTrip sets them (the write's, then the read's, both the
// try's deadline) on a loopback connection: "conn" straight on the
// *net.TCPConn (two timer updates), "backendConn" through its wrapper,
// which sets both at once.
func BenchmarkTryDeadlines(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	peer, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer peer.Close()
	defer raw.Close()
	bc := &backendConn{Conn: raw, b: &backend{conns: map[*backendConn]struct{}{}}}
	for _, c := range []struct {
		name string
		conn net.Conn
	}{{"conn", raw}, {"backendConn", bc}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				d := time.Now().Add(5 * time.Second)
				if err := c.conn.SetWriteDeadline(d); err != nil {
					b.Fatal(err)
				}
				if err := c.conn.SetReadDeadline(d); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPeer measures finding the client's address of a request:
// "remoteAddr" converts the connection's remote address (the way before),
// "tracked" reads the one its trackedConn took at accept.
func BenchmarkPeer(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	raw, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer raw.Close()
	srv, err := ln.Accept()
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	tc := &trackedConn{Conn: srv, peer: peerAddr(srv.RemoteAddr())}
	var ctx fasthttp.RequestCtx
	ctx.Init2(tc, nil, false)
	want := netip.MustParseAddr("127.0.0.1")
	b.Run("remoteAddr", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if peerAddr(ctx.RemoteAddr()) != want {
				b.Fatal("wrong peer")
			}
		}
	})
	b.Run("tracked", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if connPeer(&ctx) != want {
				b.Fatal("wrong peer")
			}
		}
	})
}
