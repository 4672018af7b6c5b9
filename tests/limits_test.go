package tests

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jailrun/jailrun/internal/testenv"
)

// policyFile writes a policy that extends the built-in strict one with the given JSON members.
func policyFile(t *testing.T, members string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "policy.json")
	body := `{"version": 1, "name": "test", "extends": "strict"`
	if members != "" {
		body += ", " + members
	}
	body += "}"
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// python is needed for the hogs: the strict policy binds /usr, where Debian's python3 lives.
func needPython(t *testing.T) {
	t.Helper()
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		testenv.SkipOrFail(t, "the limits tests need /usr/bin/python3 (make deps does not install it)")
	}
}

func num(r run, key string) float64 {
	switch v := r.result[key].(type) {
	case float64:
		return v
	case map[string]any:
		f, _ := v["total"].(float64)
		return f
	}
	return -1
}

// The verdict table of the limits issue, through the real binary and the real kernel.
func TestLimitVerdicts(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	for _, tc := range []struct {
		name    string
		policy  string
		script  []string
		status  string
		limit   string
		check   func(t *testing.T, r run)
		timeout time.Duration
	}{
		{
			name:   "memory hog 1GiB under 256MiB",
			policy: `"limits": {"memory": "256M"}`,
			script: []string{"/usr/bin/python3", "-c", "b = bytearray(1 << 30)\nfor i in range(0, len(b), 4096): b[i] = 1"},
			status: "memory_limit", limit: "limits.memory",
			check: func(t *testing.T, r run) {
				if num(r, "oom_kills") < 1 {
					t.Errorf("oom_kills = %v, want ≥ 1", r.result["oom_kills"])
				}
			},
		},
		{
			name:   "4 processes x 192MiB under 256MiB",
			policy: `"limits": {"memory": "256M"}`,
			script: []string{"/bin/sh", "-c", `for i in 1 2 3 4; do /usr/bin/python3 -c 'import time
b = bytearray(192 << 20)
for i in range(0, len(b), 4096): b[i] = 1
time.sleep(2)' & done; wait`},
			status: "memory_limit", limit: "limits.memory",
		},
		{
			name:   "fork bomb under pids 32",
			policy: `"limits": {"pids": 32}`,
			script: []string{"/bin/sh", "-c", `i=0; while [ $i -lt 200 ]; do sleep 5 & i=$((i+1)); done; wait`},
			status: "pids_limit", limit: "limits.pids",
			check: func(t *testing.T, r run) {
				if p := num(r, "peak_pids"); p > 32 {
					t.Errorf("peak_pids %v above the limit", p)
				}
			},
		},
		{
			name:   "busy loop under 1s CPU",
			policy: `"limits": {"cpu_time": "1s", "wall_time": "20s"}`,
			script: []string{"/bin/sh", "-c", "while :; do :; done"},
			status: "time_limit", limit: "limits.cpu_time",
			check: func(t *testing.T, r run) {
				cpu := num(r, "cpu_time_ms")
				if cpu < 1000 || cpu > 1050 {
					t.Errorf("cpu_time_ms %v, want within 50 ms of the 1000 ms limit", cpu)
				}
			},
		},
		{
			// The grace lets the command end by itself; it still went over, so the verdict says so
			// (isolate's TO), with the command's own exit code.
			name:   "0.8s CPU under 300ms with 2s extra_time",
			policy: `"limits": {"cpu_time": "300ms", "extra_time": "2s", "wall_time": "20s"}`,
			script: []string{"/usr/bin/python3", "-c", "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.8: pass"},
			status: "time_limit", limit: "limits.cpu_time",
			check: func(t *testing.T, r run) {
				if r.code != 0 || num(r, "exit_code") != 0 || num(r, "cpu_time_ms") < 800 {
					t.Errorf("want the command's own exit 0 after 800 ms of CPU: %s", r)
				}
			},
		},
		{
			name:   "sleep 0.8 under 300ms wall with 2s extra_time",
			policy: `"limits": {"wall_time": "300ms", "extra_time": "2s"}`,
			script: []string{"/bin/sleep", "0.8"},
			status: "wall_time_limit", limit: "limits.wall_time",
			check: func(t *testing.T, r run) {
				if r.code != 0 || num(r, "exit_code") != 0 {
					t.Errorf("want the command's own exit 0: %s", r)
				}
			},
		},
		{
			// Killed for a limit, the command's own figures still come from the kernel: pid 1 kills the
			// rest and reaps it, so max_rss is the program's, not the 1.5 MiB of jailrun's init.
			name:   "100MiB then sleep under 1s wall",
			policy: `"limits": {"wall_time": "1s"}`,
			script: []string{"/usr/bin/python3", "-c", "import time\nb = bytearray(100 << 20)\ntime.sleep(100)"},
			status: "wall_time_limit", limit: "limits.wall_time",
			check: func(t *testing.T, r run) {
				if m := num(r, "max_rss_bytes"); m < 100<<20 {
					t.Errorf("max_rss_bytes %v, want at least the 100 MiB the program touched", m)
				}
				if w := num(r, "wall_time_ms"); w > 1500 {
					t.Errorf("wall_time_ms %v: the kill came late", w)
				}
			},
		},
		{
			name:   "sleep 100 under 1s wall",
			policy: `"limits": {"wall_time": "1s"}`,
			script: []string{"/bin/sleep", "100"},
			status: "wall_time_limit", limit: "limits.wall_time",
			check: func(t *testing.T, r run) {
				if w := num(r, "wall_time_ms"); w < 1000 || w > 1500 {
					t.Errorf("wall_time_ms %v, want about 1000", w)
				}
			},
		},
		{
			name:   "normal run",
			script: []string{"/usr/bin/python3", "-c", "print(sum(range(10**6)))"},
			status: "ok",
			check: func(t *testing.T, r run) {
				if m := num(r, "peak_memory_bytes"); m < 1<<20 || m > 256<<20 {
					t.Errorf("peak_memory_bytes %v implausible for python", m)
				}
				if c := num(r, "cpu_time_ms"); c <= 0 || c > 10000 {
					t.Errorf("cpu_time_ms %v implausible", c)
				}
				if r.stdout != "499999500000\n" {
					t.Errorf("stdout %q", r.stdout)
				}
			},
		},
		{
			name:   "output flood over 1MiB",
			policy: `"limits": {"output": {"stdout": "1M"}}`,
			script: []string{"/bin/sh", "-c", "yes xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
			status: "output_limit", limit: "limits.output.stdout",
			check: func(t *testing.T, r run) {
				if len(r.stdout) != 1<<20 {
					t.Errorf("passed on %d bytes, want exactly the 1 MiB limit", len(r.stdout))
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := []string{"--quiet"}
			if tc.policy != "" {
				args = append(args, "--policy", policyFile(t, tc.policy))
			}
			r := jailrun(t, append(append(args, "--"), tc.script...))
			if r.status() != tc.status {
				t.Fatalf("status %q, want %q\n%v\nresult: %v", r.status(), tc.status, r, r.result)
			}
			if tc.limit != "" {
				lim, _ := r.result["limit"].(map[string]any)
				if lim == nil || lim["name"] != tc.limit {
					t.Errorf("limit %v, want %s", r.result["limit"], tc.limit)
				}
			}
			if tc.check != nil {
				tc.check(t, r)
			}
			t.Logf("%-32s status=%-16s cpu=%6.0fms wall=%6.0fms peak_mem=%10.0f peak_pids=%3.0f oom_kills=%v",
				tc.name, r.status(), num(r, "cpu_time_ms"), num(r, "wall_time_ms"), num(r, "peak_memory_bytes"), num(r, "peak_pids"), r.result["oom_kills"])
			// Run cgroups are named after the run id; other jailruns may be running on this host meanwhile.
			if id, _ := r.result["run_id"].(string); id == "" {
				t.Errorf("no run_id in the result")
			} else if left := cgroupsMatching(t, "-"+id); len(left) > 0 {
				t.Errorf("cgroups left behind: %v", left)
			}
		})
	}
}

// cgroupsMatching lists the run cgroups whose name contains s, in every hierarchy.
func cgroupsMatching(t *testing.T, s string) []string {
	t.Helper()
	var out []string
	for _, p := range jailrunCgroups(t) {
		if strings.Contains(filepath.Base(p), s) {
			out = append(out, p)
		}
	}
	return out
}

// jailrunCgroups lists the run cgroups that exist now, in every hierarchy.
func jailrunCgroups(t *testing.T) []string {
	t.Helper()
	var out []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), "jr.") && !strings.HasSuffix(d.Name(), ".self") {
			out = append(out, p)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

// A jailrun killed with SIGKILL cannot remove its cgroup; the next jailrun's janitor does.
func TestJanitorRemovesStaleCgroup(t *testing.T) {
	requirePrivileged(t)
	sweptByNextRun(t, killedMidRun(t))
}

// A jailrun killed under a cgroup parent of its own (another --cgroup-parent, another service's or shell's
// cgroup) is cleaned up by the next jailrun even though that one's parent differs: the first left a record
// in /run/jailrun/cgroups (the rootless lane: the user's runtime directory), which the janitor follows.
func TestJanitorFollowsRecordsAcrossParents(t *testing.T) {
	requirePrivileged(t)
	parent := fmt.Sprintf("jailrun-e2e-records-%d", os.Getpid())
	arg := parent
	if p := os.Getenv("JAILRUN_CGROUP_PARENT"); p != "" {
		arg = filepath.Join(p, parent) // rootless: inside the cgroup delegated to this user
	}
	stale := killedMidRun(t, "--cgroup-parent", arg)
	t.Cleanup(func() {
		for _, p := range stale {
			dir := filepath.Dir(p)
			if filepath.Base(dir) != parent {
				continue
			}
			// The killed jailrun's parent (and, on v2, the leaf it moved into): empty once the janitor ran.
			leaves, _ := filepath.Glob(filepath.Join(dir, "jr.*.self"))
			for _, l := range leaves {
				os.Remove(l)
			}
			if err := os.Remove(dir); err != nil && !os.IsNotExist(err) {
				t.Errorf("remove %s: %v", dir, err)
			}
		}
	})
	for _, p := range stale {
		if !strings.Contains(p, "/"+parent+"/") {
			t.Fatalf("run cgroup %s is not under --cgroup-parent %s", p, parent)
		}
	}
	sweptByNextRun(t, stale)
}

// killedMidRun starts jailrun (with args) on a sleep, SIGKILLs it once the sandboxed sleep runs, waits for
// the sandbox to be gone, and returns the run cgroups it left.
func killedMidRun(t *testing.T, args ...string) (stale []string) {
	t.Helper()
	marker := sleepMarker()
	c := startJailrun(t, append(args, "--", "/bin/sleep", marker)...)
	deadline := time.Now().Add(5 * time.Second)
	for len(procsStarting("/bin/sleep "+marker)) < 1 && time.Now().Before(deadline) { // the sandboxed sleep runs
		time.Sleep(10 * time.Millisecond)
	}
	stale = cgroupsMatching(t, fmt.Sprintf(".%d.", c.Process.Pid))
	c.Process.Kill()
	c.Wait()
	if len(stale) == 0 {
		t.Fatalf("no run cgroup found while the sandbox ran: %s", stderrOf(c))
	}
	waitGone(t, "sleep "+marker, 3*time.Second)
	return stale
}

// sweptByNextRun runs jailrun once more (with the default parent) and checks that its janitor removed stale.
func sweptByNextRun(t *testing.T, stale []string) {
	t.Helper()
	r := jailrun(t, []string{"--quiet", "--", "/bin/true"})
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("stale cgroup %s survived the janitor", p)
		}
	}
}

