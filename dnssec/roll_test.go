package dnssec

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// rollTimings are the timings of the roll tests: a ZSK lifetime of 30
// days, a KSK's of 90.
var rollTimings = Timings{
	Propagation: time.Hour, MaxTTL: 2 * time.Hour, DNSKEYTTL: time.Hour,
	DSTTL: 24 * time.Hour, ParentDelay: 24 * time.Hour,
	ZSKLifetime: 30 * 24 * time.Hour, KSKLifetime: 90 * 24 * time.Hour,
}

// rollKeys writes a KSK and a ZSK active since t0 to a new directory and
// returns it.
func rollKeys(t *testing.T, t0 time.Time) string {
	t.Helper()
	dir := t.TempDir()
	for _, role := range []Role{KSK, ZSK} {
		tm := Timing{Created: t0, Publish: t0, Activate: t0}
		if role == KSK {
			tm.SyncPublish = t0
		}
		k, err := Generate(testOrigin, dns.ECDSAP256SHA256, role, tm)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.WriteFiles(dir); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestDue: a role is due once its key's end is within the rollover's lead
// plus the margin; not before, not with a successor, not without an end.
func TestDue(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	keys, err := LoadKeys(rollKeys(t, t0), testOrigin, true)
	if err != nil {
		t.Fatal(err)
	}
	p := rollTimings
	margin := 24 * time.Hour
	zskLead := p.Propagation + p.DNSKEYTTL
	kskLead := p.ParentDelay + p.DSTTL
	for _, tc := range []struct {
		name string
		at   time.Time
		p    Timings
		want []Role
	}{
		{"fresh keys", t0, p, nil},
		{"ZSK a second early", t0.Add(p.ZSKLifetime - zskLead - margin - time.Second), p, nil},
		{"ZSK due", t0.Add(p.ZSKLifetime - zskLead - margin), p, []Role{ZSK}},
		{"both due", t0.Add(p.KSKLifetime - kskLead - margin), p, []Role{ZSK, KSK}},
		{"no KSK lifetime", t0.Add(p.KSKLifetime), Timings{ZSKLifetime: p.ZSKLifetime}, []Role{ZSK}},
		{"no lifetimes", t0.Add(365 * 24 * time.Hour), Timings{}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := Due(keys, tc.p, tc.at, margin); !slices.Equal(got, tc.want) {
				t.Errorf("Due = %v, want %v", got, tc.want)
			}
		})
	}
	at := t0.Add(p.ZSKLifetime - zskLead - margin)
	old, succ, err := Roll(keys, ZSK, p, at)
	if err != nil {
		t.Fatal(err)
	}
	rolled := []*Key{keys[0], old, succ}
	if got := Due(rolled, p, at, margin); len(got) != 0 {
		t.Errorf("Due after the ZSK rollover = %v, want none", got)
	}
	if _, _, err := Roll(rolled, ZSK, p, at); err == nil || !strings.Contains(err.Error(), "already has a successor") {
		t.Errorf("a second rollover: %v, want refused", err)
	}
	if _, _, err := Roll(keys, CSK, p, at); err == nil {
		t.Error("a CSK rollover was not refused")
	}
}

// keysToRoll writes a KSK and a ZSK active from 2026-01-01 (rollKeys) and
// returns their directory, the keys with their private halves, and a time
// twenty days later to roll them at.
func keysToRoll(t *testing.T) (string, []*Key, time.Time) {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	dir := rollKeys(t, t0)
	keys, err := LoadKeys(dir, testOrigin, true)
	if err != nil {
		t.Fatal(err)
	}
	return dir, keys, t0.Add(20 * 24 * time.Hour)
}

// TestWriteRoll: a rollover written to the keys directory reads back as
// planned: the successor with its private half, the old key with its new
// Inactive and Delete in both files, its mode kept; and BIND's
// dnssec-settime reads the same times from the rewritten files.
func TestWriteRoll(t *testing.T) {
	dir, keys, at := keysToRoll(t)
	for _, role := range []Role{ZSK, KSK} {
		old, succ, err := Roll(keys, role, rollTimings, at)
		if err != nil {
			t.Fatal(err)
		}
		if err := WriteRoll(dir, old, succ); err != nil {
			t.Fatal(err)
		}
		if err := WriteRoll(dir, old, succ); err == nil {
			t.Errorf("%s: a rollover written twice: the successor's files were overwritten", role)
		}
		keys, err = LoadKeys(dir, testOrigin, true)
		if err != nil {
			t.Fatalf("%s: reading the keys back: %v", role, err)
		}
		var gotOld, gotSucc *Key
		for _, k := range keys {
			switch k.Tag() {
			case old.Tag():
				gotOld = k
			case succ.Tag():
				gotSucc = k
			}
		}
		if gotOld == nil || gotSucc == nil || !gotSucc.HasPrivate() {
			t.Fatalf("%s: keys read back %v: want the old key and the successor with its private half", role, tags(keys))
		}
		if !gotOld.Timing.equal(old.Timing) || !gotSucc.Timing.equal(succ.Timing) {
			t.Errorf("%s: timings read back\nold %+v\nwant %+v\nsucc %+v\nwant %+v", role, gotOld.Timing, old.Timing, gotSucc.Timing, succ.Timing)
		}
		st, err := os.Stat(filepath.Join(dir, old.Base()+".private"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: the rewritten .private: %v, mode %v; want 0600", role, err, st.Mode().Perm())
		}
		settime(t, dir, gotOld)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 8 {
		t.Errorf("%d files in the keys directory, want 8 (4 keys, no temporary files left)", len(ents))
	}
}

// TestWriteRollFails: a rollover whose old key cannot be rewritten (its
// .key is not a regular file: the second of the two files fails, as a full
// disk would make it) leaves the keys directory as it was: the old key's
// .private untouched (its timing still agrees with the .key, so the keys
// load and the signer signs), no successor, no temporary file; and the
// next try, once the file is right, writes the rollover.
func TestWriteRollFails(t *testing.T) {
	dir, keys, at := keysToRoll(t)
	old, succ, err := Roll(keys, ZSK, rollTimings, at)
	if err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(dir, old.Base())
	private, err := os.ReadFile(base + ".private")
	if err != nil {
		t.Fatal(err)
	}
	moved := filepath.Join(t.TempDir(), "moved.key")
	if err := os.Rename(base+".key", moved); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(moved, base+".key"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadDir(dir)
	if err := WriteRoll(dir, old, succ); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Fatalf("WriteRoll over a symlinked .key: %v", err)
	}
	if b, err := os.ReadFile(base + ".private"); err != nil || string(b) != string(private) {
		t.Errorf("the old key's .private changed though its .key was not rewritten (%v):\n%s", err, b)
	}
	after, _ := os.ReadDir(dir)
	if len(after) != len(before) {
		t.Errorf("%d files in the keys directory after a failed rollover, %d before (a successor or a temporary file left)", len(after), len(before))
	}
	if _, err := LoadKeys(dir, testOrigin, true); err != nil {
		t.Errorf("the keys do not load after a failed rollover: %v", err)
	}
	if err := os.Remove(base + ".key"); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(moved, base+".key"); err != nil {
		t.Fatal(err)
	}
	if err := WriteRoll(dir, old, succ); err != nil {
		t.Fatalf("the rollover tried again: %v", err)
	}
	if keys, err := LoadKeys(dir, testOrigin, true); err != nil || len(keys) != 3 {
		t.Errorf("after the rollover: %v keys, %v", len(keys), err)
	}
}

// settime checks with BIND's dnssec-settime -p all that k's files say k's
// Inactive and Delete.
func settime(t *testing.T, dir string, k *Key) {
	t.Helper()
	bin, err := exec.LookPath("dnssec-settime")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("dnssec-settime not installed: .ci/run installs bind9-utils")
		}
		t.Log("dnssec-settime not installed (apt-get install bind9-utils): the BIND cross-check is skipped")
		return
	}
	out, err := exec.CommandContext(t.Context(), bin, "-u", "-p", "all", "-K", dir, k.Base()).CombinedOutput()
	if err != nil {
		t.Fatalf("dnssec-settime: %v\n%s", err, out)
	}
	for _, f := range []struct {
		name string
		at   time.Time
	}{{"Inactive", k.Timing.Inactive}, {"Delete", k.Timing.Delete}} {
		want := fmt.Sprintf("%s: %d\n", f.name, f.at.Unix()) // -u: seconds since the epoch
		if !strings.Contains(string(out), want) {
			t.Errorf("dnssec-settime -p all of %s lacks %q:\n%s", k.Base(), want, out)
		}
	}
}
