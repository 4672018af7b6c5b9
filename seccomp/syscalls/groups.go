package syscalls

import (
	"sort"
	"sync"
)

// groups maps a group name ("@basic-io") to its members, in the spirit of systemd's SystemCallFilter= sets.
// A member may itself be a group. Members that do not exist on an architecture are skipped there.
//
// Two rules keep the groups safe to allow wholesale:
//   - a "benign" group (the ones a program needs) never contains a syscall that crosses the sandbox
//     boundary on its own: unshare/setns, ptrace and process_vm_*, mount, keyring, bpf, io_uring, module
//     and clock syscalls live only in the "dangerous" groups below;
//   - the exceptions are clone and clone3 in @process, which can create namespaces through their flags.
//     A policy that must forbid that puts an argument rule for clone and an ENOSYS rule for clone3 before
//     the rule that allows @process (first match decides; see docs/seccomp.md and policies/strict.json).
//
// docs/seccomp.md lists every group with its purpose; TestGroupsDocumented keeps the two in sync.
//
// groups, purposes and constants are built on first use, not by package init: every jailrun process
// links this package, and most never read them (a run with a cached filter, a client, `policy list`).
var groups = sync.OnceValue(func() map[string][]string {
	return map[string][]string{
		// ---- what programs need ------------------------------------------------------------------------

		// @default: what every dynamically linked program needs to start, run single-threaded code and exit:
		// the loader's opens and maps, TLS and robust-list setup, clocks, ids, rlimits, randomness, futexes.
		"@default": {
			"access", "arch_prctl", "brk", "clock_getres", "clock_gettime", "clock_nanosleep", "close",
			"execve", "exit", "exit_group", "faccessat", "faccessat2", "fstat", "futex", "futex_waitv",
			"futex_wait", "futex_wake", "futex_requeue", "get_robust_list", "get_thread_area", "getegid", "geteuid", "getgid",
			"getgroups", "getpgid", "getpgrp", "getpid", "getppid", "getrandom", "getresgid", "getresuid",
			"getrlimit", "getsid", "gettid", "gettimeofday", "getuid", "lseek", "membarrier", "mmap", "mprotect",
			"munmap", "nanosleep", "newfstatat", "open", "openat", "pause", "pread64", "prlimit64", "read",
			"readlink", "readlinkat", "restart_syscall", "rseq", "rt_sigreturn", "sched_getaffinity",
			"sched_yield", "set_robust_list", "set_thread_area", "set_tid_address", "stat", "statx", "time",
			"uname", "uretprobe", "write",
		},
		// @basic-io: reading, writing, seeking and closing file descriptors that are already open.
		"@basic-io": {
			"close", "close_range", "dup", "dup2", "dup3", "lseek", "pread64", "preadv", "preadv2", "pwrite64",
			"pwritev", "pwritev2", "read", "readv", "write", "writev",
		},
		// @file-system: opening, creating, inspecting and changing files and directories by path or fd.
		"@file-system": {
			"access", "chdir", "chmod", "close", "creat", "faccessat", "faccessat2", "fadvise64", "fallocate",
			"fchdir", "fchmod", "fchmodat", "fchmodat2", "fcntl", "fgetxattr", "file_getattr", "file_setattr",
			"flistxattr", "flock", "fremovexattr", "fsetxattr", "fstat", "fstatfs", "ftruncate", "futimesat",
			"getcwd", "getdents", "getdents64", "getxattr", "getxattrat", "inotify_add_watch", "inotify_init",
			"inotify_init1", "inotify_rm_watch", "lgetxattr", "link", "linkat", "listxattr", "listxattrat",
			"llistxattr", "lremovexattr", "lsetxattr", "lstat", "mkdir", "mkdirat", "mknod", "mknodat", "newfstatat",
			"open", "openat", "openat2", "readahead", "readlink", "readlinkat", "removexattr", "removexattrat",
			"rename", "renameat", "renameat2", "rmdir", "setxattr", "setxattrat", "stat", "statfs", "statx",
			"symlink", "symlinkat", "truncate", "umask", "unlink", "unlinkat", "utime", "utimensat", "utimes",
		},
		// @io-event: waiting for file descriptors (poll, select, epoll, eventfd).
		"@io-event": {
			"epoll_create", "epoll_create1", "epoll_ctl", "epoll_ctl_old", "epoll_pwait", "epoll_pwait2",
			"epoll_wait", "epoll_wait_old", "eventfd", "eventfd2", "poll", "ppoll", "pselect6", "select",
		},
		// @ipc: pipes, SysV and POSIX IPC, memfd: talking to other processes of the same sandbox. Cross-process
		// memory access (process_vm_*, process_madvise) is not here but in @debug.
		"@ipc": {
			"memfd_create", "mq_getsetattr", "mq_notify", "mq_open", "mq_timedreceive", "mq_timedsend",
			"mq_unlink", "msgctl", "msgget", "msgrcv", "msgsnd", "pipe", "pipe2", "semctl", "semget", "semop",
			"semtimedop", "shmat", "shmctl", "shmdt", "shmget",
		},
		// @memory: managing the process's own address space.
		"@memory": {
			"brk", "get_mempolicy", "madvise", "map_shadow_stack", "mbind", "membarrier", "mincore", "mmap",
			"mprotect", "mremap", "mseal", "msync", "munmap", "pkey_alloc", "pkey_free", "pkey_mprotect",
			"remap_file_pages", "set_mempolicy", "set_mempolicy_home_node", "cachestat",
		},
		// @memlock: pinning memory (bounded by RLIMIT_MEMLOCK).
		"@memlock": {"mlock", "mlock2", "mlockall", "munlock", "munlockall"},
		// @network-io: sockets. The socket family is an argument: restrict it with a rule on socket's arg 0.
		"@network-io": {
			"accept", "accept4", "bind", "connect", "getpeername", "getsockname", "getsockopt", "listen",
			"recvfrom", "recvmmsg", "recvmsg", "sendmmsg", "sendmsg", "sendto", "setsockopt", "shutdown",
			"socket", "socketpair",
		},
		// @process: creating, waiting for and signalling processes and threads of the sandbox. clone/clone3
		// can create namespaces: see the note at the top of this map.
		"@process": {
			"capget", "clone", "clone3", "execve", "execveat", "exit", "exit_group", "fork", "getrusage", "kcmp", "kill",
			"pidfd_open", "pidfd_send_signal", "prctl", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "setpgid",
			"setsid", "tgkill", "times", "tkill", "vfork", "wait4", "waitid",
		},
		// @signal: signal handlers, masks and waiting for signals (sending them is in @process).
		"@signal": {
			"rt_sigaction", "rt_sigpending", "rt_sigprocmask", "rt_sigreturn", "rt_sigsuspend",
			"rt_sigtimedwait", "sigaltstack", "signalfd", "signalfd4",
		},
		// @sync: flushing file data to storage.
		"@sync": {"fdatasync", "fsync", "msync", "sync", "sync_file_range", "syncfs"},
		// @timer: alarms, interval timers, POSIX timers and timerfd.
		"@timer": {
			"alarm", "getitimer", "setitimer", "timer_create", "timer_delete", "timer_getoverrun",
			"timer_gettime", "timer_settime", "timerfd_create", "timerfd_gettime", "timerfd_settime", "times",
		},
		// @aio: POSIX/Linux native asynchronous I/O (io_uring is separate: @io-uring).
		"@aio": {"io_cancel", "io_destroy", "io_getevents", "io_pgetevents", "io_setup", "io_submit"},
		// @sched: reading scheduling parameters and the CPU the thread runs on.
		"@sched": {
			"getcpu", "getpriority", "sched_get_priority_max", "sched_get_priority_min", "sched_getaffinity",
			"sched_getattr", "sched_getparam", "sched_getscheduler", "sched_rr_get_interval", "sched_yield",
		},
		// @file-transfer: in-kernel copies between file descriptors.
		"@file-transfer": {"copy_file_range", "sendfile", "splice", "tee", "vmsplice"},
		// @system-info: reading facts about the system (not changing them).
		"@system-info": {"sysinfo", "uname", "getcpu", "lsm_get_self_attr", "lsm_list_modules"},
		// @sandbox: a program tightening its own restrictions (seccomp, landlock); never loosens them.
		"@sandbox": {"landlock_add_rule", "landlock_create_ruleset", "landlock_restrict_self", "seccomp"},
		// @system-service: the union of the groups above plus ioctl: what ordinary programs (compilers,
		// interpreters, runtimes) use. It does not restrict arguments: a policy that needs "no TIOCSTI" or
		// "AF_UNIX only" puts those argument rules before it.
		"@system-service": {
			"@default", "@basic-io", "@file-system", "@io-event", "@ipc", "@memory", "@network-io", "@process",
			"@signal", "@sync", "@timer", "@aio", "@sched", "@file-transfer", "@system-info", "ioctl",
			"personality",
		},

		// ---- what crosses the sandbox boundary or attacks the kernel -----------------------------------

		// @mount: mounting, the new mount API, changing the root.
		"@mount": {
			"chroot", "fsconfig", "fsmount", "fsopen", "fspick", "mount", "mount_setattr", "move_mount",
			"open_tree", "open_tree_attr", "pivot_root", "umount2",
		},
		// @namespaces: entering or creating namespaces without clone (clone's flags need an argument rule).
		"@namespaces": {"setns", "unshare"},
		// @debug: inspecting or changing other processes: ptrace, cross-process memory, perf, stealing fds.
		"@debug": {
			"lookup_dcookie", "perf_event_open", "pidfd_getfd", "process_madvise", "process_mrelease",
			"process_vm_readv", "process_vm_writev", "ptrace",
		},
		// @module: loading and unloading kernel modules.
		"@module": {"delete_module", "finit_module", "init_module"},
		// @raw-io: direct hardware port and PCI access.
		"@raw-io": {"ioperm", "iopl"},
		// @reboot: rebooting or replacing the running kernel.
		"@reboot": {"kexec_file_load", "kexec_load", "reboot"},
		// @swap: enabling and disabling swap.
		"@swap": {"swapoff", "swapon"},
		// @clock: setting the system clock.
		"@clock": {"adjtimex", "clock_adjtime", "clock_settime", "settimeofday"},
		// @keyring: the kernel keyring.
		"@keyring": {"add_key", "keyctl", "request_key"},
		// @io-uring: io_uring, a large kernel attack surface that bypasses seccomp for the operations it runs.
		"@io-uring": {"io_uring_enter", "io_uring_register", "io_uring_setup"},
		// @bpf: loading eBPF programs and userfaultfd, both frequent kernel-exploit primitives.
		"@bpf": {"bpf", "userfaultfd"},
		// @file-handle: opening files by handle (the "shocker" container escape) and making handles.
		"@file-handle": {"name_to_handle_at", "open_by_handle_at"},
		// @cpu-emulation: legacy CPU modes (LDT changes).
		"@cpu-emulation": {"modify_ldt"},
		// @resources: changing resource limits, priorities and placement.
		"@resources": {
			"ioprio_set", "migrate_pages", "move_pages", "sched_setaffinity", "sched_setattr", "sched_setparam",
			"sched_setscheduler", "setpriority", "setrlimit",
		},
		// @setuid: changing user and group ids.
		"@setuid": {
			"setfsgid", "setfsuid", "setgid", "setgroups", "setregid", "setresgid", "setresuid", "setreuid",
			"setuid",
		},
		// @chown: changing file ownership.
		"@chown": {"chown", "fchown", "fchownat", "lchown"},
		// @obsolete: syscalls no current libc uses; most only return ENOSYS.
		"@obsolete": {
			"_sysctl", "afs_syscall", "create_module", "get_kernel_syms", "getpmsg", "nfsservctl", "putpmsg",
			"query_module", "security", "sysfs", "tuxcall", "uselib", "ustat", "vserver",
		},
		// @privileged: everything that needs a capability in the initial namespace to succeed, plus the
		// dangerous groups above that are about the whole system.
		"@privileged": {
			"@chown", "@clock", "@module", "@raw-io", "@reboot", "@swap", "@setuid", "@mount", "acct", "bpf",
			"capset", "fanotify_init", "fanotify_mark", "open_by_handle_at", "quotactl", "quotactl_fd",
			"setdomainname", "sethostname", "syslog", "vhangup",
		},
		// @dangerous: the union of the groups that cross the sandbox boundary or are common kernel-exploit
		// primitives. jailrun's shipped policies kill the process on any of these and report it.
		"@dangerous": {
			"@mount", "@namespaces", "@debug", "@module", "@raw-io", "@reboot", "@swap", "@clock", "@keyring",
			"@bpf", "@file-handle", "acct", "quotactl", "quotactl_fd",
		},
	}
})

