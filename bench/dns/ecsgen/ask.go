package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// areaOf is the area whose networks hold a (see areas), or "".
func areaOf(a netip.Addr) string {
	if a.Is4() {
		first := a.As4()[0]
		for _, ar := range areas {
			if ar.first == first {
				return ar.cities[0].continent
			}
		}
		return ""
	}
	b := a.As16()
	if b[0] == 0x2a && b[1] >= 1 && int(b[1]) <= len(areas) {
		return areas[b[1]-1].cities[0].continent
	}
	return ""
}

// readQueries reads a dnsperf -B file: 2-byte length, message, repeated.
func readQueries(path string) ([][]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var out [][]byte
	for {
		var l [2]byte
		if _, err := io.ReadFull(r, l[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return out, nil
			}
			return nil, err
		}
		msg := make([]byte, binary.BigEndian.Uint16(l[:]))
		if _, err := io.ReadFull(r, msg); err != nil {
			return nil, fmt.Errorf("truncated query %d: %w", len(out)+1, err)
		}
		out = append(out, msg)
	}
}

// ecsOf returns a message's ECS option, or nil.
func ecsOf(m *dns.Msg) *dns.EDNS0_SUBNET {
	if opt := m.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if e, ok := o.(*dns.EDNS0_SUBNET); ok {
				return e
			}
		}
	}
	return nil
}

// askAll sends each query of the file to server, one at a time over one UDP
// socket, and writes "SUBNET TYPE -> RCODE | RR | RR" per query (RRs
// sorted, TTLs included) to out. With expect ("NA=a4,a6 EU=... AS=..."),
// it counts the answers that are not exactly the one address of the
// subnet's area. With do, it counts the answers without an RRSIG over
// their addresses that verifies with the signer's DNSKEY (asked of server
// once). It prints a summary to stderr and returns the exit code: 1 when
// a query got no answer or an answer was unexpected or unsigned.
func askAll(server, queries, out, expect string, do bool) int {
	want := map[string][2]string{}
	for kv := range strings.FieldsSeq(expect) {
		area, addrs, ok := strings.Cut(kv, "=")
		a4, a6, ok2 := strings.Cut(addrs, ",")
		if !ok || !ok2 {
			fmt.Fprintf(os.Stderr, "ecsgen: -expect: %q is not AREA=IPv4,IPv6\n", kv)
			return 2
		}
		want[area] = [2]string{a4, a6}
	}
	msgs, err := readQueries(queries)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ecsgen: %s: %v\n", queries, err)
		return 2
	}
	conn, err := new(net.Dialer).DialContext(context.Background(), "udp", server)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ecsgen: %v\n", err)
		return 2
	}
	co := &dns.Conn{Conn: conn}
	defer co.Close()
	c := &dns.Client{Net: "udp", Timeout: time.Second}

	f, err := os.Create(out)
	if err != nil {
		fmt.Fprintf(os.Stderr, "ecsgen: %v\n", err)
		return 2
	}
	w := bufio.NewWriter(f)
	var failed, unexpected, signed, unsigned int
	keys := map[string]map[uint16]*dns.DNSKEY{} // signer → key tag → key
	scopes := map[string]int{}
	perArea := map[string][2]int{} // area -> {as expected, total}
	var shown int
	for i, raw := range msgs {
		q := new(dns.Msg)
		if err := q.Unpack(raw); err != nil {
			fmt.Fprintf(os.Stderr, "ecsgen: query %d: %v\n", i+1, err)
			return 2
		}
		q.Id = dns.Id()
		subnet, area := "-", ""
		if e := ecsOf(q); e != nil {
			a, _ := netip.AddrFromSlice(e.Address)
			subnet = netip.PrefixFrom(a.Unmap(), int(e.SourceNetmask)).String()
			area = areaOf(a.Unmap())
		}
		qtype := dns.TypeToString[q.Question[0].Qtype]
		var r *dns.Msg
		for range 3 {
			if r, _, err = c.ExchangeWithConn(q, co); err == nil {
				break
			}
		}
		line := fmt.Sprintf("%s %s -> ", subnet, qtype)
		if err != nil {
			failed++
			fmt.Fprintf(w, "%sNO-RESPONSE\n", line)
			continue
		}
		var rrs []string
		var addrs []dns.RR
		for _, rr := range r.Answer {
			if rr.Header().Rrtype == dns.TypeRRSIG {
				continue
			}
			rrs = append(rrs, strings.Join(strings.Fields(rr.String()), " "))
			addrs = append(addrs, rr)
		}
		sort.Strings(rrs)
		if do {
			if err := verified(c, co, r.Answer, addrs, keys); err != nil {
				unsigned++
				if shown < 10 {
					shown++
					fmt.Fprintf(os.Stderr, "ecsgen: %s %s: not signed: %v\n", subnet, qtype, err)
				}
			} else {
				signed++
			}
		}
		line += dns.RcodeToString[r.Rcode]
		for _, rr := range rrs {
			line += " | " + rr
		}
		fmt.Fprintln(w, line)
		if e := ecsOf(r); e != nil {
			scopes[fmt.Sprintf("/%d", e.SourceScope)]++
		} else {
			scopes["none"]++
		}
		if wa, ok := want[area]; ok {
			exp := wa[0]
			if qtype == "AAAA" {
				exp = wa[1]
			}
			n := perArea[area]
			n[1]++
			if len(rrs) == 1 && r.Rcode == dns.RcodeSuccess && strings.HasSuffix(rrs[0], " "+qtype+" "+exp) {
				n[0]++
			} else {
				unexpected++
				if shown < 10 {
					shown++
					fmt.Fprintf(os.Stderr, "ecsgen: unexpected answer (want %s for %s): %s\n", exp, area, line)
				}
			}
			perArea[area] = n
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintf(os.Stderr, "ecsgen: %v\n", err)
		return 2
	}
	if err := f.Close(); err != nil {
		fmt.Fprintf(os.Stderr, "ecsgen: %v\n", err)
		return 2
	}
	var areasOut, scopesOut []string
	for _, ar := range areas {
		a := ar.cities[0].continent
		if n, ok := perArea[a]; ok {
			areasOut = append(areasOut, fmt.Sprintf("%s %d/%d", a, n[0], n[1]))
		}
	}
	for s, n := range scopes {
		scopesOut = append(scopesOut, fmt.Sprintf("%s:%d", s, n))
	}
	sort.Strings(scopesOut)
	sigs := ""
	if do {
		sigs = fmt.Sprintf("; signed (RRSIG verified): %d/%d", signed, signed+unsigned)
	}
	fmt.Fprintf(os.Stderr, "%d queries, %d unanswered; answers in the expected region: %s; ECS scopes in the replies: %s%s\n",
		len(msgs), failed, strings.Join(areasOut, ", "), strings.Join(scopesOut, " "), sigs)
	if failed > 0 || unexpected > 0 || unsigned > 0 {
		return 1
	}
	return 0
}

