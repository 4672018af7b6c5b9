package atomicfile

import (
	"os"
	"path/filepath"
	"runtime"
	"syscall"
	"testing"
)

func names(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return n
}

// A file being written has no name in its directory until Commit, so a writer killed before Commit leaves
// nothing behind; Commit creates or replaces the file whole, with the mode asked.
func TestNothingNamedUntilCommit(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("unnamed files are Linux's O_TMPFILE")
	}
	for _, tc := range []struct {
		name string
		old  string // "" for no file before
	}{
		{"create", ""},
		{"replace", "old contents that are longer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "out")
			want := []string(nil)
			if tc.old != "" {
				if err := os.WriteFile(path, []byte(tc.old), 0o600); err != nil {
					t.Fatal(err)
				}
				want = []string{"out"}
			}
			f, err := Create(dir, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Abort()
			if f.name != "" {
				t.Skipf("the file system of %s has no O_TMPFILE", dir)
			}
			if _, err := f.Write([]byte("new")); err != nil {
				t.Fatal(err)
			}
			if got := names(t, dir); len(got) != len(want) {
				t.Fatalf("while writing, the directory holds %q, want %q", got, want)
			}
			if err := f.Chmod(0o640); err != nil {
				t.Fatal(err)
			}
			if err := f.Commit(path); err != nil {
				t.Fatal(err)
			}
			if got := names(t, dir); len(got) != 1 || got[0] != "out" {
				t.Fatalf("after Commit the directory holds %q, want [out]", got)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != "new" {
				t.Fatalf("contents %q, %v; want %q", b, err, "new")
			}
			if st, _ := os.Stat(path); st.Mode().Perm() != 0o640 {
				t.Fatalf("mode %v, want 0640", st.Mode().Perm())
			}
		})
	}
}

func TestAbortLeavesNothing(t *testing.T) {
	dir := t.TempDir()
	f, err := Create(dir, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("partial"))
	f.Abort()
	if got := names(t, dir); len(got) != 0 {
		t.Fatalf("after Abort the directory holds %q", got)
	}
}

// WriteFile writes through what is not a regular file (a symbolic link stays a link), and reports a
// directory that does not exist rather than falling back.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.WriteFile(target, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("target", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("through"), 0o644); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "through" {
		t.Fatalf("target holds %q, want the write through the link", b)
	}
	if err := WriteFile(filepath.Join(dir, "missing", "f"), nil, 0o644); err == nil {
		t.Fatal("a missing directory was not reported")
	}
	if got := names(t, dir); len(got) != 2 {
		t.Fatalf("the directory holds %q, want only link and target", got)
	}
	// Like os.WriteFile: an existing file keeps its mode, a new one gets perm less the umask.
	if err := os.Chmod(target, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(target, []byte("again"), 0o644); err != nil {
		t.Fatal(err)
	}
	fresh := filepath.Join(dir, "fresh")
	if err := WriteFile(fresh, []byte("new"), 0o666); err != nil {
		t.Fatal(err)
	}
	umask := syscall.Umask(0)
	syscall.Umask(umask)
	for path, want := range map[string]os.FileMode{target: 0o600, fresh: 0o666 &^ os.FileMode(umask)} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", filepath.Base(path), st.Mode().Perm(), err, want)
		}
	}
}