// purposes says what each group is for (docs/seccomp.md is generated from it and from groups).
var purposes = sync.OnceValue(func() map[string]string {
	return map[string]string{
		"@default":        "what every dynamically linked program needs to start, run single-threaded code and exit: the loader's opens and maps, TLS and robust-list setup, clocks, ids, rlimits, randomness, futexes.",
		"@basic-io":       "reading, writing, seeking and closing file descriptors that are already open.",
		"@file-system":    "opening, creating, inspecting and changing files and directories by path or fd.",
		"@io-event":       "waiting for file descriptors (poll, select, epoll, eventfd).",
		"@ipc":            "pipes, SysV and POSIX IPC, memfd: talking to other processes of the same sandbox. Cross-process memory access (process_vm_*, process_madvise) is not here but in @debug.",
		"@memory":         "managing the process's own address space.",
		"@memlock":        "pinning memory (bounded by RLIMIT_MEMLOCK).",
		"@network-io":     "sockets. The socket family is an argument: restrict it with a rule on socket's arg 0.",
		"@process":        "creating, waiting for and signalling processes and threads of the sandbox. clone/clone3 can create namespaces: see the note at the top of this map.",
		"@signal":         "signal handlers, masks and waiting for signals (sending them is in @process).",
		"@sync":           "flushing file data to storage.",
		"@timer":          "alarms, interval timers, POSIX timers and timerfd.",
		"@aio":            "POSIX/Linux native asynchronous I/O (io_uring is separate: @io-uring).",
		"@sched":          "reading scheduling parameters and the CPU the thread runs on.",
		"@file-transfer":  "in-kernel copies between file descriptors.",
		"@system-info":    "reading facts about the system (not changing them).",
		"@sandbox":        "a program tightening its own restrictions (seccomp, landlock); never loosens them.",
		"@system-service": "the union of the groups above plus ioctl: what ordinary programs (compilers, interpreters, runtimes) use. It does not restrict arguments: a policy that needs \"no TIOCSTI\" or \"AF_UNIX only\" puts those argument rules before it.",
		"@mount":          "mounting, the new mount API, changing the root.",
		"@namespaces":     "entering or creating namespaces without clone (clone's flags need an argument rule).",
		"@debug":          "inspecting or changing other processes: ptrace, cross-process memory, perf, stealing fds.",
		"@module":         "loading and unloading kernel modules.",
		"@raw-io":         "direct hardware port and PCI access.",
		"@reboot":         "rebooting or replacing the running kernel.",
		"@swap":           "enabling and disabling swap.",
		"@clock":          "setting the system clock.",
		"@keyring":        "the kernel keyring.",
		"@io-uring":       "io_uring, a large kernel attack surface that bypasses seccomp for the operations it runs.",
		"@bpf":            "loading eBPF programs and userfaultfd, both frequent kernel-exploit primitives.",
		"@file-handle":    "opening files by handle (the \"shocker\" container escape) and making handles.",
		"@cpu-emulation":  "legacy CPU modes (LDT changes).",
		"@resources":      "changing resource limits, priorities and placement.",
		"@setuid":         "changing user and group ids.",
		"@chown":          "changing file ownership.",
		"@obsolete":       "syscalls no current libc uses; most only return ENOSYS.",
		"@privileged":     "everything that needs a capability in the initial namespace to succeed, plus the dangerous groups above that are about the whole system.",
		"@dangerous":      "the union of the groups that cross the sandbox boundary or are common kernel-exploit primitives. jailrun's shipped policies kill the process on any of these and report it.",
	}
})

