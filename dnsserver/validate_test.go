package dnsserver

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/internal/testutil"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// Issue 12's first acceptance point: a real validating resolver (Unbound,
// the zone's key as its trust anchor) returns secure (AD) answers from a
// zone AYA signs and serves.

const (
	validateZone = "gslb.example.com."
	validateFile = "testdata/validate/gslb.example.com.zone"
)

// vclient is where a query comes from: a client of a region, whose subnet
// the test sends Unbound as ECS (Unbound forwards it), or no one (no ECS:
// the authority sees Unbound's own address).
type vclient int

const (
	noECS vclient = iota
	clientEU
	clientNA
	clientAS
	clientEU6 // an IPv6 client in Europe
)

// Unbound keeps every answer that carries ECS (scope 0 included) in its
// subnet cache until its TTL runs out, and unbound-control 1.17 cannot
// flush that cache: each phase of a test (a failover, a rollover step)
// asks from subnets of its own, one /24 per region and phase, all in
// validateGeo. Queries without ECS reach the authority without it (the
// resolver sends none of its own: startUnbound), and their answers go to
// the regular cache, which unbound-control flushes.
const maxPhases = 4

// subnet is c's subnet in phase p (the zero Prefix for noECS).
func (c vclient) subnet(p int) netip.Prefix {
	switch c {
	case clientEU:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{81, 2, byte(69 + p), 0}), 24)
	case clientNA:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{216, 160, byte(83 + p), 0}), 24)
	case clientAS:
		return netip.PrefixFrom(netip.AddrFrom4([4]byte{175, 16, byte(199 + p), 0}), 24)
	case clientEU6:
		return netip.PrefixFrom(netip.AddrFrom16([16]byte{0x2a, 0x02, 0xcf, 0xc0, 0, byte(p)}), 48)
	}
	return netip.Prefix{}
}

// validateGeo is a City database (geo.Build) with every phase's subnets:
// London, Seattle, Changchun and Paris (IPv6); and loopback, Unbound's address, in
// Virginia.
func validateGeo(t *testing.T) *geo.DB {
	t.Helper()
	var nets []geo.Network
	for p := range maxPhases {
		nets = append(nets,
			// A city of its own for each phase's network: geo.Build would
			// merge adjacent networks with the same data, and the answers'
			// scope with them.
			geo.Network{Prefix: clientEU.subnet(p), Latitude: 51.5142, Longitude: -0.0931, Country: "GB", Continent: "EU", City: fmt.Sprint("London ", p)},
			geo.Network{Prefix: clientNA.subnet(p), Latitude: 47.2513, Longitude: -122.3149, Country: "US", Continent: "NA", City: fmt.Sprint("Milton ", p)},
			geo.Network{Prefix: clientAS.subnet(p), Latitude: 43.88, Longitude: 125.3228, Country: "CN", Continent: "AS", City: fmt.Sprint("Changchun ", p)},
			geo.Network{Prefix: clientEU6.subnet(p), Latitude: 48.86, Longitude: 2.35, Country: "FR", Continent: "EU", City: fmt.Sprint("Paris ", p)},
		)
	}
	nets = append(nets, geo.Network{Prefix: netip.MustParsePrefix("127.0.0.0/8"), Latitude: 38.9, Longitude: -77.0, Country: "US", Continent: "NA"})
	return geoDB(t, nets)
}

// validateCase is one query to the resolver and what it must answer.
type validateCase struct {
	name   string
	rfc    string // the rule the row checks
	qname  string // relative to validateZone
	qtype  uint16
	client vclient
	rcode  int
	answer []string // the answer section without RRSIGs, TTLs ignored
	// insecure: the answer is not expected to be AD (an unsigned zone).
	insecure bool
}

// run asks r in phase p and checks the reply: the rcode, the answer and
// the AD bit, with RRSIGs present when the answer is secure.
func (c validateCase) run(t *testing.T, r *resolver, p int) *dns.Msg {
	t.Helper()
	qname := c.qname + "." + validateZone
	if c.qname == "@" {
		qname = validateZone
	}
	reply := r.query(t, qname, c.qtype, c.client.subnet(p))
	if reply.Rcode != c.rcode {
		t.Errorf("%s %s: rcode %s, want %s (EDE %q)", qname, dns.TypeToString[c.qtype], rcodeName(reply.Rcode), rcodeName(c.rcode), ede(reply))
	}
	if reply.AuthenticatedData == c.insecure {
		t.Errorf("%s %s (client %v): AD %v, want %v (%s; EDE %q)", qname, dns.TypeToString[c.qtype], c.client.subnet(p), reply.AuthenticatedData, !c.insecure, c.rfc, ede(reply))
	}
	want := make([]string, len(c.answer))
	for i, s := range c.answer {
		rr, err := dns.NewRR(s)
		if err != nil {
			t.Fatalf("bad RR in test table %q: %v", s, err)
		}
		rr.Header().Ttl = 0
		want[i] = rr.String()
	}
	slices.Sort(want)
	if got := answerText(reply); !slices.Equal(got, want) {
		t.Errorf("%s %s (client %v): answer\n got %q\nwant %q", qname, dns.TypeToString[c.qtype], c.client.subnet(p), got, want)
	}
	if !c.insecure && len(reply.Answer) > 0 && !hasRRSIG(reply.Answer) {
		t.Errorf("%s %s: a secure answer without RRSIGs", qname, dns.TypeToString[c.qtype])
	}
	if t.Failed() {
		t.Logf("reply:\n%v", reply)
	}
	return reply
}

