package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// secretMark is in every line of testdata/release/*.yaml that a release
// must not carry: tokens, secrets, addresses and paths of the site.
const secretMark = "SECRET"

// TestReleaseText pins the release text of each testdata/release/*.yaml
// in its .golden file (refresh with go test ./config/ -run
// TestReleaseText -update) and checks what every site relies on: the
// lines are where they were, nothing of the site's own travels, and
// ParseRelease reads from it what Parse read from the file.
func TestReleaseText(t *testing.T) {
	clearEnv(t)
	files, err := filepath.Glob("testdata/release/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, path := range files {
		t.Run(filepath.Base(path), func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			full, err := Parse(path, data, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			got, err := ReleaseText(data)
			if err != nil {
				t.Fatalf("ReleaseText: %v", err)
			}
			golden := strings.TrimSuffix(path, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			} else if want, err := os.ReadFile(golden); err != nil {
				t.Fatal(err)
			} else if !bytes.Equal(got, want) {
				t.Errorf("release text differs from %s (run with -update to accept):\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
			if i := bytes.Index(got, []byte(secretMark)); i >= 0 {
				t.Errorf("a site's own text travels: %q", line(got, i))
			}
			checkReleaseText(t, path, data, got, full)
		})
	}
}

// checkReleaseText checks text, the release text of data, against full,
// what Parse made of data.
func checkReleaseText(t *testing.T, name string, data, text []byte, full *Config) {
	t.Helper()
	if a, b := bytes.Count(data, []byte("\n")), bytes.Count(text, []byte("\n")); a != b {
		t.Errorf("%d lines, the file has %d", b, a)
	}
	rc, err := ParseRelease(filepath.Dir(name), filepath.Base(name), text)
	if err != nil {
		t.Fatalf("ParseRelease: %v\ntext:\n%s", err, text)
	}
	if !reflect.DeepEqual(rc.Regions, full.Regions) {
		t.Errorf("regions differ:\n%+v\n%+v", rc.Regions, full.Regions)
	}
	if !reflect.DeepEqual(rc.Pools, full.Pools) {
		t.Errorf("pools differ:\n%+v\n%+v", rc.Pools, full.Pools)
	}
	if !reflect.DeepEqual(rc.ECS, full.ECS) {
		t.Errorf("ecs differs:\n%+v\n%+v", rc.ECS, full.ECS)
	}
	if rc.Cluster.FreshFor != full.Cluster.FreshFor || rc.Cluster.ReportInterval != full.Cluster.ReportInterval ||
		rc.Cluster.Shed != full.Cluster.Shed {
		t.Errorf("cluster rules differ: %v %v %+v, file %v %v %+v", rc.Cluster.FreshFor, rc.Cluster.ReportInterval, rc.Cluster.Shed,
			full.Cluster.FreshFor, full.Cluster.ReportInterval, full.Cluster.Shed)
	}
}

// line is the line of b around offset i.
func line(b []byte, i int) []byte {
	s := bytes.LastIndexByte(b[:i], '\n') + 1
	e := bytes.IndexByte(b[i:], '\n')
	if e < 0 {
		return b[s:]
	}
	return b[s : i+e]
}

// TestReleaseTextRefuses: a file whose release part cannot travel alone
// is refused with the line, never turned into a text that parses
// differently or not at all on the receiving sites.
func TestReleaseTextRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"not a mapping", "- a\n- b\n", "release text: the top level is not a mapping"},
		{"syntax", "regions: [\n", "release text: yaml: line 1"},
		{"alias to a site's anchor", "node: {id: &n web}\npools:\n  - name: *n\n",
			"release text: line 3: alias *n refers to an anchor on line 1, which is not part of a release"},
		{"alias in a flow cluster", "admin: {listen: &d 10s}\ncluster: {fresh_for: *d}\n",
			"release text: line 2: alias *d refers to an anchor on line 1"},
		{"alias in a flow file", "{admin: {listen: &d 10s}, cluster: {fresh_for: *d}}\n",
			"release text: line 1: alias *d refers to an anchor on line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := ReleaseText([]byte(tc.in))
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q (text %q)", err, tc.want, out)
			}
		})
	}
}

