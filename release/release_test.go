package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

func testContent() Content {
	return Content{
		Config: File{Name: "aya.yaml", Data: []byte("\n\nregions: []\n")},
		Zones: []File{
			{Name: "example.com.zone", Data: []byte("$INCLUDE inc/hosts\n")},
			{Name: "inc/hosts", Data: []byte("www A 192.0.2.1\n")},
		},
		Rules: Rules{FreshFor: 30 * time.Second, ReportInterval: 10 * time.Second,
			MinUp: []MinUp{{Pool: "web", Region: "eu", N: 2}},
			Shed:  Shed{HighWater: 0.9, LowWater: 0.7, MaxFraction: 0.5, Step: 0.1}},
	}
}

// TestDigestStable pins the digest of a content: it names a release on
// every site and in every log, so its encoding must not change unnoticed.
func TestDigestStable(t *testing.T) {
	c := testContent()
	got := c.Digest()
	if again := c.Digest(); again != got {
		t.Fatalf("two digests of one content: %s, %s", got, again)
	}
	if got != pinnedDigest {
		t.Errorf("digest %s, pinned %s: the encoding changed (every running release would stop validating)", got, pinnedDigest)
	}
}

// pinnedDigest is testContent's digest.
const pinnedDigest = "sha256:5c801fc81e99c241b6d91421a492638d47a352819a38919da6c37a54eeb4a5dc"

// TestDigestName: the configuration file's name is a label, not content:
// sites whose files say the same under other names build one release.
func TestDigestName(t *testing.T) {
	a, b := testContent(), testContent()
	b.Config.Name = "s2.yaml"
	if a.Digest() != b.Digest() {
		t.Errorf("the configuration's name changed the digest")
	}
}

// TestDigestSensitive: a change of any field but the configuration's
// name changes the digest, and no
// two of the changes share one: in particular a byte moved across the
// boundary of a name and its data, of two files or of two names of a
// rule.
func TestDigestSensitive(t *testing.T) {
	for _, tc := range []struct {
		name   string
		change func(c *Content)
	}{
		{"config data", func(c *Content) { c.Config.Data = []byte("\n\nregions: [ ]\n") }},
		{"zone name", func(c *Content) { c.Zones[0].Name = "example.org.zone" }},
		{"zone data", func(c *Content) { c.Zones[1].Data = []byte("www A 192.0.2.2\n") }},
		{"zone name/data boundary", func(c *Content) { c.Zones[1].Name, c.Zones[1].Data = "inc/hostsw", []byte("ww A 192.0.2.1\n") }},
		{"file boundary", func(c *Content) {
			c.Zones[0].Data = append(bytes.Clone(c.Zones[0].Data), "inc/hosts"...)
			c.Zones = c.Zones[:1]
		}},
		{"a file more", func(c *Content) { c.Zones = append(c.Zones, File{Name: "z.zone"}) }},
		{"a file less", func(c *Content) { c.Zones = c.Zones[:1] }},
		{"config as a zone", func(c *Content) { c.Zones = append([]File{c.Config}, c.Zones...); c.Config = File{} }},
		{"fresh_for", func(c *Content) { c.Rules.FreshFor++ }},
		{"report_interval", func(c *Content) { c.Rules.ReportInterval++ }},
		{"high_water", func(c *Content) { c.Rules.Shed.HighWater = 0.9000000000000001 }},
		{"low_water", func(c *Content) { c.Rules.Shed.LowWater = 0.71 }},
		{"max_fraction", func(c *Content) { c.Rules.Shed.MaxFraction = 0.6 }},
		{"step", func(c *Content) { c.Rules.Shed.Step = -0.1 }},
		{"min pool", func(c *Content) { c.Rules.MinUp[0].Pool = "api" }},
		{"min region", func(c *Content) { c.Rules.MinUp[0].Region = "us" }},
		{"min n", func(c *Content) { c.Rules.MinUp[0].N = 3 }},
		{"min pool/region boundary", func(c *Content) { c.Rules.MinUp[0].Pool, c.Rules.MinUp[0].Region = "web eu", "" }},
		{"min pool/region boundary 2", func(c *Content) { c.Rules.MinUp[0].Pool, c.Rules.MinUp[0].Region = "", "web eu" }},
		{"a min more", func(c *Content) { c.Rules.MinUp = append(c.Rules.MinUp, MinUp{Pool: "web", Region: "us", N: 2}) }},
		{"no min", func(c *Content) { c.Rules.MinUp = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := testContent()
			c := testContent()
			tc.change(&c)
			if c.Digest() == base.Digest() {
				t.Errorf("digest unchanged")
			}
		})
	}
	seen := map[string]string{}
	for _, tc := range []struct {
		name string
		c    Content
	}{
		{"name a data bc", Content{Zones: []File{{Name: "a", Data: []byte("bc")}}}},
		{"name ab data c", Content{Zones: []File{{Name: "ab", Data: []byte("c")}}}},
		{"two files", Content{Zones: []File{{Name: "a", Data: []byte("b")}, {Name: "c", Data: nil}}}},
		{"pool a b, region c", Content{Rules: Rules{MinUp: []MinUp{{Pool: "a b", Region: "c", N: 2}}}}},
		{"pool a, region b c", Content{Rules: Rules{MinUp: []MinUp{{Pool: "a", Region: "b c", N: 2}}}}},
		{"empty", Content{}},
	} {
		d := tc.c.Digest()
		if other, ok := seen[d]; ok {
			t.Errorf("%s and %s share digest %s", tc.name, other, d)
		}
		seen[d] = tc.name
	}
}

