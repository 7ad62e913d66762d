package cluster

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/aya-gslb/aya/internal/atomicfile"
	"github.com/aya-gslb/aya/release"
	"github.com/aya-gslb/aya/state"
)

// The files of a node's last applied state in its data directory: what it
// answers from after a restart until it has caught up with the cluster.
const (
	stateFile   = "state.json"
	releaseFile = "release.json"
	// prevFile is the release before releaseFile's, which stateFile still
	// names if the node stopped between writing the two.
	prevFile    = "release.prev.json"
	localFormat = 1
)

// localState is what a node answered from: the snapshot the DNS path read
// and the release, at a log index.
type localState struct {
	Format  int    `json:"format"`
	Index   uint64 `json:"index"`
	Version uint64 `json:"version"`
	// Digest names the release in releaseFile ("" when there was none).
	Digest           string                `json:"digest,omitempty"`
	Down             []persistedDrain      `json:"down"`
	DrainedRegions   map[string]string     `json:"drained_regions"`
	DrainedEndpoints []persistedDrain      `json:"drained_endpoints"`
	Shed             map[string]state.Shed `json:"shed,omitempty"`
	// Admins are the members' admin API addresses, to ask after a restart
	// whether a leader is up (Node.LeaderElsewhere).
	Admins map[string]string `json:"admins,omitempty"`

	snap *state.Snapshot
	rel  *release.Release
	// written is the digest of the release in releaseFile when it is
	// rel's ("" when rel was read from prevFile).
	written string
}

func sortedWhy(m map[state.EndpointKey]string) []persistedDrain {
	out := make([]persistedDrain, 0, len(m))
	for _, k := range sortedKeys(m, cmpKey) {
		out = append(out, persistedDrain{k, m[k]})
	}
	return out
}

// persister writes the FSM's published state to the data directory whenever
// it changes, so that a restart answers from it (see Node.Current). It
// writes nothing older than what was restored.
type persister struct {
	dir      string
	fsm      *FSM
	restored uint64 // index of the state restored at start
	lastRel  string // digest of the release last written
	onError  func(error)
}

func (p *persister) run(ctx context.Context) {
	removeTemps(p.dir)
	for {
		ch := p.fsm.Changed()
		if err := p.write(); err != nil {
			p.onError(err)
		}
		select {
		case <-ctx.Done():
			return
		case <-ch:
		}
	}
}

