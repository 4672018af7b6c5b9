package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var nousernsOnce struct {
	sync.Once
	bin string
	err error
}

// nousernsBin builds tests/nouserns, the harness that denies user namespaces to what it runs, into a
// directory any user can reach.
func nousernsBin(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("JAILRUN_NOUSERNS"); p != "" {
		return p // built by the lane (make e2e-rootless), for a test user that cannot run the Go toolchain
	}
	nousernsOnce.Do(func() {
		dir, err := runTempDir("jailrun-nouserns-")
		if err != nil {
			nousernsOnce.err = err
			return
		}
		os.Chmod(dir, 0o755)
		nousernsOnce.bin = filepath.Join(dir, "nouserns")
		out, err := exec.Command("go", "build", "-o", nousernsOnce.bin, "./nouserns").CombinedOutput()
		if err != nil {
			nousernsOnce.err = err
			nousernsOnce.bin = string(out)
		}
	})
	if nousernsOnce.err != nil {
		// Not a missing privilege: a test binary shipped without its source tree (the VM lane) cannot build it.
		t.Skipf("cannot build tests/nouserns (set JAILRUN_NOUSERNS to a built one): %v\n%s", nousernsOnce.err, nousernsOnce.bin)
	}
	return nousernsOnce.bin
}

// sharedDir is a directory the unprivileged user the degraded tests run as can read and write.
func sharedDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "jailrun-degraded-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

// denied runs jailrun as an unprivileged user (uid 65534 when the tests run as root, else the tests' own)
// under the nouserns harness: a host where creating a user namespace fails with EPERM.
func denied(t *testing.T, dir string, args ...string) run {
	t.Helper()
	return unprivileged(t, dir, true, args...)
}

