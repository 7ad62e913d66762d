package state

import "testing"

func TestSnapshot(t *testing.T) {
	k := EndpointKey{Pool: "web", Region: "eu-west", Endpoint: "euw1"}
	other := EndpointKey{Pool: "web", Region: "eu-west", Endpoint: "euw2"}
	s := &Snapshot{
		Down:             map[EndpointKey]string{k: "connection refused"},
		DrainedRegions:   map[string]string{"us-east": "maintenance"},
		DrainedEndpoints: map[EndpointKey]string{other: "kernel upgrade"},
	}
	tests := []struct {
		name string
		snap *Snapshot
		got  func(*Snapshot) (string, bool)
		why  string
		ok   bool
	}{
		{"down", s, func(s *Snapshot) (string, bool) { return s.EndpointDown(k) }, "connection refused", true},
		{"not down", s, func(s *Snapshot) (string, bool) { return s.EndpointDown(other) }, "", false},
		{"region drained", s, func(s *Snapshot) (string, bool) { return s.RegionDrained("us-east") }, "maintenance", true},
		{"region not drained", s, func(s *Snapshot) (string, bool) { return s.RegionDrained("eu-west") }, "", false},
		{"endpoint drained", s, func(s *Snapshot) (string, bool) { return s.EndpointDrained(other) }, "kernel upgrade", true},
		{"nil snapshot: all up", nil, func(s *Snapshot) (string, bool) { return s.EndpointDown(k) }, "", false},
		{"nil snapshot: nothing drained", nil, func(s *Snapshot) (string, bool) { return s.RegionDrained("us-east") }, "", false},
		{"zero snapshot: all up", &Snapshot{}, func(s *Snapshot) (string, bool) { return s.EndpointDrained(k) }, "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			why, ok := tc.got(tc.snap)
			if why != tc.why || ok != tc.ok {
				t.Errorf("got (%q, %v), want (%q, %v)", why, ok, tc.why, tc.ok)
			}
		})
	}
}

func TestStatic(t *testing.T) {
	st := NewStatic(nil)
	if cur := st.Current(); cur == nil || len(cur.Down) != 0 {
		t.Fatalf("NewStatic(nil).Current() = %+v, want the all-up snapshot", cur)
	}
	next := &Snapshot{Version: 2}
	st.Set(next)
	if st.Current() != next {
		t.Error("Set did not publish the snapshot")
	}
	st.Set(nil)
	if cur := st.Current(); cur == nil || cur.Version != 0 {
		t.Errorf("Set(nil) published %+v, want the all-up snapshot", cur)
	}
}
