package cgroups

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/policy"
)

// The test binary re-executes itself as the workloads (memory hog, fork bomb, busy loop...), selected by
// helperEnv, so that the tests need nothing but the kernel. A helper waits for one byte on stdin before it
// starts, so that the test can place it in the cgroup first (Add on v1).
const helperEnv = "JAILRUN_CGROUPS_HELPER"

func TestMain(m *testing.M) {
	if h := os.Getenv(helperEnv); h != "" {
		runHelper(h)
		os.Exit(0)
	}
	code := m.Run()
	// Leave the tree as we found it: undo the move into a leaf (v2), remove the parents we created, and fail
	// if any cgroup of this process is left.
	if mgr, err := NewManager(Options{}); err == nil {
		if err := mgr.Close(); err != nil {
			fmt.Fprintf(os.Stderr, "cgroups tests: Close: %v\n", err)
			code = 1
		}
		if left := ownLeftovers(mgr); len(left) > 0 {
			fmt.Fprintf(os.Stderr, "cgroups tests: cgroups left behind: %v\n", left)
			code = 1
		}
	}
	os.Exit(code)
}

// ownLeftovers lists cgroups named after this process under the manager's parents, including its own leaf.
func ownLeftovers(m *Manager) []string { return ownCgroups(m, true) }

// ownRuns lists the run cgroups of this process (not its own leaf, where it lives).
func ownRuns(m *Manager) []string { return ownCgroups(m, false) }

func ownCgroups(m *Manager, withLeaf bool) []string {
	var left []string
	for _, p := range m.parentDirs() {
		ents, _ := os.ReadDir(p)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), m.owner.tag()+".") && (withLeaf || e.Name() != m.owner.selfName()) {
				left = append(left, filepath.Join(p, e.Name()))
			}
		}
	}
	return left
}

func runHelper(mode string) {
	if mode != "crash-owner" {
		var b [1]byte
		if _, err := os.Stdin.Read(b[:]); err != nil {
			os.Exit(3)
		}
	}
	switch mode {
	case "hog":
		mib, _ := strconv.Atoi(os.Getenv("HOG_MIB"))
		hog(mib)
		fmt.Println("done")
		io.Copy(io.Discard, os.Stdin) // hold the memory until killed or stdin closes
	case "spin":
		//lint:ignore SA5002 burning CPU is the point: the cpu-limit tests throttle this loop
		for {
		}
	case "bomb":
		// Raw clone(SIGCHLD) = fork without Go's runtime: parent and child both loop on forking, and retry
		// when pids.max makes the fork fail, like a real fork bomb. The children run only this loop.
		for {
			unix.RawSyscall6(unix.SYS_CLONE, uintptr(unix.SIGCHLD), 0, 0, 0, 0, 0)
		}
	case "sleep":
		io.Copy(io.Discard, os.Stdin)
	case "pause":
		// Like sleep, but outlives the end of stdin (its parent's death).
		for {
			time.Sleep(time.Hour)
		}
	case "affinity":
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(0, &set); err != nil {
			os.Exit(4)
		}
		var cpus []string
		for i := 0; i < 1024; i++ {
			if set.IsSet(i) {
				cpus = append(cpus, strconv.Itoa(i))
			}
		}
		fmt.Println(strings.Join(cpus, ","))
	case "selfmove":
		// Alone in a cgroup of its own, like a service under Delegate=yes: Create must move this process into
		// a leaf to enable the controller, and Close must move it back and remove what it made.
		o := Options{unified: os.Getenv("SELFMOVE_UNIFIED"), account: []string{os.Getenv("SELFMOVE_CTL")}}
		m, err := NewManager(o)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(5)
		}
		c, err := m.Create("selfmove", policy.Limits{}, policy.Require{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(6)
		}
		fmt.Println("moved", ownV2())
		if err := c.Destroy(); err != nil {
			fmt.Println("error", err)
			os.Exit(7)
		}
		if err := m.Close(); err != nil {
			fmt.Println("error", err)
			os.Exit(8)
		}
		fmt.Println("back", ownV2())
	case "crash-owner":
		// A jailrun process that dies without cleaning up: it makes a run cgroup, starts a sandbox-like
		// process in it, prints the path, and kills itself.
		m, err := NewManager(Options{Parent: os.Getenv("CRASH_PARENT"), Registry: os.Getenv("CRASH_REGISTRY")})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(5)
		}
		c, err := m.Create("crash", policy.Limits{Memory: 64 << 20, Pids: 32}, policy.Require{})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(6)
		}
		h, err := startHelperIn(c, "pause", nil, true)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(7)
		}
		fmt.Println(c.Path(), h.cmd.Process.Pid)
		syscall.Kill(os.Getpid(), syscall.SIGKILL)
	default:
		os.Exit(2)
	}
}

