package cluster

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/raft"

	"github.com/aya-gslb/aya/release"
	"github.com/aya-gslb/aya/state"
)

// DefaultFreshFor is Rules.FreshFor when it is zero.
const DefaultFreshFor = 30 * time.Second

// HistorySize bounds History.
const HistorySize = 256

// persistFormat is the version of the snapshot encoding.
const persistFormat = 1

// Rules are the decision rules before the first release (a release brings
// its own, see withRelease). They must be the same on every node.
type Rules struct {
	// Sites are the sites whose observations count (members that probe).
	// Empty: every reporting site counts (a single-node cluster).
	Sites []string
	// FreshFor: a site's report is fresh when its time is within FreshFor of
	// the newest leader-stamped time in the log. Default DefaultFreshFor.
	FreshFor time.Duration
	// MinUp is, per region of a pool, the minimum number of endpoints up
	// for the region to be up. Default 1.
	MinUp map[RegionKey]int
	// Shed says when a loaded region sheds clients (see ShedRules).
	Shed ShedRules
}

// Decision is one change of a decision, for History.
type Decision struct {
	At    time.Time `json:"at"`    // log (leader) time of the entry that caused it
	Index uint64    `json:"index"` // raft index of that entry
	// Pool, Region, Endpoint name what changed: an endpoint (all three), a
	// region's health (Pool, Region), or a region drain (Region only).
	Pool     string `json:"pool,omitempty"`
	Region   string `json:"region"`
	Endpoint string `json:"endpoint,omitempty"`
	From     string `json:"from"` // "up", "down", "drained", "undrained"
	To       string `json:"to"`
	Why      string `json:"why"`
}

type report struct {
	Up            bool   `json:"up"`
	At            int64  `json:"at"`
	LatencyMicros int64  `json:"latency_us,omitempty"`
	Err           string `json:"err,omitempty"`
}

type endpoint struct {
	Reports map[string]report // site → latest report
	Up      bool              // last decided state
	Why     string            // why down
	Since   int64             // log time of the last change of Up; 0: never changed
}

// RegionKey names a region of a pool.
type RegionKey struct{ Pool, Region string }

// rules are Rules ready for the state machine: the base rules of the
// Config with a release's rules over them.
type rules struct {
	sites    map[string]bool // nil: every site counts
	freshFor int64
	minUp    map[RegionKey]int
	shed     ShedRules
}

func newRules(r Rules) *rules {
	out := &rules{freshFor: int64(r.FreshFor), minUp: maps.Clone(r.MinUp), shed: r.Shed.withDefaults()}
	if out.freshFor <= 0 {
		out.freshFor = int64(DefaultFreshFor)
	}
	if out.minUp == nil {
		out.minUp = map[RegionKey]int{}
	}
	if len(r.Sites) > 0 {
		out.sites = map[string]bool{}
		for _, s := range r.Sites {
			out.sites[s] = true
		}
	}
	return out
}

// withRelease returns base with the decision rules of rel.
func withRelease(base Rules, rel *release.Release) *rules {
	if rel == nil {
		return newRules(base)
	}
	r := base
	rr := rel.Rules
	r.FreshFor = rr.FreshFor
	r.MinUp = make(map[RegionKey]int, len(rr.MinUp))
	for _, m := range rr.MinUp {
		r.MinUp[RegionKey{Pool: m.Pool, Region: m.Region}] = m.N
	}
	r.Shed = ShedRules{HighWater: rr.Shed.HighWater, LowWater: rr.Shed.LowWater, MaxShed: rr.Shed.MaxFraction, Step: rr.Shed.Step}
	return newRules(r)
}

// advance moves the log time to at, an entry's leader time. The log time
// is the newest leader time seen, so a leader whose clock is a little
// behind its predecessor's does not revive stale reports; but a step back
// of more than the freshness window is followed: the newest time was wrong
// (a leader's clock far ahead, an entry stamped in the future) or clocks
// were reset, and holding on to it would leave every later report stale,
// freezing the decisions.
func (d *data) advance(at int64) {
	if at > d.now || d.now-at > d.rules.freshFor {
		d.now = at
	}
}

// counts reports whether site's reports count.
func (r *rules) counts(site string) bool { return r.sites == nil || r.sites[site] }

// fresh reports whether a report stamped at is fresh at log time now: no
// older than freshFor, and no newer either. Log times follow the leaders'
// clocks, which can step back (a new leader whose clock is behind, or an
// entry stamped far in the future that got into the log): a report from
// "the future" does not count, so one bad time cannot freeze the
// decisions.
func (r *rules) fresh(at, now int64) bool {
	d := now - at
	return d <= r.freshFor && -d <= r.freshFor
}

