package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	ayasite "github.com/aya-gslb/aya/site"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/internal/mtls"
	"github.com/aya-gslb/aya/internal/mtls/mtlstest"
)

// backend is a real HTTP backend on a fixed address that a test can stop,
// restart, and make refuse the probes of one site (told apart by the
// User-Agent, which names the site).
type backend struct {
	addr   string
	refuse atomic.Pointer[string] // site whose probes get 503
	mu     sync.Mutex
	srv    *http.Server
	done   chan struct{}
}

func newBackend(t *testing.T, addr string) *backend {
	t.Helper()
	b := &backend{addr: addr}
	b.start(t)
	t.Cleanup(b.stop)
	return b
}

func (b *backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if site := b.refuse.Load(); site != nil && strings.Contains(r.UserAgent(), "(site "+*site+")") {
		http.Error(w, "not for you", http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

func (b *backend) start(t *testing.T) {
	t.Helper()
	var lc net.ListenConfig
	ln, err := lc.Listen(t.Context(), "tcp", b.addr)
	if err != nil {
		t.Fatalf("backend %s: %v", b.addr, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.srv = &http.Server{Handler: b, ReadHeaderTimeout: time.Second}
	b.done = make(chan struct{})
	srv, done := b.srv, b.done
	go func() { _ = srv.Serve(ln); close(done) }()
}

// stop closes the listener and every connection at once.
func (b *backend) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.srv != nil {
		_ = b.srv.Close()
		<-b.done
		b.srv = nil
	}
}

// site is one `aya serve` of a test cluster, on its own loopback address.
type site struct {
	id, ip, config, data string
	env                  []string // more environment for aya serve
	s                    *served
}

func (s *site) dnsAddr() string   { return net.JoinHostPort(s.ip, "5300") }
func (s *site) adminAddr() string { return net.JoinHostPort(s.ip, "9053") }
func (s *site) raftAddr() string  { return net.JoinHostPort(s.ip, "7300") }

// start runs the site's `aya serve` (again, after a kill: same config and
// data directory).
func (s *site) start(t *testing.T) {
	t.Helper()
	env := append([]string{"AYA_CLUSTER_DATA_DIR=" + s.data, "AYA_CLUSTER_BIND=" + s.raftAddr()}, s.env...)
	s.s = startServe(t, env, "--config", s.config)
}

// testCluster is three sites, s1 bootstrapping and s2, s3 joining through
// it, probing the backends of pool web over HTTP every 500ms (fall 2,
// rise 2).
type testCluster struct {
	sites    []*site
	backends map[string]*backend // by endpoint name: use1, euw1, apse1
	client   *cluster.Client     // reads the sites' admin APIs
	secret   string              // the cluster secret, with clusterOpts.secret
}

// clusterOpts are the optional parts of a test cluster.
type clusterOpts struct {
	// tls runs Raft and the admin API over mutual TLS, with certificates
	// of a test CA; certs are then the sites' files, by site ID.
	tls   bool
	certs map[string]mtlstest.Files
	// secret runs Raft over TLS from a cluster secret, made by `aya
	// cluster secret` into a file that every site's cluster.secret_file
	// names.
	secret bool
	// token is the admin API's bearer token for writes.
	token string
	// env is more environment for every site's aya serve (AYA_* settings
	// over the configuration file).
	env []string
}

// startCluster starts a cluster on 127.77.<net>.1-3 (net is unique per
// test, so tests never share an address).
func startCluster(t *testing.T, netID int, opts *clusterOpts) *testCluster {
	t.Helper()
	dir := t.TempDir()
	if opts == nil {
		opts = &clusterOpts{}
	}
	if opts.tls {
		// Each site's certificate names its address.
		ca := mtlstest.NewCA(t, dir, "ca")
		opts.certs = map[string]mtlstest.Files{}
		for i := 1; i <= 3; i++ {
			opts.certs[fmt.Sprintf("s%d", i)] = ca.Issue(fmt.Sprintf("127.77.%d.%d", netID, i))
		}
	}
	zones, _ := filepath.Abs("../../zones")
	geoDB, _ := filepath.Abs("../../zones/geo/demo.yaml")
	tc := &testCluster{backends: map[string]*backend{}, client: &cluster.Client{}}
	if opts.tls {
		// Reads need no client certificate: only the CA to trust.
		m, err := mtls.Load(opts.certs["s1"].Cert, opts.certs["s1"].Key, opts.certs["s1"].CA)
		if err != nil {
			t.Fatal(err)
		}
		tc.client = &cluster.Client{HTTPS: true, HTTP: &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: m.Client.RootCAs, MinVersion: tls.VersionTLS12},
		}}}
	}
	for i, ep := range []string{"use1", "euw1", "apse1"} {
		tc.backends[ep] = newBackend(t, fmt.Sprintf("127.77.%d.%d:8080", netID, 101+i))
	}
	var secretFile string
	if opts.secret {
		out, err := exec.CommandContext(t.Context(), ayaBin, "cluster", "secret").Output()
		if err != nil {
			t.Fatalf("aya cluster secret: %v", err)
		}
		tc.secret = strings.TrimSpace(string(out))
		secretFile = filepath.Join(dir, "cluster.secret")
		if err := os.WriteFile(secretFile, out, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for i := 1; i <= 3; i++ {
		s := &site{id: fmt.Sprintf("s%d", i), ip: fmt.Sprintf("127.77.%d.%d", netID, i)}
		s.data = filepath.Join(dir, s.id)
		s.config = filepath.Join(dir, s.id+".yaml")
		membership := "  bootstrap: true\n"
		if i > 1 {
			membership = fmt.Sprintf("  join: [%s]\n", tc.sites[0].adminAddr())
		}
		if opts.tls {
			f := opts.certs[s.id]
			membership += fmt.Sprintf("  tls: {cert_file: %s, key_file: %s, ca_file: %s}\n", f.Cert, f.Key, f.CA)
		}
		if opts.secret {
			membership += "  secret_file: " + secretFile + "\n"
		}
		if opts.token != "" {
			s.env = append(s.env, "AYA_ADMIN_TOKEN="+opts.token)
		}
		s.env = append(s.env, opts.env...)
		cfg := fmt.Sprintf(clusterConfig, s.id, s.dnsAddr(), zones, s.adminAddr(), geoDB, membership,
			tc.backends["use1"].addr, tc.backends["euw1"].addr, tc.backends["apse1"].addr)
		if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		tc.sites = append(tc.sites, s)
	}
	for _, s := range tc.sites {
		s.start(t)
	}
	tc.waitMembers(t, tc.sites, 3)
	// Every site has reported every endpoint: the quorum is whole.
	waitFor(t, 10*time.Second, func() bool {
		st, err := tc.status(t, tc.sites[0])
		if err != nil || len(st.View.Endpoints) != 3 {
			return false
		}
		for _, e := range st.View.Endpoints {
			if len(e.Reports) != 3 {
				return false
			}
		}
		return true
	}, func() string { return "not every site reported every endpoint:\n" + tc.logs() })
	return tc
}

// clusterConfig is a site's configuration: node id, dns listen, zones dir,
// admin listen, geo database, cluster membership lines, and the check
// targets of use1, euw1 and apse1.
const clusterConfig = `node: {id: %s}
dns: {listen: [%s], zones_dir: %s}
admin: {listen: %s}
geo: {database: %s}
cluster:
%s  fresh_for: 5s
  report_interval: 1s
  heartbeat_timeout: 500ms
  election_timeout: 500ms
  leader_lease_timeout: 250ms
` + testRegions + `pools:
  - name: web
    check: {kind: http, path: /healthz, interval: 500ms, timeout: 250ms, rise: 2, fall: 2}
    members:
      - region: us-east
        endpoints: [{name: use1, addresses: [192.0.2.10, "2001:db8:1::10"], check_target: "%s"}]
      - region: eu-west
        endpoints: [{name: euw1, addresses: [198.51.100.10, "2001:db8:2::10"], check_target: "%s"}]
      - region: ap-southeast
        endpoints: [{name: apse1, addresses: [203.0.113.10, "2001:db8:3::10"], check_target: "%s"}]
`

// status asks a site's admin API for its status.
func (tc *testCluster) status(t *testing.T, s *site) (cluster.StatusResponse, error) {
	t.Helper()
	var st cluster.StatusResponse
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	err := tc.client.Do(ctx, s.adminAddr(), cluster.PathStatus, "", nil, &st)
	return st, err
}

// waitMembers waits until every site in sites sees n members, one leader
// it agrees on, every admin address, and every endpoint decided.
func (tc *testCluster) waitMembers(t *testing.T, sites []*site, n int) {
	t.Helper()
	waitFor(t, 20*time.Second, func() bool {
		leader := ""
		for _, s := range sites {
			st, err := tc.status(t, s)
			if err != nil || len(st.Node.Members) != n || len(st.View.Admins) != n || st.Node.LeaderID == "" {
				return false
			}
			if leader != "" && st.Node.LeaderID != leader {
				return false
			}
			leader = st.Node.LeaderID
		}
		return true
	}, func() string { return "the cluster did not form:\n" + tc.logs() })
}

// leader returns the site that leads, as the first site sees it, and the
// others.
func (tc *testCluster) leader(t *testing.T) (leader *site, rest []*site) {
	t.Helper()
	st, err := tc.status(t, tc.sites[0])
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tc.sites {
		if s.id == st.Node.LeaderID {
			leader = s
		} else {
			rest = append(rest, s)
		}
	}
	if leader == nil {
		t.Fatalf("%s knows no leader", tc.sites[0].id)
	}
	return leader, rest
}

func (tc *testCluster) logs() string {
	var b strings.Builder
	for _, s := range tc.sites {
		if s.s != nil {
			fmt.Fprintf(&b, "--- %s\n%s", s.id, s.s.log)
		}
	}
	return b.String()
}

// frankfurt is the answer for a client without ECS on loopback (placed in
// Frankfurt by the demo database): eu-west, or us-east when it is down.
const (
	euWest = "198.51.100.10"
	usEast = "192.0.2.10"
)

// waitAnswer waits until every site in sites answers www A with want for a
// loopback client, and returns when the last one did.
func waitAnswer(t *testing.T, sites []*site, want string, within time.Duration) time.Time {
	t.Helper()
	pending := slices.Clone(sites)
	deadline := time.Now().Add(within)
	var last time.Time
	for len(pending) > 0 {
		if time.Now().After(deadline) {
			var got []string
			for _, s := range pending {
				a, err := queryA(s.dnsAddr(), "www.gslb.example.com.")
				got = append(got, fmt.Sprintf("%s: %s %v", s.id, a, err))
			}
			t.Fatalf("after %s, sites still answer %v, want %s", within, got, want)
		}
		pending = slices.DeleteFunc(pending, func(s *site) bool {
			a, err := queryA(s.dnsAddr(), "www.gslb.example.com.")
			if err == nil && a == want {
				last = time.Now()
				return true
			}
			return false
		})
		time.Sleep(10 * time.Millisecond)
	}
	return last
}

// TestCluster runs a three-site cluster of real `aya serve` processes
// probing real HTTP backends, and checks, in order: identical answers at
// every site; failover when a backend stops, timed; that one site alone
// seeing an endpoint down does not take it down; a drain through any site;
// the leader killed with DNS clients querying throughout; and the killed
// node restarted with its log, without a new bootstrap. Raft runs over TLS
// from a cluster secret (`aya cluster secret`); plain TCP between sites is
// what TestDemo runs.
func TestCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	tc := startCluster(t, 1, &clusterOpts{secret: true})
	all := tc.sites
	waitAnswer(t, all, euWest, 10*time.Second)

	t.Run("secret", func(t *testing.T) {
		// Every site names the same secret by its public ID, and no log
		// holds the secret.
		re := regexp.MustCompile(`msg="raft transport over TLS from the cluster secret" secret_ids=\[(\w+)\]`)
		var id string
		for _, s := range all {
			out := s.s.log.String()
			m := re.FindStringSubmatch(out)
			switch {
			case m == nil:
				t.Fatalf("%s: no secret in the log:\n%s", s.id, out)
			case id != "" && m[1] != id:
				t.Fatalf("%s: secret ID %s, want %s as the others", s.id, m[1], id)
			case strings.Contains(out, tc.secret):
				t.Fatalf("%s logged the secret", s.id)
			}
			id = m[1]
		}
	})

	t.Run("identical answers", func(t *testing.T) {
		clients := []string{"", "81.2.69.142/32", "216.160.83.56/29", "175.16.199.0/24", "2a02:cfc0::/29", "2001:218::/32", "89.160.20.128/25"}
		for _, sub := range clients {
			for _, qt := range []uint16{dns.TypeA, dns.TypeAAAA} {
				want := queryECS(t, all[0].dnsAddr(), "www.gslb.example.com.", qt, sub)
				if len(want) != 1 {
					t.Errorf("client %q %s: %v, want one answer", sub, dns.TypeToString[qt], want)
				}
				for _, s := range all[1:] {
					if got := queryECS(t, s.dnsAddr(), "www.gslb.example.com.", qt, sub); !slices.Equal(got, want) {
						t.Errorf("client %q %s: %s answers %v, %s answers %v", sub, dns.TypeToString[qt], s.id, got, all[0].id, want)
					}
				}
			}
		}
	})

	t.Run("failover time", func(t *testing.T) {
		trials := 3
		if n, err := strconv.Atoi(os.Getenv("AYA_FAILOVER_TRIALS")); err == nil && n > 0 {
			trials = n
		}
		var flips []time.Duration
		for i := range trials {
			stop := time.Now()
			tc.backends["euw1"].stop()
			flip := waitAnswer(t, all, usEast, 10*time.Second).Sub(stop)
			flips = append(flips, flip)
			tc.backends["euw1"].start(t)
			back := time.Now()
			recovered := waitAnswer(t, all, euWest, 10*time.Second).Sub(back)
			if os.Getenv("AYA_DEBUG_STATUS") != "" {
				out, _ := exec.CommandContext(t.Context(), ayaBin, "status", "--admin", all[0].adminAddr(), "--history", "8").CombinedOutput()
				t.Logf("%s", out)
			}
			t.Logf("trial %d: every site stopped answering the stopped backend after %s; back after %s", i+1, flip.Round(time.Millisecond), recovered.Round(time.Millisecond))
		}
		slices.Sort(flips)
		median, worst := flips[len(flips)/2], flips[len(flips)-1]
		t.Logf("failover over %d trials (probe interval 500ms, fall 2): median %s, worst %s", trials, median.Round(time.Millisecond), worst.Round(time.Millisecond))
		if worst > 3*time.Second {
			t.Errorf("worst failover %s, want at most 3s", worst)
		}
	})

	t.Run("one site alone does not take an endpoint down", func(t *testing.T) {
		s3 := "s3"
		tc.backends["euw1"].refuse.Store(&s3)
		defer tc.backends["euw1"].refuse.Store(nil)
		// Wait until s3's report of euw1 is down in the replicated state.
		waitFor(t, 10*time.Second, func() bool {
			st, err := tc.status(t, all[0])
			if err != nil {
				return false
			}
			for _, e := range st.View.Endpoints {
				if e.Endpoint != "euw1" {
					continue
				}
				for _, r := range e.Reports {
					if r.Site == "s3" && !r.Up && r.Fresh {
						return true
					}
				}
			}
			return false
		}, func() string { return "s3's down report never arrived" })
		// Two more report rounds: still up everywhere.
		time.Sleep(2 * time.Second)
		for _, s := range all {
			if a, err := queryA(s.dnsAddr(), "www.gslb.example.com."); err != nil || a != euWest {
				t.Errorf("%s answers %s %v while only s3 sees euw1 down, want %s", s.id, a, err, euWest)
			}
		}
		out, err := exec.CommandContext(t.Context(), ayaBin, "status", "--admin", all[1].adminAddr()).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "web/eu-west/euw1") || !strings.Contains(string(out), "DOWN") {
			t.Errorf("aya status: %v\n%s", err, out)
		}
	})

	t.Run("drain through a follower", func(t *testing.T) {
		st, err := tc.status(t, all[0])
		if err != nil {
			t.Fatal(err)
		}
		var follower *site
		for _, s := range all {
			if s.id != st.Node.LeaderID {
				follower = s
			}
		}
		// What each command prints is pinned in testdata/drain-cluster.golden
		// (refresh with -run 'TestCluster/drain' -update).
		var golden strings.Builder
		ctl := func(args ...string) {
			t.Helper()
			args = append(args, "--admin", follower.adminAddr(), "--by", "alice")
			out, err := exec.CommandContext(t.Context(), ayaBin, args...).CombinedOutput()
			shown := slices.Clone(args[:len(args)-4])
			for i, a := range shown {
				if strings.Contains(a, " ") {
					shown[i] = strconv.Quote(a)
				}
			}
			fmt.Fprintf(&golden, "$ aya %s", strings.Join(shown, " "))
			if err != nil {
				fmt.Fprintf(&golden, " (%v)", err)
			}
			fmt.Fprintf(&golden, "\n%s", out)
		}
		ctl("drain", "eu-west", "--reason", "maintenance")
		waitAnswer(t, all, usEast, 5*time.Second)
		out, err := exec.CommandContext(t.Context(), ayaBin, "status", "--admin", all[2].adminAddr()).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "maintenance (by alice)") {
			t.Errorf("aya status lacks the drain and who did it: %v\n%s", err, out)
		}
		ctl("drain", "eu-west", "--reason", "kernel upgrade")
		ctl("drain", "eu-west", "--reason", "kernel upgrade")
		ctl("drain", "eu-wst", "--reason", "typo")
		ctl("drain", "web/eu-west/euw2", "--reason", "typo")
		ctl("undrain", "eu-west")
		ctl("undrain", "eu-west")
		checkGolden(t, "drain-cluster.golden", []byte(golden.String()))
		waitAnswer(t, all, euWest, 5*time.Second)
	})

	t.Run("leader killed", func(t *testing.T) {
		leader, rest := tc.leader(t)
		// DNS clients query the surviving sites throughout, every 5ms.
		ctx, cancel := context.WithCancel(t.Context())
		var queries, failures atomic.Int64
		var wg sync.WaitGroup
		for _, s := range rest {
			wg.Go(func() {
				for ctx.Err() == nil {
					queries.Add(1)
					if _, err := queryA(s.dnsAddr(), "www.gslb.example.com."); err != nil {
						failures.Add(1)
						t.Errorf("query to %s: %v", s.id, err)
					}
					time.Sleep(5 * time.Millisecond)
				}
			})
		}
		_ = leader.s.kill()
		// A new leader among the rest, and decisions still flow: a backend
		// stopped is taken out by the two remaining sites.
		waitFor(t, 10*time.Second, func() bool {
			st, err := tc.status(t, rest[0])
			return err == nil && st.Node.LeaderID != "" && st.Node.LeaderID != leader.id
		}, func() string { return "no new leader:\n" + tc.logs() })
		tc.backends["euw1"].stop()
		waitAnswer(t, rest, usEast, 5*time.Second)
		tc.backends["euw1"].start(t)
		waitAnswer(t, rest, euWest, 5*time.Second)
		cancel()
		wg.Wait()
		t.Logf("leader %s killed: %d queries to the other sites, %d failed", leader.id, queries.Load(), failures.Load())

		// Restarted, the node keeps its log and rejoins: no bootstrap.
		leader.start(t)
		tc.waitMembers(t, all, 3)
		if strings.Contains(leader.s.log.String(), "bootstrapped cluster") {
			t.Errorf("the restarted node bootstrapped again:\n%s", leader.s.log)
		}
		waitAnswer(t, all, euWest, 5*time.Second)
	})
}

