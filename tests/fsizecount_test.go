package tests

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/sandbox"
)

// A write past limits.file_size is listed in limits_hit even when the writer survived it: the program ignored
// SIGXFSZ (Python does), handled it, or was a child whose parent carried on. The kernel counts none of these;
// jailrun counts SIGXFSZ at the signal_generate tracepoint with a BPF program per run (root only: without it,
// limits_unobserved names the limit instead). A write below the limit is not listed, nor a SIGXFSZ that a
// process of the sandbox sent with kill(2).
func TestLimitsHitFileSizeSurvived(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	pol := policyFile(t, `"limits": {"file_size": "1M"}`)
	const write = `import errno, signal, sys
if sys.argv[1] == "handle":
    signal.signal(signal.SIGXFSZ, lambda *a: None)
try:
    with open("/tmp/f", "w") as f:
        f.write("x" * int(sys.argv[2]))
    print("wrote")
except OSError as e:
    print(errno.errorcode[e.errno])`
	for _, tc := range []struct {
		name   string
		cmd    []string
		stdout string
		listed bool
	}{
		{"ignored", []string{"/usr/bin/python3", "-c", write, "ignore", "2000000"}, "EFBIG\n", true},
		{"handled", []string{"/usr/bin/python3", "-c", write, "handle", "2000000"}, "EFBIG\n", true},
		{"child killed, parent carried on", []string{"/bin/sh", "-c", "/usr/bin/head -c 2000000 /dev/zero > /tmp/f; echo carried on"}, "carried on\n", true},
		{"below the limit", []string{"/usr/bin/python3", "-c", write, "ignore", "100000"}, "wrote\n", false},
		{"sent by kill", []string{"/bin/sh", "-c", `trap "" XFSZ; kill -s XFSZ $$; echo carried on`}, "carried on\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jailrun(t, append([]string{"--quiet", "--policy", pol, "--"}, tc.cmd...))
			if r.code != 0 || r.status() != "ok" || r.stdout != tc.stdout {
				t.Fatalf("status %q stdout %q, want ok and %q\n%v", r.status(), r.stdout, tc.stdout, r)
			}
			h := limitsHit(t, r)["limits.file_size"]
			unobserved, _ := r.result["limits_unobserved"].([]any)
			if !tc.listed {
				if h != nil {
					t.Fatalf("limits_hit %v: want no limits.file_size", r.result["limits_hit"])
				}
				return
			}
			if os.Geteuid() != 0 {
				// Rootless: no tracepoint; the result says what it could not watch.
				if h != nil || len(unobserved) != 1 || !strings.HasPrefix(unobserved[0].(string), "limits.file_size: ") {
					t.Fatalf("rootless: limits_hit %v, limits_unobserved %v: want limits.file_size unobserved",
						r.result["limits_hit"], unobserved)
				}
				return
			}
			if h == nil && len(unobserved) == 1 && (strings.Contains(unobserved[0].(string), ": function not implemented") ||
				strings.Contains(unobserved[0].(string), "bpf raw tracepoint signal_generate: no such file")) {
				// A kernel without BPF or the tracepoint.
				testenv.SkipMissingFeature(t, "BPF raw tracepoint signal_generate", unobserved[0].(string))
			}
			if h == nil || h["value"] != "1048576" || !strings.Contains(h["counter"].(string), "bpf raw_tp signal_generate count=") {
				t.Fatalf("limits_hit %v (limits_unobserved %v), want limits.file_size seen by the BPF count",
					r.result["limits_hit"], unobserved)
			}
		})
	}
}

// The service sends the same result: a write past the file-size override that the program survived is in
// limits_hit (or, rootless, in limits_unobserved).
func TestServeLimitsHitFileSizeSurvived(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	s := startServe(t, loadConfig(1))
	a := s.run(context.Background(), "", map[string]any{"policy": "strict", "overrides": map[string]any{"file_size": "1M"},
		"argv": []string{"/usr/bin/python3", "-c", `import errno
try:
    open("/tmp/f", "w").write("x" * 2000000)
except OSError as e:
    print(errno.errorcode[e.errno])`}})
	if a.code != 200 || a.body.Result == nil || a.body.Result.Status != sandbox.StatusOK || a.body.Stdout != "EFBIG\n" {
		t.Fatalf("%d %s", a.code, a.raw)
	}
	res := a.body.Result
	if os.Geteuid() != 0 {
		if len(res.LimitsUnobserved) != 1 || !strings.HasPrefix(res.LimitsUnobserved[0], "limits.file_size: ") {
			t.Fatalf("rootless: limits_unobserved %q, want limits.file_size", res.LimitsUnobserved)
		}
		return
	}
	for _, h := range res.LimitsHit {
		if h.Name == "limits.file_size" && h.Value == "1048576" && strings.Contains(h.Counter, "bpf raw_tp signal_generate count=") {
			return
		}
	}
	t.Fatalf("limits_hit %+v (limits_unobserved %q), want limits.file_size", res.LimitsHit, res.LimitsUnobserved)
}
