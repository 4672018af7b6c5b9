//go:build linux && cgo

package sandbox

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
)

// Running out of host ids is ErrHostIDs as well as ErrSetup, and says which setting to widen: the
// library's Options.HostIDs for root (the CLI's flag and variable after it), the subordinate ids rootless.
func TestOutOfHostIDsSaysWhatToWiden(t *testing.T) {
	check := func(t *testing.T, a *idAllocator, says string) {
		t.Helper()
		l, err := a.acquire()
		if err != nil {
			t.Fatal(err)
		}
		defer l.release()
		_, err = a.acquire()
		if !errors.Is(err, ErrHostIDs) || !errors.Is(err, ErrSetup) || !strings.Contains(err.Error(), says) {
			t.Fatalf("with the only id taken: %v; want ErrHostIDs and ErrSetup naming %s", err, says)
		}
	}
	t.Run("rootless", func(t *testing.T) {
		a, err := newIDAllocator(t.TempDir(), 100, 200, 1)
		if err != nil {
			t.Fatal(err)
		}
		check(t, a, "/etc/subuid")
	})
	t.Run("root", func(t *testing.T) {
		if os.Geteuid() != 0 {
			testenv.SkipOrFail(t, "needs root: the root allocator's locks live in "+hostIDLockDir)
		}
		a, err := newIDAllocator(hostIDLockDir, 3999999000, 3999999000, 1)
		if err != nil {
			t.Fatal(err)
		}
		check(t, a, "Options.HostIDs")
	})
}
