//go:build linux && cgo

package sandbox

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/jailrun/jailrun/internal/statedir"
	"github.com/jailrun/jailrun/namespaces"
	"golang.org/x/sys/unix"
)

// Each live sandbox gets host ids of its own, so that the kernel's per-user budgets (inotify instances and
// watches, pending signals, mqueue bytes, pipe buffer pages, namespace counts: all kept per uid) are never
// shared with another sandbox, and the user namespace is owned by that uid, not by root.
//
// An id is taken by holding an exclusive flock on a file named after it in a directory only the caller can
// write. The lock lives in an open file description of this process that is close-on-exec and that every
// sandbox child closes before it runs anything of the policy's: the kernel releases it when the run ends or
// when jailrun dies, even by SIGKILL. Independent jailrun processes see each other's locks.

// hostIDLockDir is where a root jailrun keeps one lock file per allocated id.
const hostIDLockDir = "/run/jailrun/ids"

// idAllocator hands out the index of a free id in [0, size).
type idAllocator struct {
	dir              string
	uidBase, gidBase uint32
	size             uint32
	next             atomic.Uint32 // where the next scan starts: rotates, from a random start
}

// idLease is one allocated id, held until release.
type idLease struct {
	uid, gid uint32
	fd       int
	path     string
	probes   int // lock files tried to find it: the allocation's cost (BenchmarkHostIDAcquire)
}

func newIDAllocator(dir string, uidBase, gidBase uint32, size uint32) (*idAllocator, error) {
	if err := statedir.Ensure(dir); err != nil {
		return nil, fmt.Errorf("host id locks: %w", err)
	}
	a := &idAllocator{dir: dir, uidBase: uidBase, gidBase: gidBase, size: size}
	a.sweep()
	var b [4]byte
	_, _ = rand.Read(b[:])
	a.next.Store(binary.NativeEndian.Uint32(b[:]) % size)
	return a, nil
}

// acquire takes a free id. It scans from a rotating offset, so with n live sandboxes out of size ids it
// usually takes one try.
func (a *idAllocator) acquire() (*idLease, error) {
	start := a.next.Add(1)
	for i := uint32(0); i < a.size; i++ {
		k := (start + i) % a.size
		uid := a.uidBase + k
		path := filepath.Join(a.dir, strconv.FormatUint(uint64(uid), 10))
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
		if err != nil {
			return nil, fmt.Errorf("host id lock %s: %w", path, err)
		}
		if err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB); err != nil {
			unix.Close(fd)
			if errors.Is(err, unix.EWOULDBLOCK) {
				continue
			}
			return nil, fmt.Errorf("host id lock %s: %w", path, err)
		}
		// The holder before us unlinks its file before it unlocks: a lock on an unlinked file is worthless.
		var a1, a2 unix.Stat_t
		if unix.Fstat(fd, &a1) != nil || unix.Lstat(path, &a2) != nil || a1.Ino != a2.Ino || a1.Dev != a2.Dev {
			unix.Close(fd)
			continue
		}
		a.next.Store(k)
		return &idLease{uid: uid, gid: a.gidBase + k, fd: fd, path: path, probes: int(i) + 1}, nil
	}
	// Root takes its ids from Options.HostIDs; a rootless Runner from the caller's subordinate ids.
	fix := "give a wider range (Options.HostIDs; jailrun: --host-id-range, $JAILRUN_HOST_IDS)"
	if a.dir != hostIDLockDir {
		fix = "grant more subordinate ids in /etc/subuid and /etc/subgid"
	}
	return nil, fmt.Errorf("%w: %w: all %d host ids from %d are in use by live sandboxes: %s", ErrSetup, ErrHostIDs, a.size, a.uidBase, fix)
}

// sweep removes the lock files of jailrun processes that died without releasing (SIGKILL): the kernel freed
// their locks, but the files stay. A file is removed only while this process holds its lock, exactly as
// release does, so a live holder's file is never touched and acquire's inode check stays sound.
func (a *idAllocator) sweep() {
	ents, err := os.ReadDir(a.dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		path := filepath.Join(a.dir, e.Name())
		fd, err := unix.Open(path, unix.O_RDWR|unix.O_CLOEXEC|unix.O_NOFOLLOW|unix.O_NONBLOCK, 0)
		if err != nil {
			continue
		}
		var a1, a2 unix.Stat_t
		if unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB) == nil && unix.Fstat(fd, &a1) == nil && unix.Lstat(path, &a2) == nil &&
			a1.Ino == a2.Ino && a1.Dev == a2.Dev && a1.Mode&unix.S_IFMT == unix.S_IFREG {
			_ = unix.Unlink(path)
		}
		unix.Close(fd)
	}
}

// release frees the id. The file goes first, while still locked, so that nobody can lock it in between
// and believe they own the id after the next holder re-creates it.
func (l *idLease) release() {
	if l == nil || l.fd < 0 {
		return
	}
	_ = unix.Unlink(l.path)
	unix.Close(l.fd)
	l.fd = -1
}