// write saves the current state, unless it is older than the restored one.
func (p *persister) write() error {
	idx := p.fsm.Applied()
	if idx == 0 || idx < p.restored {
		return nil
	}
	snap := p.fsm.Current()
	rel := p.fsm.Release()
	ls := localState{Format: localFormat, Index: idx, Version: snap.Version,
		Down: sortedWhy(snap.Down), DrainedRegions: snap.DrainedRegions, DrainedEndpoints: sortedWhy(snap.DrainedEndpoints), Shed: snap.Shed,
		Admins: p.fsm.Admins()}
	if rel != nil {
		ls.Digest = rel.Digest
		if rel.Digest != p.lastRel {
			// The release stateFile names now stays until stateFile
			// names the new one: a stop between the two writes leaves a
			// state that reads.
			if err := os.Rename(filepath.Join(p.dir, releaseFile), filepath.Join(p.dir, prevFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
			if err := atomicfile.Write(filepath.Join(p.dir, releaseFile), 0o600, func(w io.Writer) error { return encodeRelease(w, rel) }); err != nil {
				return err
			}
			p.lastRel = rel.Digest
		}
	}
	b, err := json.Marshal(ls)
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(filepath.Join(p.dir, stateFile), 0o600, b)
}

// encodeRelease writes json.Marshal(rel) to w, byte for byte, with the
// zone files streamed (base64, as encoding/json writes bytes) instead of
// built in memory: a release of a big zone is tens of megabytes of JSON,
// which the heap would hold, with the encoder's buffers, beside the zones.
func encodeRelease(w io.Writer, rel *release.Release) error {
	head := *rel
	head.Zones = []release.File{}
	hb, err := json.Marshal(&head)
	if err != nil {
		return err
	}
	// The field itself: "zones":[] inside a JSON string would have its
	// quotes escaped, and the config before it holds only strings.
	const empty = `"zones":[]`
	i := bytes.Index(hb, []byte(empty))
	if i < 0 {
		return errors.New("encode release: no zones field")
	}
	// A bufio.Writer keeps the first error and writes nothing after it;
	// Flush returns it.
	bw := bufio.NewWriterSize(w, 64<<10)
	put := func(b []byte) { _, _ = bw.Write(b) }
	put(hb[:i])
	if rel.Zones == nil {
		put([]byte(`"zones":null`))
		put(hb[i+len(empty):])
		return bw.Flush()
	}
	put([]byte(`"zones":[`))
	for k, f := range rel.Zones {
		name, err := json.Marshal(f.Name)
		if err != nil {
			return err
		}
		if k > 0 {
			put([]byte{','})
		}
		put([]byte(`{"name":`))
		put(name)
		put([]byte(`,"data":`))
		if f.Data == nil {
			put([]byte("null"))
		} else {
			put([]byte{'"'})
			enc := base64.NewEncoder(base64.StdEncoding, bw)
			_, _ = enc.Write(f.Data)
			_ = enc.Close()
			put([]byte{'"'})
		}
		put([]byte{'}'})
	}
	put([]byte{']'})
	put(hb[i+len(empty):])
	return bw.Flush()
}

// removeTemps removes the temporary files of writes a stop interrupted
// (kill -9 between atomicfile.Write's create and rename): each may be as large
// as a release.
func removeTemps(dir string) {
	for _, f := range []string{stateFile, releaseFile} {
		names, _ := filepath.Glob(filepath.Join(dir, atomicfile.TempPattern(f)))
		for _, n := range names {
			_ = os.Remove(n)
		}
	}
}

// readLocal reads the state a node last answered from; nil when there is
// none. A state that does not read is an error the caller reports: the node
// then starts from what Raft restores.
func readLocal(dir string) (*localState, error) {
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ls localState
	if err := json.Unmarshal(b, &ls); err != nil {
		return nil, fmt.Errorf("%s: %w", stateFile, err)
	}
	if ls.Format != localFormat {
		return nil, fmt.Errorf("%s: unknown format %d", stateFile, ls.Format)
	}
	if ls.Digest != "" {
		rel, err := readRelease(dir, releaseFile, ls.Digest)
		if err == nil {
			ls.written = rel.Digest
		} else {
			// Stopped between writing a new release and the state that
			// names it: the state names the previous one.
			var perr error
			if rel, perr = readRelease(dir, prevFile, ls.Digest); perr != nil {
				return nil, err
			}
		}
		ls.rel = rel
	}
	s := &state.Snapshot{Version: ls.Version, Down: map[state.EndpointKey]string{},
		DrainedRegions: map[string]string{}, DrainedEndpoints: map[state.EndpointKey]string{}, Shed: ls.Shed}
	for _, kw := range ls.Down {
		s.Down[kw.Key] = kw.Why
	}
	for r, why := range ls.DrainedRegions {
		s.DrainedRegions[r] = why
	}
	for _, kw := range ls.DrainedEndpoints {
		s.DrainedEndpoints[kw.Key] = kw.Why
	}
	ls.snap = s
	return &ls, nil
}

// readRelease reads the release in file of dir, which must be the one of
// digest.
func readRelease(dir, file, digest string) (*release.Release, error) {
	rb, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	var rel release.Release
	if err := json.Unmarshal(rb, &rel); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if err := rel.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if rel.Digest != digest {
		return nil, fmt.Errorf("%s holds release %s, %s names %s", file, rel.Digest, stateFile, digest)
	}
	return &rel, nil
}

// Current implements state.Source: the FSM's snapshot, or the state this
// node restored from its disk while the FSM is behind it (after a restart,
// Raft restores its last snapshot at once but replays the log after it
// only once it knows the commit index, which needs a leader). Lock-free.
func (n *Node) Current() *state.Snapshot {
	if r := n.restored.Load(); r != nil {
		if n.fsm.Applied() < r.Index {
			return r.snap
		}
		n.restored.CompareAndSwap(r, nil)
	}
	return n.fsm.Current()
}

// Release returns the release this node answers from: the cluster's, or
// the one restored from disk while the FSM is behind it; nil when it has
// none.
func (n *Node) Release() *release.Release {
	if r := n.restored.Load(); r != nil && n.fsm.Applied() < r.Index {
		return r.rel
	}
	return n.fsm.Release()
}

// Changed returns a channel closed at the next change of Current or
// Release.
func (n *Node) Changed() <-chan struct{} { return n.fsm.Changed() }

// HasState reports whether the node has a state to answer from: a release
// from the cluster, or one restored from its disk.
func (n *Node) HasState() bool { return n.Release() != nil }

// Restored reports the log index of the state restored from disk while the
// node still answers from it; 0 once the FSM has caught up or when nothing
// was restored.
func (n *Node) Restored() uint64 {
	if r := n.restored.Load(); r != nil && n.fsm.Applied() < r.Index {
		return r.Index
	}
	return 0
}

// CaughtUp reports whether the node knows a leader and has applied every
// entry the leader has told it is committed.
func (n *Node) CaughtUp() bool {
	if lid, _ := n.Leader(); lid == "" {
		return false
	}
	commit, err := strconv.ParseUint(n.raft.Stats()["commit_index"], 10, 64)
	if err != nil || commit == 0 {
		return false
	}
	return n.raft.AppliedIndex() >= commit && n.fsm.Applied() >= commit
}

// WaitCaughtUp waits until CaughtUp, ctx ends or max passes, and reports
// whether it caught up. A restarted site calls it before it answers, so
// that with a leader reachable it never answers from an older state than
// the cluster's.
func (n *Node) WaitCaughtUp(ctx context.Context, max time.Duration) bool {
	deadline := time.Now().Add(max)
	t := time.NewTicker(20 * time.Millisecond)
	defer t.Stop()
	for !n.CaughtUp() {
		if time.Now().After(deadline) {
			return false
		}
		if n.IsLeader() {
			// The leader's own entries that the FSM never sees (the no-op
			// of its election, configuration changes) hold fsm.Applied
			// under the commit index until the next command, which on a
			// node alone may be seconds away; a barrier returns once the
			// FSM has applied everything before it.
			if n.raft.Barrier(time.Until(deadline)).Error() == nil {
				return true
			}
			continue
		}
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// LeaderElsewhere reports whether another member's admin API (as the log
// records them) answers that the cluster has a leader: Raft's leader backs
// off replicating to a member that was down (up to about 10 s), so a
// restarted member may not hear from a leader that exists for a while.
func (n *Node) LeaderElsewhere(ctx context.Context) bool {
	addrs := map[string]bool{}
	for id, a := range n.fsm.Admins() {
		if id != n.id {
			addrs[a] = true
		}
	}
	if r := n.restoredAdmins; r != nil {
		for id, a := range r {
			if id != n.id {
				addrs[a] = true
			}
		}
	}
	for _, a := range n.join {
		addrs[a] = true
	}
	delete(addrs, n.admin)
	for _, addr := range slices.Sorted(maps.Keys(addrs)) {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		var st StatusResponse
		err := n.client.Do(cctx, addr, PathStatus, "", nil, &st)
		cancel()
		if err == nil && st.Node.LeaderID != "" && st.Node.LeaderID != n.id {
			return true
		}
	}
	return false
}
