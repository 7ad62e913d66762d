package main

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"gopkg.in/yaml.v3"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/internal/testutil"
)

// metricsConfig is one site probing use1 and euw1 at a live backend and
// apse1 at an address where nothing listens.
const metricsConfig = `node: {id: m1}
dns: {listen: [127.77.20.1:0], zones_dir: %s, notify: ["127.77.20.4:5399"]}
admin: {listen: 127.77.20.1:0}
geo: {database: %s}
cluster:
  bootstrap: true
  fresh_for: 5s
  report_interval: 1s
release: {watch: true}
dnssec: {keys_dir: keys}
` + testRegions + `pools:
  - name: web
    check: {kind: http, path: /healthz, interval: 300ms, timeout: 200ms, rise: 1, fall: 1}
    members:
      - region: us-east
        endpoints: [{name: use1, addresses: [192.0.2.10], check_target: "%s"}]
      - region: eu-west
        endpoints: [{name: euw1, addresses: [198.51.100.10], check_target: "%s"}]
      - region: ap-southeast
        endpoints: [{name: apse1, addresses: [203.0.113.10], check_target: "%s"}]
`

const metricsZone = `$ORIGIN gslb.example.com.
$TTL 3600
@    IN SOA ns1 hostmaster %d 7200 3600 1209600 300
@    IN NS  ns1
ns1  IN A   192.0.2.53
www  30 IN GSLB web
`

// exported scrapes a site's /metrics: each sample's metric name.
func exported(t *testing.T, admin string) map[string]bool {
	t.Helper()
	_, body := testutil.HTTP(t, http.MethodGet, "http://"+admin+"/metrics")
	out := map[string]bool{}
	for line := range strings.Lines(body) {
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			out[line[:i]] = true
		}
	}
	return out
}

// metricNameRe finds the metric names in a PromQL expression: every
// metric aya exports starts with aya_ (the runtime's with go_ or process_).
var metricNameRe = regexp.MustCompile(`\b(?:aya|go|process)_[a-z0-9_]+\b`)