func TestMissingControllerIsRefused(t *testing.T) {
	requirePrivileged(t)
	// io_weight needs the io (v2) or blkio weight (v1) controller; when this host lacks it the run must
	// be refused naming it, never run unlimited. When the host has it, the limit must show as enforced.
	r := jailrun(t, []string{"--policy", policyFile(t, `"limits": {"io_weight": 100}`), "--", "/bin/true"})
	switch r.code {
	case 121:
		if !strings.Contains(r.stderr, "limits.io_weight") || !strings.Contains(r.stderr, "io") {
			t.Fatalf("refusal must name the setting and controller: %v", r)
		}
	case 0:
		enf, _ := r.result["enforced"].(map[string]any)
		lims, _ := enf["limits"].(map[string]any)
		if lims["io_weight"] == nil {
			t.Fatalf("ran without enforcing io_weight: %v", r.result)
		}
		// A weight acts only through BFQ (v1, v2) or io.cost (v2): reported as enforced, one must be on.
		bfq := false
		scheds, _ := filepath.Glob("/sys/block/*/queue/scheduler")
		for _, f := range scheds {
			if b, _ := os.ReadFile(f); strings.Contains(string(b), "[bfq]") {
				bfq = true
			}
		}
		qos, _ := os.ReadFile("/sys/fs/cgroup/io.cost.qos")
		if !bfq && !strings.Contains(string(qos), "enable=1") {
			t.Fatalf("io_weight reported enforced, but no device uses BFQ and io.cost is off: %v", r.result)
		}
	default:
		t.Fatalf("unexpected: %v", r)
	}
	// Marked best effort, the same policy runs and the result says what was skipped.
	r = jailrun(t, []string{"--policy", policyFile(t, `"limits": {"io_weight": 100}, "require": {"best_effort": ["limits.io_weight"]}`), "--", "/bin/true"})
	if r.code != 0 {
		t.Fatalf("best effort run failed: %v", r)
	}
	t.Logf("io_weight best effort: skipped=%v", r.result["skipped"])
}