// unprivileged runs jailrun as an unprivileged user, with or without the nouserns harness.
func unprivileged(t *testing.T, dir string, harness bool, args ...string) run {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c, resFile := unprivilegedCmd(ctx, t, dir, harness, args...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	return collect(t, c, &out, &errb, resFile)
}

// unprivilegedCmd is the command unprivileged runs (setpriv and the harness exec jailrun: its pid is the
// command's), and where its result goes.
func unprivilegedCmd(ctx context.Context, t *testing.T, dir string, harness bool, args ...string) (*exec.Cmd, string) {
	t.Helper()
	resFile := filepath.Join(dir, "result.json")
	os.Remove(resFile)
	argv := append([]string{jailrunBin, "--result", resFile}, args...)
	if len(args) > 0 && args[0] == "doctor" {
		argv = append([]string{jailrunBin}, args...)
	}
	if harness {
		argv = append([]string{nousernsBin(t)}, argv...)
	}
	if os.Geteuid() == 0 {
		argv = append([]string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"}, argv...)
	}
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	c.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + dir}
	if p := os.Getenv("JAILRUN_CGROUP_PARENT"); p != "" && os.Geteuid() != 0 {
		c.Env = append(c.Env, "JAILRUN_CGROUP_PARENT="+p) // delegated to this very user
	}
	return c, resFile
}

func writeShared(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// needLandlock: degraded mode needs Landlock; on a kernel without it only the refusal can be tested
// (TestDegradedRefusedWithoutOptIn).
func needLandlock(t *testing.T) {
	t.Helper()
	if kernelLandlockABI() == 0 {
		t.Skip("degraded mode needs Landlock, and this kernel has none")
	}
}

func needSetpriv(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		if _, err := exec.LookPath("setpriv"); err != nil {
			t.Skip("needs setpriv (util-linux) to drop to an unprivileged user")
		}
	}
}

// Without the policy's consent, a host that blocks user namespaces gets a refusal that names the setting,
// the host's reason and how to opt in; nothing runs.
func TestDegradedRefusedWithoutOptIn(t *testing.T) {
	needSetpriv(t)
	dir := sharedDir(t)
	for _, tc := range []struct {
		name, policy string
		want         []string
	}{
		{"strict", "strict", []string{"namespaces.user", "operation not permitted", `"namespaces" in require.best_effort`, "not allowed now: namespaces.user, namespaces.pid"}},
		{"only some namespaces allowed", writeShared(t, dir, "some.json", `{"version": 1, "extends": "strict", "require": {"best_effort": ["namespaces.user", "limits"]}}`),
			[]string{"not allowed now: namespaces.pid, namespaces.mount"}},
		{"landlock off", writeShared(t, dir, "off.json", `{"version": 1, "extends": "strict", "filesystem": {"landlock": "off"}, "require": {"best_effort": ["namespaces", "limits"]}}`),
			[]string{"degraded mode", `filesystem.landlock is "off"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := denied(t, dir, "--policy", tc.policy, "--", "/bin/echo", "ran")
			if r.code != 121 || r.stdout != "" {
				t.Fatalf("want exit 121 and nothing run, got %v", r)
			}
			for _, w := range tc.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr lacks %q: %s", w, r.stderr)
				}
			}
		})
	}
}

// With "namespaces" allowed best effort, the run goes ahead without namespaces, under seccomp, Landlock on
// the host's tree, rlimits and no_new_privs, and the result says exactly what was missing.
func TestDegradedMode(t *testing.T) {
	needSetpriv(t)
	needLandlock(t)
	dir := sharedDir(t)
	secret := writeShared(t, dir, "secret", "host file\n")
	pol := writeShared(t, dir, "deg.json", `{"version": 1, "name": "deg", "extends": "strict",
		"require": {"best_effort": ["namespaces", "limits"]}}`)
	// Control: the unprivileged user can read the file without jailrun, so a denial inside is Landlock's.
	// The writable tmpfs is a private directory under jailrun's TMPDIR, which unprivileged's environment
	// leaves unset: /tmp (not the test process's own TMPDIR, which the VM lane sets).
	script := `id -u; cat ` + secret + ` 2>&1; echo w > "$HOME/f" && cat "$HOME/f"; pwd | grep -q '^/tmp/jailrun-' && echo private-tmp; ls /usr/bin/env`
	r := denied(t, dir, "--policy", pol, "--", "/bin/sh", "-c", script)
	if r.code != 0 {
		t.Fatalf("degraded run failed: %v", r)
	}
	wantUID := "65534"
	if os.Geteuid() != 0 {
		wantUID = strings.TrimSpace(strings.Split(func() string { b, _ := exec.Command("id", "-u").Output(); return string(b) }(), "\n")[0])
	}
	want := wantUID + "\ncat: " + secret + ": Permission denied\nw\nprivate-tmp\n/usr/bin/env\n"
	if r.stdout != want {
		t.Fatalf("want %q, got %v", want, r)
	}
	if !strings.Contains(r.stderr, "jailrun: warning: degraded mode") {
		t.Errorf("no degraded-mode notice on stderr: %q", r.stderr)
	}
	res := r.result
	if res["mode"] != "degraded" {
		t.Fatalf("mode = %v", res["mode"])
	}
	missing := strings.Join(toStrings(res["missing_isolation"]), "\n")
	for _, w := range []string{"user:", "pid:", "mount:", "net:", "ipc:", "uts:", "cgroup:"} {
		if !strings.Contains(missing, w) {
			t.Errorf("missing_isolation lacks %q: %s", w, missing)
		}
	}
	skipped := strings.Join(toStrings(res["skipped"]), " ")
	for _, w := range []string{"namespaces.user", "namespaces.pid", "namespaces.mount", "namespaces.net"} {
		if !strings.Contains(skipped, w) {
			t.Errorf("skipped lacks %s: %s", w, skipped)
		}
	}
	enf, _ := res["enforced"].(map[string]any)
	if enf["seccomp"] != true || enf["no_new_privs"] != true || enf["landlock"] == nil || len(toStrings(enf["namespaces"])) != 0 {
		t.Errorf("enforced: %v", enf)
	}
	if _, err := os.Stat(filepath.Join(dir, "f")); err == nil {
		t.Errorf("$HOME of the policy (/tmp) must be a private directory, not the caller's home")
	}
}

// Without a pid namespace, what the command leaves running in its process group dies with the run.
func TestDegradedKillsLeftovers(t *testing.T) {
	needSetpriv(t)
	needLandlock(t)
	dir := sharedDir(t)
	pol := writeShared(t, dir, "deg.json", `{"version": 1, "extends": "strict", "require": {"best_effort": ["namespaces", "limits"]}}`)
	marker := sleepMarker()
	r := denied(t, dir, "--policy", pol, "--", "/bin/sh", "-c", "/bin/sleep "+marker+" & echo started")
	if r.code != 0 || r.stdout != "started\n" {
		t.Fatalf("run: %v", r)
	}
	waitGone(t, "sleep "+marker, 5*time.Second)
}

// A degraded jailrun killed with SIGKILL leaves nothing: without a pid namespace its reaper, which learns of
// the death from the status pipe, kills the command's whole tree (also a member that made its own session),
// and the next degraded run removes the private directory the killed one made for the policy's /tmp.
func TestDegradedCleansUpAfterSIGKILL(t *testing.T) {
	needSetpriv(t)
	needLandlock(t)
	dir := sharedDir(t)
	pol := writeShared(t, dir, "deg.json", `{"version": 1, "extends": "strict", "require": {"best_effort": ["namespaces", "limits"]}}`)
	marker := sleepMarker()
	// jailrun runs with PATH and HOME only: its temporary directory is /tmp.
	before, _ := filepath.Glob("/tmp/jailrun-*")
	c, _ := unprivilegedCmd(context.Background(), t, dir, true, "--policy", pol, "--", "/bin/sh", "-c",
		"/bin/sleep "+marker+" & /usr/bin/setsid /bin/sleep "+marker+" & /bin/sleep "+marker)
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(procsStarting("/bin/sleep "+marker)) < 3 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(procsStarting("/bin/sleep " + marker)); n != 3 {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("%d of the 3 sleeps started", n)
	}
	after, _ := filepath.Glob("/tmp/jailrun-*")
	var private []string
	for _, p := range after {
		if !slices.Contains(before, p) && strings.Contains(p, fmt.Sprintf(".%d.", c.Process.Pid)) {
			private = append(private, p)
		}
	}
	c.Process.Kill()
	c.Wait()
	waitGone(t, "sleep "+marker, 5*time.Second)
	if len(private) == 0 {
		t.Fatalf("no private directory of jailrun %d found in /tmp: %v", c.Process.Pid, after)
	}
	if r := denied(t, dir, "--policy", pol, "--", "/bin/true"); r.code != 0 {
		t.Fatalf("the next run: %v", r)
	}
	for _, p := range private {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("the killed run's private directory %s survived the next run", p)
		}
	}
}

func toStrings(v any) []string {
	a, _ := v.([]any)
	out := make([]string, 0, len(a))
	for _, x := range a {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

// jailrun doctor, on the same host, tells which mode each policy gets and what blocks user namespaces.
func TestDoctorExplainsMode(t *testing.T) {
	needSetpriv(t)
	needLandlock(t)
	dir := sharedDir(t)
	deg := writeShared(t, dir, "deg.json", `{"version": 1, "extends": "strict", "require": {"best_effort": ["namespaces", "limits"]}}`)
	// The launcher refuses degraded mode without no_new_privs; doctor used to call it degraded.
	// No seccomp filter: it needs no_new_privs, so a policy extending strict could not turn it off.
	nnp := writeShared(t, dir, "deg-nnp.json", `{"version": 1, "process": {"no_new_privs": false, "unsafe": true}, "require": {"best_effort": ["namespaces", "limits"]}}`)
	for _, tc := range []struct {
		policy, mode string
		code         int
	}{{deg, "degraded", 0}, {"strict", "refused", 121}, {nnp, "refused", 121}} {
		r := denied(t, dir, "doctor", "--json", "--policy", tc.policy)
		var rep struct {
			Sandbox struct {
				Mode   string `json:"mode"`
				Userns struct {
					Available bool `json:"available"`
					Blockers  []struct{ Knob, Fix string }
				} `json:"user_namespaces"`
			} `json:"sandbox"`
		}
		if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
			t.Fatalf("doctor --json: %v\n%v", err, r)
		}
		if r.code != tc.code || rep.Sandbox.Mode != tc.mode || rep.Sandbox.Userns.Available {
			t.Fatalf("%s: want mode %s exit %d, got %+v exit %d: %s", tc.policy, tc.mode, tc.code, rep.Sandbox, r.code, r.stderr)
		}
		if b := rep.Sandbox.Userns.Blockers; len(b) == 0 || !strings.Contains(b[0].Knob, "seccomp") || b[0].Fix == "" {
			t.Errorf("the harness's seccomp filter should be named as the blocker, with a fix: %+v", b)
		}
	}
}
