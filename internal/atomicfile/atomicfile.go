// Package atomicfile replaces files whole: what is written goes to a
// temporary file beside the target, is synced, and is renamed over it, and
// the directory is synced, so that a crash leaves the old file or the new
// one, never a torn one.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write replaces (or creates) path with what write writes, with mode as
// its permission bits (the umask does not apply: the temporary file is
// chmod-ed). The temporary file is named "." + the base name + "." and a
// random suffix (TempPattern), in path's directory.
func Write(path string, mode fs.FileMode, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), TempPattern(path))
	if err != nil {
		return err
	}
	name := tmp.Name()
	err = errors.Join(tmp.Chmod(mode), write(tmp), tmp.Sync(), tmp.Close())
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		_ = os.Remove(name)
		return fmt.Errorf("write %s: %w", path, err)
	}
	// The rename itself lasts once the directory is synced.
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}

// WriteBytes is Write of b.
func WriteBytes(path string, mode fs.FileMode, b []byte) error {
	return Write(path, mode, func(w io.Writer) error { _, err := w.Write(b); return err })
}

// TempPattern is the os.CreateTemp pattern of path's temporary files: a
// glob of filepath.Join(dir, pattern) finds those a crash left behind.
func TempPattern(path string) string { return "." + filepath.Base(path) + ".*" }