// data is the FSM state; only Apply and Restore change it.
type data struct {
	index   uint64 // last applied
	now     int64  // newest leader time seen
	version uint64 // index of the entry that last changed the snapshot
	eps     map[state.EndpointKey]*endpoint
	rdown   map[RegionKey]string   // derived: regions below MinUp
	rsince  map[RegionKey]int64    // log time of each region's last up/down change
	meta    map[string]string      // member ID → admin API address
	loads   map[string]*regionLoad // region → its proxies' load reports and shedding
	drReg   map[string]string
	drEp    map[state.EndpointKey]string
	history []Decision
	sites   map[string]SiteInfo // site → what it runs
	rel     *release.Release    // the release every site answers from; nil before the first
	rules   *rules              // the base rules with rel's
}

func newData(base Rules) *data {
	return &data{
		rules:  newRules(base),
		sites:  map[string]SiteInfo{},
		eps:    map[state.EndpointKey]*endpoint{},
		rdown:  map[RegionKey]string{},
		rsince: map[RegionKey]int64{},
		meta:   map[string]string{},
		loads:  map[string]*regionLoad{},
		drReg:  map[string]string{},
		drEp:   map[state.EndpointKey]string{},
	}
}

// FSM is the Raft state machine. It implements raft.FSM and state.Source.
// Raft calls Apply, Snapshot and Restore from one goroutine; Current and
// History are safe to call from any goroutine.
type FSM struct {
	base Rules
	log  *slog.Logger

	mu  sync.Mutex // guards d
	d   *data
	cur atomic.Pointer[state.Snapshot]
	rel atomic.Pointer[release.Release]
	// applied is d.index, for readers that must not take mu.
	applied atomic.Uint64
	// skipped counts the entries skipped because they do not decode.
	skipped atomic.Uint64
	// changed is closed, and replaced, whenever the snapshot or the
	// release changes (see Changed).
	changed atomic.Pointer[chan struct{}]
	// proposed is the entry this node's Propose is appending, with what it
	// decodes to (see proposedEntry).
	proposed atomic.Pointer[proposedEntry]
}

// proposedEntry is an entry the leader encoded from a value whose JSON
// decodes back to an equal one (roundTrips), with that value: Apply of that
// very entry (the same bytes in memory: Raft hands the leader's FSM the
// slice it was given) takes the value instead of decoding tens of
// megabytes it has just encoded. Every other node, and this one reading
// the entry back from its log, decodes the same bytes to an equal value.
type proposedEntry struct {
	data []byte
	typ  byte
	at   int64
	cmd  any
}

// is reports whether b is e's entry: the same bytes, not merely equal ones.
func (e *proposedEntry) is(b []byte) bool {
	return e != nil && len(b) > 0 && len(b) == len(e.data) && &b[0] == &e.data[0]
}

var (
	_ raft.FSM     = (*FSM)(nil)
	_ state.Source = (*FSM)(nil)
)

// NewFSM returns an FSM in the all-up, undrained state, with no release.
// r are the rules until a release brings its own (its Sites always
// apply). log receives the entries skipped; nil discards.
func NewFSM(r Rules, log *slog.Logger) *FSM {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f := &FSM{base: r, log: log, d: newData(r)}
	ch := make(chan struct{})
	f.changed.Store(&ch)
	f.cur.Store(f.build(f.d))
	return f
}

// Release returns the release the cluster answers from, nil before the
// first one. Lock-free.
func (f *FSM) Release() *release.Release { return f.rel.Load() }

// Applied returns the index of the last entry applied (or restored).
func (f *FSM) Applied() uint64 { return f.applied.Load() }

// Skipped returns how many entries were skipped because they do not
// decode (see Apply).
func (f *FSM) Skipped() uint64 { return f.skipped.Load() }

// Changed returns a channel that is closed at the next change of the
// snapshot or the release.
func (f *FSM) Changed() <-chan struct{} { return *f.changed.Load() }

func (f *FSM) notify() {
	ch := make(chan struct{})
	old := f.changed.Swap(&ch)
	close(*old)
}

// Current implements state.Source: lock-free. The snapshot is rebuilt only
// when an entry changes a decision; its Version is the raft index of that
// entry (so it increases with every published change and is the same on
// every node).
func (f *FSM) Current() *state.Snapshot { return f.cur.Load() }

