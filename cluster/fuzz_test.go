package cluster

import (
	"bytes"
	"errors"
	"io"
	"reflect"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aya-gslb/aya/state"
)

// fuzzLogs turns fuzz bytes into log entries: mostly well-formed commands
// over a small space of sites and keys, sometimes raw (possibly corrupt)
// entries.
func fuzzLogs(t *testing.T, data []byte) []*raft.Log {
	t.Helper()
	sites := []string{"s1", "s2", "s3", "s4"}
	keys := []state.EndpointKey{kA1, kA2, kB1, {Pool: "api", Region: "eu", Endpoint: "c1"}}
	regions := []string{"eu", "us", ""}
	var out []*raft.Log
	at := t0
	for i := 0; len(data) >= 4; i++ {
		op, a, b, c := data[0], data[1], data[2], data[3]
		data = data[4:]
		at = at.Add(time.Duration(c%16) * time.Second)
		if c&0x80 != 0 {
			at = at.Add(-3 * time.Second) // leader change: an older stamp
		}
		var (
			buf []byte
			err error
		)
		k := keys[int(b)%len(keys)]
		switch op % 8 {
		case 0, 1, 2, 3:
			buf, err = Encode(CmdObserve, at, Observe{Site: sites[int(a)%len(sites)], Key: k, Up: b&0x10 != 0, Err: string(rune('a' + c%4))})
		case 4:
			d := Drain{Region: regions[int(a)%len(regions)], Reason: "r", By: sites[int(c)%len(sites)]}
			if b&0x10 != 0 {
				d.Endpoint = &k
			}
			buf, err = Encode(CmdDrain, at, d)
		case 5:
			u := Undrain{Region: regions[int(a)%len(regions)], By: "u"}
			if b&0x10 != 0 {
				u.Endpoint = &k
			}
			buf, err = Encode(CmdUndrain, at, u)
		case 6:
			buf, err = Encode(a|IgnoreUnknown, at, map[string]byte{"b": b})
		case 7:
			n := min(int(a)%32, len(data))
			buf, data = append([]byte(nil), data[:n]...), data[n:]
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: buf})
	}
	return out
}

// applyRecover applies l and returns the corrupt-entry panic, if any; any
// other panic fails the test.
func applyRecover(t *testing.T, f *FSM, l *raft.Log) (res any, corrupt bool) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			var ce *CorruptEntryError
			if err, ok := r.(error); !ok || !errors.As(err, &ce) {
				t.Fatalf("apply %d panicked: %v", l.Index, r)
			}
			corrupt = true
		}
	}()
	return f.Apply(l), false
}

func FuzzApply(f *testing.F) {
	f.Add([]byte{0, 0, 0x10, 1, 1, 1, 0x10, 1, 2, 2, 0, 1, 4, 0, 0, 0, 5, 0, 0, 20})
	f.Add([]byte{0, 0, 0, 0, 1, 1, 0, 0, 0, 2, 0x10, 0x8f, 7, 3, 0, 0, 1, '{', 'x'})
	f.Add([]byte{6, 0x11, 0, 0, 7, 0, 0, 0, 4, 1, 0x10, 0, 5, 1, 0x10, 3})
	f.Fuzz(func(t *testing.T, data []byte) {
		ls := fuzzLogs(t, data)
		a, b := NewFSM(three, nil), NewFSM(three, nil)
		for _, l := range ls {
			ra, ca := applyRecover(t, a, l)
			rb, cb := applyRecover(t, b, l)
			if ca != cb || (ra == nil) != (rb == nil) {
				t.Fatalf("entry %d: FSMs disagree: %v/%v %v/%v", l.Index, ra, rb, ca, cb)
			}
		}
		sa, sb := fuzzSnap(t, a), fuzzSnap(t, b)
		if !bytes.Equal(sa, sb) || !reflect.DeepEqual(a.Current(), b.Current()) || !reflect.DeepEqual(a.History(), b.History()) {
			t.Fatal("FSMs fed the same log disagree")
		}
		c := NewFSM(three, nil)
		if err := c.Restore(io.NopCloser(bytes.NewReader(sa))); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a.Current(), c.Current()) || !reflect.DeepEqual(a.History(), c.History()) {
			t.Fatal("restored FSM differs")
		}
	})
}

func fuzzSnap(t *testing.T, f *FSM) []byte {
	t.Helper()
	snap, err := f.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	var s sink
	if err := snap.Persist(&s); err != nil {
		t.Fatal(err)
	}
	return s.Bytes()
}
