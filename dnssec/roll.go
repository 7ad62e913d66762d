package dnssec

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/aya-gslb/aya/internal/atomicfile"
)

// Roll starts the rollover of the key of role (ZSK or KSK) that signs at
// now: it plans the rollover with p (RollZSK, the pre-publish method, or
// RollKSK, double-DS), makes the successor with the old key's algorithm,
// and returns the old key with its new timing and the successor. Nothing
// is written: WriteRoll does that. A key that already has a successor (a
// key of the role published or to be published after it) is not rolled
// again. CSK rollovers are not supported.
func Roll(keys []*Key, role Role, p Timings, now time.Time) (old, succ *Key, err error) {
	if role != ZSK && role != KSK {
		return nil, nil, fmt.Errorf("roll: %s keys are not rolled (only ZSK and KSK)", role)
	}
	cur := signingKey(keys, role, now)
	if cur == nil {
		return nil, nil, fmt.Errorf("roll %s: no %s signs at %s", role, role, now.UTC().Format(time.RFC3339))
	}
	if s := successorOf(keys, cur); s != nil {
		return nil, nil, fmt.Errorf("roll %s: %s already has a successor, %s (activates %s)", role, cur.Base(), s.Base(), s.Timing.Activate.UTC().Format(time.RFC3339))
	}
	var oldT, succT Timing
	if role == ZSK {
		oldT, succT, err = p.RollZSK(cur.Timing, now)
	} else {
		oldT, succT, err = p.RollKSK(cur.Timing, now)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := oldT.check(); err != nil {
		return nil, nil, fmt.Errorf("roll %s: %s: %w", role, cur.Base(), err)
	}
	succ, err = Generate(cur.Zone, cur.DNSKEY.Algorithm, role, succT)
	if err != nil {
		return nil, nil, err
	}
	succ.DNSKEY.Hdr.Ttl = cur.DNSKEY.Hdr.Ttl
	next := *cur
	next.Timing = oldT
	return &next, succ, nil
}

// Due returns the roles whose signing key must start its rollover at now
// for the successor to be in place by the end of the key's lifetime: a ZSK
// when ZSKLifetime is set, a KSK when KSKLifetime is, that has no
// successor and whose Inactive (or Activate plus the lifetime) is less
// than the rollover's lead time away (a ZSK's pre-publication,
// Propagation + DNSKEYTTL; a KSK's parent delay, ParentDelay + DSTTL) plus
// margin. A key that signs with neither Inactive nor a lifetime is never
// due: its operator rolls it by hand (aya dnssec rollover).
func Due(keys []*Key, p Timings, now time.Time, margin time.Duration) []Role {
	var out []Role
	for _, r := range []struct {
		role     Role
		lifetime time.Duration
		lead     time.Duration
	}{
		{ZSK, p.ZSKLifetime, p.Propagation + p.DNSKEYTTL},
		{KSK, p.KSKLifetime, p.ParentDelay + p.DSTTL},
	} {
		cur := signingKey(keys, r.role, now)
		if cur == nil || successorOf(keys, cur) != nil {
			continue
		}
		end := cur.Timing.Inactive
		if end.IsZero() {
			if r.lifetime <= 0 {
				continue
			}
			end = cur.Timing.Activate.Add(r.lifetime)
		}
		if !now.Add(r.lead + margin).Before(end) {
			out = append(out, r.role)
		}
	}
	return out
}

// signingKey is the key of role that signs at now (the latest activated
// when two do), or nil.
func signingKey(keys []*Key, role Role, now time.Time) *Key {
	var cur *Key
	for _, k := range keys {
		if k.Role == role && StateAt(k, now).Signing && (cur == nil || k.Timing.Activate.After(cur.Timing.Activate)) {
			cur = k
		}
	}
	return cur
}

// successorOf is a key of cur's role that activates after cur does, or
// nil.
func successorOf(keys []*Key, cur *Key) *Key {
	for _, k := range keys {
		if k != cur && k.Role == cur.Role && k.Tag() != cur.Tag() && (k.Timing.Activate.IsZero() || k.Timing.Activate.After(cur.Timing.Activate)) &&
			(k.Timing.Delete.IsZero() || k.Timing.Delete.After(cur.Timing.Activate)) {
			return k
		}
	}
	return nil
}

// WriteRoll writes a rollover to dir: the successor's files first (never
// overwriting, as WriteFiles), then the old key's files with its new
// timing, each replaced whole (written beside it, synced, renamed over
// it), so that a crash leaves either schedule, never a torn file; when
// the old key's files cannot be rewritten, the successor's are removed
// again. The old key needs its private half loaded.
func WriteRoll(dir string, old, succ *Key) error {
	if _, err := succ.WriteFiles(dir); err != nil {
		return err
	}
	if err := old.Rewrite(dir); err != nil {
		// Undone, so that the next try plans the rollover afresh: a
		// successor beside an old key without its end would sign beside
		// it for good (Due sees a successor and plans nothing more).
		base := filepath.Join(dir, succ.Base())
		return errors.Join(err, os.Remove(base+".key"), os.Remove(base+".private"))
	}
	return nil
}

// Rewrite replaces k's files in dir with its current timing (what
// dnssec-settime does). Both new files are written to temporary files in
// dir and synced before either is renamed over its old one (with the old
// file's mode), so that a full disk or a file that is not a regular one
// leaves both as they were: a .private whose timing disagrees with its
// .key would not load, and the signer could not sign at all.
func (k *Key) Rewrite(dir string) error {
	if k.signer == nil {
		return fmt.Errorf("rewrite %s: no private key loaded", k.Base())
	}
	base := filepath.Join(dir, k.Base())
	return replaceFiles([]replacement{
		{base + ".private", k.privateText(), 0o600},
		{base + ".key", k.keyText(), 0o644},
	})
}

// replacement is a file replaceFiles replaces: its path, new text, and the
// widest mode it may have.
type replacement struct {
	path, text string
	mode       fs.FileMode
}

// replaceFiles replaces the files of rs, which must exist (a rewrite, not
// a creation) and keep their permission bits, never wider than their
// mode: first every new text to a synced temporary file beside its
// target, then, when all are written, the renames, in order.
func replaceFiles(rs []replacement) (err error) {
	temps := make([]string, 0, len(rs))
	defer func() {
		if err != nil {
			for _, t := range temps {
				_ = os.Remove(t)
			}
		}
	}()
	for _, r := range rs {
		st, err := os.Lstat(r.path)
		if err != nil {
			return err
		}
		if !st.Mode().IsRegular() {
			return fmt.Errorf("%s: not a regular file", r.path)
		}
		tmp, err := os.CreateTemp(filepath.Dir(r.path), atomicfile.TempPattern(r.path))
		if err != nil {
			return err
		}
		temps = append(temps, tmp.Name())
		if err := errors.Join(tmp.Chmod(st.Mode().Perm()&r.mode), writeAll(tmp, r.text), tmp.Sync(), tmp.Close()); err != nil {
			return fmt.Errorf("write %s: %w", r.path, err)
		}
	}
	for i, r := range rs {
		if err := os.Rename(temps[i], r.path); err != nil {
			return fmt.Errorf("write %s: %w", r.path, err)
		}
	}
	temps = nil
	if d, err := os.Open(filepath.Dir(rs[0].path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
