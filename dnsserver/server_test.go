package dnsserver

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

// testServer starts a real server on 127.0.0.1 (UDP and TCP, port 0) with
// the zones of dir, and returns it with its address. It stops with the test.
func testServer(t *testing.T, cfg Config, dir string) (*Server, string) {
	t.Helper()
	cfg.Listen = []string{"127.0.0.1:0"}
	if cfg.UDPSockets == 0 {
		cfg.UDPSockets = 2
	}
	s := New(cfg)
	if err := s.LoadZones(dir); err != nil {
		t.Fatalf("load zones: %v", err)
	}
	if err := s.Listen(); err != nil {
		t.Fatalf("listen: %v", err)
	}
	ctx, cancel := contextWithCancel(t)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	udp, tcp := s.UDPAddrs()[0], s.TCPAddrs()[0]
	if udp.Port() != tcp.Port() {
		t.Fatalf("udp %v and tcp %v differ", udp, tcp)
	}
	return s, udp.String()
}

func allowLoopback() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
}

func TestSmoke(t *testing.T) {
	_, addr := testServer(t, Config{NSID: "test", TransferAllow: allowLoopback()}, "testdata/zones")
	for _, net := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: net}
		for _, q := range []struct {
			name string
			t    uint16
		}{{"www.gslb.example.com.", dns.TypeA}, {"WwW.GSLB.example.com.", dns.TypeAAAA}, {"alias.gslb.example.com.", dns.TypeA},
			{"x.y.apps.gslb.example.com.", dns.TypeTXT}, {"nope.gslb.example.com.", dns.TypeA}, {"dc1.gslb.example.com.", dns.TypeA},
			{"foo.child.gslb.example.com.", dns.TypeA}, {"example.org.", dns.TypeA}, {"gslb.example.com.", dns.TypeANY}, {"gslb.example.com.", dns.TypeMX}} {
			m := new(dns.Msg)
			m.SetQuestion(q.name, q.t)
			m.SetEdns0(1232, true)
			r, _, err := c.Exchange(m, addr)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s %s\n%v", net, q.name, r)
		}
	}
}
