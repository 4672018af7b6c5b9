package selftest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

const (
	cgroupRoot    = "/sys/fs/cgroup"
	cgroup2Magic  = 0x63677270 // CGROUP2_SUPER_MAGIC
	hogEnv        = "VMTEST_SELFTEST_HOG"
	hogLimitBytes = 64 << 20
)

// TestMain doubles as the memory hog: the OOM test re-executes this binary with hogEnv set.
func TestMain(m *testing.M) {
	if os.Getenv(hogEnv) == "1" {
		hog()
	}
	os.Exit(m.Run())
}

// hog touches memory in 4 MiB chunks up to 512 MiB, far over the limit; it exits 0 only if never killed.
func hog() {
	var keep [][]byte
	for range 128 {
		b := make([]byte, 4<<20)
		for i := 0; i < len(b); i += 4096 {
			b[i] = 1
		}
		keep = append(keep, b)
	}
	fmt.Println(len(keep))
	os.Exit(0)
}

func inVM(t *testing.T) {
	t.Helper()
	if os.Getenv("JAILRUN_VM") != "cgroup2" {
		t.Skip("runs only inside the cgroup v2 VM lane (make test-cgroup2)")
	}
}

func rootless() bool { return os.Getenv("JAILRUN_ROOTLESS") == "1" }

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0); err != nil {
		t.Fatalf("write %q to %s: %v", data, path, err)
	}
}

// ownCgroup returns the directory of this process's cgroup, from the single v2 line of /proc/self/cgroup.
func ownCgroup(t *testing.T) string {
	t.Helper()
	line := readFile(t, "/proc/self/cgroup")
	rel, ok := strings.CutPrefix(line, "0::")
	if !ok || strings.Contains(line, "\n") {
		t.Fatalf("/proc/self/cgroup is not a single cgroup v2 entry: %q", line)
	}
	return filepath.Join(cgroupRoot, rel)
}

func TestPureCgroupV2(t *testing.T) {
	inVM(t)
	var st syscall.Statfs_t
	if err := syscall.Statfs(cgroupRoot, &st); err != nil {
		t.Fatal(err)
	}
	if st.Type != cgroup2Magic {
		t.Errorf("%s has filesystem magic %#x, want cgroup2 %#x", cgroupRoot, st.Type, cgroup2Magic)
	}
	for _, line := range strings.Split(readFile(t, "/proc/self/mounts"), "\n") {
		if f := strings.Fields(line); len(f) > 2 && f[2] == "cgroup" {
			t.Errorf("a cgroup v1 hierarchy is mounted: %s", line)
		}
	}
	controllers := strings.Fields(readFile(t, cgroupRoot+"/cgroup.controllers"))
	enabled := strings.Fields(readFile(t, cgroupRoot+"/cgroup.subtree_control"))
	for _, c := range []string{"memory", "pids", "cpu", "io"} {
		if !slices.Contains(controllers, c) {
			t.Errorf("controller %s missing from the root's cgroup.controllers %q", c, controllers)
		}
	}
	if !slices.Equal(controllers, enabled) {
		t.Errorf("root cgroup.subtree_control = %q, want every controller %q", enabled, controllers)
	}
	ownCgroup(t) // fails unless /proc/self/cgroup is a single v2 line
}

// TestDelegated checks the lane's promise: the test runs inside a non-root cgroup delegated to its user.
func TestDelegated(t *testing.T) {
	inVM(t)
	own := ownCgroup(t)
	if own == cgroupRoot {
		t.Fatal("the test runs in the root cgroup, not in a delegated one")
	}
	if rootless() == (os.Geteuid() == 0) {
		t.Fatalf("JAILRUN_ROOTLESS=%q but euid is %d", os.Getenv("JAILRUN_ROOTLESS"), os.Geteuid())
	}
	for _, name := range []string{"", "cgroup.procs", "cgroup.subtree_control"} {
		fi, err := os.Stat(filepath.Join(own, name))
		if err != nil {
			t.Fatal(err)
		}
		if uid := fi.Sys().(*syscall.Stat_t).Uid; int(uid) != os.Geteuid() {
			t.Errorf("%s is owned by uid %d, not delegated to uid %d", filepath.Join(own, name), uid, os.Geteuid())
		}
	}
	if !strings.Contains(readFile(t, filepath.Join(own, "cgroup.controllers")), "memory") {
		t.Errorf("memory controller not available in the delegated cgroup %s", own)
	}
}

