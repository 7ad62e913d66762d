package cluster

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/raft"
	raftboltdb "github.com/hashicorp/raft-boltdb/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.etcd.io/bbolt"

	"github.com/aya-gslb/aya/release"
	"github.com/aya-gslb/aya/state"
)

// ErrNotLeader is returned by the write operations of a Node that is not the
// Raft leader (or lost leadership before the write committed).
var ErrNotLeader = errors.New("not the leader")

// Defaults of Config.
const (
	// DefaultApplyTimeout bounds a Propose, Join or Remove whose context
	// has no deadline.
	DefaultApplyTimeout = 10 * time.Second

	// Raft's timings and snapshot policy, hashicorp/raft's defaults made
	// ours: the configuration's defaults are these.
	DefaultHeartbeatTimeout   = time.Second
	DefaultElectionTimeout    = time.Second
	DefaultLeaderLeaseTimeout = 500 * time.Millisecond
	DefaultSnapshotThreshold  = 8192
	DefaultSnapshotInterval   = 2 * time.Minute

	transportPool    = 3
	transportTimeout = 10 * time.Second
	snapshotsRetain  = 2
	boltOpenTimeout  = time.Second
)

// Config configures a Node.
type Config struct {
	// ID is the Raft server ID: the site name. Required.
	ID string
	// Bind is the host:port of the Raft TCP transport. Port 0 picks a free
	// port; the bound address is then advertised. Required.
	Bind string
	// Advertise is the host:port other nodes dial; default the bound address.
	// It must not be an unspecified address (0.0.0.0, ::).
	Advertise string
	// DataDir holds the Raft log and stable store (raft.db, bbolt) and the
	// file snapshots (snapshots/). Created if missing. Required.
	DataDir string
	// Bootstrap makes the node bootstrap a single-voter cluster of itself
	// when DataDir holds no Raft state. With existing state it is ignored,
	// so a restart never bootstraps again.
	Bootstrap bool
	// Rules are the FSM's decision rules; the same on every node.
	Rules Rules
	// Logger receives Raft's logs; nil discards them.
	Logger *slog.Logger
	// Registerer receives the node's metrics; nil: not registered.
	Registerer prometheus.Registerer

	// Admin is this node's admin API address (host:port), which Run records
	// in the log so that followers can forward writes to it when this node
	// leads. Empty: this node cannot take forwarded writes when it leads.
	Admin string
	// Join lists admin API addresses of members: Run asks them to add this
	// node while it is in no cluster configuration (see Run).
	Join []string
	// NonVoter makes Run join as a non-voting member, which replicates the
	// log and answers from it but does not vote or count for quorum.
	NonVoter bool
	// Client calls other members' admin APIs (forwarded writes, joins);
	// nil: plain HTTP without a token.
	Client *Client
	// TLS, when set, runs the Raft transport over mutual TLS: it must hold
	// this node's certificate, verify peers' certificates for both roles
	// (ClientCAs with tls.RequireAndVerifyClientCert, and RootCAs), and is
	// used both to accept and to dial (mtls.Config.Peer, or
	// mtls.SecretConfig.Peer for a cluster secret). A dial verifies the
	// peer for the host it dials, or for ServerName when set. Nil: plain
	// TCP, which lets anyone who reaches Bind write the log; config allows
	// it on loopback only.
	TLS *tls.Config

	// CheckRelease, when set, validates a release before it is proposed
	// (or forwarded): a site compiles its zones and pools, so that a
	// release that would not serve never enters the log.
	CheckRelease func(*release.Release) error

	// Raft timings; zero means DefaultHeartbeatTimeout, DefaultElectionTimeout
	// and DefaultLeaderLeaseTimeout (commit: raft's 50ms). LeaderLeaseTimeout
	// must not exceed HeartbeatTimeout.
	HeartbeatTimeout   time.Duration
	ElectionTimeout    time.Duration
	LeaderLeaseTimeout time.Duration
	CommitTimeout      time.Duration
	// SnapshotThreshold is the number of log entries since the last
	// snapshot that triggers a new one (default DefaultSnapshotThreshold),
	// checked every SnapshotInterval (default DefaultSnapshotInterval).
	SnapshotThreshold uint64
	SnapshotInterval  time.Duration
	// TrailingLogs is how many entries a snapshot leaves in the log (default
	// 10240), so that a follower a little behind catches up from the log
	// rather than by a whole snapshot.
	TrailingLogs uint64

	// transportLimits replaces the bounds of the Raft port (tests).
	transportLimits *transportLimits
}

