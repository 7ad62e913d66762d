package cluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aya-gslb/aya/internal/testutil"
	"github.com/aya-gslb/aya/release"
)

// testRelease is a release of one zone with data, which the tests vary.
func testRelease(data string) *release.Release {
	const text = "cluster:\n  fresh_for: 30s\n"
	return release.New(release.Content{
		Config: release.File{Name: "aya.yaml", Data: []byte(text)},
		Zones:  []release.File{{Name: "example.com.zone", Data: []byte(data)}},
		Rules: release.Rules{FreshFor: 30 * time.Second, ReportInterval: 10 * time.Second,
			Shed: release.Shed{HighWater: DefaultHighWater, LowWater: DefaultLowWater, MaxFraction: DefaultMaxShed, Step: DefaultShedStep}},
	}, "alice", "test")
}

// applyEntry applies v as command cmd at index on f.
func applyEntry(t *testing.T, f *FSM, index uint64, cmd byte, v any) error {
	t.Helper()
	b, err := Encode(cmd, t0.Add(time.Duration(index)*time.Second), v)
	if err != nil {
		t.Fatal(err)
	}
	err, _ = f.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: b}).(error)
	return err
}

// TestApplyRelease: each new release counts a version; the running one
// again changes nothing; one that does not validate is refused alike on
// every node, leaving the running one.
func TestApplyRelease(t *testing.T) {
	bad := *testRelease("bad")
	bad.Zones = []release.File{{Name: "example.com.zone", Data: []byte("changed after the digest")}}
	tooMany := *testRelease("")
	tooMany.Zones = make([]release.File, release.MaxFiles+1)
	for i := range tooMany.Zones {
		tooMany.Zones[i].Name = fmt.Sprintf("f%05d", i)
	}
	tooMany.Digest = tooMany.Content.Digest()
	type want struct {
		version uint64
		digest  string
		index   uint64
		err     string
	}
	r1, r2 := testRelease("one"), testRelease("two")
	steps := []struct {
		name string
		rel  *release.Release
		want want
	}{
		{"first", r1, want{1, r1.Digest, 1, ""}},
		{"same", r1, want{1, r1.Digest, 1, ""}},
		{"second", r2, want{2, r2.Digest, 3, ""}},
		{"digest mismatch", &bad, want{2, r2.Digest, 3, "does not match its content"}},
		{"too many files", &tooMany, want{2, r2.Digest, 3, "4097 zone files"}},
		{"first again", r1, want{3, r1.Digest, 6, ""}},
	}
	fsms := []*FSM{NewFSM(three, nil), NewFSM(three, nil)}
	for _, f := range fsms {
		for i, s := range steps {
			ch := f.Changed()
			err := applyEntry(t, f, uint64(i+1), CmdRelease, s.rel)
			if (err == nil) != (s.want.err == "") || err != nil && !strings.Contains(err.Error(), s.want.err) {
				t.Fatalf("%s: err %v, want %q", s.name, err, s.want.err)
			}
			r := f.Release()
			if got := (want{r.Version, r.Digest, r.Index, s.want.err}); got != s.want {
				t.Errorf("%s: release %+v, want %+v", s.name, got, s.want)
			}
			changed := false
			select {
			case <-ch:
				changed = true
			default:
			}
			if wantChange := s.name == "first" || s.name == "second" || s.name == "first again"; changed != wantChange {
				t.Errorf("%s: changed %v", s.name, changed)
			}
			if f.Applied() != uint64(i+1) {
				t.Errorf("%s: applied %d", s.name, f.Applied())
			}
		}
	}
	if a, b := snapshotBytes(t, fsms[0]), snapshotBytes(t, fsms[1]); !bytes.Equal(a, b) {
		t.Error("two nodes that applied the same entries differ")
	}
	if h := fsms[0].History(); len(h) == 0 || !strings.Contains(h[len(h)-1].Why, "release 3") || !strings.Contains(h[len(h)-1].Why, "by alice from test") {
		t.Errorf("history %+v", h)
	}
}

// releaseNode is a single-node cluster that checks releases by
// release.Validate alone (the site package's tests attack it with the
// site's compile check).
func releaseNode(t *testing.T) *apiNode {
	t.Helper()
	n := startAPINodeWith(t, testConfig(t, "s1", true))
	waitLeader(t, n.Node)
	return n
}

// post sends body to path of n and returns the status and the message.
func post(t *testing.T, n *apiNode, path string, body io.Reader, header ...string) (int, string) {
	t.Helper()
	return testutil.Request(t, http.MethodPost, "http://"+n.admin()+path, body, header...)
}

func marshal(t testing.TB, v any) []byte { t.Helper(); return testutil.JSON(t, v) }

const testApex = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"

