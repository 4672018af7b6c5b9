//go:build linux && cgo

package seccomp

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/policy"
)

// These tests load real filters into re-executed copies of the test binary (a filter cannot be removed,
// so never into the test process itself). They need a kernel with seccomp filters, not root: a task with
// no_new_privs may load a filter.

const helperEnv = "JAILRUN_SECCOMP_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(helperMain(mode, os.Args[1:]))
	}
	code := m.Run()
	if probeDir != "" {
		os.RemoveAll(probeDir) // the probe binary built for this test run
	}
	os.Exit(code)
}

// needKernel skips (or, with JAILRUN_REQUIRE_PRIVILEGED=1, fails) when this kernel cannot load filters.
func needKernel(t *testing.T) {
	t.Helper()
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		skipOrFail(t, "kernel has no seccomp support: %v", err)
	}
}

func skipOrFail(t *testing.T, format string, a ...any) {
	t.Helper()
	testenv.SkipOrFail(t, format, a...)
}

const (
	seccompSetModeFilter = 1
	filterFlagTsync      = 1
	filterFlagNewListen  = 8
	filterFlagTsyncESRCH = 16
)

// loadFilter loads p into every thread of this process (TSYNC), after setting no_new_privs, and returns
// the listener fd when flags ask for one. It runs only in helper processes, and locks the goroutine to its
// thread for good: no_new_privs is a thread's, and without CAP_SYS_ADMIN (the rootless lanes) seccomp
// refuses a thread that lacks it with EACCES, which is what happened when Go moved the goroutine between
// the two calls.
func loadFilter(p *Program, flags uintptr) (int, error) {
	runtime.LockOSThread()
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		return -1, fmt.Errorf("no_new_privs: %w", err)
	}
	insns := p.Instructions()
	prog := unix.SockFprog{Len: uint16(len(insns)), Filter: &insns[0]}
	flags |= filterFlagTsync
	if flags&filterFlagNewListen != 0 {
		flags |= filterFlagTsyncESRCH
	}
	r, _, e := unix.Syscall(unix.SYS_SECCOMP, seccompSetModeFilter, flags, uintptr(unsafe.Pointer(&prog)))
	runtime.KeepAlive(insns)
	if e != 0 {
		return -1, fmt.Errorf("seccomp(SET_MODE_FILTER): %w", e)
	}
	if flags&filterFlagNewListen == 0 && r != 0 {
		return -1, fmt.Errorf("seccomp: thread %d could not be synchronized", r)
	}
	return int(r), nil
}

func helperPolicy(name string) (policy.Seccomp, error) {
	switch name {
	case "notify":
		return policy.Seccomp{Enabled: true, DefaultAction: allow, Rules: []policy.SeccompRule{{Syscalls: []string{"getppid"}, Action: notify}}}, nil
	}
	s, err := policy.Load(filepath.Join("..", "policies", name+".json"))
	if err != nil {
		return policy.Seccomp{}, err
	}
	return s.Seccomp, nil
}

