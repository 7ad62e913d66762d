package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/dnssec"
	"github.com/aya-gslb/aya/internal/testutil"
	"github.com/aya-gslb/aya/release"
	"github.com/aya-gslb/aya/state"
)

var update = flag.Bool("update", false, "update golden files")

// TestRenderStatus pins the text of aya status against a golden file.
// Refresh with go test ./cmd/aya -run RenderStatus -update.
func TestRenderStatus(t *testing.T) {
	at := func(sec int) time.Time { return time.Date(2026, 11, 24, 12, 0, sec, 0, time.UTC) }
	key := func(region, ep string) state.EndpointKey {
		return state.EndpointKey{Pool: "web", Region: region, Endpoint: ep}
	}
	st := &cluster.StatusResponse{
		Node: cluster.Status{
			ID: "s2", Addr: "10.0.0.2:7300", Admin: "10.0.0.2:9053", State: "Follower",
			LeaderID: "s1", LeaderAddr: "10.0.0.1:7300", Term: 4, LastIndex: 120, LastApplied: 120,
			Members: []cluster.Member{
				{ID: "edge1", Addr: "10.0.0.9:7300", Suffrage: "Nonvoter"},
				{ID: "s1", Addr: "10.0.0.1:7300", Suffrage: "Voter"},
				{ID: "s2", Addr: "10.0.0.2:7300", Suffrage: "Voter"},
				{ID: "s3", Addr: "10.0.0.3:7300", Suffrage: "Voter"},
			},
		},
		Staleness: cluster.Duration(42 * time.Millisecond),
		Release: &release.Info{Version: 7, Digest: "sha256:46588f9328e9aa55", Index: 110, At: at(20), By: "ci", Source: "zones@3f2a9c1", Files: 3, Bytes: 4732,
			Signed: []release.SignedInfo{
				{Zone: "gslb.example.com.", Expires: at(50).Add(14 * 24 * time.Hour), Refresh: at(50).Add(7 * 24 * time.Hour)},
				{Zone: "late.example.com.", Expires: at(50).Add(6 * time.Hour), Refresh: at(40)},
				{Zone: "old.example.com.", Expires: at(49), Refresh: at(0)},
			}},
		View: cluster.View{
			Index: 120, Version: 117, Now: at(50), FreshFor: cluster.Duration(30 * time.Second),
			Sites: []cluster.SiteInfo{
				{ID: "s1", Version: "v1.2.0", Geo: "sha256:aaaa1111bbbb2222", Published: "sha256:46588f9328e9aa55", Local: "sha256:46588f9328e9aa55"},
				{ID: "s2", Version: "v1.2.0", Geo: "sha256:aaaa1111bbbb2222", Published: "sha256:46588f9328e9aa55"},
				{ID: "s3", Version: "v1.2.0", Geo: "sha256:cccc3333dddd4444", Published: "sha256:46588f9328e9aa55", Local: "sha256:0aa22a8063ee77"},
			},
			Differ: map[string][]string{"geo": {"s1=aaaa1111bbbb", "s2=aaaa1111bbbb", "s3=cccc3333dddd"}, "local": {"s3=0aa22a8063ee"}},
			Admins: map[string]string{"s1": "10.0.0.1:9053", "s2": "10.0.0.2:9053", "s3": "10.0.0.3:9053"},
			Endpoints: []cluster.EndpointView{
				{EndpointKey: key("eu-west", "euw1"), Up: false, Why: "down at 2 of 3 sites: connection refused", Since: at(40),
					Reports: []cluster.SiteReport{
						{Site: "s1", Up: false, At: at(49), Age: cluster.Duration(time.Second), Fresh: true, LatencyMicros: 210, Err: "connection refused"},
						{Site: "s2", Up: false, At: at(48), Age: cluster.Duration(2 * time.Second), Fresh: true, LatencyMicros: 180, Err: "connection refused"},
						{Site: "s3", Up: true, At: at(10), Age: cluster.Duration(40 * time.Second), Fresh: false, LatencyMicros: 1500},
					}},
				{EndpointKey: key("us-east", "use1"), Up: true,
					Reports: []cluster.SiteReport{
						{Site: "s1", Up: true, At: at(49), Age: cluster.Duration(time.Second), Fresh: true, LatencyMicros: 2300},
						{Site: "s2", Up: true, At: at(50), Fresh: true, LatencyMicros: 1900},
					}},
			},
			Regions: []cluster.RegionView{
				{RegionKey: cluster.RegionKey{Pool: "web", Region: "eu-west"}, Up: false, Why: "region eu-west down: 0 of 1 endpoints up (min 1)", Since: at(40)},
				{RegionKey: cluster.RegionKey{Pool: "web", Region: "us-east"}, Up: true},
			},
			Loads: []cluster.RegionLoadView{
				{Region: "eu-west", Utilisation: 0.85, Shed: 0.208, Why: "load 85% of capacity, over the high water mark 80%", Since: at(45).UnixNano(),
					Reports: []cluster.LoadReportView{
						{LoadReport: cluster.LoadReport{Region: "eu-west", Reporter: "proxy-euw-1", InFlight: 85, Capacity: 100, RPS: 1234, P99Micros: 25000}, Age: cluster.Duration(time.Second), Fresh: true},
					}},
				{Region: "us-east", Utilisation: -1,
					Reports: []cluster.LoadReportView{
						{LoadReport: cluster.LoadReport{Region: "us-east", Reporter: "proxy-use-1", InFlight: 3, Capacity: 100, RPS: 40, P99Micros: 9000}, Age: cluster.Duration(50 * time.Second)},
					}},
			},
			Drains: []cluster.DrainView{
				{Region: "ap-southeast", Why: "kernel upgrade (by alice@ops1)"},
				{Pool: "web", Region: "us-east", Endpoint: "use2", Why: "disk (by bob@ops2)"},
			},
			History: []cluster.Decision{
				{At: at(5), Index: 90, Region: "ap-southeast", From: "undrained", To: "drained", Why: "kernel upgrade (by alice@ops1)"},
				{At: at(40), Index: 117, Pool: "web", Region: "eu-west", Endpoint: "euw1", From: "up", To: "down", Why: "down at 2 of 3 sites: connection refused"},
				{At: at(40), Index: 117, Pool: "web", Region: "eu-west", From: "up", To: "down", Why: "region eu-west down: 0 of 1 endpoints up (min 1)"},
			},
		},
	}
	var b bytes.Buffer
	if err := renderStatus(&b, st, 20); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "status.golden", b.Bytes())

	// aya status --json: durations as strings ("30s"), as Consul writes them.
	b.Reset()
	if err := printStatusJSON(&b, st); err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "status.json.golden", b.Bytes())
	var back cluster.StatusResponse
	if err := json.Unmarshal(b.Bytes(), &back); err != nil || back.Staleness != st.Staleness || back.View.FreshFor != st.View.FreshFor ||
		back.View.Endpoints[0].Reports[2].Age != st.View.Endpoints[0].Reports[2].Age || back.View.Loads[0].Reports[0].Age != st.View.Loads[0].Reports[0].Age {
		t.Errorf("status JSON does not read back: %v %+v", err, back)
	}
}

