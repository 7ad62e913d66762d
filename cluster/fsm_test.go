package cluster

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aya-gslb/aya/release"
	"github.com/aya-gslb/aya/state"
)

var (
	t0  = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	kA1 = state.EndpointKey{Pool: "web", Region: "eu", Endpoint: "a1"}
	kA2 = state.EndpointKey{Pool: "web", Region: "eu", Endpoint: "a2"}
	kB1 = state.EndpointKey{Pool: "web", Region: "us", Endpoint: "b1"}
)

// step is one command at t0+sec.
type step struct {
	cmd byte
	sec int
	v   any
}

func obs(sec int, site string, k state.EndpointKey, up bool, err string) step {
	return step{CmdObserve, sec, Observe{Site: site, Key: k, Up: up, Err: err}}
}

// logs encodes steps as raft logs with indexes 1, 2, ….
func logs(tb testing.TB, steps []step) []*raft.Log {
	tb.Helper()
	var out []*raft.Log
	for i, s := range steps {
		b, err := Encode(s.cmd, t0.Add(time.Duration(s.sec)*time.Second), s.v)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: b})
	}
	return out
}

func run(tb testing.TB, r Rules, steps []step) *FSM {
	tb.Helper()
	f := NewFSM(r, nil)
	for _, l := range logs(tb, steps) {
		if err, _ := f.Apply(l).(error); err != nil {
			tb.Fatalf("apply %d: %v", l.Index, err)
		}
	}
	return f
}

var three = Rules{Sites: []string{"s1", "s2", "s3"}, FreshFor: 10 * time.Second}

func TestQuorum(t *testing.T) {
	two := Rules{Sites: []string{"s1", "s2"}, FreshFor: 10 * time.Second}
	for _, tc := range []struct {
		name  string
		rules Rules
		steps []step
		down  string // "" = up
	}{
		{"3 sites 2 up 1 down", three, []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, true, ""), obs(0, "s3", kA1, false, "refused"),
		}, ""},
		{"3 sites 1 up 2 down", three, []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, false, "connection refused"), obs(0, "s3", kA1, false, "timeout"),
		}, "down at 2 of 3 sites: connection refused"},
		{"3 sites all down", three, []step{
			obs(0, "s1", kA1, false, "x"), obs(0, "s2", kA1, false, ""), obs(0, "s3", kA1, false, ""),
		}, "down at 3 of 3 sites: x"},
		{"lone dissenter after all up", three, []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, true, ""), obs(0, "s3", kA1, true, ""),
			obs(1, "s3", kA1, false, "route"),
		}, ""},
		{"lone site down of one fresh is down", three, []step{
			obs(0, "s1", kA1, false, "refused"),
		}, "down at 1 of 1 sites: refused"},
		{"2 sites tie keeps the last state: up", two, []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, false, "refused"),
		}, ""},
		{"2 sites tie keeps the last state: down", two, []step{
			obs(0, "s1", kA1, false, "refused"), obs(0, "s2", kA1, false, "timeout"), obs(1, "s1", kA1, true, ""),
		}, "down at 2 of 2 sites: refused"},
		{"3 sites, one not reporting yet: a lone dissenter is a tie", three, []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, false, "route"),
		}, ""},
		{"2 sites both up", two, []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, true, ""),
		}, ""},
		{"unknown site does not count", three, []step{
			obs(0, "s1", kA1, true, ""), obs(0, "x1", kA1, false, ""), obs(0, "x2", kA1, false, ""),
		}, ""},
		{"empty Sites: every site counts", Rules{}, []step{
			obs(0, "s1", kA1, true, ""), obs(0, "x1", kA1, false, "e"), obs(0, "x2", kA1, false, ""),
		}, "down at 2 of 3 sites: e"},
		{"latest report of a site wins", three, []step{
			obs(0, "s1", kA1, false, ""), obs(0, "s2", kA1, false, ""), obs(1, "s1", kA1, true, ""), obs(1, "s2", kA1, true, ""),
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := run(t, tc.rules, tc.steps)
			why, down := f.Current().EndpointDown(kA1)
			if down != (tc.down != "") || why != tc.down {
				t.Fatalf("down = %v %q, want %q", down, why, tc.down)
			}
		})
	}
}

