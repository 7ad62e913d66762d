package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeoBuildErrors pins what `aya geo build` says of a source with "UK"
// (the hint the configuration gives too) and of an -o it cannot write: the
// output path, never the temporary file beside it. Refresh with go test
// ./cmd/aya -run TestGeoBuildErrors -update.
func TestGeoBuildErrors(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "nets.yaml")
	if err := os.WriteFile(src, []byte("- {network: 81.2.69.0/24, latitude: 51.5, longitude: -0.09, country: GB}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	uk := filepath.Join(dir, "uk.yaml")
	if err := os.WriteFile(uk, []byte("- {network: 81.2.69.0/24, latitude: 51.5, longitude: -0.09, country: UK}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var golden strings.Builder
	for _, args := range [][]string{
		{uk, "-o", filepath.Join(dir, "uk.mmdb")},
		{src, "-o", filepath.Join(dir, "missing", "out.mmdb")},
		{src, "-o", dir},
		{src, "-o", filepath.Join(dir, "out.mmdb")},
	} {
		out, err := exec.Command(ayaBin, append([]string{"geo", "build"}, args...)...).CombinedOutput()
		fmt.Fprintf(&golden, "$ aya geo build %s", strings.Join(args, " "))
		if err != nil {
			fmt.Fprintf(&golden, " (%v)", err)
		}
		fmt.Fprintf(&golden, "\n%s", out)
	}
	checkGolden(t, "geo.golden", []byte(strings.ReplaceAll(golden.String(), dir, "DIR")))
	if left, _ := filepath.Glob(filepath.Join(dir, ".aya-geo-*")); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