// helperMain runs in the re-executed child. mode is "exec:POLICY" (load the policy's filter and exec
// args), "notify" (load a getppid-notify filter, pass the listener over fd 3, make calls, see below) or
// "loop:POLICY:N" (load the filter, or none for POLICY "none", and time N getpid calls).
func helperMain(mode string, args []string) int {
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "helper:", err); return 99 }
	kind, rest, _ := strings.Cut(mode, ":")
	switch kind {
	case "exec":
		s, err := helperPolicy(rest)
		if err != nil {
			return fail(err)
		}
		p, err := Build(s)
		if err != nil {
			return fail(err)
		}
		path, err := exec.LookPath(args[0])
		if err != nil {
			return fail(err)
		}
		// A SIGSYS kill dumps core by default; the tests only need the signal.
		_ = unix.Setrlimit(unix.RLIMIT_CORE, &unix.Rlimit{})
		if _, err := loadFilter(p, 0); err != nil {
			return fail(err)
		}
		return fail(syscall.Exec(path, args, os.Environ()))
	case "notify":
		s, _ := helperPolicy("notify")
		p, err := BuildWith(s, Options{ForeignABI: policy.Action{Kind: policy.ActNotify}})
		if err != nil {
			return fail(err)
		}
		runtime.LockOSThread()
		fd, err := loadFilter(p, filterFlagNewListen)
		if err != nil {
			return fail(err)
		}
		if err := unix.Sendmsg(3, []byte{0}, unix.UnixRights(fd), nil, 0); err != nil {
			return fail(err)
		}
		unix.Close(fd)
		if len(args) > 0 && args[0] == "wait" {
			// Used by the cancel test: make no notifying call, wait for stdin to close.
			_, _ = os.Stdin.Read(make([]byte, 1))
			return 0
		}
		if len(args) > 0 && args[0] == "x32" {
			// An x32 call is routed to the supervisor too (Options.ForeignABI = notify).
			r, _, e := unix.Syscall(x32SyscallBit|unix.SYS_GETPID, 0, 0, 0)
			fmt.Printf("x32 %d %d\n", int(r), int(e))
			return 0
		}
		for _, a0 := range []uintptr{0, 7, 2} {
			r, _, e := unix.Syscall(unix.SYS_GETPPID, a0, 0, 0)
			fmt.Printf("%d %d %d\n", a0, int(r), int(e))
		}
		return 0
	case "nested":
		// Load a notify filter, then try to stack a filter with a listener of our own: it must be refused.
		s, _ := helperPolicy("notify")
		p, err := Build(s)
		if err != nil {
			return fail(err)
		}
		runtime.LockOSThread()
		fd, err := loadFilter(p, filterFlagNewListener)
		if err != nil {
			return fail(err)
		}
		unix.Close(fd)
		_, err = loadFilter(p, filterFlagNewListener)
		fmt.Println(errors.Is(err, unix.EPERM))
		return 0
	case "deny":
		return denyLoop(rest) // bench_linux_test.go
	case "loop":
		pol, nText, _ := strings.Cut(rest, ":")
		n, _ := strconv.Atoi(nText)
		runtime.LockOSThread()
		if pol != "none" {
			s, err := helperPolicy(pol)
			if err != nil {
				return fail(err)
			}
			p, err := Build(s)
			if err != nil {
				return fail(err)
			}
			if _, err := loadFilter(p, 0); err != nil {
				return fail(err)
			}
		}
		start := time.Now()
		for i := 0; i < n; i++ {
			unix.Syscall(unix.SYS_GETPID, 0, 0, 0)
		}
		fmt.Println(time.Since(start).Nanoseconds())
		return 0
	}
	return fail(fmt.Errorf("unknown helper mode %q", mode))
}

func helperCmd(t testing.TB, mode string, args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

var (
	probeOnce sync.Once
	probeDir  string
	probePath string
	probeErr  error
)

// buildProbe compiles tests/probes/syscall_probe.c statically (once per test binary).
func buildProbe(t *testing.T) string {
	t.Helper()
	probeOnce.Do(func() {
		gcc, err := exec.LookPath("gcc")
		if err != nil {
			probeErr = fmt.Errorf("gcc not found: %w", err)
			return
		}
		dir, err := os.MkdirTemp("", "jailrun-probe")
		if err != nil {
			probeErr = err
			return
		}
		probeDir = dir
		probePath = filepath.Join(dir, "syscall_probe")
		out, err := exec.Command(gcc, "-static", "-O2", "-Wall", "-o", probePath, filepath.Join("..", "tests", "probes", "syscall_probe.c")).CombinedOutput()
		if err != nil {
			probeErr = fmt.Errorf("gcc -static: %v: %s", err, out)
		}
	})
	if probeErr != nil {
		skipOrFail(t, "cannot build the syscall probe: %v", probeErr)
	}
	return probePath
}

type probeResult struct {
	Syscall string `json:"syscall"`
	Ret     int64  `json:"ret"`
	Errno   int    `json:"errno"`
	Signal  syscall.Signal
}

// runProbe runs the probe (optionally under policy's filter) and returns its JSON line or the signal that
// killed it.
func runProbe(t *testing.T, pol string, args ...string) probeResult {
	t.Helper()
	probe := buildProbe(t)
	var cmd *exec.Cmd
	if pol == "" {
		cmd = exec.Command(probe, args...)
	} else {
		cmd = helperCmd(t, "exec:"+pol, append([]string{probe}, args...)...)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var res probeResult
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			res.Signal = ws.Signal()
			return res
		}
		t.Fatalf("probe %v under %q: %v: %s", args, pol, err, stderr.String())
	} else if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("probe %v: bad output %q: %v (stderr %s)", args, out, err, stderr.String())
	}
	return res
}