// Member is a server of the Raft configuration.
type Member struct {
	ID       string `json:"id"`
	Addr     string `json:"addr"`
	Suffrage string `json:"suffrage"` // "Voter", "Nonvoter", "Staging"
}

// Status is a node's view of the cluster, for the admin API.
type Status struct {
	ID          string   `json:"id"`
	Addr        string   `json:"addr"`
	Admin       string   `json:"admin"`
	State       string   `json:"state"` // "Leader", "Follower", "Candidate", "Shutdown"
	LeaderID    string   `json:"leader_id"`
	LeaderAddr  string   `json:"leader_addr"`
	Term        uint64   `json:"term"`
	LastIndex   uint64   `json:"last_index"`
	LastApplied uint64   `json:"last_applied"`
	Members     []Member `json:"members"`
}

// Node is a Raft node around the FSM. It implements state.Source.
type Node struct {
	id        string
	addr      string
	fsm       *FSM
	raft      *raft.Raft
	transport *raft.NetworkTransport
	stream    *stream // the transport's, which bounds inbound connections
	store     *raftboltdb.BoltStore
	log       *slog.Logger

	// bootstrapped is true when NewNode bootstrapped a new cluster.
	bootstrapped bool

	admin   string   // this node's admin API address, recorded in the FSM
	join    []string // admin API addresses to join through
	voter   bool     // join as a voter
	client  *Client
	started time.Time
	// checkRelease is Config.CheckRelease.
	checkRelease func(*release.Release) error
	// releasing holds the POST of PathRelease being served (see Handler).
	releasing chan struct{}
	m         nodeMetrics

	// restored is the state read from the data directory at start, which
	// the node answers from until the FSM has applied as far (Current).
	restored atomic.Pointer[localState]
	// restoredAdmins are the admin addresses restored with it.
	restoredAdmins map[string]string
	stopPersist    context.CancelFunc
	persistDone    chan struct{}

	closeOnce sync.Once
	closeErr  error
}

var _ state.Source = (*Node)(nil)

