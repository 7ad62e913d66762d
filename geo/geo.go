package geo

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config says which files a DB reads.
type Config struct {
	// Database is a MaxMind City or Country .mmdb file (GeoIP2, GeoLite2 or
	// compatible), or a source file (.yaml, .yml or .csv, see ParseSource)
	// compiled in memory at Open and at every Reload: that is how the repo
	// ships a demo database without committing a binary. Empty: no
	// database; only overrides place clients.
	Database string
	// Overrides is an optional YAML file of operator overrides, CIDR →
	// location or → region, matched by longest prefix ahead of the
	// database (see the package doc). Empty: none.
	Overrides string
	// MaxFileBytes caps the size of each file, checked before it is read;
	// a file over it, or one that is not a regular file (a device such as
	// /dev/zero, a FIFO), is refused. Zero means DefaultMaxFileBytes.
	MaxFileBytes int64
	// DeferVerify has Open check only the database's layout (metadata,
	// search tree and data section bounds, a few lookups) and publish it
	// at once, leaving the walk over the whole database to Verify, which
	// the caller runs next, in the background: a full GeoLite2 City takes
	// seconds to verify and milliseconds to open. Lookups are bounds-checked
	// meanwhile (a record that does not decode places the client nowhere).
	// Reload always verifies before it swaps. See Verify.
	DeferVerify bool
	// Logger receives a line per load; nil discards.
	Logger *slog.Logger
}

// DB places client addresses. It is safe for concurrent use: Lookup reads
// an immutable state through an atomic pointer, with no lock and no
// allocation; Reload builds a whole new state and swaps it in.
type DB struct {
	cfg Config
	log *slog.Logger
	cur atomic.Pointer[state]
	// version counts the states published; see Version.
	version atomic.Uint64

	mu     sync.Mutex // serialises Reload and Close
	closed bool
}

// state is one load of the files. Never modified once published.
type state struct {
	db   *database  // nil without a database
	ov   *overrides // nil without an overrides file
	info Info
	// ovDigest is Info.Digest without the database: the digest of the
	// state that Verify leaves when it refuses the database.
	ovDigest string
	// addrs caches what lookup gave the addresses it was asked last.
	addrs *addrCache
}

// Info describes what a DB has loaded, for status pages and aya explain.
type Info struct {
	// Path is the database file; "" without one.
	Path string
	// Type is the database_type of its metadata, e.g. "GeoIP2-City".
	Type string
	// Compiled is set when Path is a source file compiled at load.
	Compiled bool
	// BuildTime is the build time of the metadata.
	BuildTime time.Time
	// NodeCount is the number of nodes of the search tree.
	NodeCount uint
	// IPVersion is 6 for a database of IPv4 and IPv6 networks, 4 for IPv4 only.
	IPVersion uint
	// Overrides is the overrides file; "" without one.
	Overrides string
	// Digest is the SHA-256 of the database file's and the overrides file's
	// contents, as read ("sha256:…"; "" with neither): sites that place
	// clients alike have the same digest.
	Digest string
	// OverrideCount is the number of networks it overrides.
	OverrideCount int
	// Verified is set once the whole database has been verified: at once
	// by Open and Reload, by Verify after an Open with DeferVerify.
	Verified bool
	// Refused is why Verify refused the database that Open published
	// unverified (Path is then "": there is no database); "" otherwise.
	Refused string
}

func (i Info) String() string {
	var b strings.Builder
	if i.Path == "" {
		b.WriteString("no database")
		if i.Refused != "" {
			fmt.Fprintf(&b, " (refused: %s)", i.Refused)
		}
	} else {
		fmt.Fprintf(&b, "%s", i.Type)
		if i.Compiled {
			b.WriteString(" compiled from source")
		}
		fmt.Fprintf(&b, ", built %s, %d nodes, IPv%d", i.BuildTime.UTC().Format(time.RFC3339), i.NodeCount, i.IPVersion)
		if !i.Verified {
			b.WriteString(", not verified yet")
		}
	}
	if i.Overrides != "" {
		fmt.Fprintf(&b, "; %d overrides from %s", i.OverrideCount, i.Overrides)
	}
	return b.String()
}

