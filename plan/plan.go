package plan

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/aya-gslb/aya/geo"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// Side is one release's steering: its steered names and its pools.
type Side struct {
	// Names are the steered names of every zone, each bound to a pool.
	Names []Name
	// Pools are the release's pools by name.
	Pools map[string]*policy.Pool
	// State, when set, is the state this side is decided under instead of
	// the snapshot given to Compute: a plan of a drain or of shedding keeps
	// the release and changes the state.
	State *state.Snapshot
}

// Name is a steered name: the FQDN (compared without regard to case or a
// final dot) and the pool it is bound to.
type Name struct{ Name, Pool string }

// Networks is the geo database a plan runs over; *geo.DB is one. Networks
// yields every network it places with the Location that Lookup gives each
// of its addresses (see geo.DB.Networks).
type Networks interface {
	Networks(yield func(netip.Prefix, geo.Location) bool)
	Lookup(netip.Addr) geo.Location
}

// Options tune a plan.
type Options struct {
	// MaxPrefixV4 and MaxPrefixV6 are the server's caps on client subnets
	// (the ecs.max_prefix_v4 and ecs.max_prefix_v6 settings); 0 means the
	// policy defaults, 24 and 56.
	MaxPrefixV4, MaxPrefixV6 int
	// Samples is how many client subnets a move lists per family (default
	// 3; negative: none).
	Samples int
	// Workers is how many goroutines decide (default GOMAXPROCS).
	Workers int
}

// ErrUnknownPool means a name is bound to a pool its side does not have.
var ErrUnknownPool = errors.New("unknown pool")

// Compute decides, for every steered name of either side and every network
// of db, the answer of each side under snap (or the side's own State), and
// reports the networks whose answer changes: another region, another set
// of addresses (compared as sets), or another outcome. An IPv4 network is
// asked for A, an IPv6 one for AAAA; its client is policy.ECSClient of the
// network, as the DNS server builds it for an ECS query of that network.
// Names whose pool and state are the same on both sides are reported
// unchanged without deciding them.
//
// Compute returns ctx's error when ctx is done before the end.
func Compute(ctx context.Context, db Networks, before, after Side, snap *state.Snapshot, opt Options) (*Report, error) {
	names, err := pair(before, after, snap)
	if err != nil {
		return nil, err
	}
	opt = opt.withDefaults()

	var work []*job // the names that may change
	for i := range names {
		if !names[i].same {
			work = append(work, &names[i])
		}
	}
	parts := make([]*partial, opt.Workers)
	chunks := make(chan []entry, opt.Workers)
	free := make(chan []entry, 2*opt.Workers)
	var wg sync.WaitGroup
	for i := range parts {
		p := newPartial(db, work, opt)
		parts[i] = p
		wg.Go(func() {
			for c := range chunks {
				if ctx.Err() == nil {
					for j := range c {
						p.network(&c[j])
					}
				}
				select {
				case free <- c[:0]:
				default:
				}
			}
		})
	}
	produce(ctx, db, chunks, free)
	close(chunks)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return report(names, parts, opt), nil
}

// chunkSize is how many networks a worker takes at a time.
const chunkSize = 4096

// entry is one network of the database and its location.
type entry struct {
	p   netip.Prefix
	loc geo.Location
}

// produce walks db into chunks until the end or ctx is done.
func produce(ctx context.Context, db Networks, chunks chan<- []entry, free <-chan []entry) {
	next := func() []entry {
		select {
		case c := <-free:
			return c
		default:
			return make([]entry, 0, chunkSize)
		}
	}
	c := next()
	for p, loc := range db.Networks {
		c = append(c, entry{p, loc})
		if len(c) < chunkSize {
			continue
		}
		select {
		case chunks <- c:
		case <-ctx.Done():
			return
		}
		c = next()
	}
	if len(c) > 0 {
		select {
		case chunks <- c:
		case <-ctx.Done():
		}
	}
}

