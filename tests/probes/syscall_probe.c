/*
 * syscall_probe: try one syscall and print what happened as one JSON line, for jailrun's seccomp tests.
 *
 *   syscall_probe NAME        try the named syscall (see the table below) with harmless or invalid
 *                             arguments: allowed, it fails with EBADF/EFAULT/EINVAL/ENOENT or does
 *                             nothing; blocked, it fails with the filter's errno or the process dies.
 *   syscall_probe nr N [A0..] raw syscall number N with up to 6 integer arguments
 *   syscall_probe int80       getpid through the i386 entry (int $0x80) from 64-bit code
 *   syscall_probe x32         getpid with the x32 bit set (0x40000000 | 39)
 *   syscall_probe list        print the names this probe knows
 *
 * Output: {"syscall":"NAME","ret":R,"errno":E,"errno_name":"EPERM"} then exit 0. A killed probe prints
 * nothing (stdout is flushed before the call, so earlier lines survive).
 *
 * Every call is harmless even outside a sandbox and as root: reboot gets a wrong magic number, mount
 * and swapon point at paths that do not exist, clock calls get invalid clocks or values, kexec gets
 * invalid flags, acct gets a missing file. Build: gcc -static -O2 -o syscall_probe syscall_probe.c
 * In the spirit of bubblewrap's tests/try-syscall.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/personality.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_mseal
#define SYS_mseal 462
#endif
#ifndef SYS_listmount
#define SYS_listmount 458
#endif

static const char *errno_name(int e) {
	switch (e) {
	case 0: return "";
	case EPERM: return "EPERM";
	case ENOENT: return "ENOENT";
	case ESRCH: return "ESRCH";
	case EINTR: return "EINTR";
	case EBADF: return "EBADF";
	case ECHILD: return "ECHILD";
	case EAGAIN: return "EAGAIN";
	case ENOMEM: return "ENOMEM";
	case EACCES: return "EACCES";
	case EFAULT: return "EFAULT";
	case EBUSY: return "EBUSY";
	case EEXIST: return "EEXIST";
	case ENOTDIR: return "ENOTDIR";
	case EINVAL: return "EINVAL";
	case ENOTTY: return "ENOTTY";
	case ENOSYS: return "ENOSYS";
	case EOPNOTSUPP: return "EOPNOTSUPP";
	case EAFNOSUPPORT: return "EAFNOSUPPORT";
	case ENODEV: return "ENODEV";
	case EIO: return "EIO";
	}
	return "other";
}

static void report(const char *name, long ret, int err) {
	printf("{\"syscall\":\"%s\",\"ret\":%ld,\"errno\":%d,\"errno_name\":\"%s\"}\n", name, ret, ret < 0 ? err : 0,
	       ret < 0 ? errno_name(err) : "");
	fflush(stdout);
}

/* A clone that, if it succeeds, has the child exit at once; the parent reaps it. */
static long try_clone(unsigned long flags) {
	long r = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
	if (r == 0)
		_exit(0);
	if (r > 0) {
		int e = errno;
		waitpid((pid_t)r, NULL, 0);
		errno = e;
		return 0; /* report success as 0: the pid is noise */
	}
	return r;
}

#define NOPTR ((void *)0)