func hasRRSIG(rrs []dns.RR) bool {
	return slices.ContainsFunc(rrs, func(rr dns.RR) bool { return rr.Header().Rrtype == dns.TypeRRSIG })
}

// staticCases are the rows of the zone's static part: what any signer and
// server must get right.
func staticCases() []validateCase {
	const z = validateZone
	return []validateCase{
		{name: "static A", rfc: "RFC 4035 §3.1.1", qname: "static", qtype: dns.TypeA,
			answer: []string{"static." + z + " A 192.0.2.10"}},
		{name: "static AAAA", rfc: "RFC 4035 §3.1.1", qname: "static", qtype: dns.TypeAAAA,
			answer: []string{"static." + z + " AAAA 2001:db8::10"}},
		{name: "apex SOA", rfc: "RFC 4035 §3.1.1", qname: "@", qtype: dns.TypeSOA,
			answer: []string{z + " SOA ns1." + z + " hostmaster." + z + " 1 7200 3600 1209600 300"}},
		{name: "cname chain", rfc: "RFC 4035 §3.1.1: each CNAME RRset signed", qname: "alias", qtype: dns.TypeA,
			answer: []string{"alias." + z + " CNAME alias2." + z, "alias2." + z + " CNAME static." + z, "static." + z + " A 192.0.2.10"}},
		{name: "nxdomain", rfc: "RFC 4035 §3.1.3.2: NSEC covering the name and the wildcard", qname: "nope", qtype: dns.TypeA,
			rcode: dns.RcodeNameError},
		{name: "nxdomain below a name", rfc: "RFC 4035 §3.1.3.2", qname: "x.static", qtype: dns.TypeA,
			rcode: dns.RcodeNameError},
		{name: "nodata", rfc: "RFC 4035 §3.1.3.1: the name's NSEC, without the type", qname: "static", qtype: dns.TypeTXT},
		{name: "nodata at an empty non-terminal", rfc: "RFC 4035 §3.1.3.1: the NSEC that covers it", qname: "wild", qtype: dns.TypeA},
		{name: "wildcard", rfc: "RFC 4035 §3.1.3.3: NSEC proving no closer match", qname: "x.wild", qtype: dns.TypeA,
			answer: []string{"x.wild." + z + " A 192.0.2.77"}},
		{name: "wildcard, two labels", rfc: "RFC 4035 §3.1.3.3", qname: "a.b.wild", qtype: dns.TypeTXT,
			answer: []string{`a.b.wild.` + z + ` TXT "under wild"`}},
		{name: "wildcard nodata", rfc: "RFC 4035 §3.1.3.4", qname: "x.wild", qtype: dns.TypeMX},
		{name: "DS of a signed delegation", rfc: "RFC 4035 §3.1.4", qname: "sub", qtype: dns.TypeDS,
			answer: []string{"sub." + z + " DS 12345 13 2 0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF0123456789ABCDEF"}},
		{name: "no DS at an unsigned delegation", rfc: "RFC 4035 §3.1.4.1: the NSEC at the cut, NS without DS", qname: "insecure", qtype: dns.TypeDS},
		{name: "signed answer over the UDP size", rfc: "RFC 4035 §3.1: TC over UDP, the resolver asks over TCP", qname: "big", qtype: dns.TypeTXT,
			answer: signedBigTXT()},
	}
}

// signedBigTXT is the big TXT RRset of the test zone, whose signed answer does
// not fit in 1232 octets.
func signedBigTXT() []string {
	var out []string
	for _, w := range []string{"one", "two", "three", "four", "five", "six"} {
		out = append(out, fmt.Sprintf(`big.%s TXT "%s %s"`, validateZone, strings.Repeat("0123456789", 19), w))
	}
	return out
}

// insecure returns cs marked not AD (an unsigned zone).
func insecure(cs []validateCase) []validateCase {
	out := slices.Clone(cs)
	for i := range out {
		out[i].insecure = true
	}
	return out
}