func TestFreshness(t *testing.T) {
	for _, tc := range []struct {
		name  string
		steps []step
		down  bool
	}{
		// s2 and s3 saw it down at 0; s1 keeps seeing it up; at 11s their
		// reports are stale (log time moved on), s1 alone is fresh → up.
		{"stale sites stop counting", []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, false, ""), obs(0, "s3", kA1, false, ""),
			obs(11, "s1", kA1, true, ""),
		}, false},
		{"fresh within FreshFor", []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, false, ""), obs(0, "s3", kA1, false, ""),
			obs(10, "s1", kA1, true, ""),
		}, true},
		// Log time advances through another endpoint's reports: kA1 has no
		// fresh report, it keeps its last state (down).
		{"no fresh report keeps last state down", []step{
			obs(0, "s1", kA1, false, ""), obs(0, "s2", kA1, false, ""),
			obs(60, "s1", kB1, true, ""),
		}, true},
		{"no fresh report keeps last state up", []step{
			obs(0, "s1", kA1, true, ""),
			obs(60, "s1", kB1, true, ""),
		}, false},
		// An older leader time in a later entry does not move the log time back.
		{"log time never goes back", []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, false, ""), obs(0, "s3", kA1, false, ""),
			obs(11, "s1", kA1, true, ""), obs(5, "s2", kB1, true, ""),
		}, false},
		// A leader time far in the future (a bad clock, an injected entry)
		// is left behind by the next sane entry: the decisions go on.
		{"a far future time does not freeze the decisions", []step{
			obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, true, ""), obs(0, "s3", kA1, true, ""),
			obs(1000000, "s1", kB1, true, ""),
			obs(1, "s1", kA1, false, ""), obs(1, "s2", kA1, false, ""),
		}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := run(t, three, tc.steps)
			if _, down := f.Current().EndpointDown(kA1); down != tc.down {
				t.Fatalf("down = %v, want %v", down, tc.down)
			}
		})
	}
}

func TestDrain(t *testing.T) {
	k := kA2
	steps := []step{
		{CmdDrain, 0, Drain{Region: "eu", Reason: "maintenance", By: "alice"}},
		{CmdDrain, 1, Drain{Endpoint: &k, Reason: "disk", By: "bob"}},
	}
	f := run(t, three, steps)
	s := f.Current()
	if why, ok := s.RegionDrained("eu"); !ok || why != "maintenance (by alice)" {
		t.Fatalf("region drain = %v %q", ok, why)
	}
	if why, ok := s.EndpointDrained(kA2); !ok || why != "disk (by bob)" {
		t.Fatalf("endpoint drain = %v %q", ok, why)
	}
	if s.Version != 2 {
		t.Fatalf("version = %d, want 2", s.Version)
	}
	steps = append(steps,
		step{CmdUndrain, 2, Undrain{Region: "eu", By: "carol"}},
		step{CmdUndrain, 3, Undrain{Endpoint: &k, By: "dave"}},
		step{CmdUndrain, 4, Undrain{Region: "us", By: "erin"}}, // not drained: no decision
	)
	f = run(t, three, steps)
	s = f.Current()
	if len(s.DrainedRegions) != 0 || len(s.DrainedEndpoints) != 0 {
		t.Fatalf("still drained: %v %v", s.DrainedRegions, s.DrainedEndpoints)
	}
	if s.Version != 4 {
		t.Fatalf("version = %d, want 4", s.Version)
	}
	h := f.History()
	want := []Decision{
		{At: t0, Index: 1, Region: "eu", From: "undrained", To: "drained", Why: "maintenance (by alice)"},
		{At: t0.Add(time.Second), Index: 2, Pool: "web", Region: "eu", Endpoint: "a2", From: "undrained", To: "drained", Why: "disk (by bob)"},
		{At: t0.Add(2 * time.Second), Index: 3, Region: "eu", From: "drained", To: "undrained", Why: "undrained (by carol)"},
		{At: t0.Add(3 * time.Second), Index: 4, Pool: "web", Region: "eu", Endpoint: "a2", From: "drained", To: "undrained", Why: "undrained (by dave)"},
	}
	if !reflect.DeepEqual(h, want) {
		t.Fatalf("history\n got %+v\nwant %+v", h, want)
	}
}

