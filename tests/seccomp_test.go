package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
)

var (
	sysProbeOnce sync.Once
	sysProbeDir  string
	sysProbeErr  error
)

// syscallProbe compiles tests/probes/syscall_probe.c statically, once per test run, into a directory that
// the tests bind into the sandbox at /probe.
func syscallProbe(t *testing.T) string {
	t.Helper()
	sysProbeOnce.Do(func() {
		sysProbeDir, sysProbeErr = runTempDir("jailrun-probe-")
		if sysProbeErr != nil {
			return
		}
		os.Chmod(sysProbeDir, 0o755)
		out, err := exec.Command("gcc", "-static", "-O2", "-o", filepath.Join(sysProbeDir, "syscall_probe"), "probes/syscall_probe.c").CombinedOutput()
		if err != nil {
			sysProbeErr = fmt.Errorf("gcc: %v\n%s", err, out)
		}
	})
	if sysProbeErr != nil {
		t.Fatalf("building the syscall probe: %v", sysProbeErr)
	}
	return sysProbeDir
}

var (
	ia32Once   sync.Once
	ia32Detail string // empty when int 0x80 works outside any sandbox
)

// requireIA32Emulation skips, naming the feature, when this kernel has no IA32 emulation (built without
// CONFIG_IA32_EMULATION or booted with ia32_emulation=0): int 0x80 then dies with SIGSEGV outside any
// sandbox too, so the filter's handling of it cannot be observed. That is a kernel-feature skip, which
// JAILRUN_REQUIRE_PRIVILEGED accepts.
func requireIA32Emulation(t *testing.T) {
	t.Helper()
	if runtime.GOARCH != "amd64" {
		testenv.SkipMissingFeature(t, "IA32 emulation", "int 0x80 exists only on x86")
	}
	dir := syscallProbe(t)
	ia32Once.Do(func() {
		out, err := exec.Command(filepath.Join(dir, "syscall_probe"), "int80").Output()
		var got struct {
			Ret int `json:"ret"`
		}
		if err != nil {
			ia32Detail = fmt.Sprintf("syscall_probe int80 outside any sandbox: %v", err)
		} else if json.Unmarshal(out, &got) != nil || got.Ret <= 0 {
			ia32Detail = fmt.Sprintf("syscall_probe int80 outside any sandbox: %s", strings.TrimSpace(string(out)))
		}
	})
	if ia32Detail != "" {
		testenv.SkipMissingFeature(t, "IA32 emulation", ia32Detail)
	}
}

func sysProbePolicy(t *testing.T, extends string) string {
	dir := syscallProbe(t)
	p := filepath.Join(t.TempDir(), "probe.json")
	os.WriteFile(p, []byte(fmt.Sprintf(`{"version": 1, "name": "probe", "extends": %q,
		"filesystem": {"mounts": [{"type": "bind", "src": %q, "dst": "/probe", "readonly": true}]}}`, extends, dir)), 0o644)
	return p
}

