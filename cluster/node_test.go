package cluster

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"reflect"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"

	"github.com/aya-gslb/aya/state"
)

// testConfig is a node on a free loopback port with test-sized timings.
func testConfig(tb testing.TB, id string, bootstrap bool) Config {
	tb.Helper()
	return Config{
		ID:                 id,
		Bind:               "127.0.0.1:0",
		DataDir:            filepath.Join(tb.TempDir(), id),
		Bootstrap:          bootstrap,
		HeartbeatTimeout:   200 * time.Millisecond,
		ElectionTimeout:    200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond,
		CommitTimeout:      10 * time.Millisecond,
	}
}

func startNode(tb testing.TB, cfg Config) *Node {
	tb.Helper()
	n, err := NewNode(cfg)
	if err != nil {
		tb.Fatalf("NewNode(%s): %v", cfg.ID, err)
	}
	tb.Cleanup(func() { _ = n.Close() })
	return n
}

// eventually polls cond until it holds or the deadline passes.
func eventually(tb testing.TB, within time.Duration, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitLeader waits until one of nodes is the leader and all of them agree.
func waitLeader(tb testing.TB, nodes ...*Node) *Node {
	tb.Helper()
	var leader *Node
	eventually(tb, 10*time.Second, "a leader all nodes agree on", func() bool {
		leader = nil
		for _, n := range nodes {
			if n.IsLeader() {
				leader = n
			}
		}
		if leader == nil {
			return false
		}
		for _, n := range nodes {
			if id, addr := n.Leader(); id != leader.ID() || addr != leader.Addr() {
				return false
			}
		}
		return true
	})
	return leader
}

func proposeDown(t *testing.T, n *Node, k state.EndpointKey, why string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if err := n.Propose(ctx, CmdObserve, Observe{Site: n.ID(), Key: k, Up: false, Err: why}); err != nil {
		t.Fatalf("Propose on %s: %v", n.ID(), err)
	}
}

// waitDown waits until every node's snapshot has k down with why.
func waitDown(t *testing.T, k state.EndpointKey, why string, nodes ...*Node) {
	t.Helper()
	for _, n := range nodes {
		eventually(t, 5*time.Second, fmt.Sprintf("%s down on %s", k.Endpoint, n.ID()), func() bool {
			got, ok := n.Current().EndpointDown(k)
			return ok && got == "down at 1 of 1 sites: "+why
		})
	}
}

func TestNodeSingle(t *testing.T) {
	cfg := testConfig(t, "s1", true)
	logs := &countHandler{}
	cfg.Logger = slog.New(logs)
	n := startNode(t, cfg)
	if !n.bootstrapped {
		t.Fatal("fresh node with Bootstrap did not bootstrap")
	}
	waitLeader(t, n)

	proposeDown(t, n, kA1, "refused")
	if why, ok := n.Current().EndpointDown(kA1); !ok || why != "down at 1 of 1 sites: refused" {
		t.Fatalf("after Propose: EndpointDown = %q, %v", why, ok)
	}
	// The FSM's error for a well-formed but invalid command comes back.
	if err := n.Propose(t.Context(), CmdDrain, Drain{By: "op"}); err == nil {
		t.Fatal("Propose(drain without region) = nil, want the FSM's error")
	}
	// A command Apply could not decode is refused before it reaches the log.
	if err := n.Propose(t.Context(), CmdObserve, "not an object"); err == nil {
		t.Fatal("Propose(undecodable) = nil, want an error")
	}
	if err := n.Propose(t.Context(), 0x42, Drain{}); err == nil {
		t.Fatal("Propose(unknown type) = nil, want an error")
	}

	if logs.n.Load() == 0 {
		t.Error("no raft log records reached Config.Logger")
	}
	st := n.Stats()
	if st.State != "Leader" || st.LeaderID != "s1" || st.Term == 0 || st.LastApplied == 0 ||
		len(st.Members) != 1 || st.Members[0] != (Member{ID: "s1", Addr: n.Addr(), Suffrage: "Voter"}) {
		t.Fatalf("Stats = %+v", st)
	}

	// A non-voter commits with the leader alone, even if it never answers.
	if err := n.Join("s9", "127.0.0.1:1", false); err != nil {
		t.Fatalf("Join(non-voter): %v", err)
	}
	if m := n.Stats().Members; len(m) != 2 || m[1] != (Member{ID: "s9", Addr: "127.0.0.1:1", Suffrage: "Nonvoter"}) {
		t.Fatalf("members after Join(non-voter) = %+v", m)
	}
	if err := n.Remove("s9"); err != nil {
		t.Fatalf("Remove(s9): %v", err)
	}
	if m := n.Stats().Members; len(m) != 1 {
		t.Fatalf("members after Remove = %+v", m)
	}
	proposeDown(t, n, kA2, "reset")
}

func TestNodeRestart(t *testing.T) {
	cfg := testConfig(t, "s1", true)
	n, err := NewNode(cfg)
	if err != nil {
		t.Fatal(err)
	}
	waitLeader(t, n)
	proposeDown(t, n, kA1, "refused")
	// One entry goes into a snapshot, the next stays in the log only: the
	// restart restores both.
	if err := n.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	proposeDown(t, n, kB1, "timeout")
	ver := n.Current().Version
	// Reuse the address: it is the one in the stored configuration.
	cfg.Bind = n.Addr()
	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	n = startNode(t, cfg)
	if n.bootstrapped {
		t.Fatal("restart with existing state bootstrapped again")
	}
	waitLeader(t, n)
	waitDown(t, kA1, "refused", n)
	waitDown(t, kB1, "timeout", n)
	if got := n.Current().Version; got != ver {
		t.Fatalf("Version after restart = %d, want %d", got, ver)
	}
	if st := n.Stats(); len(st.Members) != 1 {
		t.Fatalf("members after restart = %+v", st.Members)
	}
	proposeDown(t, n, kA2, "reset")
}

func TestNodeCluster(t *testing.T) {
	n1 := startNode(t, testConfig(t, "s1", true))
	n2 := startNode(t, testConfig(t, "s2", false))
	n3 := startNode(t, testConfig(t, "s3", false))
	if n2.bootstrapped || n3.bootstrapped {
		t.Fatal("node without Bootstrap bootstrapped")
	}
	waitLeader(t, n1)
	for _, n := range []*Node{n2, n3} {
		if err := n1.Join(n.ID(), n.Addr(), true); err != nil {
			t.Fatalf("Join(%s): %v", n.ID(), err)
		}
	}
	// Joining again is a no-op.
	if err := n1.Join(n2.ID(), n2.Addr(), true); err != nil {
		t.Fatalf("second Join(s2): %v", err)
	}
	all := []*Node{n1, n2, n3}
	leader := waitLeader(t, all...)
	for _, n := range all {
		eventually(t, 5*time.Second, "3 voters on "+n.ID(), func() bool {
			st := n.Stats()
			if len(st.Members) != 3 {
				return false
			}
			for _, m := range st.Members {
				if m.Suffrage != "Voter" {
					return false
				}
			}
			return true
		})
	}

	// Demote a follower and promote it back.
	var f *Node
	for _, n := range all {
		if n != leader {
			f = n
		}
	}
	for _, voter := range []bool{false, true} {
		if err := leader.Join(f.ID(), f.Addr(), voter); err != nil {
			t.Fatalf("Join(%s, voter %v): %v", f.ID(), voter, err)
		}
		want := map[bool]string{false: "Nonvoter", true: "Voter"}[voter]
		if got := suffrage(leader.Stats(), f.ID()); got != want {
			t.Fatalf("after Join(%s, voter %v): suffrage %q, want %q", f.ID(), voter, got, want)
		}
	}

	proposeDown(t, leader, kA1, "refused")
	waitDown(t, kA1, "refused", all...)

	for _, n := range all {
		if n == leader {
			continue
		}
		err := n.Propose(t.Context(), CmdObserve, Observe{Site: n.ID(), Key: kA2, Up: true})
		if !errors.Is(err, ErrNotLeader) {
			t.Fatalf("Propose on follower %s = %v, want ErrNotLeader", n.ID(), err)
		}
		if err := n.Join("x", "127.0.0.1:1", true); !errors.Is(err, ErrNotLeader) {
			t.Fatalf("Join on follower %s = %v, want ErrNotLeader", n.ID(), err)
		}
	}

	// Kill the leader: the other two elect a new one and go on.
	if err := leader.Close(); err != nil {
		t.Fatalf("Close leader: %v", err)
	}
	var rest []*Node
	for _, n := range all {
		if n != leader {
			rest = append(rest, n)
		}
	}
	next := waitLeader(t, rest...)
	if next == leader {
		t.Fatal("closed node still leader")
	}
	proposeDown(t, next, kB1, "timeout")
	waitDown(t, kB1, "timeout", rest...)
	waitDown(t, kA1, "refused", rest...)

	// The old leader can be removed; the two left keep a quorum of two.
	if err := next.Remove(leader.ID()); err != nil {
		t.Fatalf("Remove(%s): %v", leader.ID(), err)
	}
	for _, n := range rest {
		eventually(t, 5*time.Second, "2 members on "+n.ID(), func() bool { return len(n.Stats().Members) == 2 })
	}
	proposeDown(t, next, kA2, "reset")
	waitDown(t, kA2, "reset", rest...)
}

// countHandler counts the records at Info or above.
type countHandler struct{ n atomic.Int64 }

func (h *countHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }
func (h *countHandler) Handle(context.Context, slog.Record) error {
	h.n.Add(1)
	return nil
}
func (h *countHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *countHandler) WithGroup(string) slog.Handler      { return h }

func suffrage(st Status, id string) string {
	for _, m := range st.Members {
		if m.ID == id {
			return m.Suffrage
		}
	}
	return ""
}

func TestNodeConfigErrors(t *testing.T) {
	for _, cfg := range []Config{
		{Bind: "127.0.0.1:0", DataDir: t.TempDir()},
		{ID: "s1", DataDir: t.TempDir()},
		{ID: "s1", Bind: "127.0.0.1:0"},
		{ID: "s1", Bind: "127.0.0.1:0", DataDir: t.TempDir(), HeartbeatTimeout: time.Second, LeaderLeaseTimeout: 2 * time.Second},
		{ID: "s1", Bind: "127.0.0.1:0", DataDir: t.TempDir(), Advertise: "0.0.0.0:7000"},
	} {
		if n, err := NewNode(cfg); err == nil {
			_ = n.Close()
			t.Errorf("NewNode(%+v) = nil error", cfg)
		}
	}

	// A failed start (address in use) closes what it opened: the same
	// DataDir opens again at once.
	n1 := startNode(t, testConfig(t, "s1", true))
	cfg := testConfig(t, "s2", true)
	cfg.Bind = n1.Addr()
	if n, err := NewNode(cfg); err == nil {
		_ = n.Close()
		t.Fatal("NewNode on a used address = nil error")
	}
	cfg.Bind = "127.0.0.1:0"
	startNode(t, cfg)
}

// TestNodeCatchUpBySnapshot: a node that joins after the leader compacted
// its log gets the state from a snapshot, and decides alike.
func TestNodeCatchUpBySnapshot(t *testing.T) {
	cfg := testConfig(t, "s1", true)
	cfg.TrailingLogs = 2
	n1 := startNode(t, cfg)
	waitLeader(t, n1)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for i := range 20 {
		k := state.EndpointKey{Pool: "web", Region: "eu", Endpoint: fmt.Sprintf("e%d", i)}
		if err := n1.Propose(ctx, CmdObserve, Observe{Site: "s1", Key: k, Up: i%3 != 0, Err: "refused"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := n1.Propose(ctx, CmdDrain, Drain{Region: "us", Reason: "move", By: "ops"}); err != nil {
		t.Fatal(err)
	}
	if err := n1.raft.Snapshot().Error(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	first, err := n1.store.FirstIndex()
	if err != nil || first <= 2 {
		t.Fatalf("log not compacted: first index %d, %v", first, err)
	}

	n2 := startNode(t, testConfig(t, "s2", false))
	if err := n1.Join(n2.ID(), n2.Addr(), true); err != nil {
		t.Fatal(err)
	}
	// Raft records the installed snapshot just after restoring the FSM:
	// wait for both.
	eventually(t, 10*time.Second, "s2 restored from a snapshot (last_snapshot_index > 0)", func() bool {
		snap := n2.raft.Stats()["last_snapshot_index"]
		return n2.Current().Version == n1.Current().Version && n2.View().Index >= n1.View().Index-1 &&
			snap != "" && snap != "0"
	})
	if !reflect.DeepEqual(n2.Current(), n1.Current()) {
		t.Fatalf("snapshot on s2\n%+v\nleader\n%+v", n2.Current(), n1.Current())
	}
	if a, b := n2.View(), n1.View(); !reflect.DeepEqual(a.Endpoints, b.Endpoints) || !reflect.DeepEqual(a.History, b.History) {
		t.Fatal("views differ after the snapshot install")
	}
}

// TestNodeCorruptEntry: entries that Propose would refuse, put into the
// log of a real three-node cluster anyway (raft.Apply on the leader, as a
// corrupt disk or an injected entry would), are skipped by every node
// alike, and the cluster keeps deciding.
func TestNodeCorruptEntry(t *testing.T) {
	n1 := startNode(t, testConfig(t, "s1", true))
	n2 := startNode(t, testConfig(t, "s2", false))
	n3 := startNode(t, testConfig(t, "s3", false))
	waitLeader(t, n1)
	for _, n := range []*Node{n2, n3} {
		if err := n1.Join(n.ID(), n.Addr(), true); err != nil {
			t.Fatalf("Join(%s): %v", n.ID(), err)
		}
	}
	all := []*Node{n1, n2, n3}
	future, err := Encode(CmdDrain, time.Now().Add(24*time.Hour), Drain{Region: "eu", Reason: "x", By: "y"})
	if err != nil {
		t.Fatal(err)
	}
	corrupt := [][]byte{
		nil,                                 // empty
		{CmdObserve, '{'},                   // does not decode
		append([]byte{0x33}, future[1:]...), // unknown type without the ignore bit
		future,                              // stamped a day ahead of its append
		append([]byte{CmdRelease}, `{"at":1,"v":{"digest":"x"}}`...), // a release that does not validate
	}
	eventually(t, 10*time.Second, "corrupt entries in the log", func() bool {
		leader := waitLeader(t, all...)
		for _, b := range corrupt {
			if err := leader.raft.Apply(b, 5*time.Second).Error(); err != nil {
				t.Logf("raft.Apply: %v", err)
				return false
			}
		}
		return true
	})
	// The cluster goes on deciding: a drain after them applies everywhere.
	eventually(t, 10*time.Second, "a drain after the corrupt entries", func() bool {
		return waitLeader(t, all...).Propose(t.Context(), CmdDrain, Drain{Region: "us", Reason: "after", By: "t"}) == nil
	})
	for _, n := range all {
		eventually(t, 5*time.Second, "the drain on "+n.ID(), func() bool { return n.Current().DrainedRegions["us"] != "" })
		if got := n.fsm.Skipped(); got != 4 {
			// The bad release is a well-formed entry whose command is
			// refused (Apply's error), not a skipped one.
			t.Errorf("%s skipped %d entries, want 4", n.ID(), got)
		}
		if _, ok := n.Current().DrainedRegions["eu"]; ok {
			t.Errorf("%s applied the drain stamped a day ahead", n.ID())
		}
	}
}

// TestRaftLogArgs: the values raft formats through hclog (its
// configuration as hclog.Fmt("%+v", servers), hex and quoted values)
// reach slog rendered, not as "[%+v [...]]".
func TestRaftLogArgs(t *testing.T) {
	var b strings.Builder
	l := newHCLog(slog.New(slog.NewTextHandler(&b, &slog.HandlerOptions{
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	})), "s1")
	servers := []raft.Server{
		{Suffrage: raft.Voter, ID: "s1", Address: "127.0.0.1:7300"},
		{Suffrage: raft.Nonvoter, ID: "s2", Address: "127.0.0.2:7300"},
	}
	l.Info("initial configuration", "index", 1, "servers", hclog.Fmt("%+v", servers))
	l.Info("snapshot", "percent-complete", hclog.Fmt("%0.2f%%", 12.5), "flags", hclog.Hex(255), "id", hclog.Quote("a b"))
	want := `level=INFO msg="initial configuration" component=raft node=s1 index=1 servers="s1 (voter) at 127.0.0.1:7300, s2 (nonvoter) at 127.0.0.2:7300"
level=INFO msg=snapshot component=raft node=s1 percent-complete=12.50% flags=0xff id="\"a b\""
`
	if got := b.String(); got != want {
		t.Errorf("raft log lines:\n%s\nwant:\n%s", got, want)
	}
}

// TestNodeAloneElectsAtOnce: a node that is its configuration's only voter
// stands for election without waiting out a heartbeat timeout, at its
// bootstrap and at a restart; with a 30 s timeout, a leader within the
// 10 s of waitLeader can only come from that.
func TestNodeAloneElectsAtOnce(t *testing.T) {
	cfg := testConfig(t, "s1", true)
	cfg.HeartbeatTimeout, cfg.ElectionTimeout = 30*time.Second, 30*time.Second
	n := startNode(t, cfg)
	waitLeader(t, n)
	if got := n.raft.ReloadableConfig().HeartbeatTimeout; got != cfg.HeartbeatTimeout {
		t.Errorf("heartbeat timeout after the election = %v, want the configured %v", got, cfg.HeartbeatTimeout)
	}
	proposeDown(t, n, kA1, "refused")
	cfg.Bind = n.Addr()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, cfg)
	waitLeader(t, n)
	waitDown(t, kA1, "refused", n)
}

// TestNodeAloneCaughtUpAfterRestart: a node restarted alone, whose last
// entry is its election's no-op (which the FSM never sees), is caught up
// once it leads, without waiting for a next command.
func TestNodeAloneCaughtUpAfterRestart(t *testing.T) {
	cfg := testConfig(t, "s1", true)
	n := startNode(t, cfg)
	waitLeader(t, n)
	proposeDown(t, n, kA1, "refused")
	cfg.Bind = n.Addr()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	n = startNode(t, cfg)
	if !n.WaitCaughtUp(t.Context(), 10*time.Second) {
		t.Fatalf("not caught up: %+v, FSM applied %d", n.Stats(), n.fsm.Applied())
	}
	waitDown(t, kA1, "refused", n)
}