func TestMinUp(t *testing.T) {
	r := Rules{Sites: []string{"s1"}, FreshFor: 10 * time.Second, MinUp: map[RegionKey]int{{Pool: "web", Region: "eu"}: 2}}
	f := run(t, r, []step{
		obs(0, "s1", kA1, true, ""), obs(0, "s1", kA2, true, ""), obs(0, "s1", kB1, true, ""),
	})
	if n := len(f.Current().Down); n != 0 {
		t.Fatalf("down = %v", f.Current().Down)
	}
	f = run(t, r, []step{
		obs(0, "s1", kA1, true, ""), obs(0, "s1", kA2, false, "refused"), obs(0, "s1", kB1, true, ""),
	})
	want := map[state.EndpointKey]string{
		kA1: "region eu down: 1 of 2 endpoints up (min 2)",
		kA2: "down at 1 of 1 sites: refused",
	}
	if got := f.Current().Down; !reflect.DeepEqual(got, want) {
		t.Fatalf("down = %v, want %v", got, want)
	}
	h := f.History()
	if last := h[len(h)-1]; last.Pool != "web" || last.Region != "eu" || last.Endpoint != "" || last.To != "down" {
		t.Fatalf("last decision = %+v", last)
	}
	// Default 1: us with its only endpoint down is down through the endpoint.
	f = run(t, r, []step{obs(0, "s1", kB1, false, "")})
	if _, down := f.Current().EndpointDown(kB1); !down {
		t.Fatal("b1 up")
	}
}

// sink is an in-memory raft.SnapshotSink.
type sink struct{ bytes.Buffer }

func (s *sink) ID() string    { return "test" }
func (s *sink) Cancel() error { return nil }
func (s *sink) Close() error  { return nil }

func snapshotBytes(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	defer snap.Release()
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	return s.Bytes()
}

var mixed = []step{
	obs(0, "s1", kA1, true, ""), obs(0, "s2", kA1, false, "refused"), obs(0, "s3", kA1, false, "timeout"),
	obs(1, "s1", kB1, true, ""), obs(1, "s2", kA2, false, ""),
	{CmdDrain, 2, Drain{Region: "us", Reason: "move", By: "ops"}},
	{CmdDrain, 3, Drain{Endpoint: &kA2, Reason: "disk", By: "bob"}},
	{CmdMeta, 4, Meta{ID: "s1", Admin: "127.0.0.1:9053"}},
	{CmdMeta, 4, Meta{ID: "s2", Admin: "127.0.0.2:9053"}},
	{CmdLoad, 5, LoadReport{Region: "eu", Reporter: "p1", InFlight: 95, Capacity: 100, RPS: 1000, P99Micros: 25000}},
	obs(20, "s1", kA1, true, ""),
}

func TestSnapshotRestore(t *testing.T) {
	f := run(t, three, mixed)
	b := snapshotBytes(t, f)
	// Applying after Snapshot must not change what was captured.
	f.Apply(logs(t, []step{obs(30, "s1", kB1, false, "")})[0])
	if b2 := snapshotBytes(t, run(t, three, mixed)); !bytes.Equal(b, b2) {
		t.Fatal("snapshot changed by a later Apply")
	}
	g := NewFSM(three, nil)
	g.Apply(logs(t, []step{{CmdDrain, 0, Drain{Region: "old", Reason: "x", By: "y"}}})[0])
	if err := g.Restore(io.NopCloser(bytes.NewReader(b))); err != nil {
		t.Fatal(err)
	}
	want := run(t, three, mixed)
	if !reflect.DeepEqual(g.Current(), want.Current()) {
		t.Fatalf("current\n got %+v\nwant %+v", g.Current(), want.Current())
	}
	if !reflect.DeepEqual(g.History(), want.History()) {
		t.Fatalf("history\n got %+v\nwant %+v", g.History(), want.History())
	}
	if !reflect.DeepEqual(g.View(), want.View()) {
		t.Fatalf("view\n got %+v\nwant %+v", g.View(), want.View())
	}
	if !bytes.Equal(snapshotBytes(t, g), b) {
		t.Fatal("snapshot of restored FSM differs")
	}
	// A bad snapshot keeps the old state.
	if err := g.Restore(io.NopCloser(strings.NewReader("{"))); err == nil {
		t.Fatal("restore of garbage succeeded")
	}
	if !reflect.DeepEqual(g.Current(), want.Current()) {
		t.Fatal("failed restore changed state")
	}
}