// Open loads the database and the overrides of cfg. It refuses a file that
// is missing, not a regular file, over the size cap, corrupt (with
// DeferVerify: whose layout is broken), of another kind than City or
// Country, or an overrides file with errors; each error names its file
// (and line, for overrides and source files).
func Open(cfg Config) (*DB, error) {
	d := &DB{cfg: cfg, log: cfg.Logger}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	if d.cfg.MaxFileBytes <= 0 {
		d.cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	st, err := load(d.cfg, !cfg.DeferVerify)
	if err != nil {
		return nil, err
	}
	d.publish(st)
	d.logLoad("geo database loaded", st)
	return d, nil
}

// Verify walks the whole database that Open published unverified
// (DeferVerify), as Open does otherwise: every node of the search tree and
// every record of the data section. It takes seconds for a full GeoLite2
// City and does not hold up lookups, Reload or Close. When the database
// passes, Info().Verified is set. When it fails, the database is dropped
// (lookups place clients by the overrides alone, as with no database) and
// the error is returned: there is no previous database to fall back on,
// and a file that is not sound throughout is not served, whatever part of
// it the lookups happened to read. A Reload with a sound file brings a
// database back. Verify does nothing (and returns nil) when the database
// was verified already, when there is none, or when a Reload or Close has
// replaced it meanwhile.
func (d *DB) Verify() error {
	if d == nil {
		return nil
	}
	st := d.cur.Load()
	if st == nil || st.db == nil || st.info.Verified {
		return nil
	}
	err := st.db.reader.Verify()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cur.Load() != st {
		return nil // reloaded (and verified) or closed meanwhile
	}
	next := *st
	if err != nil {
		err = fmt.Errorf("%s: corrupt MaxMind DB file: %w", st.info.Path, err)
		next.db, next.addrs = nil, newAddrCache() // the cache holds the refused database's answers
		next.info = Info{Overrides: st.info.Overrides, OverrideCount: st.info.OverrideCount,
			Digest: st.ovDigest, Verified: true, Refused: err.Error()}
		d.publish(&next)
		d.log.Error("geo database failed verification; serving without it", "path", st.info.Path, "err", err)
		return err
	}
	next.info.Verified = true
	d.publish(&next)
	d.log.Info("geo database verified", "path", st.info.Path, "nodes", st.info.NodeCount)
	return nil
}

// Reload reads both files again and swaps them in. On any error the DB
// keeps serving what it had and the error is returned.
func (d *DB) Reload() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return errors.New("reload of a closed geo database")
	}
	st, err := load(d.cfg, true)
	if err != nil {
		return err
	}
	d.publish(st)
	d.logLoad("geo database reloaded", st)
	return nil
}

// publish makes st what lookups read, then counts it (Version).
func (d *DB) publish(st *state) {
	d.cur.Store(st)
	d.version.Add(1)
}

// Version changes whenever what Lookup answers may change (a load, a
// reload, a database dropped by Verify, Close). It moves after the change
// it announces, so a caller that reads Version, then looks up, and keeps
// what it found under that version, keeps it at worst under a version
// already past, never a later answer under an earlier version's name.
func (d *DB) Version() uint64 {
	if d == nil {
		return 0
	}
	return d.version.Load()
}

// Close drops the loaded state; later lookups find nothing. Lookups in
// flight finish on the state they started with.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.publish(nil)
	return nil
}

// Info describes what is loaded; the zero Info after Close.
func (d *DB) Info() Info {
	if d == nil {
		return Info{}
	}
	if st := d.cur.Load(); st != nil {
		return st.info
	}
	return Info{}
}

func (d *DB) logLoad(msg string, st *state) {
	i := st.info
	d.log.Info(msg, "path", i.Path, "type", i.Type, "compiled", i.Compiled, "build_time", i.BuildTime,
		"nodes", i.NodeCount, "verified", i.Verified, "overrides", i.Overrides, "override_count", i.OverrideCount)
}

// Lookup places a: IPv4-mapped IPv6 addresses are looked up as IPv4, and a
// zone is ignored. The overrides win over the database; Location.Network is
// the network the answer holds for (the override's or the database
// record's, shortened so that it holds no more specific override that a is
// not in), also when nothing matched (the largest network around a that the
// database has no record for). Lookup never allocates. A nil or closed DB
// finds nothing.
func (d *DB) Lookup(a netip.Addr) Location {
	if d == nil || !a.IsValid() {
		return Location{}
	}
	st := d.cur.Load()
	if st == nil {
		return Location{}
	}
	return st.lookup(a.Unmap().WithZone(""))
}

