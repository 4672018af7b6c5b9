package seccomp

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// strictBlockList is the strict policy's promise, entry by entry (docs/seccomp.md cites this table).
var strictBlockList = []struct {
	syscall string
	args    []uint64
	want    policy.Action
	probe   string // tests/probes/syscall_probe name that checks it on the real kernel (TestKernelStrict)
}{
	{"ptrace", nil, kill, "ptrace"},
	{"process_vm_readv", nil, kill, "process_vm_readv"},
	{"process_vm_writev", nil, kill, "process_vm_writev"},
	{"pidfd_getfd", nil, kill, ""},
	{"mount", nil, kill, "mount"},
	{"umount2", nil, kill, "umount2"},
	{"pivot_root", nil, kill, "pivot_root"},
	{"chroot", nil, kill, "chroot"},
	{"fsopen", nil, kill, ""},
	{"open_tree", nil, kill, ""},
	{"move_mount", nil, kill, ""},
	{"unshare", nil, kill, "unshare"},
	{"setns", nil, kill, "setns"},
	{"clone", []uint64{syscalls.CloneNewUser}, kill, "clone_newuser"},
	{"clone", []uint64{syscalls.CloneNewNS | 17}, kill, "clone_newns"},
	{"clone", []uint64{syscalls.CloneNewNet}, kill, "clone_newnet"},
	{"clone", []uint64{syscalls.CloneNewPID}, kill, ""},
	{"clone", []uint64{syscalls.CloneNewIPC}, kill, ""},
	{"clone", []uint64{syscalls.CloneNewUTS}, kill, ""},
	{"clone", []uint64{syscalls.CloneNewCgroup}, kill, ""},
	{"clone3", nil, enosys, "clone3"},
	{"bpf", nil, kill, "bpf"},
	{"perf_event_open", nil, kill, "perf_event_open"},
	{"userfaultfd", nil, kill, "userfaultfd"},
	{"io_uring_setup", nil, kill, "io_uring_setup"},
	{"io_uring_enter", nil, kill, "io_uring_enter"},
	{"io_uring_register", nil, kill, "io_uring_register"},
	{"keyctl", nil, kill, "keyctl"},
	{"add_key", nil, kill, "add_key"},
	{"request_key", nil, kill, "request_key"},
	{"kexec_load", nil, kill, "kexec_load"},
	{"kexec_file_load", nil, kill, "kexec_file_load"},
	{"init_module", nil, kill, "init_module"},
	{"finit_module", nil, kill, "finit_module"},
	{"delete_module", nil, kill, "delete_module"},
	{"reboot", nil, kill, "reboot"},
	{"swapon", nil, kill, "swapon"},
	{"swapoff", nil, kill, "swapoff"},
	{"settimeofday", nil, kill, "settimeofday"},
	{"clock_settime", nil, kill, "clock_settime"},
	{"clock_adjtime", nil, kill, ""},
	{"adjtimex", nil, kill, "adjtimex"},
	{"open_by_handle_at", nil, kill, "open_by_handle_at"},
	{"name_to_handle_at", nil, kill, "name_to_handle_at"},
	{"ioctl", []uint64{1, 0x5412}, kill, "ioctl_tiocsti"},              // TIOCSTI
	{"ioctl", []uint64{1, 0x5412 | 1<<32}, kill, "ioctl_tiocsti_high"}, // TIOCSTI with junk in the upper half the kernel ignores
	{"ioctl", []uint64{1, 0x541c}, kill, ""},                           // TIOCLINUX
	{"personality", []uint64{8}, kill, "personality_linux32"},          // PER_LINUX32
	{"personality", []uint64{0x0400000}, kill, ""},                     // READ_IMPLIES_EXEC
	{"personality", []uint64{0x0040000}, kill, ""},                     // ADDR_NO_RANDOMIZE
	{"acct", nil, kill, "acct"},
	{"quotactl", nil, kill, "quotactl"},
	{"lookup_dcookie", nil, kill, "lookup_dcookie"},
	{"modify_ldt", nil, kill, "modify_ldt"},
	{"iopl", nil, kill, "iopl"},
	{"socket", []uint64{2}, eafnosupport, "socket_inet"},     // AF_INET
	{"socket", []uint64{10}, eafnosupport, "socket_inet6"},   // AF_INET6
	{"socket", []uint64{16}, eafnosupport, "socket_netlink"}, // AF_NETLINK
	{"socket", []uint64{17}, eafnosupport, ""},               // AF_PACKET
	{"socket", []uint64{40}, eafnosupport, ""},               // AF_VSOCK
	{"socket", []uint64{38}, eafnosupport, ""},               // AF_ALG
	{"socket", []uint64{2 | 1<<32}, eafnosupport, ""},        // AF_INET with junk in the upper half
	// Not named in the policy: the default action.
	{"setuid", nil, eperm, "setuid"},
	{"chown", nil, eperm, ""},
	{"sethostname", nil, eperm, ""},
	{"listmount", nil, eperm, "listmount"}, // newer than Debian's libseccomp: numbers still work
	{"io_setup", nil, eperm, ""},
	{"vhangup", nil, eperm, ""},
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

// TestStrictBlockListDocumented keeps docs/seccomp.md's block-list table equal to strictBlockList.
func TestStrictBlockListDocumented(t *testing.T) {
	const (
		path  = "../docs/seccomp.md"
		begin = "<!-- blocklist:begin (generated by TestStrictBlockListDocumented; JAILRUN_UPDATE_DOCS=1 rewrites it) -->"
		end   = "<!-- blocklist:end -->"
	)
	var b strings.Builder
	b.WriteString("| call | strict's answer | real-kernel probe |\n|---|---|---|\n")
	for _, tt := range strictBlockList {
		call := tt.syscall
		if tt.args != nil {
			parts := make([]string, len(tt.args))
			for i, a := range tt.args {
				parts[i] = fmt.Sprintf("%#x", a)
			}
			call += "(" + strings.Join(parts, ", ") + ")"
		}
		probe := "—"
		if tt.probe != "" {
			probe = "`" + tt.probe + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", call, FormatAction(tt.want), probe)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	i, j := strings.Index(doc, begin), strings.Index(doc, end)
	if i < 0 || j < i {
		t.Fatalf("%s lacks the block-list markers", path)
	}
	want := begin + "\n" + b.String() + end
	if doc[i:j+len(end)] != want {
		if os.Getenv("JAILRUN_UPDATE_DOCS") == "1" {
			if err := os.WriteFile(path, []byte(doc[:i]+want+doc[j+len(end):]), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("%s: the block-list table is out of date; run JAILRUN_UPDATE_DOCS=1 go test ./seccomp", path)
		}
	}
}

// Every probe named in strictBlockList is run by TestKernelStrict (kernelProbes lists them).
func TestBlockListProbesAreRun(t *testing.T) {
	run := map[string]bool{}
	for _, p := range kernelProbeNames() {
		run[p] = true
	}
	if len(run) == 0 {
		t.Skip("no kernel probe table in this build (needs linux and cgo)")
	}
	for _, tt := range strictBlockList {
		if tt.probe != "" && !run[tt.probe] {
			t.Errorf("probe %s (for %s) is not run by TestKernelStrict", tt.probe, tt.syscall)
		}
	}
}
