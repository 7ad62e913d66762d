package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/plan"
)

// candidate writes a configuration for `aya apply`: the test cluster's
// regions and pool web, whose eu-west has a second endpoint euw2 checked
// at an address nothing listens on, with min_endpoints minEU.
func candidate(t *testing.T, tc *testCluster, dir string, minEU int) string {
	t.Helper()
	zones, _ := filepath.Abs("../../zones")
	cfg := fmt.Sprintf(`node: {id: ci}
dns: {listen: [127.0.0.1:0], zones_dir: %s}
cluster:
  fresh_for: 5s
  report_interval: 1s
`+testRegions+`pools:
  - name: web
    check: {kind: http, path: /healthz, interval: 500ms, timeout: 250ms, rise: 2, fall: 2}
    members:
      - region: us-east
        endpoints: [{name: use1, addresses: [192.0.2.10], check_target: "%s"}]
      - region: eu-west
        min_endpoints: %d
        endpoints:
          - {name: euw1, addresses: [198.51.100.10], check_target: "%s"}
          - {name: euw2, addresses: [198.51.100.11], check_target: "127.77.6.110:8080"}
      - region: ap-southeast
        endpoints: [{name: apse1, addresses: [203.0.113.10], check_target: "%s"}]
`, zones, tc.backends["use1"].addr, minEU, tc.backends["euw1"].addr, tc.backends["apse1"].addr)
	path := filepath.Join(dir, fmt.Sprintf("candidate-%d.yaml", minEU))
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// apply runs aya apply of the configuration at path through site s (at
// admin, when given).
func apply(t *testing.T, s *site, path string, admin ...string) string {
	t.Helper()
	addr := s.adminAddr()
	if len(admin) > 0 {
		addr = admin[0]
	}
	out, err := exec.Command(ayaBin, "apply", "--config", path, "--admin", addr, "--by", "ci", "--source", "test").CombinedOutput()
	if err != nil {
		t.Fatalf("aya apply %s: %v\n%s", path, err, out)
	}
	return string(out)
}

// TestRelease: a site given different files never answers by them and
// flags them; a release applied through a follower moves every site
// within a second and the sites disagree for at most 200 ms; a site
// restarted without quorum answers from its last state (a drain it had
// seen), and one restarted with a leader reachable answers from the
// cluster's latest state from its first answer on.
func TestRelease(t *testing.T) {
	tc := startCluster(t, 6, nil)
	all := tc.sites
	s1, s2, s3 := all[0], all[1], all[2]
	waitAnswer(t, all, euWest, 10*time.Second)

	// s3's files change (eu-west pushed 20,000 km away): it flags them,
	// and answers like the others.
	b, err := os.ReadFile(s3.config)
	if err != nil {
		t.Fatal(err)
	}
	changed := strings.Replace(string(b), "      - region: eu-west\n", "      - region: eu-west\n        bias_km: 20000\n", 1)
	if err := os.WriteFile(s3.config, []byte(changed), 0o600); err != nil {
		t.Fatal(err)
	}
	flagged := time.Now()
	waitFor(t, 5*time.Second, func() bool { return metric(t, s3.adminAddr(), "aya_release_local_differs") == "1" },
		func() string { return "s3's different files not flagged:\n" + s3.s.log.String() })
	t.Logf("s3's different files flagged after %s", time.Since(flagged).Round(time.Millisecond))
	// ... and so does every other site, from the log.
	waitFor(t, 5*time.Second, func() bool {
		return metric(t, s1.adminAddr(), `aya_cluster_sites_differ{what="local"}`) == "1"
	}, func() string {
		st, err := tc.status(t, s1)
		return fmt.Sprintf("s1 does not flag s3's files: %v %+v %v", err, st.View.Sites, st.View.Differ)
	})
	t.Logf("flagged at s1 after %s", time.Since(flagged).Round(time.Millisecond))
	if out, err := exec.Command(ayaBin, "status", "--config", s1.config, "--admin", s1.adminAddr()).CombinedOutput(); err != nil ||
		!strings.Contains(string(out), "DIFFERS  local: s3=") {
		t.Errorf("aya status at s1 does not show s3's files: %v\n%s", err, out)
	}
	for range 5 {
		for _, s := range all {
			if a, err := queryA(s.dnsAddr(), "www.gslb.example.com."); err != nil || a != euWest {
				t.Fatalf("%s answers %q %v after its files changed, want %s like the others", s.id, a, err, euWest)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}

	// A release with a second eu-west endpoint, down, and min_endpoints 1.
	dir := t.TempDir()
	out := apply(t, s2, candidate(t, tc, dir, 1))
	if !strings.Contains(out, "applied at log index") {
		t.Fatalf("aya apply: %s", out)
	}
	waitFor(t, 10*time.Second, func() bool {
		st, err := tc.status(t, s1)
		if err != nil {
			return false
		}
		for _, e := range st.View.Endpoints {
			if e.Endpoint == "euw2" && !e.Up {
				return true
			}
		}
		return false
	}, func() string { return "euw2 not down:\n" + tc.logs() })
	waitAnswer(t, all, euWest, time.Second)

	// The same with min_endpoints 2: eu-west is down at every site.
	cand := candidate(t, tc, dir, 2)
	// The race detector's runtime sleeps a second at exit: the polling
	// starts with the command, not after it.
	start := time.Now()
	applied := make(chan string, 1)
	go func() {
		out, err := exec.Command(ayaBin, "apply", "--config", cand, "--admin", s3.adminAddr(), "--by", "ci").CombinedOutput()
		if err != nil {
			out = append(out, err.Error()...)
		}
		applied <- string(out)
	}()
	first, last := time.Time{}, time.Time{}
	pending := map[*site]bool{s1: true, s2: true, s3: true}
	for len(pending) > 0 && time.Since(start) < 5*time.Second {
		for s := range pending {
			if a, err := queryA(s.dnsAddr(), "www.gslb.example.com."); err == nil && a == usEast {
				now := time.Now()
				if first.IsZero() {
					first = now
				}
				last = now
				delete(pending, s)
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	if len(pending) > 0 {
		t.Fatalf("after 5s, %d sites still answer eu-west:\n%s", len(pending), tc.logs())
	}
	t.Logf("min_endpoints 2: from apply to the last site %s; sites disagreed for %s", last.Sub(start).Round(time.Millisecond), last.Sub(first).Round(time.Millisecond))
	if out := <-applied; !strings.Contains(out, "applied at log index") {
		t.Fatalf("aya apply: %s", out)
	}
	if d := last.Sub(start); d > time.Second {
		t.Errorf("from apply to the last site answering by the new rule: %s, want ≤ 1s", d)
	}
	if d := last.Sub(first); d > 200*time.Millisecond {
		t.Errorf("sites disagreed for %s, want ≤ 200ms", d)
	}
	if out := apply(t, s1, cand); !strings.Contains(out, "running already") {
		t.Errorf("the same release again: %s", out)
	}

	// Back to eu-west, then drained there.
	apply(t, s1, candidate(t, tc, dir, 1))
	waitAnswer(t, all, euWest, 2*time.Second)
	if out, err := exec.Command(ayaBin, "drain", "eu-west", "--reason", "release test", "--config", s1.config, "--admin", s1.adminAddr()).CombinedOutput(); err != nil {
		t.Fatalf("drain: %v\n%s", err, out)
	}
	waitAnswer(t, all, usEast, 2*time.Second)

	// Every site down, s3 restarted alone: no quorum, and it answers from
	// its disk, drained, from its first answer on.
	for _, s := range all {
		_ = s.s.kill()
	}
	s3.start(t)
	checkAnswers(t, s3, usEast, 2*time.Second)
	if !strings.Contains(s3.s.log.String(), "no leader reachable; answering from the state restored from disk") {
		t.Errorf("s3 did not say it answers from its disk:\n%s", s3.s.log)
	}

	// s1 and s2 back: a leader again. s3 down while eu-west is undrained,
	// then restarted: it answers eu-west from its first answer on.
	s1.start(t)
	s2.start(t)
	tc.waitMembers(t, all, 3)
	_ = s3.s.kill()
	waitFor(t, 10*time.Second, func() bool {
		// --wait 0: s3 is down on purpose, and waiting for it would keep it
		// down ten seconds longer, long enough for the leader's replication
		// to it to back off past the two seconds checkAnswers gives.
		out, err := exec.Command(ayaBin, "undrain", "eu-west", "--wait", "0", "--config", s1.config, "--admin", s1.adminAddr()).CombinedOutput()
		if err != nil {
			t.Logf("undrain: %v: %s", err, out)
		}
		return err == nil
	}, func() string { return "undrain failed:\n" + tc.logs() })
	waitAnswer(t, all[:2], euWest, 2*time.Second)
	// Down long enough for the leader to back off replicating to s3
	// (hashicorp/raft: up to 10.24 s): the restarted s3 must still wait
	// for it rather than answer from its older disk state.
	time.Sleep(6 * time.Second)
	s3.start(t)
	checkAnswers(t, s3, euWest, 2*time.Second)

	// Every site down again, s3 restarted alone: eu-west's euw2 is down in
	// what it had, so no client of eu-west gets it (each European network
	// below hashes on its own: with the state lost, about half would).
	for _, s := range all {
		_ = s.s.kill()
	}
	s3.start(t)
	n := 0
	for end := time.Now().Add(time.Second); time.Now().Before(end); n++ {
		for _, sub := range []string{"", "81.2.69.0/24", "2.125.160.0/24", "89.160.20.0/24", "198.51.100.0/24"} {
			if got := queryECS(t, s3.dnsAddr(), "www.gslb.example.com.", dns.TypeA, sub); len(got) != 1 || !strings.HasSuffix(got[0], "\t"+euWest) {
				t.Fatalf("s3 restarted without quorum answers %s with %v, want only euw1's %s (euw2 is down)", sub, got, euWest)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("s3 without quorum: %d rounds of 5 European networks, none given the down endpoint", n)
}

// checkAnswers queries s for d, from now on, and fails on any answer other
// than want.
func checkAnswers(t *testing.T, s *site, want string, d time.Duration) {
	t.Helper()
	n, wrong := 0, 0
	for end := time.Now().Add(d); time.Now().Before(end); n++ {
		a, err := queryA(s.dnsAddr(), "www.gslb.example.com.")
		if err != nil || a != want {
			wrong++
			t.Logf("%s answered %q %v, want %s", s.id, a, err, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Logf("%s: %d answers, %d wrong", s.id, n, wrong)
	if wrong > 0 {
		t.Errorf("%s: %d of %d answers wrong:\n%s", s.id, wrong, n, s.s.log)
	}
}

// TestDiff: aya diff's plan of a candidate agrees with what queries show:
// every sample subnet of every move is answered from the move's From
// region before the candidate is applied and from its To region after,
// and a network it does not list keeps its answer.
func TestDiff(t *testing.T) {
	dir := t.TempDir()
	base, err := os.ReadFile("../../aya.yaml")
	if err != nil {
		t.Fatal(err)
	}
	zones, _ := filepath.Abs("../../zones")
	geoDB, _ := filepath.Abs("../../zones/geo/demo.yaml")
	cfg := strings.NewReplacer("zones_dir: zones", "zones_dir: "+zones, "database: zones/geo/demo.yaml", "database: "+geoDB,
		"watch: true", "watch: false").Replace(string(base))
	live := filepath.Join(dir, "aya.yaml")
	if err := os.WriteFile(live, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	// The candidate pushes eu-west 20,000 km away: Europe moves.
	cand := filepath.Join(dir, "candidate.yaml")
	if err := os.WriteFile(cand, []byte(strings.Replace(cfg, "      - region: eu-west\n", "      - region: eu-west\n        bias_km: 20000\n", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	s := startServe(t, []string{"AYA_DNS_LISTEN=127.0.0.1:0", "AYA_ADMIN_LISTEN=127.0.0.1:0", "AYA_CLUSTER_BOOTSTRAP=true"}, "--config", live)
	t.Logf("serving after %s", time.Since(t0))

	out, err := exec.Command(ayaBin, "diff", "--config", cand, "--admin", s.admin, "--json").Output()
	if err != nil {
		t.Fatalf("aya diff: %v\n%s", err, out)
	}
	var rep plan.Report
	if err := json.Unmarshal(out, &rep); err != nil {
		t.Fatalf("aya diff --json: %v\n%s", err, out)
	}
	addr := map[string]map[uint16]string{
		"us-east": {dns.TypeA: "192.0.2.10", dns.TypeAAAA: "2001:db8:1::10"},
		"eu-west": {dns.TypeA: "198.51.100.10", dns.TypeAAAA: "2001:db8:2::10"},
	}
	type probe struct {
		sub      string
		qt       uint16
		from, to string
	}
	var probes []probe
	for _, n := range rep.Names {
		for _, m := range n.Moves {
			for _, p := range m.Samples {
				qt := dns.TypeA
				if p.Addr().Is6() {
					qt = dns.TypeAAAA
				}
				probes = append(probes, probe{p.String(), qt, m.From.Region, m.To.Region})
			}
		}
	}
	if len(probes) == 0 {
		t.Fatalf("the plan moves nothing:\n%s", out)
	}
	// A network the plan does not move: Milton, WA, in North America.
	probes = append(probes, probe{"216.160.83.0/24", dns.TypeA, "us-east", "us-east"})
	check := func(after bool) {
		t.Helper()
		for _, p := range probes {
			want := p.from
			if after {
				want = p.to
			}
			got := queryECS(t, s.dns, "www.gslb.example.com.", p.qt, p.sub)
			if len(got) != 1 || !strings.HasSuffix(got[0], "\t"+addr[want][p.qt]) {
				t.Errorf("after apply %v: %s gets %v, want %s's %s", after, p.sub, got, want, addr[want][p.qt])
			}
		}
	}
	t.Logf("planned after %s", time.Since(t0))
	check(false)
	t.Logf("checked after %s", time.Since(t0))
	apply(t, &site{id: "s", config: cand}, cand, s.admin)
	waitFor(t, 5*time.Second, func() bool { return metric(t, s.admin, "aya_release_version") == "2" },
		func() string { return "candidate not applied:\n" + s.log.String() })
	t.Logf("applied after %s", time.Since(t0))
	check(true)
	t.Logf("%d sample subnets of %d moves answered as planned, before and after", len(probes)-1, len(rep.Names[0].Moves))
}
