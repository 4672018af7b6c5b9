package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCgroupV1ChildJoinsItself: on cgroup v1 the sandbox's pid 1 joins its cgroup itself, writing 0 to each
// hierarchy's tasks file before anything of the policy runs (no RCU grace-period wait, unlike a pid written
// by the parent, which the setup trace showed as "join cgroup"). The command must be in the run's cgroup in
// every hierarchy jailrun uses, and limits still bite (pids).
func TestCgroupV1ChildJoinsItself(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	pol := filepath.Join(dir, "nocgns.json")
	// Without a cgroup namespace /proc/self/cgroup shows the host paths.
	os.WriteFile(pol, []byte(`{"version": 1, "name": "nocgns", "extends": "strict", "namespaces": {"cgroup": false}, "limits": {"pids": 3}}`), 0o644)
	r := jailrun(t, []string{"--quiet", "--trace-setup", "--policy", pol, "--", "/bin/sh", "-c", "cat /proc/self/cgroup; for i in 1 2 3 4 5 6; do sleep 1 & done 2>/dev/null; wait"})
	enforced, _ := r.result["enforced"].(map[string]any)
	if enforced["cgroup"] != "v1" {
		t.Skipf("cgroup %v, not v1: the child starts in its cgroup with CLONE_INTO_CGROUP", enforced["cgroup"])
	}
	// pids 3 (plus jailrun's pid 1): six background sleeps cannot all start.
	if r.status() != "pids_limit" {
		t.Fatalf("status %s, want pids_limit: %v", r.status(), r)
	}
	trace, _ := r.result["setup_trace"].([]any)
	for _, p := range trace {
		if m, _ := p.(map[string]any); m["name"] == "join cgroup" {
			t.Errorf("the parent still joined the child to its cgroup (setup_trace %v)", trace)
		}
	}
	// The run's cgroup is the leaf "jr.*" in each hierarchy jailrun uses (memory, pids, cpuacct, ...).
	leaf := ""
	joined := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 || !strings.Contains(parts[2], "/jailrun/") {
			continue
		}
		base := filepath.Base(parts[2])
		if leaf == "" {
			leaf = base
		}
		if base != leaf {
			t.Errorf("hierarchy %s: %s, not the run's cgroup %s", parts[1], parts[2], leaf)
		}
		joined[parts[1]] = true
	}
	for _, ctl := range []string{"memory", "pids"} {
		if !joined[ctl] {
			t.Errorf("the command is not in the run's %s cgroup:\n%s", ctl, r.stdout)
		}
	}
}