// History returns the recent decisions, oldest first (at most HistorySize).
func (f *FSM) History() []Decision {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.d.history)
}

// Apply implements raft.FSM. It returns nil, or an error for a well-formed
// command that is invalid (e.g. empty site). An entry that does not decode
// (empty, of an unknown type without IgnoreUnknown, a known type whose body
// does not decode, or stamped far ahead of the time the leader appended
// it) is skipped: every node holds the same bytes and skips it alike,
// logs it and counts it; Node.Propose refuses such entries, so one in the
// log came from elsewhere (a corrupt disk, an injected entry).
func (f *FSM) Apply(l *raft.Log) any {
	if l.Type != raft.LogCommand {
		return nil
	}
	var (
		typ byte
		env envelope
		cmd any
		err error
	)
	if p := f.proposed.Load(); p.is(l.Data) {
		typ, env.At, cmd = p.typ, p.at, p.cmd
	} else {
		typ, env, cmd, err = decodeEntry(l.Data)
	}
	if err == nil && !l.AppendedAt.IsZero() && env.At-l.AppendedAt.UnixNano() > int64(MaxClockAhead) {
		err = fmt.Errorf("stamped %s, %s after the leader appended it", logTime(env.At).Format(time.RFC3339Nano),
			time.Duration(env.At-l.AppendedAt.UnixNano()))
	}
	if err != nil || cmd == nil {
		if err != nil {
			f.skipped.Add(1)
			f.log.Error("log entry skipped", "err", &CorruptEntryError{Index: l.Index, Type: typ, Err: err})
		}
		f.mu.Lock()
		f.d.index = l.Index
		f.applied.Store(l.Index)
		f.mu.Unlock()
		return err
	}

	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.d
	d.index = l.Index
	d.advance(env.At)
	changed, err := f.apply(d, l.Index, env.At, cmd)
	if f.evaluate(d, l.Index) {
		changed = true
	}
	if changed {
		d.version = l.Index
		f.cur.Store(f.build(d))
	}
	f.applied.Store(l.Index)
	if changed {
		f.notify()
	}
	return err
}

func (f *FSM) apply(d *data, index uint64, at int64, cmd any) (bool, error) {
	switch c := cmd.(type) {
	case *Observe:
		if c.Site == "" || c.Key.Endpoint == "" {
			return false, fmt.Errorf("observe: empty site or endpoint")
		}
		ep := d.eps[c.Key]
		if ep == nil {
			ep = &endpoint{Reports: map[string]report{}, Up: true}
			d.eps[c.Key] = ep
		}
		ep.Reports[c.Site] = report{Up: c.Up, At: at, LatencyMicros: c.LatencyMicros, Err: c.Err}
		return false, nil
	case *Drain:
		why := c.Why()
		if c.Endpoint != nil {
			old, was := d.drEp[*c.Endpoint]
			if was && old == why {
				return false, nil
			}
			d.drEp[*c.Endpoint] = why
			f.record(d, Decision{At: logTime(at), Index: index, Pool: c.Endpoint.Pool, Region: c.Endpoint.Region,
				Endpoint: c.Endpoint.Endpoint, From: drainState(was), To: "drained", Why: why})
			return true, nil
		}
		if c.Region == "" {
			return false, fmt.Errorf("drain: no region or endpoint")
		}
		old, was := d.drReg[c.Region]
		if was && old == why {
			return false, nil
		}
		d.drReg[c.Region] = why
		f.record(d, Decision{At: logTime(at), Index: index, Region: c.Region, From: drainState(was), To: "drained", Why: why})
		return true, nil
	case *LoadReport:
		return f.applyLoad(d, index, at, c)
	case *release.Release:
		return f.applyRelease(d, index, at, c)
	case *SiteInfo:
		return f.applySite(d, at, c)
	case *Meta:
		if c.ID == "" {
			return false, fmt.Errorf("meta: empty id")
		}
		if c.Admin == "" {
			delete(d.meta, c.ID)
		} else {
			d.meta[c.ID] = c.Admin
		}
		return false, nil
	case *Undrain:
		why := fmt.Sprintf("undrained (by %s)", c.By)
		if c.Endpoint != nil {
			if _, was := d.drEp[*c.Endpoint]; !was {
				return false, nil
			}
			delete(d.drEp, *c.Endpoint)
			f.record(d, Decision{At: logTime(at), Index: index, Pool: c.Endpoint.Pool, Region: c.Endpoint.Region,
				Endpoint: c.Endpoint.Endpoint, From: "drained", To: "undrained", Why: why})
			return true, nil
		}
		if c.Region == "" {
			return false, fmt.Errorf("undrain: no region or endpoint")
		}
		if _, was := d.drReg[c.Region]; !was {
			return false, nil
		}
		delete(d.drReg, c.Region)
		f.record(d, Decision{At: logTime(at), Index: index, Region: c.Region, From: "drained", To: "undrained", Why: why})
		return true, nil
	}
	return false, nil
}

