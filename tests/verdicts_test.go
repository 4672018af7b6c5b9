package tests

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
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

// limitsHit returns the result's limits_hit entries by name.
func limitsHit(t *testing.T, r run) map[string]map[string]any {
	t.Helper()
	list, ok := r.result["limits_hit"].([]any)
	if !ok {
		t.Fatalf("no limits_hit list in the result: %v", r.result["limits_hit"])
	}
	m := map[string]map[string]any{}
	for _, e := range list {
		h, _ := e.(map[string]any)
		name, _ := h["name"].(string)
		m[name] = h
	}
	return m
}

// Every limit that fired is in the result's limits_hit, even when the program handled the failure and the
// status is ok; a run that hit nothing has an empty list.
func TestLimitsHitListed(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	r := jailrun(t, []string{"--", "/bin/true"})
	if hits := limitsHit(t, r); r.status() != "ok" || len(hits) != 0 {
		t.Fatalf("a plain run: status %q, limits_hit %v", r.status(), hits)
	}

	// A program that forks until pids.max refuses, catches EAGAIN and exits 0.
	r = jailrun(t, []string{"--policy", policyFile(t, `"limits": {"pids": 3}`), "--", "/usr/bin/python3", "-c", `import os, time
kids, refused = [], 0
for i in range(6):
    try:
        pid = os.fork()
    except BlockingIOError:
        refused += 1
        continue
    if pid == 0:
        time.sleep(0.3)
        os._exit(0)
    kids.append(pid)
for k in kids:
    os.waitpid(k, 0)
print("refused", refused)`})
	if r.code != 0 || r.status() != "ok" || !strings.HasPrefix(r.stdout, "refused ") || r.stdout == "refused 0\n" {
		t.Fatalf("fork loop under pids 3: status %q\n%v", r.status(), r)
	}
	h := limitsHit(t, r)["limits.pids"]
	if h == nil || h["value"] != "3" || !strings.HasPrefix(h["counter"].(string), "pids.events max=") {
		t.Fatalf("limits_hit %v, want limits.pids with its pids.events counter", r.result["limits_hit"])
	}

	// A child killed by SIGXFSZ ends the run: limits.file_size is listed with the signal it came from.
	r = jailrun(t, []string{"--quiet", "--policy", policyFile(t, `"limits": {"file_size": "1M"}`), "--",
		"/bin/sh", "-c", "exec /usr/bin/head -c 2000000 /dev/zero > /tmp/f"})
	h = limitsHit(t, r)["limits.file_size"]
	if r.status() != "output_limit" || h == nil || h["value"] != "1048576" || h["counter"] != "SIGXFSZ (RLIMIT_FSIZE)" {
		t.Fatalf("file write past 1M: status %q, limits_hit %v\n%v", r.status(), r.result["limits_hit"], r)
	}

	// stderr takes most of the total, then stdout runs out of the total long before its own limit: the
	// total is what limits_hit names, not stdout's limit.
	r = jailrun(t, []string{"--quiet", "--policy", policyFile(t, `"limits": {"output": {"stdout": 1000000, "stderr": 1000000, "total": 1500000}}`),
		"--", "/bin/sh", "-c", "head -c 900000 /dev/zero >&2; head -c 900000 /dev/zero"})
	hits := limitsHit(t, r)
	if r.status() != "output_limit" || hits["limits.output.total"] == nil || hits["limits.output.stdout"] != nil {
		t.Fatalf("stdout cut by the total: status %q, limits_hit %v, want limits.output.total only", r.status(), r.result["limits_hit"])
	}

	// Memory that reached its limit is listed with the counters it came from.
	r = jailrun(t, []string{"--quiet", "--policy", policyFile(t, `"limits": {"memory": "64M"}`), "--",
		"/usr/bin/python3", "-c", "x = bytearray(1 << 30)"})
	h = limitsHit(t, r)["limits.memory"]
	if r.status() != "memory_limit" || h == nil || !strings.Contains(h["counter"].(string), "oom_kill=") {
		t.Fatalf("memory hog: status %q, limits_hit %v", r.status(), r.result["limits_hit"])
	}
	t.Logf("limits_hit of the memory hog: %v", r.result["limits_hit"])
}

// SIGTERM to jailrun goes to the command, which has limits.kill_grace to exit; a command that ignores it is
// killed after the grace. jailrun exits 128+15 either way, and the result says which happened.
func TestSigtermForwardedWithGrace(t *testing.T) {
	requirePrivileged(t)
	for _, tc := range []struct {
		name, script string
		status       string
		killed       bool
		stdout       string
	}{
		{"trapped", `trap 'echo cleaned up; exit 0' TERM; echo ready; sleep 30 & wait`, "ok", false, "ready\ncleaned up\n"},
		{"ignored", `trap '' TERM; echo ready; sleep 30; echo slept`, "signaled", true, "ready\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resFile := filepath.Join(t.TempDir(), "result.json")
			pol := policyFile(t, `"limits": {"kill_grace": "2s", "wall_time": "60s"}`)
			c := jailrunCmd(context.Background(), "--quiet", "--result", resFile, "--policy", pol, "--", "/bin/sh", "-c", tc.script)
			out, err := c.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var errb bytes.Buffer
			c.Stderr = &errb
			if err := c.Start(); err != nil {
				t.Fatal(err)
			}
			rd := bufio.NewReader(out)
			if line, err := rd.ReadString('\n'); line != "ready\n" {
				c.Process.Kill()
				c.Wait()
				t.Fatalf("first line %q (%v); stderr %q", line, err, errb.String())
			}
			start := time.Now()
			if err := c.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			rest, _ := io.ReadAll(rd)
			err = c.Wait()
			took := time.Since(start)
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() != 128+int(syscall.SIGTERM) {
				t.Fatalf("exit %v, want %d; stderr %q", err, 128+int(syscall.SIGTERM), errb.String())
			}
			if got := "ready\n" + string(rest); got != tc.stdout {
				t.Errorf("stdout %q, want %q", got, tc.stdout)
			}
			var res map[string]any
			b, err := os.ReadFile(resFile)
			if err != nil || json.Unmarshal(b, &res) != nil {
				t.Fatalf("result file: %v %s", err, b)
			}
			if res["status"] != tc.status {
				t.Errorf("status %v, want %s", res["status"], tc.status)
			}
			sb, _ := res["stopped_by"].(map[string]any)
			if sb == nil || sb["signal"] != "SIGTERM" || sb["forwarded"] != true || sb["killed_after_grace"] != tc.killed {
				t.Errorf("stopped_by %v, want SIGTERM forwarded, killed_after_grace %v", res["stopped_by"], tc.killed)
			}
			t.Logf("stopped %v after SIGTERM: status %v, stopped_by %v", took, res["status"], res["stopped_by"])
			// The grace is 2 s: the ignoring command is killed after it, well before its sleep ends.
			if took > 20*time.Second {
				t.Errorf("jailrun took %v to stop", took)
			}
		})
	}
}
