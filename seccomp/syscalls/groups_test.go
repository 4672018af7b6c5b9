package syscalls

import (
	"strings"
	"testing"
)

func TestGroupMembersAreKnown(t *testing.T) {
	for g, members := range groups() {
		if !strings.HasPrefix(g, "@") {
			t.Errorf("group %q: name must start with @", g)
		}
		for _, m := range members {
			if strings.HasPrefix(m, "@") {
				if _, ok := groups()[m]; !ok {
					t.Errorf("group %s: unknown sub-group %s", g, m)
				}
				continue
			}
			if !Known(m) {
				t.Errorf("group %s: %q is not a syscall on any known architecture", g, m)
			}
		}
	}
}

// The benign groups are meant to be allowed wholesale: none may contain a syscall of a dangerous group
// (except clone/clone3, documented in groups.go, whose namespace flags need an argument rule).
func TestBenignGroupsExcludeDangerous(t *testing.T) {
	dangerous, _ := Group("@dangerous")
	bad := map[string]bool{}
	for _, d := range dangerous {
		bad[d] = true
	}
	for _, extra := range []string{"io_uring_setup", "io_uring_enter", "io_uring_register", "setuid", "capset"} {
		bad[extra] = true
	}
	members, _ := Group("@system-service")
	for _, m := range members {
		if bad[m] {
			t.Errorf("@system-service (and so a benign group) contains dangerous syscall %s", m)
		}
	}
}

func TestGroupExpansion(t *testing.T) {
	tests := []struct {
		group    string
		contains []string
		excludes []string
	}{
		{"@default", []string{"execve", "brk", "mmap", "arch_prctl", "set_tid_address", "set_robust_list", "rseq", "prlimit64", "getrandom", "futex", "exit_group"}, []string{"ptrace"}},
		{"@system-service", []string{"read", "clone", "socket", "ioctl", "epoll_wait"}, []string{"mount", "unshare", "ptrace", "bpf"}},
		{"@dangerous", []string{"mount", "umount2", "pivot_root", "chroot", "unshare", "setns", "ptrace", "process_vm_readv", "process_vm_writev", "bpf", "perf_event_open", "userfaultfd", "keyctl", "add_key", "request_key", "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "reboot", "swapon", "swapoff", "settimeofday", "clock_settime", "adjtimex", "open_by_handle_at", "name_to_handle_at", "acct", "quotactl", "lookup_dcookie"}, []string{"read"}},
		{"@privileged", []string{"chown", "setuid", "mount", "reboot"}, nil},
	}
	for _, tt := range tests {
		got, ok := Group(tt.group)
		if !ok {
			t.Fatalf("Group(%s) not found", tt.group)
		}
		set := map[string]bool{}
		for _, s := range got {
			set[s] = true
		}
		for _, c := range tt.contains {
			if !set[c] {
				t.Errorf("%s lacks %s", tt.group, c)
			}
		}
		for _, c := range tt.excludes {
			if set[c] {
				t.Errorf("%s must not contain %s", tt.group, c)
			}
		}
	}
	if _, ok := Group("@nope"); ok {
		t.Error("unknown group reported as found")
	}
}

func TestGroupNamesSorted(t *testing.T) {
	names := GroupNames()
	if len(names) != len(groups()) {
		t.Fatalf("GroupNames has %d entries, want %d", len(names), len(groups()))
	}
	for i := 1; i < len(names); i++ {
		if names[i-1] >= names[i] {
			t.Fatalf("not sorted: %q >= %q", names[i-1], names[i])
		}
	}
}

// Number and Known search the generated tables by bisection: they must stay sorted by name and free of
// duplicates (gen.sh sorts them).
func TestTablesSorted(t *testing.T) {
	for _, arch := range []Arch{AMD64, ARM64} {
		tab := table(arch)
		if len(tab) < 300 {
			t.Fatalf("%s: only %d syscalls in the table", arch, len(tab))
		}
		for i := 1; i < len(tab); i++ {
			if tab[i-1].name >= tab[i].name {
				t.Errorf("%s: table not sorted at %q, %q: run gen.sh", arch, tab[i-1].name, tab[i].name)
			}
		}
		for _, e := range tab {
			if nr, ok := Number(arch, e.name); !ok || nr != e.nr {
				t.Errorf("%s: Number(%q) = %d, %v; want %d", arch, e.name, nr, ok, e.nr)
			}
		}
	}
	if _, ok := Number(AMD64, "no_such_syscall"); ok {
		t.Error("Number found a syscall that does not exist")
	}
}

// IsGroup answers for exactly the groups Group expands.
func TestIsGroup(t *testing.T) {
	for _, g := range GroupNames() {
		if _, ok := Group(g); !ok || !IsGroup(g) {
			t.Errorf("%s: Group ok %v, IsGroup %v", g, ok, IsGroup(g))
		}
	}
	for _, n := range []string{"@nope", "read", "", "@"} {
		if IsGroup(n) {
			t.Errorf("IsGroup(%q) = true", n)
		}
	}
}
