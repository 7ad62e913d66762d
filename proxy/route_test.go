package proxy

import (
	"strings"
	"testing"
)

func TestFindRoute(t *testing.T) {
	backends := []Backend{{Name: "a", Addr: "127.0.0.1:1"}}
	var pools []Pool
	for _, n := range []string{"api", "wild", "exact", "any", "root"} {
		pools = append(pools, Pool{Name: n, Backends: backends})
	}
	p, err := New(Config{
		Listeners: []Listener{{Addr: "127.0.0.1:0"}},
		Pools:     pools,
		Routes: []Route{
			{Host: "Example.com", PathPrefix: "/api/", Pool: "api"},
			{Host: "*.example.com", Pool: "wild"},
			{Host: "example.com", Pool: "exact"},
			{PathPrefix: "/static", Pool: "any"},
			{Host: "root.test", PathPrefix: "/", Pool: "root"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		host, path, want string
	}{
		{"example.com", "/api", "api"},
		{"EXAMPLE.com:8443", "/api/v1/x", "api"},
		{"example.com", "/apix", "exact"},
		{"example.com", "/", "exact"},
		{"a.example.com", "/api", "wild"},
		{"a.b.example.com:80", "/", "wild"},
		{"badexample.com", "/static/x", "any"},
		{"[::1]:80", "/static", "any"},
		{"other.test", "/staticx", ""},
		{"other.test", "/", ""},
		{"root.test", "/anything", "root"},
		{"", "/static/", "any"},
	}
	for _, tc := range cases {
		t.Run(tc.host+tc.path, func(t *testing.T) {
			r := p.findRoute([]byte(tc.host), []byte(tc.path))
			got := ""
			if r != nil {
				got = r.pool.name
			}
			if got != tc.want {
				t.Errorf("findRoute(%q, %q) = %q, want %q", tc.host, tc.path, got, tc.want)
			}
		})
	}
}

func TestRoutingEndToEnd(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	_, addr := startProxy(t, Config{
		Pools: []Pool{
			{Name: "pa", Backends: []Backend{a.backend()}},
			{Name: "pb", Backends: []Backend{b.backend()}},
		},
		Routes: []Route{
			{Host: "a.test", Pool: "pa"},
			{PathPrefix: "/b", Pool: "pb"},
		},
	})
	c := client()
	cases := []struct {
		host, path string
		status     int
		body       string
	}{
		{"a.test", "/b", 200, "a"},
		{"x.test", "/b/1", 200, "b"},
		{"x.test", "/", 404, "404 not found\n"},
	}
	for _, tc := range cases {
		status, body, _ := get(t, c, "http://"+addr+tc.path, "Host", tc.host)
		if status != tc.status || body != tc.body {
			t.Errorf("%s%s: %d %q, want %d %q", tc.host, tc.path, status, body, tc.status, tc.body)
		}
	}
	// An absolute-form target's authority wins over the Host header.
	got := dialRaw(t, addr, "GET http://a.test/b HTTP/1.1\r\nHost: x.test\r\nConnection: close\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.1 200") || !strings.HasSuffix(got, "\r\n\r\na") {
		t.Errorf("absolute-form request: %q", got)
	}
}