func drainState(drained bool) string {
	if drained {
		return "drained"
	}
	return "undrained"
}

func upState(up bool) string {
	if up {
		return "up"
	}
	return "down"
}

func logTime(n int64) time.Time { return time.Unix(0, n).UTC() }

func (f *FSM) record(d *data, dec Decision) {
	if len(d.history) >= HistorySize {
		d.history = slices.Delete(d.history, 0, len(d.history)-HistorySize+1)
	}
	d.history = append(d.history, dec)
}

func sortedKeys[K comparable, V any](m map[K]V, less func(a, b K) int) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	slices.SortFunc(ks, less)
	return ks
}

func cmpKey(a, b state.EndpointKey) int {
	return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.Region, b.Region), cmp.Compare(a.Endpoint, b.Endpoint))
}

func cmpRegion(a, b RegionKey) int {
	return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.Region, b.Region))
}

// judge applies the quorum rule to one endpoint at log time now. ok is false
// when no counted site has a fresh report, or the fresh ones are evenly
// split: the last state is then kept.
func (f *FSM) judge(d *data, ep *endpoint, now int64) (up bool, why string, ok bool) {
	sites := sortedKeys(ep.Reports, cmp.Compare[string])
	var nUp, nDown int
	var firstErr string
	for _, s := range sites {
		if !d.rules.counts(s) {
			continue
		}
		r := ep.Reports[s]
		if !d.rules.fresh(r.At, now) {
			continue
		}
		if r.Up {
			nUp++
		} else {
			nDown++
			if firstErr == "" && r.Err != "" {
				firstErr = r.Err
			}
		}
	}
	n := nUp + nDown
	if n == 0 || 2*nUp == n {
		// No evidence, or a tie: keep the last decision.
		return false, "", false
	}
	if 2*nUp > n {
		return true, "", true
	}
	why = fmt.Sprintf("down at %d of %d sites", nDown, n)
	if firstErr != "" {
		why += ": " + firstErr
	}
	return false, why, true
}

// evaluate re-judges every endpoint and region at the current log time and
// records the changes. It reports whether any decision changed.
func (f *FSM) evaluate(d *data, index uint64) bool {
	changed := false
	at := logTime(d.now)
	for _, k := range sortedKeys(d.eps, cmpKey) {
		ep := d.eps[k]
		up, why, ok := f.judge(d, ep, d.now)
		if !ok || (up == ep.Up && why == ep.Why) {
			continue
		}
		if up != ep.Up {
			ep.Since = d.now
			f.record(d, Decision{At: at, Index: index, Pool: k.Pool, Region: k.Region, Endpoint: k.Endpoint,
				From: upState(ep.Up), To: upState(up), Why: cmp.Or(why, "up at a majority of fresh sites")})
		}
		ep.Up, ep.Why = up, why
		changed = true
	}
	rdown := f.regions(d)
	for _, rk := range sortedKeys(rdown, cmpRegion) {
		if _, was := d.rdown[rk]; !was {
			d.rsince[rk] = d.now
			f.record(d, Decision{At: at, Index: index, Pool: rk.Pool, Region: rk.Region, From: "up", To: "down", Why: rdown[rk]})
			changed = true
		}
	}
	for _, rk := range sortedKeys(d.rdown, cmpRegion) {
		if _, is := rdown[rk]; !is {
			d.rsince[rk] = d.now
			f.record(d, Decision{At: at, Index: index, Pool: rk.Pool, Region: rk.Region, From: "down", To: "up", Why: "enough endpoints up"})
			changed = true
		}
	}
	d.rdown = rdown
	if f.expireLoads(d, index) {
		changed = true
	}
	return changed
}

