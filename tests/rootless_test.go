package tests

import (
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jailrun/jailrun/namespaces"
)

// As an unprivileged user with user namespaces, the sandbox is the same as under root except for the ids
// it maps to and the cgroup: without a delegated cgroup a policy that requires limits is refused with the
// way to delegate one, and runs when it allows them to be skipped.
func TestRootless(t *testing.T) {
	needSetpriv(t)
	requireUserns(t)
	dir := sharedDir(t)
	// The rootless lanes may give the test user a cgroup of its own (make e2e-rootless on v1, the VM lane on
	// v2); when the tests run as root they drop to uid 65534, which has none.
	delegated := delegatedRootless()

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
		r := unprivileged(t, dir, false, "--policy", pol, "--id-map", "caller", "--", "/bin/sh", "-c", "id -u; cat /proc/self/uid_map")
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
		if enf, _ := r.result["enforced"].(map[string]any); enf["id_map"] != "caller" || fmt.Sprint(enf["host_uid"]) != me {
			t.Fatalf("enforced id_map %v host_uid %v, want caller %s", enf["id_map"], enf["host_uid"], me)
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

// callerSubIDs are the subordinate ids the user these tests run jailrun as (65534 under root, see
// unprivileged) may map, and whether newuidmap/newgidmap are installed to map them.
func callerSubIDs(t *testing.T) (uid, gid namespaces.SubIDRange, ok bool) {
	t.Helper()
	id := uint32(os.Geteuid())
	if id == 0 {
		id = 65534
	}
	name := strconv.FormatUint(uint64(id), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	uid, okU, err := namespaces.LookupSubIDs(namespaces.SubUIDFile, name, id)
	if err != nil {
		t.Fatal(err)
	}
	gid, okG, err := namespaces.LookupSubIDs(namespaces.SubGIDFile, name, id)
	if err != nil {
		t.Fatal(err)
	}
	return uid, gid, okU && okG && namespaces.FindHelper("newuidmap") != "" && namespaces.FindHelper("newgidmap") != ""
}

// With subordinate ids (make e2e-rootless gives its test user a range and installs uidmap), the sandbox's
// user is none of the caller's ids: it keeps no supplementary groups and cannot write what only the caller
// may write, even through a writable bind mount. The seccomp listener, limits and kills still work across
// the uid change.
func TestRootlessSubordinateIDs(t *testing.T) {
	needSetpriv(t)
	requireUserns(t)
	dir := sharedDir(t)
	su, sg, ok := callerSubIDs(t)
	if !ok {
		// Under root the tests drop to nobody, which has no range: only the refusal can be shown.
		if os.Geteuid() != 0 && os.Getenv("JAILRUN_REQUIRE_SUBIDS") == "1" {
			t.Fatalf("JAILRUN_REQUIRE_SUBIDS=1 but this user has no subordinate ids or newuidmap is missing")
		}
		r := unprivileged(t, dir, false, "--id-map", "subordinate", "--", "/bin/true")
		if r.code != 121 || !strings.Contains(r.stderr, "subordinate id mapping") || r.result != nil {
			t.Fatalf("--id-map subordinate without subordinate ids: want exit 121 naming what is missing, got %v", r)
		}
		if os.Geteuid() == 0 {
			t.Skip("the mapping itself is tested in the rootless lane (make e2e-rootless), whose user has subordinate ids")
		}
		t.Skip("this user has no subordinate ids (or newuidmap is missing)")
	}
	owned := filepath.Join(dir, "owned")
	if err := os.MkdirAll(owned, 0o755); err != nil {
		t.Fatal(err)
	}
	pol := writeShared(t, dir, "sub.json", fmt.Sprintf(`{"version": 1, "extends": "strict",
		"filesystem": {"mounts": [{"type": "bind", "src": %q, "dst": "/out", "readonly": false}]},
		"require": {"best_effort": ["limits"]}}`, owned))
	script := "cat /proc/self/uid_map /proc/self/gid_map /proc/self/setgroups; id -G; (: > /out/f) 2>/dev/null && echo wrote || echo refused"
	for _, mode := range []string{"subordinate", "auto"} {
		t.Run(mode, func(t *testing.T) {
			r := unprivileged(t, dir, false, "--policy", pol, "--id-map", mode, "--", "/bin/sh", "-c", script)
			// Each live sandbox takes its own index k into both subordinate ranges.
			enf, _ := r.result["enforced"].(map[string]any)
			hu, _ := enf["host_uid"].(float64)
			hg, _ := enf["host_gid"].(float64)
			k := uint32(hu) - su.Start
			if enf["id_map"] != "subordinate" || uint32(hu) < su.Start || k >= min(su.Count, sg.Count) || uint32(hg) != sg.Start+k {
				t.Fatalf("enforced: %v, want subordinate ids at the same index into %v and %v", enf, su, sg)
			}
			want := fmt.Sprintf("1000 %d 1|1000 %d 1|allow|1000|refused", uint32(hu), uint32(hg))
			var got []string
			for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				got = append(got, strings.Join(strings.Fields(l), " "))
			}
			if r.code != 0 || strings.Join(got, "|") != want {
				t.Fatalf("want maps to %v/%v, setgroups allowed, only gid 1000, the caller's directory not writable:\nwant %q\ngot  %q\n%v", hu, hg, want, strings.Join(got, "|"), r)
			}
		})
	}
	t.Run("concurrent runs get distinct ids", func(t *testing.T) {
		if min(su.Count, sg.Count) < 2 {
			t.Skip("one subordinate id: concurrent sandboxes share it (the result's enforced.id_note says so)")
		}
		var wg sync.WaitGroup
		runs := make([]run, 2)
		for i := range runs {
			d := sharedDir(t)
			wg.Add(1)
			go func() {
				defer wg.Done()
				runs[i] = unprivileged(t, d, false, "--id-map", "subordinate", "--", "/bin/sleep", "1")
			}()
		}
		wg.Wait()
		var ids []any
		for _, r := range runs {
			enf, _ := r.result["enforced"].(map[string]any)
			if r.code != 0 || enf["id_note"] != nil {
				t.Fatalf("%v enforced %v", r, enf)
			}
			ids = append(ids, enf["host_uid"])
		}
		if ids[0] == ids[1] {
			t.Errorf("two concurrent sandboxes share subordinate host uid %v", ids[0])
		}
	})
	t.Run("caller can write", func(t *testing.T) {
		// The same policy with the caller's own ids: the directory is writable, which is what subordinate
		// ids take away.
		r := unprivileged(t, dir, false, "--policy", pol, "--id-map", "caller", "--", "/bin/sh", "-c", ": > /out/f && echo wrote")
		if r.code != 0 || r.stdout != "wrote\n" {
			t.Fatalf("%v", r)
		}
	})
	t.Run("violation reported", func(t *testing.T) {
		r := unprivileged(t, dir, false, "--policy", pol, "--id-map", "subordinate", "--", "/usr/bin/unshare", "-U", "true")
		v, _ := r.result["seccomp_violation"].(map[string]any)
		if r.result["status"] != "seccomp_violation" || v == nil || v["syscall"] != "unshare" {
			t.Fatalf("want a seccomp violation naming unshare: %v", r)
		}
	})
	t.Run("wall time kill", func(t *testing.T) {
		wall := writeShared(t, dir, "subwall.json", `{"version": 1, "extends": "strict", "limits": {"wall_time": "300ms"},
			"require": {"best_effort": ["limits.memory", "limits.pids", "limits.cpu_time", "limits.cpu"]}}`)
		r := unprivileged(t, dir, false, "--policy", wall, "--id-map", "subordinate", "--", "/bin/sleep", "30")
		if r.result["status"] != "wall_time_limit" {
			t.Fatalf("want status wall_time_limit: %v", r)
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
