package site

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/aya-gslb/aya/config"
	"github.com/aya-gslb/aya/dnsserver"
	"github.com/aya-gslb/aya/policy"
	"github.com/aya-gslb/aya/release"
)

// Build makes the release of cfg's files: the release part of its
// configuration file (config.ReleaseText) and every zone file of
// dns.zones_dir with the files they $INCLUDE (which cannot leave that
// directory). It compiles the result as every receiving site will, so a
// candidate that does not validate is refused here with file:line errors
// that name the operator's files.
func Build(cfg *config.Config, by, source string) (*release.Release, *Compiled, error) {
	name, data, err := config.ReleaseSource(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("release: %w", err)
	}
	cfgFile := filepath.Base(name)
	text, err := config.ReleaseText(data)
	if err != nil {
		return nil, nil, &FileError{File: cfgFile, Err: fmt.Errorf("%s: %w", name, err)}
	}
	zones, err := readZones(cfg.DNS.ZonesDir)
	if err != nil {
		return nil, nil, err
	}
	content := release.Content{Config: release.File{Name: filepath.ToSlash(filepath.Base(name)), Data: text}, Zones: zones}
	// The text is parsed under the operator's path, so that errors name it.
	rc, err := config.ParseRelease(filepath.Dir(name), filepath.Base(name), text)
	if err != nil {
		return nil, nil, &FileError{File: cfgFile, Err: err}
	}
	content.Rules = Rules(rc)
	r := release.New(content, by, source)
	if err := r.Validate(); err != nil {
		return nil, nil, err
	}
	c, err := compile(r, rc, cfg.DNS.ZonesDir)
	if err != nil {
		return nil, nil, err
	}
	return r, c, nil
}

// Compiled is a release made ready to serve.
type Compiled struct {
	Release *release.Release
	// Config holds the release's steering configuration (regions, pools,
	// ecs and the cluster's rules); its other fields are defaults.
	Config *config.Config
	Zones  *dnsserver.Zones
	Pools  []*policy.Pool
}

// Compile checks and compiles a release received from the cluster: its
// configuration text, its zone files (with $INCLUDEs read from the
// release alone) and the pools every zone binds. dir is this site's
// configuration directory, which relative paths in the release (a
// check's tls_ca_file) are resolved against.
func Compile(r *release.Release, dir string) (*Compiled, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	rc, err := config.ParseRelease(dir, r.Config.Name, r.Config.Data)
	if err != nil {
		return nil, err
	}
	return compile(r, rc, "")
}