// checkGolden compares got with testdata/name, or writes it with -update.
func checkGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	testutil.Golden(t, filepath.Join("testdata", name), got, *update)
}

// TestRenderKeys: where the keys are, aya status shows each zone's keys'
// states and the DS to publish, as aya dnssec status does; nothing where
// there are none.
func TestRenderKeys(t *testing.T) {
	dir := t.TempDir()
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	since := now.Add(-time.Hour)
	var ds []string
	for _, role := range []dnssec.Role{dnssec.KSK, dnssec.ZSK} {
		tm := dnssec.Timing{Created: since, Publish: since, Activate: since}
		if role == dnssec.KSK {
			tm.SyncPublish = since
		}
		k, err := dnssec.Generate("example.com.", dns.ECDSAP256SHA256, role, tm)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
		if role == dnssec.KSK {
			ds = append(ds, k.DS().String())
		}
	}
	var b bytes.Buffer
	rel := &release.Info{Signed: []release.SignedInfo{{Zone: "example.com."}, {Zone: "nokeys.example."}}}
	if err := renderKeys(&b, dir, rel, now); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range append([]string{"DNSSEC KEYS (" + dir + ")", "zone example.com. at 2026-12-01T12:00:00Z", "KSK", "ZSK", "DS to publish at the parent:", "problems: none"}, ds...) {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in\n%s", want, out)
		}
	}
	if strings.Contains(out, "nokeys") {
		t.Errorf("a zone without keys shown:\n%s", out)
	}
	b.Reset()
	if err := renderKeys(&b, filepath.Join(dir, "none"), rel, now); err != nil || b.Len() != 0 {
		t.Errorf("without keys: %q, %v", b.String(), err)
	}
}
