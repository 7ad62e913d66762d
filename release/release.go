// Package release defines the release: everything that decides an answer
// (the zone files, the steering configuration of regions and pools, the
// cluster's decision rules, and the DNSSEC signatures of the signed zones,
// never a key) as one value with a content digest, which the
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

	"github.com/miekg/dns"

	"github.com/aya-gslb/aya/internal/names"
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
	// Signed are the DNSSEC signatures of the signed zones, sorted by
	// zone, one per zone at most, each of a zone file of Zones: what a
	// signer made from these zone files with the zone's keys. Every site
	// attaches them to the zones it parses; no key travels.
	Signed []SignedZone `json:"signed,omitempty"`
}

// SignedZone is what signing adds to one zone, as text (master format,
// absolute owner names, one record a line), so that the release does not
// depend on a DNS library's types; sites parse it, bounded, when they
// compile the release.
type SignedZone struct {
	// Zone is the origin: lower-case, fully qualified.
	Zone string `json:"zone"`
	// Records are the DNSSEC records of the static zone, one a line:
	// DNSKEY, CDS and CDNSKEY at the apex, the NSEC chain, every RRSIG,
	// and the SOA as signed (its serial may be above the zone file's).
	Records string `json:"records"`
	// Steered are the signed address sets of the steered names.
	Steered []SignedSet `json:"steered,omitempty"`
	// Expires is the earliest expiration of any signature; Refresh is
	// when the signer signs again (Expires less dnssec.refresh).
	Expires time.Time `json:"expires"`
	Refresh time.Time `json:"refresh"`
}

// SignedSet is one address set a steered name can answer, with its RRSIGs.
type SignedSet struct {
	Name  string   `json:"name"` // owner, lower-case, fully qualified
	Type  string   `json:"type"` // "A" or "AAAA"
	TTL   uint32   `json:"ttl"`
	Addrs []string `json:"addrs"` // sorted
	Sigs  []string `json:"sigs"`  // RRSIG records, master format
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
	// Unsign lists the zones whose signatures this release drops on
	// purpose (aya apply --unsign): the cluster refuses a release without
	// the signatures of a zone the running release signs unless the zone
	// is listed here, so that a site without the keys that builds from
	// its files cannot unsign a zone by accident. Outside the digest, like
	// By: it says how the release was meant, not what it serves.
	Unsign []string `json:"unsign,omitempty"`
	// Resigns is the digest of the release this one re-signs (the signer
	// role sets it: the same content with new signatures). The cluster
	// refuses it unless that release is still the running one, so that a
	// re-sign of an older release, made while a newer one was applied,
	// never puts the older content back. Outside the digest, like Unsign.
	Resigns string `json:"resigns,omitempty"`

	// Version counts the releases the cluster has applied (1 for the
	// first); Index is the log index and At the leader time of the entry.
	Version uint64    `json:"version,omitempty"`
	Index   uint64    `json:"index,omitempty"`
	At      time.Time `json:"at,omitzero"`
}

