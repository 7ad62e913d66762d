package site

import (
	"bytes"
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
	"sync/atomic"
	"syscall"
	"time"

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
	r, rc, err := buildRelease(cfg, by, source)
	if err != nil {
		return nil, nil, err
	}
	c, err := compile(r, rc, cfg.DNS.ZonesDir, cfg.DNS.Zones.Limits(), nil)
	if err != nil {
		return nil, nil, err
	}
	return r, c, nil
}

// BuildSigned is Build, signed where this site holds the keys
// (SignRelease at now, reusing the signatures of running, the release the
// cluster serves compiled here; nil: none).
func BuildSigned(cfg *config.Config, by, source string, running *Compiled, now time.Time) (*release.Release, *Compiled, []ZoneSigning, error) {
	r, c, err := Build(cfg, by, source)
	if err != nil {
		return nil, nil, nil, err
	}
	signed, done, err := SignRelease(cfg, c, running, now)
	if err != nil || signed == r {
		return r, c, nil, err
	}
	sc, err := compileRelease(signed, ConfigDir(cfg), cfg.DNS.Zones.Limits(), c)
	if err != nil {
		return nil, nil, nil, err
	}
	return signed, sc, done, nil
}

// buildRelease is Build less the compiling: the release of cfg's files,
// validated, and its configuration. The zone files are scanned, not
// parsed, for the files they include.
func buildRelease(cfg *config.Config, by, source string) (*release.Release, *config.Config, error) {
	name, data, err := config.ReleaseSource(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("release: %w", err)
	}
	cfgFile := filepath.Base(name)
	text, err := config.ReleaseText(data)
	if err != nil {
		return nil, nil, &FileError{File: cfgFile, Err: fmt.Errorf("%s: %w", name, err)}
	}
	zones, err := readZones(cfg, cfg.DNS.Zones.Limits())
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
	return r, rc, nil
}

// Compiler compiles the releases of one site, and keeps the last one it
// compiled: a release built from this site's files is compiled when it is
// built, checked again by the cluster before it enters the log
// (cluster.Config.CheckRelease), and compiled once more when it is served,
// and the zones of a million records take seconds to parse each time.
// What Compile makes is a function of the release's content (its digest),
// the configuration directory and the zone limits, so one result serves
// all three. A nil *Compiler compiles every time.
type Compiler struct {
	set  atomic.Pointer[compilerSettings]
	last atomic.Pointer[Compiled]
}

type compilerSettings struct {
	dir string
	lim dnsserver.ZoneLimits
}

// NewCompiler returns the compiler of the site configured by cfg.
func NewCompiler(cfg *config.Config) *Compiler {
	c := new(Compiler)
	c.Configure(cfg)
	return c
}

// Configure sets the directory and the limits from cfg (a reload), and
// forgets the last release compiled under the previous ones.
func (c *Compiler) Configure(cfg *config.Config) {
	next := &compilerSettings{dir: ConfigDir(cfg), lim: cfg.DNS.Zones.Limits()}
	if prev := c.set.Load(); prev != nil && *prev == *next {
		return
	}
	c.set.Store(next)
	c.last.Store(nil)
}

// Compile is the package's Compile with the compiler's directory and
// limits; a release with the digest of the last one compiled is not
// compiled again.
func (c *Compiler) Compile(r *release.Release) (*Compiled, error) {
	if c == nil {
		return nil, errors.New("release: no compiler")
	}
	last := c.last.Load()
	if last != nil && last.Release.Digest == r.Digest {
		if err := r.Validate(); err != nil { // the content is the digest's
			return nil, err
		}
		out := *last
		out.Release = r
		// Keep r, the one being served, rather than the copy built here:
		// each holds the zone files.
		c.last.CompareAndSwap(last, &out)
		return &out, nil
	}
	set := c.set.Load()
	defer lessGC()()
	// The bound goes back as soon as the compile ends, whether or not a
	// publish follows (a check of a candidate, or of the site's own files,
	// compiles without publishing); a publish sets the next one.
	defer roomToCompile()()
	out, err := compileRelease(r, set.dir, set.lim, last)
	if err != nil {
		return nil, err
	}
	c.last.Store(out)
	return out, nil
}

// Build is the package's Build, compiled as Compile compiles what the
// cluster serves (and kept for it), and signed (SignRelease, at now) where
// this site holds the keys, reusing the signatures of running (the release
// served; nil: none). On an error, the errors name the operator's files as
// Build's do.
func (c *Compiler) Build(cfg *config.Config, by, source string, running *Compiled, now time.Time) (*release.Release, []ZoneSigning, error) {
	defer lessGC()()
	r, err := c.build(cfg, by, source)
	if err != nil {
		return nil, nil, err
	}
	comp, err := c.Compile(r)
	if err != nil {
		return nil, nil, err
	}
	signed, done, err := SignRelease(cfg, comp, running, now)
	if err != nil || signed == r {
		return r, nil, err
	}
	if _, err := c.Compile(signed); err != nil {
		return nil, nil, err
	}
	return signed, done, nil
}

