package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deniedEntry is one element of the result's denied_syscalls.
type deniedEntry struct {
	Syscall   string   `json:"syscall"`
	Action    string   `json:"action"`
	Count     float64  `json:"count"`
	FirstArgs []uint64 `json:"first_args"`
	Learned   bool     `json:"learned"`
}

func deniedSyscalls(t *testing.T, r run) []deniedEntry {
	t.Helper()
	raw, ok := r.result["denied_syscalls"]
	if !ok {
		t.Fatalf("the result has no denied_syscalls: %v", r)
	}
	b, _ := json.Marshal(raw)
	var out []deniedEntry
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("denied_syscalls: %v: %s", err, b)
	}
	return out
}

// probePolicyWith writes a policy that extends the probe policy (strict plus /probe) with seccomp rules.
func probePolicyWith(t *testing.T, rules string) string {
	base := sysProbePolicy(t, "strict")
	p := filepath.Join(filepath.Dir(base), "rules.json")
	os.WriteFile(p, []byte(fmt.Sprintf(`{"version": 1, "name": "rules", "extends": "probe.json", "seccomp": {"rules": [%s]}}`, rules)), 0o644)
	return p
}

// TestDeniedSyscallsNamed: whatever the policy's action, a refused syscall is listed in the result by name,
// with its action and how often, and the run's audit log has a seccomp.denied record. A refusal by errno
// used to leave no trace, and a trap ended the run without naming the syscall.
func TestDeniedSyscallsNamed(t *testing.T) {
	requirePrivileged(t)
	cases := []struct {
		name, rules string
		probe       []string
		status      string // the run's verdict
		syscall     string
		action      string
		count       float64
		arg0        uint64 // first_args[0] (setuid: the sandbox uid, 1000)
	}{
		{"errno by argument rule", "", []string{"socket_inet", "3"}, "ok", "socket", "errno(EAFNOSUPPORT)", 3, 2},
		{"errno by default action", "", []string{"setuid", "2"}, "ok", "setuid", "errno(EPERM)", 2, 1000},
		{"kill_process", "", []string{"ptrace"}, "seccomp_violation", "ptrace", "kill_process", 1, 1},
		{"trap", `{"syscalls": ["setuid"], "action": "trap"}`, []string{"setuid"}, "seccomp_violation", "setuid", "trap", 1, 1000},
		{"notify", `{"syscalls": ["setuid"], "action": "notify"}`, []string{"setuid", "2"}, "ok", "setuid", "notify", 2, 1000},
		{"log", `{"syscalls": ["mseal"], "action": "log"}`, []string{"mseal", "2"}, "ok", "mseal", "log", 2, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			pol := sysProbePolicy(t, "strict")
			if c.rules != "" {
				pol = probePolicyWith(t, c.rules)
			}
			log := filepath.Join(t.TempDir(), "audit.log")
			r := jailrun(t, append([]string{"--quiet", "--audit", log, "--policy", pol, "--", "/probe/syscall_probe"}, c.probe...))
			if r.status() != c.status {
				t.Fatalf("status %q, want %q: %v", r.status(), c.status, r)
			}
			var hit *deniedEntry
			for _, d := range deniedSyscalls(t, r) {
				if d.Syscall == c.syscall {
					d := d
					hit = &d
				}
			}
			if hit == nil || hit.Action != c.action || hit.Count != c.count || len(hit.FirstArgs) != 6 || hit.FirstArgs[0] != c.arg0 {
				t.Fatalf("want %s %s x%v (args[0] %d) in denied_syscalls, got %v", c.syscall, c.action, c.count, c.arg0, r.result["denied_syscalls"])
			}
			if c.status == "seccomp_violation" {
				v, _ := r.result["seccomp_violation"].(map[string]any)
				if v == nil || v["syscall"] != c.syscall || !strings.Contains(fmt.Sprint(r.result["message"]), c.syscall) {
					t.Fatalf("the violation does not name %s: %v, message %v", c.syscall, v, r.result["message"])
				}
			}
			var found bool
			for _, line := range auditLines(t, log) {
				var rec struct {
					Type string `json:"type"`
					Data struct {
						Denied []deniedEntry `json:"denied_syscalls"`
					} `json:"data"`
				}
				if json.Unmarshal([]byte(line), &rec) == nil && rec.Type == "seccomp.denied" {
					for _, d := range rec.Data.Denied {
						found = found || (d.Syscall == c.syscall && d.Count == c.count && d.Action == c.action)
					}
				}
			}
			if !found {
				t.Fatalf("no seccomp.denied record with %s x%v in the audit log:\n%s", c.syscall, c.count, strings.Join(auditLines(t, log), "\n"))
			}
		})
	}
}

// TestDeniedSyscallsEmpty: a run that is refused nothing says so with an empty list (not an absent one).
func TestDeniedSyscallsEmpty(t *testing.T) {
	requirePrivileged(t)
	r := sh(t, "exit 0")
	if d := deniedSyscalls(t, r); r.status() != "ok" || len(d) != 0 {
		t.Fatalf("want ok and no denied syscalls, got %s %v", r.status(), d)
	}
}

