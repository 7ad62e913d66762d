// Package release defines the release: everything that decides an answer
// (the zone files, the steering configuration of regions and pools, and the
// cluster's decision rules) as one value with a content digest, which the
// Raft log carries to every site. A site answers from the release in the
// log, never from files only it has.
//
// The package holds the value and its encoding only: building a release
// from files and compiling it into zones and pools is the site package's
// job, applying it is the cluster's. A Release is never modified after it
// is made.
package release

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
	"time"
)

// Limits of a release, checked by Validate: a release travels in one Raft
// log entry and sits in every snapshot.
const (
	MaxFiles     = 4096
	MaxTotalSize = 64 << 20 // bytes of all files together
	MaxNameLen   = 255
	// MaxNoteLen bounds By and Source, which are outside the digest and
	// repeated in every node's history and status.
	MaxNoteLen = 1024
)

// File is one file of a release: the steering configuration or a zone file
// (or a file a zone $INCLUDEs). Name is slash-separated and relative to its
// root (the configuration's directory for Config, the zones directory for
// Zones); it is what errors name.
type File struct {
	Name string `json:"name"`
	Data []byte `json:"data"`
}

// Rules are the cluster's decision rules, derived from the configuration
// when the release is built, so that the state machine applies them
// without parsing anything.
type Rules struct {
	// FreshFor: a site's report counts for this long after its
	// leader-stamped time (cluster.fresh_for).
	FreshFor time.Duration `json:"fresh_for"`
	// ReportInterval: how often sites re-report what they probe
	// (cluster.report_interval).
	ReportInterval time.Duration `json:"report_interval"`
	// MinUp lists the pool regions that need more than one endpoint up.
	MinUp []MinUp `json:"min_up,omitempty"`
	// Shed says when a loaded region sheds clients (cluster.shed).
	Shed Shed `json:"shed"`
}

// MinUp is a pool region's min_endpoints.
type MinUp struct {
	Pool   string `json:"pool"`
	Region string `json:"region"`
	N      int    `json:"n"`
}

// Shed is cluster.shed.
type Shed struct {
	HighWater   float64 `json:"high_water"`
	LowWater    float64 `json:"low_water"`
	MaxFraction float64 `json:"max_fraction"`
	Step        float64 `json:"step"`
}

// Content is what a release is made of; its digest names it.
type Content struct {
	// Config is the steering configuration: the regions, pools, ecs and
	// the cluster's decision rules of the configuration file, with every
	// other line blanked, so that errors keep the file's line numbers and
	// nothing site-local (tokens, addresses) travels.
	Config File `json:"config"`
	// Zones are the *.zone files and the files they $INCLUDE, sorted by
	// name.
	Zones []File `json:"zones"`
	// Rules are the decision rules of Config, for the state machine.
	Rules Rules `json:"rules"`
}

