//go:build linux && cgo

package sandbox

import (
	"bytes"
	"os"
	"runtime"
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
	for len(maps) > 0 {
		line := maps
		if i := bytes.IndexByte(maps, '\n'); i >= 0 {
			line, maps = maps[:i], maps[i+1:]
		} else {
			maps = nil
		}
		lo, hi, perms, inode, name, ok := parseMapsLine(line)
		if !ok {
			open = false
			continue
		}
		fileEnd := prevFileEnd
		prevFileEnd = 0
		anon := inode == 0 && len(name) == 0 && len(perms) == 4 && perms[3] == 'p'
		if !anon {
			if inode != 0 && len(perms) == 4 && perms[3] == 'p' { // a file's private mapping: a bss may follow
				prevFileEnd = hi
			}
			open = false
			continue
		}
		reserved := perms[0] == '-' && perms[1] == '-' && perms[2] == '-' // no pages: nothing to copy or keep
		drop := lo != fileEnd && (reserved || hi-lo >= smallAnon)
		for _, a := range keep {
			if a >= lo && a < hi {
				drop = false
			}
		}
		if !drop {
			open = false
			continue
		}
		if open {
			spans[len(spans)-1].hi = hi
		} else {
			spans = append(spans, forkSpan{lo, hi})
			open = true
		}
	}
	return spans
}

// parseMapsLine splits a line of /proc/PID/maps: "lo-hi perms offset dev inode [name]".
func parseMapsLine(line []byte) (lo, hi uintptr, perms []byte, inode uint64, name []byte, ok bool) {
	var f [5][]byte
	rest := line
	for i := range f {
		rest = bytes.TrimLeft(rest, " ")
		j := bytes.IndexByte(rest, ' ')
		if j < 0 {
			if i < 4 {
				return 0, 0, nil, 0, nil, false
			}
			j = len(rest)
		}
		f[i], rest = rest[:j], rest[j:]
	}
	name = bytes.TrimLeft(rest, " ")
	r := f[0]
	d := bytes.IndexByte(r, '-')
	if d < 0 {
		return 0, 0, nil, 0, nil, false
	}
	l, ok1 := parseHex(r[:d])
	h, ok2 := parseHex(r[d+1:])
	in, ok3 := parseDec(f[4])
	if !ok1 || !ok2 || !ok3 || h <= l {
		return 0, 0, nil, 0, nil, false
	}
	return uintptr(l), uintptr(h), f[1], in, name, true
}

func parseHex(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 16 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			v = v<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			v = v<<4 | uint64(c-'a'+10)
		default:
			return 0, false
		}
	}
	return v, true
}

func parseDec(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + uint64(c-'0')
	}
	return v, true
}

// mapsBuf is reused under ForkLock: /proc/self/maps of a Go process is a few KiB.
var mapsBuf = make([]byte, 0, 16<<10)

// readSelfMaps reads /proc/self/maps into mapsBuf; nil when it cannot.
func readSelfMaps() []byte {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil
	}
	defer f.Close()
	b := mapsBuf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err != nil || n == 0 {
			break
		}
	}
	mapsBuf = b[:0]
	return b
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
	spans := dropSpans(readSelfMaps(), append(used, childAddresses()...))
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