// TestNew: files and minimums are sorted, so the order a builder found
// them in does not matter, and the caller's slices are not touched.
func TestNew(t *testing.T) {
	c := testContent()
	c.Zones[0], c.Zones[1] = c.Zones[1], c.Zones[0]
	c.Rules.MinUp = []MinUp{{Pool: "web", Region: "us", N: 2}, {Pool: "api", Region: "eu", N: 3}}
	r := New(c, "ci", "git abc")
	if r.Zones[0].Name != "example.com.zone" || c.Zones[0].Name != "inc/hosts" {
		t.Errorf("zones %q, caller's %q", r.Zones[0].Name, c.Zones[0].Name)
	}
	if r.Rules.MinUp[0].Pool != "api" || c.Rules.MinUp[0].Pool != "web" {
		t.Errorf("minimums %+v, caller's %+v", r.Rules.MinUp, c.Rules.MinUp)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	if r.By != "ci" || r.Source != "git abc" || r.Digest != r.Content.Digest() {
		t.Errorf("release %+v", r)
	}
	if New(c, "other", "").Digest != r.Digest {
		t.Error("by changes the digest")
	}
}

func TestValidate(t *testing.T) {
	big := make([]byte, MaxTotalSize/2+1)
	for _, tc := range []struct {
		name   string
		change func(r *Release)
		want   string
	}{
		{"valid", func(*Release) {}, ""},
		{"dot dot", func(r *Release) { r.Zones[1].Name = "../x" }, `release: zones: bad file name "../x"`},
		{"dot dot inside", func(r *Release) { r.Zones[1].Name = "inc/../../x" }, `bad file name "inc/../../x"`},
		{"absolute", func(r *Release) { r.Zones[1].Name = "/etc/passwd" }, `bad file name "/etc/passwd"`},
		{"unclean", func(r *Release) { r.Zones[1].Name = "inc//hosts" }, `bad file name "inc//hosts"`},
		{"dot", func(r *Release) { r.Zones[1].Name = "." }, `bad file name "."`},
		{"empty", func(r *Release) { r.Zones[0].Name = "" }, `bad file name ""`},
		{"trailing slash", func(r *Release) { r.Zones[1].Name = "inc/" }, `bad file name "inc/"`},
		{"long", func(r *Release) { r.Zones[1].Name = "inc/" + strings.Repeat("x", MaxNameLen) }, "bad file name"},
		{"config name", func(r *Release) { r.Config.Name = "../aya.yaml" }, `release: config: bad file name "../aya.yaml"`},
		{"no config name", func(r *Release) { r.Config.Name = "" }, `release: config: bad file name ""`},
		{"unsorted", func(r *Release) { r.Zones[0], r.Zones[1] = r.Zones[1], r.Zones[0] }, `"example.com.zone" not sorted or repeated`},
		{"repeated", func(r *Release) { r.Zones[1].Name = r.Zones[0].Name }, `"example.com.zone" not sorted or repeated`},
		{"too many", func(r *Release) {
			r.Zones = make([]File, MaxFiles+1)
		}, "release: 4097 zone files, more than 4096"},
		{"too big", func(r *Release) { r.Zones[0].Data, r.Zones[1].Data = big, big }, "bytes of files, more than"},
		{"min 0", func(r *Release) { r.Rules.MinUp[0].N = 0 }, "release: min_up web/eu: 0"},
		{"negative", func(r *Release) { r.Rules.FreshFor = -1 }, "negative durations"},
		{"long by", func(r *Release) { r.By = strings.Repeat("x", MaxNoteLen+1) }, "release: by and source hold at most 1024 bytes each"},
		{"long source", func(r *Release) { r.Source = strings.Repeat("x", MaxNoteLen+1) }, "release: by and source hold at most 1024 bytes each"},
		{"digest", func(r *Release) { r.Digest = "sha256:00" }, "release: digest sha256:00 does not match its content"},
		{"changed content", func(r *Release) { r.Zones[1].Data = []byte("www A 192.0.2.66\n") }, "does not match its content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(testContent(), "", "")
			tc.change(r)
			if tc.want != "" && !strings.Contains(tc.want, "match") {
				r.Digest = r.Content.Digest() // only the check under test fails
			}
			err := r.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if err := (*Release)(nil).Validate(); err == nil {
		t.Error("nil validates")
	}
}

// TestFileFS: the files open, read and stat as they are; nothing else
// opens, whatever the name.
func TestFileFS(t *testing.T) {
	r := New(testContent(), "", "")
	fsys := r.ZonesFS()
	for _, f := range r.Zones {
		b, err := fs.ReadFile(fsys, f.Name)
		if err != nil || !bytes.Equal(b, f.Data) {
			t.Errorf("%s: %q, %v", f.Name, b, err)
		}
		of, err := fsys.Open(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		st, err := of.Stat()
		if err != nil || st.Size() != int64(len(f.Data)) || st.IsDir() || !st.Mode().IsRegular() || st.Name() != f.Name[strings.LastIndexByte(f.Name, '/')+1:] {
			t.Errorf("%s: stat %v %v", f.Name, st, err)
		}
		b, _ = io.ReadAll(of)
		if !bytes.Equal(b, f.Data) {
			t.Errorf("%s: read %q", f.Name, b)
		}
		_ = of.Close()
	}
	b, _ := fs.ReadFile(fsys, "inc/hosts")
	b[0] = 'X'
	if again, _ := fs.ReadFile(fsys, "inc/hosts"); again[0] == 'X' {
		t.Error("ReadFile hands out the release's own bytes")
	}
	for _, name := range []string{"", ".", "inc", "inc/", "/inc/hosts", "../inc/hosts", "inc/../inc/hosts", "aya.yaml",
		"/etc/passwd", "inc/hosts/", "example.com.zone\x00", "EXAMPLE.COM.ZONE"} {
		if _, err := fsys.Open(name); err == nil {
			t.Errorf("%q opens", name)
		} else if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, fs.ErrInvalid) {
			t.Errorf("%q: %v", name, err)
		}
	}
	// NewFileFS sorts what it is given.
	nf := NewFileFS([]File{{Name: "b", Data: []byte("2")}, {Name: "a", Data: []byte("1")}})
	for name, want := range map[string]string{"a": "1", "b": "2"} {
		if b, err := fs.ReadFile(nf, name); err != nil || string(b) != want {
			t.Errorf("%s: %q %v", name, b, err)
		}
	}
}

// FuzzRelease decodes a release as a node decodes one from the log or a
// POST, and validates it: never a panic; one that validates keeps its
// digest through an encoding round trip, and its files open as they are.
func FuzzRelease(f *testing.F) {
	b, err := json.Marshal(New(testContent(), "ci", "git"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"config":{"name":"a","data":""},"zones":[{"name":"../x","data":"AA=="}],"digest":"x"}`))
	f.Add([]byte(`{"zones":[` + strings.Repeat(`{"name":"a"},`, 10) + `{}]}`))
	f.Add([]byte(strings.Repeat("[", 20000)))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Release
		if json.Unmarshal(data, &r) != nil {
			return
		}
		if r.Validate() != nil {
			return
		}
		b, err := json.Marshal(&r)
		if err != nil {
			t.Fatal(err)
		}
		var back Release
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if err := back.Validate(); err != nil || back.Digest != r.Digest {
			t.Fatalf("round trip: %v, digest %s, was %s", err, back.Digest, r.Digest)
		}
		fsys := r.ZonesFS()
		for _, zf := range r.Zones {
			got, err := fs.ReadFile(fsys, zf.Name)
			if err != nil || !bytes.Equal(got, zf.Data) {
				t.Fatalf("%s: %q, %v", zf.Name, got, err)
			}
		}
	})
}