// TestLeaderLoss times a failover that coincides with the loss of the
// leader: the leader is killed, and 0.2s later a region's backends stop.
// The reports of the surviving sites fail until a new leader is elected;
// they must be retried promptly, not at the next report_interval (the
// default 10s here, fresh_for 30s). Every surviving site must answer the
// next region within 3s of the backends' stop. AYA_LEADERLOSS_TRIALS sets
// the number of trials (default 2).
func TestLeaderLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	trials := 2
	if n, err := strconv.Atoi(os.Getenv("AYA_LEADERLOSS_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	tc := startCluster(t, 11, &clusterOpts{env: []string{"AYA_CLUSTER_REPORT_INTERVAL=10s", "AYA_CLUSTER_FRESH_FOR=30s"}})
	all := tc.sites
	waitAnswer(t, all, euWest, 10*time.Second)
	var flips []time.Duration
	for i := range trials {
		leader, rest := tc.leader(t)
		_ = leader.s.kill()
		time.Sleep(200 * time.Millisecond)
		stop := time.Now()
		tc.backends["euw1"].stop()
		flip := waitAnswer(t, rest, usEast, 20*time.Second).Sub(stop)
		flips = append(flips, flip)
		t.Logf("trial %d: leader %s killed, every other site answers %s %s after the backends stopped",
			i+1, leader.id, usEast, flip.Round(time.Millisecond))

		// Back to where the trial started: the backend up, the killed site
		// restarted with its log and reporting again, eu-west answered.
		tc.backends["euw1"].start(t)
		restarted := time.Now()
		leader.start(t)
		tc.waitMembers(t, all, 3)
		tc.waitReported(t, leader, restarted)
		waitAnswer(t, all, euWest, 10*time.Second)
	}
	slices.Sort(flips)
	median, worst := flips[len(flips)/2], flips[len(flips)-1]
	t.Logf("failover with the leader lost over %d trials (probe interval 500ms, fall 2, report_interval 10s): median %s, worst %s",
		trials, median.Round(time.Millisecond), worst.Round(time.Millisecond))
	if worst > 3*time.Second {
		t.Errorf("worst failover with the leader lost %s, want at most 3s", worst)
	}
}

// waitReported waits until the first site's view holds a report of every
// endpoint from s, up, stamped after since.
func (tc *testCluster) waitReported(t *testing.T, s *site, since time.Time) {
	t.Helper()
	waitFor(t, 10*time.Second, func() bool {
		st, err := tc.status(t, tc.sites[0])
		if err != nil || len(st.View.Endpoints) == 0 {
			return false
		}
		for _, e := range st.View.Endpoints {
			if !slices.ContainsFunc(e.Reports, func(r cluster.SiteReport) bool {
				return r.Site == s.id && r.Up && r.At.After(since)
			}) {
				return false
			}
		}
		return true
	}, func() string { return s.id + " did not report every endpoint up again:\n" + tc.logs() })
}

// TestClusterTLS: three sites over mutual TLS with an admin token form a
// cluster (joins and forwarded writes over HTTPS with client certificates),
// and the admin API's writes need both the token and a certificate.
func TestClusterTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("starts three servers")
	}
	opts := &clusterOpts{tls: true, token: "t0ken"}
	tc := startCluster(t, 2, opts)
	all := tc.sites
	waitAnswer(t, all, euWest, 10*time.Second)

	// aya drain with the site's config (its certificate) and the token,
	// sent to a follower: forwarded to the leader over mutual TLS.
	st, err := tc.status(t, all[0])
	if err != nil {
		t.Fatal(err)
	}
	var follower *site
	for _, s := range all {
		if s.id != st.Node.LeaderID {
			follower = s
		}
	}
	ctl := func(token string, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(t.Context(), ayaBin, append(args, "--config", follower.config)...)
		cmd.Env = append(os.Environ(), "AYA_ADMIN_TOKEN="+token)
		return cmd.CombinedOutput()
	}
	if out, err := ctl("wrong", "drain", "eu-west", "--reason", "tls test"); err == nil || !strings.Contains(string(out), "401") {
		t.Errorf("drain with a wrong token: %v\n%s", err, out)
	}
	if out, err := ctl(opts.token, "drain", "eu-west", "--reason", "tls test"); err != nil {
		t.Fatalf("drain: %v\n%s", err, out)
	}
	waitAnswer(t, all, usEast, 5*time.Second)

	// With the token but no client certificate: refused.
	err = (&cluster.Client{HTTPS: true, Token: opts.token, HTTP: tc.client.HTTP}).Do(t.Context(), follower.adminAddr(), ayasite.PathUndrain, "",
		ayasite.DrainRequest{Target: "eu-west", By: "x"}, nil)
	if ae, ok := errors.AsType[*cluster.APIError](err); !ok || ae.Status != http.StatusForbidden {
		t.Errorf("undrain without a client certificate: %v, want 403", err)
	}
	if out, err := ctl(opts.token, "undrain", "eu-west"); err != nil {
		t.Fatalf("undrain: %v\n%s", err, out)
	}
	waitAnswer(t, all, euWest, 5*time.Second)
	if out, err := ctl("", "status"); err != nil || !strings.Contains(string(out), "undrained (by ") {
		t.Errorf("aya status over TLS: %v\n%s", err, out)
	}
}

