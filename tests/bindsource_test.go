package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A bind source inside a directory the sandbox's host user cannot search (a grader's 0700 temporary
// directory owned by root, as CMS makes them): bound through a detached copy the parent makes when only root
// and jailrun's user could have arranged the path, else refused with one line that names the directory, its
// mode and owner, and the fix.
func TestBindSourceBehindClosedDir(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		name string
		mode os.FileMode
		ok   bool
	}{
		{"0700 root dir: bound", 0o700, true},
		{"0770 root dir, writable by its group: refused with the reason", 0o770, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			os.Chmod(filepath.Dir(base), 0o755)
			os.Chmod(base, 0o755)
			closed := filepath.Join(base, "closed")
			box := filepath.Join(closed, "box")
			if err := os.MkdirAll(box, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(box, "in.txt"), []byte("input\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(closed, "secret"), []byte("no\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(closed, tc.mode); err != nil {
				t.Fatal(err)
			}
			r := jailrun(t, []string{"--quiet", "--bind", box + ":/box:ro", "--", "/bin/sh", "-c", "cat /box/in.txt; cat /box/../secret 2>/dev/null; { echo x > /box/new; } 2>/dev/null && echo WROTE; true"})
			if tc.ok {
				if r.code != 0 || r.stdout != "input\n" {
					t.Errorf("want the source bound read-only and nothing of its parent:\n%v", r)
				}
				return
			}
			want := closed + " is mode 0770 owned by root:root, which the sandbox's host user"
			msg := strings.TrimSuffix(r.stderr, "\n")
			if r.code != 125 || !strings.Contains(msg, want) || !strings.Contains(msg, "chmod o+x "+closed) || strings.Contains(msg, "\n") {
				t.Errorf("want exit 125 and one line containing %q and the fix:\n%v", want, r)
			}
		})
	}
}
