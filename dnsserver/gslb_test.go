package dnsserver

import (
	"bytes"
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

const gslbZones = "testdata/gslb"

// The example's three regions, one endpoint each.
var (
	usEast      = policy.Region{Name: "us-east", Latitude: 39.04, Longitude: -77.49, Country: "US", Continent: "NA"}
	euWest      = policy.Region{Name: "eu-west", Latitude: 53.35, Longitude: -6.26, Country: "IE", Continent: "EU"}
	apSoutheast = policy.Region{Name: "ap-southeast", Latitude: 1.29, Longitude: 103.85, Country: "SG", Continent: "AS"}
)

func member(r policy.Region, name string, addrs ...string) policy.Member {
	e := policy.Endpoint{Name: name, Weight: 1}
	for _, a := range addrs {
		e.Addrs = append(e.Addrs, netip.MustParseAddr(a))
	}
	return policy.Member{Region: r, Endpoints: []policy.Endpoint{e}}
}

func testPools() []*policy.Pool {
	web := []policy.Member{
		member(usEast, "use1", "192.0.2.10", "2001:db8:1::10"),
		member(euWest, "euw1", "198.51.100.10", "2001:db8:2::10"),
		member(apSoutheast, "apse1", "203.0.113.10", "2001:db8:3::10"),
	}
	return []*policy.Pool{
		{Name: "web", TTL: 30, Answers: 1, Members: web},
		{Name: "v4only", TTL: 60, Answers: 1, Members: []policy.Member{member(usEast, "v4", "192.0.2.44")}},
		{Name: "dead", TTL: 30, Answers: 1, Fallback: policy.Servfail, Members: []policy.Member{member(euWest, "gone", "198.51.100.99")}},
	}
}

// testGeo builds a City database of a few networks with geo.Build, the code
// `aya geo build` runs, and opens it.
func testGeo(t *testing.T) *geo.DB {
	t.Helper()
	nets := []geo.Network{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Latitude: 51.5142, Longitude: -0.0931, Country: "GB", Continent: "EU", City: "London"},
		{Prefix: netip.MustParsePrefix("216.160.83.0/24"), Latitude: 47.2513, Longitude: -122.3149, Country: "US", Continent: "NA", City: "Milton"},
		{Prefix: netip.MustParsePrefix("175.16.0.0/16"), Latitude: 43.88, Longitude: 125.3228, Country: "CN", Continent: "AS", City: "Changchun"},
		{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Latitude: 38.9, Longitude: -77.0, Country: "US", Continent: "NA"},
		{Prefix: netip.MustParsePrefix("2a02:cfc0::/29"), Latitude: 46, Longitude: 2, Country: "FR", Continent: "EU"},
	}
	var buf bytes.Buffer
	if err := geo.Build(&buf, nets); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "test.mmdb")
	if err := os.WriteFile(path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	db, err := geo.Open(geo.Config{Database: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func gslbConfig(t *testing.T, trusted ...netip.Prefix) Config {
	t.Helper()
	cfg := testConfig()
	dead := state.NewStatic(&state.Snapshot{Down: map[state.EndpointKey]string{
		{Pool: "dead", Region: "eu-west", Endpoint: "gone"}: "connection refused",
	}})
	cfg.GSLB = GSLB{Pools: testPools(), Geo: testGeo(t), State: dead, ECS: ECSConfig{Trusted: trusted}}
	return cfg
}

func subnet(s string) func(*dns.Msg) {
	p := netip.MustParsePrefix(s)
	fam := uint16(1)
	if p.Addr().Is6() {
		fam = 2
	}
	return ednsWith(&dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: fam, SourceNetmask: uint8(p.Bits()), Address: p.Addr().AsSlice()})
}

// TestGSLBAnswers: names bound to a pool are answered with the addresses of
// the region nearest the client (RFC 7871 for the client's subnet).
func TestGSLBAnswers(t *testing.T) {
	_, addr := testServer(t, gslbConfig(t), gslbZones)
	eu := "www.gslb.test. 30 IN A 198.51.100.10"
	us := "www.gslb.test. 30 IN A 192.0.2.10"
	runCases(t, addr, []dnsCase{
		{name: "ecs london", rfc: "RFC 7871 §7.2.1: scope = the matched network, capped by the source",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("81.2.69.142/32"),
			aa: true, answer: []string{eu}, opt: &wantOPT{udpSize: 1232, options: []string{"81.2.69.142/32/24"}}},
		{name: "ecs london /24", rfc: "RFC 7871 §7.2.1",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("81.2.69.0/24"),
			aa: true, answer: []string{eu}, opt: &wantOPT{udpSize: 1232, options: []string{"81.2.69.0/24/24"}}},
		{name: "ecs narrower than the network", rfc: "RFC 7871 §7.2.1: never a scope longer than the source",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("175.16.199.0/24"),
			aa: true, answer: []string{"www.gslb.test. 30 IN A 203.0.113.10"}, opt: &wantOPT{udpSize: 1232, options: []string{"175.16.199.0/24/16"}}},
		{name: "ecs seattle", rfc: "nearest region by great-circle distance",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("216.160.83.56/32"),
			aa: true, answer: []string{us}, opt: &wantOPT{udpSize: 1232, options: []string{"216.160.83.56/32/24"}}},
		{name: "ecs ipv6 france for AAAA", rfc: "RFC 7871; /56 cap",
			qname: "www.gslb.test.", qtype: dns.TypeAAAA, modify: subnet("2a02:cfc0::/48"),
			aa: true, answer: []string{"www.gslb.test. 30 IN AAAA 2001:db8:2::10"}, opt: &wantOPT{udpSize: 1232, options: []string{"[2a02:cfc0::]/48/29"}}},
		{name: "no ecs: the resolver's address", rfc: "RFC 7871 §7.1.1",
			qname: "www.gslb.test.", qtype: dns.TypeA, aa: true, answer: []string{us}},
		{name: "ecs source 0: the resolver's address, scope 0", rfc: "RFC 7871 §7.1.2",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("0.0.0.0/0"),
			aa: true, answer: []string{us}, opt: &wantOPT{udpSize: 1232, options: []string{"0.0.0.0/0/0"}}},
		{name: "any answers the addresses", rfc: "RFC 8482 §4.1",
			qname: "www.gslb.test.", qtype: dns.TypeANY, modify: subnet("81.2.69.0/24"),
			aa: true, answer: []string{eu}, opt: &wantOPT{udpSize: 1232, options: []string{"81.2.69.0/24/24"}}},
		{name: "other types are static", rfc: "the pool answers A and AAAA only",
			qname: "www.gslb.test.", qtype: dns.TypeTXT, modify: subnet("81.2.69.0/24"),
			aa: true, answer: []string{`www.gslb.test. 3600 IN TXT "steered"`}, opt: &wantOPT{udpSize: 1232, options: []string{"81.2.69.0/24/0"}}},
		{name: "the binding never leaves the server", rfc: "GSLB is answered NODATA",
			qname: "www.gslb.test.", qtype: TypeGSLB,
			aa: true, ns: []string{"gslb.test. 300 IN SOA ns1.gslb.test. hostmaster.gslb.test. 1 7200 3600 1209600 300"}},
		{name: "cname to a pooled name", rfc: "RFC 1034 §4.3.2",
			qname: "api.gslb.test.", qtype: dns.TypeA, modify: subnet("81.2.69.0/24"),
			aa: true, answer: []string{"api.gslb.test. 3600 IN CNAME www.gslb.test.", eu}, opt: &wantOPT{udpSize: 1232, options: []string{"81.2.69.0/24/24"}}},
		{name: "wildcard bound to a pool", rfc: "RFC 4592",
			qname: "x.dyn.gslb.test.", qtype: dns.TypeA, modify: subnet("81.2.69.0/24"),
			aa: true, answer: []string{"x.dyn.gslb.test. 30 IN A 198.51.100.10"}, opt: &wantOPT{udpSize: 1232, options: []string{"81.2.69.0/24/24"}}},
		{name: "no address of the family: nodata", rfc: "RFC 2308 §2.2",
			qname: "v4.gslb.test.", qtype: dns.TypeAAAA,
			aa: true, ns: []string{"gslb.test. 300 IN SOA ns1.gslb.test. hostmaster.gslb.test. 1 7200 3600 1209600 300"}},
		{name: "bad ecs on a pooled name", rfc: "RFC 7871 §7.1: bits past the source prefix are FORMERR",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: ednsWith(ecsRaw(1, 20, 0, 81, 2, 69)),
			rcode: dns.RcodeFormatError, opt: &wantOPT{udpSize: 1232}},
		{name: "ecs with a bad family on a pooled name", rfc: "RFC 7871 §6: FAMILY 1 or 2",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: ednsWith(ecsRaw(3, 24, 0, 81, 2, 69)),
			rcode: dns.RcodeFormatError},
		{name: "nothing up, pool says servfail", rfc: "pool fallback servfail",
			qname: "sf.gslb.test.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure},
	})
}

// TestGSLBUntrustedResolver: ECS from a resolver outside ecs.trusted is
// ignored; the answer is for the resolver itself and carries no ECS option.
func TestGSLBUntrustedResolver(t *testing.T) {
	_, addr := testServer(t, gslbConfig(t, netip.MustParsePrefix("192.0.2.0/24")), gslbZones)
	runCases(t, addr, []dnsCase{
		{name: "london subnet from an untrusted resolver", rfc: "RFC 7871 §7.2.1: answered as if ECS were not there",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("81.2.69.0/24"),
			aa: true, answer: []string{"www.gslb.test. 30 IN A 192.0.2.10"}, opt: &wantOPT{udpSize: 1232}},
	})
}

// TestExplainAgrees: Explain and a query on the wire give the same answer,
// for a spread of clients.
func TestExplainAgrees(t *testing.T) {
	s, addr := testServer(t, gslbConfig(t), gslbZones)
	c := new(dns.Client)
	for _, sub := range []string{"81.2.69.0/24", "216.160.83.0/24", "175.16.199.0/24", "2a02:cfc0::/32", "10.0.0.0/8", ""} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
			t.Run(sub+"/"+dns.TypeToString[qt], func(t *testing.T) {
				var ecs netip.Prefix
				q := new(dns.Msg)
				q.SetQuestion("api.gslb.test.", qt)
				if sub != "" {
					ecs = netip.MustParsePrefix(sub)
					subnet(sub)(q)
				}
				r, _, err := c.Exchange(q, addr)
				if err != nil {
					t.Fatal(err)
				}
				e, err := s.Explain("api.gslb.test", qt, netip.MustParseAddr("127.0.0.1"), ecs)
				if err != nil {
					t.Fatal(err)
				}
				if got, want := rrText(e.Reply.Answer), rrText(r.Answer); got != want {
					t.Errorf("explain answers\n%s\nthe server\n%s", got, want)
				}
				if e.Pool != "web" || len(e.Decision.Regions) != 3 {
					t.Errorf("explain: pool %q, %d region verdicts; want web and 3", e.Pool, len(e.Decision.Regions))
				}
			})
		}
	}
}

func rrText(rrs []dns.RR) string {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String() + "\n")
	}
	return b.String()
}