static long call(const char *n) {
	if (!strcmp(n, "getpid")) return syscall(SYS_getpid);
	if (!strcmp(n, "read")) return syscall(SYS_read, -1, NOPTR, 0);
	if (!strcmp(n, "write")) return syscall(SYS_write, -1, NOPTR, 0);
	if (!strcmp(n, "ptrace")) return syscall(SYS_ptrace, 1 /* PTRACE_PEEKTEXT */, -1, 0, 0);
	if (!strcmp(n, "process_vm_readv")) return syscall(SYS_process_vm_readv, -1, NOPTR, 0, NOPTR, 0, 0);
	if (!strcmp(n, "process_vm_writev")) return syscall(SYS_process_vm_writev, -1, NOPTR, 0, NOPTR, 0, 0);
	if (!strcmp(n, "mount")) return syscall(SYS_mount, "none", "/nonexistent/jailrun", "jailrunfs", 0, NOPTR);
	if (!strcmp(n, "umount2")) return syscall(SYS_umount2, "/nonexistent/jailrun", 0);
	if (!strcmp(n, "pivot_root")) return syscall(SYS_pivot_root, "/nonexistent/jailrun", "/nonexistent/jailrun");
	if (!strcmp(n, "chroot")) return syscall(SYS_chroot, "/nonexistent/jailrun");
	if (!strcmp(n, "unshare")) return syscall(SYS_unshare, 0); /* no flags: does nothing if allowed */
	if (!strcmp(n, "unshare_user")) return syscall(SYS_unshare, CLONE_NEWUSER);
	if (!strcmp(n, "setns")) return syscall(SYS_setns, -1, 0);
	if (!strcmp(n, "clone")) return try_clone(0);
	if (!strcmp(n, "clone_newuser")) return try_clone(CLONE_NEWUSER);
	if (!strcmp(n, "clone_newns")) return try_clone(CLONE_NEWNS);
	if (!strcmp(n, "clone_newnet")) return try_clone(CLONE_NEWNET);
	if (!strcmp(n, "clone3")) return syscall(SYS_clone3, NOPTR, 0); /* size 0: EINVAL if allowed */
	if (!strcmp(n, "fork")) return try_clone(0);
	if (!strcmp(n, "bpf")) return syscall(SYS_bpf, -1, NOPTR, 0);
	if (!strcmp(n, "perf_event_open")) return syscall(SYS_perf_event_open, NOPTR, 0, -1, -1, 0);
	if (!strcmp(n, "userfaultfd")) return syscall(SYS_userfaultfd, -1);
	if (!strcmp(n, "io_uring_setup")) return syscall(SYS_io_uring_setup, 0, NOPTR);
	if (!strcmp(n, "io_uring_enter")) return syscall(SYS_io_uring_enter, -1, 0, 0, 0, NOPTR, 0);
	if (!strcmp(n, "io_uring_register")) return syscall(SYS_io_uring_register, -1, 0, NOPTR, 0);
	if (!strcmp(n, "keyctl")) return syscall(SYS_keyctl, -1, 0, 0, 0, 0);
	if (!strcmp(n, "add_key")) return syscall(SYS_add_key, NOPTR, NOPTR, NOPTR, 0, 0);
	if (!strcmp(n, "request_key")) return syscall(SYS_request_key, NOPTR, NOPTR, NOPTR, 0);
	if (!strcmp(n, "kexec_load")) return syscall(SYS_kexec_load, 0, 0, NOPTR, 0xffffffffUL);
	if (!strcmp(n, "kexec_file_load")) return syscall(SYS_kexec_file_load, -1, -1, 0, NOPTR, 0xffffffffUL);
	if (!strcmp(n, "init_module")) return syscall(SYS_init_module, NOPTR, 0, "");
	if (!strcmp(n, "finit_module")) return syscall(SYS_finit_module, -1, "", 0);
	if (!strcmp(n, "delete_module")) return syscall(SYS_delete_module, "jailrun_no_such_module", 04000 /* O_NONBLOCK */);
	if (!strcmp(n, "reboot")) return syscall(SYS_reboot, 0, 0, 0, NOPTR); /* wrong magic: EINVAL */
	if (!strcmp(n, "swapon")) return syscall(SYS_swapon, "/nonexistent/jailrun", 0);
	if (!strcmp(n, "swapoff")) return syscall(SYS_swapoff, "/nonexistent/jailrun");
	if (!strcmp(n, "settimeofday")) {
		struct { long s, us; } tv = {0, 2000000}; /* tv_usec out of range: EINVAL */
		return syscall(SYS_settimeofday, &tv, NOPTR);
	}
	if (!strcmp(n, "clock_settime")) return syscall(SYS_clock_settime, -1, NOPTR);
	if (!strcmp(n, "adjtimex")) return syscall(SYS_adjtimex, NOPTR);
	if (!strcmp(n, "open_by_handle_at")) return syscall(SYS_open_by_handle_at, -1, NOPTR, 0);
	if (!strcmp(n, "name_to_handle_at")) return syscall(SYS_name_to_handle_at, -1, NOPTR, NOPTR, NOPTR, 0);
	if (!strcmp(n, "ioctl_tiocsti")) return syscall(SYS_ioctl, -1, TIOCSTI, NOPTR);
	if (!strcmp(n, "ioctl_tiocsti_high")) return syscall(SYS_ioctl, -1, 0x100000000UL | TIOCSTI, NOPTR);
	if (!strcmp(n, "ioctl_tcgets")) return syscall(SYS_ioctl, -1, TCGETS, NOPTR);
	if (!strcmp(n, "personality_query")) return syscall(SYS_personality, 0xffffffffUL);
	if (!strcmp(n, "personality_linux")) return syscall(SYS_personality, PER_LINUX);
	if (!strcmp(n, "personality_linux32")) return syscall(SYS_personality, PER_LINUX32);
	if (!strcmp(n, "acct")) return syscall(SYS_acct, "/nonexistent/jailrun");
	if (!strcmp(n, "quotactl")) return syscall(SYS_quotactl, 0, NOPTR, 0, NOPTR);
	if (!strcmp(n, "lookup_dcookie")) return syscall(SYS_lookup_dcookie, 0, NOPTR, 0);
	if (!strcmp(n, "socket_unix")) { long r = syscall(SYS_socket, AF_UNIX, SOCK_STREAM, 0); if (r >= 0) { close((int)r); r = 0; } return r; }
	if (!strcmp(n, "socket_inet")) { long r = syscall(SYS_socket, AF_INET, SOCK_STREAM, 0); if (r >= 0) { close((int)r); r = 0; } return r; }
	if (!strcmp(n, "socket_inet6")) { long r = syscall(SYS_socket, AF_INET6, SOCK_STREAM, 0); if (r >= 0) { close((int)r); r = 0; } return r; }
	if (!strcmp(n, "socket_netlink")) { long r = syscall(SYS_socket, AF_NETLINK, SOCK_RAW, 0); if (r >= 0) { close((int)r); r = 0; } return r; }
	if (!strcmp(n, "setuid")) return syscall(SYS_setuid, getuid());
	if (!strcmp(n, "mseal")) return syscall(SYS_mseal, 0, 0, 0);
	if (!strcmp(n, "listmount")) return syscall(SYS_listmount, NOPTR, NOPTR, 0, 0);
	if (!strcmp(n, "modify_ldt")) return syscall(SYS_modify_ldt, 0, NOPTR, 0);
	if (!strcmp(n, "iopl")) return syscall(SYS_iopl, 0);
	errno = 0;
	return -2;
}