// NewNode opens (or creates) the Raft state in cfg.DataDir, starts the
// transport and Raft, and bootstraps when asked and there is no state.
func NewNode(cfg Config) (*Node, error) {
	if cfg.ID == "" || cfg.Bind == "" || cfg.DataDir == "" {
		return nil, errors.New("cluster: node needs ID, Bind and DataDir")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hlog := newHCLog(cfg.Logger, cfg.ID)

	rc := raft.DefaultConfig()
	rc.LocalID = raft.ServerID(cfg.ID)
	rc.Logger = hlog
	rc.HeartbeatTimeout = cmp.Or(cfg.HeartbeatTimeout, DefaultHeartbeatTimeout)
	rc.ElectionTimeout = cmp.Or(cfg.ElectionTimeout, DefaultElectionTimeout)
	rc.LeaderLeaseTimeout = cmp.Or(cfg.LeaderLeaseTimeout, DefaultLeaderLeaseTimeout)
	setIf(&rc.CommitTimeout, cfg.CommitTimeout)
	rc.SnapshotThreshold = cmp.Or(cfg.SnapshotThreshold, DefaultSnapshotThreshold)
	rc.SnapshotInterval = cmp.Or(cfg.SnapshotInterval, DefaultSnapshotInterval)
	setIf(&rc.TrailingLogs, cfg.TrailingLogs)
	if err := raft.ValidateConfig(rc); err != nil {
		return nil, fmt.Errorf("cluster: %w", err)
	}

	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, fmt.Errorf("cluster: data dir: %w", err)
	}
	var advertise net.Addr
	if cfg.Advertise != "" {
		a, err := net.ResolveTCPAddr("tcp", cfg.Advertise)
		if err != nil {
			return nil, fmt.Errorf("cluster: advertise %q: %w", cfg.Advertise, err)
		}
		advertise = a
	}

	n := &Node{
		id: cfg.ID, fsm: NewFSM(cfg.Rules, logger.With("component", "fsm")), log: logger,
		admin: cfg.Admin, join: cfg.Join, voter: !cfg.NonVoter, client: cfg.Client, started: time.Now(),
		checkRelease: cfg.CheckRelease, releasing: make(chan struct{}, 1),
	}
	if n.client == nil {
		n.client = &Client{}
	}
	ok := false
	defer func() {
		if !ok {
			_ = n.closeParts()
		}
	}()

	store, err := raftboltdb.New(raftboltdb.Options{
		Path:        filepath.Join(cfg.DataDir, "raft.db"),
		BoltOptions: &bbolt.Options{Timeout: boltOpenTimeout},
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: open raft.db: %w", err)
	}
	n.store = store
	snaps, err := raft.NewFileSnapshotStoreWithLogger(cfg.DataDir, snapshotsRetain, hlog)
	if err != nil {
		return nil, fmt.Errorf("cluster: snapshot store: %w", err)
	}
	trans, stream, err := newTransport(cfg, advertise, hlog, logger.With("component", "raft-transport"), cfg.Registerer)
	if err != nil {
		return nil, fmt.Errorf("cluster: transport %s: %w", cfg.Bind, err)
	}
	n.transport, n.stream = trans, stream
	n.addr = string(trans.LocalAddr())

	existing, err := raft.HasExistingState(store, store, snaps)
	if err != nil {
		return nil, fmt.Errorf("cluster: read raft state: %w", err)
	}
	var (
		restoredIndex uint64
		restoredRel   string
	)
	if existing {
		switch ls, err := readLocal(cfg.DataDir); {
		case err != nil:
			logger.Error("last applied state not restored; answering from what Raft restores", "err", err)
		case ls != nil:
			n.restored.Store(ls)
			n.restoredAdmins = ls.Admins
			restoredIndex, restoredRel = ls.Index, ls.written
			logger.Info("state restored", "index", ls.Index, "version", ls.Version, "release", release.ShortDigest(ls.Digest))
		}
	}
	r, err := raft.NewRaft(rc, n.fsm, store, store, snaps, trans)
	if err != nil {
		return nil, fmt.Errorf("cluster: start raft: %w", err)
	}
	n.raft = r
	stream.setMembers(func() []raft.ServerAddress {
		servers := r.GetConfiguration().Configuration().Servers
		addrs := make([]raft.ServerAddress, len(servers))
		for i, s := range servers {
			addrs[i] = s.Address
		}
		return addrs
	})
	if cfg.Bootstrap && !existing {
		boot := raft.Configuration{Servers: []raft.Server{{
			Suffrage: raft.Voter, ID: rc.LocalID, Address: trans.LocalAddr(),
		}}}
		switch err := r.BootstrapCluster(boot).Error(); {
		case err == nil:
			n.bootstrapped = true
			logger.Info("bootstrapped cluster", "id", cfg.ID, "addr", n.addr)
		case !errors.Is(err, raft.ErrCantBootstrap):
			return nil, fmt.Errorf("cluster: bootstrap: %w", err)
		}
	}
	n.electAlone()
	n.m = newNodeMetrics(n, cfg.Registerer)
	pctx, stop := context.WithCancel(context.Background())
	n.stopPersist, n.persistDone = stop, make(chan struct{})
	p := &persister{dir: cfg.DataDir, fsm: n.fsm, restored: restoredIndex, lastRel: restoredRel, onError: func(err error) {
		logger.Error("last applied state not saved", "err", err)
	}}
	go func() {
		defer close(n.persistDone)
		p.run(pctx)
	}()
	ok = true
	return n, nil
}

// electAlone has the node stand for election at once when it is the only
// voter of its configuration (a bootstrapped single node, or one restarted
// alone): no other node can lead, and Raft's wait for a leader's heartbeat,
// one to two heartbeat timeouts (1-2 s by default), would only hold back the
// first answer. Lowering the heartbeat timeout through ReloadConfig wakes the
// follower loop, which finds no contact and stands; the configured timeout is
// what stays in force. Timings bear on Raft's liveness only, never on its
// safety; with other voters nothing changes.
func (n *Node) electAlone() {
	cf := n.raft.GetConfiguration()
	if cf.Error() != nil {
		return
	}
	voters, self := 0, false
	for _, s := range cf.Configuration().Servers {
		if s.Suffrage == raft.Voter {
			voters++
			self = self || s.ID == raft.ServerID(n.id)
		}
	}
	if voters != 1 || !self {
		return
	}
	// Up by a nanosecond, then back: the second reload lowers the timeout,
	// which is what wakes the follower, and leaves it as configured (it may
	// equal the leader lease timeout, which it must not go under).
	rc := n.raft.ReloadableConfig()
	up := rc
	up.HeartbeatTimeout++
	up.ElectionTimeout = max(up.ElectionTimeout, up.HeartbeatTimeout)
	if err := n.raft.ReloadConfig(up); err != nil {
		n.log.Warn("immediate election not started", "err", err)
		return
	}
	if err := n.raft.ReloadConfig(rc); err != nil {
		n.log.Warn("heartbeat timeout not restored", "err", err)
	}
}

func setIf[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}

// History returns the FSM's recent decisions (see FSM.History).
func (n *Node) History() []Decision { return n.fsm.History() }

// ID returns the node's Raft server ID.
func (n *Node) ID() string { return n.id }

// Addr returns the address the node advertises to its peers.
func (n *Node) Addr() string { return n.addr }

// IsLeader reports whether the node is the Raft leader now.
func (n *Node) IsLeader() bool { return n.raft.State() == raft.Leader }

// Propose stamps v with the leader's clock, appends it to the log as a
// command of type cmd and waits until it is applied on the leader. It
// returns ErrNotLeader on a follower, the FSM's error for an invalid
// command, and ctx's error if ctx ends first (the entry may still commit).
// Commands that the FSM could not decode are refused here rather than
// replicated: Apply would skip them on every node.
func (n *Node) Propose(ctx context.Context, cmd byte, v any) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	now := time.Now()
	b, err := Encode(cmd, now, v)
	if err != nil {
		return err
	}
	if r, ok := v.(*release.Release); ok && cmd == CmdRelease && roundTrips(r) {
		// The entry decodes to r (roundTrips), as every node will decode
		// it: neither the check nor this node's Apply decodes it again.
		p := &proposedEntry{data: b, typ: cmd, at: now.UnixNano(), cmd: r}
		n.fsm.proposed.Store(p)
		defer n.fsm.proposed.CompareAndSwap(p, nil)
	} else if err := checkEntry(b, now); err != nil {
		return &commandError{err}
	}
	f := n.raft.Apply(b, timeout(ctx))
	if err := wait(ctx, f); err != nil {
		return err
	}
	if err, _ := f.Response().(error); err != nil {
		return &commandError{err}
	}
	return nil
}

