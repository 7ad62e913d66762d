package dnsserver

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/state"
)

var update = flag.Bool("update", false, "update golden files")

const whyGolden = "testdata/why.golden"

// whyConfig is gslbConfig with a snapshot that drains us-east and has
// ap-southeast's only endpoint down, and a release, so that every kind of
// fact shows.
func whyConfig(t *testing.T) Config {
	t.Helper()
	cfg := gslbConfig(t)
	cfg.GSLB.State = state.NewStatic(&state.Snapshot{
		Version: 42,
		Down: map[state.EndpointKey]string{
			{Pool: "web", Region: "ap-southeast", Endpoint: "apse1"}: "connection refused",
			{Pool: "dead", Region: "eu-west", Endpoint: "gone"}:      "connection refused",
		},
		DrainedRegions: map[string]string{"us-east": "maintenance"},
	})
	cfg.Release = ReleaseInfo{Version: 7, Digest: "sha256:0123456789abcdef"}
	return cfg
}

// TestWhy: a TXT query for _why.NAME from loopback (the default
// dns.why_clients) answers why NAME gets its answer, one fact per TXT
// record with TTL 0 and AA, for a client placed from ECS or from the
// resolver; the records are pinned in testdata/why.golden (go test
// ./dnsserver/ -run TestWhy -update rewrites it).
func TestWhy(t *testing.T) {
	_, addr := testServer(t, whyConfig(t), gslbZones)
	var golden bytes.Buffer
	for _, tc := range []struct {
		name, qname, ecs string
		opt              string // the reply's client subnet option, "" for none
	}{
		{"ecs london", "_why.www.gslb.test.", "81.2.69.142/32", "81.2.69.142/32/24"},
		{"ecs seattle, nearest drained", "_why.www.gslb.test.", "216.160.83.0/24", "216.160.83.0/24/24"},
		{"ecs in no network", "_why.www.gslb.test.", "10.0.0.0/8", "10.0.0.0/8/24"},
		{"ecs source 0: the resolver", "_why.www.gslb.test.", "0.0.0.0/0", "0.0.0.0/0/0"},
		{"no ecs: the resolver", "_why.www.gslb.test.", "", ""},
		{"label in upper case", "_WHY.Www.Gslb.Test.", "81.2.69.0/24", "81.2.69.0/24/24"},
		{"through a cname", "_why.api.gslb.test.", "81.2.69.0/24", "81.2.69.0/24/24"},
		{"through a wildcard", "_why.x.dyn.gslb.test.", "175.16.199.0/24", "175.16.199.0/24/16"},
		{"servfail fallback", "_why.sf.gslb.test.", "", ""},
		{"v4 only pool", "_why.v4.gslb.test.", "", ""},
		{"static name", "_why.ns1.gslb.test.", "81.2.69.0/24", "81.2.69.0/24/0"},
		{"no such name", "_why.nope.gslb.test.", "", ""},
		{"outside our zones", "_why.example.org.", "", ""},
		{"the label alone", "_why.", "", ""},
	} {
		for _, nw := range []string{"udp", "tcp"} {
			t.Run(tc.name+"/"+nw, func(t *testing.T) {
				q := new(dns.Msg)
				q.SetQuestion(tc.qname, dns.TypeTXT)
				if tc.ecs != "" {
					subnet(tc.ecs)(q)
				} else {
					q.SetEdns0(1232, false)
				}
				r := exchange(t, nw, addr, q, nil, false)
				if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.Truncated {
					t.Fatalf("rcode %s aa %v tc %v, want NOERROR, AA, whole:\n%v", rcodeName(r.Rcode), r.Authoritative, r.Truncated, r)
				}
				var opts []string
				for _, o := range r.IsEdns0().Option {
					opts = append(opts, o.String())
				}
				if want := []string{tc.opt}; tc.opt == "" && len(opts) != 0 || tc.opt != "" && !slices.Equal(opts, want) {
					t.Errorf("client subnet options %q, want %q", opts, tc.opt)
				}
				if nw == "tcp" {
					return
				}
				fmt.Fprintf(&golden, "== %s: %s TXT ecs %q\n", tc.name, tc.qname, tc.ecs)
				for _, rr := range r.Answer {
					txt, ok := rr.(*dns.TXT)
					if !ok || txt.Hdr.Ttl != 0 || txt.Hdr.Name != tc.qname {
						t.Errorf("answer %v: want TXT records of %s with TTL 0", rr, tc.qname)
						continue
					}
					for _, s := range txt.Txt {
						if len(s) > 255 {
							t.Errorf("character string of %d octets", len(s))
						}
					}
					fmt.Fprintf(&golden, "%s\n", strings.Join(txt.Txt, ""))
				}
			})
		}
	}
	if t.Failed() {
		return
	}
	if *update {
		if err := os.WriteFile(whyGolden, golden.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want := readFile(t, whyGolden); !bytes.Equal(golden.Bytes(), want) {
		t.Errorf("why answers differ from %s (run with -update if the change is meant):\n%s", whyGolden, golden.Bytes())
	}
}

// TestWhyDelegated: a name below a delegation is said to be the child
// zone's, with its referral.
func TestWhyDelegated(t *testing.T) {
	_, addr := testServer(t, testConfig(), testZones)
	q := new(dns.Msg)
	q.SetQuestion("_why.www.child.gslb.example.com.", dns.TypeTXT)
	r := exchange(t, "tcp", addr, q, nil, false)
	var got []string
	for _, rr := range r.Answer {
		got = append(got, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	want := []string{
		"name=www.child.gslb.example.com. zone=gslb.example.com. type=A delegated: a referral, answered by the child zone's servers",
		"answer=A NOERROR referral",
		"answer=AAAA NOERROR referral",
		"release=none snapshot=0",
		"site=" + testNSID,
	}
	if !slices.Equal(got, want) || !r.Authoritative {
		t.Errorf("AA %v, records\n%q\nwant\n%q", r.Authoritative, got, want)
	}
}

// TestWhyNotAllowed: a client outside dns.why_clients, or any client when
// the list is empty, gets exactly the answer the name has without the
// feature (here NXDOMAIN, the wildcard's NODATA, REFUSED outside our
// zones); and so does a _why. query of another type.
func TestWhyNotAllowed(t *testing.T) {
	soa := "gslb.test. 300 IN SOA ns1.gslb.test. hostmaster.gslb.test. 1 7200 3600 1209600 300"
	cases := func(typeOK bool) []dnsCase {
		cs := []dnsCase{
			{name: "below an existing name", rfc: "RFC 4592 §2.2.2: NXDOMAIN",
				qname: "_why.www.gslb.test.", qtype: dns.TypeTXT, modify: subnet("81.2.69.0/24"),
				rcode: dns.RcodeNameError, aa: true, ns: []string{soa}, opt: &wantOPT{udpSize: 1232, options: []string{"81.2.69.0/24/0"}}},
			{name: "under a wildcard bound to a pool", rfc: "RFC 4592: the wildcard's TXT, NODATA",
				qname: "_why.x.dyn.gslb.test.", qtype: dns.TypeTXT,
				aa: true, ns: []string{soa}},
			{name: "outside our zones", rfc: "no recursion: REFUSED",
				qname: "_why.example.org.", qtype: dns.TypeTXT, rcode: dns.RcodeRefused},
		}
		if typeOK {
			cs = append(cs, dnsCase{name: "another type", rfc: "only TXT asks why",
				qname: "_why.www.gslb.test.", qtype: dns.TypeA, rcode: dns.RcodeNameError, aa: true, ns: []string{soa}})
		}
		return cs
	}
	t.Run("not in the list", func(t *testing.T) {
		cfg := whyConfig(t)
		cfg.WhyClients = []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}
		_, addr := testServer(t, cfg, gslbZones)
		runCases(t, addr, cases(false))
	})
	t.Run("empty list", func(t *testing.T) {
		cfg := whyConfig(t)
		cfg.WhyClients = []netip.Prefix{}
		_, addr := testServer(t, cfg, gslbZones)
		runCases(t, addr, cases(false))
	})
	t.Run("allowed, another type", func(t *testing.T) {
		_, addr := testServer(t, whyConfig(t), gslbZones)
		runCases(t, addr, cases(true)[3:])
	})
}

// TestWhyTruncated: a why answer larger than the client's UDP size is
// truncated with TC over UDP (512 octets without EDNS) and whole over TCP.
func TestWhyTruncated(t *testing.T) {
	_, addr := testServer(t, whyConfig(t), gslbZones)
	q := new(dns.Msg)
	q.SetQuestion("_why.www.gslb.test.", dns.TypeTXT)
	whole := exchange(t, "tcp", addr, q, nil, false)
	if whole.Truncated || len(whole.Answer) < 6 {
		t.Fatalf("over TCP: TC %v, %d records; want the whole answer", whole.Truncated, len(whole.Answer))
	}
	if n := whole.Len(); n <= minUDPSize {
		t.Fatalf("the answer is %d octets: too small to test truncation", n)
	}
	r := exchange(t, "udp", addr, q, nil, false)
	if !r.Truncated || len(r.Answer) >= len(whole.Answer) {
		t.Errorf("over UDP without EDNS: TC %v, %d of %d records; want TC and fewer", r.Truncated, len(r.Answer), len(whole.Answer))
	}
}

// FuzzWhy: with the feature on (loopback allowed) and off (no one
// allowed), the query path gives byte-identical replies to any query whose
// name has no _why. label, and to any query from a client outside the
// list; a _why. query from loopback never panics and its reply unpacks.
//
//	go test -run=^$ -fuzz=FuzzWhy -fuzztime=1m ./dnsserver/
func FuzzWhy(f *testing.F) {
	on, von := offline(f, whyFuzzConfig(f, nil), gslbZones)
	off, voff := offline(f, whyFuzzConfig(f, []netip.Prefix{}), gslbZones)
	for _, name := range []string{"www.gslb.test.", "_why.www.gslb.test.", "_WHY.api.gslb.test.", "_why.", "_why.x.dyn.gslb.test.",
		"_why._why.www.gslb.test.", "x_why.www.gslb.test.", "_whyz.www.gslb.test.", "_why.example.org.", "ns1.gslb.test."} {
		for _, qt := range []uint16{dns.TypeTXT, dns.TypeA, dns.TypeAAAA, dns.TypeANY} {
			f.Add(name, qt, uint32(0x51024500), uint8(24), true)
			f.Add(name, qt, uint32(0), uint8(0), false)
		}
	}
	loopback, other := netip.MustParseAddr("127.0.0.1"), netip.MustParseAddr("192.0.2.1")
	f.Fuzz(func(t *testing.T, name string, qtype uint16, ecsAddr uint32, ecsBits uint8, withECS bool) {
		q := new(dns.Msg)
		q.SetQuestion(dns.Fqdn(name), qtype)
		if withECS {
			bits := int(ecsBits % 33)
			p, _ := netip.AddrFrom4([4]byte(binary.BigEndian.AppendUint32(nil, ecsAddr))).Prefix(bits)
			subnet(p.String())(q)
		}
		req, err := q.Pack()
		if err != nil {
			t.Skip()
		}
		_, marked := whyName(q.Question[0].Name)
		for tr := range numTransports {
			for _, src := range []netip.Addr{loopback, other} {
				got, _ := on.handle(von, req, tr, src, nil)
				want, _ := off.handle(voff, req, tr, src, nil)
				if (!marked || src == other) && !bytes.Equal(got, want) {
					t.Fatalf("%s %s from %s over %s: the reply changed with _why on\non  %x\noff %x", q.Question[0].Name, dns.TypeToString[qtype], src, tr, got, want)
				}
				if got != nil {
					checkFuzzReply(t, req, got)
				}
			}
		}
	})
}

// whyFuzzConfig is the fixture of TestWhy with dns.why_clients set to why.
func whyFuzzConfig(f *testing.F, why []netip.Prefix) Config {
	cfg := testConfig()
	cfg.GSLB = GSLB{Pools: testPools(), Geo: testGeo(f), State: state.NewStatic(&state.Snapshot{Version: 3})}
	cfg.WhyClients = why
	return cfg
}

// TestWhyTXTStrings: a fact longer than 255 octets is split into character
// strings of at most 255, and backslashes and quotes (an operator's drain
// reason may hold them) come back as written.
func TestWhyTXTStrings(t *testing.T) {
	for _, fact := range []string{
		"region=eu-west dropped: drained: " + strings.Repeat("x", 300),
		`region=eu-west dropped: drained: "kernel" upgrade \ rack 4`,
		"",
	} {
		rr := &dns.TXT{Hdr: dns.RR_Header{Name: "_why.www.gslb.test.", Rrtype: dns.TypeTXT, Class: dns.ClassINET}, Txt: txtStrings(fact)}
		buf := make([]byte, 4096)
		n, err := dns.PackRR(rr, buf, 0, nil, false)
		if err != nil {
			t.Fatalf("pack %q: %v", fact, err)
		}
		back, _, err := dns.UnpackRR(buf[:n], 0)
		if err != nil {
			t.Fatal(err)
		}
		var got strings.Builder
		for _, s := range back.(*dns.TXT).Txt {
			raw, err := strconv.Unquote(`"` + s + `"`)
			if err != nil {
				t.Fatalf("unquote %q: %v", s, err)
			}
			if len(raw) > 255 {
				t.Errorf("character string of %d octets", len(raw))
			}
			got.WriteString(raw)
		}
		if got.String() != fact {
			t.Errorf("fact %q came back as %q", fact, got.String())
		}
	}
}
