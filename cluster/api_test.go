package cluster

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aya-gslb/aya/state"
)

// apiNode is a node with its cluster API on a real loopback HTTP server.
type apiNode struct {
	*Node
	srv *httptest.Server
}

func startAPINode(t *testing.T, id string, bootstrap bool, join ...string) *apiNode {
	t.Helper()
	return startAPINodeWith(t, testConfig(t, id, bootstrap), join...)
}

func startAPINodeWith(t *testing.T, cfg Config, join ...string) *apiNode {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	cfg.Admin = srv.Listener.Addr().String()
	cfg.Join = join
	n := startNode(t, cfg)
	srv.Config.Handler = n.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return &apiNode{Node: n, srv: srv}
}

func (a *apiNode) admin() string { return a.srv.Listener.Addr().String() }

// TestJoinAndForward: nodes join through the admin API of a member, record
// their admin addresses, and writes sent to any node reach the leader.
func TestJoinAndForward(t *testing.T) {
	// The test follows one leader throughout: timings that survive a
	// loaded machine's stalls (under -race, beside other packages) rather
	// than testConfig's quick ones, which a 100 ms stall costs the lease.
	steady := func(id string, bootstrap bool) Config {
		cfg := testConfig(t, id, bootstrap)
		cfg.HeartbeatTimeout, cfg.ElectionTimeout, cfg.LeaderLeaseTimeout = time.Second, time.Second, 500*time.Millisecond
		return cfg
	}
	n1 := startAPINodeWith(t, steady("s1", true))
	waitLeader(t, n1.Node)
	n2 := startAPINodeWith(t, steady("s2", false), n1.admin())
	n3 := startAPINodeWith(t, steady("s3", false), "127.0.0.1:1", n1.admin()) // a dead address first: tried in turn
	all := []*apiNode{n1, n2, n3}
	eventually(t, 15*time.Second, "three members with admin addresses on every node", func() bool {
		for _, n := range all {
			if len(n.Stats().Members) != 3 || len(n.View().Admins) != 3 {
				return false
			}
		}
		return true
	})
	var leader, follower *apiNode
	for _, n := range all {
		if n.IsLeader() {
			leader = n
		} else {
			follower = n
		}
	}
	if leader == nil {
		t.Fatal("no leader")
	}
	if got := follower.View().Admins[leader.ID()]; got != leader.admin() {
		t.Fatalf("follower records leader admin %q, want %q", got, leader.admin())
	}

	// A follower's Apply goes through the leader.
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := follower.Drain(ctx, Drain{Region: "eu", Reason: "maintenance", By: "op"}); err != nil {
		t.Fatalf("Apply on a follower: %v", err)
	}
	eventually(t, 5*time.Second, "the drain on every node", func() bool {
		for _, n := range all {
			if why, ok := n.Current().RegionDrained("eu"); !ok || why != "maintenance (by op)" {
				return false
			}
		}
		return true
	})
	// The same through the HTTP API of a follower, as the CLI does.
	c := &Client{}
	k := state.EndpointKey{Pool: "web", Region: "us", Endpoint: "b1"}
	req := ApplyRequest{Type: CmdDrain, V: []byte(`{"endpoint":{"Pool":"web","Region":"us","Endpoint":"b1"},"reason":"disk","by":"cli"}`)}
	if err := c.Do(ctx, follower.admin(), PathApply, "", req, nil); err != nil {
		t.Fatalf("POST %s to a follower: %v", PathApply, err)
	}
	eventually(t, 5*time.Second, "the endpoint drain on every node", func() bool {
		for _, n := range all {
			if _, ok := n.Current().EndpointDrained(k); !ok {
				return false
			}
		}
		return true
	})

	// Bad requests are refused with 400, wherever they land.
	for _, tc := range []struct {
		path string
		in   any
		want string
	}{
		{PathApply, ApplyRequest{Type: CmdDrain, V: []byte(`{"reason":"no region"}`)}, "drain: no region or endpoint"},
		{PathApply, ApplyRequest{Type: 0x33, V: []byte(`{}`)}, "unknown command type"},
		{PathApply, map[string]any{"type": 1, "v": map[string]any{}, "extra": 1}, "unknown field"},
		{PathJoin, JoinRequest{ID: "x"}, "id, addr and admin are required"},
		{PathRemove, RemoveRequest{}, "id is required"},
	} {
		for _, n := range []*apiNode{leader, follower} {
			err := c.Do(ctx, n.admin(), tc.path, "", tc.in, nil)
			var ae *APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.Contains(ae.Msg, tc.want) {
				t.Errorf("%s %+v on %s: %v, want 400 with %q", tc.path, tc.in, n.ID(), err, tc.want)
			}
		}
	}

	// A forwarded write that reaches a follower is not forwarded again.
	err := c.Do(ctx, follower.admin(), PathApply, "s9", ApplyRequest{Type: CmdDrain, V: []byte(`{"region":"x","reason":"r","by":"b"}`)}, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Errorf("forwarded write to a follower: %v, want 503", err)
	}

	// Status from any node.
	var st StatusResponse
	if err := c.Do(ctx, follower.admin(), PathStatus, "", nil, &st); err != nil {
		t.Fatal(err)
	}
	if st.Node.LeaderID != leader.ID() || len(st.View.Drains) != 2 || st.Staleness.D() > 5*time.Second {
		t.Errorf("status from a follower: %+v", st)
	}

	// Remove through a follower: the member and its admin address go.
	var gone *apiNode
	for _, n := range all {
		if n != leader && n != follower {
			gone = n
		}
	}
	if err := follower.RemoveMember(ctx, gone.ID()); err != nil {
		t.Fatalf("RemoveMember via a follower: %v", err)
	}
	eventually(t, 5*time.Second, "the member removed", func() bool {
		_, known := leader.View().Admins[gone.ID()]
		return len(leader.Stats().Members) == 2 && !known
	})
}

