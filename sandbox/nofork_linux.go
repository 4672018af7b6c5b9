//go:build linux && cgo

package sandbox

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The sandbox's pid 1 is cloned from jailrun's process without CLONE_VM: it gets a copy-on-write copy of
// the whole address space, Go heap included, although its C code never touches the Go heap (its
// configuration is C memory, its stack the cloning thread's C stack). While that copy lives (a pooled
// sandbox waits for its command in it), every page the Go runtime writes is first copied, and on a
// multi-threaded process each copy flushes the TLB of every CPU running one of its threads: the IPIs
// alone were 13 % of all CPU during a warm-pool run here (docs/performance.md). Marking the Go heap MADV_DONTFORK for the clone keeps it out of
// the copy; the mark is undone right after, under the same ForkLock, so that forks of other code (Go's
// own os/exec with CLONE_NEWUSER runs Go code in a child without CLONE_VM) still copy it.

// goHeap is the span of address space marked: the Go heap's mapping as it is at the first spawn, found as
// the run of adjacent anonymous mappings around an object just allocated, and up to 256 GiB above its
// start for its growth. Go's heap grows upwards, contiguously, from a base that Go 1.26 randomizes (below
// 2^46 on amd64, far under the libraries and the mappings the kernel places top-down). Nothing the child
// uses may lie in the span: spawn checks, and clones without the mark otherwise.
var goHeap = sync.OnceValues(func() (lo, n uintptr) {
	heapProbe = new([64]byte) // stored in a package variable: allocated on the heap, not the stack
	p := uintptr(unsafe.Pointer(heapProbe))
	const arena, growth = 64 << 20, 256 << 30
	lo = heapStart(p)
	if lo == 0 {
		lo = p &^ (arena - 1)
	}
	return lo, p - lo + growth
})

var heapProbe *[64]byte

// heapStart is the start of the run of adjacent anonymous mappings that holds p, from /proc/self/maps;
// 0 when it cannot tell.
func heapStart(p uintptr) uintptr {
	b, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0
	}
	type vma struct{ lo, hi uintptr }
	var run []vma // adjacent anonymous mappings, in address order
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 5 {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		a, err1 := strconv.ParseUint(lo, 16, 64)
		z, err2 := strconv.ParseUint(hi, 16, 64)
		if !ok || err1 != nil || err2 != nil {
			continue
		}
		if len(f) > 5 || f[4] != "0" { // a file, or a named region such as [stack]
			run = run[:0]
			continue
		}
		if len(run) > 0 && run[len(run)-1].hi != uintptr(a) {
			run = run[:0]
		}
		run = append(run, vma{uintptr(a), uintptr(z)})
		if p >= uintptr(a) && p < uintptr(z) {
			return run[0].lo
		}
	}
	return 0
}

// inGoHeap reports whether any of addrs lies in the span goHeap marks.
func inGoHeap(addrs []uintptr) bool {
	lo, n := goHeap()
	for _, a := range addrs {
		if a >= lo && a < lo+n {
			return true
		}
	}
	return false
}

// cloneWithoutGoHeap runs clone, a cgo call that clones a child which runs only C code, under ForkLock and,
// unless an address the child uses (used, and childAddresses) lies in the Go heap's span, with that span
// marked MADV_DONTFORK. ForkLock also keeps the clone out of the time a run's files are written
// (box_linux.go): a copy of a writable descriptor of a program would make its execve fail with ETXTBSY.
func cloneWithoutGoHeap(used []uintptr, clone func()) {
	syscall.ForkLock.Lock()
	defer syscall.ForkLock.Unlock()
	mark := !inGoHeap(used) && !inGoHeap(childAddresses())
	if mark {
		markGoHeap(true)
		defer markGoHeap(false)
	}
	clone()
}

// markGoHeap sets (dontFork) or clears MADV_DONTFORK on the Go heap's span. Holes in the span make
// madvise answer ENOMEM after marking what is mapped: expected, and ignored.
func markGoHeap(dontFork bool) {
	lo, n := goHeap()
	if n == 0 {
		return
	}
	advice := uintptr(unix.MADV_DOFORK)
	if dontFork {
		advice = unix.MADV_DONTFORK
	}
	_, _, _ = unix.Syscall(unix.SYS_MADVISE, lo, n, advice)
}
