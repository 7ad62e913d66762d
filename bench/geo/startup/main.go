// Command startup measures how long `aya serve` takes from exec to its first
// answer: it starts the binary, queries a GSLB name over UDP every few
// milliseconds until an answer with records comes back, prints the time and
// the time of each log line the server wrote before it (where the start-up
// goes), stops the server with SIGTERM, and does it again -runs times. The
// first run starts on an empty data dir (bootstrap); the later ones on the
// state the earlier ones left (restart).
//
//	startup -aya bin/aya -config aya.yaml -addr 127.77.40.1:15401 -runs 5 -- --geo-database big.mmdb
//
// Arguments after -- go to `aya serve`; the environment is passed on.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"time"

	"github.com/miekg/dns"
)

func main() {
	aya := flag.String("aya", "bin/aya", "aya binary")
	cfg := flag.String("config", "aya.yaml", "configuration file")
	addr := flag.String("addr", "127.77.40.1:15401", "DNS address the server listens on (dns.listen)")
	name := flag.String("name", "www.gslb.example.com.", "name to ask (A)")
	subnet := flag.String("subnet", "81.2.69.142/24", "ECS subnet of the queries, so that the answer needs the geo database; \"\" for none")
	runs := flag.Int("runs", 5, "starts to measure")
	limit := flag.Duration("limit", 30*time.Second, "give up on a start after this long")
	verbose := flag.Bool("v", false, "print every log line with its time")
	flag.Parse()
	if ip, _, err := net.SplitHostPort(*addr); err != nil || !net.ParseIP(ip).IsLoopback() {
		fail(fmt.Errorf("-addr %q: want a loopback host:port", *addr))
	}
	var times []time.Duration
	for i := range *runs {
		d, lines, err := start(*aya, *cfg, *addr, *name, *subnet, *limit, flag.Args())
		if err != nil {
			fail(fmt.Errorf("run %d: %w", i+1, err))
		}
		kind := "restart"
		if i == 0 {
			kind = "bootstrap"
		}
		fmt.Printf("run %d (%s): first answer after %v\n", i+1, kind, d.Round(time.Millisecond))
		for _, l := range lines {
			if *verbose || l.at <= d+2*time.Second {
				fmt.Printf("  %7.1f ms  %s\n", float64(l.at.Microseconds())/1000, l.text)
			}
		}
		times = append(times, d)
	}
	slices.Sort(times)
	fmt.Printf("first answer: min %v, median %v, max %v over %d starts\n", times[0].Round(time.Millisecond),
		times[len(times)/2].Round(time.Millisecond), times[len(times)-1].Round(time.Millisecond), len(times))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "startup:", err)
	os.Exit(1)
}

type line struct {
	at   time.Duration
	text string
}

// start runs one start: exec, query until answered, SIGTERM, wait.
func start(aya, cfg, addr, name, subnet string, limit time.Duration, extra []string) (time.Duration, []line, error) {
	cmd := exec.Command(aya, append([]string{"serve", "--config", cfg}, extra...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, nil, err
	}
	cmd.Stdout = os.Stdout
	lines := make(chan line, 256)
	t0 := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, nil, err
	}
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines <- line{time.Since(t0), sc.Text()}
		}
		close(lines)
	}()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	m := new(dns.Msg)
	m.SetQuestion(name, dns.TypeA)
	if subnet != "" {
		_, ipn, err := net.ParseCIDR(subnet)
		if err != nil {
			return 0, nil, err
		}
		bits, _ := ipn.Mask.Size()
		o := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
		o.SetUDPSize(1232)
		o.Option = append(o.Option, &dns.EDNS0_SUBNET{Code: dns.EDNS0SUBNET, Family: 1, SourceNetmask: uint8(bits), Address: ipn.IP})
		m.Extra = append(m.Extra, o)
	}
	c := &dns.Client{Net: "udp", Timeout: 20 * time.Millisecond}
	var got []line
	for {
		if time.Since(t0) > limit {
			return 0, got, fmt.Errorf("no answer within %v", limit)
		}
		r, _, err := c.Exchange(m, addr)
		if err == nil && r.Rcode == dns.RcodeSuccess && len(r.Answer) > 0 {
			d := time.Since(t0)
			// The log lines written until now, and those of the next 2 s
			// (what start-up does after the first answer, e.g. verification).
			deadline := time.After(2 * time.Second)
		collect:
			for {
				select {
				case l, ok := <-lines:
					if !ok {
						break collect
					}
					got = append(got, l)
				case <-deadline:
					break collect
				}
			}
			return d, got, nil
		}
		for len(lines) > 0 {
			got = append(got, <-lines)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