// ownV2 is this process's cgroup v2 path.
func ownV2() string {
	b, _ := os.ReadFile("/proc/self/cgroup")
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return p
		}
	}
	return ""
}

// hog maps and touches mib MiB of anonymous memory, page by page, so that it is really charged.
func hog(mib int) {
	size := mib << 20
	mem, err := unix.Mmap(-1, 0, size, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		os.Exit(8)
	}
	for i := 0; i < size; i += 4096 {
		mem[i] = 1
	}
}

type helper struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	out    *os.File
	exited chan struct{}
}

// startHelper starts a helper in c: through CLONE_INTO_CGROUP when useClone and the cgroup offers an fd, else
// with Add before it is released. The helper is killed and reaped at the end of the test.
func startHelper(t testing.TB, c *Cgroup, mode string, env []string, useClone bool) *helper {
	t.Helper()
	h, err := startHelperIn(c, mode, env, useClone)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		h.cmd.Process.Kill()
		h.stdin.Close()
		<-h.exited
		h.out.Close()
	})
	return h
}

func startHelperIn(c *Cgroup, mode string, env []string, useClone bool) (*helper, error) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+mode), env...)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	// Our own pipe rather than StdoutPipe: Wait (run at once in a goroutine) would close that one under a
	// reader that has not read everything yet.
	out, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = w
	fd, cloneOK := c.CloneFD()
	if useClone && cloneOK {
		cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	}
	err = cmd.Start()
	w.Close()
	if err != nil {
		out.Close()
		return nil, fmt.Errorf("start helper %s: %w", mode, err)
	}
	h := &helper{cmd: cmd, stdin: stdin, stdout: bufio.NewReader(out), out: out, exited: make(chan struct{})}
	go func() { cmd.Wait(); close(h.exited) }()
	if !(useClone && cloneOK) {
		if err := c.Add(cmd.Process.Pid); err != nil {
			cmd.Process.Kill()
			return nil, err
		}
	}
	if _, err := stdin.Write([]byte{1}); err != nil {
		return nil, err
	}
	return h, nil
}

// killedBy reports the signal that ended the helper (0 if it exited normally).
func (h *helper) signal() syscall.Signal {
	ws, ok := h.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok || !ws.Signaled() {
		return 0
	}
	return ws.Signal()
}

// requireCgroups returns a Manager that can create cgroups here, or skips the test with the reason; with
// JAILRUN_REQUIRE_PRIVILEGED=1 (CI lanes that are set up for it) a skip is a failure.
func requireCgroups(t testing.TB, o Options) *Manager {
	t.Helper()
	m, err := NewManager(o)
	if err != nil {
		skipOrFail(t, "cgroups unavailable: %v", err)
	}
	if m.Mode() == ModeNone {
		skipOrFail(t, "no cgroup filesystem is mounted")
	}
	c, err := m.Create("probe", policy.Limits{}, policy.Require{})
	if err != nil {
		skipOrFail(t, "cannot create a cgroup here (needs root or a delegated cgroup): %v", err)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	return m
}

func skipOrFail(t testing.TB, format string, a ...any) {
	t.Helper()
	testenv.SkipOrFail(t, format, a...)
}

// create makes a cgroup that is destroyed (and checked gone) at the end of the test.
func create(t testing.TB, m *Manager, lim policy.Limits, req policy.Require) *Cgroup {
	t.Helper()
	c, err := m.Create(t.Name(), lim, req)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	t.Cleanup(func() {
		if err := c.Destroy(); err != nil {
			t.Errorf("Destroy: %v", err)
		}
		for _, d := range c.Paths() {
			if _, err := os.Stat(d); !os.IsNotExist(err) {
				t.Errorf("%s still exists after Destroy", d)
			}
		}
	})
	return c
}

// hostOffers reports, independently of the code under test, whether this process may use controller ctl:
// v2: it is in the cgroup.controllers of the caller's own cgroup (what was delegated to it); v1: a hierarchy
// of it is mounted and we are root.
func hostOffers(m *Manager, ctl string) bool {
	if m.v2 {
		s, err := readString(filepath.Join(m.origin, "cgroup.controllers"))
		return err == nil && hasWord(s, ctl)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return false
	}
	for _, line := range strings.Split(string(mi), "\n") {
		_, after, ok := strings.Cut(line, " - cgroup ")
		if !ok {
			continue
		}
		f := strings.Fields(after)
		if len(f) >= 2 && hasWord(strings.ReplaceAll(f[1], ",", " "), ctl) {
			return os.Geteuid() == 0
		}
	}
	return false
}

// waitFor polls cond until it holds or the (generous) deadline passes: a safety net against hanging, not a
// timing assertion.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
