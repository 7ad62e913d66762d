package geo

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOpenFileCap: files that are not regular, or over the cap, are refused
// before they are read (a FIFO without a writer would block a reader; /dev/zero
// and a sparse file would fill memory), for the database and the overrides
// alike; a file at the cap loads.
func TestOpenFileCap(t *testing.T) {
	good := build(t, testNetworks)
	dir := t.TempDir()
	fifo := filepath.Join(dir, "geo.fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	sparse := filepath.Join(dir, "sparse.mmdb")
	f, err := os.Create(sparse)
	if err != nil {
		t.Fatal(err)
	}
	// Sparse: no disk used, but its size is over the default cap.
	if err := f.Truncate(DefaultMaxFileBytes + 1); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	dbPath := writeFile(t, "city.mmdb", good)
	ovPath := writeFile(t, "overrides.yaml", []byte("overrides:\n  - {network: 10.0.0.0/8, region: eu-west}\n"))
	n := int64(len(good))
	for _, tc := range []struct {
		name    string
		cfg     Config
		path    string // the file named in the error
		want    string // "" for success
		tooLong bool
	}{
		{name: "/dev/zero", cfg: Config{Database: "/dev/zero"}, path: "/dev/zero", want: "not a regular file (a character device)"},
		{name: "FIFO", cfg: Config{Database: fifo}, path: fifo, want: "not a regular file (a FIFO)"},
		{name: "directory", cfg: Config{Database: dir}, path: dir, want: "not a regular file (a directory)"},
		{name: "sparse file over the default cap", cfg: Config{Database: sparse}, path: sparse, tooLong: true,
			want: "file too large: 536870913 bytes (512.0 MiB), over the limit of 536870912 bytes (512.0 MiB)"},
		{name: "over a cap of its size less one", cfg: Config{Database: dbPath, MaxFileBytes: n - 1}, path: dbPath, tooLong: true,
			want: "file too large"},
		{name: "at a cap of its size", cfg: Config{Database: dbPath, MaxFileBytes: n}},
		{name: "at a cap of its size, deferred verification", cfg: Config{Database: dbPath, MaxFileBytes: n, DeferVerify: true}},
		{name: "overrides from /dev/zero", cfg: Config{Database: dbPath, Overrides: "/dev/zero"}, path: "/dev/zero", want: "not a regular file"},
		{name: "overrides from a FIFO", cfg: Config{Overrides: fifo}, path: fifo, want: "not a regular file (a FIFO)"},
		{name: "overrides over the cap", cfg: Config{Overrides: ovPath, MaxFileBytes: 10}, path: ovPath, tooLong: true, want: "over the limit of 10 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			db, err := Open(tc.cfg)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Open: %v", err)
				}
				_ = db.Close()
				return
			}
			if err == nil {
				_ = db.Close()
				t.Fatal("Open succeeded")
			}
			fe, ok := errors.AsType[*FileError](err)
			if !ok || fe.Path != tc.path {
				t.Errorf("Open: %v (%T), want a FileError for %s", err, err, tc.path)
			}
			if !strings.HasPrefix(err.Error(), tc.path+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Open: %v\nwant %s: …%s…", err, tc.path, tc.want)
			}
			if errors.Is(err, ErrTooLarge) != tc.tooLong {
				t.Errorf("errors.Is(%v, ErrTooLarge) = %v, want %v", err, !tc.tooLong, tc.tooLong)
			}
		})
	}
}

// TestReloadKeepsServingOnBadFile: a reload that finds the database replaced
// by something that is not a regular file, or over the cap, keeps the
// database it had.
func TestReloadKeepsServingOnBadFile(t *testing.T) {
	good := build(t, testNetworks)
	london := netip.MustParseAddr("81.2.69.142")
	for _, tc := range []struct {
		name    string
		replace func(t *testing.T, path string)
		want    string
	}{
		{"FIFO", func(t *testing.T, path string) {
			if err := syscall.Mkfifo(path, 0o600); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file (a FIFO)"},
		{"symlink to /dev/zero", func(t *testing.T, path string) {
			if err := os.Symlink("/dev/zero", path); err != nil {
				t.Fatal(err)
			}
		}, "not a regular file (a character device)"},
		{"sparse file over the cap", func(t *testing.T, path string) {
			if err := os.WriteFile(path, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(path, 4<<30); err != nil {
				t.Fatal(err)
			}
		}, "file too large: 4294967296 bytes (4.0 GiB)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := writeFile(t, "city.mmdb", good)
			db := open(t, Config{Database: path})
			before := db.Info()
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			tc.replace(t, path)
			err := db.Reload()
			if err == nil || !strings.HasPrefix(err.Error(), path+": ") || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Reload: %v, want %s: …%s…", err, path, tc.want)
			}
			if got := db.Info(); got != before {
				t.Errorf("Info after the refused reload = %+v, want %+v", got, before)
			}
			if got := db.Lookup(london); got.Country != "GB" {
				t.Errorf("Lookup after the refused reload = %+v, want the London record", got)
			}
		})
	}
}