// validateRegions are three regions on three continents.
var (
	vUSEast = policy.Region{Name: "us-east", Latitude: 39.04, Longitude: -77.49, Country: "US", Continent: "NA"}
	vEUWest = policy.Region{Name: "eu-west", Latitude: 53.35, Longitude: -6.26, Country: "IE", Continent: "EU"}
	vAPSE   = policy.Region{Name: "ap-southeast", Latitude: 1.29, Longitude: 103.85, Country: "SG", Continent: "AS"}
)

// validatePools are the pools of the zone's steered names: web
// (dual-stack, a region per continent, one endpoint each) and api
// (IPv4 only, two regions of two endpoints, two answers).
func validatePools() []*policy.Pool {
	ep := func(name string, addrs ...string) policy.Endpoint {
		e := policy.Endpoint{Name: name, Weight: 1}
		for _, a := range addrs {
			e.Addrs = append(e.Addrs, netip.MustParseAddr(a))
		}
		return e
	}
	return []*policy.Pool{
		{Name: "web", TTL: 30, Answers: 1, Members: []policy.Member{
			{Region: vUSEast, Endpoints: []policy.Endpoint{ep("use1", "192.0.2.1", "2001:db8:1::1")}},
			{Region: vEUWest, Endpoints: []policy.Endpoint{ep("euw1", "198.51.100.1", "2001:db8:2::1")}},
			{Region: vAPSE, Endpoints: []policy.Endpoint{ep("apse1", "203.0.113.1", "2001:db8:3::1")}},
		}},
		{Name: "api", TTL: 60, Answers: 2, Members: []policy.Member{
			{Region: vEUWest, Endpoints: []policy.Endpoint{ep("euw1", "198.51.100.11"), ep("euw2", "198.51.100.12")}},
			{Region: vAPSE, Endpoints: []policy.Endpoint{ep("apse1", "203.0.113.11"), ep("apse2", "203.0.113.12")}},
		}},
	}
}

// ayaServer is AYA serving the validation zone on ayaAddr.
type ayaServer struct {
	*Server
	addr  netip.AddrPort
	state *state.Static
}

// startAYA serves zs (steering with validatePools, validateGeo and a state the
// test flips) on ayaAddr, port 0; it stops with the test.
func startAYA(t *testing.T, zs *Zones) *ayaServer {
	t.Helper()
	st := state.NewStatic(nil)
	cfg := testConfig()
	cfg.Listen = []string{ayaAddr + ":0"}
	cfg.UDPSockets = 1
	cfg.GSLB = GSLB{Pools: validatePools(), Geo: validateGeo(t), State: st}
	s := New(cfg)
	if err := s.Publish(zs, cfg); err != nil {
		t.Fatal(err)
	}
	listenAndServe(t, s)
	return &ayaServer{Server: s, addr: s.UDPAddrs()[0], state: st}
}

// validateZoneParsed is the test zone as AYA parses it.
func validateZoneParsed(t *testing.T) *Zone {
	t.Helper()
	f, err := os.Open(validateFile)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	z, err := ParseZone(f, validateZone, validateFile)
	if err != nil {
		t.Fatal(err)
	}
	if err := z.CheckPools([]string{"api", "web"}); err != nil {
		t.Fatal(err)
	}
	return z
}

// TestUnboundResolvesUnsigned: the harness on an unsigned zone. Unbound,
// with no trust anchor for it, resolves AYA's answers, none AD, before and
// after a region fails.
func TestUnboundResolvesUnsigned(t *testing.T) {
	t.Parallel()
	zs, err := NewZones(validateZoneParsed(t))
	if err != nil {
		t.Fatal(err)
	}
	aya := startAYA(t, zs)
	r := startUnbound(t, stubZone{name: validateZone, addr: aya.addr})
	runPhase(t, r, 0, insecure(append(staticCases(), steeredCases()...)))
	aya.failEUWest()
	runPhase(t, r, 1, insecure(failoverCases()))
}

// runPhase runs cs in phase p.
func runPhase(t *testing.T, r *resolver, p int, cs []validateCase) {
	t.Helper()
	for _, c := range cs {
		t.Run(fmt.Sprintf("%d/%s", p, c.name), func(t *testing.T) { c.run(t, r, p) })
	}
}

// failEUWest marks every endpoint of eu-west down: its clients go to the
// next nearest region of each pool.
func (a *ayaServer) failEUWest() {
	a.state.Set(&state.Snapshot{Version: 1, Down: map[state.EndpointKey]string{
		{Pool: "web", Region: "eu-west", Endpoint: "euw1"}: "probe timeout",
		{Pool: "api", Region: "eu-west", Endpoint: "euw1"}: "probe timeout",
		{Pool: "api", Region: "eu-west", Endpoint: "euw2"}: "probe timeout",
	}})
}

