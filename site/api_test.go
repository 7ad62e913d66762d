package site

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/internal/testutil"
	"github.com/aya-gslb/aya/release"
)

// testNode is a single-node cluster on loopback whose admin API is served
// on addr, and whose releases are checked as a site checks them.
type testNode struct {
	*cluster.Node
	addr string
}

// siteNode starts a testNode and waits until it leads.
func siteNode(t *testing.T) *testNode {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	n, err := cluster.NewNode(cluster.Config{
		ID: "s1", Bind: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "s1"), Bootstrap: true,
		Admin:            srv.Listener.Addr().String(),
		HeartbeatTimeout: 200 * time.Millisecond, ElectionTimeout: 200 * time.Millisecond,
		LeaderLeaseTimeout: 100 * time.Millisecond, CommitTimeout: 10 * time.Millisecond,
		CheckRelease: func(r *release.Release) error { _, err := Compile(r, "/etc/aya", dnsserver.ZoneLimits{}); return err },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	srv.Config.Handler = n.Handler()
	srv.Start()
	t.Cleanup(srv.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	for deadline := time.Now().Add(10 * time.Second); !n.IsLeader(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no leader")
		}
	}
	return &testNode{Node: n, addr: srv.Listener.Addr().String()}
}

// testRelease is a release of one zone with data, built as Build builds
// one (its rules are its configuration's).
func testRelease(data string) *release.Release {
	const text = "cluster:\n  fresh_for: 30s\n"
	rc, err := config.ParseRelease("", "aya.yaml", []byte(text))
	if err != nil {
		panic(err)
	}
	return release.New(release.Content{
		Config: release.File{Name: "aya.yaml", Data: []byte(text)},
		Zones:  []release.File{{Name: "example.com.zone", Data: []byte(data)}},
		Rules:  Rules(rc),
	}, "alice", "test")
}

const testApex = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"

// post sends body to path of n and returns the status and the message.
func post(t *testing.T, n *testNode, path string, body io.Reader) (int, string) {
	t.Helper()
	return testutil.Request(t, http.MethodPost, "http://"+n.addr+path, body)
}

func marshal(t testing.TB, v any) []byte { t.Helper(); return testutil.JSON(t, v) }

// TestReleaseAPI attacks POST cluster.PathRelease as someone who can reach the
// admin port: whatever is sent, the node answers within bounds, refuses
// what would not serve, and the running release stays.
func TestReleaseAPI(t *testing.T) {
	n := siteNode(t)
	good := testRelease(testApex)
	if code, msg := post(t, n, cluster.PathRelease, bytes.NewReader(marshal(t, good))); code != http.StatusOK {
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
			http.StatusBadRequest, "example.com.zone:9: $GENERATE lines make more than 262144 records in the zone (dns.zones.max_generate_total)"},
		{"a site's key", func() io.Reader { return bytes.NewReader(marshal(t, siteKey)) },
			http.StatusBadRequest, "/etc/aya/aya.yaml:5: admin.token: not part of a release"},
		{"through the apply path", func() io.Reader {
			return bytes.NewReader(marshal(t, cluster.ApplyRequest{Type: cluster.CmdRelease, V: marshal(t, testRelease(gen.String()))}))
		}, http.StatusBadRequest, "a release is applied with POST /v1/release"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := cluster.PathRelease
			if strings.HasPrefix(tc.name, "through") {
				path = cluster.PathApply
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