// commandError is the verdict on a command itself: it does not decode, or
// the FSM refused it. Retrying it elsewhere will not help.
type commandError struct{ err error }

func (e *commandError) Error() string { return e.err.Error() }
func (e *commandError) Unwrap() error { return e.err }

// roundTrips reports whether r's JSON decodes to a release equal to r in
// every field Apply reads (Version, Index and At it sets itself): its
// strings are valid UTF-8, which json.Marshal would otherwise replace, and
// its durations and numbers are what encoding/json writes exactly.
func roundTrips(r *release.Release) bool {
	ok := utf8.ValidString(r.Digest) && utf8.ValidString(r.By) && utf8.ValidString(r.Source) &&
		utf8.ValidString(r.Config.Name)
	for _, f := range r.Zones {
		ok = ok && utf8.ValidString(f.Name)
	}
	for _, m := range r.Rules.MinUp {
		ok = ok && utf8.ValidString(m.Pool) && utf8.ValidString(m.Region)
	}
	return ok
}

// checkEntry decodes b as Apply would and reports what would make Apply
// skip it: it does not decode, or it is stamped more than MaxClockAhead
// ahead of now, the leader's clock.
func checkEntry(b []byte, now time.Time) error {
	typ, env, _, err := decodeEntry(b)
	if err != nil {
		return fmt.Errorf("propose command %#x: %w", typ, err)
	}
	if ahead := time.Duration(env.At - now.UnixNano()); ahead > MaxClockAhead {
		return fmt.Errorf("propose command %#x: stamped %s ahead of the leader's clock", typ, ahead)
	}
	return nil
}

