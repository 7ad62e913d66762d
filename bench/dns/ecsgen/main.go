// Command ecsgen writes the inputs of bench/dns/run.sh's geo workloads:
//
//   - -source: the bench geo source (CSV, the format of `aya geo build`):
//     8 cities in each of North America, Europe and Asia, each holding one
//     IPv4 /16 listed as 256 /24 networks and 32 IPv6 /48 networks, every
//     network with the city's coordinates jittered by up to ±0.3°; plus
//     loopback (127.0.0.0/8, ::1) in Frankfurt so that queries without ECS
//     from this machine land in Europe. The networks are synthetic: they
//     have nothing to do with who really holds those addresses.
//   - -queries: a dnsperf -B query file (each query a 2-byte big-endian
//     length then the DNS message, as on a TCP stream, RFC 1035 §4.2.2):
//     one query for www per /24 of the source and two per IPv6 /48 (two
//     different /56s), each with an EDNS Client Subnet option (RFC 7871)
//     for its subnet, A or AAAA at random, in random order. The messages
//     carry what dnsperf -e would put there (RD set, EDNS0 with a 4096-byte
//     UDP size) plus the ECS option; with -do, the DO bit too (RFC 3225),
//     for the signed workload.
//   - -sample: a text file "NAME TYPE SUBNET AREA" of a few queries per city
//     (IPv4 A, IPv4 AAAA, IPv6 AAAA, IPv6 A) for run.sh's answer check with
//     kdig +subnet.
//
// Everything is drawn from a fixed seed: the same flags give the same files.
//
// With -ask, it instead sends every query of a -queries file to a server,
// one at a time, and writes one line per query (ECS subnet, type, RCODE,
// answer RRs) to -answers, for comparing two servers' answers; with -expect
// it also checks each answer against the region its subnet's area should
// get, and with -do that each answer is signed: an RRSIG over it that
// verifies with the zone's DNSKEY, asked of the same server (see ask.go).
//
// Usage: go run ./bench/dns/ecsgen -source geo.csv -queries ecs.raw -sample ecs.sample
//
//	go run ./bench/dns/ecsgen -ask 127.0.0.1:5300 -queries ecs.raw -answers out.txt \
//	    -expect "NA=192.0.2.10,2001:db8:1::10 EU=198.51.100.10,2001:db8:2::10 AS=203.0.113.10,2001:db8:3::10"
package main

import (
	"bufio"
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"strings"

	"github.com/miekg/dns"
)

type city struct {
	name      string
	lat, lon  float64
	country   string
	continent string
}

// areas: the first octet of each area's IPv4 networks, and its cities.
// City k of area a holds FIRST.(16+k).0.0/16 and 2a0(a+1):k:0::/40's first
// 32 /48s.
var areas = []struct {
	first  byte
	cities []city
}{
	{23, []city{
		{"Ashburn", 39.04, -77.49, "US", "NA"},
		{"New York", 40.71, -74.01, "US", "NA"},
		{"Chicago", 41.88, -87.63, "US", "NA"},
		{"Dallas", 32.78, -96.80, "US", "NA"},
		{"Seattle", 47.61, -122.33, "US", "NA"},
		{"Los Angeles", 34.05, -118.24, "US", "NA"},
		{"Toronto", 43.65, -79.38, "CA", "NA"},
		{"Mexico City", 19.43, -99.13, "MX", "NA"},
	}},
	{31, []city{
		{"London", 51.51, -0.13, "GB", "EU"},
		{"Paris", 48.86, 2.35, "FR", "EU"},
		{"Frankfurt", 50.11, 8.68, "DE", "EU"},
		{"Amsterdam", 52.37, 4.90, "NL", "EU"},
		{"Madrid", 40.42, -3.70, "ES", "EU"},
		{"Stockholm", 59.33, 18.07, "SE", "EU"},
		{"Warsaw", 52.23, 21.01, "PL", "EU"},
		{"Milan", 45.46, 9.19, "IT", "EU"},
	}},
	{43, []city{
		{"Singapore", 1.29, 103.85, "SG", "AS"},
		{"Tokyo", 35.68, 139.69, "JP", "AS"},
		{"Hong Kong", 22.32, 114.17, "HK", "AS"},
		{"Mumbai", 19.08, 72.88, "IN", "AS"},
		{"Seoul", 37.57, 126.98, "KR", "AS"},
		{"Jakarta", -6.21, 106.85, "ID", "AS"},
		{"Bangkok", 13.76, 100.50, "TH", "AS"},
		{"Manila", 14.60, 120.98, "PH", "AS"},
	}},
}

const v6PerCity = 32 // IPv6 /48 networks per city

type subnet struct {
	prefix netip.Prefix // the ECS source prefix: a /24 or a /56
	area   string
}

