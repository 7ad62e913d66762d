package release

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"slices"
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

// testSigned is testContent with the signatures of its zone.
func testSigned() Content {
	c := testContent()
	at := time.Date(2026, 12, 16, 0, 0, 0, 0, time.UTC)
	c.Signed = []SignedZone{{
		Zone:    "example.com.",
		Records: "example.com.\t3600\tIN\tDNSKEY\t257 3 13 AAAA\n",
		Steered: []SignedSet{{Name: "www.example.com.", Type: "A", TTL: 30, Addrs: []string{"192.0.2.1", "192.0.2.2"},
			Sigs: []string{"www.example.com.\t30\tIN\tRRSIG\tA 13 3 30 20261216000000 20261201000000 1 example.com. AAAA"}}},
		Expires: at, Refresh: at.Add(-7 * 24 * time.Hour),
	}}
	return c
}

// TestDigestUnsigned: a release without signatures keeps the digest it
// had before releases carried them (pinnedDigest was pinned then), with
// Signed nil or empty; with them, the digest differs, and UnsignedDigest
// is the unsigned one.
func TestDigestUnsigned(t *testing.T) {
	c := testContent()
	c.Signed = []SignedZone{}
	if d := c.Digest(); d != pinnedDigest {
		t.Errorf("an empty Signed changes the digest: %s", d)
	}
	if r := New(c, "", ""); r.Signed != nil || r.Digest != pinnedDigest {
		t.Errorf("New: signed %#v, digest %s", r.Signed, r.Digest)
	}
	s := testSigned()
	if d := s.Digest(); d == pinnedDigest || d != pinnedSignedDigest {
		t.Errorf("signed digest %s, pinned %s", d, pinnedSignedDigest)
	}
	if d := s.UnsignedDigest(); d != pinnedDigest {
		t.Errorf("unsigned digest %s, want %s", d, pinnedDigest)
	}
	if len(s.Signed) != 1 {
		t.Error("UnsignedDigest changed its content")
	}
}

