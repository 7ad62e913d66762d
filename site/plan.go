package site

import (
	"cmp"
	"slices"

	"github.com/aya-gslb/aya/cluster"
	"github.com/aya-gslb/aya/plan"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/state"
)

// PlanSide is the steering of a compiled release, for plan.Compute: every
// name its zones bind to a pool, and its pools.
func PlanSide(c *Compiled) plan.Side {
	s := plan.Side{Pools: map[string]*policy.Pool{}}
	for _, p := range c.Pools {
		s.Pools[p.Name] = p
	}
	for _, z := range c.Zones.List() {
		for name, pool := range z.Bindings() {
			s.Names = append(s.Names, plan.Name{Name: name, Pool: pool})
		}
	}
	slices.SortFunc(s.Names, func(a, b plan.Name) int { return cmp.Compare(a.Name, b.Name) })
	return s
}

// SnapshotOf rebuilds the decision snapshot a node answers from out of its
// status view: endpoints down (with their region's reason when the region
// is below its minimum), drains and shed shares.
func SnapshotOf(v cluster.View) *state.Snapshot {
	s := &state.Snapshot{Version: v.Version, Down: map[state.EndpointKey]string{},
		DrainedRegions: map[string]string{}, DrainedEndpoints: map[state.EndpointKey]string{}}
	down := map[cluster.RegionKey]string{}
	for _, r := range v.Regions {
		if !r.Up {
			down[r.RegionKey] = r.Why
		}
	}
	for _, e := range v.Endpoints {
		switch why, rdown := down[cluster.RegionKey{Pool: e.Pool, Region: e.Region}]; {
		case !e.Up:
			s.Down[e.EndpointKey] = e.Why
		case rdown:
			s.Down[e.EndpointKey] = why
		}
	}
	for _, d := range v.Drains {
		if d.Endpoint == "" {
			s.DrainedRegions[d.Region] = d.Why
		} else {
			s.DrainedEndpoints[state.EndpointKey{Pool: d.Pool, Region: d.Region, Endpoint: d.Endpoint}] = d.Why
		}
	}
	for _, l := range v.Loads {
		if l.Shed > 0 {
			if s.Shed == nil {
				s.Shed = map[string]state.Shed{}
			}
			s.Shed[l.Region] = state.Shed{Fraction: l.Shed, Why: l.Why}
		}
	}
	return s
}