// TestApplyWithoutLeader: a lone follower has nobody to forward to.
func TestApplyWithoutLeader(t *testing.T) {
	n := startAPINode(t, "s1", false)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	if err := n.Drain(ctx, Drain{Region: "eu", Reason: "r", By: "b"}); !errors.Is(err, ErrNoLeader) {
		t.Errorf("Apply without a leader: %v, want ErrNoLeader", err)
	}
	err := (&Client{}).Do(ctx, n.admin(), PathApply, "", ApplyRequest{Type: CmdDrain, V: []byte(`{"region":"eu","reason":"r","by":"b"}`)}, nil)
	var ae *APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusServiceUnavailable {
		t.Errorf("POST without a leader: %v, want 503", err)
	}
}

// FuzzHandler sends arbitrary bodies to the write endpoints of a real
// single-node leader: every request gets a JSON answer with a 2xx, 400 or
// 503, and nothing panics (a panic in Apply would stop the node).
func FuzzHandler(f *testing.F) {
	for _, seed := range []string{
		`{"type":1,"v":{"site":"s1","key":{"Pool":"web","Region":"eu","Endpoint":"a"},"up":false}}`,
		`{"type":2,"v":{"region":"eu","reason":"r","by":"b"}}`,
		`{"type":3,"v":{"endpoint":{"Pool":"web"},"by":"b"}}`,
		`{"type":4,"v":{"id":"s9","admin":"127.0.0.1:1"}}`,
		`{"type":129,"v":{}}`,
		`{"type":2,"v":null}`,
		`{"type":2,"v":"x"}`,
		`{"type":300}`,
		`{"id":"s9","addr":"127.0.0.1:1","admin":"127.0.0.1:2","voter":false}`,
		`{"id":""}`,
		`[`, ``, `null`, `{"type":1,"v":{"site":"` + strings.Repeat("x", 5000) + `"}}`,
		`{"type":6,"v":{"config":{"name":"a"},"zones":[],"digest":""}}`,
		`{"config":{"name":"aya.yaml","data":""},"zones":[{"name":"../x","data":"AA=="}],"digest":"sha256:00"}`,
	} {
		f.Add(seed)
	}
	f.Add(string(marshal(f, testRelease(testApex))))
	n := startNode(f, testConfig(f, "s1", true))
	waitLeader(f, n)
	h := n.Handler()
	f.Fuzz(func(t *testing.T, body string) {
		for _, path := range []string{PathApply, PathRemove, PathRelease} {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, path, strings.NewReader(body)))
			switch w.Code {
			case http.StatusOK, http.StatusBadRequest, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			default:
				t.Errorf("POST %s %q: %d %s", path, body, w.Code, w.Body)
			}
			if !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
				t.Errorf("POST %s %q: content type %q", path, body, w.Header().Get("Content-Type"))
			}
		}
	})
}

// TestNonVoter: a node joining with NonVoter replicates the log and
// forwards writes, but is a non-voting member.
func TestNonVoter(t *testing.T) {
	n1 := startAPINode(t, "s1", true)
	waitLeader(t, n1.Node)
	cfg := testConfig(t, "edge1", false)
	cfg.NonVoter = true
	edge := startAPINodeWith(t, cfg, n1.admin())
	eventually(t, 10*time.Second, "the edge as a non-voter", func() bool {
		for _, m := range n1.Stats().Members {
			if m.ID == "edge1" {
				return m.Suffrage == "Nonvoter" && len(edge.View().Admins) == 2
			}
		}
		return false
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := edge.Drain(ctx, Drain{Region: "eu", Reason: "r", By: "edge"}); err != nil {
		t.Fatalf("Apply on the non-voter: %v", err)
	}
	eventually(t, 5*time.Second, "the drain on the non-voter", func() bool {
		_, ok := edge.Current().RegionDrained("eu")
		return ok
	})
}

// silentAddr returns a loopback address that takes no connection: a
// listener with a backlog of 0 whose queue is full and never accepted, so
// that the kernel drops further SYNs, like a host that has gone away. It
// skips the test where the kernel answers anyway.
func silentAddr(t *testing.T) string {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("relies on Linux dropping SYNs to a full accept queue")
	}
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	d := net.Dialer{Timeout: 300 * time.Millisecond}
	for range 3 {
		c, err := d.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			return addr // the queue is full
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Skip("the kernel keeps accepting connections to a full queue")
	return ""
}

// TestClientDialTimeout: a call to an admin API address that does not
// answer fails within about DialTimeout, not the whole call's 10s, so a
// follower's forward to a leader that has just died fails fast and its
// caller's retry reaches the new leader.
func TestClientDialTimeout(t *testing.T) {
	addr := silentAddr(t)
	for _, tc := range []struct {
		name   string
		client *Client
	}{
		{"default", &Client{}},
		{"TLS", &Client{HTTPS: true, HTTP: NewHTTPClient(&tls.Config{MinVersion: tls.VersionTLS12})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			err := tc.client.Do(t.Context(), addr, PathApply, "s2", ApplyRequest{Type: CmdObserve}, nil)
			took := time.Since(start)
			if ne, ok := errors.AsType[net.Error](err); !ok || !ne.Timeout() {
				t.Errorf("call to a silent address: %v, want a timeout", err)
			}
			if took < DialTimeout-100*time.Millisecond || took > DialTimeout+time.Second {
				t.Errorf("call to a silent address failed after %s, want about DialTimeout (%s)", took, DialTimeout)
			}
		})
	}
}