// sleepMarker is a sleep duration no other test run on this host uses at the same time (several suites
// may run at once on one machine), so procsMatching finds this test's processes only.
func sleepMarker() string {
	return fmt.Sprintf("%d.%d", 5000+time.Now().UnixNano()%4000, os.Getpid())
}

func startJailrun(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	c := jailrunCmd(context.Background(), args...)
	c.Stderr = new(bytes.Buffer) // for failure messages: stderrOf(c) after Wait
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	return c
}

// stderrOf is what a command from startJailrun wrote to stderr; read it only after Wait.
func stderrOf(c *exec.Cmd) string {
	if b, ok := c.Stderr.(*bytes.Buffer); ok {
		return b.String()
	}
	return ""
}

// SIGTERM to jailrun stops the sandbox, removes its cgroup and exits as if killed by SIGTERM.
func TestSigtermCleansUp(t *testing.T) {
	requirePrivileged(t)
	marker := sleepMarker()
	c := startJailrun(t, "--quiet", "--", "/bin/sleep", marker)
	deadline := time.Now().Add(5 * time.Second)
	for len(procsStarting("/bin/sleep "+marker)) < 1 && time.Now().Before(deadline) { // the sandboxed sleep runs
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	err := c.Wait()
	ee, ok := err.(*exec.ExitError)
	if !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) {
		t.Fatalf("want exit %d, got %v; stderr %q", 128+int(syscall.SIGTERM), err, stderrOf(c))
	}
	waitGone(t, "sleep "+marker, 3*time.Second)
	if left := cgroupsMatching(t, fmt.Sprintf(".%d.", c.Process.Pid)); len(left) > 0 {
		t.Fatalf("cgroup left after SIGTERM: %v", left)
	}
}