// childCgroup returns a new cgroup below this process's delegated cgroup with memory and pids enabled. A
// delegated cgroup that holds processes cannot enable controllers ("no internal processes"), so the test process
// first moves into a leaf, as any code running under Delegate=yes must; cleanup undoes it all.
func childCgroup(t *testing.T) string {
	t.Helper()
	own := ownCgroup(t)
	leaf := filepath.Join(own, "selftest-leaf")
	child := filepath.Join(own, "selftest-child")
	pid := strconv.Itoa(os.Getpid())

	if err := os.Mkdir(leaf, 0o755); err != nil {
		t.Fatal(err)
	}
	// Enabling a controller while the process still sits in own must fail: that is the rule being exercised.
	err := os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), []byte("+memory"), 0)
	if !errors.Is(err, syscall.EBUSY) {
		t.Errorf("enabling memory in %s with a process inside: got %v, want EBUSY (no internal processes)", own, err)
	}
	writeFile(t, filepath.Join(leaf, "cgroup.procs"), pid)
	writeFile(t, filepath.Join(own, "cgroup.subtree_control"), "+memory +pids")
	if err := os.Mkdir(child, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, step := range []error{
			os.Remove(child),
			os.WriteFile(filepath.Join(own, "cgroup.subtree_control"), []byte("-memory -pids"), 0),
			os.WriteFile(filepath.Join(own, "cgroup.procs"), []byte(pid), 0),
			os.Remove(leaf),
		} {
			if step != nil {
				t.Errorf("cleanup: %v", step)
			}
		}
	})
	return child
}

// startIn starts cmd directly inside the cgroup dir with clone3(CLONE_INTO_CGROUP).
func startIn(t *testing.T, cmd *exec.Cmd, dir string) {
	t.Helper()
	fd, err := syscall.Open(dir, syscall.O_DIRECTORY|syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %v in %s: %v", cmd.Args, dir, err)
	}
}

func TestCloneIntoCgroup(t *testing.T) {
	inVM(t)
	child := childCgroup(t)
	var out bytes.Buffer
	cmd := exec.Command("/bin/cat", "/proc/self/cgroup")
	cmd.Stdout = &out
	startIn(t, cmd, child)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	want := "0::" + strings.TrimPrefix(child, cgroupRoot)
	if got := strings.TrimSpace(out.String()); got != want {
		t.Errorf("the child started in %q, want %q", got, want)
	}
}

func TestOOMKill(t *testing.T) {
	inVM(t)
	child := childCgroup(t)
	writeFile(t, filepath.Join(child, "memory.max"), strconv.Itoa(hogLimitBytes))
	writeFile(t, filepath.Join(child, "pids.max"), "16")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), hogEnv+"=1")
	startIn(t, cmd, child)
	err = cmd.Wait()
	ws, _ := cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("the hog under memory.max=64M ended with %v, want killed by SIGKILL", err)
	}
	events := readFile(t, filepath.Join(child, "memory.events"))
	kills := -1
	for _, line := range strings.Split(events, "\n") {
		if n, ok := strings.CutPrefix(line, "oom_kill "); ok {
			kills, _ = strconv.Atoi(n)
		}
	}
	if kills < 1 {
		t.Errorf("memory.events counts no OOM kill:\n%s", events)
	}
	if peak := readFile(t, filepath.Join(child, "memory.peak")); peak == "" {
		t.Error("memory.peak is empty")
	}
}

// TestHostPrograms checks what the end-to-end tests bind into sandboxes: the host's dynamically linked programs.
func TestHostPrograms(t *testing.T) {
	inVM(t)
	for _, args := range [][]string{
		{"/bin/sh", "-c", "echo ok"},
		{"/bin/ls", "/"},
		{"/usr/bin/env", "true"},
		{"/bin/true"},
		{"/bin/echo", "ok"},
	} {
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
	if bin := os.Getenv("JAILRUN_BIN"); !filepath.IsAbs(bin) {
		t.Errorf("JAILRUN_BIN=%q is not an absolute path", bin)
	}
}
