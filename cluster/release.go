package cluster

import (
	"fmt"
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
// changes nothing; one that does not validate is refused (alike on every
// node, since it is the same bytes everywhere).
func (f *FSM) applyRelease(d *data, index uint64, at int64, r *release.Release) (bool, error) {
	if err := r.Validate(); err != nil {
		return false, err
	}
	if d.rel != nil && d.rel.Digest == r.Digest {
		return false, nil
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
