// Package tests holds end-to-end and adversarial tests that run the real jailrun binary against the real
// kernel. They need root (or at least user namespaces); without them they skip with the reason, unless
// JAILRUN_REQUIRE_PRIVILEGED=1 (as in CI), which turns every such skip into a failure.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jailrun/jailrun/internal/testenv"
)

// jailrunBin is the binary under test: $JAILRUN_BIN, or one built for this test run.
var jailrunBin string

func TestMain(m *testing.M) {
	code := func() int {
		jailrunBin = os.Getenv("JAILRUN_BIN")
		if jailrunBin == "" {
			dir, err := os.MkdirTemp("", "jailrun-e2e-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			defer os.RemoveAll(dir)
			jailrunBin = filepath.Join(dir, "jailrun")
			build := exec.Command("go", "build", "-o", jailrunBin, "../cmd/jailrun")
			build.Stdout, build.Stderr = os.Stderr, os.Stderr
			if err := build.Run(); err != nil {
				fmt.Fprintln(os.Stderr, "building jailrun:", err)
				return 1
			}
		}
		defer removeRunDirs()
		return m.Run()
	}()
	os.Exit(code)
}

// runDirs are directories made once per test run (compiled probes shared by many tests), removed when
// the run ends: a test suite leaves nothing behind either.
var (
	runDirsMu sync.Mutex
	runDirs   []string
)

// runTempDir makes such a directory, readable by the sandbox's unprivileged ids.
func runTempDir(prefix string) (string, error) {
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		return "", err
	}
	runDirsMu.Lock()
	runDirs = append(runDirs, dir)
	runDirsMu.Unlock()
	return dir, os.Chmod(dir, 0o755)
}

func removeRunDirs() {
	runDirsMu.Lock()
	defer runDirsMu.Unlock()
	for _, d := range runDirs {
		os.RemoveAll(d)
	}
}

// inVM says the tests run in the cgroup v2 VM lane's software-emulated guest (tests/vm), where programs
// run 5-13 times slower: tests that only add load there skip it (skipInVM), covered on the host.
func inVM() bool { return testenv.InVM() }

func skipInVM(t *testing.T, why string) {
	t.Helper()
	if inVM() {
		t.Skipf("%s in the emulated VM lane; covered on the host", why)
	}
}

// rootlessLane says the tests run as an unprivileged user on purpose (make e2e-rootless, the VM lane's
// rootless pass): a test that needs root skips there even under JAILRUN_REQUIRE_PRIVILEGED=1, because that
// skip is what the lane expects, not a host that failed to provide root.
func rootlessLane() bool { return os.Getenv("JAILRUN_ROOTLESS") == "1" }

// delegatedRootless says the tests run as an unprivileged user that the harness gave a cgroup of its own
// (JAILRUN_CGROUP_PARENT: make e2e-rootless on a cgroup v1 or hybrid host, the VM lane's rootless pass on
// pure v2). Such a user gets everything root gets except the id mapping, so the whole suite runs, apart from
// tests that need root for their own setup (requireRoot).
func delegatedRootless() bool {
	return rootlessLane() && os.Geteuid() != 0 && os.Getenv("JAILRUN_CGROUP_PARENT") != ""
}

// requirePrivileged skips (or, under JAILRUN_REQUIRE_PRIVILEGED=1, fails) when the host cannot run sandboxes
// with every limit: as root, or as an unprivileged user with a delegated cgroup (delegatedRootless).
func requirePrivileged(t *testing.T) {
	t.Helper()
	if delegatedRootless() {
		return
	}
	requireRoot(t)
}

// requireRoot is requirePrivileged for tests that need root themselves (to chown their fixtures, say).
func requireRoot(t *testing.T) {
	t.Helper()
	why := ""
	if os.Geteuid() != 0 {
		why = "needs root"
	} else if _, err := os.Stat("/proc/self/ns/user"); err != nil {
		why = "needs user namespaces"
	}
	if why == "" {
		return
	}
	if rootlessLane() && os.Geteuid() != 0 {
		t.Skip(why + " (rootless lane)")
	}
	testenv.SkipOrFail(t, "privileged test cannot run: %s", why)
}

// run is one invocation of the binary.
type run struct {
	stdout, stderr string
	code           int
	result         map[string]any // parsed --result, when asked for
}

type runOpt func(*exec.Cmd)

func withEnv(kv ...string) runOpt { return func(c *exec.Cmd) { c.Env = append(c.Env, kv...) } }
func withStdin(s string) runOpt   { return func(c *exec.Cmd) { c.Stdin = strings.NewReader(s) } }
func withExtraFiles(f ...*os.File) runOpt {
	return func(c *exec.Cmd) { c.ExtraFiles = append(c.ExtraFiles, f...) }
}

// under runs jailrun under a harness (prefix[0] is its path, the rest its own arguments): the harness gets
// jailrun's command line after its own.
func under(prefix ...string) runOpt {
	return func(c *exec.Cmd) {
		c.Path = prefix[0]
		c.Args = append(append([]string(nil), prefix...), c.Args...)
	}
}

