//go:build linux && cgo

package sandbox

import (
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// The sandbox's pid 1 is cloned from jailrun's process without CLONE_VM: it gets a copy-on-write copy of
// the whole address space, although its C code touches only a few mappings of it: its configuration (C
// memory), the cloning thread's C stack and TLS, the C code's static data, and the libraries' data. While
// that copy lives (a pooled sandbox waits for its command in it), every page the Go runtime writes is first
// copied, and on a multi-threaded process each copy flushes the TLB of every CPU running one of its threads:
// the IPIs alone were 13 % of all CPU during a warm-pool run here (docs/performance.md). The clone also
// copies the page tables of every mapping, and the child tears them down again when it execs or exits.
//
// So the mappings the child has no use for are marked MADV_DONTFORK for the clone: the Go heap, the Go
// runtime's other memory, the other threads' stacks, malloc's arenas. The mark is undone right after,
// under the same ForkLock, so that forks of other code (Go's own os/exec with CLONE_NEWUSER runs Go code in
// a child without CLONE_VM) still copy everything.
//
// What is kept is decided from /proc/self/maps at each clone, by shape, never by a guess of who mapped what:
//   - every mapping of a file, every shared mapping, and every named one ([stack], [heap], [vdso]);
//   - an anonymous mapping that starts where a file's mapping ends: a program's or a library's bss, where
//     the C code's statics, libc's state and the dynamic linker's data live;
//   - small anonymous mappings (under 64 KiB): the dynamic linker's own allocations (link maps, TLS blocks),
//     which lazy symbol binding in the child reads;
//   - any mapping that holds an address the child uses: its configuration, the pooled command's shared
//     memory, the C stack it runs on, its thread's TLS, the C statics (childAddresses).
//
// Everything else anonymous and private is left out of the copy. Mappings made by other threads between
// the read and the clone can only be the Go runtime's or malloc's (the child's memory all exists before), and
// a run of marked mappings may span such a newcomer: both are harmless. Unmarking sets MADV_DOFORK on the
// spans, so a mapping that something else in the process had marked MADV_DONTFORK loses that mark: neither
// Go's runtime nor glibc makes one; a library linked into a program that embeds jailrun could.

// forkSpan is a run of address space marked in one madvise call: mappings to leave out of the child's copy,
// with only unmapped holes between them (madvise marks what is mapped and answers ENOMEM for the holes).
type forkSpan struct{ lo, hi uintptr }

// smallAnon is the size under which an anonymous mapping is kept in the child's copy (see above).
const smallAnon = 64 << 10

// dropSpans reads maps (the text of /proc/self/maps) and returns the spans to mark: runs of anonymous private
// mappings the child does not need, none of them holding an address of keep.
func dropSpans(maps []byte, keep []uintptr) []forkSpan {
	var spans []forkSpan
	open := false // the last span may still grow
	var prevFileEnd uintptr
	for _, line := range bytes.Split(maps, []byte("\n")) {
		m, ok := parseMapsLine(line)
		if !ok {
			open = false
			continue
		}
		fileEnd := prevFileEnd
		prevFileEnd = 0
		private := m.perms[3] == 'p'
		if m.inode != 0 || m.named || !private {
			if m.inode != 0 && private { // a file's private mapping: a bss may follow
				prevFileEnd = m.hi
			}
			open = false
			continue
		}
		reserved := m.perms[:3] == "---" // no pages: nothing to copy or keep
		drop := m.lo != fileEnd && (reserved || m.hi-m.lo >= smallAnon)
		for _, a := range keep {
			if a >= m.lo && a < m.hi {
				drop = false
			}
		}
		if !drop {
			open = false
			continue
		}
		if open {
			spans[len(spans)-1].hi = m.hi
		} else {
			spans = append(spans, forkSpan{m.lo, m.hi})
			open = true
		}
	}
	return spans
}

// mapping is one line of /proc/PID/maps: "lo-hi perms offset dev inode [name]".
type mapping struct {
	lo, hi uintptr
	perms  string
	inode  uint64
	named  bool // a path or a name such as [stack]
}

func parseMapsLine(line []byte) (mapping, bool) {
	f := strings.Fields(string(line))
	if len(f) < 5 || len(f[1]) != 4 {
		return mapping{}, false
	}
	lo, hi, ok := strings.Cut(f[0], "-")
	l, err1 := strconv.ParseUint(lo, 16, 64)
	h, err2 := strconv.ParseUint(hi, 16, 64)
	in, err3 := strconv.ParseUint(f[4], 10, 64)
	if !ok || err1 != nil || err2 != nil || err3 != nil || h <= l {
		return mapping{}, false
	}
	return mapping{lo: uintptr(l), hi: uintptr(h), perms: f[1], inode: in, named: len(f) > 5}, true
}

// cloneLean runs clone, a cgo call that clones a child which runs only C code, under ForkLock and on
// a locked OS thread, with the mappings the child does not use (used, the addresses its caller prepared, and
// childAddresses are kept) marked MADV_DONTFORK. ForkLock also keeps the clone out of the time a run's files
// are written (box_linux.go): a copy of a writable descriptor of a program would make its execve fail with
// ETXTBSY.
func cloneLean(used []uintptr, clone func()) {
	// The child runs on the C stack of the thread that clones it: measure that very thread.
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	maps, _ := os.ReadFile("/proc/self/maps") // unreadable: nothing is marked, the child gets a full copy
	spans := dropSpans(maps, append(used, childAddresses()...))
	markSpans(spans, true)
	defer markSpans(spans, false)
	clone()
}

// markSpans sets (dontFork) or clears MADV_DONTFORK on spans. Holes make madvise answer ENOMEM after marking
// what is mapped: expected, and ignored.
func markSpans(spans []forkSpan, dontFork bool) {
	advice := uintptr(unix.MADV_DOFORK)
	if dontFork {
		advice = unix.MADV_DONTFORK
	}
	for _, s := range spans {
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, s.lo, s.hi-s.lo, advice)
	}
}