// build is Build before signing.
func (c *Compiler) build(cfg *config.Config, by, source string) (*release.Release, error) {
	r, rc, err := buildRelease(cfg, by, source)
	if err != nil {
		return nil, err
	}
	if last := c.last.Load(); last != nil && last.Release.Digest == r.Digest {
		// The files of the release compiled last (the one served, most
		// often), which the digest says are these: the copy just read is
		// garbage then, rather than a second copy of every zone file
		// kept for as long as the compiler keeps r.
		r.Zones = last.Release.Zones
	}
	if _, err := c.Compile(r); err != nil {
		if _, named := compile(r, rc, cfg.DNS.ZonesDir, cfg.DNS.Zones.Limits(), nil); named != nil {
			return nil, named
		}
		return nil, err
	}
	return r, nil
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
// check's tls_ca_file) are resolved against; lim bounds its zones (this
// site's dns.zones: a site with lower bounds than the others refuses what
// they serve, and keeps its previous release).
func Compile(r *release.Release, dir string, lim dnsserver.ZoneLimits) (*Compiled, error) {
	return compileRelease(r, dir, lim, nil)
}

// compileRelease is Compile, with the zones of reuse taken as they are when
// r's zone files are byte for byte reuse's (a release that changes the
// steering only): parsing a zone of a million records takes seconds, and
// holding it twice, hundreds of megabytes.
func compileRelease(r *release.Release, dir string, lim dnsserver.ZoneLimits, reuse *Compiled) (*Compiled, error) {
	if err := r.Validate(); err != nil {
		return nil, err
	}
	rc, err := config.ParseRelease(dir, r.Config.Name, r.Config.Data)
	if err != nil {
		return nil, err
	}
	// The cluster decides by r.Rules, operators read the configuration:
	// they must say the same.
	c := r.Content
	c.Rules = Rules(rc)
	if release.New(c, "", "").Digest != r.Digest {
		return nil, fmt.Errorf("release %s: its rules are not those of its configuration %s", release.ShortDigest(r.Digest), r.Config.Name)
	}
	if reuse != nil && sameFiles(reuse.Release.Zones, r.Zones) {
		return compile(r, rc, "", lim, reuse)
	}
	return compile(r, rc, "", lim, nil)
}

// sameFiles reports whether a and b hold the same files.
func sameFiles(a, b []release.File) bool {
	return slices.EqualFunc(a, b, func(x, y release.File) bool { return x.Name == y.Name && bytes.Equal(x.Data, y.Data) })
}

// compile parses r's zones within lim and attaches their signatures;
// errors name the files as dir joined with their names in the release.
// The zones of reuse, compiled from the same files under the same dir and
// limits, are taken instead of parsed, with their signatures when r
// carries the same (a release that changes the steering only), else with
// r's (a re-sign changes the signatures only).
func compile(r *release.Release, rc *config.Config, dir string, lim dnsserver.ZoneLimits, reuse *Compiled) (*Compiled, error) {
	fsys := r.ZonesFS()
	known := rc.PoolNames()
	lim = lim.WithDefaults()
	var (
		zones   []*dnsserver.Zone
		errs    []error
		records int
	)
	for _, f := range r.Zones {
		if path.Dir(f.Name) != "." || !strings.HasSuffix(f.Name, dnsserver.ZoneFileSuffix) {
			continue // a file $INCLUDEd by a zone
		}
		origin := dnsserver.OriginFromFile(f.Name)
		var z *dnsserver.Zone
		var err error
		if reuse != nil {
			z = reuse.Zones.Zone(origin)
		}
		if z == nil {
			z, err = lim.ParseFS(fsys, dir, f.Name, origin)
		}
		if err == nil {
			err = z.CheckPools(known)
		}
		if err == nil {
			z, err = attach(z, r, reuse, lim)
		}
		if err != nil {
			errs = append(errs, &FileError{File: f.Name, Err: err})
			continue
		}
		// A release holds as many records as one zone may, so that many
		// small zones cannot make what one may not.
		if records += z.Len(); records > lim.MaxRecords {
			return nil, fmt.Errorf("%s: more than %d records in the zones of the release (dns.zones.max_records)", z.File, lim.MaxRecords)
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

// attach returns z (parsed from r's files, or taken from reuse) with r's
// signatures of its zone, or unsigned when r has none.
func attach(z *dnsserver.Zone, r *release.Release, reuse *Compiled, lim dnsserver.ZoneLimits) (*dnsserver.Zone, error) {
	sz := r.SignedZone(z.Origin)
	if sz == nil {
		return z.Unsigned(), nil
	}
	if reuse != nil && z.Signatures() != nil {
		if prev := reuse.Release.SignedZone(z.Origin); prev != nil && sameSigned(prev, sz) {
			return z, nil
		}
	}
	// A signature or more per record, an NSEC per name, and the keys.
	sigs, err := ParseSignedZone(sz, 4*lim.MaxRecords+1024)
	if err != nil {
		return nil, err
	}
	return z.Unsigned().WithSignatures(sigs)
}

// sameSigned reports whether a and b are the same signatures.
func sameSigned(a, b *release.SignedZone) bool {
	return a.Zone == b.Zone && a.Records == b.Records && a.Expires.Equal(b.Expires) && a.Refresh.Equal(b.Refresh) &&
		slices.EqualFunc(a.Steered, b.Steered, func(x, y release.SignedSet) bool {
			return x.Name == y.Name && x.Type == y.Type && x.TTL == y.TTL && slices.Equal(x.Addrs, y.Addrs) && slices.Equal(x.Sigs, y.Sigs)
		})
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

// ZonesDirError places err, dns.zones_dir not opening, at the key
// ("aya.yaml:17: dns.zones_dir: /srv/zones: no such file or directory").
// Other errors are returned as they are.
func ZonesDirError(cfg *config.Config, err error) error {
	pe, ok := errors.AsType[*fs.PathError](err)
	if !ok || filepath.Clean(pe.Path) != filepath.Clean(cfg.DNS.ZonesDir) {
		return err
	}
	return cfg.KeyError("dns.zones_dir", fmt.Errorf("%s: %w", cfg.DNS.ZonesDir, pe.Err))
}

// readZones reads the *.zone files of dns.zones_dir and every file they $INCLUDE,
// through an os.Root, so that neither a path nor a symbolic link leaves
// dir. A file that does not read is refused with the position of the
// $INCLUDE that names it. The zones are scanned within lim for what they
// include, not parsed: compile parses them.
func readZones(cfg *config.Config, lim dnsserver.ZoneLimits) ([]release.File, error) {
	dir := cfg.DNS.ZonesDir
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, ZonesDirError(cfg, err)
	}
	defer func() { _ = root.Close() }()
	names, err := filepath.Glob(filepath.Join(dir, "*"+dnsserver.ZoneFileSuffix))
	if err != nil {
		return nil, err
	}
	rec := &recordingFS{root: root, files: map[string][]byte{}}
	var errs []error
	for _, n := range names {
		name := filepath.Base(n)
		// Scanning reads the file and its includes through rec, which keeps
		// them; other errors are reported by compile, after the whole
		// release is made. A file that includes nothing is read, not
		// scanned (a zone of a million records takes a tenth of a second).
		before := rec.failed()
		var perr error
		if data, err := rec.ReadFile(name); err != nil || dnsserver.MayInclude(data) {
			perr = lim.ScanFS(rec, dir, name, dnsserver.OriginFromFile(name))
		}
		if rec.failed() > before {
			// The parser says which $INCLUDE did not read, with its column.
			_, perr = lim.ParseFS(rec, dir, name, dnsserver.OriginFromFile(name))
		}
		switch _, ok := rec.get(name); {
		case !ok:
			errs = append(errs, &FileError{File: name, Err: rec.errOf(dir, name)})
		case rec.failed() > before && perr != nil:
			errs = append(errs, &FileError{File: name, Err: perr}) // an $INCLUDE that does not read, at its line
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

// recordingFS reads files of root whole, keeps what it read, and refuses
// what is not a regular file or is larger than a release may be.
type recordingFS struct {
	root *os.Root

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

// failed is the number of files that did not read.
func (r *recordingFS) failed() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.errs)
}

func (r *recordingFS) errOf(dir, name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err := r.errs[name]; err != nil {
		return fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
	}
	return fmt.Errorf("%s: not read", filepath.Join(dir, name))
}

// ReadFile implements fs.ReadFileFS with the bytes r keeps, not a copy:
// the zone scanner and parser, its readers, never write them, and a copy
// of a big zone file is tens of megabytes of garbage.
func (r *recordingFS) ReadFile(name string) ([]byte, error) {
	if b, ok := r.get(name); ok {
		return b, nil
	}
	f, err := r.Open(name)
	if err != nil {
		return nil, err
	}
	_ = f.Close()
	b, _ := r.get(name)
	return b, nil
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
	if !fs.ValidPath(name) {
		return nil, fs.ErrInvalid
	}
	// O_NONBLOCK: opening a FIFO must not wait for a writer; it is then
	// refused as not a regular file.
	f, err := r.root.OpenFile(filepath.FromSlash(name), os.O_RDONLY|syscall.O_NONBLOCK, 0)
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
	tooBig := fmt.Errorf("larger than a release holds (%d bytes)", release.MaxTotalSize)
	if st.Size() > release.MaxTotalSize {
		return nil, tooBig
	}
	// Read into a buffer of the file's size (as os.ReadFile does): the
	// release keeps these bytes, and io.ReadAll's doubling buffer held a
	// 24 MB zone file in 48 MB.
	b := make([]byte, 0, st.Size()+512)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // it grew since the Stat
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if len(b) > release.MaxTotalSize {
			return nil, tooBig
		}
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, unwrapPath(err)
		}
	}
}

func unwrapPath(err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		return pe.Err
	}
	return err
}
