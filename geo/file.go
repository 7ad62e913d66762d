package geo

import (
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
)

// DefaultMaxFileBytes is the default cap on the size of the database and
// the overrides files: well above a full GeoIP2 City database (~130 MB).
const DefaultMaxFileBytes = 512 << 20

// readCapped reads the regular file at path whole, refusing anything else
// (a device such as /dev/zero, a FIFO, a directory, a socket) and a file
// larger than max bytes, before reading it: the memory a load takes is
// bounded by the cap whatever the path points at. It opens without blocking
// (a FIFO would otherwise wait for a writer), checks the open file (not the
// path, which may change meanwhile) and reads at most max+1 bytes, so a file
// that grows past the cap while being read is refused too.
func readCapped(path string, max int64) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fileError(path, err)
	}
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return nil, fileError(path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, &FileError{Path: path, Err: fmt.Errorf("not a regular file (%s)", kind(fi.Mode()))}
	}
	if fi.Size() > max {
		return nil, &FileError{Path: path, Err: sizeError(fi.Size(), max)}
	}
	buf := make([]byte, 0, fi.Size()+1) // +1: the read that finds EOF
	buf, err = readAll(io.LimitReader(f, max+1), buf)
	if err != nil {
		return nil, fileError(path, err)
	}
	if int64(len(buf)) > max {
		return nil, &FileError{Path: path, Err: fmt.Errorf("grew while being read: %w", sizeError(int64(len(buf)), max))}
	}
	return buf, nil
}

// ErrTooLarge is the error of a file over the size cap.
var ErrTooLarge = errors.New("file too large")

func sizeError(size, max int64) error {
	return fmt.Errorf("%w: %s, over the limit of %s", ErrTooLarge, bytesText(size), bytesText(max))
}

// bytesText words a size in bytes, with MiB or GiB when it is that large.
func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%d bytes (%.1f GiB)", n, float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d bytes (%.1f MiB)", n, float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}

// readAll appends r's contents to buf, growing it only when the file was
// larger than its size said.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// kind names what a non-regular file is.
func kind(m os.FileMode) string {
	switch {
	case m.IsDir():
		return "a directory"
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeCharDevice != 0:
		return "a character device"
	case m&os.ModeDevice != 0:
		return "a block device"
	}
	return "mode " + m.Type().String()
}
