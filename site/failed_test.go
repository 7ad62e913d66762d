package site

import (
	"bytes"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/aya-gslb/aya/config"
)

const testZone = `$ORIGIN %s.
$TTL 300
@   IN SOA ns1 hostmaster %s 7200 3600 1209600 300
@   IN NS  ns1
ns1 IN A   192.0.2.53
`

func zoneText(origin, serial string) string {
	return strings.Replace(strings.Replace(testZone, "%s", origin, 1), "%s", serial, 1)
}

// buildDir builds a release of the embedded configuration with the zone
// files of files (name → text).
func buildDir(t *testing.T, files map[string]string) (*Compiled, *config.Config, error) {
	t.Helper()
	cfg, err := config.Load("", nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg.DNS.ZonesDir = t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(cfg.DNS.ZonesDir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, c, err := Build(cfg, "test", "test")
	return c, cfg, err
}

// TestFailedFiles: a build error names the zone files that fail, and
// only those, however many fail.
func TestFailedFiles(t *testing.T) {
	good := zoneText("a.example", "1")
	bad := good + "www IN A 300.1.1.1\n"
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"all good", map[string]string{"a.example.zone": good}, []string{}},
		{"one bad", map[string]string{"a.example.zone": good, "b.example.zone": strings.ReplaceAll(bad, "a.example", "b.example")}, []string{"b.example.zone"}},
		{"two bad", map[string]string{"a.example.zone": bad, "b.example.zone": strings.ReplaceAll(bad, "a.example", "b.example")}, []string{"a.example.zone", "b.example.zone"}},
		{"an include missing", map[string]string{"a.example.zone": good + "$INCLUDE nothere\n"}, []string{"a.example.zone"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, cfg, err := buildDir(t, tc.files)
			got := slices.Sorted(maps.Keys(FailedFiles(err)))
			if !slices.Equal(got, tc.want) {
				t.Errorf("failed files %q, want %q (err: %v)", got, tc.want, err)
			}
			all := buildFiles(cfg)
			if len(all) != 1+len(tc.files) || all[0] != "aya.yaml" {
				t.Errorf("build files %q, want aya.yaml and the zone files", all)
			}
		})
	}
}

// TestLogZoneChanges: publishing a release logs each zone added, deleted
// or changed once, with its serial.
func TestLogZoneChanges(t *testing.T) {
	old, _, err := buildDir(t, map[string]string{"a.example.zone": zoneText("a.example", "1"), "b.example.zone": zoneText("b.example", "1"),
		"c.example.zone": zoneText("c.example", "1")})
	if err != nil {
		t.Fatal(err)
	}
	cur, _, err := buildDir(t, map[string]string{"a.example.zone": zoneText("a.example", "2"), "b.example.zone": zoneText("b.example", "1") + "x IN A 192.0.2.1\n",
		"d.example.zone": zoneText("d.example", "7")})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey || a.Key == "file" {
			return slog.Attr{}
		}
		return a
	}}))
	logZoneChanges(log, old, cur)
	want := `level=INFO msg="zone reloaded" zone=a.example. serial=2 previous_serial=1 records=3
level=WARN msg="zone reloaded with the same serial" zone=b.example. serial=1 records=4
level=INFO msg="zone added" zone=d.example. serial=7 records=3
level=INFO msg="zone deleted" zone=c.example. serial=1
`
	if buf.String() != want {
		t.Errorf("logged:\n%s\nwant:\n%s", buf.String(), want)
	}
	buf.Reset()
	logZoneChanges(log, cur, cur)
	if buf.Len() != 0 {
		t.Errorf("the same release again logged:\n%s", buf.String())
	}
}
