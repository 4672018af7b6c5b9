//go:build linux && cgo

package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
)

// searchHint names the first directory the sandbox's host user cannot search, with why it must and the fix:
// the words a limits.kernel write or a bind source fails with when an image's / or a grader's temp
// directory is 0700.
func TestSearchHint(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root: a directory owned by root that uid 65534 cannot search")
	}
	// Not t.TempDir: its parent is 0700 too, and the hint names the first closed directory.
	closed, err := os.MkdirTemp("", "jailrun-hint-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(closed) })
	if err := os.Chmod(closed, 0o700); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(closed, "sys", "user", "max_inotify_instances")
	got := searchHint(target, 65534, 65534, "the init writes limits.kernel as that user", "or give the sandbox's ids search permission")
	for _, want := range []string{closed + " is mode 0700 owned by root:root", "host user 65534 cannot search",
		"(the init writes limits.kernel as that user)", "fix: chmod o+x " + closed} {
		if !strings.Contains(got, want) {
			t.Errorf("hint %q lacks %q", got, want)
		}
	}
	if err := os.Chmod(closed, 0o755); err != nil {
		t.Fatal(err)
	}
	if got := searchHint(target, 65534, 65534, "why", "alt"); got != "" {
		t.Errorf("an open path got the hint %q", got)
	}
}