// A --cgroup-parent whose v1 cpuset lacks the CPUs a policy asks for is this host's limit, not a bad
// policy: refused with 121 naming limits.cpuset (the kernel answers EACCES there), skipped under best_effort.
func TestCpusetOutsideTheParent(t *testing.T) {
	requireRoot(t) // makes a cgroup at the hierarchy root
	root := "/sys/fs/cgroup/cpuset"
	if _, err := os.Stat(filepath.Join(root, "cpuset.cpus")); err != nil {
		t.Skip("no cgroup v1 cpuset hierarchy here (v2 narrows a cpuset to its parent's CPUs instead)")
	}
	if runtime.NumCPU() < 2 {
		t.Skip("needs 2 CPUs: a parent with CPU 0 only, a policy asking for CPU 1")
	}
	name := fmt.Sprintf("jailrun-e2e-cpuset-%d", os.Getpid())
	parent := filepath.Join(root, name)
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join(parent, "*", "*"))
		for i := len(dirs) - 1; i >= 0; i-- {
			os.Remove(dirs[i])
		}
		dirs, _ = filepath.Glob(filepath.Join(parent, "*"))
		for _, d := range dirs {
			os.Remove(d)
		}
		os.Remove(parent)
	})
	mems, _ := os.ReadFile(filepath.Join(root, "cpuset.mems"))
	if err := os.WriteFile(filepath.Join(parent, "cpuset.cpus"), []byte("0"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(parent, "cpuset.mems"), mems, 0o644); err != nil {
		t.Fatal(err)
	}
	r := jailrun(t, []string{"--cgroup-parent", "/" + name, "--policy", policyFile(t, `"limits": {"cpuset": "1"}`), "--", "/bin/true"})
	if r.code != 121 || !strings.Contains(r.stderr, "limits.cpuset") {
		t.Fatalf("cpuset 1 under a parent with CPU 0: want exit 121 naming limits.cpuset, got %v", r)
	}
	r = jailrun(t, []string{"--cgroup-parent", "/" + name, "--policy", policyFile(t, `"limits": {"cpuset": "1"}, "require": {"best_effort": ["limits.cpuset"]}`), "--", "/bin/true"})
	if r.code != 0 || fmt.Sprint(r.result["skipped"]) != "[limits.cpuset]" {
		t.Fatalf("cpuset 1 best effort under a parent with CPU 0: want ok with limits.cpuset skipped, got %v", r)
	}
}

