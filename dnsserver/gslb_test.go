package dnsserver

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/maxmind/mmdbwriter"
	"github.com/maxmind/mmdbwriter/mmdbtype"
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
func testGeo(t testing.TB) *geo.DB {
	t.Helper()
	nets := []geo.Network{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Latitude: 51.5142, Longitude: -0.0931, Country: "GB", Continent: "EU", City: "London"},
		{Prefix: netip.MustParsePrefix("216.160.83.0/24"), Latitude: 47.2513, Longitude: -122.3149, Country: "US", Continent: "NA", City: "Milton"},
		{Prefix: netip.MustParsePrefix("175.16.0.0/16"), Latitude: 43.88, Longitude: 125.3228, Country: "CN", Continent: "AS", City: "Changchun"},
		{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Latitude: 38.9, Longitude: -77.0, Country: "US", Continent: "NA"},
		{Prefix: netip.MustParsePrefix("2a02:cfc0::/29"), Latitude: 46, Longitude: 2, Country: "FR", Continent: "EU"},
	}
	return geoDB(t, nets)
}

// geoDB builds a City database of nets with geo.Build and opens it; it
// closes with the test.
func geoDB(t testing.TB, nets []geo.Network) *geo.DB {
	t.Helper()
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

func gslbConfig(t testing.TB, trusted ...netip.Prefix) Config {
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
		{name: "ecs london", rfc: "RFC 7871 §7.2.1: scope = the matched network, at most ecs.max_prefix_v4",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("81.2.69.142/32"),
			aa: true, answer: []string{eu}, opt: &wantOPT{udpSize: 1232, options: []string{"81.2.69.142/32/24"}}},
		{name: "ecs london /24", rfc: "RFC 7871 §7.2.1",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("81.2.69.0/24"),
			aa: true, answer: []string{eu}, opt: &wantOPT{udpSize: 1232, options: []string{"81.2.69.0/24/24"}}},
		{name: "ecs narrower than the network", rfc: "RFC 7871 §7.2.1: the scope is the network's",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("175.16.199.0/24"),
			aa: true, answer: []string{"www.gslb.test. 30 IN A 203.0.113.10"}, opt: &wantOPT{udpSize: 1232, options: []string{"175.16.199.0/24/16"}}},
		{name: "ecs wider than the network", rfc: "RFC 7871 §7.2.1: SCOPE > SOURCE, the source did not say enough",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("175.16.0.0/12"),
			aa: true, answer: []string{"www.gslb.test. 30 IN A 203.0.113.10"}, opt: &wantOPT{udpSize: 1232, options: []string{"175.16.0.0/12/16"}}},
		{name: "ecs in no network", rfc: "RFC 7871 §7.2.1: unknown location, the scope is the subnet cut to ecs.max_prefix_v4",
			qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet("10.0.0.0/8"),
			aa: true, answer: []string{us}, opt: &wantOPT{udpSize: 1232, options: []string{"10.0.0.0/8/24"}}},
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

// TestGSLBMappedScope: an IPv4-mapped client subnet (family 2) is placed
// as IPv4 once ecs.max_prefix_v6 reaches into its IPv4 part, and its scope
// is the IPv4 network's in IPv6 bits; below that it is cut like any IPv6
// subnet.
func TestGSLBMappedScope(t *testing.T) {
	for _, tc := range []struct {
		name  string
		maxV6 int
		sub   string
		want  string
		opt   string
	}{
		// miekg/dns prints a mapped address as IPv4, with the family 2 lengths.
		{"placed as IPv4", 128, "::ffff:81.2.69.142/128", "www.gslb.test. 30 IN A 198.51.100.10", "81.2.69.142/128/120"},
		{"cut to max_prefix_v6 inside the IPv4 part", 112, "::ffff:175.16.199.0/120", "www.gslb.test. 30 IN A 203.0.113.10", "175.16.199.0/120/112"},
		{"cut to ::/56 by default", 0, "::ffff:175.16.199.0/120", "www.gslb.test. 30 IN A 192.0.2.10", "175.16.199.0/120/56"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := gslbConfig(t)
			cfg.GSLB.ECS.MaxPrefixV6 = tc.maxV6
			_, addr := testServer(t, cfg, gslbZones)
			runCases(t, addr, []dnsCase{{name: tc.name, rfc: "RFC 7871 §6: FAMILY 2, an IPv4-mapped address",
				qname: "www.gslb.test.", qtype: dns.TypeA, modify: subnet(tc.sub),
				aa: true, answer: []string{tc.want}, opt: &wantOPT{udpSize: 1232, options: []string{tc.opt}}}})
		})
	}
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
	known := []string{"web"}
	head := "$ORIGIN gslb.test.\n@ 300 IN SOA ns1 h 1 2 3 4 5\n@ 300 IN NS ns1\nns1 300 IN A 192.0.2.1\n"
	tests := []struct {
		name, body, want string
	}{
		{"unknown pool", head + "www 30 IN GSLB nope\n", "z.zone:5: unknown pool \"nope\""},
		{"misspelt pool", head + "www 30 IN GSLB wen\n", "z.zone:5: unknown pool \"wen\" (did you mean \"web\"?)"},
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
		for _, name := range []string{"www.gslb.test.", "WWW.Gslb.TEST.", "v4.gslb.test.", "sf.gslb.test.", "x.dyn.gslb.test.", "A.b.DYN.gslb.test."} {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY} {
				for _, sub := range []string{"", "81.2.69.142/32", "81.2.69.0/24", "216.160.83.56/29", "175.16.199.0/24", "175.16.0.0/12", "2a02:cfc0::/48", "2a02:cfc0::1/128", "0.0.0.0/0", "10.20.30.0/24"} {
					for _, src := range []string{"127.0.0.1", "10.1.1.1", "::1"} {
						for _, ednsSize := range []uint16{0, 512, 1232, 4096} {
							if sub != "" && ednsSize == 0 {
								continue
							}
							req := ecsQuery(t, name, qt, sub, ednsSize, ednsSize == 4096)
							fast += fastMatchesGeneral(t, s, v, req, netip.MustParseAddr(src),
								fmt.Sprintf("%s %s ecs %q from %s edns %d", name, dns.TypeToString[qt], sub, src, ednsSize))
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
		if _, ok := s.fastAnswer(v, req, udp, src, buf, &qstate{now: testNow}); !ok {
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

// scopeNet is a network of the database TestECSScopeHoldsAnswer builds.
type scopeNet struct {
	prefix             string
	country, continent string
	lat, lon           float64
}

// scopeNets are wide networks, as GeoLite2 City has them (/10–/16 for
// IPv4, /20–/32 for IPv6), on every continent but Antarctica, one nested
// inside another.
var scopeNets = []scopeNet{
	{"81.0.0.0/10", "GB", "EU", 51.51, -0.13},
	{"81.32.0.0/16", "GB", "EU", 53.48, -2.24}, // inside 81.0.0.0/10
	{"81.64.0.0/12", "FR", "EU", 48.86, 2.35},
	{"91.0.0.0/11", "DE", "EU", 52.52, 13.40},
	{"87.32.0.0/14", "IE", "EU", 53.33, -6.25},
	{"24.0.0.0/12", "US", "NA", 40.71, -74.01},
	{"216.160.0.0/14", "US", "NA", 47.25, -122.31},
	{"175.16.0.0/13", "CN", "AS", 43.88, 125.32},
	{"126.0.0.0/10", "JP", "AS", 35.68, 139.69},
	{"1.128.0.0/11", "AU", "OC", -33.87, 151.21},
	{"200.128.0.0/12", "BR", "SA", -23.55, -46.63},
	{"41.0.0.0/11", "ZA", "AF", -26.20, 28.05},
	{"2a00:1000::/20", "GB", "EU", 51.51, -0.13},
	{"2a01:c000::/22", "FR", "EU", 48.86, 2.35},
	{"2a02:8100::/32", "DE", "EU", 52.52, 13.40},
	{"2a0a:1000::/32", "IE", "EU", 53.33, -6.25},
	{"2600:1000::/24", "US", "NA", 40.71, -74.01},
	{"2406:3000::/28", "SG", "AS", 1.35, 103.82},
	{"2400:4000::/22", "JP", "AS", 35.68, 139.69},
	{"2001:8000::/20", "AU", "OC", -33.87, 151.21},
	{"2800:100::/24", "BR", "SA", -23.55, -46.63},
	{"2c0f:f000::/20", "ZA", "AF", -26.20, 28.05},
}

// scopeDB writes scopeNets as a MaxMind DB of the given type with
// mmdbwriter: a City database has coordinates, a Country one only
// country, registered country and continent.
func scopeDB(t *testing.T, dbType string) string {
	t.Helper()
	tree, err := mmdbwriter.New(mmdbwriter.Options{DatabaseType: dbType, Description: map[string]string{"en": "TestECSScopeHoldsAnswer"}, IPVersion: 6, RecordSize: 28})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range scopeNets {
		rec := mmdbtype.Map{
			"country":            mmdbtype.Map{"iso_code": mmdbtype.String(n.country)},
			"registered_country": mmdbtype.Map{"iso_code": mmdbtype.String(n.country)},
			"continent":          mmdbtype.Map{"code": mmdbtype.String(n.continent)},
		}
		if strings.Contains(dbType, "City") {
			rec["location"] = mmdbtype.Map{"latitude": mmdbtype.Float64(n.lat), "longitude": mmdbtype.Float64(n.lon)}
		}
		_, ipnet, err := net.ParseCIDR(n.prefix)
		if err != nil {
			t.Fatal(err)
		}
		if err := tree.Insert(ipnet, rec); err != nil {
			t.Fatalf("%s: %v", n.prefix, err)
		}
	}
	path := filepath.Join(t.TempDir(), dbType+".mmdb")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tree.WriteTo(f); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// scopePools are two pools of weighted multi-endpoint regions (more
// endpoints than answers), with country and continent maps and fences.
func scopePools() []*policy.Pool {
	euCentral := policy.Region{Name: "eu-central", Latitude: 50.11, Longitude: 8.68, Country: "DE", Continent: "EU"}
	members := func(n int) []policy.Member {
		var ms []policy.Member
		for i, r := range []policy.Region{usEast, euWest, apSoutheast, euCentral} {
			m := policy.Member{Region: r}
			for j := range n - i%2 { // 4 or 3 endpoints
				m.Endpoints = append(m.Endpoints, policy.Endpoint{
					Name:   fmt.Sprintf("%s-%d", r.Name, j),
					Addrs:  []netip.Addr{netip.AddrFrom4([4]byte{10, byte(i), byte(j), 1}), netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, byte(i), byte(j), 15: 1})},
					Weight: 1 + (i+j)%3,
				})
			}
			ms = append(ms, m)
		}
		return ms
	}
	return []*policy.Pool{
		{Name: "one", TTL: 30, Answers: 1, Members: members(4),
			CountryMap:   map[string]string{"AU": "ap-southeast", "FR": "eu-central"},
			ContinentMap: map[string]string{"SA": "us-east", "AF": "eu-west"},
			Fences:       []policy.Fence{{Name: "de", Countries: []string{"DE"}, Regions: []string{"eu-central"}}}},
		{Name: "two", TTL: 30, Answers: 2, Members: members(4),
			CountryMap:   map[string]string{"GB": "eu-central", "JP": "us-east"},
			ContinentMap: map[string]string{"OC": "us-east", "SA": "eu-west"},
			Fences:       []policy.Fence{{Name: "eu", Continents: []string{"EU"}, Regions: []string{"eu-west", "eu-central"}}}},
	}
}

// TestECSScopeHoldsAnswer: every steered reply's ECS scope covers only
// clients that get the same answer (RFC 7871 §7.3.1: a resolver hands the
// answer to every client inside the scope). For a sample of client subnets
// of both families, with sources at, above and below ecs.max_prefix, the
// /24s (/56s) at both ends of the scope and some inside it are asked too,
// and must get the same addresses: through geo networks, overrides nested
// in them, country and continent maps, fences, weighted picks and load
// shedding, with a City, a Country or no database.
func TestECSScopeHoldsAnswer(t *testing.T) {
	city, country := scopeDB(t, "GeoIP2-City"), scopeDB(t, "GeoLite2-Country")
	overrides := filepath.Join("testdata", "ecs", "overrides.yaml")
	snap := state.NewStatic(&state.Snapshot{
		Down: map[state.EndpointKey]string{{Pool: "two", Region: "us-east", Endpoint: "us-east-1"}: "test"},
		Shed: map[string]state.Shed{"eu-west": {Fraction: 0.5, Why: "test"}, "us-east": {Fraction: 0.3, Why: "test"}, "ap-southeast": {Fraction: 0.4, Why: "test"}},
	})
	for _, tc := range []struct {
		name  string
		geo   geo.Config
		noGeo bool
		// wide is the share of replies whose scope must be wider than
		// ecs.max_prefix: scopes follow the geo networks, so that caches
		// stay efficient.
		wide float64
	}{
		{name: "city with overrides", geo: geo.Config{Database: city, Overrides: overrides}, wide: 0.6},
		{name: "city", geo: geo.Config{Database: city}, wide: 0.6},
		{name: "country with overrides", geo: geo.Config{Database: country, Overrides: overrides}, wide: 0.6},
		{name: "overrides only", geo: geo.Config{Overrides: overrides}, wide: 0.1},
		{name: "no geo", noGeo: true, wide: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			cfg.GSLB = GSLB{Pools: scopePools(), State: snap}
			if !tc.noGeo {
				db, err := geo.Open(tc.geo)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { _ = db.Close() })
				cfg.GSLB.Geo = db
			}
			_, addr := testServer(t, cfg, "testdata/ecs")
			wide, replies := checkScopes(t, addr, rand.New(rand.NewPCG(7871, uint64(len(tc.name)))))
			if float64(wide) < tc.wide*float64(replies) {
				t.Errorf("%d of %d replies have a scope wider than ecs.max_prefix, want at least %.0f%%", wide, replies, 100*tc.wide)
			}
		})
	}
}

// checkScopes asks for a sample of client subnets and, for each reply,
// for other subnets inside its scope. It returns how many of the sampled
// replies had a scope wider than ecs.max_prefix, and of how many.
func checkScopes(t *testing.T, addr string, rng *rand.Rand) (wide, replies int) {
	t.Helper()
	c := &dns.Client{Net: "udp"}
	ask := func(name string, qtype uint16, sub netip.Prefix) (answer string, scope int) {
		t.Helper()
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		subnet(sub.String())(q)
		r, _, err := c.Exchange(q, addr)
		if err != nil {
			t.Fatalf("%s %s ecs %s: %v", name, dns.TypeToString[qtype], sub, err)
		}
		var as []string
		for _, rr := range r.Answer {
			switch rr := rr.(type) {
			case *dns.A:
				as = append(as, rr.A.String())
			case *dns.AAAA:
				as = append(as, rr.AAAA.String())
			}
		}
		slices.Sort(as)
		scope = -1
		if o := r.IsEdns0(); o != nil {
			for _, e := range o.Option {
				if e, ok := e.(*dns.EDNS0_SUBNET); ok {
					scope = int(e.SourceScope)
				}
			}
		}
		return dns.RcodeToString[r.Rcode] + " " + strings.Join(as, " "), scope
	}
	anchors := []string{"5.0.0.0/8", "100.0.0.0/8", "2a03::/16", "2604::/16"} // gaps: no record
	for _, n := range scopeNets {
		anchors = append(anchors, n.prefix)
	}
	for _, o := range []string{"81.16.0.0/16", "81.40.128.0/20", "81.2.69.0/28", "24.8.0.0/13", "100.64.0.0/12", "2a00:1800::/32", "2600:1080::/40"} {
		anchors = append(anchors, o, o) // overrides twice as often: they are small
	}
	sources4 := []int{24, 24, 24, 32, 20, 16, 12, 8}
	sources6 := []int{56, 56, 56, 64, 128, 48, 32, 24}
	const samples = 240
	asked, bad := 0, 0
	for i := range samples {
		anchor := netip.MustParsePrefix(anchors[rng.IntN(len(anchors))])
		mapped := i%40 == 39
		for mapped && !anchor.Addr().Is4() {
			anchor = netip.MustParsePrefix(anchors[rng.IntN(len(anchors))])
		}
		a := randomIn(rng, anchor)
		source, probe := sources4[rng.IntN(len(sources4))], 24
		if a.Is6() {
			source, probe = sources6[rng.IntN(len(sources6))], 56
		}
		if mapped {
			// An IPv4 client as an IPv4-mapped IPv6 subnet (family 2).
			a, source, probe = netip.AddrFrom16(a.As16()), 96+source, 56
		}
		sub, _ := a.Prefix(source)
		name := [...]string{"one.ecs.test.", "two.ecs.test.", "via.ecs.test."}[i%3]
		for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
			want, scope := ask(name, qtype, sub)
			asked++
			replies++
			if scope >= 0 && scope < probe {
				wide++
			}
			if scope < 0 {
				t.Errorf("%s %s ecs %s: no client subnet option in the reply", name, dns.TypeToString[qtype], sub)
				continue
			}
			held, _ := sub.Addr().Prefix(scope)
			for _, p := range probesIn(rng, held, probe) {
				got, _ := ask(name, qtype, p)
				asked++
				if got != want {
					bad++
					if bad <= 10 {
						t.Errorf("%s %s: ecs %s gets %q with scope %d, but %s inside %s gets %q", name, dns.TypeToString[qtype], sub, want, scope, p, held, got)
					}
				}
			}
		}
	}
	if bad > 0 {
		t.Errorf("%d answers of %d disagree with the scope of the reply they are inside", bad, asked)
	}
	t.Logf("%d client subnets, %d replies (%d with a scope wider than ecs.max_prefix), %d queries, %d inconsistent", samples, replies, wide, asked, bad)
	return wide, replies
}

// randomIn is a random address of p.
func randomIn(rng *rand.Rand, p netip.Prefix) netip.Addr {
	b := p.Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 12
	}
	for i := off + p.Bits()/8; i < 16; i++ {
		r := byte(rng.Uint32())
		if bit := (p.Bits() - (i-off)*8); bit > 0 {
			r &= 0xff >> bit
		}
		b[i] |= r
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// probesIn are /bits subnets of p (p itself when it is as narrow): the
// first, the last and four others at random.
func probesIn(rng *rand.Rand, p netip.Prefix, bits int) []netip.Prefix {
	if p.Bits() >= bits {
		q, _ := p.Addr().Prefix(bits)
		return []netip.Prefix{q}
	}
	first, _ := p.Addr().Prefix(bits)
	last, _ := lastAddr(p).Prefix(bits)
	out := []netip.Prefix{first, last}
	for range 4 {
		q, _ := randomIn(rng, p).Prefix(bits)
		out = append(out, q)
	}
	return out
}

// lastAddr is the highest address of p.
func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As16()
	off := 0
	if p.Addr().Is4() {
		off = 12
	}
	for i := range (16 - off) * 8 {
		if i >= p.Bits() {
			b[off+i/8] |= 0x80 >> (i % 8)
		}
	}
	a := netip.AddrFrom16(b)
	if p.Addr().Is4() {
		a = a.Unmap()
	}
	return a
}

// TestFastSteerFollowsState: the fast path's answers follow every new
// snapshot at once, and stay the general path's, for clients of many
// scopes.
func TestFastSteerFollowsState(t *testing.T) {
	cfg := gslbConfig(t)
	src := state.NewStatic(&state.Snapshot{Version: 1})
	cfg.GSLB.State = src
	s, v := offline(t, cfg, gslbZones)
	answer := func(m *dns.Msg) string {
		if len(m.Answer) == 0 {
			return ""
		}
		return m.Answer[0].(*dns.A).A.String()
	}
	subnets := []string{"81.2.69.0/24", "81.2.69.142/32", "216.160.83.0/24", "175.16.199.0/24", "10.20.30.0/24"}
	for _, tc := range []struct {
		name string
		snap *state.Snapshot
		eu   string // what the London client gets
	}{
		{"all up", &state.Snapshot{Version: 1}, "198.51.100.10"},
		{"eu-west drained", &state.Snapshot{Version: 2, DrainedRegions: map[string]string{"eu-west": "maintenance"}}, ""},
		{"all up again", &state.Snapshot{Version: 3}, "198.51.100.10"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src.Set(tc.snap)
			for range 3 { // the first asks decide, the next hit the cache
				for _, sub := range subnets {
					askSteered(t, s, v, sub)
				}
			}
			got := askSteered(t, s, v, "81.2.69.0/24")
			if tc.eu != "" && answer(got) != tc.eu {
				t.Errorf("London: %s, want %s", answer(got), tc.eu)
			}
			if tc.eu == "" && answer(got) == "198.51.100.10" {
				t.Errorf("London: still the drained eu-west's %s", answer(got))
			}
		})
	}
}

// BenchmarkSteer measures steered answers on the fast path, from request
// bytes to reply bytes, for ECS clients of 6144 /24s of the test database's
// cities in turn (bench/dns's geo_ecs has as many):
//
//	go test -run=^$ -bench=BenchmarkSteer -benchmem ./dnsserver/
func BenchmarkSteer(b *testing.B) {
	s, v := offline(b, gslbConfig(b), gslbZones)
	var reqs [][]byte
	for _, base := range []string{"81.2.69.0", "216.160.83.0", "175.16.199.0", "2.125.160.0", "89.160.20.0", "67.43.156.0"} {
		a := netip.MustParseAddr(base).As4()
		for i := range 1024 {
			sub := netip.PrefixFrom(netip.AddrFrom4([4]byte{a[0], a[1] ^ byte(i>>8), a[2] ^ byte(i), 0}), 24)
			q := new(dns.Msg)
			q.SetQuestion("www.gslb.test.", dns.TypeA)
			subnet(sub.String())(q)
			req, err := q.Pack()
			if err != nil {
				b.Fatal(err)
			}
			reqs = append(reqs, req)
		}
	}
	src := netip.MustParseAddr("127.0.0.1")
	buf := make([]byte, 0, 512)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if out, _ := s.handle(v, reqs[i%len(reqs)], udp, src, buf[:0]); len(out) == 0 {
			b.Fatal("no reply")
		}
		i++
	}
}

// askSteered asks www.gslb.test A for client subnet sub on the fast path
// and on the general path, fails unless both answer byte for byte alike,
// and returns the reply.
func askSteered(t *testing.T, s *Server, v *view, sub string) *dns.Msg {
	t.Helper()
	q := new(dns.Msg)
	q.SetQuestion("www.gslb.test.", dns.TypeA)
	subnet(sub)(q)
	req, err := q.Pack()
	if err != nil {
		t.Fatal(err)
	}
	from := netip.MustParseAddr("127.0.0.1")
	got, ok := s.fastAnswer(v, req, udp, from, nil, &qstate{now: testNow})
	if !ok {
		t.Fatalf("%s: not answered on the fast path", sub)
	}
	want, _ := s.generalAnswer(v, req, udp, from, nil, nil, &qstate{now: testNow})
	fast, general := new(dns.Msg), new(dns.Msg)
	if err := fast.Unpack(got); err != nil {
		t.Fatal(err)
	}
	if err := general.Unpack(want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s: fast\n%v\ngeneral\n%v", sub, fast, general)
	}
	return fast
}

// TestFastSteerFollowsGeoReload: answers the fast path remembers per
// client subnet (steercache.go) give way to a reloaded geo database at the
// next query: London's network moved to Seattle is answered from us-east,
// byte for byte as the general path answers, and a client whose network
// did not move keeps its answer.
func TestFastSteerFollowsGeoReload(t *testing.T) {
	nets := []geo.Network{
		{Prefix: netip.MustParsePrefix("81.2.69.0/24"), Latitude: 51.5142, Longitude: -0.0931, Country: "GB", Continent: "EU", City: "London"},
		{Prefix: netip.MustParsePrefix("216.160.83.0/24"), Latitude: 47.2513, Longitude: -122.3149, Country: "US", Continent: "NA", City: "Milton"},
	}
	db := geoDB(t, nets)
	cfg := gslbConfig(t)
	cfg.GSLB.Geo = db
	s, v := offline(t, cfg, gslbZones)
	ask := func(sub string) string {
		t.Helper()
		m := askSteered(t, s, v, sub)
		if len(m.Answer) != 1 {
			t.Fatalf("%s: %v", sub, m)
		}
		return m.Answer[0].(*dns.A).A.String()
	}
	const eu, us = "198.51.100.10", "192.0.2.10"
	for range 3 {
		if got := ask("81.2.69.0/24"); got != eu {
			t.Fatalf("London before the reload: %s, want %s", got, eu)
		}
		if got := ask("216.160.83.0/24"); got != us {
			t.Fatalf("Milton before the reload: %s, want %s", got, us)
		}
	}
	nets[0].Latitude, nets[0].Longitude, nets[0].Country, nets[0].Continent, nets[0].City = 47.6062, -122.3321, "US", "NA", "Seattle"
	var buf bytes.Buffer
	if err := geo.Build(&buf, nets); err != nil {
		t.Fatal(err)
	}
	before := db.Version()
	if err := os.WriteFile(db.Info().Path, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := db.Reload(); err != nil {
		t.Fatal(err)
	}
	if db.Version() == before {
		t.Fatalf("Version %d did not move with the reload", before)
	}
	for range 3 {
		if got := ask("81.2.69.0/24"); got != us {
			t.Fatalf("London's network after its move to Seattle: %s, want %s", got, us)
		}
		if got := ask("216.160.83.0/24"); got != us {
			t.Fatalf("Milton after the reload: %s, want %s", got, us)
		}
	}
}

// TestFastSteerNoData: a pool with no address of the family is answered
// NODATA (the zone's SOA) on the fast path, with the client subnet echoed
// and scoped as for an answer, and counted as NODATA by rate limiting;
// a name in another case goes to the general path (which writes the SOA's
// owner out). TestFastSteerMatchesGeneral holds the bytes to the general
// path's.
func TestFastSteerNoData(t *testing.T) {
	s, v := offline(t, gslbConfig(t), gslbZones)
	src := netip.MustParseAddr("127.0.0.1")
	for _, c := range []struct {
		name, sub string
		edns      uint16
		fast      bool
	}{
		{"v4.gslb.test.", "", 0, true},
		{"v4.gslb.test.", "81.2.69.0/24", 1232, true},
		{"v4.gslb.test.", "2a02:cfc0::/48", 1232, true},
		{"V4.gslb.test.", "81.2.69.0/24", 1232, false},
	} {
		req := ecsQuery(t, c.name, dns.TypeAAAA, c.sub, c.edns, false)
		qs := qstate{now: testNow}
		out, ok := s.fastAnswer(v, req, udp, src, nil, &qs)
		if ok != c.fast {
			t.Errorf("%s AAAA ecs %q: fast path %v, want %v", c.name, c.sub, ok, c.fast)
			continue
		}
		if !ok {
			continue
		}
		m := new(dns.Msg)
		if err := m.Unpack(out); err != nil {
			t.Fatal(err)
		}
		if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 0 || len(m.Ns) != 1 || m.Ns[0].Header().Rrtype != dns.TypeSOA || !m.Authoritative {
			t.Errorf("%s AAAA ecs %q: not a NODATA reply:\n%v", c.name, c.sub, m)
		}
		if qs.kind != rrlNoData {
			t.Errorf("%s AAAA ecs %q: rate limiting class %v, want NODATA", c.name, c.sub, qs.kind)
		}
		if fastMatchesGeneral(t, s, v, req, src, c.name+" AAAA "+c.sub) == 0 {
			t.Errorf("%s AAAA ecs %q: no transport took the fast path", c.name, c.sub)
		}
	}
}

// FuzzFastSteerMatchesGeneral sends arbitrary packets to the steered test
// zone, from a trusted resolver: where the fast path answers (answers,
// NODATA), the reply and its rate-limiting class are the general path's.
//
//	go test -run=^$ -fuzz=FuzzFastSteerMatchesGeneral -fuzztime=3m ./dnsserver/
func FuzzFastSteerMatchesGeneral(f *testing.F) {
	s, v := offline(f, gslbConfig(f), gslbZones)
	for _, name := range []string{"www.gslb.test.", "v4.gslb.test.", "sf.gslb.test.", "x.dyn.gslb.test.", "A.b.DYN.gslb.test.", "*.dyn.gslb.test."} {
		for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA, dns.TypeANY} {
			for _, sub := range []string{"", "81.2.69.0/24", "2a02:cfc0::/48", "0.0.0.0/0"} {
				f.Add(ecsQuery(f, name, qt, sub, 1232, false))
			}
		}
	}
	src := netip.MustParseAddr("127.0.0.1")
	f.Fuzz(func(t *testing.T, req []byte) {
		fastMatchesGeneral(t, s, v, req, src, "fuzzed query")
	})
}

// TestFastSteerWildcard: a name synthesised from a steered wildcard is
// steered on the fast path, in any case, with and without ECS, counted by
// rate limiting under the wildcard; the bytes are the general path's.
func TestFastSteerWildcard(t *testing.T) {
	s, v := offline(t, gslbConfig(t), gslbZones)
	src := netip.MustParseAddr("127.0.0.1")
	var w [256]byte
	l, _ := dns.PackDomainName("*.dyn.gslb.test.", w[:], 0, nil, false)
	for _, name := range []string{"x.dyn.gslb.test.", "A.b.DYN.gslb.test."} {
		for _, sub := range []string{"", "81.2.69.0/24", "2a02:cfc0::/48"} {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
				req := ecsQuery(t, name, qt, sub, 1232, false)
				qs := qstate{now: testNow}
				if _, ok := s.fastAnswer(v, req, udp, src, nil, &qs); !ok {
					t.Errorf("%s %s ecs %q: general path", name, dns.TypeToString[qt], sub)
					continue
				}
				if !bytes.Equal(qs.key.bytes(), w[:l]) {
					t.Errorf("%s %s ecs %q: rate limited under %q, want the wildcard", name, dns.TypeToString[qt], sub, qs.key.bytes())
				}
				fastMatchesGeneral(t, s, v, req, src, name+" "+sub)
			}
		}
	}
}
