package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/release"
	"github.com/aya-gslb/aya/site"
)

// testRelease is a release of one zone with data, which the tests vary.
func testRelease(data string) *release.Release {
	const text = "cluster:\n  fresh_for: 30s\n"
	rc, err := config.ParseRelease("", "aya.yaml", []byte(text))
	if err != nil {
		panic(err)
	}
	return release.New(release.Content{
		Config: release.File{Name: "aya.yaml", Data: []byte(text)},
		Zones:  []release.File{{Name: "example.com.zone", Data: []byte(data)}},
		Rules:  site.Rules(rc),
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

// releaseNode is a single-node cluster whose releases are checked as a
// site checks them (site.Compile).
func releaseNode(t *testing.T) *apiNode {
	t.Helper()
	cfg := testConfig(t, "s1", true)
	cfg.CheckRelease = func(r *release.Release) error { _, err := site.Compile(r, "/etc/aya"); return err }
	n := startAPINodeWith(t, cfg)
	waitLeader(t, n.Node)
	return n
}

// post sends body to path of n and returns the status and the message.
func post(t *testing.T, n *apiNode, path string, body io.Reader, header ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, "http://"+n.admin()+path, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func marshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const testApex = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"

// TestReleaseAPI attacks POST PathRelease as someone who can reach the
// admin port: whatever is sent, the node answers within bounds, refuses
// what would not serve, and the running release stays.
func TestReleaseAPI(t *testing.T) {
	n := releaseNode(t)
	good := testRelease(testApex)
	if code, msg := post(t, n, PathRelease, bytes.NewReader(marshal(t, good))); code != http.StatusOK {
		t.Fatalf("a good release: %d %s", code, msg)
	}
	many := release.Content{Config: good.Config, Rules: good.Rules}
	for i := range release.MaxFiles - 1 {
		many.Zones = append(many.Zones, release.File{Name: fmt.Sprintf("inc/%04d", i), Data: []byte("x A 192.0.2.1\n")})
	}
	many.Zones = append(many.Zones, release.File{Name: "example.com.zone", Data: []byte(testApex + "$INCLUDE inc/0001\n")})
	var gen strings.Builder
	gen.WriteString(testApex)
	for i := range 40 {
		fmt.Fprintf(&gen, "$GENERATE 0-65535 h%d-$ A 192.0.2.1\n", i)
	}
	siteKey := testRelease(testApex)
	siteKey.Config.Data = []byte("cluster:\n  fresh_for: 30s\n\nadmin:\n  token: SECRET\n")
	siteKey = release.New(siteKey.Content, "", "")

	for _, tc := range []struct {
		name string
		body func() io.Reader
		code int
		want string
	}{
		{"90 MiB", func() io.Reader {
			return io.MultiReader(strings.NewReader(`{"config":{"name":"aya.yaml","data":"`), &zeros{n: 90 << 20}, strings.NewReader(`"}}`))
		}, http.StatusBadRequest, "request body too large"},
		{"nested", func() io.Reader {
			return strings.NewReader(`{"zones":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "}")
		}, http.StatusBadRequest, "exceeded max depth"},
		{"unknown field", func() io.Reader { return strings.NewReader(`{"zones":[],"extra":1}`) }, http.StatusBadRequest, "unknown field"},
		{"digest", func() io.Reader {
			r := *good
			r.Digest = "sha256:00"
			return bytes.NewReader(marshal(t, &r))
		}, http.StatusBadRequest, "does not match its content"},
		{"long source", func() io.Reader {
			r := testRelease(testApex + "; another\n")
			r.Source = strings.Repeat("x", 8<<20) // outside the digest, in every history entry and status
			return bytes.NewReader(marshal(t, r))
		}, http.StatusBadRequest, "by and source hold at most 1024 bytes each"},
		{"4096 files", func() io.Reader { return bytes.NewReader(marshal(t, release.New(many, "", ""))) }, http.StatusOK, `"version": 2`},
		{"4097 files", func() io.Reader {
			c := many
			c.Zones = append([]release.File{{Name: "a"}}, c.Zones...)
			return bytes.NewReader(marshal(t, release.New(c, "", "")))
		}, http.StatusBadRequest, "4097 zone files"},
		{"generate", func() io.Reader { return bytes.NewReader(marshal(t, testRelease(gen.String()))) },
			http.StatusBadRequest, "example.com.zone:8: more than 262144 records"},
		{"a site's key", func() io.Reader { return bytes.NewReader(marshal(t, siteKey)) },
			http.StatusBadRequest, "/etc/aya/aya.yaml:5: admin.token: not part of a release"},
		{"through the apply path", func() io.Reader {
			return bytes.NewReader(marshal(t, ApplyRequest{Type: CmdRelease, V: marshal(t, testRelease(gen.String()))}))
		}, http.StatusBadRequest, "a release is applied with POST /v1/release"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := PathRelease
			if strings.HasPrefix(tc.name, "through") {
				path = PathApply
			}
			before := n.Release()
			start := time.Now()
			code, msg := post(t, n, path, tc.body())
			if code != tc.code || !strings.Contains(msg, tc.want) {
				t.Fatalf("%d %s, want %d %q", code, msg, tc.code, tc.want)
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s", d)
			}
			if strings.Contains(msg, "SECRET") {
				t.Errorf("the answer repeats the release's text: %s", msg)
			}
			if after := n.Release(); code != http.StatusOK && after.Digest != before.Digest {
				t.Errorf("a refused release runs: %s", after.Digest)
			}
		})
	}
}

// zeros reads as n bytes of '0'.
type zeros struct{ n int }

func (z *zeros) Read(b []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(len(b), z.n)
	for i := range k {
		b[i] = '0'
	}
	z.n -= k
	return k, nil
}

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
