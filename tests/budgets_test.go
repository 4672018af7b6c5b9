package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// The kernel keeps many budgets per user (ucounts, charged at every level of the user namespace hierarchy,
// and per-user pipe pages). These tests have sandbox A use one up while sandbox B, started concurrently
// under the same policy, and host processes of root and of uid 65534 check that theirs is untouched: a
// sandbox must not be able to starve its neighbours or the host.

var (
	budgetProbeOnce sync.Once
	budgetProbeDir  string
	budgetProbeErr  error
)

// budgetProbe compiles tests/probes/budget_probe.c statically, once per test run.
func budgetProbe(t *testing.T) string {
	t.Helper()
	budgetProbeOnce.Do(func() {
		budgetProbeDir, budgetProbeErr = runTempDir("jailrun-budget-probe-")
		if budgetProbeErr != nil {
			return
		}
		os.Chmod(budgetProbeDir, 0o755)
		out, err := exec.Command("gcc", "-static", "-O2", "-o", filepath.Join(budgetProbeDir, "budget_probe"), "probes/budget_probe.c").CombinedOutput()
		if err != nil {
			budgetProbeErr = fmt.Errorf("gcc: %v\n%s", err, out)
		}
	})
	if budgetProbeErr != nil {
		t.Fatalf("building the budget probe: %v", budgetProbeErr)
	}
	return budgetProbeDir
}

func budgetPolicy(t *testing.T, landlock string) string {
	dir := budgetProbe(t)
	p := filepath.Join(t.TempDir(), "budget.json")
	os.WriteFile(p, []byte(fmt.Sprintf(`{"version": 1, "name": "budget", "extends": "strict",
		"filesystem": {"landlock": %q, "mounts": [{"type": "bind", "src": %q, "dst": "/probe", "readonly": true}]}}`, landlock, dir)), 0o644)
	return p
}

// hostCheck runs the probe's check on the host as uid (0: root).
func hostCheck(t *testing.T, uid uint32, kind string) string {
	c := exec.Command(filepath.Join(budgetProbe(t), "budget_probe"), "check", kind)
	if uid != 0 {
		c.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	}
	out, err := c.CombinedOutput()
	if err != nil {
		t.Fatalf("host probe as uid %d: %v %s", uid, err, out)
	}
	return strings.TrimSpace(string(out))
}

func TestBudgetsNotShared(t *testing.T) {
	requireRoot(t)
	for _, landlock := range []string{"auto", "off"} {
		for _, kind := range []string{"inotify", "sigpending", "pipe", "mqueue"} {
			t.Run(kind+"/landlock="+landlock, func(t *testing.T) {
				pol := budgetPolicy(t, landlock)
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				defer cancel()
				resA := filepath.Join(t.TempDir(), "a.json")
				a := jailrunCmd(ctx, "--policy", pol, "--result", resA, "--", "/probe/budget_probe", "hold", kind)
				stdin, _ := a.StdinPipe()
				stdout, _ := a.StdoutPipe()
				var errA bytes.Buffer
				a.Stderr = &errA
				if err := a.Start(); err != nil {
					t.Fatal(err)
				}
				defer func() {
					stdin.Close()
					io.Copy(io.Discard, stdout)
					a.Wait()
				}()
				line, _ := bufio.NewReader(stdout).ReadString('\n')
				var n, e int
				_, err := fmt.Sscanf(line, "held %d errno %d", &n, &e)
				if err == nil && n == 0 && kind == "mqueue" && landlock != "off" && e == int(syscall.EACCES) {
					// Landlock denies creating the queue's file on the ipc namespace's mqueue mount: the budget
					// is out of reach altogether.
					t.Logf("Landlock denies mq_open: no mqueue budget to take")
					return
				}
				if err != nil || n == 0 {
					stdin.Close()
					a.Wait()
					t.Fatalf("sandbox A did not take the %s budget: %q, stderr %q", kind, line, errA.String())
				}
				t.Logf("sandbox A holds %d (%s), then errno %d", n, kind, e)
				b := jailrun(t, []string{"--policy", pol, "--", "/probe/budget_probe", "check", kind})
				if b.code != 0 || strings.TrimSpace(b.stdout) != "ok" {
					t.Errorf("sandbox B, while A holds its %s budget: %v", kind, b)
				}
				for _, uid := range []uint32{0, 65534} {
					if got := hostCheck(t, uid, kind); got != "ok" {
						t.Errorf("host uid %d, while sandbox A holds its %s budget: %s", uid, kind, got)
					}
				}
			})
		}
	}
}

