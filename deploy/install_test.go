// The tests of how aya is installed and run: the systemd unit (with
// systemd-analyze), the example configuration (with aya check), the
// Dockerfile against the release layout, the release archives (their
// layout and, with AYA_RELEASE_TEST=1, their reproducibility), NOTICE.

package deploy

import (
	"archive/tar"
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/internal/testutil"
)

// The tests run in deploy/; the repo root is one up.
const root = ".."

var (
	buildOnce sync.Once
	ayaBin    string
	buildErr  error
)

// aya builds the binary once for the tests of this package.
func aya(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "aya-deploy")
		if err != nil {
			buildErr = err
			return
		}
		ayaBin = filepath.Join(dir, "aya")
		out, err := exec.Command("go", "build", "-o", ayaBin, "../cmd/aya").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return ayaBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if ayaBin != "" {
		_ = os.RemoveAll(filepath.Dir(ayaBin))
	}
	os.Exit(code)
}

// unit is a systemd unit file: section → key → values, in order.
type unit map[string]map[string][]string

func readUnit(t *testing.T, file string) unit {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	u, section := unit{}, ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") || strings.HasPrefix(line, ";"):
		case strings.HasPrefix(line, "["):
			section = strings.Trim(line, "[]")
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" {
				t.Fatalf("%s: bad line %q", file, line)
			}
			u[section][k] = append(u[section][k], v)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return u
}

// one returns the single value of a key.
func (u unit) one(t *testing.T, section, key string) string {
	t.Helper()
	v := u[section][key]
	if len(v) != 1 {
		t.Fatalf("[%s] %s: %q, want one value", section, key, v)
	}
	return v[0]
}

const (
	unitFile   = root + "/deploy/systemd/aya.service"
	deployConf = root + "/deploy/aya.yaml"
	dockerfile = root + "/deploy/docker/Dockerfile"
)

// TestSystemdUnit: systemd-analyze verify accepts the unit (with ExecStart
// pointed at a built aya, since verify requires the binary to exist), and
// the unit and deploy/aya.yaml agree: the configuration it runs is the
// one shipped, whose data_dir is the unit's StateDirectory.
func TestSystemdUnit(t *testing.T) {
	u := readUnit(t, unitFile)
	svc := func(k string) string { return u.one(t, "Service", k) }
	for k, want := range map[string]string{
		"DynamicUser":             "yes",
		"StateDirectory":          "aya",
		"AmbientCapabilities":     "CAP_NET_BIND_SERVICE",
		"CapabilityBoundingSet":   "CAP_NET_BIND_SERVICE",
		"ExecReload":              "/bin/kill -HUP $MAINPID",
		"Restart":                 "on-failure",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX AF_NETLINK",
	} {
		if got := svc(k); got != want {
			t.Errorf("[Service] %s=%s, want %s", k, got, want)
		}
	}
	if f := u["Service"]["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%q, want @system-service first", f)
	}
	exec0 := strings.Fields(svc("ExecStart"))
	if want := []string{"/usr/local/bin/aya", "serve", "--config", "/etc/aya/aya.yaml"}; !slices.Equal(exec0, want) {
		t.Fatalf("ExecStart=%q, want %q", exec0, want)
	}

	// The configuration it points at (deploy/aya.yaml, installed as
	// /etc/aya/aya.yaml) keeps its state where the unit may write.
	cfg, err := config.Load(deployConf, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "/var/lib/" + svc("StateDirectory"); cfg.Cluster.DataDir != want {
		t.Errorf("deploy/aya.yaml cluster.data_dir = %s, want %s (StateDirectory=%s)", cfg.Cluster.DataDir, want, svc("StateDirectory"))
	}

	analyze := testutil.LookTool(t, "systemd-analyze", "systemd")
	bin := aya(t)
	data, err := os.ReadFile(unitFile)
	if err != nil {
		t.Fatal(err)
	}
	copied := filepath.Join(t.TempDir(), "aya.service")
	if err := os.WriteFile(copied, bytes.ReplaceAll(data, []byte(exec0[0]), []byte(bin)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(analyze, "verify", "--man=no", copied).CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("systemd-analyze verify: %v\n%s", err, out)
	}
}

// TestDeployConfig: deploy/aya.yaml, beside the example zones the archive
// ships with it, passes aya check as the archive lays it out.
func TestDeployConfig(t *testing.T) {
	bin := aya(t)
	dir := t.TempDir()
	copyFile(t, deployConf, filepath.Join(dir, "aya.yaml"))
	copyTree(t, filepath.Join(root, "zones"), filepath.Join(dir, "zones"))
	cmd := exec.Command(bin, "check", "--config", filepath.Join(dir, "aya.yaml"))
	cmd.Env = withoutAYA(os.Environ())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aya check: %v\n%s", err, out)
	}
}