func TestReplayDeterminism(t *testing.T) {
	ls := logs(t, mixed)
	// The same entries with the JSON keys in another order.
	re := make([]*raft.Log, len(ls))
	for i, l := range ls {
		c := *l
		c.Data = reorder(t, l.Data)
		re[i] = &c
	}
	a, b, c := NewFSM(three, nil), NewFSM(three, nil), NewFSM(three, nil)
	for i := range ls {
		a.Apply(ls[i])
		b.Apply(ls[i])
		c.Apply(re[i])
	}
	sa := snapshotBytes(t, a)
	if !bytes.Equal(sa, snapshotBytes(t, b)) || !bytes.Equal(sa, snapshotBytes(t, c)) {
		t.Fatal("replays differ")
	}
	if !reflect.DeepEqual(a.Current(), c.Current()) || !reflect.DeepEqual(a.History(), c.History()) {
		t.Fatal("replays differ in Current or History")
	}
}

// reorder rewrites an entry with its envelope and command keys reversed.
func reorder(t *testing.T, data []byte) []byte {
	t.Helper()
	var env struct {
		At int64          `json:"at"`
		V  map[string]any `json:"v"`
	}
	if err := json.Unmarshal(data[1:], &env); err != nil {
		t.Fatal(err)
	}
	keys := sortedKeys(env.V, func(a, b string) int { return strings.Compare(b, a) })
	var sb strings.Builder
	sb.WriteString(`{"v":{`)
	for i, k := range keys {
		if i > 0 {
			sb.WriteByte(',')
		}
		kb, _ := json.Marshal(k)
		vb, _ := json.Marshal(env.V[k])
		sb.Write(kb)
		sb.WriteByte(':')
		sb.Write(vb)
	}
	sb.WriteString(`},"at":`)
	ab, _ := json.Marshal(env.At)
	sb.Write(ab)
	sb.WriteString("}")
	return append([]byte{data[0]}, sb.String()...)
}

func TestIgnoreUnknown(t *testing.T) {
	f := run(t, three, mixed)
	before := snapshotBytes(t, f)
	cur := f.Current()
	b, _ := Encode(0x80|0x11, t0.Add(time.Hour), map[string]int{"x": 1})
	if res := f.Apply(&raft.Log{Index: 100, Type: raft.LogCommand, Data: b}); res != nil {
		t.Fatalf("apply = %v", res)
	}
	if f.Current() != cur {
		t.Fatal("ignored entry changed the snapshot")
	}
	after := snapshotBytes(t, f)
	if bytes.Equal(before, after) {
		t.Fatal("index not advanced")
	}
	// Only the index moved: the log time did not (an hour would stale all).
	if !bytes.Equal(bytes.Replace(after, []byte(`"index":100`), fmt.Appendf(nil, `"index":%d`, len(mixed)), 1), before) {
		t.Fatalf("ignored entry changed state:\n%s\n%s", before, after)
	}
}