// Purpose says what a group is for.
func Purpose(name string) string { return purposes()[name] }

// expanded caches Group's answers: the groups never change, and loading a policy expands the groups its rules
// name in compile and again in the seccomp plan (expanding them anew was a sixth of loading a policy).
var expanded sync.Map // group name -> []string

// Group expands a group name into syscall names (recursively, de-duplicated, sorted). The slice is the
// caller's own.
func Group(name string) ([]string, bool) {
	if v, ok := expanded.Load(name); ok {
		return append([]string(nil), v.([]string)...), true
	}
	if _, ok := groups()[name]; !ok {
		return nil, false
	}
	seen := map[string]bool{}
	var walk func(string)
	walk = func(g string) {
		for _, m := range groups()[g] {
			if _, isGroup := groups()[m]; isGroup {
				walk(m)
			} else {
				seen[m] = true
			}
		}
	}
	walk(name)
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	expanded.Store(name, out)
	return append([]string(nil), out...), true
}

// IsGroup reports whether name is a known group, without expanding it.
func IsGroup(name string) bool {
	_, ok := groups()[name]
	return ok
}

// GroupNames lists the known groups, sorted.
func GroupNames() []string {
	out := make([]string, 0, len(groups()))
	for g := range groups() {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// Members returns a group's direct members as written (sub-groups unexpanded), for documentation.
func Members(name string) ([]string, bool) {
	m, ok := groups()[name]
	return append([]string(nil), m...), ok
}

// Linux clone(2) namespace flags. CLONE_NEWTIME (0x80) is accepted only by clone3 and unshare: in clone's
// flags that bit is part of the exit signal.
const (
	CloneNewNS     = 0x00020000
	CloneNewCgroup = 0x02000000
	CloneNewUTS    = 0x04000000
	CloneNewIPC    = 0x08000000
	CloneNewUser   = 0x10000000
	CloneNewPID    = 0x20000000
	CloneNewNet    = 0x40000000
	CloneNewTime   = 0x00000080
	// CloneNSFlags is every namespace flag clone(2) honours: (flags & CloneNSFlags) == 0 means "no new
	// namespace".
	CloneNSFlags = CloneNewNS | CloneNewCgroup | CloneNewUTS | CloneNewIPC | CloneNewUser | CloneNewPID | CloneNewNet
)

// constants are named values a policy may use in argument conditions and errno actions. Values are the
// x86_64/arm64 Linux ABI values (identical on both for every name here).
var constants = sync.OnceValue(func() map[string]uint64 {
	return map[string]uint64{
		// Socket address families (socket arg 0).
		"AF_UNSPEC": 0, "AF_UNIX": 1, "AF_LOCAL": 1, "AF_INET": 2, "AF_AX25": 3, "AF_IPX": 4,
		"AF_APPLETALK": 5, "AF_X25": 9, "AF_INET6": 10, "AF_KEY": 15, "AF_NETLINK": 16, "AF_PACKET": 17,
		"AF_RDS": 21, "AF_IRDA": 23, "AF_LLC": 26, "AF_CAN": 29, "AF_TIPC": 30, "AF_BLUETOOTH": 31,
		"AF_ALG": 38, "AF_NFC": 39, "AF_VSOCK": 40, "AF_KCM": 41, "AF_QIPCRTR": 42, "AF_SMC": 43, "AF_XDP": 44,
		"AF_MCTP": 45,
		// Socket types (socket arg 1; the low 4 bits, SOCK_NONBLOCK/SOCK_CLOEXEC are ORed in).
		"SOCK_STREAM": 1, "SOCK_DGRAM": 2, "SOCK_RAW": 3, "SOCK_RDM": 4, "SOCK_SEQPACKET": 5,
		"SOCK_NONBLOCK": 0x800, "SOCK_CLOEXEC": 0x80000,
		// Terminal ioctls that inject input into or control the controlling terminal (ioctl arg 1).
		"TIOCSTI": 0x5412, "TIOCLINUX": 0x541c, "TIOCSCTTY": 0x540e, "TIOCCONS": 0x541d, "TIOCSETD": 0x5423,
		"TCGETS": 0x5401, "TIOCGWINSZ": 0x5413, "FIONREAD": 0x541b, "FIONBIO": 0x5421, "FIOCLEX": 0x5451,
		// clone flags (clone arg 0; CLONE_NEWTIME only via clone3/unshare).
		"CLONE_NEWNS": CloneNewNS, "CLONE_NEWCGROUP": CloneNewCgroup, "CLONE_NEWUTS": CloneNewUTS,
		"CLONE_NEWIPC": CloneNewIPC, "CLONE_NEWUSER": CloneNewUser, "CLONE_NEWPID": CloneNewPID,
		"CLONE_NEWNET": CloneNewNet, "CLONE_NEWTIME": CloneNewTime, "CLONE_NS_FLAGS": CloneNSFlags,
		"CLONE_VM": 0x100, "CLONE_FS": 0x200, "CLONE_FILES": 0x400, "CLONE_SIGHAND": 0x800,
		"CLONE_PIDFD": 0x1000, "CLONE_PTRACE": 0x2000, "CLONE_VFORK": 0x4000, "CLONE_PARENT": 0x8000,
		"CLONE_THREAD": 0x10000, "CLONE_SYSVSEM": 0x40000, "CLONE_SETTLS": 0x80000,
		"CLONE_PARENT_SETTID": 0x100000, "CLONE_CHILD_CLEARTID": 0x200000, "CLONE_UNTRACED": 0x800000,
		"CLONE_CHILD_SETTID": 0x1000000, "CLONE_IO": 0x80000000,
		// personality(2) values (arg 0): PER_LINUX is the normal persona, PER_QUERY reads it without change.
		"PER_LINUX": 0, "PER_LINUX32": 8, "PER_QUERY": 0xffffffff, "ADDR_NO_RANDOMIZE": 0x0040000,
		"READ_IMPLIES_EXEC": 0x0400000,
		// mmap/mprotect protection bits (arg 2) and flags.
		"PROT_NONE": 0, "PROT_READ": 1, "PROT_WRITE": 2, "PROT_EXEC": 4,
		"MAP_SHARED": 1, "MAP_PRIVATE": 2, "MAP_FIXED": 0x10, "MAP_ANONYMOUS": 0x20,
		// open flags.
		"O_RDONLY": 0, "O_WRONLY": 1, "O_RDWR": 2, "O_ACCMODE": 3, "O_CREAT": 0x40, "O_EXCL": 0x80,
		"O_TRUNC": 0x200, "O_APPEND": 0x400, "O_NONBLOCK": 0x800, "O_DIRECTORY": 0x10000,
		"O_NOFOLLOW": 0x20000, "O_CLOEXEC": 0x80000, "O_PATH": 0x200000, "O_TMPFILE": 0x410000,
		// prctl options (arg 0) that a policy may want to single out.
		"PR_SET_PDEATHSIG": 1, "PR_SET_DUMPABLE": 4, "PR_SET_NAME": 15, "PR_GET_NAME": 16,
		"PR_SET_SECCOMP": 22, "PR_CAPBSET_DROP": 24, "PR_SET_SECUREBITS": 28, "PR_SET_NO_NEW_PRIVS": 38,
		"PR_SET_PTRACER": 0x59616d61, "PR_SET_MM": 35, "PR_CAP_AMBIENT": 47, "PR_SET_VMA": 0x53564d41,
		// Masks for 32-bit arguments: the kernel truncates an int argument to 32 bits, so a deny rule on one
		// must compare (arg & LOW32) or a caller sets the upper bits to slip past an equality test.
		"LOW32": 0xffffffff,
		// errno values (the "errno" action).
		"EPERM": 1, "ENOENT": 2, "ESRCH": 3, "EINTR": 4, "EIO": 5, "ENXIO": 6, "E2BIG": 7, "ENOEXEC": 8,
		"EBADF": 9, "ECHILD": 10, "EAGAIN": 11, "ENOMEM": 12, "EACCES": 13, "EFAULT": 14, "EBUSY": 16,
		"EEXIST": 17, "EXDEV": 18, "ENODEV": 19, "ENOTDIR": 20, "EISDIR": 21, "EINVAL": 22, "ENFILE": 23,
		"EMFILE": 24, "ENOTTY": 25, "EFBIG": 27, "ENOSPC": 28, "ESPIPE": 29, "EROFS": 30, "EMLINK": 31,
		"EPIPE": 32, "ERANGE": 34, "ENOSYS": 38, "ENOTSUP": 95, "EOPNOTSUPP": 95, "EPROTONOSUPPORT": 93,
		"EAFNOSUPPORT": 97, "EADDRNOTAVAIL": 99, "ENETUNREACH": 101, "ECONNREFUSED": 111,
	}
})

// Constant returns the value of a named constant (AF_UNIX, TIOCSTI, CLONE_NEWUSER, EPERM, ...).
func Constant(name string) (uint64, bool) {
	v, ok := constants()[name]
	return v, ok
}

// ConstantNames lists the named constants, sorted.
func ConstantNames() []string {
	out := make([]string, 0, len(constants()))
	for c := range constants() {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}
