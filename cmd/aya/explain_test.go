package main

import (
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestExplainText pins what offline `aya explain` prints, against the
// repo's aya.yaml, zones and demo geo database: the offline banner, a
// steered answer, a client without coordinates ("-", not "0 km"), NODATA,
// NXDOMAIN, a name outside every zone, and the flags that do not parse.
// Refresh with go test ./cmd/aya -run TestExplainText -update.
func TestExplainText(t *testing.T) {
	var golden strings.Builder
	for _, args := range [][]string{
		{"--ecs", "81.2.69.142/32", "www.gslb.example.com"},
		{"--ecs", "10.0.0.1", "www.gslb.example.com"},
		{"www.gslb.example.com", "TXT"},
		{"nothere.gslb.example.com"},
		{"www.example.org"},
		{"--ecs", "banana", "www.gslb.example.com"},
		{"--client", "banana", "www.gslb.example.com"},
	} {
		cmd := exec.Command(ayaBin, append([]string{"explain", "--config", "aya.yaml"}, args...)...)
		cmd.Dir = "../.."
		out, err := cmd.CombinedOutput()
		fmt.Fprintf(&golden, "$ aya explain %s", strings.Join(args, " "))
		if err != nil {
			fmt.Fprintf(&golden, " (%v)", err)
		}
		fmt.Fprintf(&golden, "\n%s\n", out)
	}
	checkGolden(t, "explain.golden", []byte(golden.String()))
}