// TestLearn: jailrun learn runs a command under strict with what strict refuses let through, writes a
// policy extending the base that `policy check` accepts, and that policy runs the command to ok, while the
// base still refuses it. Argument-decided syscalls are learned for the values seen only.
func TestLearn(t *testing.T) {
	requirePrivileged(t)
	base := sysProbePolicy(t, "strict")
	cases := []struct {
		probe    string
		baseWant string // how the base policy answers: "violation" or an errno name
		other    string // a call of the same syscall with other argument values, still refused ("" none)
	}{
		{"ptrace", "violation", ""},
		{"unshare", "violation", ""},
		{"socket_inet", "EAFNOSUPPORT", "socket_netlink"},
		{"clone_newuser", "violation", "clone_newnet"},
	}
	for _, c := range cases {
		t.Run(c.probe, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "learned.json")
			r := jailrun(t, []string{"learn", "--policy", base, "--out", out, "--", "/probe/syscall_probe", c.probe})
			if r.code != 0 || r.status() != "ok" {
				t.Fatalf("learn run: want exit 0 and status ok, got %v (status %s)", r, r.status())
			}
			var learned bool
			for _, d := range deniedSyscalls(t, r) {
				learned = learned || d.Learned
			}
			if !learned {
				t.Fatalf("the learn run's result marks nothing learned: %v", r.result["denied_syscalls"])
			}
			if chk := jailrun(t, []string{"policy", "check", out}); chk.code != 0 {
				b, _ := os.ReadFile(out)
				t.Fatalf("policy check of the learned policy: %v\n%s", chk, b)
			}
			ok := jailrun(t, []string{"--quiet", "--policy", out, "--", "/probe/syscall_probe", c.probe})
			if ok.status() != "ok" || len(deniedSyscalls(t, ok)) != 0 {
				b, _ := os.ReadFile(out)
				t.Fatalf("with the learned policy: want ok and nothing denied, got %s %v\n%v\n%s", ok.status(), ok.result["denied_syscalls"], ok, b)
			}
			still := jailrun(t, []string{"--quiet", "--policy", base, "--", "/probe/syscall_probe", c.probe})
			switch c.baseWant {
			case "violation":
				if still.status() != "seccomp_violation" {
					t.Fatalf("the base policy should still refuse %s: %v", c.probe, still)
				}
			default:
				if !strings.Contains(still.stdout, c.baseWant) {
					t.Fatalf("the base policy should still refuse %s with %s: %v", c.probe, c.baseWant, still)
				}
			}
			if c.other != "" {
				o := jailrun(t, []string{"--quiet", "--policy", out, "--", "/probe/syscall_probe", c.other})
				if len(deniedSyscalls(t, o)) == 0 {
					t.Fatalf("the learned policy lets %s through, but only %s was seen: %v", c.other, c.probe, o)
				}
			}
		})
	}
}

// TestLearnToStdout: without --out the policy is the only thing on stdout (the command's stdout goes to
// stderr), and --json prints the summary on stderr.
func TestLearnToStdout(t *testing.T) {
	requirePrivileged(t)
	base := sysProbePolicy(t, "strict")
	r := jailrun(t, []string{"learn", "--json", "--policy", base, "--", "/probe/syscall_probe", "ptrace"})
	var pol struct {
		Extends string          `json:"extends"`
		Seccomp json.RawMessage `json:"seccomp"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &pol) != nil || !strings.Contains(string(pol.Seccomp), `"ptrace"`) {
		t.Fatalf("want the learned policy (and only it) on stdout: %v", r)
	}
	if !strings.Contains(r.stderr, `"syscall":"ptrace"`) || !strings.Contains(r.stderr, `"policy_file": "stdout"`) {
		t.Fatalf("want the probe's output and the --json summary on stderr: %v", r)
	}
	if filepath.IsAbs(pol.Extends) {
		t.Fatalf("extends must be relative, got %q", pol.Extends)
	}
}

// TestLearnKeepsSandbox: learn mode only lets the filter's refusals through; the rest of the sandbox is in
// force (here: the mount namespace and the read-only root).
func TestLearnKeepsSandbox(t *testing.T) {
	requirePrivileged(t)
	out := filepath.Join(t.TempDir(), "learned.json")
	r := jailrun(t, []string{"learn", "--out", out, "--", "/bin/sh", "-c", "touch /usr/x 2>/dev/null && echo WROTE; test -e /root && echo HOSTROOT; hostname"})
	if strings.Contains(r.stdout+r.stderr, "WROTE") || strings.Contains(r.stdout+r.stderr, "HOSTROOT") || !strings.Contains(r.stdout+r.stderr, "jailrun") {
		t.Fatalf("learn mode must keep mounts and namespaces: %v", r)
	}
	if ns, _ := r.result["enforced"].(map[string]any)["namespaces"].([]any); len(ns) == 0 {
		t.Fatalf("learn run without namespaces: %v", r.result["enforced"])
	}
}

// TestLearnErrors: learn's own failures are one line and a documented exit code.
func TestLearnErrors(t *testing.T) {
	requirePrivileged(t)
	for _, c := range []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"learn", "--out", "/nonexistent-jailrun/x.json", "--", "/bin/true"}, 122, "--out"},
		{[]string{"learn"}, 2, "no command"},
		{[]string{"learn", "--policy", "/nonexistent-jailrun.json", "--", "/bin/true"}, 122, "nonexistent-jailrun.json"},
	} {
		r := jailrun(t, c.args)
		if r.code != c.code || !strings.Contains(r.stderr, c.msg) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
			t.Errorf("%v: want exit %d and one line naming %q, got %v", c.args, c.code, c.msg, r)
		}
	}
}