// TestGSLBZoneChecks: bindings are checked with file:line, and the
// behaviour of miekg/dns with a bad private record is pinned.
func TestGSLBZoneChecks(t *testing.T) {
	known := func(p string) bool { return p == "web" }
	head := "$ORIGIN gslb.test.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ 300 IN NS ns1\nns1 300 IN A 192.0.2.1\n"
	tests := []struct {
		name, body, want string
	}{
		{"unknown pool", head + "www 30 IN GSLB nope\n", "z.zone:5: unknown pool \"nope\""},
		{"two bindings", head + "www 30 IN GSLB web\nwww 30 IN GSLB other\n", "z.zone:6: a second GSLB record at www.gslb.test.: a name is bound to one pool"},
		{"gslb beside A", head + "www 30 IN A 192.0.2.9\nwww 30 IN GSLB web\n", "z.zone:6: GSLB and A/AAAA records at www.gslb.test.: the pool answers A and AAAA there"},
		{"A beside gslb", head + "www 30 IN GSLB web\nwww 30 IN AAAA 2001:db8::1\n", "z.zone:6: GSLB and A/AAAA records at www.gslb.test.: the pool answers A and AAAA there"},
		{"cname beside gslb", head + "www 30 IN GSLB web\nwww 30 IN CNAME ns1\n", "z.zone:6: CNAME and other data at www.gslb.test. (RFC 1034 §3.6.2)"},
		// miekg/dns keeps the position of a private type's parse error but
		// drops its text (privaterr.go, scan.go): if an upgrade changes that,
		// these rows fail and the message can come from the parser itself.
		{"no pool", head + "www 30 IN GSLB\n", `z.zone:5:14: unexpected newline: "\n"`},
		{"two pools", head + "www 30 IN GSLB a b\n", `z.zone:5:18: bad GSLB record: it names one pool, as in "www 30 IN GSLB web"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			z, err := ParseZone(strings.NewReader(tc.body), "gslb.test.", "z.zone")
			if err == nil {
				err = z.CheckPools(known)
			}
			if err == nil || err.Error() != tc.want {
				t.Errorf("error %v\nwant  %s", err, tc.want)
			}
			if _, ok := errors.AsType[*ZoneError](err); err != nil && !ok {
				t.Errorf("error %T, want *ZoneError", err)
			}
		})
	}
	// The GSLB record is not transferred.
	z, err := ParseZoneFile(filepath.Join(gslbZones, "gslb.test.zone"), "gslb.test.")
	if err != nil {
		t.Fatal(err)
	}
	for _, rr := range z.records {
		if rr.Header().Rrtype == TypeGSLB {
			t.Errorf("GSLB record among the transferred records: %v", rr)
		}
	}
}

// TestConfigureRefusesMissingPool: a configuration without a pool the
// served zones bind to is refused whole; the pools stay.
func TestConfigureRefusesMissingPool(t *testing.T) {
	cfg := gslbConfig(t)
	s, _ := offline(t, cfg, gslbZones)
	cfg.GSLB.Pools = cfg.GSLB.Pools[:1] // drops v4only and dead
	err := s.Configure(cfg)
	if err == nil || !strings.Contains(err.Error(), `gslb.test.zone:11: unknown pool "v4only"`) {
		t.Fatalf("Configure: %v; want a refusal naming the binding", err)
	}
	if !s.view.Load().steer.hasPool("v4only") {
		t.Error("the refused configuration's pools were applied")
	}
}

// TestFastSteerMatchesGeneral: the fast path's steered replies are byte for
// byte the general path's, over clients, types, EDNS shapes, letter case,
// trusted and untrusted resolvers; and it takes the common case.
func TestFastSteerMatchesGeneral(t *testing.T) {
	for _, trusted := range [][]netip.Prefix{nil, {netip.MustParsePrefix("10.0.0.0/8")}} {
		s, v := offline(t, gslbConfig(t, trusted...), gslbZones)
		fast := 0
		for _, name := range []string{"www.gslb.test.", "WWW.Gslb.TEST.", "v4.gslb.test.", "sf.gslb.test."} {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY} {
				for _, sub := range []string{"", "81.2.69.142/32", "81.2.69.0/24", "216.160.83.56/29", "175.16.199.0/24", "175.16.0.0/12", "2a02:cfc0::/48", "2a02:cfc0::1/128", "0.0.0.0/0", "10.20.30.0/24"} {
					for _, src := range []string{"127.0.0.1", "10.1.1.1", "::1"} {
						for _, ednsSize := range []uint16{0, 512, 1232, 4096} {
							if sub != "" && ednsSize == 0 {
								continue
							}
							q := new(dns.Msg)
							q.SetQuestion(name, qt)
							if sub != "" {
								subnet(sub)(q) // with an OPT of 1232 octets
							} else if ednsSize > 0 {
								q.SetEdns0(ednsSize, false)
							}
							if o := q.IsEdns0(); o != nil {
								o.SetUDPSize(ednsSize)
								o.SetDo(ednsSize == 4096)
							}
							req, err := q.Pack()
							if err != nil {
								t.Fatal(err)
							}
							from := netip.MustParseAddr(src)
							for tr := range numTransports {
								got, ok := s.fastAnswer(v, req, tr, from, nil)
								if !ok {
									continue
								}
								fast++
								want, _ := s.generalAnswer(v, req, tr, from, nil, nil)
								if !bytes.Equal(got, want) {
									g, w := new(dns.Msg), new(dns.Msg)
									_ = g.Unpack(got)
									_ = w.Unpack(want)
									t.Fatalf("%s %s ecs %q from %s edns %d %s:\nfast\n%v\ngeneral\n%v", name, dns.TypeToString[qt], sub, src, ednsSize, tr, g, w)
								}
							}
						}
					}
				}
			}
		}
		if fast < 500 {
			t.Errorf("fast path took %d queries; want most steered queries", fast)
		}
	}
}

// TestFastSteerAllocs: a steered answer on the fast path allocates nothing.
func TestFastSteerAllocs(t *testing.T) {
	s, v := offline(t, gslbConfig(t), gslbZones)
	q := new(dns.Msg)
	q.SetQuestion("www.gslb.test.", dns.TypeA)
	subnet("81.2.69.0/24")(q)
	req, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 512)
	src := netip.MustParseAddr("127.0.0.1")
	if n := testing.AllocsPerRun(200, func() {
		if _, ok := s.fastAnswer(v, req, udp, src, buf); !ok {
			t.Fatal("not answered on the fast path")
		}
	}); n != 0 {
		t.Errorf("%v allocations per steered answer, want 0", n)
	}
}

// TestGSLBAnswerMetrics: steered answers are counted per pool and outcome,
// once each, on either path.
func TestGSLBAnswerMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := gslbConfig(t)
	cfg.Registerer = reg
	_, addr := testServer(t, cfg, gslbZones)
	c := new(dns.Client)
	ask := func(name, sub string, qt uint16) {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion(name, qt)
		if sub != "" {
			subnet(sub)(q)
		}
		if _, _, err := c.Exchange(q, addr); err != nil {
			t.Fatal(err)
		}
	}
	ask("www.gslb.test.", "81.2.69.0/24", dns.TypeA)    // fast path, eu-west
	ask("api.gslb.test.", "81.2.69.0/24", dns.TypeAAAA) // through a CNAME: general path, eu-west
	ask("www.gslb.test.", "216.160.83.0/24", dns.TypeA) // us-east
	ask("sf.gslb.test.", "", dns.TypeA)                 // servfail
	ask("www.gslb.test.", "81.2.69.0/24", dns.TypeTXT)  // static: not counted
	for _, tc := range []struct {
		pool, outcome string
		want          float64
	}{{"web", "eu-west", 2}, {"web", "us-east", 1}, {"web", "ap-southeast", 0}, {"dead", "servfail", 1}, {"web", "fallback", 0}} {
		m, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		got := -1.0
		for _, f := range m {
			if f.GetName() != "aya_gslb_answers_total" {
				continue
			}
			for _, s := range f.GetMetric() {
				l := map[string]string{}
				for _, lp := range s.GetLabel() {
					l[lp.GetName()] = lp.GetValue()
				}
				if l["pool"] == tc.pool && l["outcome"] == tc.outcome {
					got = s.GetCounter().GetValue()
				}
			}
		}
		if got != tc.want {
			t.Errorf("aya_gslb_answers_total{pool=%q,outcome=%q} = %v, want %v", tc.pool, tc.outcome, got, tc.want)
		}
	}
}