// failoverCases are the rows of steered names for an EU client once
// eu-west is down (failEUWest): the same names, new answers.
func failoverCases() []validateCase {
	const z = validateZone
	return []validateCase{
		{name: "steered A, EU client, eu-west down", rfc: "RFC 4035 §3.1.1", qname: "www", qtype: dns.TypeA, client: clientEU,
			answer: []string{"www." + z + " A 192.0.2.1"}},
		{name: "steered AAAA, EU client, eu-west down", qname: "www", qtype: dns.TypeAAAA, client: clientEU,
			answer: []string{"www." + z + " AAAA 2001:db8:1::1"}},
		{name: "steered AAAA, EU client with an IPv6 subnet, eu-west down", qname: "www", qtype: dns.TypeAAAA, client: clientEU6,
			answer: []string{"www." + z + " AAAA 2001:db8:1::1"}},
		{name: "steered, two answers, EU client, eu-west down", qname: "api", qtype: dns.TypeA, client: clientEU,
			answer: []string{"api." + z + " A 203.0.113.11", "api." + z + " A 203.0.113.12"}},
		{name: "cname to a steered name, eu-west down", qname: "toweb", qtype: dns.TypeA, client: clientEU,
			answer: []string{"toweb." + z + " CNAME www." + z, "www." + z + " A 192.0.2.1"}},
		{name: "steered wildcard, EU client, eu-west down", qname: "x.dyn", qtype: dns.TypeA, client: clientEU,
			answer: []string{"x.dyn." + z + " A 192.0.2.1"}},
		{name: "steered A, AS client, eu-west down: unchanged", qname: "www", qtype: dns.TypeA, client: clientAS,
			answer: []string{"www." + z + " A 203.0.113.1"}},
	}
}

// steeredCases are the rows of the steered names, a client of each region.
func steeredCases() []validateCase {
	const z = validateZone
	return []validateCase{
		{name: "steered A, EU client", rfc: "RFC 4035 §3.1.1, RFC 7871", qname: "www", qtype: dns.TypeA, client: clientEU,
			answer: []string{"www." + z + " A 198.51.100.1"}},
		{name: "steered A, NA client", qname: "www", qtype: dns.TypeA, client: clientNA,
			answer: []string{"www." + z + " A 192.0.2.1"}},
		{name: "steered A, AS client", qname: "www", qtype: dns.TypeA, client: clientAS,
			answer: []string{"www." + z + " A 203.0.113.1"}},
		{name: "steered AAAA, EU client", qname: "www", qtype: dns.TypeAAAA, client: clientEU,
			answer: []string{"www." + z + " AAAA 2001:db8:2::1"}},
		{name: "steered AAAA, NA client", qname: "www", qtype: dns.TypeAAAA, client: clientNA,
			answer: []string{"www." + z + " AAAA 2001:db8:1::1"}},
		{name: "steered AAAA, AS client", qname: "www", qtype: dns.TypeAAAA, client: clientAS,
			answer: []string{"www." + z + " AAAA 2001:db8:3::1"}},
		{name: "steered, two answers, EU client", qname: "api", qtype: dns.TypeA, client: clientEU,
			answer: []string{"api." + z + " A 198.51.100.11", "api." + z + " A 198.51.100.12"}},
		{name: "steered, two answers, AS client", qname: "api", qtype: dns.TypeA, client: clientAS,
			answer: []string{"api." + z + " A 203.0.113.11", "api." + z + " A 203.0.113.12"}},
		{name: "steered, two answers, NA client: nearest is EU", qname: "api", qtype: dns.TypeA, client: clientNA,
			answer: []string{"api." + z + " A 198.51.100.11", "api." + z + " A 198.51.100.12"}},
		{name: "steered nodata: a pool without IPv6", rfc: "RFC 4035 §3.1.3.1: the NSEC bitmap has no AAAA", qname: "api", qtype: dns.TypeAAAA, client: clientEU},
		{name: "steered AAAA, EU client with an IPv6 subnet", rfc: "RFC 7871: FAMILY 2", qname: "www", qtype: dns.TypeAAAA, client: clientEU6,
			answer: []string{"www." + z + " AAAA 2001:db8:2::1"}},
		{name: "steered ANY, EU client: the addresses", rfc: "RFC 8482 §4.1, each RRset signed", qname: "www", qtype: dns.TypeANY, client: clientEU,
			answer: []string{"www." + z + " A 198.51.100.1"}},
		{name: "no ECS: the resolver's own location, loopback in NA", rfc: "RFC 7871 §7.1.1", qname: "www", qtype: dns.TypeA,
			answer: []string{"www." + z + " A 192.0.2.1"}},
		{name: "cname to a steered name", rfc: "RFC 4035 §3.1.1", qname: "toweb", qtype: dns.TypeA, client: clientEU,
			answer: []string{"toweb." + z + " CNAME www." + z, "www." + z + " A 198.51.100.1"}},
		{name: "steered wildcard", rfc: "RFC 4035 §3.1.3.3", qname: "x.dyn", qtype: dns.TypeA, client: clientAS,
			answer: []string{"x.dyn." + z + " A 203.0.113.1"}},
		// Without ECS: AYA gives these scope 0, and Unbound would keep them
		// in its subnet cache for every later phase's subnets.
		{name: "steered name, another type: nodata", rfc: "RFC 4035 §3.1.3.1: the bitmap has A and AAAA, not TXT", qname: "www", qtype: dns.TypeTXT},
		{name: "steered wildcard, another type: nodata", rfc: "RFC 4035 §3.1.3.4", qname: "x.dyn", qtype: dns.TypeTXT},
	}
}

