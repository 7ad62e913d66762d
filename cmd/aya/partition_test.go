package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/internal/mtls"
)

// netnsLab is a set of network namespaces made for one test: a hub holding
// a bridge, and one namespace per site linked to it by a veth pair. The
// test's sites talk only through the hub, so taking a site's link down on
// the hub cuts it off for real. Nothing is created in the host's own
// namespace; Close deletes everything.
type netnsLab struct {
	t      *testing.T
	prefix string
	hub    string
	sites  []string
}

// newNetnsLab creates the namespaces, or skips the test when it cannot
// (not root, no ip(8), no namespaces in this sandbox).
func newNetnsLab(t *testing.T, n int) *netnsLab {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root")
	}
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("ip(8) not installed (iproute2)")
	}
	lab := &netnsLab{t: t, prefix: fmt.Sprintf("aya%d", os.Getpid()%100000)}
	lab.hub = lab.prefix + "h"
	if err := lab.ip("netns", "add", lab.hub); err != nil {
		t.Skipf("cannot create network namespaces here: %v", err)
	}
	t.Cleanup(lab.close)
	lab.must("-n", lab.hub, "link", "add", "br0", "type", "bridge")
	lab.must("-n", lab.hub, "link", "set", "br0", "up")
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%s%d", lab.prefix, i)
		lab.must("netns", "add", ns)
		lab.sites = append(lab.sites, ns)
		lab.must("link", "add", "name", "eth0", "netns", ns, "type", "veth", "peer", "name", fmt.Sprintf("s%d", i), "netns", lab.hub)
		lab.must("-n", ns, "addr", "add", lab.addr(i)+"/24", "dev", "eth0")
		lab.must("-n", ns, "link", "set", "eth0", "up")
		lab.must("-n", ns, "link", "set", "lo", "up")
		lab.must("-n", lab.hub, "link", "set", fmt.Sprintf("s%d", i), "master", "br0")
		lab.must("-n", lab.hub, "link", "set", fmt.Sprintf("s%d", i), "up")
	}
	return lab
}

// addr is site i's address (1-based), on the 10.77.0.0/24 of the hub.
func (lab *netnsLab) addr(i int) string { return fmt.Sprintf("10.77.0.%d", i) }

func (lab *netnsLab) ip(args ...string) error {
	out, err := exec.Command("ip", args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("ip %s: %w: %s", strings.Join(args, " "), err, out)
	}
	return nil
}

func (lab *netnsLab) must(args ...string) {
	lab.t.Helper()
	if err := lab.ip(args...); err != nil {
		lab.t.Fatal(err)
	}
}

// link takes site i's link to the hub down (cut off) or up.
func (lab *netnsLab) link(i int, up bool) {
	lab.t.Helper()
	state := "down"
	if up {
		state = "up"
	}
	lab.must("-n", lab.hub, "link", "set", fmt.Sprintf("s%d", i), state)
}

func (lab *netnsLab) close() {
	for _, ns := range append(lab.sites, lab.hub) {
		_ = lab.ip("netns", "del", ns)
	}
}

// in returns a command that runs name args... inside site i's namespace.
func (lab *netnsLab) in(ctx context.Context, i int, name string, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", lab.sites[i-1], name}, args...)...)
}

