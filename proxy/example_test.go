package proxy_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"

	"github.com/aya-gslb/aya/proxy"
)

// A proxy in front of one backend: route everything to pool "web".
func Example() {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello from %s via %s", r.Host, r.Header.Get("X-Forwarded-Proto"))
	}))
	defer backend.Close()

	p, err := proxy.New(proxy.Config{
		Listeners: []proxy.Listener{{Addr: "127.0.0.1:0"}},
		Pools: []proxy.Pool{{
			Name:     "web",
			Backends: []proxy.Backend{{Name: "web-1", Addr: backend.Listener.Addr().String()}},
		}},
		Routes: []proxy.Route{{Host: "*.example.com", Pool: "web"}},
	})
	if err != nil {
		panic(err)
	}
	if err := p.Listen(); err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- p.Serve(ctx) }()

	req, _ := http.NewRequest(http.MethodGet, "http://"+p.Addrs()[0].String()+"/", nil)
	req.Host = "www.example.com"
	resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))

	stop()
	fmt.Println("drained:", <-done == nil)
	// Output:
	// 200 hello from www.example.com via http
	// drained: true
}