// TestStrictBlockList proves each entry of strict's block list through the real binary and kernel: the
// probe tries the syscall, and the run either ends as a seccomp violation naming it, or the call fails
// with the errno the policy gives.
func TestStrictBlockList(t *testing.T) {
	requirePrivileged(t)
	pol := sysProbePolicy(t, "strict")
	violation := func(name string) func(t *testing.T, r run) {
		return func(t *testing.T, r run) {
			t.Helper()
			v, _ := r.result["seccomp_violation"].(map[string]any)
			if r.status() != "seccomp_violation" || v == nil || v["syscall"] != name {
				t.Fatalf("want a seccomp_violation naming %s, got status %s violation %v\n%v", name, r.status(), v, r)
			}
		}
	}
	errno := func(want string) func(t *testing.T, r run) {
		return func(t *testing.T, r run) {
			t.Helper()
			var out struct {
				Errno string `json:"errno_name"`
				Ret   int    `json:"ret"`
			}
			if err := json.Unmarshal([]byte(strings.TrimSpace(r.stdout)), &out); err != nil || out.Errno != want {
				t.Fatalf("want the call to fail with %s, got %v (status %s)", want, r, r.status())
			}
		}
	}
	allowed := func(t *testing.T, r run) {
		t.Helper()
		if r.status() != "ok" || !strings.Contains(r.stdout, `"syscall"`) {
			t.Fatalf("want the call allowed, got status %s: %v", r.status(), r)
		}
		if strings.Contains(r.stdout, `"errno_name":"EPERM"`) || strings.Contains(r.stdout, `"errno_name":"ENOSYS"`) {
			t.Fatalf("allowed call was refused by the filter: %v", r)
		}
	}
	killedBySIGSYS := func(t *testing.T, r run) {
		t.Helper()
		if r.status() != "seccomp_violation" {
			t.Fatalf("want the foreign-arch call killed, got status %s: %v", r.status(), r)
		}
	}
	cases := map[string]func(t *testing.T, r run){
		"ptrace": violation("ptrace"), "process_vm_readv": violation("process_vm_readv"), "process_vm_writev": violation("process_vm_writev"),
		"mount": violation("mount"), "umount2": violation("umount2"), "pivot_root": violation("pivot_root"), "chroot": violation("chroot"),
		"unshare": violation("unshare"), "setns": violation("setns"),
		"clone_newuser": violation("clone"), "clone_newns": violation("clone"), "clone_newnet": violation("clone"),
		"clone3": errno("ENOSYS"),
		"bpf":    violation("bpf"), "perf_event_open": violation("perf_event_open"), "userfaultfd": violation("userfaultfd"),
		"io_uring_setup": violation("io_uring_setup"), "io_uring_enter": violation("io_uring_enter"), "io_uring_register": violation("io_uring_register"),
		"keyctl": violation("keyctl"), "add_key": violation("add_key"), "request_key": violation("request_key"),
		"kexec_load": violation("kexec_load"), "kexec_file_load": violation("kexec_file_load"),
		"init_module": violation("init_module"), "finit_module": violation("finit_module"), "delete_module": violation("delete_module"),
		"reboot": violation("reboot"), "swapon": violation("swapon"), "swapoff": violation("swapoff"),
		"settimeofday": violation("settimeofday"), "clock_settime": violation("clock_settime"), "adjtimex": violation("adjtimex"),
		"open_by_handle_at": violation("open_by_handle_at"), "name_to_handle_at": violation("name_to_handle_at"),
		"ioctl_tiocsti": violation("ioctl"), "personality_linux32": violation("personality"),
		"acct": violation("acct"), "quotactl": violation("quotactl"), "lookup_dcookie": violation("lookup_dcookie"),
		"socket_inet": errno("EAFNOSUPPORT"), "socket_inet6": errno("EAFNOSUPPORT"), "socket_netlink": errno("EAFNOSUPPORT"),
		"int80": killedBySIGSYS, "x32": killedBySIGSYS,
		// Allowed: ordinary calls still work under the filter.
		"getpid": allowed, "read": allowed, "write": allowed, "fork": allowed, "socket_unix": allowed,
		"personality_query": allowed, "personality_linux": allowed, "ioctl_tcgets": allowed,
	}
	for name, check := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if name == "int80" {
				requireIA32Emulation(t)
			}
			r := jailrun(t, []string{"--quiet", "--policy", pol, "--", "/probe/syscall_probe", name})
			check(t, r)
		})
	}
}

// Allowed programs still work: a C program, python, and a compile under compile.json.
func TestFilterAllowsRealPrograms(t *testing.T) {
	requirePrivileged(t)
	r := jailrun(t, []string{"--", "/usr/bin/python3", "-c", "import os, subprocess; print(subprocess.run(['/bin/echo', 'child'], capture_output=True).stdout.decode().strip(), os.getpid())"})
	if r.code != 0 || !strings.HasPrefix(r.stdout, "child ") {
		t.Fatalf("python with a subprocess under strict: %v", r)
	}
}