func (o Options) withDefaults() Options {
	if o.Samples == 0 {
		o.Samples = 3
	}
	o.Samples = max(o.Samples, 0)
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	return o
}

// job is one steered name: its pool and state on each side (nil pool:
// not steered there).
type job struct {
	idx                     int
	name                    string
	poolBefore, poolAfter   string
	before, after           *policy.Pool
	stateBefore, stateAfter *state.Snapshot
	// same is set when both sides answer alike for certain.
	same bool
}

// canonical is a name as the report keys it: lower case, final dot.
func canonical(name string) string {
	name = strings.ToLower(name)
	if !strings.HasSuffix(name, ".") {
		name += "."
	}
	return name
}

// bindings checks a side's names and returns name → pool.
func bindings(which string, s Side) (map[string]string, error) {
	out := make(map[string]string, len(s.Names))
	var errs []error
	for _, n := range s.Names {
		name := canonical(n.Name)
		if s.Pools[n.Pool] == nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w %q", which, name, ErrUnknownPool, n.Pool))
			continue
		}
		if p, dup := out[name]; dup && p != n.Pool {
			errs = append(errs, fmt.Errorf("%s: %s: bound to pools %q and %q", which, name, p, n.Pool))
			continue
		}
		out[name] = n.Pool
	}
	return out, errors.Join(errs...)
}

