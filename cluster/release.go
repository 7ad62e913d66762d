package cluster

import (
	"fmt"
	"strings"
	"time"

	"github.com/aya-gslb/aya/release"
)

// CmdRelease is a new release (release.Release) for every site to answer
// from. It has the IgnoreUnknown bit: during a rolling upgrade, a binary
// from before releases skips it (and keeps answering from its own files)
// instead of taking it for a corrupt entry.
const CmdRelease byte = IgnoreUnknown | 6

// MaxClockAhead bounds how far ahead of the leader's clock an entry's time
// may be: Propose refuses more, and Apply skips an entry stamped more than
// this after the time the leader appended it.
const MaxClockAhead = time.Minute

// applyRelease makes r the release. A release with the running one's digest
// changes nothing; one that does not validate, or that drops the signatures
// of a zone the running release signs without saying so (CheckUnsign), or
// that re-signs another release than the running one (CheckResigns), is
// refused (alike on every node, since it is the same bytes and state
// everywhere).
func (f *FSM) applyRelease(d *data, index uint64, at int64, r *release.Release) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	if d.rel != nil && d.rel.Digest == r.Digest {
		return false, nil
	}
	if err := CheckUnsign(r, d.rel); err != nil {
		return false, err
	}
	if err := CheckResigns(r, d.rel); err != nil {
		return false, err
	}
	nr := *r
	nr.Version, nr.Index, nr.At = 1, index, logTime(at)
	from := "none"
	if d.rel != nil {
		nr.Version = d.rel.Version + 1
		from = fmt.Sprintf("%d (%s)", d.rel.Version, release.ShortDigest(d.rel.Digest))
	}
	d.rel = &nr
	d.rules = withRelease(f.base, &nr)
	why := fmt.Sprintf("release %d (%s) applied", nr.Version, release.ShortDigest(nr.Digest))
	if nr.By != "" {
		why += " by " + nr.By
	}
	if nr.Source != "" {
		why += " from " + nr.Source
	}
	f.record(d, Decision{At: logTime(at), Index: index, Region: "", From: from, To: fmt.Sprint(nr.Version), Why: why})
	f.rel.Store(&nr)
	return true, nil
}

// UnsignError is a release that drops the signatures of zones the running
// release signs, without asking to (release.Release.Unsign).
type UnsignError struct {
	Zones []string
}

func (e *UnsignError) Error() string {
	z := strings.Join(e.Zones, " ")
	return fmt.Sprintf("release drops the signatures of %s, which the running release signs: it was built without the zone's private keys (dnssec.keys_dir); build it on the signer, or apply with --unsign %s to serve the zone unsigned (validators then fail it while the parent has its DS)",
		z, strings.Join(e.Zones, " --unsign "))
}

// CheckUnsign refuses r when it drops the signatures of a zone that cur,
// the running release (nil: none), signs, unless r lists the zone in
// Unsign: so that a site without the keys that builds a release from its
// files cannot unsign a zone by accident.
func CheckUnsign(r, cur *release.Release) error {
	if dropped := r.Dropped(cur); len(dropped) > 0 {
		return &UnsignError{Zones: dropped}
	}
	return nil
}

// CheckResigns refuses r when it re-signs (release.Release.Resigns) a
// release other than cur, the running one (nil: none): the signer signed
// content that a newer release has replaced since, and applying it would
// put that content back. The signer re-signs the running release again.
func CheckResigns(r, cur *release.Release) error {
	if r.Resigns == "" || cur != nil && cur.Digest == r.Resigns {
		return nil
	}
	running := "none"
	if cur != nil {
		running = release.ShortDigest(cur.Digest)
	}
	return fmt.Errorf("release re-signs release %s, but the running release is %s: it changed while it was signed", release.ShortDigest(r.Resigns), running)
}
