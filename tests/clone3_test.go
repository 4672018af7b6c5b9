package tests

import (
	"os"
	"strings"
	"testing"
)

// A host whose seccomp profile answers clone3 with ENOSYS (Docker's default profile does) still gets the
// whole sandbox: jailrun falls back to plain clone, places the child in its cgroup itself (on cgroup v2
// there is no CLONE_INTO_CGROUP then), and the cgroup namespace is rooted at the run's own cgroup. Before,
// a v2 host failed every run with "clone3: function not implemented".
func TestWithoutClone3(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	harness := under(nousernsBin(t), "--clone3-only")
	var idMap []string
	if os.Geteuid() != 0 {
		// The harness sets no_new_privs to install its filter, under which the setuid newuidmap cannot write
		// a map of subordinate ids: map the caller's own.
		idMap = []string{"--id-map", "caller"}
	}
	launch := func(args ...string) run {
		t.Helper()
		return jailrun(t, append(append([]string(nil), idMap...), args...), harness)
	}
	r := launch("--", "/bin/cat", "/proc/self/cgroup")
	if r.code != 0 || r.status() != "ok" {
		t.Fatalf("strict without clone3: %v", r)
	}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		if !strings.HasSuffix(line, ":/") {
			t.Errorf("/proc/self/cgroup line %q: the cgroup namespace is not rooted at the run's cgroup", line)
		}
	}
	if enf, _ := r.result["enforced"].(map[string]any); enf["cgroup"] == nil || enf["cgroup"] == "" {
		t.Errorf("enforced.cgroup %v: the run has no cgroup", enf["cgroup"])
	}
	// The memory limit bites, so the child really was placed in the run's cgroup.
	r = launch("--quiet", "--memory", "64M", "--", "/usr/bin/python3", "-c", "x = bytearray(1 << 30)")
	if r.status() != "memory_limit" {
		t.Fatalf("memory hog without clone3: status %q, want memory_limit\n%v", r.status(), r)
	}
}
