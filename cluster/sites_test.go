package cluster

import (
	"reflect"
	"testing"
	"time"

	"github.com/aya-gslb/aya/release"
)

// TestDiffer: the rows of what sites run differently, and the settle time
// a release gives its sites before those that still publish the previous
// one are called out.
func TestDiffer(t *testing.T) {
	const (
		dA = "sha256:aaaaaaaaaaaa0000"
		dB = "sha256:bbbbbbbbbbbb1111"
	)
	rel := &release.Release{Digest: dA, At: t0}
	for _, tc := range []struct {
		name  string
		rel   *release.Release
		after time.Duration // log time since the release
		sites []SiteInfo
		want  map[string][]string
	}{
		{"agree", rel, time.Minute, []SiteInfo{
			{ID: "s1", Version: "1.0", Geo: "sha256:g1", Published: dA, Local: dA},
			{ID: "s2", Version: "1.0", Geo: "sha256:g1", Published: dA, Local: dA},
		}, map[string][]string{}},
		{"version", rel, time.Minute, []SiteInfo{
			{ID: "s2", Version: "1.1"}, {ID: "s1", Version: "1.0"}, {ID: "s3"},
		}, map[string][]string{"version": {"s1=1.0", "s2=1.1"}}},
		{"geo", rel, time.Minute, []SiteInfo{
			{ID: "s1", Geo: "sha256:1111111111112222"}, {ID: "s2", Geo: "sha256:3333333333334444"},
		}, map[string][]string{"geo": {"s1=111111111111", "s2=333333333333"}}},
		{"release within settle", rel, settle, []SiteInfo{
			{ID: "s1", Published: dA}, {ID: "s2", Published: dB},
		}, map[string][]string{}},
		{"release after settle", rel, settle + time.Nanosecond, []SiteInfo{
			{ID: "s1", Published: dA}, {ID: "s2", Published: dB}, {ID: "s3"},
		}, map[string][]string{"release": {"s2=bbbbbbbbbbbb"}}},
		{"local", rel, 0, []SiteInfo{
			{ID: "s1", Local: dA}, {ID: "s2", Local: dB}, {ID: "s3", Local: ""},
		}, map[string][]string{"local": {"s2=bbbbbbbbbbbb"}}},
		{"no release", nil, time.Hour, []SiteInfo{
			{ID: "s1", Published: dA, Local: dA}, {ID: "s2", Published: dB, Local: dB},
		}, map[string][]string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newData(three)
			d.rel = tc.rel
			d.now = t0.Add(tc.after).UnixNano()
			for _, s := range tc.sites {
				d.sites[s.ID] = s
			}
			if got := differ(d); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("differ %v, want %v", got, tc.want)
			}
		})
	}
}

// TestApplySite: a site's report is recorded at its log time; one without
// an id is refused.
func TestApplySite(t *testing.T) {
	f := NewFSM(three, nil)
	if err := applyEntry(t, f, 1, CmdSite, SiteInfo{ID: "s1", Version: "1.0", At: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	s, ok := f.Site("s1")
	if !ok || s.Version != "1.0" || !s.At.Equal(t0.Add(time.Second)) {
		t.Errorf("site %+v %v", s, ok)
	}
	if err := applyEntry(t, f, 2, CmdSite, SiteInfo{Version: "1.0"}); err == nil {
		t.Error("a report without an id")
	}
}
