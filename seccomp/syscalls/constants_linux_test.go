//go:build linux

package syscalls

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The constants table is hand-written; check it against x/sys, which is generated from kernel headers.
func TestConstantsMatchKernelHeaders(t *testing.T) {
	want := map[string]uint64{
		"AF_UNIX": unix.AF_UNIX, "AF_INET": unix.AF_INET, "AF_INET6": unix.AF_INET6, "AF_NETLINK": unix.AF_NETLINK,
		"AF_PACKET": unix.AF_PACKET, "AF_VSOCK": unix.AF_VSOCK, "AF_ALG": unix.AF_ALG, "AF_XDP": unix.AF_XDP,
		"AF_BLUETOOTH": unix.AF_BLUETOOTH, "AF_CAN": unix.AF_CAN, "AF_KEY": unix.AF_KEY, "AF_TIPC": unix.AF_TIPC,
		"AF_RDS": unix.AF_RDS, "AF_KCM": unix.AF_KCM, "AF_SMC": unix.AF_SMC, "AF_MCTP": unix.AF_MCTP,
		"SOCK_STREAM": unix.SOCK_STREAM, "SOCK_DGRAM": unix.SOCK_DGRAM, "SOCK_RAW": unix.SOCK_RAW,
		"SOCK_NONBLOCK": unix.SOCK_NONBLOCK, "SOCK_CLOEXEC": unix.SOCK_CLOEXEC,
		"TIOCSTI": unix.TIOCSTI, "TIOCLINUX": unix.TIOCLINUX, "TIOCSCTTY": unix.TIOCSCTTY, "TIOCCONS": unix.TIOCCONS,
		"TIOCSETD": unix.TIOCSETD, "TCGETS": unix.TCGETS, "TIOCGWINSZ": unix.TIOCGWINSZ, "FIONREAD": unix.TIOCINQ,
		"CLONE_NEWNS": unix.CLONE_NEWNS, "CLONE_NEWCGROUP": unix.CLONE_NEWCGROUP, "CLONE_NEWUTS": unix.CLONE_NEWUTS,
		"CLONE_NEWIPC": unix.CLONE_NEWIPC, "CLONE_NEWUSER": unix.CLONE_NEWUSER, "CLONE_NEWPID": unix.CLONE_NEWPID,
		"CLONE_NEWNET": unix.CLONE_NEWNET, "CLONE_NEWTIME": unix.CLONE_NEWTIME, "CLONE_VM": unix.CLONE_VM,
		"CLONE_FS": unix.CLONE_FS, "CLONE_FILES": unix.CLONE_FILES, "CLONE_SIGHAND": unix.CLONE_SIGHAND,
		"CLONE_PIDFD": unix.CLONE_PIDFD, "CLONE_PTRACE": unix.CLONE_PTRACE, "CLONE_VFORK": unix.CLONE_VFORK,
		"CLONE_PARENT": unix.CLONE_PARENT, "CLONE_THREAD": unix.CLONE_THREAD, "CLONE_SYSVSEM": unix.CLONE_SYSVSEM,
		"CLONE_SETTLS": unix.CLONE_SETTLS, "CLONE_PARENT_SETTID": unix.CLONE_PARENT_SETTID,
		"CLONE_CHILD_CLEARTID": unix.CLONE_CHILD_CLEARTID, "CLONE_UNTRACED": unix.CLONE_UNTRACED,
		"CLONE_CHILD_SETTID": unix.CLONE_CHILD_SETTID, "CLONE_IO": unix.CLONE_IO,
		"PROT_READ": unix.PROT_READ, "PROT_WRITE": unix.PROT_WRITE, "PROT_EXEC": unix.PROT_EXEC,
		"MAP_SHARED": unix.MAP_SHARED, "MAP_PRIVATE": unix.MAP_PRIVATE, "MAP_FIXED": unix.MAP_FIXED,
		"MAP_ANONYMOUS": unix.MAP_ANONYMOUS,
		"O_WRONLY":      unix.O_WRONLY, "O_RDWR": unix.O_RDWR, "O_CREAT": unix.O_CREAT, "O_EXCL": unix.O_EXCL,
		"O_TRUNC": unix.O_TRUNC, "O_APPEND": unix.O_APPEND, "O_NONBLOCK": unix.O_NONBLOCK,
		"O_DIRECTORY": unix.O_DIRECTORY, "O_NOFOLLOW": unix.O_NOFOLLOW, "O_CLOEXEC": unix.O_CLOEXEC,
		"O_PATH": unix.O_PATH, "O_TMPFILE": unix.O_TMPFILE,
		"PR_SET_PDEATHSIG": unix.PR_SET_PDEATHSIG, "PR_SET_DUMPABLE": unix.PR_SET_DUMPABLE,
		"PR_SET_NAME": unix.PR_SET_NAME, "PR_GET_NAME": unix.PR_GET_NAME, "PR_SET_SECCOMP": unix.PR_SET_SECCOMP,
		"PR_CAPBSET_DROP": unix.PR_CAPBSET_DROP, "PR_SET_SECUREBITS": unix.PR_SET_SECUREBITS,
		"PR_SET_NO_NEW_PRIVS": unix.PR_SET_NO_NEW_PRIVS, "PR_SET_PTRACER": unix.PR_SET_PTRACER,
		"PR_SET_MM": unix.PR_SET_MM, "PR_CAP_AMBIENT": unix.PR_CAP_AMBIENT, "PR_SET_VMA": unix.PR_SET_VMA,
		"EPERM": uint64(unix.EPERM), "ENOENT": uint64(unix.ENOENT), "ESRCH": uint64(unix.ESRCH),
		"EINTR": uint64(unix.EINTR), "EIO": uint64(unix.EIO), "EBADF": uint64(unix.EBADF),
		"EAGAIN": uint64(unix.EAGAIN), "ENOMEM": uint64(unix.ENOMEM), "EACCES": uint64(unix.EACCES),
		"EFAULT": uint64(unix.EFAULT), "EINVAL": uint64(unix.EINVAL), "ENOTTY": uint64(unix.ENOTTY),
		"EROFS": uint64(unix.EROFS), "ENOSYS": uint64(unix.ENOSYS), "ENOTSUP": uint64(unix.ENOTSUP),
		"EOPNOTSUPP": uint64(unix.EOPNOTSUPP), "EAFNOSUPPORT": uint64(unix.EAFNOSUPPORT),
		"EPROTONOSUPPORT": uint64(unix.EPROTONOSUPPORT), "ECONNREFUSED": uint64(unix.ECONNREFUSED),
		"ENETUNREACH": uint64(unix.ENETUNREACH), "EADDRNOTAVAIL": uint64(unix.EADDRNOTAVAIL),
		"ENOSPC": uint64(unix.ENOSPC), "EPIPE": uint64(unix.EPIPE), "EEXIST": uint64(unix.EEXIST),
	}
	for name, w := range want {
		got, ok := Constant(name)
		if !ok {
			t.Errorf("Constant(%s) missing", name)
			continue
		}
		if got != w {
			t.Errorf("Constant(%s) = %#x, kernel headers say %#x", name, got, w)
		}
	}
	if v, _ := Constant("CLONE_NS_FLAGS"); v != unix.CLONE_NEWNS|unix.CLONE_NEWCGROUP|unix.CLONE_NEWUTS|unix.CLONE_NEWIPC|unix.CLONE_NEWUSER|unix.CLONE_NEWPID|unix.CLONE_NEWNET {
		t.Errorf("CLONE_NS_FLAGS = %#x", v)
	}
	// The syscall table must agree with x/sys too (it is generated from it; this catches a stale table).
	for name, nr := range map[string]int{"read": unix.SYS_READ, "execve": unix.SYS_EXECVE, "clone3": unix.SYS_CLONE3, "ptrace": unix.SYS_PTRACE} {
		if got, ok := Number(Native, name); !ok || got != nr {
			t.Errorf("Number(%s) = %d, %v; x/sys says %d", name, got, ok, nr)
		}
	}
}