// TestCheckReload: a reload that changes the checks restarts the prober:
// an endpoint whose check pointed at nothing comes up when the check
// points at its backend.
func TestCheckReload(t *testing.T) {
	dir := t.TempDir()
	zones, _ := filepath.Abs("../../zones")
	geoDB, _ := filepath.Abs("../../zones/geo/demo.yaml")
	live := newBackend(t, "127.77.3.101:8080")
	s := &site{id: "s1", ip: "127.77.3.1", data: filepath.Join(dir, "s1"), config: filepath.Join(dir, "s1.yaml")}
	write := func(euw1 string) {
		cfg := fmt.Sprintf(clusterConfig, s.id, s.dnsAddr(), zones, s.adminAddr(), geoDB, "  bootstrap: true\n",
			live.addr, euw1, live.addr) + "release: {watch: true}\n"
		if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("127.77.3.102:8080") // nothing listens there
	s.start(t)
	waitAnswer(t, []*site{s}, usEast, 10*time.Second)
	write(live.addr)
	waitAnswer(t, []*site{s}, euWest, 10*time.Second)
	if !strings.Contains(s.s.log.String(), "health checks reloaded") {
		t.Errorf("no reload logged:\n%s", s.s.log)
	}
}

// testRegions are the three regions of the test configurations.
const testRegions = `regions:
  - {name: us-east, latitude: 39.04, longitude: -77.49, country: US, continent: NA}
  - {name: eu-west, latitude: 53.35, longitude: -6.26, country: IE, continent: EU}
  - {name: ap-southeast, latitude: 1.29, longitude: 103.85, country: SG, continent: AS}
`

// testStaticPool is pool web, one endpoint per region, not probed.
const testStaticPool = `pools:
  - name: web
    members:
      - {region: us-east, endpoints: [{name: use1, addresses: [192.0.2.10]}]}
      - {region: eu-west, endpoints: [{name: euw1, addresses: [198.51.100.10]}]}
      - {region: ap-southeast, endpoints: [{name: apse1, addresses: [203.0.113.10]}]}
`