// TestReleaseForwarded: a write is forwarded once at most. A member that
// is not the leader refuses a forwarded release (503, naming who
// forwarded it) instead of forwarding it on, so two members that each
// believe the other leads cannot pass a release back and forth.
func TestReleaseForwarded(t *testing.T) {
	n := startAPINode(t, "s1", false) // in no cluster: no leader
	body := marshal(t, testRelease(testApex))
	code, msg := post(t, n, PathRelease, bytes.NewReader(body), ForwardedHeader, "s2")
	if code != http.StatusServiceUnavailable || !strings.Contains(msg, "forwarded by s2") {
		t.Fatalf("forwarded: %d %s", code, msg)
	}
	code, msg = post(t, n, PathRelease, bytes.NewReader(body))
	if code != http.StatusServiceUnavailable || !strings.Contains(msg, "no leader") {
		t.Fatalf("not forwarded: %d %s", code, msg)
	}
	if n.Release() != nil {
		t.Error("a release without a leader")
	}
}

// TestClientRelease: the client reads a release as large as a POST may
// send, not just the 1 MiB of the other answers.
func TestClientRelease(t *testing.T) {
	n := releaseNode(t)
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = ';'
	}
	r := testRelease(testApex + string(big) + "\n")
	var resp ReleaseResponse
	if err := (&Client{}).Do(t.Context(), n.admin(), PathRelease, "", r, &resp); err != nil || resp.Digest != r.Digest {
		t.Fatalf("POST: %+v %v", resp, err)
	}
	var got release.Release
	if err := (&Client{}).Do(context.Background(), n.admin(), PathRelease, "", nil, &got); err != nil {
		t.Fatalf("GET: %v", err)
	}
	if got.Digest != r.Digest || got.Validate() != nil {
		t.Errorf("GET: %s", got.Digest)
	}
}

// TestReleaseOneAtATime: concurrent POSTs of releases are served one
// after the other, so that their bodies (up to MaxReleaseBody each, a
// few times that while decoded and compiled) do not add up.
func TestReleaseOneAtATime(t *testing.T) {
	var (
		mu       sync.Mutex
		cur, top int
	)
	cfg := testConfig(t, "s1", true)
	cfg.CheckRelease = func(*release.Release) error {
		mu.Lock()
		cur++
		top = max(top, cur)
		mu.Unlock()
		time.Sleep(50 * time.Millisecond)
		mu.Lock()
		cur--
		mu.Unlock()
		return nil
	}
	n := startAPINodeWith(t, cfg)
	waitLeader(t, n.Node)
	var wg sync.WaitGroup
	for i := range 4 {
		body := marshal(t, testRelease(fmt.Sprintf("%s; %d\n", testApex, i)))
		wg.Go(func() {
			if code, msg := post(t, n, PathRelease, bytes.NewReader(body)); code != http.StatusOK {
				t.Errorf("%d %s", code, msg)
			}
		})
	}
	wg.Wait()
	if top != 1 {
		t.Errorf("%d releases checked at once", top)
	}
	if r := n.Release(); r == nil || r.Version != 4 {
		t.Errorf("release %+v", r.Info())
	}
}

// TestProposedReleaseNotDecoded: the leader's FSM applies the release it
// proposed as the value it encoded (no decode of its own entry), a
// follower decodes the entry, and both hold the same release. A release
// whose JSON would not decode to itself (a note that is not UTF-8) is
// decoded on the leader too, so that both still agree.
func TestProposedReleaseNotDecoded(t *testing.T) {
	n1 := startAPINode(t, "s1", true)
	waitLeader(t, n1.Node)
	n2 := startAPINode(t, "s2", false, n1.admin())
	eventually(t, 15*time.Second, "two members", func() bool { return len(n2.Stats().Members) == 2 })
	notUTF8 := testRelease(testApex + "b IN A 192.0.2.2\n")
	notUTF8.By = "bob\xff"
	for _, tc := range []struct {
		name   string
		rel    *release.Release
		shared bool // the leader's release holds the proposer's bytes
	}{
		{"round trips", testRelease(testApex + "a IN A 192.0.2.1\n"), true},
		{"not UTF-8", notUTF8, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if _, err := n1.ApplyRelease(ctx, tc.rel); err != nil {
				t.Fatal(err)
			}
			eventually(t, 5*time.Second, "the release on the follower", func() bool {
				r := n2.Release()
				return r != nil && r.Digest == tc.rel.Digest
			})
			lr, fr := n1.Release(), n2.Release()
			if shared := &lr.Zones[0].Data[0] == &tc.rel.Zones[0].Data[0]; shared != tc.shared {
				t.Errorf("leader's release shares the proposed bytes: %v, want %v", shared, tc.shared)
			}
			if !reflect.DeepEqual(lr.Content, fr.Content) || lr.Digest != fr.Digest || lr.By != fr.By || lr.Source != fr.Source ||
				lr.Version != fr.Version || lr.Index != fr.Index || !lr.At.Equal(fr.At) {
				t.Errorf("leader's release %+v\nfollower's %+v", lr.Info(), fr.Info())
			}
			if p := n1.fsm.proposed.Load(); p != nil {
				t.Error("the proposed entry is still held after Propose returned")
			}
		})
	}
}