// TestCorruptSkipped: an entry that does not decode, or is stamped far
// ahead of the time the leader appended it, is skipped, counted, and
// changes nothing but the applied index; the next entry applies.
func TestCorruptSkipped(t *testing.T) {
	good, _ := Encode(CmdObserve, t0, Observe{Site: "s1", Key: kA1, Up: true})
	drain, _ := Encode(CmdDrain, t0, Drain{Region: "eu", Reason: "r", By: "b"})
	future, _ := Encode(CmdDrain, t0.Add(24*time.Hour), Drain{Region: "eu", Reason: "r", By: "b"})
	for _, tc := range []struct {
		name       string
		data       []byte
		appendedAt time.Time
	}{
		{"empty", nil, time.Time{}},
		{"unknown without ignore bit", append([]byte{0x11}, good[1:]...), time.Time{}},
		{"bad envelope", []byte{CmdObserve, '{'}, time.Time{}},
		{"bad observe", []byte(string(CmdObserve) + `{"at":1,"v":{"up":"yes"}}`), time.Time{}},
		{"bad drain", []byte(string(CmdDrain) + `{"at":1,"v":[]}`), time.Time{}},
		{"bad undrain", []byte(string(CmdUndrain) + `{"at":"x","v":{}}`), time.Time{}},
		{"bad release", append([]byte{CmdRelease}, `{"at":1,"v":{"digest":"x"}}`...), time.Time{}},
		{"stamped a day ahead of its append", future, t0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := NewFSM(three, nil)
			before := f.Current()
			if err, _ := f.Apply(&raft.Log{Index: 7, Type: raft.LogCommand, Data: tc.data, AppendedAt: tc.appendedAt}).(error); err == nil {
				t.Errorf("Apply returned no error")
			}
			if f.Skipped() != 1 && tc.name != "bad release" {
				t.Errorf("Skipped = %d, want 1", f.Skipped())
			}
			if f.Applied() != 7 || f.Current() != before {
				t.Errorf("applied %d, snapshot changed %v; want 7 and unchanged", f.Applied(), f.Current() != before)
			}
			f.Apply(&raft.Log{Index: 8, Type: raft.LogCommand, Data: drain, AppendedAt: t0})
			if _, ok := f.Current().RegionDrained("eu"); !ok || f.Applied() != 8 {
				t.Errorf("the entry after a skipped one was not applied")
			}
		})
	}
}

func TestInvalidCommand(t *testing.T) {
	f := NewFSM(three, nil)
	b, _ := Encode(CmdObserve, t0, Observe{Key: kA1})
	if _, ok := f.Apply(&raft.Log{Index: 1, Type: raft.LogCommand, Data: b}).(error); !ok {
		t.Fatal("observe without site accepted")
	}
	b, _ = Encode(CmdDrain, t0, Drain{Reason: "x"})
	if _, ok := f.Apply(&raft.Log{Index: 2, Type: raft.LogCommand, Data: b}).(error); !ok {
		t.Fatal("drain of nothing accepted")
	}
	b, _ = Encode(CmdUndrain, t0, Undrain{By: "x"})
	if _, ok := f.Apply(&raft.Log{Index: 3, Type: raft.LogCommand, Data: b}).(error); !ok {
		t.Fatal("undrain of nothing accepted")
	}
	if f.Current().Version != 0 || len(f.History()) != 0 {
		t.Fatal("invalid commands changed state")
	}
}

func TestHistoryBounded(t *testing.T) {
	var steps []step
	for i := range HistorySize + 10 {
		steps = append(steps, obs(i, "s1", kA1, i%2 == 0, ""))
	}
	f := run(t, Rules{Sites: []string{"s1"}}, steps)
	h := f.History()
	if len(h) != HistorySize || h[len(h)-1].Index != uint64(len(steps)) {
		t.Fatalf("history len %d last %+v", len(h), h[len(h)-1])
	}
}

func TestConcurrentReaders(t *testing.T) {
	f := NewFSM(three, nil)
	ls := logs(t, mixed)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for _, l := range ls {
			f.Apply(l)
		}
		if _, err := f.Snapshot(); err != nil {
			t.Error(err)
		}
	}()
	for {
		select {
		case <-done:
			if f.Current().Version != uint64(len(ls)) {
				t.Fatalf("version = %d", f.Current().Version)
			}
			return
		default:
			s := f.Current()
			_ = len(s.Down) + len(s.DrainedRegions)
			_ = f.History()
		}
	}
}

