package cluster

import (
	"cmp"
	"maps"
	"slices"
	"time"

	"github.com/aya-gslb/aya/state"
)

// View is a copy of the FSM's state for humans (aya status): the health
// matrix (every site's latest report of every endpoint), each endpoint's and
// region's decision and since when, drains, members' admin addresses and the
// recent decisions. Times are log (leader-stamped) times; ages are measured
// against Now, the newest log time, so every node shows the same view of the
// same index.
type View struct {
	Index   uint64    `json:"index"`   // last applied raft index
	Version uint64    `json:"version"` // Snapshot.Version
	Now     time.Time `json:"now"`     // newest leader-stamped time in the log
	// FreshFor is the rules' freshness window.
	FreshFor  Duration          `json:"fresh_for"`
	Endpoints []EndpointView    `json:"endpoints"`
	Regions   []RegionView      `json:"regions"`
	Drains    []DrainView       `json:"drains"`
	Loads     []RegionLoadView  `json:"loads"`
	Admins    map[string]string `json:"admins"` // member ID → admin API address
	History   []Decision        `json:"history"`
	// Sites is what each site runs; Differ, what differs between them
	// (see SiteInfo): "version", "geo", "release", "local", each with the
	// sites concerned as "id=value".
	Sites  []SiteInfo          `json:"sites"`
	Differ map[string][]string `json:"differ,omitempty"`
}

// EndpointView is an endpoint's decision and every site's latest report.
type EndpointView struct {
	state.EndpointKey
	Up      bool         `json:"up"`
	Why     string       `json:"why,omitempty"`
	Since   time.Time    `json:"since,omitzero"` // zero: never changed
	Reports []SiteReport `json:"reports"`
}

// SiteReport is a site's latest report of an endpoint.
type SiteReport struct {
	Site          string    `json:"site"`
	Up            bool      `json:"up"`
	At            time.Time `json:"at"`
	Age           Duration  `json:"age"`   // Now - At
	Fresh         bool      `json:"fresh"` // counted by the quorum rule
	LatencyMicros int64     `json:"latency_us"`
	Err           string    `json:"err,omitempty"`
}

// RegionView is a region's health in a pool, from its endpoints.
type RegionView struct {
	RegionKey
	Up    bool      `json:"up"`
	Why   string    `json:"why,omitempty"`
	Since time.Time `json:"since,omitzero"` // zero: never changed
}

// DrainView is an operator drain of a region (Endpoint empty) or endpoint.
type DrainView struct {
	Pool     string `json:"pool,omitempty"`
	Region   string `json:"region"`
	Endpoint string `json:"endpoint,omitempty"`
	Why      string `json:"why"`
}

// Target is the drain as aya drain names it: "eu-west", or
// "web/eu-west/euw1" for an endpoint.
func (d DrainView) Target() string {
	if d.Endpoint != "" {
		return d.Pool + "/" + d.Region + "/" + d.Endpoint
	}
	return d.Region
}

// View returns a copy of the state, sorted.
func (f *FSM) View() View {
	f.mu.Lock()
	defer f.mu.Unlock()
	d := f.d
	v := View{
		Index: d.index, Version: d.version, Now: logTime(d.now), FreshFor: Duration(d.rules.freshFor),
		Endpoints: []EndpointView{}, Regions: []RegionView{}, Drains: []DrainView{},
		Admins: maps.Clone(d.meta), History: slices.Clone(d.history),
		Loads: f.loadViews(d),
	}
	regions := map[RegionKey]bool{}
	for _, k := range sortedKeys(d.eps, cmpKey) {
		ep := d.eps[k]
		ev := EndpointView{EndpointKey: k, Up: ep.Up, Why: ep.Why, Reports: []SiteReport{}}
		if ep.Since != 0 {
			ev.Since = logTime(ep.Since)
		}
		for _, site := range sortedKeys(ep.Reports, cmp.Compare[string]) {
			r := ep.Reports[site]
			counted := d.rules.counts(site)
			ev.Reports = append(ev.Reports, SiteReport{
				Site: site, Up: r.Up, At: logTime(r.At), Age: Duration(d.now - r.At),
				Fresh: counted && d.rules.fresh(r.At, d.now), LatencyMicros: r.LatencyMicros, Err: r.Err,
			})
		}
		v.Endpoints = append(v.Endpoints, ev)
		regions[RegionKey{k.Pool, k.Region}] = true
	}
	for _, rk := range sortedKeys(regions, cmpRegion) {
		why, down := d.rdown[rk]
		rv := RegionView{RegionKey: rk, Up: !down, Why: why}
		if t, ok := d.rsince[rk]; ok {
			rv.Since = logTime(t)
		}
		v.Regions = append(v.Regions, rv)
	}
	for _, r := range sortedKeys(d.drReg, cmp.Compare[string]) {
		v.Drains = append(v.Drains, DrainView{Region: r, Why: d.drReg[r]})
	}
	for _, k := range sortedKeys(d.drEp, cmpKey) {
		v.Drains = append(v.Drains, DrainView{Pool: k.Pool, Region: k.Region, Endpoint: k.Endpoint, Why: d.drEp[k]})
	}
	if v.Admins == nil {
		v.Admins = map[string]string{}
	}
	v.Sites = []SiteInfo{}
	for _, id := range sortedKeys(d.sites, cmp.Compare[string]) {
		v.Sites = append(v.Sites, d.sites[id])
	}
	if df := differ(d); len(df) > 0 {
		v.Differ = df
	}
	return v
}

// Differ returns what differs between the sites (View.Differ).
func (f *FSM) Differ() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return differ(f.d)
}

// Admin returns the admin API address recorded for member id.
func (f *FSM) Admin(id string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.d.meta[id]
	return a, ok
}

// Admins returns a copy of the members' admin addresses (View.Admins),
// without the rest of the view.
func (f *FSM) Admins() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return maps.Clone(f.d.meta)
}