// signedRelease is testRelease(data) with signatures of example.com.
func signedRelease(data, records string) *release.Release {
	r := testRelease(data)
	c := r.Content
	at := t0.Add(14 * 24 * time.Hour)
	c.Signed = []release.SignedZone{{Zone: "example.com.", Records: records, Expires: at, Refresh: at.Add(-7 * 24 * time.Hour)}}
	return release.New(c, r.By, r.Source)
}

// TestApplyUnsign: the state machine refuses, alike on every node, a
// release that drops the signatures of a zone the running one signs,
// unless the release asks (Unsign); re-signed and newly signed releases
// pass.
func TestApplyUnsign(t *testing.T) {
	signed, resigned := signedRelease("one", "sig 1\n"), signedRelease("one", "sig 2\n")
	unsigned, asked, other := testRelease("two"), testRelease("three"), testRelease("four")
	asked.Unsign = []string{"example.com."}
	other.Unsign = []string{"example.org."}
	runReleaseSteps(t, []releaseStep{
		{"signed first", signed, "", 1},
		{"re-signed", resigned, "", 2},
		{"unsigned", unsigned, "release drops the signatures of example.com., which the running release signs", 2},
		{"unsign of another zone", other, "--unsign example.com.", 2},
		{"asked", asked, "", 3},
		{"unsigned after", unsigned, "", 4},
		{"signed again", signed, "", 5},
	}, func(s releaseStep, err error) {
		if ue, ok := errors.AsType[*UnsignError](err); !ok || len(ue.Zones) != 1 || ue.Zones[0] != "example.com." {
			t.Errorf("%s: %T %v, want an UnsignError of example.com.", s.name, err, err)
		}
	})
	// The node says so before the log.
	n := releaseNode(t)
	if code, msg := post(t, n, PathRelease, bytes.NewReader(marshal(t, signed))); code != http.StatusOK {
		t.Fatalf("signed: %d %s", code, msg)
	}
	if code, msg := post(t, n, PathRelease, bytes.NewReader(marshal(t, unsigned))); code != http.StatusBadRequest || !strings.Contains(msg, "release refused: release drops the signatures of example.com.") {
		t.Errorf("unsigned: %d %s", code, msg)
	}
}

// TestApplyResigns: a re-sign (Resigns set) is applied only over the
// release it re-signs: one made of a release that another has replaced
// meanwhile is refused alike on every node, and before the log, so that
// the older content does not come back.
func TestApplyResigns(t *testing.T) {
	signed := signedRelease("one", "sig 1\n")
	resigned := signedRelease("one", "sig 2\n")
	resigned.Resigns = signed.Digest
	changed := signedRelease("two", "sig 1\n")
	stale := signedRelease("one", "sig 3\n")
	stale.Resigns = resigned.Digest
	runReleaseSteps(t, []releaseStep{
		{"signed", signed, "", 1},
		{"re-signed", resigned, "", 2},
		{"changed by an operator", changed, "", 3},
		{"a re-sign of the release before", stale, "release re-signs release " + release.ShortDigest(resigned.Digest) + ", but the running release is " + release.ShortDigest(changed.Digest), 3},
	}, nil)
	n := releaseNode(t)
	if code, msg := post(t, n, PathRelease, bytes.NewReader(marshal(t, changed))); code != http.StatusOK {
		t.Fatalf("changed: %d %s", code, msg)
	}
	if code, msg := post(t, n, PathRelease, bytes.NewReader(marshal(t, stale))); code != http.StatusBadRequest || !strings.Contains(msg, "release refused: release re-signs") {
		t.Errorf("stale re-sign: %d %s", code, msg)
	}
}

// releaseStep is one release applied in runReleaseSteps: the error it gets
// ("" none, else a part of its text) and the version after it.
type releaseStep struct {
	name    string
	rel     *release.Release
	err     string
	version uint64
}

// runReleaseSteps applies steps as log entries to two state machines,
// checks each error (and with refused, when not nil, each refusal) and
// version, and that the two end alike.
func runReleaseSteps(t *testing.T, steps []releaseStep, refused func(releaseStep, error)) {
	t.Helper()
	fsms := []*FSM{NewFSM(three, nil), NewFSM(three, nil)}
	for _, f := range fsms {
		for i, s := range steps {
			err := applyEntry(t, f, uint64(i+1), CmdRelease, s.rel)
			if (err == nil) != (s.err == "") || err != nil && !strings.Contains(err.Error(), s.err) {
				t.Fatalf("%s: err %v, want %q", s.name, err, s.err)
			}
			if s.err != "" && refused != nil {
				refused(s, err)
			}
			if v := f.Release().Version; v != s.version {
				t.Errorf("%s: version %d, want %d", s.name, v, s.version)
			}
		}
	}
	if a, b := snapshotBytes(t, fsms[0]), snapshotBytes(t, fsms[1]); !bytes.Equal(a, b) {
		t.Error("two nodes that applied the same entries differ")
	}
}