// regions returns the regions below their minimum, with why.
func (f *FSM) regions(d *data) map[RegionKey]string {
	type count struct{ up, n int }
	counts := map[RegionKey]*count{}
	for k, ep := range d.eps {
		rk := RegionKey{k.Pool, k.Region}
		c := counts[rk]
		if c == nil {
			c = &count{}
			counts[rk] = c
		}
		c.n++
		if ep.Up {
			c.up++
		}
	}
	out := map[RegionKey]string{}
	for rk, c := range counts {
		need := 1
		if m, ok := d.rules.minUp[rk]; ok && m > 0 {
			need = m
		}
		// Endpoints are known from observations, one at a time: a region
		// never needs more endpoints up than it has known endpoints, so it
		// does not flap down while its endpoints are being learned.
		need = min(need, c.n)
		if c.up < need {
			out[rk] = fmt.Sprintf("region %s down: %d of %d endpoints up (min %d)", rk.Region, c.up, c.n, need)
		}
	}
	return out
}

// build returns a new immutable snapshot of d.
func (f *FSM) build(d *data) *state.Snapshot {
	s := &state.Snapshot{
		Version:          d.version,
		Down:             map[state.EndpointKey]string{},
		DrainedRegions:   make(map[string]string, len(d.drReg)),
		DrainedEndpoints: make(map[state.EndpointKey]string, len(d.drEp)),
	}
	for k, ep := range d.eps {
		if !ep.Up {
			s.Down[k] = ep.Why
		} else if why, ok := d.rdown[RegionKey{k.Pool, k.Region}]; ok {
			s.Down[k] = why
		}
	}
	maps.Copy(s.DrainedRegions, d.drReg)
	maps.Copy(s.DrainedEndpoints, d.drEp)
	for region, rl := range d.loads {
		if rl.Shed > 0 {
			if s.Shed == nil {
				s.Shed = map[string]state.Shed{}
			}
			s.Shed[region] = state.Shed{Fraction: rl.Shed, Why: rl.Why}
		}
	}
	return s
}

// persisted is the snapshot encoding: sorted slices, no struct-keyed maps.
type persisted struct {
	Format           int                    `json:"format"`
	Index            uint64                 `json:"index"`
	Now              int64                  `json:"now"`
	Version          uint64                 `json:"version"`
	Endpoints        []persistedEndpoint    `json:"endpoints"`
	DrainedRegions   map[string]string      `json:"drained_regions"`
	DrainedEndpoints []persistedDrain       `json:"drained_endpoints"`
	History          []Decision             `json:"history"`
	RegionsSince     []persistedSince       `json:"regions_since,omitempty"`
	Meta             map[string]string      `json:"meta,omitempty"`
	Loads            map[string]*regionLoad `json:"loads,omitempty"`
	Release          *release.Release       `json:"release,omitempty"`
	Sites            map[string]SiteInfo    `json:"sites,omitempty"`
}

type persistedSince struct {
	Key   RegionKey `json:"key"`
	Since int64     `json:"since"`
}

type persistedEndpoint struct {
	Key     state.EndpointKey `json:"key"`
	Up      bool              `json:"up"`
	Why     string            `json:"why,omitempty"`
	Reports map[string]report `json:"reports"`
	Since   int64             `json:"since,omitempty"`
}

// persistedDrain is an endpoint with why (drained, or down in localState).
type persistedDrain struct {
	Key state.EndpointKey `json:"key"`
	Why string            `json:"why"`
}

// fsmSnapshot is an immutable copy of the state, taken by Snapshot.
type fsmSnapshot struct{ p *persisted }

// Snapshot implements raft.FSM: it copies the state (so Apply may go on
// while Persist writes) into an immutable value.
func (f *FSM) Snapshot() (raft.FSMSnapshot, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.d
	p := &persisted{
		Format: persistFormat, Index: d.index, Now: d.now, Version: d.version,
		Endpoints:        []persistedEndpoint{},
		DrainedRegions:   map[string]string{},
		DrainedEndpoints: []persistedDrain{},
		History:          slices.Clone(d.history),
	}
	for _, k := range sortedKeys(d.eps, cmpKey) {
		ep := d.eps[k]
		reps := make(map[string]report, len(ep.Reports))
		maps.Copy(reps, ep.Reports)
		p.Endpoints = append(p.Endpoints, persistedEndpoint{Key: k, Up: ep.Up, Why: ep.Why, Reports: reps, Since: ep.Since})
	}
	for _, rk := range sortedKeys(d.rsince, cmpRegion) {
		p.RegionsSince = append(p.RegionsSince, persistedSince{Key: rk, Since: d.rsince[rk]})
	}
	if len(d.meta) > 0 {
		p.Meta = maps.Clone(d.meta)
	}
	if len(d.loads) > 0 {
		p.Loads = cloneLoads(d.loads)
	}
	p.Release = d.rel // immutable
	if len(d.sites) > 0 {
		p.Sites = cloneSites(d.sites)
	}
	maps.Copy(p.DrainedRegions, d.drReg)
	p.DrainedEndpoints = sortedWhy(d.drEp)
	return &fsmSnapshot{p: p}, nil
}

