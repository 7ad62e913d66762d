package cluster

import (
	"cmp"
	"context"
	"errors"
	"maps"
	"time"
)

// CmdSite is a site's report of what it runs (SiteInfo); informational,
// so binaries that do not know it skip it (IgnoreUnknown).
const CmdSite byte = IgnoreUnknown | 7

// SiteInfo is what a site runs that can still differ between sites: its
// binary, its geo database, the release its DNS server publishes, and the
// release its own files would make. Sites report it when it changes, and
// every node compares them (View.Differ).
type SiteInfo struct {
	ID      string `json:"id"`
	Version string `json:"version,omitempty"` // aya's version
	// Geo is the digest of the geo database and overrides files ("" for
	// none), GeoInfo a description for humans.
	Geo     string `json:"geo,omitempty"`
	GeoInfo string `json:"geo_info,omitempty"`
	// Published is the digest of the release the site's DNS server
	// publishes; Local the digest of the release its own files build
	// ("" when they do not).
	Published string `json:"published,omitempty"`
	Local     string `json:"local,omitempty"`
	// At is the log time of the report.
	At time.Time `json:"at"`
}

var errEmptySite = errors.New("site: empty id")

// settle is how long after a release its sites may still publish the
// previous one before View.Differ calls them out.
const settle = 5 * time.Second

// applySite records a site's report.
func (f *FSM) applySite(d *data, at int64, s *SiteInfo) (bool, error) {
	if s.ID == "" {
		return false, errEmptySite
	}
	nr := *s
	nr.At = logTime(at)
	d.sites[s.ID] = nr
	return false, nil
}

// differ compares the sites' reports: for each of "version", "geo",
// "release" (a site publishing another release than the log's, settle
// after it) and "local" (a site whose own files differ from the release),
// the sites concerned, each with its value. Empty when all agree.
func differ(d *data) map[string][]string {
	out := map[string][]string{}
	ids := sortedKeys(d.sites, cmp.Compare[string])
	group := func(what string, val func(SiteInfo) string) {
		vals := map[string]bool{}
		for _, id := range ids {
			if v := val(d.sites[id]); v != "" {
				vals[v] = true
			}
		}
		if len(vals) < 2 {
			return
		}
		for _, id := range ids {
			if v := val(d.sites[id]); v != "" {
				out[what] = append(out[what], id+"="+short(v))
			}
		}
	}
	group("version", func(s SiteInfo) string { return s.Version })
	group("geo", func(s SiteInfo) string { return s.Geo })
	if d.rel != nil && time.Duration(d.now-d.rel.At.UnixNano()) > settle {
		for _, id := range ids {
			if p := d.sites[id].Published; p != "" && p != d.rel.Digest {
				out["release"] = append(out["release"], id+"="+short(p))
			}
		}
	}
	if d.rel != nil {
		for _, id := range ids {
			if l := d.sites[id].Local; l != "" && l != d.rel.Digest {
				out["local"] = append(out["local"], id+"="+short(l))
			}
		}
	}
	return out
}

func short(v string) string {
	if len(v) > 7 && v[:7] == "sha256:" {
		v = v[7:]
	}
	if len(v) > 12 {
		v = v[:12]
	}
	return v
}

// Site returns what the log holds of site id.
func (f *FSM) Site(id string) (SiteInfo, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.d.sites[id]
	return s, ok
}

// ReportSite records what this site runs, unless the log holds it already.
func (n *Node) ReportSite(ctx context.Context, s SiteInfo) error {
	s.ID = n.id
	if cur, ok := n.fsm.Site(n.id); ok {
		cur.At = time.Time{}
		if cur == s {
			return nil
		}
	}
	return n.apply(ctx, CmdSite, s)
}

func cloneSites(m map[string]SiteInfo) map[string]SiteInfo { return maps.Clone(m) }
