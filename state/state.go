// Package state holds the decision snapshot: which endpoints are down and
// which regions and endpoints are drained, as one immutable value. The DNS
// path reads it through Source; the cluster (a later part) publishes it.
// A Snapshot is never modified after it is published.
package state

import "sync/atomic"

// EndpointKey names an endpoint of a pool's region.
type EndpointKey struct {
	Pool, Region, Endpoint string
}

// Snapshot is the health and drain state of every endpoint and region.
// Absent keys mean up and not drained: until probes exist, every endpoint is
// up (the config says so), and a zero Snapshot is the all-up state.
type Snapshot struct {
	// Version increases with every published change.
	Version uint64
	// Down holds endpoints judged down, with why.
	Down map[EndpointKey]string
	// DrainedRegions and DrainedEndpoints hold operator drains, with the reason.
	DrainedRegions   map[string]string
	DrainedEndpoints map[EndpointKey]string
	// Shed holds the regions that shed a share of their clients to the
	// next-best region because their proxy tier is loaded.
	Shed map[string]Shed
}

// Shed is a region's load shedding: the fraction of client subnets (chosen
// by a hash of the subnet, so the same ones every time) sent elsewhere.
type Shed struct {
	Fraction float64 // in (0, 1)
	Why      string
}

// RegionShed reports whether the region sheds load, and how much.
func (s *Snapshot) RegionShed(region string) (Shed, bool) {
	if s == nil {
		return Shed{}, false
	}
	sh, ok := s.Shed[region]
	return sh, ok && sh.Fraction > 0
}

// EndpointDown reports whether the endpoint is down, and why.
func (s *Snapshot) EndpointDown(k EndpointKey) (string, bool) {
	if s == nil {
		return "", false
	}
	why, ok := s.Down[k]
	return why, ok
}

// RegionDrained reports whether the region is drained, and why.
func (s *Snapshot) RegionDrained(region string) (string, bool) {
	if s == nil {
		return "", false
	}
	why, ok := s.DrainedRegions[region]
	return why, ok
}

// EndpointDrained reports whether the endpoint is drained, and why.
func (s *Snapshot) EndpointDrained(k EndpointKey) (string, bool) {
	if s == nil {
		return "", false
	}
	why, ok := s.DrainedEndpoints[k]
	return why, ok
}

// Source gives the current snapshot. Current must be cheap and lock-free:
// it is called for every query.
type Source interface {
	Current() *Snapshot
}

// Static is a Source whose snapshot changes only by Set: the all-up state
// until probes exist, and a real implementation for tests.
type Static struct {
	cur atomic.Pointer[Snapshot]
}

// NewStatic returns a Static holding s (nil: the all-up state).
func NewStatic(s *Snapshot) *Static {
	st := &Static{}
	st.Set(s)
	return st
}

// Current implements Source.
func (st *Static) Current() *Snapshot { return st.cur.Load() }

// Set publishes s.
func (st *Static) Set(s *Snapshot) {
	if s == nil {
		s = &Snapshot{}
	}
	st.cur.Store(s)
}