// Digest returns "sha256:" and the hex SHA-256 of c's canonical encoding:
// the configuration's data, every zone file as its name and data, each
// prefixed by its length, then the rules, then (only when there are any)
// the signatures, so that no two different contents share an encoding and
// a release without signatures keeps the digest it had before releases
// could carry them. The configuration file's name is a label for errors,
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
	if len(c.Signed) > 0 {
		put([]byte("signed"))
		put(fmt.Appendf(nil, "%d", len(c.Signed)))
		for _, z := range c.Signed {
			put([]byte(z.Zone))
			put([]byte(z.Records))
			put([]byte(z.Expires.UTC().Format(time.RFC3339Nano)))
			put([]byte(z.Refresh.UTC().Format(time.RFC3339Nano)))
			put(fmt.Appendf(nil, "%d", len(z.Steered)))
			for _, s := range z.Steered {
				put([]byte(s.Name))
				put([]byte(s.Type))
				put(fmt.Appendf(nil, "%d %d %d", s.TTL, len(s.Addrs), len(s.Sigs)))
				for _, a := range s.Addrs {
					put([]byte(a))
				}
				for _, g := range s.Sigs {
					put([]byte(g))
				}
			}
		}
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
// minimums and signed zones in a canonical order.
func New(c Content, by, source string) *Release {
	c.Zones = slices.Clone(c.Zones)
	slices.SortFunc(c.Zones, func(a, b File) int { return cmp.Compare(a.Name, b.Name) })
	c.Rules.MinUp = slices.Clone(c.Rules.MinUp)
	slices.SortFunc(c.Rules.MinUp, func(a, b MinUp) int {
		return cmp.Or(cmp.Compare(a.Pool, b.Pool), cmp.Compare(a.Region, b.Region))
	})
	c.Signed = slices.Clone(c.Signed)
	slices.SortFunc(c.Signed, func(a, b SignedZone) int { return cmp.Compare(a.Zone, b.Zone) })
	if len(c.Signed) == 0 {
		c.Signed = nil
	}
	return &Release{Content: c, Digest: c.Digest(), By: by, Source: source}
}

// Validate checks what every receiver of r relies on: its digest matches
// its content, its files are within the limits, sorted, unique and named
// by clean relative paths, and its signed zones are sorted, unique, each
// of a zone file of the release, and within the size limit with the files
// (the records themselves are parsed by the sites that attach them).
func (r *Release) Validate() error {
	if r == nil {
		return errors.New("release: none")
	}
	if len(r.By) > MaxNoteLen || len(r.Source) > MaxNoteLen {
		return fmt.Errorf("release: by and source hold at most %d bytes each", MaxNoteLen)
	}
	if len(r.Unsign) > MaxFiles {
		return fmt.Errorf("release: unsign: %d zones, more than %d", len(r.Unsign), MaxFiles)
	}
	if len(r.Resigns) > len(r.Digest) {
		return fmt.Errorf("release: resigns: %q is not a release digest", r.Resigns[:min(len(r.Resigns), 80)])
	}
	for _, z := range r.Unsign {
		if err := checkZone(z); err != nil {
			return fmt.Errorf("release: unsign: %w", err)
		}
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
	signed, err := r.checkSigned()
	if err != nil {
		return err
	}
	if total += signed; total > MaxTotalSize {
		return fmt.Errorf("release: %d bytes of files and signatures, more than %d", total, MaxTotalSize)
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

// checkSigned checks r.Signed and returns its size in bytes.
func (r *Release) checkSigned() (int, error) {
	if len(r.Signed) == 0 {
		return 0, nil
	}
	if len(r.Signed) > MaxFiles {
		return 0, fmt.Errorf("release: signed: %d zones, more than %d", len(r.Signed), MaxFiles)
	}
	zones := map[string]bool{}
	for _, f := range r.Zones {
		if origin, ok := ZoneOfFile(f.Name); ok {
			zones[origin] = true
		}
	}
	total := 0
	for i, z := range r.Signed {
		if err := checkZone(z.Zone); err != nil {
			return 0, fmt.Errorf("release: signed: %w", err)
		}
		if i > 0 && r.Signed[i-1].Zone >= z.Zone {
			return 0, fmt.Errorf("release: signed: zone %s not sorted or repeated", z.Zone)
		}
		if !zones[z.Zone] {
			return 0, fmt.Errorf("release: signed: zone %s has no zone file in the release", z.Zone)
		}
		if z.Records == "" {
			return 0, fmt.Errorf("release: signed: zone %s: no records", z.Zone)
		}
		if z.Expires.IsZero() || z.Refresh.IsZero() || z.Refresh.After(z.Expires) {
			return 0, fmt.Errorf("release: signed: zone %s: refresh %s and expiry %s: both set, refresh first", z.Zone,
				z.Refresh.UTC().Format(time.RFC3339), z.Expires.UTC().Format(time.RFC3339))
		}
		total += len(z.Zone) + len(z.Records)
		for _, s := range z.Steered {
			if err := checkZone(s.Name); err != nil || !inZone(s.Name, z.Zone) {
				return 0, fmt.Errorf("release: signed: zone %s: steered name %q not in the zone", z.Zone, s.Name)
			}
			if s.Type != "A" && s.Type != "AAAA" {
				return 0, fmt.Errorf("release: signed: zone %s: %s: type %q, not A or AAAA", z.Zone, s.Name, s.Type)
			}
			if len(s.Addrs) == 0 || len(s.Sigs) == 0 {
				return 0, fmt.Errorf("release: signed: zone %s: %s %s: a set without addresses or signatures", z.Zone, s.Name, s.Type)
			}
			total += len(s.Name) + len(s.Type) + 4
			for _, a := range s.Addrs {
				total += len(a)
			}
			for _, g := range s.Sigs {
				total += len(g)
			}
			if total > MaxTotalSize {
				// Stop counting: the caller refuses it.
				return total, nil
			}
		}
	}
	return total, nil
}

// ZoneOfFile returns the origin of a zone file of a release: the name of
// a file at the top of the zones with the .zone suffix, fully qualified,
// in the spelling the zone is kept under (names.Canonical:
// "Example.com.zone": "example.com."); false for a file a zone includes.
// It is dnsserver.OriginFromFile for release file names.
func ZoneOfFile(name string) (string, bool) {
	if strings.Contains(name, "/") || !strings.HasSuffix(name, zoneSuffix) {
		return "", false
	}
	return names.Canonical(dns.Fqdn(strings.TrimSuffix(name, zoneSuffix))), true
}

const zoneSuffix = ".zone"

// checkZone checks that z is a lower-case, fully qualified domain name in
// presentation form without escapes.
func checkZone(z string) error {
	if z == "" || len(z) > MaxNameLen || !strings.HasSuffix(z, ".") || (z != "." && strings.HasPrefix(z, ".")) || strings.Contains(z, "..") {
		return fmt.Errorf("bad zone name %q", z)
	}
	for i := 0; i < len(z); i++ {
		c := z[i]
		if c <= ' ' || c >= 0x7f || c == '\\' || c == '"' || c == ';' || c == '(' || c == ')' || ('A' <= c && c <= 'Z') {
			return fmt.Errorf("bad zone name %q", z)
		}
	}
	return nil
}

// inZone reports whether name is zone or below it (both as checkZone
// accepts them).
func inZone(name, zone string) bool {
	return zone == "." || name == zone || strings.HasSuffix(name, "."+zone)
}

// SignedZone returns c's signatures of zone, or nil.
func (c *Content) SignedZone(zone string) *SignedZone {
	i, ok := slices.BinarySearchFunc(c.Signed, zone, func(z SignedZone, n string) int { return strings.Compare(z.Zone, n) })
	if !ok {
		return nil
	}
	return &c.Signed[i]
}

// UnsignedDigest is the digest of c without its signatures: the digest of
// the release built from the same files by a site that signs nothing, so
// that a site can tell its files from the running release's whether or
// not a signer signed it.
func (c *Content) UnsignedDigest() string {
	u := *c
	u.Signed = nil
	return u.Digest()
}

// Dropped returns the zones that cur signs and r does not, less those r
// lists in Unsign: the signatures r would drop by accident. None when cur
// is nil.
func (r *Release) Dropped(cur *Release) []string {
	if cur == nil {
		return nil
	}
	var out []string
	for _, z := range cur.Signed {
		if r.SignedZone(z.Zone) == nil && !slices.Contains(r.Unsign, z.Zone) {
			out = append(out, z.Zone)
		}
	}
	return out
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
	// Signed lists the signed zones with the earliest expiry and refresh
	// of their signatures.
	Signed []SignedInfo `json:"signed,omitempty"`
}

// SignedInfo is a signed zone of a release, without its records.
type SignedInfo struct {
	Zone    string    `json:"zone"`
	Expires time.Time `json:"expires"`
	Refresh time.Time `json:"refresh"`
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
	info := &Info{Version: r.Version, Digest: r.Digest, Index: r.Index, At: r.At, By: r.By, Source: r.Source,
		Files: 1 + len(r.Zones), Bytes: n}
	for _, z := range r.Signed {
		info.Signed = append(info.Signed, SignedInfo{Zone: z.Zone, Expires: z.Expires, Refresh: z.Refresh})
	}
	return info
}