// withoutAYA drops AYA_* variables, which would override the file.
func withoutAYA(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool { return strings.HasPrefix(kv, "AYA_") })
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func copyTree(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(from, p)
		if err != nil {
			return err
		}
		copyFile(t, p, filepath.Join(to, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// instruction is one Dockerfile instruction: its keyword and the rest.
type instruction struct{ cmd, args string }

// readDockerfile returns the instructions, continuation lines joined and
// comments dropped.
func readDockerfile(t *testing.T) []instruction {
	t.Helper()
	data, err := os.ReadFile(dockerfile)
	if err != nil {
		t.Fatal(err)
	}
	var ins []instruction
	var cur strings.Builder
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if l, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(l + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		ins = append(ins, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	return ins
}

// TestDockerfile: the image needs no base image (FROM scratch, no RUN:
// there is no shell), runs as a non-root user, checks its health with
// aya health, and copies only what the release layout has.
func TestDockerfile(t *testing.T) {
	ins := readDockerfile(t)
	by := map[string][]string{}
	for _, i := range ins {
		by[i.cmd] = append(by[i.cmd], i.args)
	}
	if f := by["FROM"]; len(f) != 1 || f[0] != "scratch" {
		t.Errorf("FROM %q, want only scratch", f)
	}
	if r := by["RUN"]; len(r) > 0 {
		t.Errorf("RUN %q: a scratch image has no shell", r)
	}
	if u := by["USER"]; len(u) != 1 {
		t.Errorf("USER %q, want one", u)
	} else {
		uid, gid, _ := strings.Cut(u[0], ":")
		if n, err := strconv.Atoi(uid); err != nil || n == 0 {
			t.Errorf("USER %s: want a numeric non-root uid (there is no /etc/passwd)", u[0])
		}
		if n, err := strconv.Atoi(gid); err != nil || n == 0 {
			t.Errorf("USER %s: want a numeric non-root gid", u[0])
		}
	}
	exposed := strings.Fields(strings.Join(by["EXPOSE"], " "))
	for _, p := range []string{"5300/udp", "5300/tcp", "9053/tcp", "7300/tcp"} {
		if !slices.Contains(exposed, p) {
			t.Errorf("EXPOSE %q lacks %s", exposed, p)
		}
	}

	// COPY sources, with the build args of a release of both platforms.
	const version = "v0.0.0-test"
	dist := fakeRelease(t, version, "1796000000")
	dest := map[string]string{} // destination → source
	for _, c := range by["COPY"] {
		f := strings.Fields(c)
		if len(f) < 2 || strings.HasPrefix(f[0], "--from") {
			t.Fatalf("COPY %s: want sources from the build context", c)
		}
		for _, arch := range []string{"amd64", "arm64"} {
			for _, src := range f[:len(f)-1] {
				src = strings.NewReplacer("${VERSION}", version, "${TARGETARCH}", arch).Replace(src)
				if _, err := os.Stat(filepath.Join(dist, src)); err != nil {
					t.Errorf("COPY %s: %s is not in the release layout: %v", c, src, err)
				}
				dest[f[len(f)-1]] = src
			}
		}
	}
	bin := ""
	for d, s := range dest {
		if path.Base(s) == "aya" {
			bin = d
		}
	}
	var entry []string
	if e := by["ENTRYPOINT"]; len(e) != 1 || json.Unmarshal([]byte(e[0]), &entry) != nil || len(entry) != 1 || entry[0] != bin {
		t.Errorf("ENTRYPOINT %q, want [%q]", e, bin)
	}

	// The health check runs aya health against the admin port that the
	// image's configuration (deploy/aya.yaml and ENV) listens on.
	hc := by["HEALTHCHECK"]
	if len(hc) != 1 {
		t.Fatalf("HEALTHCHECK %q, want one", hc)
	}
	_, execForm, ok := strings.Cut(hc[0], "CMD ")
	var argv []string
	if !ok || json.Unmarshal([]byte(execForm), &argv) != nil || len(argv) < 2 || argv[0] != bin || argv[1] != "health" {
		t.Fatalf("HEALTHCHECK %s: want CMD [%q, \"health\", …] (exec form: no shell)", hc[0], bin)
	}
	for _, e := range by["ENV"] {
		for kv := range strings.FieldsSeq(e) {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
	}
	// The admin port is reachable from other containers: without a token
	// the image refuses to start, and says how to give one.
	if _, err := config.Load(deployConf, nil); err == nil || !strings.Contains(err.Error(), "AYA_ADMIN_TOKEN") {
		t.Errorf("the image's configuration without a token: %v, want it refused, naming AYA_ADMIN_TOKEN", err)
	}
	t.Setenv("AYA_ADMIN_TOKEN", "docker-run-e-token") // docker run -e AYA_ADMIN_TOKEN=…
	cfg, err := config.Load(deployConf, nil)
	if err != nil {
		t.Fatal(err)
	}
	adminPort := cfg.Admin.Listen[strings.LastIndex(cfg.Admin.Listen, ":"):]
	if i := slices.Index(argv, "--admin"); i < 0 || i+1 == len(argv) || !strings.HasSuffix(argv[i+1], adminPort) {
		t.Errorf("HEALTHCHECK %q: want --admin on the admin port %s of the image's configuration", argv, adminPort)
	}
	for _, l := range cfg.DNS.Listen {
		if p := l[strings.LastIndex(l, ":")+1:]; !slices.Contains(exposed, p+"/udp") {
			t.Errorf("dns.listen %s in the image, not exposed (%q)", l, exposed)
		}
	}
}

// fakeRelease runs deploy/release.sh with a stand-in for go that writes a
// placeholder binary: the archives and their layout without the build.
// It returns the DIST directory.
func fakeRelease(t *testing.T, version, epoch string) string {
	t.Helper()
	testutil.LookTool(t, "bash", "bash")
	dir := t.TempDir()
	stub := filepath.Join(dir, "go")
	// The stand-in writes its GOARCH to the file after -o.
	// go list (for THIRD_PARTY_LICENSES) is the real one.
	script := "#!/bin/sh\n[ \"$1\" = list ] && exec go \"$@\"\n" +
		"while [ $# -gt 0 ]; do if [ \"$1\" = -o ]; then echo \"aya for $GOARCH\" > \"$2\"; fi; shift; done\n"
	if err := os.WriteFile(stub, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dist := filepath.Join(dir, "dist")
	cmd := exec.Command("bash", filepath.Join(root, "deploy", "release.sh"))
	cmd.Env = append(os.Environ(), "VERSION="+version, "COMMIT=0123456789abcdef", "SOURCE_DATE_EPOCH="+epoch, "DIST="+dist, "GO="+stub)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("release.sh: %v\n%s", err, out)
	}
	return dist
}

// archiveFiles are the regular files of every archive, under its top
// directory aya-VERSION-linux-ARCH/.
var archiveFiles = []string{
	"CHANGELOG.md", "LICENSE", "NOTICE", "README.md", "THIRD_PARTY_LICENSES", "aya", "aya.service", "aya.yaml",
	"zones/geo/demo.yaml", "zones/gslb.example.com.zone",
}

// checkArchive checks the normalisation of one archive: gzip without name
// or time; tar entries sorted by name, every one owned by 0:0 with no
// names, stamped epoch, modes 0755 (directories, aya) or 0644; exactly
// archiveFiles under top/. It returns the contents of aya.
func checkArchive(t *testing.T, file, top string, epoch int64) []byte {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if zr.Name != "" || !zr.ModTime.IsZero() {
		t.Errorf("%s: gzip header name %q, time %v; want neither (gzip -n)", file, zr.Name, zr.ModTime)
	}
	tr := tar.NewReader(zr)
	var names, files []string
	var bin []byte
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		wantMode := int64(0o644)
		switch {
		case h.Typeflag == tar.TypeDir:
			wantMode = 0o755
		case h.Typeflag == tar.TypeReg:
			rel, ok := strings.CutPrefix(h.Name, top+"/")
			if !ok {
				t.Errorf("%s: %s outside %s/", file, h.Name, top)
			}
			files = append(files, rel)
			if rel == "aya" {
				wantMode = 0o755
				if bin, err = io.ReadAll(tr); err != nil {
					t.Fatal(err)
				}
			}
		default:
			t.Errorf("%s: %s has type %c", file, h.Name, h.Typeflag)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: %s owned by %d:%d (%q:%q), want 0:0 by number", file, h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		if !h.ModTime.Equal(time.Unix(epoch, 0)) {
			t.Errorf("%s: %s stamped %v, want %v", file, h.Name, h.ModTime.UTC(), time.Unix(epoch, 0).UTC())
		}
		if h.Mode != wantMode {
			t.Errorf("%s: %s mode %o, want %o", file, h.Name, h.Mode, wantMode)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("%s: names not sorted: %q", file, names)
	}
	if !slices.Equal(slices.Sorted(slices.Values(files)), archiveFiles) {
		t.Errorf("%s: files %q, want %q", file, files, archiveFiles)
	}
	return bin
}

// checkSums checks that dist/SHA256SUMS names the archives with their
// hashes, and returns it.
func checkSums(t *testing.T, dist string, archives []string) string {
	t.Helper()
	sums, err := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var want strings.Builder
	for _, a := range archives {
		data, err := os.ReadFile(filepath.Join(dist, a))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		fmt.Fprintf(&want, "%s  %s\n", hex.EncodeToString(h[:]), a)
	}
	if string(sums) != want.String() {
		t.Errorf("SHA256SUMS:\n%s\nwant:\n%s", sums, want.String())
	}
	return string(sums)
}

// TestReleaseLayout: the archives' layout and normalisation, and that
// packing twice gives the same bytes, with a stand-in for the Go build
// (TestReleaseArchives builds for real).
func TestReleaseLayout(t *testing.T) {
	const version, epoch = "v1.2.3", 1796000000
	a := fakeRelease(t, version, strconv.Itoa(epoch))
	b := fakeRelease(t, version, strconv.Itoa(epoch))
	var archives []string
	for _, arch := range []string{"amd64", "arm64"} {
		top := "aya-" + version + "-linux-" + arch
		archives = append(archives, top+".tar.gz")
		if bin := checkArchive(t, filepath.Join(a, top+".tar.gz"), top, epoch); string(bin) != "aya for "+arch+"\n" {
			t.Errorf("%s: aya is %q, not the build for %s", top, bin, arch)
		}
	}
	// THIRD_PARTY_LICENSES has a license file for every module built in.
	for _, arch := range []string{"amd64", "arm64"} {
		tpl, err := os.ReadFile(filepath.Join(a, "aya-"+version+"-linux-"+arch, "THIRD_PARTY_LICENSES"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range builtModules(t, arch) {
			if !bytes.Contains(tpl, []byte("\n"+m[0]+" "+m[1]+"\n\n--- ")) {
				t.Errorf("%s THIRD_PARTY_LICENSES: no license file for %s %s", arch, m[0], m[1])
			}
		}
	}
	if sa, sb := checkSums(t, a, archives), checkSums(t, b, archives); sa != sb {
		t.Errorf("packed twice, the archives differ:\n%s\n%s", sa, sb)
	}
}

// TestReleaseArchives is make release for real, twice: once in this
// checkout with the Makefile's own VERSION, COMMIT and SOURCE_DATE_EPOCH,
// once in a copy of the tree elsewhere with the values git gives; the
// archives must be byte-identical, and each aya static, stripped and of
// its architecture. Building both architectures takes about 2.5 minutes
// on a cold build cache (10 s warm), so it runs only with
// AYA_RELEASE_TEST=1, which .ci/run sets for a run of its own.
func TestReleaseArchives(t *testing.T) {
	if os.Getenv("AYA_RELEASE_TEST") != "1" {
		t.Skip("builds the release twice (about 2.5 min on a cold build cache): set AYA_RELEASE_TEST=1")
	}
	makeBin := testutil.LookTool(t, "make", "make")
	git := testutil.LookTool(t, "git", "git")
	fileBin := testutil.LookTool(t, "file", "file")
	gitOut := func(args ...string) string {
		out, err := exec.Command(git, append([]string{"-C", root}, args...)...).Output()
		if err != nil {
			t.Fatalf("git %q: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	version := gitOut("describe", "--tags", "--always", "--dirty")
	commit := gitOut("rev-parse", "HEAD")
	epoch, err := strconv.ParseInt(gitOut("log", "-1", "--format=%ct"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}

	distA := filepath.Join(t.TempDir(), "dist")
	run := func(dir string, args ...string) {
		t.Helper()
		cmd := exec.Command(makeBin, append([]string{"-s", "-C", dir, "release"}, args...)...)
		cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "VERSION=") || strings.HasPrefix(kv, "COMMIT=") || strings.HasPrefix(kv, "SOURCE_DATE_EPOCH=")
		})
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("make release in %s: %v\n%s", dir, err, out)
		}
	}
	run(root, "DIST="+distA)

	// The same tree (tracked and untracked files) at another path, no git.
	tree := filepath.Join(t.TempDir(), "src")
	for f := range strings.SplitSeq(gitOut("ls-files", "-co", "--exclude-standard"), "\n") {
		if _, err := os.Lstat(filepath.Join(root, f)); err == nil { // deleted but still tracked: skip
			copyFile(t, filepath.Join(root, f), filepath.Join(tree, f))
		}
	}
	distB := filepath.Join(t.TempDir(), "dist")
	run(tree, "DIST="+distB, "VERSION="+version, "COMMIT="+commit, "SOURCE_DATE_EPOCH="+strconv.FormatInt(epoch, 10))

	var archives []string
	for _, arch := range []string{"amd64", "arm64"} {
		archives = append(archives, "aya-"+version+"-linux-"+arch+".tar.gz")
	}
	sa, sb := checkSums(t, distA, archives), checkSums(t, distB, archives)
	if sa != sb {
		t.Fatalf("built twice, the archives differ:\n%s\n%s", sa, sb)
	}
	t.Logf("SHA256SUMS (both builds):\n%s", sa)

	for _, arch := range []string{"amd64", "arm64"} {
		top := "aya-" + version + "-linux-" + arch
		bin := filepath.Join(t.TempDir(), "aya")
		if err := os.WriteFile(bin, checkArchive(t, filepath.Join(distA, top+".tar.gz"), top, epoch), 0o755); err != nil {
			t.Fatal(err)
		}
		checkBinary(t, fileBin, bin, arch, version, commit)
	}
}

// checkBinary: static (no interpreter, no dynamic section), stripped (no
// symbol table), of arch, built as make release says (go version -m), and,
// on this machine's architecture, printing version and commit.
func checkBinary(t *testing.T, fileBin, bin, arch, version, commit string) {
	t.Helper()
	out, err := exec.Command(fileBin, "-b", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	desc := string(out)
	machine := map[string]string{"amd64": "x86-64", "arm64": "ARM aarch64"}[arch]
	if !strings.Contains(desc, "ELF 64-bit") || !strings.Contains(desc, machine) || !strings.Contains(desc, "statically linked") ||
		!strings.Contains(desc, ", stripped") {
		t.Errorf("file %s: %s; want a static, stripped %s ELF", arch, desc, machine)
	}
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("%s: has a %v program header: not static", arch, p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s: has .symtab: not stripped", arch)
	}

	out, err = exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	info := string(out)
	// (With -trimpath, go does not record -ldflags: go.dev/issue/52372.)
	for _, want := range []string{"\tbuild\t-trimpath=true\n", "\tbuild\tCGO_ENABLED=0\n", "\tbuild\tGOOS=linux\n", "\tbuild\tGOARCH=" + arch + "\n"} {
		if !strings.Contains(info, want) {
			t.Errorf("go version -m %s lacks %q:\n%s", arch, want, info)
		}
	}
	if strings.Contains(info, "vcs.") {
		t.Errorf("go version -m %s: a VCS stamp (want -buildvcs=false):\n%s", arch, info)
	}
	if out, err := exec.Command("go", "tool", "buildid", bin).Output(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("go tool buildid %s: %q, %v; want none (-buildid=)", arch, out, err)
	}
	if arch != runtime.GOARCH {
		return
	}
	out, err = exec.Command(bin, "version", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var v struct{ Version, Commit, OS, Arch string }
	if err := json.Unmarshal(out, &v); err != nil || v.Version != version || v.Commit != commit || v.OS != "linux" || v.Arch != arch {
		t.Errorf("aya version --json = %s (%v), want version %s, commit %s, linux/%s", out, err, version, commit, arch)
	}
}

// TestNotice: NOTICE reproduces the NOTICE file of every module built into
// aya that has one (Apache-2.0 §4(d)), at the version go.mod selects, and
// names no module that is not built in.
func TestNotice(t *testing.T) {
	notice, err := os.ReadFile(filepath.Join(root, "NOTICE"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, f := range builtModules(t, runtime.GOARCH) {
		text, err := os.ReadFile(filepath.Join(f[2], "NOTICE"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		want[f[0]+" "+f[1]] = true
		if !bytes.Contains(notice, []byte(f[0]+" "+f[1]+" (NOTICE)\n")) {
			t.Errorf("NOTICE lacks %s %s, whose NOTICE file says:\n%s", f[0], f[1], text)
			continue
		}
		for l := range strings.Lines(string(text)) {
			if l = strings.TrimSpace(l); l != "" && !bytes.Contains(notice, []byte(l)) {
				t.Errorf("NOTICE lacks the line %q of %s %s's NOTICE", l, f[0], f[1])
			}
		}
	}
	for line := range strings.Lines(string(notice)) {
		if name, ok := strings.CutSuffix(strings.TrimSpace(line), " (NOTICE)"); ok && !want[name] {
			t.Errorf("NOTICE names %s, which is not built into aya with a NOTICE file", name)
		}
	}
}

// builtModules lists the modules built into aya for linux/arch, but aya's
// own: path, version, directory in the module cache.
func builtModules(t *testing.T, arch string) [][3]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}} {{.Dir}}{{end}}{{end}}", "../cmd/aya")
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH="+arch)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var mods [][3]string
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) == 3 && !slices.Contains(mods, [3]string(f)) {
			mods = append(mods, [3]string(f))
		}
	}
	return mods
}
