package site

import (
	"bytes"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/release"
)

// siteConfig is the configuration file of the tests' sites: pool web in
// two regions, the zones in dir/zones.
const siteConfig = `node:
  id: site-1
dns:
  listen: [127.0.0.1:5300]
  zones_dir: zones
admin:
  token: admin-token-SECRET
cluster:
  fresh_for: 40s
regions:
  - {name: eu, latitude: 53.3, longitude: -6.3, country: IE, continent: EU}
  - {name: us, latitude: 39.0, longitude: -77.5, country: US, continent: NA}
pools:
  - name: web
    members:
      - region: eu
        min_endpoints: 2
        endpoints:
          - {name: a, addresses: [192.0.2.1]}
          - {name: b, addresses: [192.0.2.2]}
      - region: us
        endpoints: [{name: c, addresses: [198.51.100.1]}]
`

const apex = "$TTL 300\n@ IN SOA ns1 hostmaster 1 7200 3600 1209600 300\n@ IN NS ns1\nns1 IN A 192.0.2.53\n"

// newSite writes the configuration and files (name → contents, relative
// to the zones directory) into a new directory and loads it.
func newSite(t *testing.T, files map[string]string) (*config.Config, string) {
	t.Helper()
	dir := t.TempDir()
	zones := filepath.Join(dir, "zones")
	if err := os.MkdirAll(zones, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, data := range files {
		p := filepath.Join(zones, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "aya.yaml")
	if err := os.WriteFile(path, []byte(siteConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(path, []byte(siteConfig), nil)
	if err != nil {
		t.Fatal(err)
	}
	return cfg, zones
}

// TestBuild builds a release from a zones directory whose zone includes
// files relative to it, nested and from the directory's root (in any case:
// readZones reads a zone without $INCLUDE unscanned), and compiles it on
// another machine, which has none of the files.
func TestBuild(t *testing.T) {
	cfg, zones := newSite(t, map[string]string{
		"example.com.zone": apex + "$include inc/hosts\n$Include /inc/abs\nwww IN GSLB web\n",
		"inc/hosts":        "a IN A 192.0.2.10\n$INCLUDE more\n", // relative to inc/
		"inc/more":         "b IN A 192.0.2.11\n",
		"inc/abs":          "c IN A 192.0.2.12\n",
		"inc/unused":       "d IN A 192.0.2.13\n",
		"notes.txt":        "not a zone\n",
	})
	r, built, err := Build(cfg, "ci", "git abc")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range r.Zones {
		names = append(names, f.Name)
	}
	if want := []string{"example.com.zone", "inc/abs", "inc/hosts", "inc/more"}; !slices.Equal(names, want) {
		t.Errorf("files %q, want %q", names, want)
	}
	if r.Config.Name != "aya.yaml" || bytes.Contains(r.Config.Data, []byte("SECRET")) {
		t.Errorf("config %s:\n%s", r.Config.Name, r.Config.Data)
	}
	want := release.Rules{FreshFor: 40 * time.Second, ReportInterval: cfg.Cluster.ReportInterval,
		MinUp: []release.MinUp{{Pool: "web", Region: "eu", N: 2}},
		Shed:  release.Shed{HighWater: cfg.Cluster.Shed.HighWater, LowWater: cfg.Cluster.Shed.LowWater, MaxFraction: cfg.Cluster.Shed.MaxFraction, Step: cfg.Cluster.Shed.Step}}
	if !reflect.DeepEqual(r.Rules, want) {
		t.Errorf("rules %+v, want %+v", r.Rules, want)
	}
	if err := os.RemoveAll(filepath.Dir(zones)); err != nil {
		t.Fatal(err)
	}
	got, err := Compile(r, t.TempDir(), dnsserver.ZoneLimits{})
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, built, got)
	if z := got.Zones.Zone("example.com."); z == nil || z.Len() < 6 {
		t.Errorf("zone %v", z)
	}
}

// checkSame fails unless a and b serve alike.
func checkSame(t *testing.T, a, b *Compiled) {
	t.Helper()
	if a.Release.Digest != b.Release.Digest {
		t.Errorf("digests %s, %s", a.Release.Digest, b.Release.Digest)
	}
	za, zb := a.Zones.List(), b.Zones.List()
	if len(za) != len(zb) {
		t.Fatalf("%d zones, %d", len(za), len(zb))
	}
	for i := range za {
		if za[i].Origin != zb[i].Origin || za[i].Len() != zb[i].Len() || za[i].Serial() != zb[i].Serial() {
			t.Errorf("zone %s (%d names), %s (%d names)", za[i].Origin, za[i].Len(), zb[i].Origin, zb[i].Len())
		}
	}
	if !reflect.DeepEqual(a.Pools, b.Pools) {
		t.Errorf("pools differ:\n%+v\n%+v", a.Pools, b.Pools)
	}
}

// TestBuildRefuses: a zone that reaches out of the zones directory, or
// at a file that is not one a release can hold, is refused at the line
// that names it, and nothing of what it reached is shown.
func TestBuildRefuses(t *testing.T) {
	include := func(target string) map[string]string {
		return map[string]string{"example.com.zone": apex + "$INCLUDE " + target + "\n"}
	}
	for _, tc := range []struct {
		name  string
		files map[string]string
		prep  func(t *testing.T, zones string)
		want  string
	}{
		{"absolute", include("/etc/passwd"), nil, "example.com.zone:5:20: failed to open `/etc/passwd' as `etc/passwd': open etc/passwd: no such file or directory"},
		{"dot dot", include("../aya.yaml"), nil, "example.com.zone:5:20: failed to open `../aya.yaml': open ../aya.yaml: invalid argument"},
		{"nested dot dot", include("inc/x"), func(t *testing.T, zones string) {
			write(t, filepath.Join(zones, "inc", "x"), "$INCLUDE ../../aya.yaml\n")
		}, "inc/x:1:23: failed to open `../../aya.yaml' as `../aya.yaml'"},
		{"symlink out", include("inc"), func(t *testing.T, zones string) {
			symlink(t, "/etc/passwd", filepath.Join(zones, "inc"))
		}, "example.com.zone:5:12: failed to open `inc': open inc: path escapes from parent"},
		{"symlink to a symlink out", include("inc"), func(t *testing.T, zones string) {
			symlink(t, "../aya.yaml", filepath.Join(zones, "inc"))
		}, "open inc: path escapes from parent"},
		{"dev zero", include("zero"), func(t *testing.T, zones string) {
			symlink(t, "/dev/zero", filepath.Join(zones, "zero"))
		}, "example.com.zone:5:13: failed to open `zero': open zero: path escapes from parent"},
		{"fifo", include("fifo"), func(t *testing.T, zones string) {
			if err := syscall.Mkfifo(filepath.Join(zones, "fifo"), 0o644); err != nil {
				t.Skip(err)
			}
		}, "example.com.zone:5:13: failed to open `fifo': open fifo: not a regular file"},
		{"fifo zone", map[string]string{}, func(t *testing.T, zones string) {
			if err := syscall.Mkfifo(filepath.Join(zones, "example.com.zone"), 0o644); err != nil {
				t.Skip(err)
			}
		}, "zones/example.com.zone: not a regular file"},
		{"directory", include("inc"), func(t *testing.T, zones string) {
			write(t, filepath.Join(zones, "inc", "x"), "")
		}, "failed to open `inc': open inc: not a regular file"},
		{"huge", include("big"), func(t *testing.T, zones string) {
			f, err := os.Create(filepath.Join(zones, "big"))
			if err == nil {
				err = f.Truncate(release.MaxTotalSize + 1)
			}
			if err != nil {
				t.Fatal(err)
			}
			_ = f.Close()
		}, "example.com.zone:5:12: failed to open `big': open big: larger than a release holds (67108864 bytes)"},
		{"secret text", include("inc"), func(t *testing.T, zones string) {
			write(t, filepath.Join(filepath.Dir(zones), "token"), "SECRET\n")
			symlink(t, "../token", filepath.Join(zones, "inc"))
		}, "path escapes from parent"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, zones := newSite(t, tc.files)
			if tc.prep != nil {
				tc.prep(t, zones)
			}
			done := make(chan error, 1)
			go func() {
				_, _, err := Build(cfg, "", "")
				done <- err
			}()
			var err error
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Build hangs")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
			for _, leak := range []string{"root:", "SECRET"} {
				if strings.Contains(err.Error(), leak) {
					t.Errorf("the error shows what it read: %v", err)
				}
			}
		})
	}
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Skip(err)
	}
}

// TestCompileErrors: a received release that does not compile says
// where, in the operator's names, whichever site compiles it.
func TestCompileErrors(t *testing.T) {
	cfg, _ := newSite(t, map[string]string{"example.com.zone": apex + "www IN GSLB web\n"})
	good, _, err := Build(cfg, "", "")
	if err != nil {
		t.Fatal(err)
	}
	rebuild := func(change func(c *release.Content)) *release.Release {
		c := good.Content
		c.Zones = slices.Clone(c.Zones)
		change(&c)
		return release.New(c, "", "")
	}
	for _, tc := range []struct {
		name string
		r    *release.Release
		want string
	}{
		{"unknown region", rebuild(func(c *release.Content) {
			c.Config.Data = bytes.Replace(c.Config.Data, []byte("region: us"), []byte("region: ap"), 1)
		}), "/srv/aya/aya.yaml:21: pools[0].members[1].region: unknown region \"ap\""},
		{"a site's key", rebuild(func(c *release.Content) {
			c.Config.Data = bytes.Replace(c.Config.Data, []byte("\n\n\n\n\n\n\n"), []byte("\n\n\n\n\n\nadmin: {token: t}\n"), 1)
		}), "/srv/aya/aya.yaml:7: admin.token: not part of a release"},
		{"zone syntax", rebuild(func(c *release.Content) {
			c.Zones[0].Data = append(bytes.Clone(c.Zones[0].Data), "bad IN A 300.1.1.1\n"...)
		}), "example.com.zone:6:"},
		{"unknown pool", rebuild(func(c *release.Content) {
			c.Zones[0].Data = append(bytes.Clone(c.Zones[0].Data), "api IN GSLB wen\n"...)
		}), `example.com.zone:6: unknown pool "wen" (did you mean "web"?)`},
		{"include not in the release", rebuild(func(c *release.Content) {
			c.Zones[0].Data = append(bytes.Clone(c.Zones[0].Data), "$INCLUDE /etc/passwd\n"...)
		}), "example.com.zone:6:20: failed to open `/etc/passwd' as `etc/passwd'"},
		{"rules not the config's", func() *release.Release {
			c := good.Content
			c.Rules.MinUp = nil
			return release.New(c, "", "")
		}(), "its rules are not those of its configuration aya.yaml"},
		{"rules fresh_for", func() *release.Release {
			c := good.Content
			c.Rules.FreshFor = time.Hour
			return release.New(c, "", "")
		}(), "its rules are not those of its configuration"},
		{"digest", func() *release.Release { r := *good; r.Digest = "sha256:00"; return &r }(), "does not match its content"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Compile(tc.r, "/srv/aya", dnsserver.ZoneLimits{})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := Compile(good, "/srv/aya", dnsserver.ZoneLimits{}); err != nil {
		t.Fatalf("the good release: %v", err)
	}
}

// TestCompileRecords: many zones together hold no more records than one
// zone may.
func TestCompileRecords(t *testing.T) {
	files := map[string]string{}
	for i := range 3 {
		files[fmt.Sprintf("z%d.example.zone", i)] = apex + "$GENERATE 0-65535 a$ A 192.0.2.1\n$GENERATE 0-65535 b$ A 192.0.2.1\n"
	}
	cfg, _ := newSite(t, files)
	cfg.DNS.Zones.MaxRecords = 200_000
	_, _, err := Build(cfg, "", "")
	if want := "z1.example.zone: more than 200000 records in the zones of the release (dns.zones.max_records)"; err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err %v, want %q", err, want)
	}
}

// TestCompilerParsesOnce: a release built by a Compiler is not parsed again
// when the cluster checks it and the site serves it, and a release that
// changes the steering only keeps the zones it had; one that changes a
// zone file gets it parsed.
func TestCompilerParsesOnce(t *testing.T) {
	cfg, zones := newSite(t, map[string]string{"example.com.zone": apex + "www IN GSLB web\na IN A 192.0.2.1\n"})
	comp := NewCompiler(cfg)
	r, _, err := comp.Build(cfg, "", "", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	built := comp.last.Load()
	if built == nil {
		t.Fatal("Build kept nothing")
	}
	// As the cluster hands it back: a copy, with a version.
	back := *r
	back.Version, back.Index = 1, 5
	c, err := comp.Compile(&back)
	if err != nil {
		t.Fatal(err)
	}
	if c.Zones != built.Zones || c.Release != &back {
		t.Errorf("compiled again: zones %p, want %p", c.Zones, built.Zones)
	}
	want, err := Compile(&back, ConfigDir(cfg), dnsserver.ZoneLimits{})
	if err != nil {
		t.Fatal(err)
	}
	checkSame(t, c, want)

	// The steering changes (a comment is enough for a new digest): the
	// zone is the same one.
	steer := release.New(release.Content{Config: release.File{Name: r.Config.Name, Data: append(bytes.Clone(r.Config.Data), "# v2\n"...)},
		Zones: r.Zones, Rules: r.Rules}, "", "")
	c2, err := comp.Compile(steer)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Release.Digest == r.Digest || c2.Zones.Zone("example.com.") != built.Zones.Zone("example.com.") {
		t.Errorf("zone parsed again for a steering change")
	}

	// A zone file changes: parsed.
	write(t, filepath.Join(zones, "example.com.zone"), apex+"www IN GSLB web\na IN A 192.0.2.2\n")
	r3, _, err := comp.Build(cfg, "", "", nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c3, err := comp.Compile(r3)
	if err != nil {
		t.Fatal(err)
	}
	if z := c3.Zones.Zone("example.com."); z == built.Zones.Zone("example.com.") || z.Serial() != 1 {
		t.Errorf("zone not parsed again after its file changed")
	}

	// A bad zone is refused with the operator's path, and the last good
	// release stays.
	write(t, filepath.Join(zones, "example.com.zone"), apex+"a IN A 192.0.2\n")
	if _, _, err := comp.Build(cfg, "", "", nil, time.Now()); err == nil || !strings.Contains(err.Error(), filepath.Join(zones, "example.com.zone")+":5:") {
		t.Errorf("err %v, want one at %s:5", err, filepath.Join(zones, "example.com.zone"))
	}
	if comp.last.Load() != c3 && comp.last.Load().Zones != c3.Zones {
		t.Errorf("the last good release was dropped")
	}
}

// TestHeapBound: a big publish bounds the heap near its live size, a
// compile beside it raises the bound and a failed one puts it back (nested
// ones when the last ends, unless a publish set the next bound; one whose
// release was applied leaves it to the publish), and a small release lifts
// it; GOMEMLIMIT, the operator's, is never touched.
func TestHeapBound(t *testing.T) {
	t.Cleanup(func() { debug.SetMemoryLimit(math.MaxInt64) })
	log := slog.New(slog.DiscardHandler)
	t.Setenv("GOMEMLIMIT", "")
	boundHeap(log, true)
	bound := debug.SetMemoryLimit(-1)
	if bound == math.MaxInt64 || bound < 64<<20 {
		t.Fatalf("bound %d after a big publish", bound)
	}
	restore := roomToCompile()
	if got := debug.SetMemoryLimit(-1); got <= bound {
		t.Errorf("bound %d while compiling, want more than %d", got, bound)
	}
	restore()
	if got := debug.SetMemoryLimit(-1); got != bound {
		t.Errorf("bound %d after a failed compile, want %d", got, bound)
	}
	// A compile inside a build (building): the last one out restores.
	outer, inner := roomToCompile(), roomToCompile()
	raised := debug.SetMemoryLimit(-1)
	inner()
	if got := debug.SetMemoryLimit(-1); got != raised {
		t.Errorf("bound %d after the inner compile, want %d still", got, raised)
	}
	outer()
	if got := debug.SetMemoryLimit(-1); got != bound {
		t.Errorf("bound %d after the build, want %d", got, bound)
	}
	// A publish before the build ends: its bound stays.
	room := roomToCompile()
	boundHeap(log, true)
	published := debug.SetMemoryLimit(-1)
	room()
	if got := debug.SetMemoryLimit(-1); got != published {
		t.Errorf("bound %d after a build that published, want the publish's %d", got, published)
	}
	// A build whose release entered the log keeps the room for its publish.
	applied := roomFor()
	raised = debug.SetMemoryLimit(-1)
	applied(true)
	if got := debug.SetMemoryLimit(-1); got != raised || raised <= published {
		t.Errorf("bound %d after an applied build, want the raised %d (above %d) until the publish", got, raised, published)
	}
	boundHeap(log, true)
	boundHeap(log, false)
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("bound %d after a small publish, want none", got)
	}
	t.Setenv("GOMEMLIMIT", "1GiB")
	debug.SetMemoryLimit(1 << 30)
	boundHeap(log, true)
	roomToCompile()
	if got := debug.SetMemoryLimit(-1); got != 1<<30 {
		t.Errorf("bound %d with GOMEMLIMIT set, want it kept", got)
	}
}