// A --cgroup-parent with less memory than the policy's limit: the run ends out of memory, and the verdict
// says the sandbox's own limit was not what ran out (it never claims limits.memory).
func TestMemoryOfTheParent(t *testing.T) {
	requireRoot(t) // makes a cgroup at the hierarchy root
	needPython(t)
	root := "/sys/fs/cgroup/memory"
	if _, err := os.Stat(filepath.Join(root, "memory.limit_in_bytes")); err != nil {
		t.Skip("no cgroup v1 memory hierarchy here")
	}
	name := fmt.Sprintf("jailrun-e2e-memory-%d", os.Getpid())
	parent := filepath.Join(root, name)
	if err := os.Mkdir(parent, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		dirs, _ := filepath.Glob(filepath.Join(parent, "*"))
		for _, d := range dirs {
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				os.Remove(d)
			}
		}
		os.Remove(parent)
	})
	if err := os.WriteFile(filepath.Join(parent, "memory.limit_in_bytes"), []byte("64M"), 0o644); err != nil {
		t.Fatal(err)
	}
	r := jailrun(t, []string{"--quiet", "--cgroup-parent", "/" + name, "--", "/usr/bin/python3", "-c",
		"b = bytearray(150 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1"})
	if r.status() != "memory_limit" || !strings.Contains(fmt.Sprint(r.result["message"]), "before limits.memory") || r.result["limit"] != nil {
		t.Fatalf("out of memory through the parent's 64M: want memory_limit without claiming limits.memory, got %v\n%v", r, r.result)
	}
}