// Join adds a server to the cluster as a voter or a non-voter. It must be
// called on the leader. Joining a server already present with the same
// address and suffrage is a no-op; a known ID changes its address or
// suffrage (a voter is demoted for voter false); another server at the same
// address is removed first.
func (n *Node) Join(id, addr string, voter bool) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	cf := n.raft.GetConfiguration()
	if err := cf.Error(); err != nil {
		return notLeader(fmt.Errorf("join %s: %w", id, err))
	}
	sid, saddr := raft.ServerID(id), raft.ServerAddress(addr)
	for _, s := range cf.Configuration().Servers {
		switch {
		case s.ID == sid:
			isVoter := s.Suffrage == raft.Voter
			if s.Address == saddr && isVoter == voter {
				return nil
			}
			if isVoter && !voter {
				if err := n.raft.DemoteVoter(sid, 0, DefaultApplyTimeout).Error(); err != nil {
					return notLeader(fmt.Errorf("join %s: demote: %w", id, err))
				}
			}
		case s.Address == saddr:
			if err := n.raft.RemoveServer(s.ID, 0, DefaultApplyTimeout).Error(); err != nil {
				return notLeader(fmt.Errorf("join %s: remove %s at the same address: %w", id, s.ID, err))
			}
		}
	}
	var f raft.IndexFuture
	if voter {
		f = n.raft.AddVoter(sid, saddr, 0, DefaultApplyTimeout)
	} else {
		f = n.raft.AddNonvoter(sid, saddr, 0, DefaultApplyTimeout)
	}
	if err := f.Error(); err != nil {
		return notLeader(fmt.Errorf("join %s at %s: %w", id, addr, err))
	}
	n.log.Info("server joined", "id", id, "addr", addr, "voter", voter)
	return nil
}

// Remove removes a server from the cluster. It must be called on the leader.
func (n *Node) Remove(id string) error {
	if n.raft.State() != raft.Leader {
		return ErrNotLeader
	}
	if err := n.raft.RemoveServer(raft.ServerID(id), 0, DefaultApplyTimeout).Error(); err != nil {
		return notLeader(fmt.Errorf("remove %s: %w", id, err))
	}
	n.log.Info("server removed", "id", id)
	return nil
}

// Leader returns the current leader's ID and address, empty if unknown.
func (n *Node) Leader() (id, addr string) {
	a, i := n.raft.LeaderWithID()
	return string(i), string(a)
}

// Stats returns the node's view of the cluster. Members is empty when the
// configuration cannot be read (e.g. after Close).
func (n *Node) Stats() Status {
	lid, laddr := n.Leader()
	st := Status{
		ID: n.id, Addr: n.addr, Admin: n.admin, State: n.raft.State().String(),
		LeaderID: lid, LeaderAddr: laddr,
		Term: n.raft.CurrentTerm(), LastIndex: n.raft.LastIndex(), LastApplied: n.raft.AppliedIndex(),
		Members: []Member{},
	}
	if cf := n.raft.GetConfiguration(); cf.Error() == nil {
		for _, s := range cf.Configuration().Servers {
			st.Members = append(st.Members, Member{ID: string(s.ID), Addr: string(s.Address), Suffrage: s.Suffrage.String()})
		}
	}
	slices.SortFunc(st.Members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	return st
}

// Close shuts Raft down and closes the transport and the stores. It does
// not leave the cluster (see Remove). Calling it again returns the first
// result.
func (n *Node) Close() error {
	n.closeOnce.Do(func() { n.closeErr = n.closeParts() })
	return n.closeErr
}

func (n *Node) closeParts() error {
	var errs []error
	if n.stopPersist != nil {
		defer func() { n.stopPersist(); <-n.persistDone }()
	}
	if n.raft != nil {
		if err := n.raft.Shutdown().Error(); err != nil {
			errs = append(errs, fmt.Errorf("shutdown raft: %w", err))
		}
	}
	if n.transport != nil {
		if err := n.transport.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close transport: %w", err))
		}
	}
	if n.store != nil {
		if err := n.store.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close raft.db: %w", err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("cluster: close %s: %w", n.id, err)
	}
	return nil
}

