package tests

import (
	"os"
	"strings"
	"testing"
)

// As an unprivileged user with user namespaces, the sandbox is the same as under root except for the ids
// it maps to and the cgroup: without a delegated cgroup a policy that requires limits is refused with the
// way to delegate one, and runs when it allows them to be skipped.
func TestRootless(t *testing.T) {
	needSetpriv(t)
	requireUserns(t)
	dir := sharedDir(t)
	// The VM lane's rootless pass runs in a delegated cgroup v2 subtree; when the tests run as root they drop
	// to uid 65534, which has none.
	delegated := os.Getenv("JAILRUN_VM") == "cgroup2" && os.Geteuid() != 0

	t.Run("limits required", func(t *testing.T) {
		r := unprivileged(t, dir, false, "--", "/bin/echo", "ran")
		if delegated {
			if r.code != 0 || r.stdout != "ran\n" {
				t.Fatalf("with a delegated cgroup strict must run: %v", r)
			}
			return
		}
		if r.code != 121 || r.stdout != "" || !strings.Contains(r.stderr, "limits.memory") || !strings.Contains(r.stderr, "delegated") {
			t.Fatalf("want a refusal naming limits.memory and how to delegate, got %v", r)
		}
	})
	t.Run("limits best effort", func(t *testing.T) {
		pol := writeShared(t, dir, "be.json", `{"version": 1, "extends": "strict", "require": {"best_effort": ["limits"]}}`)
		r := unprivileged(t, dir, false, "--policy", pol, "--", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map")
		if r.code != 0 || !strings.HasPrefix(r.stdout, "1000\n") {
			t.Fatalf("run: %v", r)
		}
		me := "65534"
		if os.Geteuid() != 0 {
			me = strings.TrimSpace(strings.Fields(strings.Split(readFile(t, "/proc/self/status"), "Uid:")[1])[0])
		}
		if f := strings.Fields(strings.SplitN(r.stdout, "\n", 2)[1]); len(f) != 3 || f[0] != "1000" || f[1] != me || f[2] != "1" {
			t.Fatalf("uid_map should map 1000 to the caller's uid %s only: %q", me, r.stdout)
		}
		if r.result["mode"] != "namespaces" {
			t.Fatalf("mode %v", r.result["mode"])
		}
		enf, _ := r.result["enforced"].(map[string]any)
		if ns := strings.Join(toStrings(enf["namespaces"]), " "); !strings.Contains(ns, "user") || !strings.Contains(ns, "pid") || enf["landlock"] == nil {
			t.Fatalf("enforced: %v", enf)
		}
		if !delegated && !strings.Contains(strings.Join(toStrings(r.result["skipped"]), " "), "limits.memory") {
			t.Fatalf("skipped must list limits.memory without a delegated cgroup: %v", r.result["skipped"])
		}
	})
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