func TestView(t *testing.T) {
	f := run(t, three, append(mixed, step{CmdMeta, 21, Meta{ID: "s2"}}))
	v := f.View()
	if v.Index != uint64(len(mixed)+1) || !v.Now.Equal(t0.Add(21*time.Second)) || v.FreshFor.D() != 10*time.Second {
		t.Errorf("view header: index %d now %v fresh_for %v", v.Index, v.Now, v.FreshFor)
	}
	if !reflect.DeepEqual(v.Admins, map[string]string{"s1": "127.0.0.1:9053"}) {
		t.Errorf("admins %v: s2 forgotten by an empty Meta", v.Admins)
	}
	// kA1: s1 up (fresh, at 20s), s2 and s3 down at 0s (stale at 21s):
	// decided down at 0s (2 of 3), up again at 20s (1 of 1 fresh).
	var a1 *EndpointView
	for i := range v.Endpoints {
		if v.Endpoints[i].EndpointKey == kA1 {
			a1 = &v.Endpoints[i]
		}
	}
	if a1 == nil {
		t.Fatalf("no view of %v: %+v", kA1, v.Endpoints)
	}
	if !a1.Up || !a1.Since.Equal(t0.Add(20*time.Second)) || len(a1.Reports) != 3 {
		t.Errorf("kA1 view %+v, want up since 20s with 3 reports", a1)
	}
	for _, r := range a1.Reports {
		wantFresh := r.Site == "s1"
		if r.Fresh != wantFresh || r.Age.D() != t0.Add(21*time.Second).Sub(r.At) {
			t.Errorf("report %+v: fresh %v, want %v; age against the log time", r, r.Fresh, wantFresh)
		}
	}
	// Region eu of web went down at 0s? kA2 is down (1 of 1), kA1 down at
	// 0s: the region was down from 0s to 20s.
	var eu *RegionView
	for i := range v.Regions {
		if v.Regions[i].RegionKey == (RegionKey{"web", "eu"}) {
			eu = &v.Regions[i]
		}
	}
	if eu == nil || !eu.Up || !eu.Since.Equal(t0.Add(20*time.Second)) {
		t.Errorf("region web/eu view %+v, want up since 20s", eu)
	}
	if len(v.Drains) != 2 || v.Drains[0].Region != "us" || v.Drains[1].Endpoint != "a2" {
		t.Errorf("drains %+v", v.Drains)
	}
}

func loadStep(sec int, reporter string, inFlight int64, capacity int) step {
	return step{CmdLoad, sec, LoadReport{Region: "eu", Reporter: reporter, InFlight: inFlight, Capacity: capacity}}
}

// TestShedding: utilisation over the high water mark sheds the share that
// brings the region back to it (capped), holds between the marks, steps
// down under the low mark, and stops without fresh reports.
func TestShedding(t *testing.T) {
	rules := Rules{FreshFor: 10 * time.Second}
	var steps []step
	for _, tc := range []struct {
		s    step
		want float64 // shed share after the step
	}{
		{loadStep(0, "p1", 50, 100), 0},
		{loadStep(1, "p1", 95, 100), 0.158}, // 1 - 0.8/0.95
		{loadStep(2, "p1", 85, 100), 0.208}, // 1 - 0.8·(1-0.158)/0.85
		{loadStep(3, "p1", 70, 100), 0.208}, // between the marks: hold
		{loadStep(4, "p1", 81, 100), 0.218}, // just over: a little more
		{loadStep(5, "p1", 50, 100), 0.118}, // under the low mark: one step down
		{loadStep(6, "p2", 10, 100), 0.018}, // two reporters: 60/200 = 0.3
		{loadStep(7, "p1", 500, 100), 0.5},  // (500+10)/200: capped at MaxShed
		{loadStep(8, "p2", 0, 100), 0.5},    // still 2.5: capped
		{obs(30, "s1", kA1, true, ""), 0},   // 22s without a load report: stale, stop
		{loadStep(31, "p1", 60, 100), 0},    // p2 stale: 0.6, not over: none
		{loadStep(32, "p1", 200, 0), 0},     // no capacity: not counted
	} {
		steps = append(steps, tc.s)
		f := run(t, rules, steps)
		sh, _ := f.Current().RegionShed("eu")
		if sh.Fraction != tc.want {
			t.Fatalf("after %d steps (%+v): shed %v (%s), want %v", len(steps), tc.s.v, sh.Fraction, sh.Why, tc.want)
		}
	}
	f := run(t, rules, steps[:3])
	v := f.View()
	if len(v.Loads) != 1 || v.Loads[0].Region != "eu" || v.Loads[0].Utilisation != 0.85 || v.Loads[0].Shed != 0.208 {
		t.Errorf("view loads %+v", v.Loads)
	}
	h := f.History()
	if last := h[len(h)-1]; last.Region != "eu" || last.From != "shedding 15.8%" || last.To != "shedding 20.8%" ||
		last.Why != "load 85% of capacity, over the high water mark 80%" {
		t.Errorf("last decision %+v", last)
	}
	// Rules of the cluster: a lower high water mark sheds earlier.
	g := run(t, Rules{FreshFor: 10 * time.Second, Shed: ShedRules{HighWater: 0.5, LowWater: 0.4}}, steps[:1])
	if sh, ok := g.Current().RegionShed("eu"); ok {
		t.Errorf("at 0.5 with high water 0.5: shed %+v, want none (strictly over)", sh)
	}
	g = run(t, Rules{FreshFor: 10 * time.Second, Shed: ShedRules{HighWater: 0.4, LowWater: 0.3}}, steps[:1])
	if sh, _ := g.Current().RegionShed("eu"); sh.Fraction != 0.2 {
		t.Errorf("at 0.5 with high water 0.4: shed %v, want 0.2", sh.Fraction)
	}
}

