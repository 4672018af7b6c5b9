package tests

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/sandbox"
)

// peekAtPID1 is what a sandboxed program can learn about the launcher through /proc: pid 1 is jailrun's
// init, a copy of jailrun's memory, so its cmdline, environ, comm, exe, cwd and maps must show nothing of
// jailrun's host command line, environment, binary or working directory.
const peekAtPID1 = `for f in cmdline environ comm status maps stat; do echo "== $f"; cat /proc/1/$f 2>&1 | tr '\0' ' '; echo; done
for l in exe cwd root; do echo "== $l $(readlink /proc/1/$l 2>&1)"; done`

func checkLauncherHidden(t *testing.T, out string, secrets ...string) {
	t.Helper()
	if !strings.Contains(out, "== cmdline") {
		t.Fatalf("the probe did not run: %q", out)
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("the sandbox can read %q of the launcher through /proc/1:\n%s", s, out)
		}
	}
}

// Through the CLI (a cold run) and through jailrun serve --pool (a prepared sandbox cloned from the
// server), nothing of the launcher's argv, environment, binary or cwd is readable from inside.
func TestLauncherHiddenFromSandbox(t *testing.T) {
	requirePrivileged(t)
	dir := t.TempDir()
	secretDir := filepath.Join(dir, "launcher-cwd-6b1f")
	os.Mkdir(secretDir, 0o755)
	pol := filepath.Join(dir, "policy-path-8c2e.json")
	os.WriteFile(pol, []byte(`{"version": 1, "name": "p", "extends": "strict"}`), 0o644)
	t.Run("cli", func(t *testing.T) {
		r := jailrun(t, []string{"--policy", pol, "--", "/bin/sh", "-c", peekAtPID1 + " # argv-marker-3d9a"},
			withEnv("LAUNCHER_SECRET=env-marker-71c4"), func(c *exec.Cmd) { c.Dir = secretDir })
		if r.code != 0 {
			t.Fatalf("%v", r)
		}
		checkLauncherHidden(t, r.stdout, "policy-path-8c2e", "env-marker-71c4", "launcher-cwd-6b1f", jailrunBin, "--result", "jailrun")
	})
	t.Run("serve-pool", func(t *testing.T) {
		s := startServe(t, loadConfig(2), "--pool", "strict=1")
		a := s.run(context.Background(), "", map[string]any{"policy": "strict", "argv": sandbox.Shell(peekAtPID1)})
		if a.code != 200 || a.body.Result == nil || a.body.Result.Status != sandbox.StatusOK {
			t.Fatalf("%d %s", a.code, a.raw)
		}
		checkLauncherHidden(t, a.body.Stdout, s.sock, "--pool", "strict=1", jailrunBin, "serve.json", "jailrun")
	})
}
