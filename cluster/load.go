package cluster

import (
	"cmp"
	"fmt"
	"maps"
	"math"
)

// CmdLoad is a proxy's report of its region's load (LoadReport).
const CmdLoad byte = 5

// LoadReport is what a region's proxy reports: its requests in flight
// against its capacity, with rate and latency for humans.
type LoadReport struct {
	Region    string  `json:"region"`
	Reporter  string  `json:"reporter"` // the proxy's node ID
	InFlight  int64   `json:"in_flight"`
	Capacity  int     `json:"capacity"`
	RPS       float64 `json:"rps"`
	P99Micros int64   `json:"p99_us"`
}

// Defaults of ShedRules.
const (
	DefaultHighWater   = 0.8
	DefaultLowWater    = 0.6
	DefaultMaxShed     = 0.5
	DefaultShedStep    = 0.1
	maxShedFractionCap = 0.95
)

// ShedRules say when a loaded region sheds clients to the next-best one.
// Utilisation is the sum of the fresh reports' in-flight requests over the
// sum of their capacities. Above HighWater the region sheds the share of
// its clients that brings it back to HighWater (estimated from the share it
// sheds already), at most MaxShed; below LowWater the share falls by Step
// at each report; in between it holds: the gap between the two marks is
// the hysteresis that keeps answers from flapping.
type ShedRules struct {
	HighWater, LowWater, MaxShed, Step float64
}

func (r ShedRules) withDefaults() ShedRules {
	if r.HighWater <= 0 {
		r.HighWater = DefaultHighWater
	}
	if r.LowWater <= 0 || r.LowWater > r.HighWater {
		r.LowWater = min(DefaultLowWater, r.HighWater)
	}
	if r.MaxShed <= 0 {
		r.MaxShed = DefaultMaxShed
	}
	r.MaxShed = min(r.MaxShed, maxShedFractionCap)
	if r.Step <= 0 {
		r.Step = DefaultShedStep
	}
	return r
}

// load is a reporter's latest report, at a log time.
type load struct {
	LoadReport
	At int64 `json:"at"`
}

// regionLoad is a region's load state in the FSM.
type regionLoad struct {
	Reports map[string]load `json:"reports"` // reporter → latest
	Shed    float64         `json:"shed"`
	Why     string          `json:"why,omitempty"`
	Since   int64           `json:"since,omitempty"` // log time of the last change of Shed
}

// utilisation sums the fresh reports of rl at log time now; ok is false
// when none is fresh.
func (f *FSM) utilisation(d *data, rl *regionLoad, now int64) (u float64, ok bool) {
	var inFlight, capacity int64
	for _, r := range rl.Reports {
		if !d.rules.fresh(r.At, now) || r.Capacity <= 0 {
			continue
		}
		inFlight += r.InFlight
		capacity += int64(r.Capacity)
	}
	if capacity == 0 {
		return 0, false
	}
	return float64(inFlight) / float64(capacity), true
}

// applyLoad records a load report and re-judges the region's shedding.
func (f *FSM) applyLoad(d *data, index uint64, at int64, c *LoadReport) (bool, error) {
	if c.Region == "" || c.Reporter == "" || c.Capacity < 0 || c.InFlight < 0 {
		return false, fmt.Errorf("load: region and reporter required, counts not negative")
	}
	rl := d.loads[c.Region]
	if rl == nil {
		rl = &regionLoad{Reports: map[string]load{}}
		d.loads[c.Region] = rl
	}
	rl.Reports[c.Reporter] = load{LoadReport: *c, At: at}
	u, ok := f.utilisation(d, rl, d.now)
	if !ok {
		return false, nil
	}
	r := d.rules.shed
	s := rl.Shed
	var why string
	switch {
	case u > r.HighWater:
		// The region sees (1-s) of its clients' demand D: u = D(1-s).
		// Shedding s' brings it to D(1-s') = HighWater.
		target := 1 - r.HighWater*(1-s)/u
		s = min(r.MaxShed, max(s, target))
		why = fmt.Sprintf("load %.0f%% of capacity, over the high water mark %.0f%%", 100*u, 100*r.HighWater)
	case u < r.LowWater && s > 0:
		s = max(0, s-r.Step)
		why = fmt.Sprintf("load %.0f%% of capacity, under the low water mark %.0f%%", 100*u, 100*r.LowWater)
	}
	s = math.Round(s*1000) / 1000 // steps of 0.1%: no churn from noise
	return f.setShed(d, index, c.Region, rl, s, why), nil
}

// setShed changes a region's shed share and records the decision.
func (f *FSM) setShed(d *data, index uint64, region string, rl *regionLoad, s float64, why string) bool {
	if s == rl.Shed {
		return false
	}
	f.record(d, Decision{At: logTime(d.now), Index: index, Region: region,
		From: shedState(rl.Shed), To: shedState(s), Why: why})
	rl.Shed, rl.Why, rl.Since = s, why, d.now
	return true
}

func shedState(s float64) string {
	if s == 0 {
		return "not shedding"
	}
	return fmt.Sprintf("shedding %.1f%%", 100*s)
}

// expireLoads stops the shedding of regions without a fresh load report:
// without its proxies' word, a region is not known to be loaded.
func (f *FSM) expireLoads(d *data, index uint64) bool {
	changed := false
	for _, region := range sortedKeys(d.loads, cmp.Compare[string]) {
		rl := d.loads[region]
		if rl.Shed == 0 {
			continue
		}
		if _, ok := f.utilisation(d, rl, d.now); !ok {
			changed = f.setShed(d, index, region, rl, 0, "no fresh load report") || changed
		}
	}
	return changed
}

// RegionLoadView is a region's load for View.
type RegionLoadView struct {
	Region      string           `json:"region"`
	Utilisation float64          `json:"utilisation"` // of the fresh reports; -1 when none is fresh
	Shed        float64          `json:"shed"`
	Why         string           `json:"why,omitempty"`
	Since       int64            `json:"since,omitempty"`
	Reports     []LoadReportView `json:"reports"`
}

// LoadReportView is a reporter's latest report.
type LoadReportView struct {
	LoadReport
	Age   Duration `json:"age"` // log-time age
	Fresh bool     `json:"fresh"`
}

func (f *FSM) loadViews(d *data) []RegionLoadView {
	out := []RegionLoadView{}
	for _, region := range sortedKeys(d.loads, cmp.Compare[string]) {
		rl := d.loads[region]
		v := RegionLoadView{Region: region, Utilisation: -1, Shed: rl.Shed, Why: rl.Why, Since: rl.Since, Reports: []LoadReportView{}}
		if u, ok := f.utilisation(d, rl, d.now); ok {
			v.Utilisation = u
		}
		for _, rep := range sortedKeys(rl.Reports, cmp.Compare[string]) {
			r := rl.Reports[rep]
			v.Reports = append(v.Reports, LoadReportView{LoadReport: r.LoadReport, Age: Duration(d.now - r.At), Fresh: d.rules.fresh(r.At, d.now)})
		}
		out = append(out, v)
	}
	return out
}

// cloneLoads deep-copies the load state for a snapshot.
func cloneLoads(m map[string]*regionLoad) map[string]*regionLoad {
	out := make(map[string]*regionLoad, len(m))
	for k, rl := range m {
		c := *rl
		c.Reports = maps.Clone(rl.Reports)
		if c.Reports == nil {
			c.Reports = map[string]load{}
		}
		out[k] = &c
	}
	return out
}
