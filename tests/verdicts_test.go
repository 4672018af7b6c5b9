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