// verified checks that answer holds an RRSIG over the RRset set that
// verifies with its signer's DNSKEY, which it asks of the server over co
// once per signer (keys caches them).
func verified(c *dns.Client, co *dns.Conn, answer, set []dns.RR, keys map[string]map[uint16]*dns.DNSKEY) error {
	if len(set) == 0 {
		return errors.New("no addresses")
	}
	var errs []error
	for _, rr := range answer {
		sig, ok := rr.(*dns.RRSIG)
		if !ok || sig.TypeCovered != set[0].Header().Rrtype {
			continue
		}
		byTag, ok := keys[sig.SignerName]
		if !ok {
			byTag = map[uint16]*dns.DNSKEY{}
			q := new(dns.Msg)
			q.SetQuestion(sig.SignerName, dns.TypeDNSKEY)
			q.SetEdns0(4096, true)
			r, _, err := c.ExchangeWithConn(q, co)
			if err != nil {
				return fmt.Errorf("DNSKEY of %s: %w", sig.SignerName, err)
			}
			for _, k := range r.Answer {
				if k, ok := k.(*dns.DNSKEY); ok {
					byTag[k.KeyTag()] = k
				}
			}
			keys[sig.SignerName] = byTag
		}
		k := byTag[sig.KeyTag]
		if k == nil {
			errs = append(errs, fmt.Errorf("key %d of %s is not in its DNSKEY RRset", sig.KeyTag, sig.SignerName))
			continue
		}
		if err := sig.Verify(k, set); err != nil {
			errs = append(errs, err)
			continue
		}
		if !sig.ValidityPeriod(time.Now()) {
			errs = append(errs, fmt.Errorf("RRSIG by %d not valid now", sig.KeyTag))
			continue
		}
		return nil
	}
	if len(errs) == 0 {
		return errors.New("no RRSIG over the addresses")
	}
	return errors.Join(errs...)
}
