// Command backend is the HTTP backend of bench/proxy: it answers every
// request with the same small body over keep-alive connections, doing as
// little work as it can, so that the proxy in front of it is what the bench
// measures.
//
//	backend -listen 127.0.0.1:18081 -size 100
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/valyala/fasthttp"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:18081", "address to serve (host:port)")
	size := flag.Int("size", 100, "bytes in the response body")
	flag.Parse()
	if err := run(*listen, *size); err != nil {
		fmt.Fprintln(os.Stderr, "backend:", err)
		os.Exit(1)
	}
}

func run(listen string, size int) error {
	if size < 0 {
		return fmt.Errorf("-size %d: must be at least 0", size)
	}
	body := bytes.Repeat([]byte("a"), size)
	if size > 0 {
		body[size-1] = '\n'
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", listen)
	if err != nil {
		return err
	}
	srv := &fasthttp.Server{
		Handler: func(ctx *fasthttp.RequestCtx) {
			ctx.SetContentType("text/plain")
			ctx.SetBody(body)
		},
		Name:                          "bench-backend",
		NoDefaultDate:                 true,
		DisableHeaderNamesNormalizing: true,
		Logger:                        slog.NewLogLogger(slog.NewTextHandler(os.Stderr, nil), slog.LevelWarn),
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		_ = srv.Shutdown()
	}()
	return srv.Serve(ln)
}