// CheckHostIDRange refuses (ErrHostIDs) host ids that a host user or group (/etc/passwd, /etc/group) or a
// subordinate range (/etc/subuid, /etc/subgid) already uses: a host process running as such an id would own
// the sandbox's user namespace, could signal or trace its processes and reach its files, and would share
// its per-user budgets. NewRunner checks Options.HostIDs and fixed HostUID/HostGID with it; front ends that
// choose ids themselves (jailrun isolate's box ids) check theirs and say how to choose others.
func CheckHostIDRange(r IDRange) error { return hostIDClash(r, "") }

// checkHostIDRange is CheckHostIDRange for Options.HostIDs, saying how to choose another range.
func checkHostIDRange(r IDRange) error {
	return hostIDClash(r, ": choose another with Options.HostIDs (jailrun: --host-id-range or $JAILRUN_HOST_IDS)")
}

func hostIDClash(r IDRange, advice string) error {
	// what is formatted only on a clash: this runs at every Runner's start, over every line of the files.
	clash := func(lo, hi uint64, what func() string) error {
		if hi < uint64(r.Start) || lo > uint64(r.End) {
			return nil
		}
		return fmt.Errorf("%w: %s overlaps %s%s", ErrHostIDs, r, what(), advice)
	}
	for _, f := range []string{"/etc/passwd", "/etc/group"} {
		ids, err := idsInFile(f)
		if err != nil {
			return err
		}
		for name, id := range ids {
			if err := clash(uint64(id), uint64(id), func() string { return fmt.Sprintf("%s's id %d in %s", name, id, f) }); err != nil {
				return err
			}
		}
	}
	for _, f := range []string{namespaces.SubUIDFile, namespaces.SubGIDFile} {
		b, err := os.ReadFile(f)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(b), "\n") {
			p := strings.Split(strings.TrimSpace(line), ":")
			if len(p) != 3 || strings.HasPrefix(p[0], "#") {
				continue
			}
			start, err1 := strconv.ParseUint(p[1], 10, 32)
			count, err2 := strconv.ParseUint(p[2], 10, 32)
			if err1 != nil || err2 != nil || count == 0 {
				continue
			}
			if err := clash(start, start+count-1, func() string {
				return fmt.Sprintf("%s's subordinate ids %d-%d in %s", p[0], start, start+count-1, f)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// idsInFile reads the third field (the numeric id) of each line of /etc/passwd or /etc/group.
func idsInFile(path string) (map[string]uint32, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	out := map[string]uint32{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		p := strings.Split(sc.Text(), ":")
		if len(p) < 3 {
			continue
		}
		if id, err := strconv.ParseUint(p[2], 10, 32); err == nil {
			out[p[0]] = uint32(id)
		}
	}
	return out, sc.Err()
}

// newHostIDAllocator returns the allocator for a Runner whose ids are "allocated", or "subordinate" with
// more than one id, else nil and, when its sandboxes will share host ids, a note saying why.
func newHostIDAllocator(ids IDMappingInfo) (*idAllocator, string, error) {
	switch {
	case ids.Kind == "allocated" && ids.Range != nil:
		a, err := newIDAllocator(hostIDLockDir, ids.Range.Start, ids.Range.Start, uint32(ids.Range.Size()))
		return a, "", err
	case ids.Kind == "fixed":
		return nil, "Options.HostUID/HostGID fix the host ids: concurrent sandboxes share them and the kernel's per-user budgets", nil
	case ids.Kind == "caller":
		return nil, "mapped to the caller's own ids: the caller and its concurrent sandboxes share the kernel's per-user budgets", nil
	case ids.Kind != "subordinate":
		return nil, "", nil
	case ids.Range == nil || ids.Range.Size() < 2:
		return nil, "one subordinate id: concurrent sandboxes share it (grant more in /etc/subuid and /etc/subgid)", nil
	}
	// Rootless: the locks live where only the caller can write.
	a, err := newIDAllocator(statedir.Dir("ids"), ids.HostUID, ids.HostGID, uint32(ids.Range.Size()))
	if err != nil {
		return nil, fmt.Sprintf("concurrent sandboxes share subordinate id %d: %v", ids.HostUID, err), nil
	}
	return a, "", nil
}

// noteOwner says in the result when the user namespace could not be given to the run's uid (a root
// without CAP_SETPCAP or CAP_SETUID): its per-user budgets are then charged to root at the host level.
func noteOwner(l *launch, cfg *spawnConfig) {
	if cfg.ownerErr != nil {
		l.res.Enforced.IDNote = fmt.Sprintf("the user namespace is owned by root, not host uid %d (switching the cloning thread failed: %v): at the host level its per-user budgets are root's", cfg.ownerUID, cfg.ownerErr)
	}
}

// allocateIDs gives the run its own host ids, held until its cleanup, which runs after the sandbox is
// reaped and its cgroup removed.
func (l *launch) allocateIDs() error {
	l.ids = l.r.plat.ids
	if !l.s.Namespaces.User {
		return nil
	}
	if l.r.plat.alloc == nil {
		l.res.Enforced.IDNote = l.r.plat.idNote
		return nil
	}
	lease, err := l.r.plat.alloc.acquire()
	if err != nil {
		return err
	}
	l.cleanup = append(l.cleanup, lease.release)
	l.ids.HostUID, l.ids.HostGID = lease.uid, lease.gid
	return nil
}