// pair lines up the names of both sides, in name order.
func pair(before, after Side, snap *state.Snapshot) ([]job, error) {
	b, errB := bindings("before", before)
	a, errA := bindings("after", after)
	if err := errors.Join(errB, errA); err != nil {
		return nil, err
	}
	stB, stA := cmp.Or(before.State, snap), cmp.Or(after.State, snap)
	var names []string
	for n := range b {
		names = append(names, n)
	}
	for n := range a {
		if _, ok := b[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	jobs := make([]job, len(names))
	for i, n := range names {
		j := job{idx: i, name: n, poolBefore: b[n], poolAfter: a[n], stateBefore: stB, stateAfter: stA}
		if j.poolBefore != "" {
			j.before = before.Pools[j.poolBefore]
		}
		if j.poolAfter != "" {
			j.after = after.Pools[j.poolAfter]
		}
		j.same = j.before != nil && j.after != nil &&
			(j.before == j.after || reflect.DeepEqual(*j.before, *j.after)) &&
			(stB == stA || reflect.DeepEqual(stB, stA))
		jobs[i] = j
	}
	return jobs, nil
}

// partial is one worker's tallies.
type partial struct {
	db    Networks
	jobs  []*job
	opt   Options
	total Count
	// decisions are reused per job and side: a Decision keeps the
	// distances of the last coordinates for its pool (neighbours share a
	// city), which one shared by the jobs would forget at every call.
	decisions [][2]policy.Decision
	moves     map[moveKey]*moveTally
	countries map[countryKey]*Count
	// hot is, per job, the last move and country counted.
	hot []hot
	// last is the previous network's client and where its changes were
	// counted, per job (nil: unchanged).
	last struct {
		valid     bool
		client    policy.Client
		moves     []*moveTally
		countries []*Count
	}
}

// hot is the last move and country counted for a job.
type hot struct {
	moveKey    moveKey
	move       *moveTally
	countryKey countryKey
	country    *Count
}

type moveKey struct {
	job      int
	from, to Outcome
}

type countryKey struct {
	job     int
	country string
}

type moveTally struct {
	count Count
	// v4 and v6 are the sample candidates with the lowest ranks, at most
	// opt.Samples each, sorted by rank.
	v4, v6 []sample
}

type sample struct {
	rank   uint64
	subnet netip.Prefix
}

func newPartial(db Networks, jobs []*job, opt Options) *partial {
	w := &partial{db: db, jobs: jobs, opt: opt, moves: map[moveKey]*moveTally{}, countries: map[countryKey]*Count{}}
	w.last.moves, w.last.countries = make([]*moveTally, len(jobs)), make([]*Count, len(jobs))
	w.hot = make([]hot, len(jobs))
	w.decisions = make([][2]policy.Decision, len(jobs))
	return w
}

// network decides every name for the client of network e on both sides.
// Networks longer than the subnet cap that share a subnet have one client:
// when e's client is the previous network's, the previous decisions are
// counted again rather than made again (Decide is a pure function).
func (w *partial) network(e *entry) {
	w.total.add(e.p)
	if len(w.jobs) == 0 {
		return
	}
	fam := policy.IPv6
	if e.p.Addr().Is4() {
		fam = policy.IPv4
	}
	// The client the server answers for an ECS query of this network; the
	// network's own location serves every address inside it.
	lookup := func(a netip.Addr) geo.Location {
		switch {
		case e.p.Contains(a):
			return e.loc
		case w.last.valid && a == w.last.client.Addr:
			return w.last.client.Loc
		}
		return w.db.Lookup(a)
	}
	c, subnet := policy.ECSClient(e.p.Addr(), e.p.Bits(), w.opt.MaxPrefixV4, w.opt.MaxPrefixV6, lookup)
	if w.last.valid && c == w.last.client {
		for i := range w.jobs {
			if m := w.last.moves[i]; m != nil {
				m.count.add(e.p)
				w.last.countries[i].add(e.p)
			}
		}
		return
	}
	w.last.valid, w.last.client = true, c
	for i, j := range w.jobs {
		w.last.moves[i], w.last.countries[i] = nil, nil
		d := &w.decisions[i]
		from := decide(j.before, c, fam, j.stateBefore, &d[0])
		to := decide(j.after, c, fam, j.stateAfter, &d[1])
		if from == to && sameSet(d[0].Addrs, d[1].Addrs) {
			continue
		}
		m := w.move(i, moveKey{job: j.idx, from: from, to: to})
		m.count.add(e.p)
		if fam == policy.IPv4 {
			m.v4 = offer(m.v4, subnet, w.opt.Samples)
		} else {
			m.v6 = offer(m.v6, subnet, w.opt.Samples)
		}
		cc := w.country(i, countryKey{job: j.idx, country: c.Loc.Country})
		cc.add(e.p)
		w.last.moves[i], w.last.countries[i] = m, cc
	}
}

// move is the tally of k, the move of the i-th job; neighbours mostly
// move alike, so the job's last one is tried before the map.
func (w *partial) move(i int, k moveKey) *moveTally {
	return cached(w.moves, &w.hot[i].moveKey, &w.hot[i].move, k)
}

// country is the count of k for the i-th job, as move.
func (w *partial) country(i int, k countryKey) *Count {
	return cached(w.countries, &w.hot[i].countryKey, &w.hot[i].country, k)
}

// cached returns m[k], made when missing, trying the last key and value
// (*hk, *hv) first, and makes k and it the last ones.
func cached[K comparable, V any](m map[K]*V, hk *K, hv **V, k K) *V {
	if *hv != nil && *hk == k {
		return *hv
	}
	v := m[k]
	if v == nil {
		v = new(V)
		m[k] = v
	}
	*hk, *hv = k, v
	return v
}

// decide is the outcome of pool p (nil: not steered) for c; d holds the
// addresses.
func decide(p *policy.Pool, c policy.Client, fam policy.Family, snap *state.Snapshot, d *policy.Decision) Outcome {
	if p == nil {
		d.Addrs = d.Addrs[:0]
		return Outcome{Unsteered: true}
	}
	policy.Decide(p, c, fam, snap, d)
	return Outcome{Region: d.Region, Fallback: d.Fallback}
}

// sameSet reports whether a and b hold the same addresses, in any order.
// Decide answers distinct addresses, a handful of them.
func sameSet(a, b []netip.Addr) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// offer keeps subnet among the n samples of lowest rank, once.
func offer(s []sample, subnet netip.Prefix, n int) []sample {
	if n == 0 {
		return s
	}
	r := rank(subnet)
	if len(s) == n && r >= s[n-1].rank {
		return s
	}
	i, _ := slices.BinarySearchFunc(s, r, func(x sample, r uint64) int { return cmp.Compare(x.rank, r) })
	for k := i; k < len(s) && s[k].rank == r; k++ {
		if s[k].subnet == subnet {
			return s // networks longer than the cap share their subnet
		}
	}
	s = slices.Insert(s, i, sample{rank: r, subnet: subnet})
	if len(s) > n {
		s = s[:n]
	}
	return s
}

// rank is a fixed hash of a subnet (the 64-bit finalizer of MurmurHash3
// over its address and length): samples spread over the address space,
// and the same inputs always give the same ones.
func rank(p netip.Prefix) uint64 {
	b := p.Addr().As16()
	h := binary.BigEndian.Uint64(b[:8])
	h = policy.Mix64(h ^ binary.BigEndian.Uint64(b[8:]))
	return policy.Mix64(h ^ uint64(p.Bits()))
}

// compareOutcomes orders outcomes by their text, then their fields.
func compareOutcomes(a, b Outcome) int {
	return cmp.Or(cmp.Compare(a.String(), b.String()), cmp.Compare(a.Region, b.Region),
		cmp.Compare(a.Fallback, b.Fallback), compareBool(a.Unsteered, b.Unsteered))
}

func compareBool(a, b bool) int {
	switch {
	case a == b:
		return 0
	case a:
		return 1
	}
	return -1
}

// report merges the workers' tallies into the Report.
func report(jobs []job, parts []*partial, opt Options) *Report {
	r := &Report{Format: Format, Names: make([]NameChange, len(jobs))}
	moves := map[moveKey]*moveTally{}
	countries := map[countryKey]*Count{}
	for _, p := range parts {
		r.Networks.merge(p.total)
		for k, m := range p.moves {
			t := moves[k]
			if t == nil {
				t = &moveTally{}
				moves[k] = t
			}
			t.count.merge(m.count)
			for _, s := range m.v4 {
				t.v4 = offer(t.v4, s.subnet, opt.Samples)
			}
			for _, s := range m.v6 {
				t.v6 = offer(t.v6, s.subnet, opt.Samples)
			}
		}
		for k, c := range p.countries {
			t := countries[k]
			if t == nil {
				t = &Count{}
				countries[k] = t
			}
			t.merge(*c)
		}
	}
	for i, j := range jobs {
		r.Names[i] = NameChange{Name: j.name, PoolBefore: j.poolBefore, PoolAfter: j.poolAfter, Moves: []Move{}, Countries: []CountryCount{}}
	}
	for k, t := range moves {
		n := &r.Names[k.job]
		m := Move{From: k.from, To: k.to, Count: t.count, Samples: []netip.Prefix{}}
		for _, s := range [][]sample{t.v4, t.v6} {
			start := len(m.Samples)
			for _, x := range s {
				m.Samples = append(m.Samples, x.subnet)
			}
			slices.SortFunc(m.Samples[start:], netip.Prefix.Compare)
		}
		n.Moves = append(n.Moves, m)
		n.Changed.merge(t.count)
	}
	for k, c := range countries {
		n := &r.Names[k.job]
		n.Countries = append(n.Countries, CountryCount{Country: k.country, Count: *c})
	}
	for i := range r.Names {
		n := &r.Names[i]
		slices.SortFunc(n.Moves, func(a, b Move) int {
			return cmp.Or(compareCounts(a.Count, b.Count), compareOutcomes(a.From, b.From), compareOutcomes(a.To, b.To))
		})
		slices.SortFunc(n.Countries, func(a, b CountryCount) int {
			return cmp.Or(compareCounts(a.Count, b.Count), cmp.Compare(a.Country, b.Country))
		})
	}
	return r
}
