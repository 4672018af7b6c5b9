// Package syscalls is jailrun's own table of Linux syscall names, numbers and named groups.
//
// It is pure Go (no cgo) so that the policy parser can validate syscall names without libseccomp, and it is
// generated from golang.org/x/sys, which tracks new kernels far faster than distribution libseccomp builds
// (Debian 12's libseccomp cannot name anything added since Linux 6.8).
package syscalls

import (
	"runtime"
	"sort"
	"sync"
)

// Arch names a syscall table. Only the native architecture of a build is ever allowed by a filter.
type Arch string

const (
	AMD64 Arch = "amd64"
	ARM64 Arch = "arm64"
)

// Native is the architecture this binary runs on.
var Native = Arch(runtime.GOARCH)

// entry is one syscall of a generated table (table_gen.go), which is sorted by name.
type entry struct {
	name string
	nr   int
}

func table(a Arch) []entry {
	switch a {
	case AMD64:
		return table_amd64
	case ARM64:
		return table_arm64
	}
	return nil
}

// lookup finds name in a table by binary search.
func lookup(t []entry, name string) (int, bool) {
	i := sort.Search(len(t), func(i int) bool { return t[i].name >= name })
	if i < len(t) && t[i].name == name {
		return t[i].nr, true
	}
	return 0, false
}

// Number returns the syscall number of name on arch.
func Number(a Arch, name string) (int, bool) {
	return lookup(table(a), name)
}

// Known reports whether name is a syscall on any architecture jailrun knows. A policy may name a syscall
// that does not exist on the native arch (e.g. "open" on arm64); the filter then ignores it.
func Known(name string) bool {
	_, a := lookup(table_amd64, name)
	_, b := lookup(table_arm64, name)
	return a || b
}

// reverse holds, per architecture, number → name and the highest number, computed once: Name and Max
// are called for every syscall of every filter build.
type reverse struct {
	names map[int]string
	max   int
}

var (
	reverseOnce sync.Once
	reverses    map[Arch]reverse
)

func rev(a Arch) reverse {
	reverseOnce.Do(func() {
		reverses = map[Arch]reverse{}
		for _, arch := range []Arch{AMD64, ARM64} {
			r := reverse{names: map[int]string{}, max: -1}
			for _, e := range table(arch) {
				n, v := e.name, e.nr
				// Two names for one number do not occur in x/sys's tables; keep the smaller name to be
				// deterministic if they ever do.
				if old, ok := r.names[v]; !ok || n < old {
					r.names[v] = n
				}
				r.max = max(r.max, v)
			}
			reverses[arch] = r
		}
	})
	r, ok := reverses[a]
	if !ok {
		return reverse{max: -1}
	}
	return r
}

// Name returns the name of syscall nr on arch.
func Name(a Arch, nr int) (string, bool) {
	n, ok := rev(a).names[nr]
	return n, ok
}

// Max is the highest syscall number the table knows on arch. Anything above it is newer than this build
// and an allowlist answers it with ENOSYS so that libc falls back.
func Max(a Arch) int {
	return rev(a).max
}

// Names lists every syscall of arch, sorted.
func Names(a Arch) []string {
	t := table(a)
	out := make([]string, 0, len(t))
	for _, e := range t {
		out = append(out, e.name) // the table is sorted
	}
	return out
}