// Release is a content with where it came from. The cluster sets Version,
// Index and At when it applies it.
type Release struct {
	Content
	// Digest is Content's digest (see Digest).
	Digest string `json:"digest"`
	// By and Source say who applied it and from what (a host, a git
	// commit); free text for humans.
	By     string `json:"by,omitempty"`
	Source string `json:"source,omitempty"`

	// Version counts the releases the cluster has applied (1 for the
	// first); Index is the log index and At the leader time of the entry.
	Version uint64    `json:"version,omitempty"`
	Index   uint64    `json:"index,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// Digest returns "sha256:" and the hex SHA-256 of c's canonical encoding:
// the configuration's data, every zone file as its name and data, each
// prefixed by its length, then the rules, so that no two different contents
// share an encoding. The configuration file's name is a label for errors,
// not content: sites whose files say the same under other names (s1.yaml,
// s2.yaml) build the same release.
func (c *Content) Digest() string {
	h := sha256.New()
	put := func(b []byte) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	putFile := func(f File) { put([]byte(f.Name)); put(f.Data) }
	put([]byte("aya-release-1"))
	put(c.Config.Data)
	put(fmt.Appendf(nil, "%d", len(c.Zones)))
	for _, f := range c.Zones {
		putFile(f)
	}
	r := c.Rules
	put(fmt.Appendf(nil, "%d %d %g %g %g %g", r.FreshFor, r.ReportInterval,
		r.Shed.HighWater, r.Shed.LowWater, r.Shed.MaxFraction, r.Shed.Step))
	put(fmt.Appendf(nil, "%d", len(r.MinUp)))
	for _, m := range r.MinUp {
		// Each name on its own: "a b"/"c" and "a"/"b c" are two rules.
		put([]byte(m.Pool))
		put([]byte(m.Region))
		put(fmt.Appendf(nil, "%d", m.N))
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// ShortDigest is the first 12 hex digits of a digest, for humans.
func ShortDigest(d string) string {
	d = strings.TrimPrefix(d, "sha256:")
	if len(d) > 12 {
		return d[:12]
	}
	return d
}

// New returns the release of c, with its digest, its files sorted and its
// minimums in a canonical order.
func New(c Content, by, source string) *Release {
	c.Zones = slices.Clone(c.Zones)
	slices.SortFunc(c.Zones, func(a, b File) int { return cmp.Compare(a.Name, b.Name) })
	c.Rules.MinUp = slices.Clone(c.Rules.MinUp)
	slices.SortFunc(c.Rules.MinUp, func(a, b MinUp) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.Region, b.Region))
	})
	return &Release{Content: c, Digest: c.Digest(), By: by, Source: source}
}

// Validate checks what every receiver of r relies on: its digest matches
// its content, and its files are within the limits, sorted, unique and
// named by clean relative paths.
func (r *Release) Validate() error {
	if r == nil {
		return errors.New("release: none")
	}
	if len(r.By) > MaxNoteLen || len(r.Source) > MaxNoteLen {
		return fmt.Errorf("release: by and source hold at most %d bytes each", MaxNoteLen)
	}
	if len(r.Zones) > MaxFiles {
		return fmt.Errorf("release: %d zone files, more than %d", len(r.Zones), MaxFiles)
	}
	total := len(r.Config.Data)
	if err := checkName(r.Config.Name); err != nil {
		return fmt.Errorf("release: config: %w", err)
	}
	for i, f := range r.Zones {
		if err := checkName(f.Name); err != nil {
			return fmt.Errorf("release: zones: %w", err)
		}
		if i > 0 && r.Zones[i-1].Name >= f.Name {
			return fmt.Errorf("release: zones: %q not sorted or repeated", f.Name)
		}
		total += len(f.Data)
	}
	if total > MaxTotalSize {
		return fmt.Errorf("release: %d bytes of files, more than %d", total, MaxTotalSize)
	}
	for _, m := range r.Rules.MinUp {
		if m.N < 1 {
			return fmt.Errorf("release: min_up %s/%s: %d", m.Pool, m.Region, m.N)
		}
	}
	if r.Rules.FreshFor < 0 || r.Rules.ReportInterval < 0 {
		return errors.New("release: negative durations in the rules")
	}
	if d := r.Content.Digest(); d != r.Digest {
		return fmt.Errorf("release: digest %s does not match its content (%s)", r.Digest, d)
	}
	return nil
}

func checkName(name string) error {
	if name == "" || len(name) > MaxNameLen || !fs.ValidPath(name) || path.Clean(name) != name || name == "." {
		return fmt.Errorf("bad file name %q", name)
	}
	return nil
}

// ZonesFS returns r's zone files as a read-only fs.FS, for the zone parser
// and its $INCLUDEs: nothing outside the release can be read through it.
func (r *Release) ZonesFS() fs.FS { return filesFS(r.Zones) }

// Info is a release without its files: what status pages show.
type Info struct {
	Version uint64    `json:"version"`
	Digest  string    `json:"digest"`
	Index   uint64    `json:"index"`
	At      time.Time `json:"at,omitzero"`
	By      string    `json:"by,omitempty"`
	Source  string    `json:"source,omitempty"`
	Files   int       `json:"files"`
	Bytes   int       `json:"bytes"`
}

// Info returns r's Info; nil for a nil r.
func (r *Release) Info() *Info {
	if r == nil {
		return nil
	}
	n := len(r.Config.Data)
	for _, f := range r.Zones {
		n += len(f.Data)
	}
	return &Info{Version: r.Version, Digest: r.Digest, Index: r.Index, At: r.At, By: r.By, Source: r.Source,
		Files: 1 + len(r.Zones), Bytes: n}
}