// knot is Knot DNS (apt package knot) serving the test zone on knotAddr:
// the reference that shows what the harness yields for a zone signed
// right.
type knot struct {
	addr       netip.AddrPort
	origin     string
	conf, zone string
	knotc      string
	anchor     string // with signing: the DS of Knot's KSK
}

// startKnot runs knotd with the zone text for origin; with signing, Knot
// signs it (automatic signing, its own keys, NSEC), else it serves it as
// it is. It waits until the zone is served (signed) and stops with the
// test.
func startKnot(t *testing.T, origin, text string, signing bool) *knot {
	t.Helper()
	bin := testutil.LookTool(t, "knotd", "knot")
	dir := t.TempDir()
	k := &knot{origin: origin, conf: filepath.Join(dir, "knot.conf"), zone: filepath.Join(dir, "zone"), knotc: filepath.Join(filepath.Dir(bin), "knotc")}
	if err := os.WriteFile(k.zone, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	port := testutil.FreePort(t, knotAddr)
	k.addr = netip.AddrPortFrom(netip.MustParseAddr(knotAddr), uint16(port))
	sign := "off"
	if signing {
		sign = "on"
	}
	conf := fmt.Sprintf(`server:
    rundir: %[1]s
    listen: %[2]s
database:
    storage: %[1]s
log:
  - target: %[1]s/knot.log
    any: info
template:
  - id: default
    storage: %[1]s
    dnssec-signing: %[4]s
    zonefile-sync: -1
    zonefile-load: whole
    journal-content: none
    semantic-checks: off
zone:
  - domain: %[3]s
    file: %[5]s
`, dir, strings.Replace(k.addr.String(), ":", "@", 1), origin, sign, k.zone)
	if err := os.WriteFile(k.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", k.conf)
	out, err := os.Create(filepath.Join(dir, "knotd.out"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); _ = out.Close() }()
	t.Cleanup(func() {
		testutil.StopProcess(cmd, exited)
		if t.Failed() {
			t.Logf("knot log:\n%s\n%s", tail(filepath.Join(dir, "knot.log"), 50), tail(filepath.Join(dir, "knotd.out"), 20))
		}
	})
	err = poll(t, 10*time.Second, func() error {
		q := new(dns.Msg)
		q.SetQuestion(origin, dns.TypeDNSKEY)
		q.SetEdns0(4096, true)
		c := &dns.Client{Timeout: 200 * time.Millisecond, Net: "tcp"}
		r, _, err := c.Exchange(q, k.addr.String())
		if err != nil {
			return err
		}
		for _, rr := range r.Answer {
			if key, ok := rr.(*dns.DNSKEY); ok && key.Flags&dns.SEP != 0 {
				k.anchor = key.ToDS(dns.SHA256).String()
				return nil
			}
		}
		if !signing && r.Rcode == dns.RcodeSuccess {
			return nil
		}
		return fmt.Errorf("no KSK in the DNSKEY answer:\n%v", r)
	})
	if err != nil {
		t.Fatalf("knot does not serve the zone (signed: %v): %v", signing, err)
	}
	return k
}

// reload makes Knot serve text; knotc -b returns once it does.
func (k *knot) reload(t *testing.T, text string) {
	t.Helper()
	if err := os.WriteFile(k.zone, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.CommandContext(t.Context(), k.knotc, "-c", k.conf, "-b", "-t", "5", "zone-reload", k.origin).CombinedOutput(); err != nil {
		t.Fatalf("knotc zone-reload: %v\n%s", err, out)
	}
}

// zoneText is z's static records in master format, one a line.
func zoneText(rrs []dns.RR) string {
	var b strings.Builder
	for _, rr := range rrs {
		b.WriteString(rr.String() + "\n")
	}
	return b.String()
}

// TestUnboundValidatesKnot: the harness on a zone Knot signs (the
// reference): every static row is AD; and with a trust anchor that
// matches none of the zone's keys, Unbound finds the answers bogus.
func TestUnboundValidatesKnot(t *testing.T) {
	t.Parallel()
	k := startKnot(t, validateZone, zoneText(validateZoneParsed(t).Records()), true)
	r := startUnbound(t, stubZone{name: validateZone, addr: k.addr, anchor: []string{k.anchor}})
	runPhase(t, r, 0, staticCases())
	t.Run("wrong trust anchor", func(t *testing.T) {
		ds, err := dns.NewRR(k.anchor)
		if err != nil {
			t.Fatal(err)
		}
		ds.(*dns.DS).KeyTag++
		r := startUnbound(t, stubZone{name: validateZone, addr: k.addr, anchor: []string{ds.String()}})
		reply := r.query(t, "static."+validateZone, dns.TypeA, netip.Prefix{})
		if reply.Rcode != dns.RcodeServerFailure || reply.AuthenticatedData {
			t.Errorf("rcode %s, AD %v: want SERVFAIL, the DNSKEY RRset is bogus\n%v", rcodeName(reply.Rcode), reply.AuthenticatedData, reply)
		}
	})
}

// validateSigner is the zone's keys over a ZSK pre-publish rollover
// (RFC 7583 §3.2.1) planned with dnssec.Timings.RollZSK around the real
// clock (Unbound checks signature validity against it): the KSK and the
// old ZSK sign from a day before; the new ZSK is published at step1 and
// signs from step2, when the old DNSKEY is still published.
type validateSigner struct {
	ksk, oldZSK, newZSK  *dnssec.Key
	before, step1, step2 time.Time
	// rogue is a ZSK active at step2 that no DNSKEY RRset of the
	// rollover lists: a roll without pre-publication.
	rogue *dnssec.Key
}

func newValidateSigner(t *testing.T, now time.Time) *validateSigner {
	t.Helper()
	since := now.Add(-24 * time.Hour)
	ksk, err := dnssec.Generate(validateZone, dns.ECDSAP256SHA256, dnssec.KSK, dnssec.Timing{Created: since, Publish: since, Activate: since, SyncPublish: since})
	if err != nil {
		t.Fatal(err)
	}
	old, err := dnssec.Generate(validateZone, dns.ECDSAP256SHA256, dnssec.ZSK, dnssec.Timing{Created: since, Publish: since, Activate: since, Inactive: now})
	if err != nil {
		t.Fatal(err)
	}
	p := dnssec.Timings{Propagation: time.Hour, MaxTTL: time.Hour, DNSKEYTTL: time.Hour, ZSKLifetime: 30 * 24 * time.Hour}
	oldNext, succ, err := p.RollZSK(old.Timing, now.Add(-3*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	old.Timing = oldNext
	zsk, err := dnssec.Generate(validateZone, dns.ECDSAP256SHA256, dnssec.ZSK, succ)
	if err != nil {
		t.Fatal(err)
	}
	rogue, err := dnssec.Generate(validateZone, dns.ECDSAP256SHA256, dnssec.ZSK, dnssec.Timing{Created: now, Publish: now, Activate: now})
	if err != nil {
		t.Fatal(err)
	}
	v := &validateSigner{ksk: ksk, oldZSK: old, newZSK: zsk, rogue: rogue, before: now.Add(-3 * time.Hour), step1: succ.Publish, step2: succ.Activate}
	if !v.step1.Before(v.step2) || v.step2 != now || !v.before.Before(v.step1) || !oldNext.Delete.After(now) {
		t.Fatalf("rollover plan: new ZSK published %v, active %v; old deleted %v; want published before %v, active at it, old still there", succ.Publish, succ.Activate, oldNext.Delete, now)
	}
	return v
}

// sign returns z signed at, with the rollover's keys published then (or
// with keys, when given): as the signer made it, and attached to z.
func (v *validateSigner) sign(t *testing.T, z *Zone, at time.Time, keys ...*dnssec.Key) (*dnssec.Signed, *Zones) {
	t.Helper()
	if keys == nil {
		keys = []*dnssec.Key{v.ksk, v.oldZSK, v.newZSK}
	}
	s, err := dnssec.NewSigner(dnssec.Config{}, keys)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.Sign(signInput(t, z, validatePools()), at, nil)
	if err != nil {
		t.Fatal(err)
	}
	sz, err := z.WithSignatures(toSignatures(signed, true))
	if err != nil {
		t.Fatal(err)
	}
	zs, err := NewZones(sz)
	if err != nil {
		t.Fatal(err)
	}
	return signed, zs
}

// dnskeyTags are the key tags of the DNSKEY RRset r answers.
func dnskeyTags(r *dns.Msg) []uint16 {
	var out []uint16
	for _, rr := range r.Answer {
		if k, ok := rr.(*dns.DNSKEY); ok {
			out = append(out, k.KeyTag())
		}
	}
	slices.Sort(out)
	return out
}

// sigTags are the key tags of the RRSIGs of r's answer and authority
// sections, but those over the DNSKEY RRset.
func sigTags(r *dns.Msg) []uint16 {
	var out []uint16
	for _, rr := range slices.Concat(r.Answer, r.Ns) {
		if s, ok := rr.(*dns.RRSIG); ok && s.TypeCovered != dns.TypeDNSKEY && !slices.Contains(out, s.KeyTag) {
			out = append(out, s.KeyTag)
		}
	}
	slices.Sort(out)
	return out
}

// flush removes from r's cache every RRset of the names of zone and
// every answer of cs, the DNSKEY RRset excepted, and the negative
// answers: the next queries fetch them anew (but for steered answers with
// a client subnet: see maxPhases).
func (r *resolver) flush(t *testing.T, zone []dns.RR, cs []validateCase) {
	t.Helper()
	names := map[string]bool{}
	for _, rr := range zone {
		names[dns.CanonicalName(rr.Header().Name)] = true
	}
	for _, c := range cs {
		names[dns.CanonicalName(c.qname+"."+validateZone)] = true
	}
	delete(names, dns.CanonicalName("@."+validateZone))
	names[validateZone] = true
	var cmds [][]string
	for name := range names {
		// flush removes A, AAAA, NS, SOA, CNAME, MX and a few more.
		cmds = append(cmds, []string{"flush", name})
		for _, typ := range []string{"TXT", "DS", "NSEC"} {
			cmds = append(cmds, []string{"flush_type", name, typ})
		}
	}
	r.controlAll(t, cmds)
	r.control(t, "flush_negative")
}

// signedPhases runs cases against r, z served signed by v: signed before
// the rollover (phase 0, already served); with eu-west failed (phase 1,
// the rows failed, when fail is not nil: it fails the region, or restores
// it with false); at the first step of the ZSK rollover (phase 2: the new
// ZSK published, the resolver's cache emptied first) and at the second
// (phase 3: the new ZSK signs; the resolver keeps the DNSKEY RRset of the
// first step, a second old, and fetches the rest). Then the control: a
// ZSK that RRset lacks signs (a roll without pre-publication), and the
// resolver finds the answers bogus. publish serves a signing of z.
func signedPhases(t *testing.T, v *validateSigner, z *Zone, r *resolver, cases, failed []validateCase, publish func(*dnssec.Signed, *Zones), fail func(bool)) {
	ksk, old, succ := v.ksk.Tag(), v.oldZSK.Tag(), v.newZSK.Tag()
	keySet := func(tags ...uint16) []uint16 { slices.Sort(tags); return tags }
	// phase runs cs in phase p: the DNSKEY RRset must be keys (and its TTL
	// at most maxKeyTTL: from the cache), every answer signed by zsk.
	phase := func(p int, name string, keys []uint16, maxKeyTTL uint32, zsk uint16, cs []validateCase) {
		t.Run(fmt.Sprintf("%d %s", p, name), func(t *testing.T) {
			dnskey := r.query(t, validateZone, dns.TypeDNSKEY, netip.Prefix{})
			if !dnskey.AuthenticatedData || !slices.Equal(dnskeyTags(dnskey), keys) {
				t.Fatalf("DNSKEY: AD %v, keys %v; want AD, keys %v (EDE %q)\n%v", dnskey.AuthenticatedData, dnskeyTags(dnskey), keys, ede(dnskey), dnskey)
			}
			if ttl := dnskey.Answer[0].Header().Ttl; ttl > maxKeyTTL {
				t.Errorf("DNSKEY TTL %d, want at most %d: the resolver fetched it anew", ttl, maxKeyTTL)
			}
			for _, c := range cs {
				t.Run(c.name, func(t *testing.T) {
					reply := c.run(t, r, p)
					if tags := sigTags(reply); len(tags) > 0 && !slices.Equal(tags, []uint16{zsk}) {
						t.Errorf("signed by keys %v, want %d", tags, zsk)
					}
				})
			}
		})
	}
	phase(0, "signed", keySet(ksk, old), dnssec.DefaultDNSKEYTTL, old, cases)
	if fail != nil {
		fail(true)
		phase(1, "failover", keySet(ksk, old), dnssec.DefaultDNSKEYTTL, old, failed)
		fail(false)
	}

	publish(v.sign(t, z, v.step1))
	r.control(t, "flush_zone", validateZone)
	phase(2, "zsk rollover step 1", keySet(ksk, old, succ), dnssec.DefaultDNSKEYTTL, old, cases)
	time.Sleep(1100 * time.Millisecond)
	signed, zs := v.sign(t, z, v.step2)
	publish(signed, zs)
	r.flush(t, signed.Records, cases)
	phase(3, "zsk rollover step 2", keySet(ksk, old, succ), dnssec.DefaultDNSKEYTTL-1, succ, cases)

	t.Run("control: a ZSK the cached DNSKEY RRset lacks", func(t *testing.T) {
		signed, zs := v.sign(t, z, v.step2, v.ksk, v.rogue)
		publish(signed, zs)
		r.flush(t, signed.Records, cases)
		reply := r.query(t, "static."+validateZone, dns.TypeA, netip.Prefix{})
		if reply.Rcode != dns.RcodeServerFailure || reply.AuthenticatedData {
			t.Errorf("rcode %s, AD %v: want SERVFAIL, signed by a key the resolver does not hold (EDE %q)\n%v", rcodeName(reply.Rcode), reply.AuthenticatedData, ede(reply), reply)
		}
	})
}

// TestUnboundValidatesAYA is issue 12's first acceptance point: Unbound,
// with the zone's KSK as its trust anchor, gets secure (AD) answers from
// AYA for static names, each steered name for a client of each region
// (ECS), after a region fails over, NXDOMAIN, NODATA, wildcards and CNAME
// chains; and the same at both steps of a ZSK pre-publish rollover, with
// the DNSKEY RRset of the first step in its cache at the second.
func TestUnboundValidatesAYA(t *testing.T) {
	t.Parallel()
	v := newValidateSigner(t, time.Now().UTC().Truncate(time.Second))
	z := validateZoneParsed(t)
	_, zs := v.sign(t, z, v.before)
	aya := startAYA(t, zs)
	t.Run("the big signed answer is truncated over UDP", func(t *testing.T) {
		q := new(dns.Msg)
		q.SetQuestion("big."+validateZone, dns.TypeTXT)
		q.SetEdns0(1232, true)
		r, _, err := (&dns.Client{UDPSize: 1232}).Exchange(q, aya.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		if !r.Truncated {
			t.Errorf("TC not set: the big row does not test TCP\n%v", r)
		}
	})
	r := startUnbound(t, stubZone{name: validateZone, addr: aya.addr, anchor: []string{v.ksk.DS().String()}})
	publish := func(_ *dnssec.Signed, zs *Zones) {
		if err := aya.Publish(zs, aya.cfg); err != nil {
			t.Fatal(err)
		}
	}
	fail := func(down bool) {
		if down {
			aya.failEUWest()
		} else {
			aya.state.Set(nil)
		}
	}
	signedPhases(t, v, z, r, append(staticCases(), steeredCases()...), failoverCases(), publish, fail)
}

// TestUnboundValidatesSignerOnKnot: what the signer makes for the test
// zone (one variant of each steered name), served as it is by Knot,
// validates in every static row, before and at both steps of the ZSK
// rollover: the reference for TestUnboundValidatesAYA, which serves the
// same signatures.
func TestUnboundValidatesSignerOnKnot(t *testing.T) {
	t.Parallel()
	v := newValidateSigner(t, time.Now().UTC().Truncate(time.Second))
	z := validateZoneParsed(t)
	signed, _ := v.sign(t, z, v.before)
	k := startKnot(t, validateZone, zoneText(signed.Zone(0)), false)
	r := startUnbound(t, stubZone{name: validateZone, addr: k.addr, anchor: []string{v.ksk.DS().String()}})
	publish := func(signed *dnssec.Signed, _ *Zones) { k.reload(t, zoneText(signed.Zone(0))) }
	signedPhases(t, v, z, r, staticCases(), nil, publish, nil)
}

// TestUnboundValidatesAYACSK: the same rows, the zone signed by one
// combined key (CSK) of the other algorithm AYA offers, Ed25519 (15).
func TestUnboundValidatesAYACSK(t *testing.T) {
	t.Parallel()
	now := time.Now().UTC().Truncate(time.Second)
	since := now.Add(-24 * time.Hour)
	csk, err := dnssec.Generate(validateZone, dns.ED25519, dnssec.CSK, dnssec.Timing{Created: since, Publish: since, Activate: since, SyncPublish: since})
	if err != nil {
		t.Fatal(err)
	}
	z := validateZoneParsed(t)
	_, zs := (&validateSigner{}).sign(t, z, now, csk)
	aya := startAYA(t, zs)
	r := startUnbound(t, stubZone{name: validateZone, addr: aya.addr, anchor: []string{csk.DS().String()}})
	for _, c := range append(staticCases(), steeredCases()...) {
		t.Run(c.name, func(t *testing.T) {
			reply := c.run(t, r, 0)
			if tags := sigTags(reply); len(tags) > 0 && !slices.Equal(tags, []uint16{csk.Tag()}) {
				t.Errorf("signed by keys %v, want %d", tags, csk.Tag())
			}
		})
	}
}