type outcome struct {
	allowed bool           // ret >= 0 or an errno other than the filter's
	errno   syscall.Errno  // the filter's errno
	signal  syscall.Signal // killed
}

// kernelStrictCases are the probes TestKernelStrict runs under the strict filter and what each must see.
var kernelStrictCases = []struct {
	probe string
	want  outcome
}{
	{"getpid", outcome{allowed: true}},
	{"read", outcome{allowed: true}},
	{"clone", outcome{allowed: true}},
	{"socket_unix", outcome{allowed: true}},
	{"ioctl_tcgets", outcome{allowed: true}},
	{"personality_query", outcome{allowed: true}},
	{"personality_linux", outcome{allowed: true}},
	{"mseal", outcome{allowed: true}},
	{"clone3", outcome{errno: syscall.ENOSYS}},
	{"socket_inet", outcome{errno: syscall.EAFNOSUPPORT}},
	{"socket_inet6", outcome{errno: syscall.EAFNOSUPPORT}},
	{"socket_netlink", outcome{errno: syscall.EAFNOSUPPORT}},
	{"setuid", outcome{errno: syscall.EPERM}},
	{"listmount", outcome{errno: syscall.EPERM}},
	{"x32", outcome{signal: syscall.SIGSYS}},
	{"ptrace", outcome{signal: syscall.SIGSYS}},
	{"process_vm_readv", outcome{signal: syscall.SIGSYS}},
	{"process_vm_writev", outcome{signal: syscall.SIGSYS}},
	{"mount", outcome{signal: syscall.SIGSYS}},
	{"umount2", outcome{signal: syscall.SIGSYS}},
	{"pivot_root", outcome{signal: syscall.SIGSYS}},
	{"chroot", outcome{signal: syscall.SIGSYS}},
	{"unshare", outcome{signal: syscall.SIGSYS}},
	{"unshare_user", outcome{signal: syscall.SIGSYS}},
	{"setns", outcome{signal: syscall.SIGSYS}},
	{"clone_newuser", outcome{signal: syscall.SIGSYS}},
	{"clone_newns", outcome{signal: syscall.SIGSYS}},
	{"clone_newnet", outcome{signal: syscall.SIGSYS}},
	{"bpf", outcome{signal: syscall.SIGSYS}},
	{"perf_event_open", outcome{signal: syscall.SIGSYS}},
	{"userfaultfd", outcome{signal: syscall.SIGSYS}},
	{"io_uring_setup", outcome{signal: syscall.SIGSYS}},
	{"io_uring_enter", outcome{signal: syscall.SIGSYS}},
	{"io_uring_register", outcome{signal: syscall.SIGSYS}},
	{"keyctl", outcome{signal: syscall.SIGSYS}},
	{"add_key", outcome{signal: syscall.SIGSYS}},
	{"request_key", outcome{signal: syscall.SIGSYS}},
	{"kexec_load", outcome{signal: syscall.SIGSYS}},
	{"kexec_file_load", outcome{signal: syscall.SIGSYS}},
	{"init_module", outcome{signal: syscall.SIGSYS}},
	{"finit_module", outcome{signal: syscall.SIGSYS}},
	{"delete_module", outcome{signal: syscall.SIGSYS}},
	{"reboot", outcome{signal: syscall.SIGSYS}},
	{"swapon", outcome{signal: syscall.SIGSYS}},
	{"swapoff", outcome{signal: syscall.SIGSYS}},
	{"settimeofday", outcome{signal: syscall.SIGSYS}},
	{"clock_settime", outcome{signal: syscall.SIGSYS}},
	{"adjtimex", outcome{signal: syscall.SIGSYS}},
	{"open_by_handle_at", outcome{signal: syscall.SIGSYS}},
	{"name_to_handle_at", outcome{signal: syscall.SIGSYS}},
	{"ioctl_tiocsti", outcome{signal: syscall.SIGSYS}},
	{"ioctl_tiocsti_high", outcome{signal: syscall.SIGSYS}},
	{"personality_linux32", outcome{signal: syscall.SIGSYS}},
	{"acct", outcome{signal: syscall.SIGSYS}},
	{"quotactl", outcome{signal: syscall.SIGSYS}},
	{"lookup_dcookie", outcome{signal: syscall.SIGSYS}},
	{"modify_ldt", outcome{signal: syscall.SIGSYS}},
	{"iopl", outcome{signal: syscall.SIGSYS}},
}