// TestReleaseTextEmpty: nothing, comments only or null make an empty
// release text, which ParseRelease reads as the defaults.
func TestReleaseTextEmpty(t *testing.T) {
	for _, in := range []string{"", "# only a comment\n", "~\n", "node: {id: n}\n"} {
		out, err := ReleaseText([]byte(in))
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if strings.TrimSpace(string(out)) != "" {
			t.Errorf("%q: text %q", in, out)
		}
		if _, err := ParseRelease("", "aya.yaml", out); err != nil {
			t.Errorf("%q: ParseRelease: %v", in, err)
		}
	}
}

// TestParseRelease: a release text with a site's own key is refused at
// that key's line, naming the operator's file; a release error names the
// file and line it has in the operator's file, and never its value.
func TestParseRelease(t *testing.T) {
	clearEnv(t)
	const regions = "regions: [{name: a, latitude: 1, longitude: 2, country: us, continent: na}]\n"
	for _, tc := range []struct {
		name, text string
		want       []string
	}{
		{"admin token", regions + "\nadmin:\n  token: tok-SECRET\n",
			[]string{"/etc/aya/aya.yaml:4: admin.token: not part of a release"}},
		{"cluster secret", "cluster:\n  fresh_for: 30s\n  secret: ++tpW+6MpASECRET1Kj/kWGWCe4OPOISljGZcD/9aX0=\n",
			[]string{"/etc/aya/aya.yaml:3: cluster.secret: not part of a release"}},
		{"sticky secret", "proxy:\n  sticky_secret: 0123456789abcdef0123456789abcdef-SECRET\n",
			[]string{"/etc/aya/aya.yaml:2: proxy.sticky_secret: not part of a release"}},
		{"zones dir", "dns: {zones_dir: /srv/SECRET}\n" + regions,
			[]string{"/etc/aya/aya.yaml:1: dns.zones_dir: not part of a release"}},
		{"unknown region", "\n\n" + regions + "pools:\n  - name: p\n    members:\n      - region: b\n        endpoints: [{name: e, addresses: [192.0.2.1]}]\n",
			[]string{"/etc/aya/aya.yaml:7: pools[0].members[0].region"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseRelease("/etc/aya", "aya.yaml", []byte(tc.text))
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if strings.Contains(err.Error(), secretMark) {
				t.Errorf("the error repeats a value: %v", err)
			}
		})
	}
}

// TestParseReleaseNoEnvironment: a release is its text alone.
func TestParseReleaseNoEnvironment(t *testing.T) {
	clearEnv(t)
	t.Setenv("AYA_CLUSTER_FRESH_FOR", "99s")
	c, err := ParseRelease("", "aya.yaml", []byte("cluster:\n  fresh_for: 40s\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Cluster.FreshFor.String() != "40s" {
		t.Errorf("fresh_for %v, want the text's 40s", c.Cluster.FreshFor)
	}
}

// FuzzReleaseText: for any file Parse accepts, the release text has the
// file's lines, ParseRelease reads from it the regions, pools, ecs and
// rules Parse read, and no other key survives (ParseRelease refuses any).
// The one file it refuses is one whose release part aliases an anchor of
// a site's own setting, which cannot travel without that setting.
func FuzzReleaseText(f *testing.F) {
	clearEnv(f)
	for _, glob := range []string{"testdata/release/*.yaml", "testdata/*.yaml"} {
		files, err := filepath.Glob(glob)
		if err != nil {
			f.Fatal(err)
		}
		for _, path := range files {
			data, err := os.ReadFile(path)
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		full, err := Parse("fuzz.yaml", data, nil)
		if err != nil {
			return
		}
		text, err := ReleaseText(data)
		if err != nil {
			if !strings.Contains(err.Error(), "which is not part of a release") {
				t.Fatalf("ReleaseText refuses what Parse accepts: %v", err)
			}
			return
		}
		for _, l := range strings.Split(string(text), "\n") {
			if l != "" && !bytes.Contains(data, []byte(l)) && !strings.Contains(l, "cluster: {") && !strings.HasPrefix(strings.TrimSpace(l), "{") {
				t.Errorf("a line that is not the file's: %q", l)
			}
		}
		checkReleaseText(t, "fuzz.yaml", data, text, full)
	})
}
