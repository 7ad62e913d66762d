package main

import (
	"bytes"
	"encoding/json"
	"runtime"
	"testing"

	"github.com/aya-gslb/aya"
)

// TestVersion: aya version prints the version and commit set at build time
// (-X), the Go version and the platform, as text and as JSON.
func TestVersion(t *testing.T) {
	oldV, oldC := aya.Version, aya.Commit
	t.Cleanup(func() { aya.Version, aya.Commit = oldV, oldC })
	aya.Version, aya.Commit = "v1.2.3-4-gabcdef0", "abcdef0123456789"

	run := func(args ...string) string {
		t.Helper()
		cmd := newRootCmd()
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetArgs(append([]string{"version"}, args...))
		if err := cmd.Execute(); err != nil {
			t.Fatal(err)
		}
		return out.String()
	}
	want := "aya v1.2.3-4-gabcdef0 (commit abcdef0123456789, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if got := run(); got != want {
		t.Errorf("aya version = %q, want %q", got, want)
	}
	var b buildInfo
	if err := json.Unmarshal([]byte(run("--json")), &b); err != nil {
		t.Fatal(err)
	}
	if wantB := (buildInfo{"v1.2.3-4-gabcdef0", "abcdef0123456789", runtime.Version(), runtime.GOOS, runtime.GOARCH}); b != wantB {
		t.Errorf("aya version --json = %+v, want %+v", b, wantB)
	}
}

// TestVersionCommitFromBuild: without -X …Commit, the commit comes from the
// VCS stamp of go build, or is "unknown"; never empty.
func TestVersionCommitFromBuild(t *testing.T) {
	old := aya.Commit
	t.Cleanup(func() { aya.Commit = old })
	aya.Commit = ""
	if c := currentBuild().Commit; c == "" {
		t.Error("commit is empty")
	}
}
