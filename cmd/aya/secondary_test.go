package main

import (
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/internal/testutil"
)

// secondaryIP is where the Knot secondary of TestReleaseReachesSecondary
// listens.
const secondaryIP = "127.77.71.2"

// TestReleaseReachesSecondary: a Knot DNS secondary (knotd from apt) of
// the three sites of a cluster, fed by AXFR and NOTIFY (dns.notify), serves
// the zone with the steered name's default answer, and has the new serial
// of a release applied with `aya apply` within a second.
func TestReleaseReachesSecondary(t *testing.T) {
	testutil.LookTool(t, "knotd", "knot")
	port := testutil.FreePort(t, secondaryIP)
	tc := startCluster(t, 72, &clusterOpts{env: []string{
		fmt.Sprintf("AYA_DNS_NOTIFY=%s:%d", secondaryIP, port),
		"AYA_DNS_TRANSFER_ALLOW=" + secondaryIP,
	}})
	var primaries []netip.AddrPort
	for _, s := range tc.sites {
		primaries = append(primaries, netip.MustParseAddrPort(s.dnsAddr()))
	}
	const zone = "gslb.example.com."
	knot := testutil.KnotSecondary{Addr: secondaryIP, Port: port, Primaries: primaries, Zones: []string{zone}}.Start(t).Addr
	text, err := os.ReadFile("../../zones/gslb.example.com.zone")
	if err != nil {
		t.Fatal(err)
	}
	const serial = 2026112401
	if !strings.Contains(string(text), fmt.Sprint(" ", serial, " ")) {
		t.Fatalf("zones/gslb.example.com.zone: serial %d not found", serial)
	}
	testutil.WaitSerial(t, knot, zone, serial, 10*time.Second)

	// The secondary answers www with the pool's default (its first region,
	// us-east), where the sites steer this client to eu-west.
	r, err := testutil.Query(knot, "www."+zone, dns.TypeA)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.10" || !r.Authoritative {
		t.Errorf("the secondary answers www A with %v (AA %v), want the default 192.0.2.10", r.Answer, r.Authoritative)
	}

	// A release with the zone at serial+1.
	dir := t.TempDir()
	zones := filepath.Join(dir, "zones")
	if err := os.Mkdir(zones, 0o750); err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(text), fmt.Sprint(" ", serial, " "), fmt.Sprint(" ", serial+1, " "), 1)
	if err := os.WriteFile(filepath.Join(zones, "gslb.example.com.zone"), []byte(next), 0o600); err != nil {
		t.Fatal(err)
	}
	cand := candidate(t, tc, dir, 1)
	b, err := os.ReadFile(cand)
	if err != nil {
		t.Fatal(err)
	}
	repo, _ := filepath.Abs("../../zones")
	if err := os.WriteFile(cand, []byte(strings.Replace(string(b), "zones_dir: "+repo, "zones_dir: "+zones, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	// While aya apply runs, watch when the first site and the secondary
	// answer the new serial.
	type seen struct {
		site, knot time.Time
	}
	watched := make(chan seen, 1)
	start := time.Now()
	go func() {
		var w seen
		for time.Since(start) < 15*time.Second && (w.site.IsZero() || w.knot.IsZero()) {
			for _, s := range tc.sites {
				if got, err := testutil.SOASerial(s.dnsAddr(), zone); w.site.IsZero() && err == nil && got == serial+1 {
					w.site = time.Now()
				}
			}
			if got, err := testutil.SOASerial(knot, zone); w.knot.IsZero() && err == nil && got == serial+1 {
				w.knot = time.Now()
			}
			time.Sleep(2 * time.Millisecond)
		}
		watched <- w
	}()
	apply(t, tc.sites[0], cand)
	applied := time.Since(start)
	w := <-watched
	if w.site.IsZero() || w.knot.IsZero() {
		t.Fatalf("serial %d: first site at %v, secondary at %v (zero: never within 15s)", serial+1, w.site, w.knot)
	}
	took := w.knot.Sub(w.site)
	t.Logf("aya apply took %v; serial %d at the first site %v after it began, at the secondary %v after that",
		applied.Round(time.Millisecond), serial+1, w.site.Sub(start).Round(time.Millisecond), took.Round(time.Millisecond))
	if took > time.Second {
		t.Errorf("the secondary had the new serial %v after the first site, want within 1s", took)
	}
	for _, s := range tc.sites {
		if got := metric(t, s.adminAddr(), `aya_dns_notify_total{result="ok",zone="gslb.example.com."}`); got == "" || got == "0" {
			t.Errorf("%s: aya_dns_notify_total ok = %q, want the secondary's acknowledgements", s.id, got)
		}
	}
}
