package tests

import (
	"strings"
	"testing"
)

// limits.pids counts the command's processes, not jailrun's own pid 1: pids 1 runs one process, and its
// first fork fails with EAGAIN (isolate's --processes=1).
func TestPidsOneMeansOneProcess(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	pol := policyFile(t, `"limits": {"pids": 1}`)
	r := jailrun(t, []string{"--policy", pol, "--", "/bin/true"})
	if r.code != 0 || r.status() != "ok" {
		t.Fatalf("a single process under pids 1: status %q\n%v", r.status(), r)
	}
	r = jailrun(t, []string{"--policy", pol, "--", "/usr/bin/python3", "-c", `import errno, os
try:
    pid = os.fork()
except OSError as e:
    print("fork:", errno.errorcode[e.errno])
else:
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    print("fork: ok")`})
	if got := strings.TrimSpace(r.stdout); got != "fork: EAGAIN" {
		t.Fatalf("fork under pids 1: %q, want EAGAIN\n%v", got, r)
	}
	if p := num(r, "peak_pids"); p != 1 {
		t.Errorf("peak_pids %v, want 1 (the command alone)", p)
	}
}

// An OOM kill ends the whole sandbox, on cgroup v1 (where jailrun watches the memory cgroup's OOM events)
// as on v2 (memory.oom.group): a shell whose child was OOM-killed must not go on to its next command.
func TestOOMKillEndsWholeSandbox(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	pol := policyFile(t, `"limits": {"memory": "64M", "wall_time": "60s"}`)
	r := jailrun(t, []string{"--quiet", "--policy", pol, "--", "/bin/sh", "-c",
		`/usr/bin/python3 -c "x = bytearray(1 << 30)"; echo survived; sleep 30; echo slept`})
	if r.status() != "memory_limit" {
		t.Fatalf("status %q, want memory_limit\n%v", r.status(), r)
	}
	if strings.Contains(r.stdout, "survived") || strings.Contains(r.stdout, "slept") {
		t.Fatalf("the shell ran on after its child's OOM kill: stdout %q", r.stdout)
	}
	if sig, _ := r.result["signal_name"].(string); sig != "SIGKILL" {
		t.Errorf("signal %q, want SIGKILL (the whole sandbox killed)", sig)
	}
	if w := num(r, "wall_time_ms"); w >= 30000 {
		t.Errorf("wall_time_ms %v: the sleep ran to its end", w)
	}
}