// timeout is the time left before ctx's deadline, or DefaultApplyTimeout.
func timeout(ctx context.Context) time.Duration {
	if d, ok := ctx.Deadline(); ok {
		return max(time.Until(d), time.Millisecond)
	}
	return DefaultApplyTimeout
}

// wait waits for f or ctx, mapping leadership errors to ErrNotLeader.
func wait(ctx context.Context, f raft.Future) error {
	done := make(chan error, 1)
	go func() { done <- f.Error() }()
	select {
	case err := <-done:
		return notLeader(err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// notLeader wraps err with ErrNotLeader when Raft says leadership is missing.
func notLeader(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, raft.ErrNotLeader) || errors.Is(err, raft.ErrLeadershipLost) ||
		errors.Is(err, raft.ErrLeadershipTransferInProgress) {
		return fmt.Errorf("%w: %w", ErrNotLeader, err)
	}
	return err
}

// HasData reports whether dataDir holds a node's Raft log (raft.db): a
// node that has been in a cluster, which a restart rejoins without
// cluster.bootstrap or cluster.join.
func HasData(dataDir string) bool {
	_, err := os.Stat(filepath.Join(dataDir, "raft.db"))
	return err == nil
}

// newHCLog returns the hclog.Logger given to Raft: it discards its own
// output and, when l is not nil, forwards every record to l.
func newHCLog(l *slog.Logger, id string) hclog.Logger {
	il := hclog.NewInterceptLogger(&hclog.LoggerOptions{
		Name: "raft", Output: io.Discard, Level: hclog.Off,
	})
	if l != nil {
		il.RegisterSink(slogSink{l: l.With("component", "raft", "node", id)})
	}
	return il
}

// slogSink is an hclog.SinkAdapter writing to a slog.Logger.
type slogSink struct{ l *slog.Logger }

func (s slogSink) Accept(_ string, level hclog.Level, msg string, args ...any) {
	var lv slog.Level
	switch level {
	case hclog.Trace:
		lv = slog.LevelDebug - 4
	case hclog.Debug:
		lv = slog.LevelDebug
	case hclog.Info, hclog.NoLevel, hclog.DefaultLevel:
		lv = slog.LevelInfo
	case hclog.Warn:
		lv = slog.LevelWarn
	default:
		lv = slog.LevelError
	}
	ctx := context.Background()
	if !s.l.Enabled(ctx, lv) {
		return
	}
	s.l.Log(ctx, lv, msg, hclogArgs(args)...)
}

// hclogArgs renders the values hclog formats itself (hclog.Fmt, Hex,
// Octal, Binary, Quote) as its own output would, instead of slog printing
// the Go value: raft logs its configuration as hclog.Fmt("%+v", servers),
// which slog would show as "[%+v [...]]". A list of servers reads as
// "id (suffrage) at address, ...".
func hclogArgs(args []any) []any {
	out := slices.Clone(args)
	for i, a := range out {
		switch v := a.(type) {
		case hclog.Format:
			out[i] = formatHCLog(v)
		case hclog.Hex:
			out[i] = "0x" + strconv.FormatInt(int64(v), 16)
		case hclog.Octal:
			out[i] = "0" + strconv.FormatInt(int64(v), 8)
		case hclog.Binary:
			out[i] = "0b" + strconv.FormatInt(int64(v), 2)
		case hclog.Quote:
			out[i] = strconv.Quote(string(v))
		}
	}
	return out
}

func formatHCLog(f hclog.Format) string {
	if len(f) == 0 {
		return ""
	}
	format, ok := f[0].(string)
	if !ok {
		return fmt.Sprint(f...)
	}
	if len(f) == 2 && (format == "%+v" || format == "%v") {
		if servers, ok := f[1].([]raft.Server); ok {
			parts := make([]string, len(servers))
			for i, srv := range servers {
				parts[i] = fmt.Sprintf("%s (%s) at %s", srv.ID, strings.ToLower(srv.Suffrage.String()), srv.Address)
			}
			return strings.Join(parts, ", ")
		}
	}
	return fmt.Sprintf(format, f[1:]...)
}