// compile parses r's zones; errors name the files as dir joined with their
// names in the release.
func compile(r *release.Release, rc *config.Config, dir string) (*Compiled, error) {
	fsys := r.ZonesFS()
	known := map[string]bool{}
	for _, p := range rc.Pools {
		known[p.Name] = true
	}
	var (
		zones []*dnsserver.Zone
		errs  []error
	)
	for _, f := range r.Zones {
		if path.Dir(f.Name) != "." || !strings.HasSuffix(f.Name, dnsserver.ZoneFileSuffix) {
			continue // a file $INCLUDEd by a zone
		}
		z, err := dnsserver.ParseZoneFS(fsys, dir, f.Name, dnsserver.OriginFromFile(f.Name))
		if err == nil {
			err = z.CheckPools(func(p string) bool { return known[p] })
		}
		if err != nil {
			errs = append(errs, &FileError{File: f.Name, Err: err})
			continue
		}
		zones = append(zones, z)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	set, err := dnsserver.NewZones(zones...)
	if err != nil {
		return nil, err
	}
	return &Compiled{Release: r, Config: rc, Zones: set, Pools: Pools(rc)}, nil
}

// FileError is an error of one file of a release: a zone file (with the
// files it includes) or the configuration file, by its name in the release.
// Its text is Err's.
type FileError struct {
	File string
	Err  error
}

func (e *FileError) Error() string { return e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// FailedFiles returns the files a build error names (FileError), with ""
// for an error that names none (a missing dns.zones_dir, a release too
// large).
func FailedFiles(err error) map[string]bool {
	out := map[string]bool{}
	var walk func(error)
	walk = func(e error) {
		switch u := e.(type) {
		case *FileError:
			out[u.File] = true
			return
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
			return
		case interface{ Unwrap() error }:
			if x := u.Unwrap(); x != nil {
				walk(x)
				return
			}
		}
		out[""] = true
	}
	if err != nil {
		walk(err)
	}
	return out
}

// buildFiles are the files Build reads at the top: the configuration
// file and the zone files of dns.zones_dir, by their names in a release.
func buildFiles(cfg *config.Config) []string {
	var out []string
	if name, _, err := config.ReleaseSource(cfg); err == nil {
		out = append(out, filepath.Base(name))
	}
	names, _ := filepath.Glob(filepath.Join(cfg.DNS.ZonesDir, "*"+dnsserver.ZoneFileSuffix))
	for _, n := range names {
		out = append(out, filepath.Base(n))
	}
	return out
}

// readZones reads the *.zone files of dir and every file they $INCLUDE.
func readZones(dir string) ([]release.File, error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("dns.zones_dir: %w", err)
	}
	names, err := filepath.Glob(filepath.Join(dir, "*"+dnsserver.ZoneFileSuffix))
	if err != nil {
		return nil, err
	}
	rec := &recordingFS{fsys: os.DirFS(dir), files: map[string][]byte{}}
	var errs []error
	for _, n := range names {
		name := filepath.Base(n)
		// Parsing reads the file and its includes through rec, which keeps
		// them; errors are reported by compile, after the whole release
		// is made.
		_, _ = dnsserver.ParseZoneFS(rec, dir, name, dnsserver.OriginFromFile(name))
		if _, ok := rec.get(name); !ok {
			errs = append(errs, &FileError{File: name, Err: rec.errOf(dir, name)})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if rec.total > release.MaxTotalSize {
		return nil, fmt.Errorf("%s: %d bytes of zone files, more than a release holds (%d)", dir, rec.total, release.MaxTotalSize)
	}
	out := make([]release.File, 0, len(rec.files))
	for name, data := range rec.files {
		out = append(out, release.File{Name: name, Data: data})
	}
	slices.SortFunc(out, func(a, b release.File) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// recordingFS reads files of fsys whole, keeps what it read, and refuses
// what is not a regular file or is larger than a release may be.
type recordingFS struct {
	fsys fs.FS

	mu    sync.Mutex
	files map[string][]byte
	errs  map[string]error
	total int
}

func (r *recordingFS) get(name string) ([]byte, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	b, ok := r.files[name]
	return b, ok
}

func (r *recordingFS) errOf(dir, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.errs[name]; err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return fmt.Errorf("%s: not read", filepath.Join(dir, name))
}

// Open implements fs.FS.
func (r *recordingFS) Open(name string) (fs.File, error) {
	if b, ok := r.get(name); ok {
		return release.NewFileFS([]release.File{{Name: name, Data: b}}).Open(name)
	}
	b, err := r.read(name)
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		if r.errs == nil {
			r.errs = map[string]error{}
		}
		r.errs[name] = err
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	r.files[name] = b
	r.total += len(b)
	return release.NewFileFS([]release.File{{Name: name, Data: b}}).Open(name)
}

func (r *recordingFS) read(name string) ([]byte, error) {
	f, err := r.fsys.Open(name)
	if err != nil {
		return nil, unwrapPath(err)
	}
	defer func() { _ = f.Close() }()
	st, err := f.Stat()
	if err != nil {
		return nil, unwrapPath(err)
	}
	if !st.Mode().IsRegular() {
		return nil, errors.New("not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, release.MaxTotalSize+1))
	if err != nil {
		return nil, unwrapPath(err)
	}
	if len(b) > release.MaxTotalSize {
		return nil, fmt.Errorf("larger than a release holds (%d bytes)", release.MaxTotalSize)
	}
	return b, nil
}

func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