func main() {
	source := flag.String("source", "", "write the bench geo source (CSV) here")
	queries := flag.String("queries", "", "write the dnsperf -B query file here")
	sample := flag.String("sample", "", "write the answer-check sample (NAME TYPE SUBNET AREA) here")
	name := flag.String("name", "www.gslb.example.com.", "the name queried")
	aaaa := flag.Float64("aaaa", 0.25, "share of AAAA queries in the query file")
	seed := flag.Uint64("seed", 7871, "random seed")
	ask := flag.String("ask", "", "check mode: send every query of the -queries file to this server (host:port)")
	answers := flag.String("answers", "", "check mode: write one line per query (subnet, type, rcode, answer RRs) here")
	expect := flag.String("expect", "", `check mode: "AREA=IPv4,IPv6 ..." (AREA: NA, EU, AS): the answer each area's subnets must get`)
	do := flag.Bool("do", false, "set the DO bit in the queries; check mode: every answer must carry an RRSIG that verifies")
	flag.Parse()
	if *ask != "" {
		if *queries == "" || *answers == "" {
			fmt.Fprintln(os.Stderr, "ecsgen: -ask needs -queries and -answers")
			os.Exit(2)
		}
		os.Exit(askAll(*ask, *queries, *answers, *expect, *do))
	}
	if *source == "" && *queries == "" && *sample == "" {
		fmt.Fprintln(os.Stderr, "ecsgen: nothing to do: give -source, -queries and/or -sample (or -ask)")
		os.Exit(2)
	}
	rng := rand.New(rand.NewPCG(*seed, *seed^0x9e3779b97f4a7c15)) //nolint:gosec // reproducible test data, not secrets
	qname := dns.Fqdn(*name)

	var rows []string
	var subnets []subnet
	var samples []string
	for a, ar := range areas {
		for k, c := range ar.cities {
			area := c.continent
			for j := range 256 {
				p := netip.PrefixFrom(netip.AddrFrom4([4]byte{ar.first, byte(16 + k), byte(j), 0}), 24)
				rows = append(rows, row(p, c, rng))
				subnets = append(subnets, subnet{p, area})
			}
			for j := range v6PerCity {
				var b [16]byte
				b[0], b[1], b[3], b[5] = 0x2a, byte(a+1), byte(k), byte(j)
				p := netip.PrefixFrom(netip.AddrFrom16(b), 48)
				rows = append(rows, row(p, c, rng))
				for h := range 2 { // two distinct /56s of the /48
					b[6] = byte(128*h + rng.IntN(128))
					subnets = append(subnets, subnet{netip.PrefixFrom(netip.AddrFrom16(b), 56), area})
				}
			}
			// Sample: the city's first /24 and first IPv6 /56, both types each.
			v4 := subnets[len(subnets)-256-2*v6PerCity].prefix
			v6 := subnets[len(subnets)-1].prefix
			for _, q := range []struct {
				t string
				p netip.Prefix
			}{{"A", v4}, {"AAAA", v4}, {"AAAA", v6}, {"A", v6}} {
				samples = append(samples, fmt.Sprintf("%s %s %s %s-%s", qname, q.t, q.p, area, strings.ReplaceAll(c.name, " ", "_")))
			}
		}
	}
	// Loopback: dig/dnsperf from this machine without ECS.
	fra := areas[1].cities[2]
	rows = append(rows,
		fmt.Sprintf("127.0.0.0/8,%.4f,%.4f,%s,%s,%s", fra.lat, fra.lon, fra.country, fra.continent, fra.name),
		fmt.Sprintf("::1/128,%.4f,%.4f,%s,%s,%s", fra.lat, fra.lon, fra.country, fra.continent, fra.name))

	if *source != "" {
		write(*source, func(w *bufio.Writer) error {
			fmt.Fprintln(w, "# bench/dns geo source, written by bench/dns/ecsgen: synthetic networks, not real locations")
			fmt.Fprintln(w, "network,latitude,longitude,country,continent,city")
			for _, r := range rows {
				fmt.Fprintln(w, r)
			}
			return nil
		})
	}
	if *queries != "" {
		rng.Shuffle(len(subnets), func(i, j int) { subnets[i], subnets[j] = subnets[j], subnets[i] })
		write(*queries, func(w *bufio.Writer) error {
			for _, s := range subnets {
				t := dns.TypeA
				if rng.Float64() < *aaaa {
					t = dns.TypeAAAA
				}
				msg, err := query(qname, t, s.prefix, *do)
				if err != nil {
					return err
				}
				var l [2]byte
				binary.BigEndian.PutUint16(l[:], uint16(len(msg)))
				if _, err := w.Write(l[:]); err != nil {
					return err
				}
				if _, err := w.Write(msg); err != nil {
					return err
				}
			}
			return nil
		})
	}
	if *sample != "" {
		write(*sample, func(w *bufio.Writer) error {
			for _, s := range samples {
				fmt.Fprintln(w, s)
			}
			return nil
		})
	}
	fmt.Fprintf(os.Stderr, "ecsgen: %d source networks, %d ECS subnets (%d IPv4 /24, %d IPv6 /56), %d sample queries\n",
		len(rows), len(subnets), len(areas)*8*256, len(areas)*8*v6PerCity*2, len(samples))
}

// row is one CSV line: the network at its city, jittered by up to ±0.3°.
func row(p netip.Prefix, c city, rng *rand.Rand) string {
	lat := c.lat + (rng.Float64()-0.5)*0.6
	lon := c.lon + (rng.Float64()-0.5)*0.6
	return fmt.Sprintf("%s,%.4f,%.4f,%s,%s,%s", p, lat, lon, c.country, c.continent, c.name)
}

// query is one wire-format query as dnsperf -e sends it, plus ECS for p
// and the DO bit when do.
func query(name string, qtype uint16, p netip.Prefix, do bool) ([]byte, error) {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Id = 0 // dnsperf overwrites it
	m.RecursionDesired = true
	m.SetEdns0(4096, do)
	ecs := &dns.EDNS0_SUBNET{
		Code:          dns.EDNS0SUBNET,
		Family:        1,
		SourceNetmask: uint8(p.Bits()),
		Address:       p.Addr().AsSlice(),
	}
	if p.Addr().Is6() {
		ecs.Family = 2
	}
	opt := m.IsEdns0()
	opt.Option = append(opt.Option, ecs)
	return m.Pack()
}

func write(path string, fill func(*bufio.Writer) error) {
	f, err := os.Create(path)
	if err == nil {
		w := bufio.NewWriter(f)
		if err = fill(w); err == nil {
			err = w.Flush()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "ecsgen: %s: %v\n", path, err)
		os.Exit(1)
	}
}