func (st *state) lookup(a netip.Addr) Location {
	h := addrHash(a)
	if loc, ok := st.addrs.Get(h, a); ok {
		return loc
	}
	loc := st.find(a)
	st.addrs.Put(h, a, loc)
	return loc
}

// find is lookup without the cache.
func (st *state) find(a netip.Addr) Location {
	if st.ov != nil {
		if loc, ok := st.ov.match(a); ok {
			loc.Network = st.ov.narrow(a, loc.Network)
			return loc
		}
	}
	var loc Location
	if st.db == nil {
		loc.Network, _ = a.Prefix(0)
	} else {
		rec, network, found := st.db.lookup(a)
		loc.Network = network
		if found {
			loc.place(rec)
		}
	}
	if st.ov != nil && loc.Network.IsValid() {
		loc.Network = st.ov.narrow(a, loc.Network)
	}
	return loc
}

// place fills loc from a database record: its coordinates (SourceCity), or
// its country's centre when it has none (SourceCountry).
func (loc *Location) place(r record) {
	loc.Country, loc.Continent = r.country, r.continent
	if loc.Country == "" {
		loc.Country = r.registered
	}
	if r.hasLat && r.hasLon {
		loc.Latitude, loc.Longitude = r.lat, r.lon
		loc.HasCoordinates, loc.Source = true, SourceCity
		if loc.Continent != "" {
			return
		}
	}
	c, known := centroids[loc.Country]
	if !known {
		return
	}
	if loc.Continent == "" {
		loc.Continent = c.continent
	}
	if !loc.HasCoordinates {
		loc.Latitude, loc.Longitude = c.lat, c.lon
		loc.HasCoordinates, loc.Source = true, SourceCountry
	}
}

// load reads the files of cfg into a new state, verifying the whole
// database when verify is set (else only its layout); errors of both files
// are returned together.
func load(cfg Config, verify bool) (*state, error) {
	st := &state{addrs: newAddrCache()}
	st.info.Verified = verify || cfg.Database == ""
	var errs []error
	h, ho := sha256.New(), sha256.New()
	if cfg.Database != "" {
		db, info, err := loadDatabase(cfg.Database, cfg.MaxFileBytes, verify, h)
		if err != nil {
			errs = append(errs, err)
		}
		info.Verified = st.info.Verified
		st.db, st.info = db, info
	}
	if cfg.Overrides != "" {
		ov, err := loadOverrides(cfg.Overrides, cfg.MaxFileBytes, io.MultiWriter(h, ho))
		if err != nil {
			errs = append(errs, err)
		} else {
			st.ov = ov
			st.info.Overrides, st.info.OverrideCount = cfg.Overrides, ov.len()
			st.ovDigest = "sha256:" + hex.EncodeToString(ho.Sum(nil))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if cfg.Database != "" || cfg.Overrides != "" {
		st.info.Digest = "sha256:" + hex.EncodeToString(h.Sum(nil))
	}
	return st, nil
}

// hashFile adds a file's contents, length first, to h.
func hashFile(h io.Writer, data []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(data)))
	h.Write(n[:])
	h.Write(data)
}

// loadDatabase reads the database file at path (of at most max bytes),
// compiling it first when it is a source file, and verifies it whole when
// verify is set.
func loadDatabase(path string, max int64, verify bool, h io.Writer) (*database, Info, error) {
	info := Info{Path: path}
	buf, err := readCapped(path, max)
	if err != nil {
		return nil, info, err
	}
	hashFile(h, buf)
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".csv":
		nets, err := ParseSource(bytes.NewReader(buf), path)
		if err != nil {
			return nil, info, err
		}
		var out bytes.Buffer
		if err := Build(&out, nets); err != nil {
			return nil, info, fmt.Errorf("%s: %w", path, err)
		}
		buf, info.Compiled = out.Bytes(), true
	}
	db, err := openDatabase(buf, verify)
	if err != nil {
		return nil, info, fmt.Errorf("%s: %w", path, err)
	}
	md := db.reader.Metadata
	info.Type, info.BuildTime = md.DatabaseType, md.BuildTime()
	info.NodeCount, info.IPVersion = md.NodeCount, md.IPVersion
	return db, info, nil
}

// FileError is a file of the configuration that does not read (missing,
// unreadable): "path: what went wrong".
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *FileError) Unwrap() error { return e.Err }

// fileError words an error reading path as "path: what went wrong".
func fileError(path string, err error) error {
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		err = pe.Err
	}
	return &FileError{Path: path, Err: err}
}
