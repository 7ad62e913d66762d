package cluster

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aya-gslb/aya/release"
)

// persistedState applies a release and an endpoint down to a new FSM and
// writes its state to a new directory.
func persistedState(t *testing.T) (*FSM, *persister) {
	t.Helper()
	f := NewFSM(three, nil)
	if err := applyEntry(t, f, 1, CmdRelease, testRelease(testApex)); err != nil {
		t.Fatal(err)
	}
	for i, s := range []string{"s1", "s2", "s3"} {
		if err := applyEntry(t, f, uint64(2+i), CmdObserve, Observe{Site: s, Key: kA1, Up: false, Err: "refused"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := applyEntry(t, f, 5, CmdDrain, Drain{Region: "us", Reason: "maintenance", By: "bob"}); err != nil {
		t.Fatal(err)
	}
	p := &persister{dir: t.TempDir(), fsm: f, onError: func(err error) { t.Error(err) }}
	if err := p.write(); err != nil {
		t.Fatal(err)
	}
	return f, p
}

// TestPersister: what is written reads back as the FSM's state and
// release.
func TestPersister(t *testing.T) {
	f, p := persistedState(t)
	ls, err := readLocal(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	if ls.Index != 5 || ls.rel.Digest != f.Release().Digest || ls.rel.Version != 1 {
		t.Errorf("index %d, release %s version %d", ls.Index, ls.rel.Digest, ls.rel.Version)
	}
	if !reflect.DeepEqual(ls.snap, f.Current()) {
		t.Errorf("snapshot\n%+v, want\n%+v", ls.snap, f.Current())
	}
	// A new release is written on the next change.
	r2 := testRelease(testApex + "www A 192.0.2.80\n")
	if err := applyEntry(t, f, 6, CmdRelease, r2); err != nil {
		t.Fatal(err)
	}
	if err := p.write(); err != nil {
		t.Fatal(err)
	}
	if ls, err = readLocal(p.dir); err != nil || ls.rel.Digest != r2.Digest || ls.Index != 6 {
		t.Fatalf("after a new release: %+v %v", ls, err)
	}
}

// TestPersisterNotOlder: while the FSM is behind the restored state (Raft
// restored an older snapshot and replays the log), nothing is written
// over it.
func TestPersisterNotOlder(t *testing.T) {
	_, p := persistedState(t)
	before, err := os.ReadFile(filepath.Join(p.dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	g := NewFSM(three, nil)
	if err := applyEntry(t, g, 1, CmdRelease, testRelease(testApex)); err != nil {
		t.Fatal(err)
	}
	q := &persister{dir: p.dir, fsm: g, restored: 5}
	if err := q.write(); err != nil {
		t.Fatal(err)
	}
	if after, _ := os.ReadFile(filepath.Join(p.dir, stateFile)); string(after) != string(before) {
		t.Errorf("an older state was written over the restored one:\n%s", after)
	}
}

// TestPersisterInterrupted: a node stopped (kill -9) between writing a
// new release and the state that names it restores the state it wrote
// last, with its release; temporary files of interrupted writes go.
func TestPersisterInterrupted(t *testing.T) {
	f, p := persistedState(t)
	old, err := os.ReadFile(filepath.Join(p.dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	r1 := f.Release()
	if err := applyEntry(t, f, 6, CmdRelease, testRelease(testApex+"www A 192.0.2.80\n")); err != nil {
		t.Fatal(err)
	}
	if err := p.write(); err != nil {
		t.Fatal(err)
	}
	// As if stopped before state.json was renamed into place.
	if err := os.WriteFile(filepath.Join(p.dir, stateFile), old, 0o644); err != nil {
		t.Fatal(err)
	}
	temps := []string{filepath.Join(p.dir, "."+stateFile+".123"), filepath.Join(p.dir, "."+releaseFile+".456")}
	for _, tmp := range temps {
		if err := os.WriteFile(tmp, []byte("{half"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ls, err := readLocal(p.dir)
	if err != nil {
		t.Fatalf("the last state written does not read: %v", err)
	}
	if ls.Index != 5 || ls.rel.Digest != r1.Digest {
		t.Errorf("restored index %d release %s, want 5 and %s", ls.Index, ls.rel.Digest, r1.Digest)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	p.run(ctx) // one write, then it stops
	for _, tmp := range temps {
		if _, err := os.Stat(tmp); err == nil {
			t.Errorf("%s left", tmp)
		}
	}
	if ls, err := readLocal(p.dir); err != nil || ls.Index != 6 {
		t.Errorf("after the next write: %+v %v", ls, err)
	}
}

// TestReadLocalErrors: a state that does not read is an error (the node
// then starts from what Raft restores), never a state made up.
func TestReadLocalErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
		want   string
	}{
		{"corrupt state", func(t *testing.T, dir string) { write(t, dir, stateFile, `{"format":1,"index":`) }, "state.json: unexpected end of JSON input"},
		{"unknown format", func(t *testing.T, dir string) { write(t, dir, stateFile, `{"format":2}`) }, "state.json: unknown format 2"},
		{"no release", func(t *testing.T, dir string) { remove(t, dir, releaseFile) }, "release.json: no such file"},
		{"corrupt release", func(t *testing.T, dir string) { write(t, dir, releaseFile, `{"config":`) }, "release.json: unexpected end"},
		{"another release", func(t *testing.T, dir string) {
			write(t, dir, releaseFile, string(marshal(t, testRelease("other"))))
		}, "release.json holds release " + testRelease("other").Digest},
		{"content changed", func(t *testing.T, dir string) {
			r := testRelease(testApex)
			r.Zones[0].Data = []byte("changed")
			write(t, dir, releaseFile, string(marshal(t, r)))
		}, "release.json: release: digest"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, p := persistedState(t)
			tc.change(t, p.dir)
			ls, err := readLocal(p.dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("state %+v, err %v, want %q", ls, err, tc.want)
			}
		})
	}
	if ls, err := readLocal(t.TempDir()); ls != nil || err != nil {
		t.Errorf("an empty directory: %+v %v", ls, err)
	}
}

func write(t *testing.T, dir, name, data string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func remove(t *testing.T, dir, name string) {
	t.Helper()
	if err := os.Remove(filepath.Join(dir, name)); err != nil {
		t.Fatal(err)
	}
}

// TestNodeRestored: a node answers from the restored state until its FSM
// has applied as far, then from the FSM alone.
func TestNodeRestored(t *testing.T) {
	f, p := persistedState(t)
	ls, err := readLocal(p.dir)
	if err != nil {
		t.Fatal(err)
	}
	g := NewFSM(three, nil)
	n := &Node{fsm: g}
	if n.HasState() || n.Release() != nil {
		t.Fatal("state before anything")
	}
	n.restored.Store(ls)
	if n.Current() != ls.snap || n.Release() != ls.rel || n.Restored() != 5 || !n.HasState() {
		t.Fatalf("restored: current %p release %v restored %d", n.Current(), n.Release(), n.Restored())
	}
	// Raft replays the log: behind the restored index, the restored state
	// is served, not the partial one.
	for i := uint64(1); i < 5; i++ {
		var v any = Observe{Site: "s1", Key: kB1, Up: false}
		cmd := CmdObserve
		if i == 1 {
			cmd, v = CmdRelease, testRelease(testApex)
		}
		if err := applyEntry(t, g, i, cmd, v); err != nil {
			t.Fatal(err)
		}
		if n.Current() != ls.snap || n.Release() != ls.rel {
			t.Fatalf("at %d: not the restored state", i)
		}
	}
	if err := applyEntry(t, g, 5, CmdDrain, Drain{Region: "us", Reason: "maintenance", By: "bob"}); err != nil {
		t.Fatal(err)
	}
	if n.Current() != g.Current() || n.Release() != g.Release() || n.Restored() != 0 {
		t.Errorf("caught up: still the restored state")
	}
	if n.restored.Load() != nil {
		t.Error("the restored state is kept")
	}
	if f.Applied() != g.Applied() {
		t.Errorf("applied %d, %d", f.Applied(), g.Applied())
	}
}

// TestNodeRestartBadState: a node whose state files do not read starts
// from what Raft restores, and writes its state afresh.
func TestNodeRestartBadState(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(t *testing.T, dir string)
	}{
		{"corrupt state", func(t *testing.T, dir string) { write(t, dir, stateFile, "{") }},
		{"state without release", func(t *testing.T, dir string) { remove(t, dir, releaseFile) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, "s1", true)
			n := startNode(t, cfg)
			waitLeader(t, n)
			if _, err := n.ApplyRelease(t.Context(), testRelease(testApex)); err != nil {
				t.Fatal(err)
			}
			proposeDown(t, n, kA1, "refused")
			eventually(t, 5*time.Second, "state written", func() bool {
				ls, err := readLocal(cfg.DataDir)
				return err == nil && ls != nil && ls.Index == n.fsm.Applied()
			})
			cfg.Bind = n.Addr()
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			tc.change(t, cfg.DataDir)
			n = startNode(t, cfg)
			if n.Restored() != 0 {
				t.Errorf("restored %d from a bad state", n.Restored())
			}
			waitLeader(t, n)
			waitDown(t, kA1, "refused", n)
			if r := n.Release(); r == nil || r.Version != 1 {
				t.Fatalf("release %+v", r)
			}
			eventually(t, 5*time.Second, "state written afresh", func() bool {
				ls, err := readLocal(cfg.DataDir)
				return err == nil && ls != nil && ls.rel != nil
			})
		})
	}
}

// TestPersisterKill kills (SIGKILL) a process that writes a new release
// and state in a loop, at varying moments: the directory always holds a
// state that reads, with its release. AYA_PERSIST_DIR runs the writer.
func TestPersisterKill(t *testing.T) {
	if dir := os.Getenv("AYA_PERSIST_DIR"); dir != "" {
		persistLoop(t, dir)
		return
	}
	for i := range 12 {
		dir := t.TempDir()
		cmd := exec.Command(os.Args[0], "-test.run=^TestPersisterKill$")
		cmd.Env = append(os.Environ(), "AYA_PERSIST_DIR="+dir)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		eventually(t, 20*time.Second, "a first state", func() bool {
			_, err := os.Stat(filepath.Join(dir, "started"))
			return err == nil
		})
		time.Sleep(time.Duration(i*7) * time.Millisecond)
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		ls, err := readLocal(dir)
		if err != nil || ls == nil || ls.rel == nil {
			t.Fatalf("killed after %d ms: %+v %v", i*7, ls, err)
		}
	}
}

// persistLoop writes a new release and state until it is killed.
func persistLoop(t *testing.T, dir string) {
	f := NewFSM(three, nil)
	p := &persister{dir: dir, fsm: f}
	for i := uint64(1); ; i++ {
		if err := applyEntry(t, f, i, CmdRelease, testRelease(fmt.Sprintf("%s; %d\n", testApex, i))); err != nil {
			t.Fatal(err)
		}
		if err := p.write(); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			write(t, dir, "started", "")
		}
	}
}

// TestEncodeRelease: the release file is json.Marshal's encoding of the
// release, byte for byte, however its files are made.
func TestEncodeRelease(t *testing.T) {
	many := testRelease("one")
	many.Zones = []release.File{{Name: "a<&>.zone", Data: []byte("x")}, {Name: "b.zone"}, {Name: "c\u00e9.zone", Data: []byte{}},
		{Name: "d.zone", Data: bytes.Repeat([]byte("0123456789\n\"\\"), 100_000)}}
	many.Version, many.Index, many.At = 3, 42, time.Unix(1700000000, 5).UTC()
	none := testRelease("")
	none.Zones = nil
	for _, tc := range []struct {
		name string
		rel  *release.Release
	}{{"one zone", testRelease(testApex)}, {"many files", many}, {"no zones", none}} {
		t.Run(tc.name, func(t *testing.T) {
			want, err := json.Marshal(tc.rel)
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			if err := encodeRelease(&got, tc.rel); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Bytes(), want) {
				t.Errorf("encodeRelease differs from json.Marshal:\n%.300s\nwant\n%.300s", got.Bytes(), want)
			}
			// The log entry (Encode) too.
			at := time.Unix(1700000000, 7)
			entry, err := Encode(CmdRelease, at, tc.rel)
			if err != nil {
				t.Fatal(err)
			}
			if wantEntry, _ := encodeJSON(CmdRelease, at, tc.rel); !bytes.Equal(entry, wantEntry) {
				t.Errorf("Encode differs from json.Marshal's entry:\n%.300s\nwant\n%.300s", entry, wantEntry)
			}
		})
	}
}

// BenchmarkEncodeRelease: the log entry of the release of a zone of a
// million records (bench/zones/run.sh's, 24 MB), by Encode and through
// json.Marshal as it was:
//
//	go test -run='^$' -bench=BenchmarkEncodeRelease -benchmem ./cluster/
func BenchmarkEncodeRelease(b *testing.B) {
	zone := make([]byte, 0, 25<<20)
	for i := range 1_000_000 {
		zone = fmt.Appendf(zone, "h%d IN A 10.%d.%d.%d\n", i, i>>16&0xff, i>>8&0xff, i&0xff)
	}
	rel := testRelease(testApex)
	rel.Zones = append(rel.Zones, release.File{Name: "big.test.zone", Data: zone})
	at := time.Unix(1700000000, 0)
	for _, c := range []struct {
		name string
		enc  func(byte, time.Time, any) ([]byte, error)
	}{{"Encode", Encode}, {"json.Marshal", encodeJSON}} {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(zone)))
			for b.Loop() {
				if _, err := c.enc(CmdRelease, at, rel); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
