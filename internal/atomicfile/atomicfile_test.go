package atomicfile

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestWrite: a file is created, then replaced whole, with the mode asked
// whatever the umask; a write that fails leaves the old file and no
// temporary one.
func TestWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	for _, tc := range []struct {
		data string
		mode os.FileMode
	}{{"one", 0o600}, {"two, longer", 0o644}} {
		if err := WriteBytes(path, tc.mode, []byte(tc.data)); err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != tc.data {
			t.Fatalf("read %q, %v; want %q", got, err, tc.data)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != tc.mode {
			t.Errorf("mode %v, want %v", st.Mode().Perm(), tc.mode)
		}
	}
	boom := errors.New("boom")
	err := Write(path, 0o600, func(w io.Writer) error { _, _ = w.Write([]byte("half")); return boom })
	if !errors.Is(err, boom) {
		t.Fatalf("a failed write: %v, want boom", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "two, longer" {
		t.Errorf("after a failed write the file holds %q, want the old contents", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, TempPattern(path))); len(left) != 0 {
		t.Errorf("temporary files left: %v", left)
	}
}
