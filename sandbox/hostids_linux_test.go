//go:build linux && cgo

package sandbox

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
)

// BenchmarkHostIDAcquire is the cost a run pays for its host ids: one lock and release with n ids of the
// range already held (by live sandboxes of this or other processes).
func BenchmarkHostIDAcquire(b *testing.B) {
	for _, held := range []int{0, 50, 1000} {
		b.Run("held="+strconv.Itoa(held), func(b *testing.B) {
			a, err := newIDAllocator(b.TempDir(), 3000000000, 3000000000, 65536)
			if err != nil {
				b.Fatal(err)
			}
			var keep []*idLease
			for range held {
				l, err := a.acquire()
				if err != nil {
					b.Fatal(err)
				}
				keep = append(keep, l)
			}
			probes := 0
			b.ResetTimer()
			for range b.N {
				l, err := a.acquire()
				if err != nil {
					b.Fatal(err)
				}
				probes += l.probes
				l.release()
			}
			b.StopTimer()
			b.ReportMetric(float64(probes)/float64(b.N), "probes/op")
			for _, l := range keep {
				l.release()
			}
		})
	}
}

// The allocator never hands out an id twice while it is held, and a released id can be had again.
func TestHostIDAllocatorExclusive(t *testing.T) {
	a, err := newIDAllocator(t.TempDir(), 100, 200, 3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[uint32]bool{}
	var held []*idLease
	for range 3 {
		l, err := a.acquire()
		if err != nil {
			t.Fatal(err)
		}
		if seen[l.uid] || l.gid-200 != l.uid-100 {
			t.Fatalf("lease %+v: duplicate, or gid not at the uid's index", l)
		}
		seen[l.uid] = true
		held = append(held, l)
	}
	if _, err := a.acquire(); err == nil {
		t.Fatal("a fourth id from a range of three")
	}
	held[1].release()
	l, err := a.acquire()
	if err != nil || l.uid != held[1].uid {
		t.Fatalf("after a release: %+v %v, want %d again", l, err, held[1].uid)
	}
}

// A jailrun killed by SIGKILL leaves its lock file (the kernel drops only the lock): the next allocator
// removes it, and never the file of a lease that is still held.
func TestHostIDAllocatorSweepsDeadHolders(t *testing.T) {
	dir := t.TempDir()
	live, err := newIDAllocator(dir, 100, 200, 2)
	if err != nil {
		t.Fatal(err)
	}
	held, err := live.acquire()
	if err != nil {
		t.Fatal(err)
	}
	defer held.release()
	dead := filepath.Join(dir, strconv.Itoa(int(100+(held.uid-100+1)%2)))
	if err := os.WriteFile(dead, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := newIDAllocator(dir, 100, 200, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the dead holder's lock file %s is still there (%v)", dead, err)
	}
	if _, err := os.Stat(held.path); err != nil {
		t.Errorf("the live lease's lock file went: %v", err)
	}
}

// A fixed host id (Options.HostUID/HostGID) that a host user has is refused, as a host id range would be:
// the sandbox would run as that user. 65534, the historical shared id, stays allowed.
func TestFixedHostIDOfAHostUser(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root: fixed host ids are a root Runner's")
	}
	if _, err := ResolveIDMapping(Options{HostUID: 0, HostGID: 65534}); err != nil {
		t.Fatalf("nobody's gid refused: %v", err)
	}
	_, err := ResolveIDMapping(Options{HostUID: 65534, HostGID: 0})
	if err != nil {
		t.Fatalf("HostUID 65534 refused: %v", err)
	}
	// root's own group (gid 0) is in /etc/group; HostGID 0 means "65534" to withDefaults, so use a user's.
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		p := strings.Split(line, ":")
		if len(p) < 4 || p[2] == "0" || p[2] == "65534" {
			continue
		}
		id, _ := strconv.ParseUint(p[2], 10, 32)
		_, err := ResolveIDMapping(Options{HostUID: uint32(id), HostGID: 65534})
		if !errors.Is(err, ErrHostIDs) || !strings.Contains(err.Error(), p[0]) {
			t.Fatalf("HostUID %d (%s's): %v; want ErrHostIDs naming %s", id, p[0], err, p[0])
		}
		return
	}
	t.Skip("/etc/passwd has no user but root and nobody")
}