func kernelProbeNames() []string {
	var out []string
	for _, c := range kernelStrictCases {
		out = append(out, c.probe)
	}
	return out
}

func TestKernelStrict(t *testing.T) {
	needKernel(t)
	eperm, enosys := syscall.EPERM, syscall.ENOSYS
	tests := kernelStrictCases
	for _, tt := range tests {
		t.Run(tt.probe, func(t *testing.T) {
			got := runProbe(t, "strict", tt.probe)
			switch {
			case tt.want.signal != 0:
				if got.Signal != tt.want.signal {
					t.Errorf("%s: want killed by %v, got %+v", tt.probe, tt.want.signal, got)
				}
			case tt.want.errno != 0:
				if got.Signal != 0 || got.Ret != -1 || syscall.Errno(got.Errno) != tt.want.errno {
					t.Errorf("%s: want errno %v, got %+v", tt.probe, tt.want.errno, got)
				}
			default:
				if tt.probe == "mseal" && got.Ret == -1 && got.Errno == int(enosys) && !kernelAtLeast(6, 10) {
					return // the filter allowed it; this kernel (the v2 VM lane's 6.1) has no mseal
				}
				if got.Signal != 0 || (got.Ret == -1 && (got.Errno == int(eperm) || got.Errno == int(enosys))) {
					t.Errorf("%s: want allowed, got %+v", tt.probe, got)
				}
			}
		})
	}
	t.Run("nr_1000", func(t *testing.T) {
		if got := runProbe(t, "strict", "nr", "1000"); got.Ret != -1 || got.Errno != int(enosys) {
			t.Errorf("nr 1000: want ENOSYS, got %+v", got)
		}
	})
	t.Run("int80", func(t *testing.T) {
		if runtime.GOARCH != "amd64" {
			testenv.SkipMissingFeature(t, "IA32 emulation", "int 0x80 exists only on x86")
		}
		// Without a filter, int 0x80 must work here for the check to mean anything (kernels built without
		// IA32 emulation, or booted with ia32_emulation=0, refuse it themselves).
		if free := runProbe(t, "", "int80"); free.Signal != 0 || free.Ret <= 0 {
			testenv.SkipMissingFeature(t, "IA32 emulation", fmt.Sprintf("int 0x80 without a filter: %+v", free))
		}
		if got := runProbe(t, "strict", "int80"); got.Signal != syscall.SIGSYS {
			t.Errorf("int 0x80 under strict: want killed by SIGSYS, got %+v", got)
		}
	})
}