static const char *names[] = {
	"getpid", "read", "write", "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2",
	"pivot_root", "chroot", "unshare", "unshare_user", "setns", "clone", "clone_newuser", "clone_newns",
	"clone_newnet", "clone3", "fork", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
	"io_uring_enter", "io_uring_register", "keyctl", "add_key", "request_key", "kexec_load",
	"kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff",
	"settimeofday", "clock_settime", "adjtimex", "open_by_handle_at", "name_to_handle_at", "ioctl_tiocsti",
	"ioctl_tiocsti_high", "ioctl_tcgets", "personality_query", "personality_linux", "personality_linux32",
	"acct", "quotactl", "lookup_dcookie", "socket_unix", "socket_inet", "socket_inet6", "socket_netlink",
	"setuid", "mseal", "listmount", "modify_ldt", "iopl", NULL,
};

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: %s NAME [TIMES] | nr N [ARGS...] | int80 | x32 | list\n", argv[0]);
		return 2;
	}
	const char *n = argv[1];
	long r;
	if (!strcmp(n, "list")) {
		for (int i = 0; names[i]; i++)
			puts(names[i]);
		return 0;
	}
	if (!strcmp(n, "nr")) {
		if (argc < 3) return 2;
		long a[6] = {0};
		for (int i = 3; i < argc && i < 9; i++)
			a[i - 3] = strtol(argv[i], NULL, 0);
		errno = 0;
		r = syscall(strtol(argv[2], NULL, 0), a[0], a[1], a[2], a[3], a[4], a[5]);
		report(argv[2], r, errno);
		return 0;
	}
	if (!strcmp(n, "int80")) {
#if defined(__x86_64__)
		long ret;
		__asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) /* i386 getpid */ : "memory");
		report("int80", ret < 0 && ret > -4096 ? -1 : ret, ret < 0 && ret > -4096 ? (int)-ret : 0);
#else
		report("int80", -1, ENOSYS);
#endif
		return 0;
	}
	if (!strcmp(n, "x32")) {
		errno = 0;
		r = syscall(0x40000000L | 39);
		report("x32", r, errno);
		return 0;
	}
	/* NAME TIMES: the same call TIMES times (counting and cost tests); the last one is reported. */
	long times = argc >= 3 ? strtol(argv[2], NULL, 0) : 1;
	int e;
	do {
		errno = 0;
		r = call(n);
		e = errno;
	} while (--times > 0);
	if (r == -2 && e == 0) {
		fprintf(stderr, "syscall_probe: unknown name %s (try: list)\n", n);
		return 2;
	}
	report(n, r, e);
	return 0;
}