// jailrun runs the binary with args and a --result file, and returns what happened.
func jailrun(t *testing.T, args []string, opts ...runOpt) run {
	t.Helper()
	resFile := filepath.Join(t.TempDir(), "result.json")
	full := append([]string{"--result", resFile}, args...)
	if len(args) > 0 && (args[0] == "policy" || args[0] == "doctor" || args[0] == "run" || args[0] == "audit") {
		full = args // subcommands get exactly what the test says
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := jailrunCmd(ctx, full...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	for _, o := range opts {
		o(c)
	}
	return collect(t, c, &out, &errb, resFile)
}

// collect runs c (its stdout and stderr going to out and errb) and returns what happened: the exit code
// (128+N for a signal) and the --result file, when the run wrote one.
func collect(t *testing.T, c *exec.Cmd, out, errb *bytes.Buffer, resFile string) run {
	t.Helper()
	err := c.Run()
	r := run{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			r.code = 128 + int(ws.Signal())
		}
	} else if err != nil {
		t.Fatalf("running %v: %v", c.Args, err)
	}
	if b, err := os.ReadFile(resFile); err == nil {
		if err := json.Unmarshal(b, &r.result); err != nil {
			t.Fatalf("result file is not JSON: %v\n%s", err, b)
		}
	}
	return r
}

// sh runs a shell script inside the sandbox under the default policy (plus extra jailrun flags).
func sh(t *testing.T, script string, flags ...string) run {
	t.Helper()
	args := append(append([]string{}, flags...), "--", "/bin/sh", "-c", script)
	return jailrun(t, args)
}

func (r run) String() string {
	return fmt.Sprintf("exit %d\nstdout: %q\nstderr: %q", r.code, r.stdout, r.stderr)
}

// status returns the result's verdict.
func (r run) status() string {
	s, _ := r.result["status"].(string)
	return s
}

// procsStarting lists host pids whose command line starts with prefix: the processes of that command
// itself, not jailrun or a shell that only carry it as an argument.
func procsStarting(prefix string) []int {
	var pids []int
	for _, pid := range procsMatching(prefix) {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.HasPrefix(strings.ReplaceAll(string(b), "\x00", " "), prefix) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procsMatching lists host pids whose command line contains marker.
func procsMatching(marker string) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		if strings.Contains(strings.ReplaceAll(string(b), "\x00", " "), marker) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// waitGone waits until no host process matches marker.
func waitGone(t *testing.T, marker string, d time.Duration) {
	t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if len(procsMatching(marker)) == 0 {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	left := procsMatching(marker)
	for _, pid := range left {
		syscall.Kill(pid, syscall.SIGKILL) // the test fails, but leaves nothing running on the host
	}
	t.Fatalf("processes %v matching %q survived", left, marker)
}

func mountCount(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i >= 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// jailrunCmd is the one way these tests start the binary: with baseEnv, never the test's own environment,
// so every run honours JAILRUN_CGROUP_PARENT (the v2 VM lane) and sees the same PATH and HOME. Tests that
// run jailrun as another user (degraded_test.go) build their own.
func jailrunCmd(ctx context.Context, args ...string) *exec.Cmd {
	c := exec.CommandContext(ctx, jailrunBin, args...)
	c.Env = baseEnv()
	return c
}

// baseEnv is the environment jailrun runs with in these tests: a fixed PATH and HOME, plus where run cgroups
// go when the harness says (the v2 VM lane runs tests in a leaf cgroup that cannot have children).
func baseEnv() []string {
	env := []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/root"}
	if p := os.Getenv("JAILRUN_CGROUP_PARENT"); p != "" {
		env = append(env, "JAILRUN_CGROUP_PARENT="+p)
	}
	if p := os.Getenv("JAILRUN_ID_MAP"); p != "" {
		env = append(env, "JAILRUN_ID_MAP="+p)
	}
	return env
}

// filesInIDMap makes a test that copies files into a sandbox work rootless: a parent mapping subordinate ids
// cannot create files in the sandbox's box (sandbox.ErrUnsupported, docs/library.md), so rootless runs of
// such tests map the sandbox's user to the caller's own ids.
func filesInIDMap(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Setenv("JAILRUN_ID_MAP", "caller")
	}
}

// requireUserns is for tests that also run rootless: they need root or unprivileged user namespaces.
// Policies of such tests allow cgroup limits to be skipped (a rootless caller may have no delegated cgroup).
func requireUserns(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		requirePrivileged(t)
		return
	}
	err := exec.Command("unshare", "--user", "--map-root-user", "true").Run()
	if err == nil {
		return
	}
	if rootlessLane() {
		t.Fatalf("needs unprivileged user namespaces: unshare --user: %v", err)
	}
	testenv.SkipOrFail(t, "needs unprivileged user namespaces: unshare --user: %v", err)
}
