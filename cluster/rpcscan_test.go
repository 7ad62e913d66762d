package cluster

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/raft"
)

// raft's request types on the wire (net_transport.go).
const (
	wireRequestVote    = 1
	wireTimeoutNow     = 3
	wireRequestPreVote = 4
)

// encodeRPC frames req as raft's NetworkTransport sends it: the type byte,
// then msgpack with the handle raft encodes with.
func encodeRPC(tb testing.TB, typ byte, req any) []byte {
	tb.Helper()
	var buf bytes.Buffer
	buf.WriteByte(typ)
	enc := codec.NewEncoder(&buf, &codec.MsgpackHandle{BasicHandle: codec.BasicHandle{TimeNotBuiltin: true}})
	if err := enc.Encode(req); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func testHeader() raft.RPCHeader {
	return raft.RPCHeader{ProtocolVersion: raft.ProtocolVersionMax, ID: []byte("s1"), Addr: []byte("127.0.0.1:7000")}
}

// appendEntries is an AppendEntries of n entries of size bytes each.
func appendEntries(n, size int) *raft.AppendEntriesRequest {
	req := &raft.AppendEntriesRequest{RPCHeader: testHeader(), Term: 7, PrevLogEntry: 41, PrevLogTerm: 6, LeaderCommitIndex: 41}
	for i := range n {
		req.Entries = append(req.Entries, &raft.Log{
			Index: uint64(42 + i), Term: 7, Type: raft.LogCommand,
			Data: bytes.Repeat([]byte{'x'}, size), Extensions: []byte("ext"), AppendedAt: time.Now(),
		})
	}
	return req
}

// scanAll feeds b to s in chunks of chunk bytes and returns the offsets at
// which requests ended.
func scanAll(s *rpcScanner, b []byte, chunk int) ([]int, error) {
	var ends []int
	off := 0
	for off < len(b) {
		end := min(off+chunk, len(b))
		for p := b[off:end]; len(p) > 0; {
			k, done, err := s.feed(p)
			off += k
			p = p[k:]
			if err != nil {
				return ends, err
			}
			if done {
				ends = append(ends, off)
			}
		}
	}
	return ends, nil
}

// TestRPCScannerRaftRequests feeds the requests raft sends, encoded by its
// codec, in chunks of every size from 1 byte to all at once: the scanner
// finds each end, including an InstallSnapshot's data.
func TestRPCScannerRaftRequests(t *testing.T) {
	snapData := bytes.Repeat([]byte{0xc1}, 3000) // not msgpack: skipped as data
	reqs := []struct {
		name string
		b    []byte
	}{
		{"heartbeat", encodeRPC(t, rpcAppendEntries, &raft.AppendEntriesRequest{RPCHeader: testHeader(), Term: 7, Leader: []byte("127.0.0.1:7000")})},
		{"append entries, a full batch", encodeRPC(t, rpcAppendEntries, appendEntries(64, 300))},
		{"append entries, one large", encodeRPC(t, rpcAppendEntries, appendEntries(1, 70_000))},
		{"request vote", encodeRPC(t, wireRequestVote, &raft.RequestVoteRequest{RPCHeader: testHeader(), Term: 8, LastLogIndex: 41, LastLogTerm: 7})},
		{"pre-vote", encodeRPC(t, wireRequestPreVote, &raft.RequestPreVoteRequest{RPCHeader: testHeader(), Term: 8, LastLogIndex: 41})},
		{"timeout now", encodeRPC(t, wireTimeoutNow, &raft.TimeoutNowRequest{RPCHeader: testHeader()})},
		{"install snapshot", append(encodeRPC(t, rpcInstallSnapshot, &raft.InstallSnapshotRequest{
			RPCHeader: testHeader(), SnapshotVersion: 1, Term: 8, Leader: []byte("l"), LastLogIndex: 41, LastLogTerm: 7,
			Peers: []byte("p"), Configuration: []byte("c"), ConfigurationIndex: 3, Size: int64(len(snapData)),
		}), snapData...)},
		{"empty snapshot", encodeRPC(t, rpcInstallSnapshot, &raft.InstallSnapshotRequest{RPCHeader: testHeader(), Term: 8})},
	}
	var all []byte
	var want []int
	for _, r := range reqs {
		all = append(all, r.b...)
		want = append(want, len(all))
	}
	for _, chunk := range []int{1, 2, 3, 7, 100, 4096, len(all)} {
		s := newRPCScanner(defaultTransportLimits().RPC)
		got, err := scanAll(s, all, chunk)
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if !slicesEqual(got, want) {
			t.Fatalf("chunk %d: ends %v, want %v", chunk, got, want)
		}
	}
	// Each alone: its values are well under the limit.
	for _, r := range reqs {
		s := newRPCScanner(defaultTransportLimits().RPC)
		if _, err := scanAll(s, r.b, len(r.b)); err != nil {
			t.Fatalf("%s: %v", r.name, err)
		}
		if s.values > requestValues/3 {
			t.Errorf("%s: %d values, too close to the limit %d", r.name, s.values, requestValues)
		}
		t.Logf("%s: %d bytes, %d values", r.name, len(r.b), s.values)
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestRPCScannerRefuses pins what the scanner refuses, and that it refuses
// it from the header, before the bytes a declared length announces.
func TestRPCScannerRefuses(t *testing.T) {
	lim := rpcLimits{MaxBytes: 1 << 20, MaxValues: 100, MaxSnapshot: 1 << 16}
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	nested := func(depth int) []byte {
		b := []byte{rpcAppendEntries}
		for range depth {
			b = append(b, 0x91) // fixarray of 1
		}
		return append(b, 0x01)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		err  error
	}{
		{"unknown type", []byte{5, 0x80}, errRPCType},
		{"never-used byte", []byte{rpcAppendEntries, 0xc1}, errRPCMalformed},
		{"bin32 of 1 GiB", append([]byte{rpcAppendEntries, 0x81, 0xa4, 'D', 'a', 't', 'a', 0xc6}, be32(1<<30)...), errRPCTooLarge},
		{"str32 over the limit", append([]byte{rpcAppendEntries, 0xdb}, be32(1<<20)...), errRPCTooLarge},
		{"array32 of a million", append([]byte{rpcAppendEntries, 0xdd}, be32(1<<20)...), errRPCValues},
		{"map32 of 60 (120 values)", append([]byte{rpcAppendEntries, 0xdf}, be32(60)...), errRPCValues},
		{"many small values", append([]byte{rpcAppendEntries, 0xdc, 0, 50}, bytes.Repeat([]byte{0x92, 1, 1}, 50)...), errRPCValues},
		{"nested deeper than the limit", nested(scanDepth + 1), errRPCDepth},
		{"snapshot over the limit", encodeRPC(t, rpcInstallSnapshot, &raft.InstallSnapshotRequest{Term: 1, Size: 1<<16 + 1}), errRPCSnapshot},
		{"negative snapshot size", encodeRPC(t, rpcInstallSnapshot, &raft.InstallSnapshotRequest{Term: 1, Size: -1}), errRPCMalformed},
		{"bytes over the limit", bytes.Join([][]byte{{rpcAppendEntries, 0x93}, {0xc6}, be32(400 << 10), make([]byte, 400<<10), {0xc6}, be32(400 << 10), make([]byte, 400<<10), {0xc6}, be32(400 << 10)}, nil), errRPCTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newRPCScanner(lim)
			_, err := scanAll(s, tc.b, 1)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
		})
	}
	// At the limits: accepted.
	s := newRPCScanner(lim)
	if _, err := scanAll(s, nested(scanDepth), 1); err != nil {
		t.Fatalf("depth %d: %v", scanDepth, err)
	}
	s = newRPCScanner(lim)
	if _, err := scanAll(s, encodeRPC(t, rpcInstallSnapshot, &raft.InstallSnapshotRequest{Term: 1, Size: 1 << 16}), 3); err != nil || s.phase != phaseSnapshot || s.snapLeft != 1<<16 {
		t.Fatalf("snapshot at the limit: err %v, phase %d, left %d", err, s.phase, s.snapLeft)
	}
}

// FuzzRPCScanner checks the scanner on any bytes: it never panics, its
// verdict does not depend on how the bytes are split, it never counts a
// request past its limits, and where it finds the end of a msgpack value
// raft's codec, decoding the same bytes, ends at the same place.
func FuzzRPCScanner(f *testing.F) {
	f.Add(encodeRPC(f, rpcAppendEntries, appendEntries(3, 10)), uint8(5))
	f.Add(encodeRPC(f, wireRequestVote, &raft.RequestVoteRequest{RPCHeader: testHeader(), Term: 8}), uint8(1))
	f.Add(append(encodeRPC(f, rpcInstallSnapshot, &raft.InstallSnapshotRequest{Term: 1, Size: 4}), 1, 2, 3, 4, 0, 0x80), uint8(2))
	f.Add([]byte{0, 0xc7, 3, 1, 'a', 'b', 'c', 0, 0xd8, 1}, uint8(3))
	f.Add([]byte(strings.Repeat("\x00\x91", 20)), uint8(7))
	lim := rpcLimits{MaxBytes: 4096, MaxValues: 256, MaxSnapshot: 4096}
	h := &codec.MsgpackHandle{}
	f.Fuzz(func(t *testing.T, b []byte, chunk uint8) {
		whole := newRPCScanner(lim)
		ends1, err1 := scanAll(whole, b, max(len(b), 1))
		split := newRPCScanner(lim)
		ends2, err2 := scanAll(split, b, int(chunk%16)+1)
		if !slicesEqual(ends1, ends2) || (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() {
			t.Fatalf("whole: %v %v; in chunks of %d: %v %v", ends1, err1, chunk%16+1, ends2, err2)
		}
		if whole.bytes > lim.MaxBytes || whole.values > lim.MaxValues || whole.depth > scanDepth {
			t.Fatalf("past the limits: %d bytes, %d values, depth %d", whole.bytes, whole.values, whole.depth)
		}
		// The first request, if it is not a snapshot: the codec agrees on
		// where its value ends.
		if len(ends1) > 0 && b[0] != rpcInstallSnapshot {
			var v any
			dec := codec.NewDecoderBytes(b[1:ends1[0]], h)
			if err := dec.Decode(&v); err == nil && dec.NumBytesRead() != ends1[0]-1 {
				t.Fatalf("codec read %d bytes of the value, the scanner %d", dec.NumBytesRead(), ends1[0]-1)
			}
		}
	})
}
