// Package syscalls is jailrun's own table of Linux syscall names, numbers and named groups.
//
// It is pure Go (no cgo) so that the policy parser can validate syscall names without libseccomp, and it is
// generated from golang.org/x/sys, which tracks new kernels far faster than distribution libseccomp builds
// (Debian 12's libseccomp cannot name anything added since Linux 6.8).
package syscalls

import (
	"runtime"
	"sort"
)

// Arch names a syscall table. Only the native architecture of a build is ever allowed by a filter.
type Arch string

const (
	AMD64 Arch = "amd64"
	ARM64 Arch = "arm64"
)

// Native is the architecture this binary runs on.
var Native = Arch(runtime.GOARCH)

func table(a Arch) map[string]int {
	switch a {
	case AMD64:
		return table_amd64
	case ARM64:
		return table_arm64
	}
	return nil
}

// Number returns the syscall number of name on arch.
func Number(a Arch, name string) (int, bool) {
	nr, ok := table(a)[name]
	return nr, ok
}

// Known reports whether name is a syscall on any architecture jailrun knows. A policy may name a syscall
// that does not exist on the native arch (e.g. "open" on arm64); the filter then ignores it.
func Known(name string) bool {
	_, a := table_amd64[name]
	_, b := table_arm64[name]
	return a || b
}

// Name returns the name of syscall nr on arch.
func Name(a Arch, nr int) (string, bool) {
	for n, v := range table(a) {
		if v == nr {
			return n, true
		}
	}
	return "", false
}

// Max is the highest syscall number the table knows on arch. Anything above it is newer than this build
// and an allowlist answers it with ENOSYS so that libc falls back.
func Max(a Arch) int {
	m := -1
	for _, v := range table(a) {
		if v > m {
			m = v
		}
	}
	return m
}

// Names lists every syscall of arch, sorted.
func Names(a Arch) []string {
	t := table(a)
	out := make([]string, 0, len(t))
	for n := range t {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