// TestPartition: a site cut off from the others (its link to the hub down)
// keeps answering from the last state it had while the majority decides
// without it, says how stale it is, and catches up when it is back.
func TestPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	if _, err := exec.LookPath("dig"); err != nil {
		t.Skip("dig not installed (apt-get install bind9-dnsutils); .ci/run installs it")
	}
	lab := newNetnsLab(t, 3)
	dir := t.TempDir()
	zones, _ := filepath.Abs("../../zones")
	geoDB, _ := filepath.Abs("../../zones/geo/demo.yaml")
	// Off loopback, the admin API needs a token (the sites and the
	// commands of this test read it from the environment) and the Raft
	// transport a secret (or TLS files).
	t.Setenv("AYA_ADMIN_TOKEN", "partition-test-token")
	secret := filepath.Join(dir, "cluster.secret")
	if err := os.WriteFile(secret, []byte(mtls.NewSecret()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		membership := "  bootstrap: true\n"
		if i > 1 {
			membership = fmt.Sprintf("  join: [%s:9053]\n", lab.addr(1))
		}
		membership += "  secret_file: " + secret + "\n"
		cfg := fmt.Sprintf(partitionConfig, i, lab.addr(i), zones, lab.addr(i), geoDB, lab.addr(i), filepath.Join(dir, fmt.Sprint(i)), membership)
		path := filepath.Join(dir, fmt.Sprintf("s%d.yaml", i))
		if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		startIn(t, lab, i, path)
	}

	// status asks site i's admin API, from inside its namespace.
	status := func(i int) (cluster.StatusResponse, error) {
		var st cluster.StatusResponse
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		out, err := lab.in(ctx, i, ayaBin, "status", "--json", "--admin", lab.addr(i)+":9053").Output()
		if err != nil {
			return st, err
		}
		return st, json.Unmarshal(out, &st)
	}
	// answer is site i's answer to a London client (ECS), asked from
	// inside its namespace.
	answer := func(i int) string {
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		out, err := lab.in(ctx, i, "dig", "+short", "+tries=1", "+time=1", "+subnet=81.2.69.142/32",
			"@"+lab.addr(i), "-p", "5300", "www.gslb.example.com", "A").CombinedOutput()
		if err != nil {
			return fmt.Sprintf("dig failed: %v: %s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	waitAll := func(sites []int, want string, within time.Duration) {
		t.Helper()
		waitFor(t, within, func() bool {
			for _, i := range sites {
				if answer(i) != want {
					return false
				}
			}
			return true
		}, func() string {
			var got []string
			for _, i := range sites {
				got = append(got, fmt.Sprintf("s%d: %s", i, answer(i)))
			}
			return fmt.Sprintf("want %s from sites %v, got %v", want, sites, got)
		})
	}
	waitFor(t, 20*time.Second, func() bool {
		for i := 1; i <= 3; i++ {
			st, err := status(i)
			if err != nil || len(st.Node.Members) != 3 || len(st.View.Admins) != 3 || st.Node.LeaderID == "" {
				return false
			}
		}
		return true
	}, func() string { return "the cluster did not form" })
	waitAll([]int{1, 2, 3}, euWest, 5*time.Second)

	drain := func(i int, verb string, args ...string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(t.Context(), 15*time.Second)
		defer cancel()
		args = append([]string{verb, "eu-west", "--admin", lab.addr(i) + ":9053", "--by", "test"}, args...)
		if out, err := lab.in(ctx, i, ayaBin, args...).CombinedOutput(); err != nil {
			t.Fatalf("aya %s at s%d: %v\n%s", verb, i, err, out)
		}
	}

	// Cut s3 off; the majority (s1, s2) drains eu-west without it.
	lab.link(3, false)
	cut := time.Now()
	waitFor(t, 10*time.Second, func() bool {
		st, err := status(1)
		return err == nil && st.Node.LeaderID != "" && st.Node.LeaderID != "s3" && st.Node.State != "Candidate"
	}, func() string { return "the majority has no leader" })
	drain(1, "drain", "--reason", "partition test")
	waitAll([]int{1, 2}, usEast, 5*time.Second)

	// s3 still answers, from its last state, and says it is stale.
	var answered atomic.Int64
	for range 5 {
		if a := answer(3); a != euWest {
			t.Fatalf("cut-off s3 answers %q, want its last state %s", a, euWest)
		}
		answered.Add(1)
	}
	st, err := status(3)
	if err != nil {
		t.Fatal(err)
	}
	if st.Staleness.D() < time.Since(cut)/2 || len(st.View.Drains) != 0 {
		t.Errorf("cut-off s3: staleness %s (cut %s ago), drains %v", st.Staleness, time.Since(cut), st.View.Drains)
	}
	t.Logf("s3 cut off: answered %d queries from its last state, staleness %s", answered.Load(), st.Staleness.D().Round(time.Millisecond))

	// Back: s3 catches up and answers like the others.
	lab.link(3, true)
	back := time.Now()
	waitAll([]int{3}, usEast, 15*time.Second)
	t.Logf("s3 caught up %s after its link came back", time.Since(back).Round(time.Millisecond))
	waitFor(t, 10*time.Second, func() bool {
		st, err := status(3)
		return err == nil && st.Staleness.D() < 2*time.Second && st.Node.LeaderID != ""
	}, func() string { return "s3 still stale after catching up" })

	drain(3, "undrain")
	waitAll([]int{1, 2, 3}, euWest, 5*time.Second)
}

// partitionConfig is a site's configuration in the lab: id, dns address,
// zones dir, admin address, geo database, raft address, data dir and the
// membership lines.
const partitionConfig = `node: {id: s%d}
dns: {listen: ["%s:5300"], zones_dir: %s}
admin: {listen: "%s:9053"}
geo: {database: %s}
cluster:
  bind: "%s:7300"
  data_dir: %s
%s  heartbeat_timeout: 500ms
  election_timeout: 500ms
  leader_lease_timeout: 250ms
` + testRegions + testStaticPool

// startIn runs `aya serve --config path` in site i's namespace (ip netns
// exec execs aya, so the signals reach it).
func startIn(t *testing.T, lab *netnsLab, i int, path string) {
	t.Helper()
	p := startProc(t, exec.Command("ip", "netns", "exec", lab.sites[i-1], ayaBin, "serve", "--config", path), 10*time.Second)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- s%d\n%s", i, p.log)
		}
	})
}
