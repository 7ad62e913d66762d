package site

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/internal/testutil"
)

var update = flag.Bool("update", false, "update golden files")

// TestDrainAPI pins what POST /v1/drain and /v1/undrain answer, from a
// real node: a target the configuration lacks, with a guess; a drain, a
// second one that replaces its reason, a third that changes nothing; an
// undrain, and one of what is not drained. The answers are in
// testdata/drain.golden; refresh with go test ./site -run TestDrainAPI
// -update.
func TestDrainAPI(t *testing.T) {
	n := siteNode(t)
	cfg, err := config.Parse("aya.yaml", []byte(siteConfig), nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, r := range DrainRoutes(n.Node, func() *config.Config { return cfg }) {
		mux.Handle(r.Pattern, r.Handler)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	var golden strings.Builder
	call := func(path, body string) {
		t.Helper()
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		out, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		fmt.Fprintf(&golden, "POST %s %s\n%d %s\n", path, body, resp.StatusCode, bytes.TrimSpace(out))
	}
	for _, c := range []struct{ path, body string }{
		{PathDrain, `{"target": "ue", "reason": "r", "by": "alice"}`},
		{PathDrain, `{"target": "wbe/eu/a", "reason": "r", "by": "alice"}`},
		{PathDrain, `{"target": "web/ue/a", "reason": "r", "by": "alice"}`},
		{PathDrain, `{"target": "web/eu/aa", "reason": "r", "by": "alice"}`},
		{PathDrain, `{"target": "eu/a", "reason": "r", "by": "alice"}`},
		{PathUndrain, `{"target": "eu", "by": "alice"}`},
		{PathDrain, `{"target": "eu", "reason": "maintenance", "by": "alice"}`},
		{PathDrain, `{"target": "eu", "reason": "kernel upgrade", "by": "alice"}`},
		{PathDrain, `{"target": "eu", "reason": "kernel upgrade", "by": "alice"}`},
		{PathUndrain, `{"target": "us", "by": "alice"}`},
		{PathDrain, `{"target": "web/eu/a", "reason": "disk", "by": "bob"}`},
		{PathUndrain, `{"target": "web/eu/b", "by": "bob"}`},
		{PathUndrain, `{"target": "eu", "by": "alice"}`},
		{PathUndrain, `{"target": "web/eu/a", "by": "bob"}`},
		{PathUndrain, `{"target": "eu", "by": "alice"}`},
	} {
		call(c.path, c.body)
	}
	testutil.Golden(t, filepath.Join("testdata", "drain.golden"), []byte(golden.String()), *update)
}