// TestKernelStrictRunsPrograms runs ordinary programs under the strict filter alone (no other sandboxing):
// the allowlist must not break hello worlds in the languages judges use.
func TestKernelStrictRunsPrograms(t *testing.T) {
	needKernel(t)
	dir := t.TempDir()
	hello := filepath.Join(dir, "Hello.java")
	if err := os.WriteFile(hello, []byte(`class Hello { public static void main(String[] a) { System.out.println("hello"); } }`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		argv []string
	}{
		{"sh pipeline", []string{"/bin/sh", "-c", "echo hello | cat"}},
		{"coreutils", []string{"/bin/sh", "-c", "ls / >/dev/null && date >/dev/null && echo hello"}},
		{"python3", []string{"python3", "-c", "import json, os, subprocess, threading; print('hello')"}},
		{"node", []string{"node", "-e", "console.log('hello')"}},
		{"java", []string{"java", "-Xshare:auto", hello}},
		{"static C probe", []string{buildProbe(t), "getpid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := exec.LookPath(tt.argv[0]); err != nil {
				t.Skipf("%s not installed", tt.argv[0])
			}
			if tt.name == "java" && testenv.InVM() {
				t.Skip("the JVM does not start in the emulated VM lane's 2 GiB guest; covered on the host")
			}
			cmd := helperCmd(t, "exec:strict", tt.argv...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("%v under strict: %v\nstdout: %s\nstderr: %s", tt.argv, err, out, stderr.String())
			}
			if tt.name != "static C probe" && !strings.Contains(string(out), "hello") {
				t.Errorf("%v: output %q", tt.argv, out)
			}
		})
	}
}

func TestSupervise(t *testing.T) {
	needKernel(t)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := os.NewFile(uintptr(pair[0]), "parent"), os.NewFile(uintptr(pair[1]), "child")
	defer parent.Close()
	cmd := helperCmd(t, "notify")
	cmd.ExtraFiles = []*os.File{child}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	fd := recvFD(t, parent)
	defer unix.Close(fd)

	var mu sync.Mutex
	var seen []Violation
	done := make(chan error, 1)
	go func() {
		done <- Supervise(context.Background(), fd, func(v Violation) policy.Action {
			switch v.Args[0] {
			case 7:
				return allow
			case 2:
				return kill
			}
			return eacces
		}, func(v Violation) {
			mu.Lock()
			seen = append(seen, v)
			mu.Unlock()
		})
	}()
	var lines []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.Sys().(syscall.WaitStatus).Signal() != syscall.SIGKILL {
		t.Errorf("child: want killed by SIGKILL on the kill decision, got %v (stderr %s)", err, stderr.String())
	}
	ppid := os.Getpid()
	want := []string{fmt.Sprintf("0 %d %d", uint64(^uintptr(0)), syscall.EACCES), fmt.Sprintf("7 %d 0", ppid)}
	if len(lines) != 2 || lines[1] != want[1] || !strings.HasPrefix(lines[0], "0 ") || !strings.HasSuffix(lines[0], fmt.Sprintf(" %d", syscall.EACCES)) {
		t.Errorf("child output %q, want the errno(EACCES) answer then the real ppid %q", lines, want[1])
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Supervise: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Supervise did not return after the child exited")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("reported %d notifications, want 3: %+v", len(seen), seen)
	}
	for _, v := range seen {
		if v.Syscall != "getppid" || v.Arch != ArchName(nativeAudit(t)) {
			t.Errorf("reported %+v, want getppid on the native arch", v)
		}
	}
}

