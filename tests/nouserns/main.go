//go:build linux

// Command nouserns runs a program the way a host that blocks user namespaces would: it installs a seccomp
// filter (inherited across execve, for every thread and every descendant) that answers unshare and clone
// with CLONE_NEWUSER with EPERM and clone3 with ENOSYS (clone3's flags are in memory a filter cannot read;
// ENOSYS is what Docker's default profile answers, and jailrun falls back to clone), then execs its
// arguments. No host-global sysctl is touched, so the e2e tests can force jailrun's degraded mode.
// With --clone3-only, only clone3 is answered (ENOSYS), as Docker's default profile does: user namespaces
// still work, and jailrun must make its sandbox with plain clone.
//
//	nouserns [--clone3-only] PROGRAM [ARGS...]
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The filter's native architecture; a syscall from any other ABI is allowed (this is a test harness for
// namespace creation, not a sandbox).
var nativeArch = map[string]uint32{"amd64": 0xc000003e, "arm64": 0xc00000b7}

func main() {
	args := os.Args[1:]
	clone3Only := len(args) > 0 && args[0] == "--clone3-only"
	if clone3Only {
		args = args[1:]
	}
	if len(args) < 1 {
		fmt.Fprintln(os.Stderr, "usage: nouserns [--clone3-only] PROGRAM [ARGS...]")
		os.Exit(2)
	}
	arch, ok := nativeArch[runtime.GOARCH]
	if !ok {
		fmt.Fprintln(os.Stderr, "nouserns: unsupported architecture "+runtime.GOARCH)
		os.Exit(2)
	}
	const (
		ret       = unix.BPF_RET | unix.BPF_K
		ld        = unix.BPF_LD | unix.BPF_W | unix.BPF_ABS
		jeq       = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		jset      = unix.BPF_JMP | unix.BPF_JSET | unix.BPF_K
		allow     = unix.SECCOMP_RET_ALLOW
		eperm     = unix.SECCOMP_RET_ERRNO | uint32(unix.EPERM)
		enosys    = unix.SECCOMP_RET_ERRNO | uint32(unix.ENOSYS)
		offNr     = 0
		offArch   = 4
		offArg0Lo = 16 // args[0], low 32 bits (little endian)
	)
	prog := []unix.SockFilter{
		{Code: ld, K: offArch},
		{Code: jeq, K: arch, Jt: 1},
		{Code: ret, K: allow},
		{Code: ld, K: offNr},
		{Code: jeq, K: unix.SYS_CLONE3, Jt: 0, Jf: 1},
		{Code: ret, K: enosys},
		{Code: jeq, K: unix.SYS_CLONE, Jt: 2},
		{Code: jeq, K: unix.SYS_UNSHARE, Jt: 1},
		{Code: ret, K: allow},
		{Code: ld, K: offArg0Lo},
		{Code: jset, K: unix.CLONE_NEWUSER, Jt: 0, Jf: 1},
		{Code: ret, K: eperm},
		{Code: ret, K: allow},
	}
	if clone3Only {
		prog = append(prog[:6:6], unix.SockFilter{Code: ret, K: allow})
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	// no_new_privs is a property of one thread, and seccomp refuses a filter (EACCES) on a thread without it:
	// both calls, and the exec, must be made by the same OS thread.
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		fmt.Fprintln(os.Stderr, "nouserns: no_new_privs:", err)
		os.Exit(125)
	}
	// TSYNC: every thread of this Go process, so the exec below runs under it whichever thread makes it.
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&fprog))); e != 0 {
		fmt.Fprintln(os.Stderr, "nouserns: seccomp:", e)
		os.Exit(125)
	}
	path, err := exec.LookPath(args[0])
	if err != nil {
		fmt.Fprintln(os.Stderr, "nouserns:", err)
		os.Exit(127)
	}
	err = syscall.Exec(path, args, os.Environ())
	fmt.Fprintln(os.Stderr, "nouserns: exec:", err)
	os.Exit(126)
}
