package release

import (
	"bytes"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// NewFileFS returns files as a read-only fs.FS.
func NewFileFS(files []File) fs.FS {
	f := slices.Clone(files)
	slices.SortFunc(f, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return filesFS(f)
}

// filesFS is a read-only fs.FS of sorted files. It opens files only (no
// directory listing is needed by the zone parser).
type filesFS []File

func (f filesFS) Open(name string) (fs.File, error) {
	if !fs.ValidPath(name) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	i, ok := slices.BinarySearchFunc(f, name, func(a File, n string) int { return strings.Compare(a.Name, n) })
	if !ok {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return &openFile{File: f[i], r: bytes.NewReader(f[i].Data)}, nil
}

// ReadFile implements fs.ReadFileFS.
func (f filesFS) ReadFile(name string) ([]byte, error) {
	of, err := f.Open(name)
	if err != nil {
		return nil, err
	}
	return bytes.Clone(of.(*openFile).Data), nil
}

type openFile struct {
	File
	r *bytes.Reader
}

func (o *openFile) Read(b []byte) (int, error) { return o.r.Read(b) }
func (o *openFile) Close() error               { return nil }
func (o *openFile) Stat() (fs.FileInfo, error) { return fileInfo{o.File}, nil }

type fileInfo struct{ f File }

func (i fileInfo) Name() string       { return i.f.Name[strings.LastIndexByte(i.f.Name, '/')+1:] }
func (i fileInfo) Size() int64        { return int64(len(i.f.Data)) }
func (i fileInfo) Mode() fs.FileMode  { return 0o444 }
func (i fileInfo) ModTime() time.Time { return time.Time{} }
func (i fileInfo) IsDir() bool        { return false }
func (i fileInfo) Sys() any           { return nil }