func TestSuperviseForeignABI(t *testing.T) {
	needKernel(t)
	if runtime.GOARCH != "amd64" {
		t.Skip("x32 is x86_64")
	}
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := os.NewFile(uintptr(pair[0]), "parent"), os.NewFile(uintptr(pair[1]), "child")
	defer parent.Close()
	cmd := helperCmd(t, "notify", "x32")
	cmd.ExtraFiles = []*os.File{child}
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	fd := recvFD(t, parent)
	defer unix.Close(fd)
	var seen []Violation
	done := make(chan error, 1)
	go func() {
		done <- Supervise(context.Background(), fd, func(Violation) policy.Action { return eacces },
			func(v Violation) { seen = append(seen, v) })
	}()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("child: %v (stderr %s)", err, stderr.String())
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(stdout.String()), fmt.Sprintf("x32 -1 %d", syscall.EACCES); got != want {
		t.Errorf("child printed %q, want %q (the supervisor's answer)", got, want)
	}
	if len(seen) != 1 || seen[0].Nr != x32SyscallBit|unix.SYS_GETPID || seen[0].Arch != "x32" || seen[0].Syscall != "x32:getpid" {
		t.Errorf("reported %+v, want the x32 getpid", seen)
	}
}

func TestSuperviseStopsOnCancel(t *testing.T) {
	needKernel(t)
	pair, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	parent, child := os.NewFile(uintptr(pair[0]), "parent"), os.NewFile(uintptr(pair[1]), "child")
	defer parent.Close()
	cmd := helperCmd(t, "notify", "wait")
	cmd.ExtraFiles = []*os.File{child}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	child.Close()
	fd := recvFD(t, parent)
	defer unix.Close(fd)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Supervise(ctx, fd, nil, nil) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Supervise after cancel: %v, want context.Canceled", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Supervise did not return after cancel")
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Errorf("child: %v", err)
	}
}

// recvFD receives one fd over a unix socket. It blocks, but not forever: if the child dies before
// sending, its end closes and recvmsg returns 0 bytes.
func recvFD(t *testing.T, sock *os.File) int {
	t.Helper()
	buf, oob := make([]byte, 1), make([]byte, unix.CmsgSpace(4))
	n, oobn, _, _, err := unix.Recvmsg(int(sock.Fd()), buf, oob, 0)
	if err != nil || n == 0 {
		t.Fatalf("no listener fd from the child (recvmsg: %d bytes, %v)", n, err)
	}
	msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
	if err != nil || len(msgs) != 1 {
		t.Fatalf("no fd received: %v", err)
	}
	fds, err := unix.ParseUnixRights(&msgs[0])
	if err != nil || len(fds) != 1 {
		t.Fatalf("no fd received: %v", err)
	}
	return fds[0]
}

func TestKernelNestedListenerRefused(t *testing.T) {
	needKernel(t)
	out, err := helperCmd(t, "nested").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "true" {
		t.Errorf("stacking a second listener under a notify filter: want EPERM, got %q (%v)", out, err)
	}
}

func TestCheckKernel(t *testing.T) {
	needKernel(t)
	for _, name := range []string{"strict", "notify"} {
		s, err := helperPolicy(name)
		if err != nil {
			t.Fatal(err)
		}
		if err := mustBuild(t, s).CheckKernel(); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Every action jailrun can emit is implemented by this (6.x) kernel.
	all := []policy.Action{allow, eperm, kill, {Kind: policy.ActKillThread}, trap, logA, notify}
	if err := (&Program{actions: all}).CheckKernel(); err != nil {
		t.Errorf("all actions: %v", err)
	}
}

// kernelAtLeast reports whether the running kernel is at least major.minor.
func kernelAtLeast(major, minor int) bool {
	var u syscall.Utsname
	if syscall.Uname(&u) != nil {
		return true
	}
	var b []byte
	for _, c := range u.Release {
		if c == 0 {
			break
		}
		b = append(b, byte(c))
	}
	var ma, mi int
	fmt.Sscanf(string(b), "%d.%d", &ma, &mi)
	return ma > major || (ma == major && mi >= minor)
}