// limits.kernel's ceilings bite inside the sandbox, are reported, and the sandbox cannot raise them: its
// /proc/sys stays read-only.
func TestKernelCeilingsBite(t *testing.T) {
	requirePrivileged(t)
	dir := budgetProbe(t)
	for _, tc := range []struct {
		kind, key string
		value     int
		sect, enf string // where the result reports it: enforced.<sect>[<enf>]
	}{
		{"inotify", "inotify_instances", 5, "limits", "kernel.inotify_instances"},
		{"sigpending", "sigpending", 100, "rlimits", "SIGPENDING"},
		{"mqueue", "msgqueue", 200000, "rlimits", "MSGQUEUE"},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			pol := policyFile(t, fmt.Sprintf(`"limits": {"kernel": {%q: %d}},
				"filesystem": {"landlock": "off", "mounts": [{"type": "bind", "src": %q, "dst": "/probe", "readonly": true}]}`, tc.key, tc.value, dir))
			r := jailrun(t, []string{"--policy", pol, "--", "/probe/budget_probe", "hold", tc.kind}, withStdin(""))
			var n, e int
			if _, err := fmt.Sscanf(r.stdout, "held %d errno %d", &n, &e); err != nil || r.code != 0 {
				t.Fatalf("%v", r)
			}
			// mqueue: each queue of the probe costs a little over 80 KiB of the byte budget.
			if (tc.kind == "mqueue" && (n < 1 || n > 3)) || (tc.kind != "mqueue" && n != tc.value) {
				t.Errorf("%s: the sandbox took %d (errno %d) under %s %d", tc.kind, n, e, tc.key, tc.value)
			}
			enf, _ := r.result["enforced"].(map[string]any)
			m, _ := enf[tc.sect].(map[string]any)
			if fmt.Sprint(m[tc.enf]) != fmt.Sprint(tc.value) {
				t.Errorf("enforced.%s[%q] = %v, want %d", tc.sect, tc.enf, m[tc.enf], tc.value)
			}
		})
	}
	r := sh(t, `cat /proc/sys/user/max_user_namespaces; echo 9 > /proc/sys/user/max_user_namespaces && echo raised`)
	if strings.TrimSpace(r.stdout) != "0" {
		t.Errorf("inside the sandbox: max_user_namespaces %q, want 0 and read-only: %v", r.stdout, r)
	}
}

// On a host whose /proc/sys is read-only (many containers), a ceiling the policy sets itself is refused
// naming it (fail closed), unless require.best_effort allows it; the default ceilings are only reported in
// skipped. The host is simulated with a private mount namespace in which /proc/sys is read-only.
func TestKernelCeilingsOnReadOnlyProcSys(t *testing.T) {
	requireRoot(t)
	dir := t.TempDir()
	explicit := filepath.Join(dir, "explicit.json")
	os.WriteFile(explicit, []byte(`{"version": 1, "extends": "strict", "limits": {"kernel": {"inotify_instances": 4}}}`), 0o644)
	allowed := filepath.Join(dir, "allowed.json")
	os.WriteFile(allowed, []byte(`{"version": 1, "extends": "strict", "limits": {"kernel": {"inotify_instances": 4}},
		"require": {"best_effort": ["limits.kernel"]}}`), 0o644)
	run := func(policy string) (int, string, map[string]any) {
		res := filepath.Join(t.TempDir(), "r.json")
		c := exec.Command("unshare", "-m", "sh", "-c", `mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys && exec "$0" "$@"`,
			jailrunBin, "--result", res, "--policy", policy, "--", "/bin/true")
		c.Env = baseEnv()
		out, err := c.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		var r map[string]any
		if b, err := os.ReadFile(res); err == nil {
			json.Unmarshal(b, &r)
		}
		return code, string(out), r
	}
	if code, out, _ := run(explicit); code != 121 || !strings.Contains(out, "limits.kernel.inotify_instances") || !strings.Contains(out, "read-only") {
		t.Errorf("a ceiling the policy sets, /proc/sys read-only: want exit 121 naming it, got %d %q", code, out)
	}
	// Past that check such a host fails further on here (a fresh /proc cannot be mounted over a proc with
	// a read-only /proc/sys on top: the kernel's "fully visible" rule), so what is checked is that the
	// default ceilings and an allowed one are not refused, and are named in skipped.
	for _, pol := range []string{"strict", allowed} {
		code, out, r := run(pol)
		skipped, _ := r["skipped"].([]any)
		if code == 121 || !strings.Contains(fmt.Sprint(skipped), "limits.kernel.inotify_instances") {
			t.Errorf("%s, /proc/sys read-only: want the ceilings in skipped, not a refusal, got %d %q skipped %v", pol, code, out, skipped)
		}
	}
}