// pinnedSignedDigest is testSigned's digest.
const pinnedSignedDigest = "sha256:de16799c0f2f0327b910d08736856d5dc9498344d4eca47d0c491af785976655"

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
		{"signed zone", func(c *Content) { c.Signed[0].Zone = "example.org." }},
		{"signed records", func(c *Content) { c.Signed[0].Records += "x" }},
		{"signed expires", func(c *Content) { c.Signed[0].Expires = c.Signed[0].Expires.Add(time.Nanosecond) }},
		{"signed refresh", func(c *Content) { c.Signed[0].Refresh = c.Signed[0].Refresh.Add(time.Second) }},
		{"no steered", func(c *Content) { c.Signed[0].Steered = nil }},
		{"steered name", func(c *Content) { c.Signed[0].Steered[0].Name = "api.example.com." }},
		{"steered type", func(c *Content) { c.Signed[0].Steered[0].Type = "AAAA" }},
		{"steered ttl", func(c *Content) { c.Signed[0].Steered[0].TTL++ }},
		{"steered addr", func(c *Content) { c.Signed[0].Steered[0].Addrs[1] = "192.0.2.3" }},
		{"steered addr less", func(c *Content) { c.Signed[0].Steered[0].Addrs = c.Signed[0].Steered[0].Addrs[:1] }},
		{"addr/sig boundary", func(c *Content) {
			s := &c.Signed[0].Steered[0]
			s.Sigs = append([]string{s.Addrs[1]}, s.Sigs...)
			s.Addrs = s.Addrs[:1]
		}},
		{"steered sig", func(c *Content) { c.Signed[0].Steered[0].Sigs[0] += "A" }},
		{"no signatures", func(c *Content) { c.Signed = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := testSigned()
			c := testSigned()
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
		{"too big", func(r *Release) { r.Zones[0].Data, r.Zones[1].Data = big, big }, "bytes of files and signatures, more than"},
		{"min 0", func(r *Release) { r.Rules.MinUp[0].N = 0 }, "release: min_up web/eu: 0"},
		{"negative", func(r *Release) { r.Rules.FreshFor = -1 }, "negative durations"},
		{"long by", func(r *Release) { r.By = strings.Repeat("x", MaxNoteLen+1) }, "release: by and source hold at most 1024 bytes each"},
		{"long source", func(r *Release) { r.Source = strings.Repeat("x", MaxNoteLen+1) }, "release: by and source hold at most 1024 bytes each"},
		{"digest", func(r *Release) { r.Digest = "sha256:00" }, "release: digest sha256:00 does not match its content"},
		{"changed content", func(r *Release) { r.Zones[1].Data = []byte("www A 192.0.2.66\n") }, "does not match its content"},
		{"changed signatures", func(r *Release) { r.Signed[0].Records = "x" }, "does not match its content"},
		{"signed zone without its file", func(r *Release) { r.Signed[0].Zone = "example.org." }, "release: signed: zone example.org. has no zone file in the release"},
		{"signed zone of an included file", func(r *Release) {
			r.Zones = append(r.Zones, File{Name: "inc/z/example.net.zone"})
			r.Signed[0].Zone, r.Signed[0].Steered = "example.net.", nil
		}, "zone example.net. has no zone file"},
		{"signed zone of a file in capitals", func(r *Release) {
			r.Zones = append([]File{{Name: "Example.NET.zone"}}, r.Zones...)
			r.Signed = append(r.Signed, r.Signed[0])
			r.Signed[1].Zone, r.Signed[1].Steered = "example.net.", nil
		}, ""},
		{"signed unsorted", func(r *Release) {
			r.Zones = append([]File{{Name: "a.example.zone"}}, r.Zones...)
			r.Signed = append(r.Signed, r.Signed[0])
			r.Signed[1].Zone, r.Signed[1].Steered = "a.example.", nil
		}, "release: signed: zone a.example. not sorted or repeated"},
		{"signed twice", func(r *Release) { r.Signed = append(r.Signed, r.Signed[0]) }, "zone example.com. not sorted or repeated"},
		{"signed zone upper case", func(r *Release) { r.Signed[0].Zone = "Example.com." }, `release: signed: bad zone name "Example.com."`},
		{"signed zone relative", func(r *Release) { r.Signed[0].Zone = "example.com" }, `bad zone name "example.com"`},
		{"signed zone empty label", func(r *Release) { r.Signed[0].Zone = "example..com." }, `bad zone name "example..com."`},
		{"signed zone space", func(r *Release) { r.Signed[0].Zone = "exa mple.com." }, `bad zone name`},
		{"signed zone escape", func(r *Release) { r.Signed[0].Zone = "ex\\065.com." }, `bad zone name`},
		{"signed zone long", func(r *Release) { r.Signed[0].Zone = strings.Repeat("a.", 128) }, `bad zone name`},
		{"no records", func(r *Release) { r.Signed[0].Records = "" }, "release: signed: zone example.com.: no records"},
		{"no expiry", func(r *Release) { r.Signed[0].Expires = time.Time{} }, "refresh first"},
		{"no refresh", func(r *Release) { r.Signed[0].Refresh = time.Time{} }, "refresh first"},
		{"refresh after expiry", func(r *Release) { r.Signed[0].Refresh = r.Signed[0].Expires.Add(time.Second) }, "refresh first"},
		{"steered out of zone", func(r *Release) { r.Signed[0].Steered[0].Name = "www.example.org." }, `steered name "www.example.org." not in the zone`},
		{"steered suffix not a label", func(r *Release) { r.Signed[0].Steered[0].Name = "wwwexample.com." }, `not in the zone`},
		{"steered type", func(r *Release) { r.Signed[0].Steered[0].Type = "MX" }, `www.example.com.: type "MX", not A or AAAA`},
		{"steered no addrs", func(r *Release) { r.Signed[0].Steered[0].Addrs = nil }, "a set without addresses or signatures"},
		{"steered no sigs", func(r *Release) { r.Signed[0].Steered[0].Sigs = nil }, "a set without addresses or signatures"},
		{"signatures too big", func(r *Release) { r.Zones[0].Data = big; r.Signed[0].Records = string(big) }, "bytes of files and signatures, more than"},
		{"steered too big", func(r *Release) {
			r.Zones[0].Data = big
			s := &r.Signed[0].Steered[0]
			for range MaxTotalSize / 2 / 64 {
				s.Sigs = append(s.Sigs, strings.Repeat("x", 64))
			}
		}, "bytes of files and signatures, more than"},
		{"too many signed", func(r *Release) { r.Signed = make([]SignedZone, MaxFiles+1) }, "release: signed: 4097 zones, more than 4096"},
		{"unsign", func(r *Release) { r.Unsign = []string{"example.org."} }, ""},
		{"unsign bad", func(r *Release) { r.Unsign = []string{"example.org"} }, `release: unsign: bad zone name "example.org"`},
		{"unsign many", func(r *Release) { r.Unsign = make([]string, MaxFiles+1) }, "release: unsign: 4097 zones"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := New(testSigned(), "", "")
			tc.change(r)
			if !strings.Contains(tc.want, "match") {
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
	if b, err = json.Marshal(New(testSigned(), "ci", "git")); err != nil {
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
		for _, z := range r.Signed {
			if s := r.SignedZone(z.Zone); s == nil || s.Zone != z.Zone {
				t.Fatalf("SignedZone(%q): %v", z.Zone, s)
			}
		}
		if len(r.Dropped(&r)) != 0 {
			t.Fatalf("a release drops its own signatures: %v", r.Dropped(&r))
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

// TestDropped: the zones a release would unsign, less those it unsigns on
// purpose.
func TestDropped(t *testing.T) {
	signed := New(testSigned(), "", "")
	unsigned := New(testContent(), "", "")
	for _, tc := range []struct {
		name   string
		r, cur *Release
		unsign []string
		want   []string
	}{
		{"no running release", unsigned, nil, nil, nil},
		{"running unsigned", unsigned, unsigned, nil, nil},
		{"signed to unsigned", unsigned, signed, nil, []string{"example.com."}},
		{"asked", unsigned, signed, []string{"example.com."}, nil},
		{"asked for another zone", unsigned, signed, []string{"example.org."}, []string{"example.com."}},
		{"re-signed", signed, signed, nil, nil},
		{"newly signed", signed, unsigned, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := *tc.r
			r.Unsign = tc.unsign
			if got := r.Dropped(tc.cur); !slices.Equal(got, tc.want) {
				t.Errorf("dropped %v, want %v", got, tc.want)
			}
		})
	}
}

func TestZoneOfFile(t *testing.T) {
	for _, tc := range []struct {
		file, zone string
		ok         bool
	}{
		{"example.com.zone", "example.com.", true},
		{"Example.COM.zone", "example.com.", true},
		{"example.com..zone", "example.com.", true},
		{"inc/example.com.zone", "", false},
		{"example.com", "", false},
		{"hosts", "", false},
	} {
		z, ok := ZoneOfFile(tc.file)
		if z != tc.zone || ok != tc.ok {
			t.Errorf("%s: %q %v, want %q %v", tc.file, z, ok, tc.zone, tc.ok)
		}
	}
}

// TestInfoSigned: Info lists the signed zones with their expiry.
func TestInfoSigned(t *testing.T) {
	r := New(testSigned(), "", "")
	i := r.Info()
	if len(i.Signed) != 1 || i.Signed[0].Zone != "example.com." || !i.Signed[0].Expires.Equal(r.Signed[0].Expires) || !i.Signed[0].Refresh.Equal(r.Signed[0].Refresh) {
		t.Errorf("info %+v", i.Signed)
	}
	if New(testContent(), "", "").Info().Signed != nil {
		t.Error("an unsigned release lists signed zones")
	}
}