// Persist implements raft.FSMSnapshot.
func (s *fsmSnapshot) Persist(sink raft.SnapshotSink) error {
	if err := json.NewEncoder(sink).Encode(s.p); err != nil {
		_ = sink.Cancel()
		return fmt.Errorf("persist snapshot: %w", err)
	}
	return sink.Close()
}

// Release implements raft.FSMSnapshot.
func (s *fsmSnapshot) Release() {}

// Restore implements raft.FSM: it decodes into a new state, then swaps it
// in; all previous state is discarded. On error the old state is kept.
func (f *FSM) Restore(rc io.ReadCloser) error {
	defer func() { _ = rc.Close() }()
	var p persisted
	if err := json.NewDecoder(rc).Decode(&p); err != nil {
		return fmt.Errorf("restore snapshot: %w", err)
	}
	if p.Format != persistFormat {
		return fmt.Errorf("restore snapshot: unknown format %d", p.Format)
	}
	if p.Release != nil {
		if err := p.Release.Validate(); err != nil {
			return fmt.Errorf("restore snapshot: %w", err)
		}
	}
	d := newData(f.base)
	d.index, d.now, d.version = p.Index, p.Now, p.Version
	d.rel = p.Release
	d.rules = withRelease(f.base, p.Release)
	maps.Copy(d.sites, p.Sites)
	for _, pe := range p.Endpoints {
		reps := pe.Reports
		if reps == nil {
			reps = map[string]report{}
		}
		d.eps[pe.Key] = &endpoint{Reports: reps, Up: pe.Up, Why: pe.Why, Since: pe.Since}
	}
	for _, ps := range p.RegionsSince {
		d.rsince[ps.Key] = ps.Since
	}
	maps.Copy(d.meta, p.Meta)
	for region, rl := range p.Loads {
		if rl == nil {
			continue
		}
		if rl.Reports == nil {
			rl.Reports = map[string]load{}
		}
		d.loads[region] = rl
	}
	maps.Copy(d.drReg, p.DrainedRegions)
	for _, pd := range p.DrainedEndpoints {
		d.drEp[pd.Key] = pd.Why
	}
	for i := range p.History {
		p.History[i].At = p.History[i].At.UTC()
	}
	if len(p.History) > HistorySize {
		p.History = p.History[len(p.History)-HistorySize:]
	}
	if len(p.History) > 0 {
		d.history = p.History
	}
	d.rdown = f.regions(d)
	snap := f.build(d)
	f.mu.Lock()
	f.d = d
	f.cur.Store(snap)
	f.rel.Store(d.rel)
	f.applied.Store(d.index)
	f.mu.Unlock()
	f.notify()
	return nil
}

// decodeEntry decodes a log entry. It returns a nil cmd and no error for an
// unknown type with the IgnoreUnknown bit; an error means Apply must not go
// on (an empty entry, an unknown type without the bit, a known type that does
// not decode). Apply and Node.Propose (which refuses such entries before
// they reach the log) share it.
func decodeEntry(b []byte) (typ byte, env envelope, cmd any, err error) {
	if len(b) == 0 {
		return 0, env, nil, errors.New("empty entry")
	}
	typ = b[0]
	switch typ {
	case CmdObserve:
		cmd = new(Observe)
	case CmdDrain:
		cmd = new(Drain)
	case CmdUndrain:
		cmd = new(Undrain)
	case CmdMeta:
		cmd = new(Meta)
	case CmdLoad:
		cmd = new(LoadReport)
	case CmdRelease:
		cmd = new(release.Release)
	case CmdSite:
		cmd = new(SiteInfo)
	default:
		if typ&IgnoreUnknown != 0 {
			return typ, env, nil, nil
		}
		return typ, env, nil, errors.New("unknown command type")
	}
	if err := json.Unmarshal(b[1:], &env); err != nil {
		return typ, env, nil, err
	}
	if err := json.Unmarshal(env.V, cmd); err != nil {
		return typ, env, nil, err
	}
	return typ, env, cmd, nil
}
