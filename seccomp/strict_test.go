package seccomp

import (
	"testing"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// strictBlockList is the strict policy's promise, entry by entry (docs/seccomp.md cites this table).
var strictBlockList = []struct {
	syscall string
	args    []uint64
	want    policy.Action
}{
	{"ptrace", nil, kill},
	{"process_vm_readv", nil, kill},
	{"process_vm_writev", nil, kill},
	{"pidfd_getfd", nil, kill},
	{"mount", nil, kill},
	{"umount2", nil, kill},
	{"pivot_root", nil, kill},
	{"chroot", nil, kill},
	{"fsopen", nil, kill},
	{"open_tree", nil, kill},
	{"move_mount", nil, kill},
	{"unshare", nil, kill},
	{"setns", nil, kill},
	{"clone", []uint64{syscalls.CloneNewUser}, kill},
	{"clone", []uint64{syscalls.CloneNewNS | 17}, kill},
	{"clone", []uint64{syscalls.CloneNewNet}, kill},
	{"clone", []uint64{syscalls.CloneNewPID}, kill},
	{"clone", []uint64{syscalls.CloneNewIPC}, kill},
	{"clone", []uint64{syscalls.CloneNewUTS}, kill},
	{"clone", []uint64{syscalls.CloneNewCgroup}, kill},
	{"clone3", nil, enosys},
	{"bpf", nil, kill},
	{"perf_event_open", nil, kill},
	{"userfaultfd", nil, kill},
	{"io_uring_setup", nil, kill},
	{"io_uring_enter", nil, kill},
	{"io_uring_register", nil, kill},
	{"keyctl", nil, kill},
	{"add_key", nil, kill},
	{"request_key", nil, kill},
	{"kexec_load", nil, kill},
	{"kexec_file_load", nil, kill},
	{"init_module", nil, kill},
	{"finit_module", nil, kill},
	{"delete_module", nil, kill},
	{"reboot", nil, kill},
	{"swapon", nil, kill},
	{"swapoff", nil, kill},
	{"settimeofday", nil, kill},
	{"clock_settime", nil, kill},
	{"clock_adjtime", nil, kill},
	{"adjtimex", nil, kill},
	{"open_by_handle_at", nil, kill},
	{"name_to_handle_at", nil, kill},
	{"ioctl", []uint64{1, 0x5412}, kill},         // TIOCSTI
	{"ioctl", []uint64{1, 0x5412 | 1<<32}, kill}, // TIOCSTI with junk in the upper half the kernel ignores
	{"ioctl", []uint64{1, 0x541c}, kill},         // TIOCLINUX
	{"personality", []uint64{8}, kill},           // PER_LINUX32
	{"personality", []uint64{0x0400000}, kill},   // READ_IMPLIES_EXEC
	{"personality", []uint64{0x0040000}, kill},   // ADDR_NO_RANDOMIZE
	{"acct", nil, kill},
	{"quotactl", nil, kill},
	{"lookup_dcookie", nil, kill},
	{"modify_ldt", nil, kill},
	{"iopl", nil, kill},
	{"socket", []uint64{2}, eafnosupport},         // AF_INET
	{"socket", []uint64{10}, eafnosupport},        // AF_INET6
	{"socket", []uint64{16}, eafnosupport},        // AF_NETLINK
	{"socket", []uint64{17}, eafnosupport},        // AF_PACKET
	{"socket", []uint64{40}, eafnosupport},        // AF_VSOCK
	{"socket", []uint64{38}, eafnosupport},        // AF_ALG
	{"socket", []uint64{2 | 1<<32}, eafnosupport}, // AF_INET with junk in the upper half
	// Not named in the policy: the default action.
	{"setuid", nil, eperm},
	{"chown", nil, eperm},
	{"sethostname", nil, eperm},
	{"listmount", nil, eperm}, // newer than Debian's libseccomp: numbers still work
	{"io_setup", nil, eperm},
	{"vhangup", nil, eperm},
}

func TestStrictBlockList(t *testing.T) {
	p := mustBuild(t, shippedPolicy(t, "strict"))
	for _, tt := range strictBlockList {
		if got := eval(t, p, tt.syscall, tt.args...); got != tt.want {
			t.Errorf("strict: %s%v = %s, want %s", tt.syscall, tt.args, FormatAction(got), FormatAction(tt.want))
		}
	}
}

func TestStrictAllows(t *testing.T) {
	p := mustBuild(t, shippedPolicy(t, "strict"))
	for _, tt := range []struct {
		syscall string
		args    []uint64
	}{
		{"read", nil}, {"write", nil}, {"openat", nil}, {"close", nil}, {"execve", nil}, {"exit_group", nil},
		{"mmap", nil}, {"mprotect", nil}, {"brk", nil}, {"arch_prctl", nil}, {"set_tid_address", nil},
		{"set_robust_list", nil}, {"rseq", nil}, {"prlimit64", nil}, {"getrandom", nil}, {"futex", nil},
		{"newfstatat", nil}, {"statx", nil}, {"getdents64", nil}, {"pipe2", nil}, {"wait4", nil},
		{"rt_sigaction", nil}, {"sigaltstack", nil}, {"epoll_wait", nil}, {"sched_getaffinity", nil},
		{"sysinfo", nil}, {"uname", nil}, {"madvise", nil}, {"mseal", nil}, {"setrlimit", nil},
		{"clone", []uint64{0x3d0f00}},  // pthread_create's flags
		{"clone", []uint64{0x1200011}}, // fork(): CLONE_CHILD_SETTID|CLONE_CHILD_CLEARTID|SIGCHLD
		{"ioctl", []uint64{1, 0x5401}}, // TCGETS
		{"ioctl", []uint64{1, 0x5413}}, // TIOCGWINSZ
		{"personality", []uint64{0}},
		{"personality", []uint64{0xffffffff}},
		{"personality", []uint64{0xffffffffffffffff}}, // -1 as an unsigned long: the kernel sees PER_QUERY
		{"socket", []uint64{1, 1}},                    // AF_UNIX
		{"socket", []uint64{1 | 1<<32, 1}},            // the kernel reads domain as an int: this is AF_UNIX
		{"socketpair", []uint64{1, 1}},
		{"connect", nil}, {"kill", nil}, {"tgkill", nil}, {"getpid", nil}, {"gettid", nil},
	} {
		if got := eval(t, p, tt.syscall, tt.args...); got != allow {
			t.Errorf("strict: %s%v = %s, want allow", tt.syscall, tt.args, FormatAction(got))
		}
	}
}
