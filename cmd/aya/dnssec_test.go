package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDNSSECCommands pins `aya dnssec status` and `aya dnssec ds` over the
// keys of testdata/dnssec (public halves only: neither command reads a
// .private), a KSK double-DS rollover and a ZSK pre-publish rollover in
// flight, and `aya dnssec keygen` and `aya dnssec rollover` with their
// tags and keys masked. Refresh
// with go test ./cmd/aya -run TestDNSSECCommands -update.
func TestDNSSECCommands(t *testing.T) {
	dir := t.TempDir()
	var golden strings.Builder
	run := func(args ...string) {
		t.Helper()
		out, err := exec.CommandContext(t.Context(), ayaBin, append([]string{"dnssec"}, args...)...).CombinedOutput()
		fmt.Fprintf(&golden, "$ aya dnssec %s", strings.Join(args, " "))
		if err != nil {
			fmt.Fprintf(&golden, " (%v)", err)
		}
		fmt.Fprintf(&golden, "\n%s\n", out)
	}
	for _, at := range []string{"2026-01-10T00:00:00Z", "2026-01-21T00:00:00Z", "2026-01-30T23:00:00Z", "2026-01-31T01:00:00Z", "2026-02-01T00:00:00Z"} {
		run("status", "--zone", "gslb.example.com", "--dir", "testdata/dnssec", "--at", at)
	}
	run("ds", "--zone", "gslb.example.com.", "--dir", "testdata/dnssec", "--at", "2026-01-21T00:00:00Z")
	run("status", "--zone", "gslb.example.com", "--dir", "testdata/dnssec", "--at", "2025-12-31T00:00:00Z")
	run("keygen", "--zone", "gslb.example.com", "--dir", dir, "--at", "2026-01-02T03:04:05Z")
	run("rollover", "--zone", "gslb.example.com", "--dir", dir, "--zsk", "--at", "2026-01-10T00:00:00Z")
	run("rollover", "--zone", "gslb.example.com", "--dir", dir, "--zsk", "--at", "2026-01-11T00:00:00Z")
	run("rollover", "--zone", "gslb.example.com", "--dir", dir, "--ksk", "--at", "2026-01-10T00:00:00Z")
	run("status", "--zone", "gslb.example.com", "--dir", dir, "--at", "2026-01-12T00:00:00Z")
	run("rollover", "--zone", "gslb.example.com", "--dir", dir)
	run("rollover", "--zone", "gslb.example.com", "--dir", dir, "--csk")
	run("keygen", "--zone", "csk.example.com", "--dir", dir, "--at", "2026-01-02T03:04:05Z", "--csk", "--algorithm", "ed25519")
	run("ds", "--zone", "csk.example.com", "--dir", dir, "--at", "2026-01-02T03:04:05Z")
	run("keygen", "--dir", dir)
	run("keygen", "--zone", "x.example", "--dir", dir, "--algorithm", "rsasha256")
	run("ds", "--zone", "none.example", "--dir", dir)
	run("status", "--zone", "gslb.example.com", "--at", "yesterday", "--dir", dir)

	for _, pat := range []string{"*.private"} {
		files, _ := filepath.Glob(filepath.Join(dir, pat))
		if len(files) != 5 {
			t.Errorf("%d .private files, want 5 (a KSK and a ZSK, their successors, a CSK)", len(files))
		}
		for _, f := range files {
			if fi, err := os.Stat(f); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("%s: mode %v (%v), want 0600", f, fi.Mode().Perm(), err)
			}
		}
	}
	// Key material and the tags of freshly made keys change every run.
	out := strings.ReplaceAll(golden.String(), dir, "DIR")
	masks := []struct{ re, with string }{
		{`(DNSKEY|CDNSKEY)(\s+)(25[67]) 3 (13|15) \S+`, "$1$2$3 3 $4 KEY"},
		{`\+0(13|15)\+\d{5}`, "+0$1+TAG"},
	}
	generated := strings.Index(out, "$ aya dnssec keygen")
	head, tail := out[:generated], out[generated:]
	for _, m := range masks {
		tail = regexp.MustCompile(m.re).ReplaceAllString(tail, m.with)
	}
	// Tags in tables and DS lines of the new keys.
	// (Column widths follow the tag's digits: one space around TAG.)
	tail = regexp.MustCompile(`(?m)^(KSK|ZSK|CSK)\s+\d+\s+`).ReplaceAllString(tail, "$1 TAG ")
	tail = regexp.MustCompile(`(?m)^ROLE\s+TAG\s+`).ReplaceAllString(tail, "ROLE TAG ")
	tail = regexp.MustCompile(`(DS|CDS)(\s+)\d+ (13|15) 2 [0-9A-F]{64}`).ReplaceAllString(tail, "$1${2}TAG $3 2 DIGEST")
	checkGolden(t, "dnssec.golden", []byte(head+tail))
}