// TestRelease: a release brings its rules (min_endpoints here); the same
// digest again changes nothing; versions count releases; a snapshot keeps
// the release and its rules.
func TestRelease(t *testing.T) {
	rel := func(minUp int, zone string) *release.Release {
		c := release.Content{
			Config: release.File{Name: "aya.yaml", Data: []byte("regions: []\n")},
			Zones:  []release.File{{Name: "z.zone", Data: []byte(zone)}},
			Rules:  release.Rules{FreshFor: 10 * time.Second},
		}
		if minUp > 0 {
			c.Rules.MinUp = []release.MinUp{{Pool: "web", Region: "eu", N: minUp}}
		}
		return release.New(c, "alice", "test")
	}
	steps := []step{
		{CmdRelease, 0, rel(0, "a")},
		obs(1, "s1", kA1, true, ""), obs(1, "s2", kA1, true, ""), obs(1, "s3", kA1, true, ""),
		obs(1, "s1", kA2, false, ""), obs(1, "s2", kA2, false, ""), obs(1, "s3", kA2, false, ""),
	}
	f := run(t, three, steps)
	if _, down := f.Current().EndpointDown(kA1); down {
		t.Fatalf("eu down with min 1 and one endpoint up")
	}
	if r := f.Release(); r == nil || r.Version != 1 || r.By != "alice" {
		t.Fatalf("release = %+v, want version 1 by alice", r)
	}
	apply := func(r *release.Release, idx uint64) {
		b, err := Encode(CmdRelease, t0.Add(2*time.Second), r)
		if err != nil {
			t.Fatal(err)
		}
		if err, _ := f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: b}).(error); err != nil {
			t.Fatal(err)
		}
	}
	apply(rel(2, "a"), 100)
	if why, down := f.Current().EndpointDown(kA1); !down || !strings.Contains(why, "min 2") {
		t.Fatalf("after min_endpoints 2: down %v %q, want the region down", down, why)
	}
	if r := f.Release(); r.Version != 2 || r.Index != 100 {
		t.Fatalf("release = version %d index %d, want 2 at 100", r.Version, r.Index)
	}
	apply(rel(2, "a"), 101) // the same digest
	if r := f.Release(); r.Version != 2 || r.Index != 100 {
		t.Errorf("the same release again made version %d at %d", r.Version, r.Index)
	}

	g := NewFSM(three, nil)
	if err := g.Restore(io.NopCloser(bytes.NewReader(snapshotBytes(t, f)))); err != nil {
		t.Fatal(err)
	}
	if r := g.Release(); r == nil || r.Digest != f.Release().Digest || r.Version != 2 {
		t.Fatalf("restored release = %+v", r)
	}
	if _, down := g.Current().EndpointDown(kA1); !down {
		t.Errorf("restored FSM lost the release's min_endpoints")
	}
}