// used returns the metric names of the rules' expressions and of the
// dashboard's queries, each with where it is used.
func used(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	b, err := os.ReadFile("../../deploy/prometheus/aya.rules.yml")
	if err != nil {
		t.Fatal(err)
	}
	var rf struct {
		Groups []struct {
			Rules []struct {
				Alert, Record, Expr string
			}
		}
	}
	if err := yaml.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	for _, g := range rf.Groups {
		for _, r := range g.Rules {
			for _, m := range metricNameRe.FindAllString(r.Expr, -1) {
				out[m] = "aya.rules.yml " + r.Alert + r.Record
			}
		}
	}
	b, err = os.ReadFile("../../deploy/grafana/aya.json")
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
		Templating struct {
			List []struct{ Definition string }
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	for _, p := range d.Panels {
		for _, q := range p.Targets {
			for _, m := range metricNameRe.FindAllString(q.Expr, -1) {
				out[m] = "aya.json panel " + p.Title
			}
		}
	}
	for _, v := range d.Templating.List {
		for _, m := range metricNameRe.FindAllString(v.Definition, -1) {
			out[m] = "aya.json variable"
		}
	}
	return out
}

// TestDashboardMetrics runs a real aya serve, probing a live backend and a
// dead one, answering queries and taking a proxy's load report, then
// checks that every metric the alerting rules and the dashboard use is
// one it exports; and that aya_release_build_failed names a broken zone
// file while it is broken and clears when it is fixed.
func TestDashboardMetrics(t *testing.T) {
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", "127.77.20.2:0")
	if err != nil {
		t.Fatal(err)
	}
	backend := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }),
		ReadHeaderTimeout: time.Second}
	go func() { _ = backend.Serve(ln) }()
	t.Cleanup(func() { _ = backend.Close() })
	dead, err := lc.Listen(t.Context(), "tcp", "127.77.20.3:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	_ = dead.Close() // nothing listens there any more

	dir := t.TempDir()
	zones := filepath.Join(dir, "zones")
	if err := os.Mkdir(zones, 0o755); err != nil {
		t.Fatal(err)
	}
	writeZone(t, zones, fmt.Sprintf(metricsZone, 1))
	// The site holds the zone's keys (dnssec.keys_dir: keys, beside the
	// configuration): it signs, and exports the DNSSEC metrics.
	since := time.Now().Add(-time.Hour).Truncate(time.Second)
	if err := os.Mkdir(filepath.Join(dir, "keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	for _, role := range []dnssec.Role{dnssec.KSK, dnssec.ZSK} {
		tm := dnssec.Timing{Created: since, Publish: since, Activate: since}
		if role == dnssec.KSK {
			tm.SyncPublish = since
		}
		if _, err := generateKey("gslb.example.com.", filepath.Join(dir, "keys"), dns.ECDSAP256SHA256, role, tm); err != nil {
			t.Fatal(err)
		}
	}
	geoDB, err := filepath.Abs("../../zones/geo/demo.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "aya.yaml")
	live := ln.Addr().String()
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(metricsConfig, zones, geoDB, live, live, deadAddr)), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServe(t, []string{"AYA_CLUSTER_BIND=127.77.20.1:0"}, "--config", cfg)
	waitFor(t, 15*time.Second, func() bool { return metric(t, s.admin, "aya_release_version") == "1" },
		func() string { return "no release served:\n" + s.log.String() })

	// Queries over both transports, one steered.
	for _, net := range []string{"udp", "tcp"} {
		for _, name := range []string{"www.gslb.example.com.", "nothere.gslb.example.com."} {
			m := new(dns.Msg)
			m.SetQuestion(name, dns.TypeA)
			if _, _, err := (&dns.Client{Net: net, Timeout: 2 * time.Second}).Exchange(m, s.dns); err != nil {
				t.Fatalf("%s %s: %v", net, name, err)
			}
		}
	}
	// A proxy's load report of eu-west, as aya proxy sends it.
	v, _ := json.Marshal(cluster.LoadReport{Region: "eu-west", Reporter: "proxy-1", InFlight: 30, Capacity: 100})
	if err := (&cluster.Client{}).Do(t.Context(), s.admin, cluster.PathApply, "", cluster.ApplyRequest{Type: cluster.CmdLoad, V: v}, nil); err != nil {
		t.Fatalf("load report: %v", err)
	}
	// The dead endpoint's region goes down; every probe result is seen.
	waitFor(t, 15*time.Second, func() bool {
		return metric(t, s.admin, `aya_cluster_region_up{pool="web",region="ap-southeast"}`) == "0" &&
			metric(t, s.admin, `aya_cluster_region_up{pool="web",region="eu-west"}`) == "1" &&
			metric(t, s.admin, `aya_cluster_region_load_ratio{region="eu-west"}`) == "0.3" &&
			metric(t, s.admin, `aya_cluster_site_report_age_seconds{site="m1"}`) != ""
	}, func() string { return "regions not decided:\n" + s.log.String() })

	got := exported(t, s.admin)
	names := used(t)
	if len(names) < 20 {
		t.Fatalf("only %d metric names found in the rules and the dashboard: %v", len(names), names)
	}
	for _, name := range slices.Sorted(func(yield func(string) bool) {
		for n := range names {
			if !yield(n) {
				return
			}
		}
	}) {
		if !got[name] && !got[name+"_bucket"] {
			t.Errorf("%s (%s) is not exported", name, names[name])
		}
	}
	t.Logf("%d metric names of the rules and the dashboard checked", len(names))
	for name, want := range map[string]string{
		`aya_release_build_failed{file="gslb.example.com.zone"}`: "0",
		`aya_release_build_failed{file="aya.yaml"}`:              "0",
		"aya_release_compile_failed":                             "0",
		"aya_geo_last_reload_successful":                         "1",
		"aya_dns_tcp_max_connections":                            "1024",
	} {
		if v := metric(t, s.admin, name); v != want {
			t.Errorf("%s = %q, want %s", name, v, want)
		}
	}

	// A broken zone file: named while it is broken, cleared once fixed;
	// the fixed zone's new serial is logged once.
	writeZone(t, zones, fmt.Sprintf(metricsZone, 2)+"www IN A 300.1.1.1\n")
	waitFor(t, 10*time.Second, func() bool {
		return metric(t, s.admin, `aya_release_build_failed{file="gslb.example.com.zone"}`) == "1"
	},
		func() string { return "the broken zone file is not flagged:\n" + s.log.String() })
	if v := metric(t, s.admin, `aya_release_build_failed{file="aya.yaml"}`); v != "0" {
		t.Errorf(`aya_release_build_failed{file="aya.yaml"} = %q with only the zone broken, want 0`, v)
	}
	time.Sleep(500 * time.Millisecond) // probes and reloads go on: still flagged
	if v := metric(t, s.admin, `aya_release_build_failed{file="gslb.example.com.zone"}`); v != "1" {
		t.Errorf("the broken zone file's flag = %q while it is still broken, want 1", v)
	}
	writeZone(t, zones, fmt.Sprintf(metricsZone, 3))
	waitFor(t, 10*time.Second, func() bool {
		return metric(t, s.admin, `aya_release_build_failed{file="gslb.example.com.zone"}`) == "0" &&
			metric(t, s.admin, `aya_dns_zone_serial{zone="gslb.example.com."}`) == "3"
	}, func() string { return "the fixed zone file is still flagged or not served:\n" + s.log.String() })
	if n := strings.Count(s.log.String(), `msg="zone reloaded" zone=gslb.example.com.`); n != 1 {
		t.Errorf(`"zone reloaded" logged %d times, want once:`+"\n%s", n, s.log)
	}
	if !strings.Contains(s.log.String(), "serial=3 previous_serial=1") {
		t.Errorf("the reload does not log its serials:\n%s", s.log)
	}
}

// TestServeOneCPU: pinned to one CPU, aya serve runs two Ps (spareP) and
// still reads one UDP socket; GOMAXPROCS in the environment is obeyed.
func TestServeOneCPU(t *testing.T) {
	taskset, err := exec.LookPath("taskset")
	if err != nil {
		t.Skip("taskset (util-linux) not installed")
	}
	env := []string{"AYA_DNS_LISTEN=127.0.0.1:0", "AYA_ADMIN_LISTEN=127.0.0.1:0", "AYA_DNS_ZONES_DIR=../../zones",
		"AYA_GEO_DATABASE=../../zones/geo/demo.yaml"}
	for _, tc := range []struct {
		name  string
		env   []string
		procs string
	}{
		{"default", nil, "2"},
		{"GOMAXPROCS set", []string{"GOMAXPROCS=1"}, "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := startServeUnder(t, []string{taskset, "-c", "0"}, append(slices.Clone(env), tc.env...))
			if got := metric(t, s.admin, "go_sched_gomaxprocs_threads"); got != tc.procs {
				t.Errorf("go_sched_gomaxprocs_threads = %q, want %s", got, tc.procs)
			}
			if n := udpSockets(t, s.dns); n != 1 {
				t.Errorf("%d UDP sockets on %s, want 1", n, s.dns)
			}
			if got, err := queryA(s.dns, "www.gslb.example.com."); err != nil || got == "" {
				t.Errorf("query: %q, %v", got, err)
			}
		})
	}
}

// udpSockets counts the UDP sockets bound to addr (host:port), from
// /proc/net/udp: each SO_REUSEPORT socket has its own line.
func udpSockets(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var p int
	if _, err := fmt.Sscan(port, &p); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("/proc/net/udp")
	if err != nil {
		t.Skip("no /proc/net/udp:", err)
	}
	want := fmt.Sprintf("0100007F:%04X", p) // 127.0.0.1, little-endian as the kernel prints it
	n := 0
	for line := range strings.Lines(string(b)) {
		if f := strings.Fields(line); len(f) > 1 && f[1] == want {
			n++
		}
	}
	return n
}
