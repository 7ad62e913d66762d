package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/aya-gslb/aya/cluster"
)

// TestPrintApplied pins what aya drain and undrain print once they have
// waited: every site, some, or none. Refresh with go test ./cmd/aya -run
// TestPrintApplied -update.
func TestPrintApplied(t *testing.T) {
	ok := func(id string) cluster.Applied { return cluster.Applied{ID: id, Admin: "10.0.0.1:9053", OK: true} }
	var b bytes.Buffer
	for _, res := range [][]cluster.Applied{
		{ok("s1"), ok("s2"), ok("s3")},
		{ok("s1"), ok("s2"), {ID: "s3", Admin: "10.0.0.3:9053", Err: "dial tcp 10.0.0.3:9053: connect: connection refused"}},
		{{ID: "s1", Admin: "10.0.0.1:9053", Err: "not applied yet, at index 41"}, {ID: "edge1", Err: "no admin address known"}},
	} {
		if err := printApplied(&b, res, 10*time.Second); err != nil {
			t.Fatal(err)
		}
	}
	checkGolden(t, "drain.golden", b.Bytes())
}
