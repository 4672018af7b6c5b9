package tests

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
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

func sha(s string) string { h := sha256.Sum256([]byte(s)); return hex.EncodeToString(h[:]) }

// runRaw runs the binary with full control over stdio and returns its rusage, for the tests that measure
// jailrun itself.
func runRaw(t *testing.T, stdin io.Reader, stdout io.Writer, args ...string) (code int, stderr string, ru *syscall.Rusage, took time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := jailrunCmd(ctx, args...)
	var errb bytes.Buffer
	c.Stdin, c.Stdout, c.Stderr = stdin, stdout, &errb
	start := time.Now()
	err := c.Run()
	took = time.Since(start)
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %v: %v", args, err)
	}
	return code, errb.String(), c.ProcessState.SysUsage().(*syscall.Rusage), took
}

func readResult(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("result is not JSON: %v\n%s", err, b)
	}
	return m
}

// A child that floods 1 GiB is stopped at the limit with status output_limit, what passed is exactly the
// limit, and jailrun's own memory stays bounded (it never buffers the stream).
func TestOutputFloodStoppedAtLimit(t *testing.T) {
	requirePrivileged(t)
	// CPU and wall time well above what 256 MiB of writes cost even in the emulated VM lane, where 10 s of CPU
	// ran out first: the output limit must be what ends the run.
	pol := policyFile(t, `"limits": {"output": {"stdout": "256M", "stderr": "1M", "total": "300M"}, "cpu_time": "90s", "wall_time": "180s"}`)
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer devnull.Close()
	counted := &countingWriter{}
	resFile := filepath.Join(t.TempDir(), "r.json")
	for _, tc := range []struct {
		name string
		out  io.Writer
	}{{"to a file", devnull}, {"through a pipe", counted}} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr, ru, took := runRaw(t, nil, tc.out, "--result", resFile, "--policy", pol, "--", "/bin/sh", "-c", "head -c 1073741824 /dev/zero; echo survived >&2")
			res := readResult(t, resFile)
			if res["status"] != "output_limit" || code != 137 || strings.Contains(stderr, "survived") {
				t.Fatalf("status %v exit %d stderr %q, want output_limit and SIGKILL", res["status"], code, stderr)
			}
			out := res["stdout"].(map[string]any)
			if out["truncated"] != true || out["bytes"].(float64) < 256<<20 {
				t.Fatalf("stdout stats %v", out)
			}
			if lim := res["limit"].(map[string]any); lim["name"] != "limits.output.stdout" {
				t.Fatalf("limit %v", lim)
			}
			if tc.out == counted && counted.n != 256<<20 {
				t.Fatalf("%d bytes reached the caller, want exactly 256 MiB", counted.n)
			}
			// jailrun relays with one 64 KiB buffer per stream: its peak RSS (which the kernel reports as the
			// maximum over jailrun and the sandbox processes it reaped) is about 10 MiB, far below the
			// 256 MiB that crossed; buffering the stream would show as more than that.
			if rss := ru.Maxrss * 1024; rss > 128<<20 {
				t.Fatalf("jailrun peak RSS %d MiB while relaying 256 MiB", rss>>20)
			}
			t.Logf("relayed 256 MiB in %v, jailrun peak RSS %d KiB", took, ru.Maxrss)
		})
	}
}

type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) { w.n += int64(len(p)); return len(p), nil }

// A child that never reads its stdin must not hang jailrun, however much the caller has to send.
func TestStdinNeverReadDoesNotHang(t *testing.T) {
	requirePrivileged(t)
	for _, script := range []string{"exit 0", "sleep 0.2; exit 3"} {
		big := bytes.NewReader(make([]byte, 64<<20)) // exec copies it into jailrun's stdin pipe
		code, stderr, _, took := runRaw(t, big, io.Discard, "--", "/bin/sh", "-c", script)
		want := 0
		if script != "exit 0" {
			want = 3
		}
		if code != want { // a hang ends at runRaw's deadline with another code
			t.Fatalf("%q: exit %d after %v (stderr %q)", script, code, took, stderr)
		}
	}
}

func TestInteractCLI(t *testing.T) {
	requirePrivileged(t)
	dir := t.TempDir()
	transcript := filepath.Join(dir, "t.jsonl")
	interactor := `for q in 1 2 3; do echo $q; read a; [ "$a" = $((q+q)) ] || { echo "WA on $q" >&2; exit 1; }; done; echo OK >&2`
	cases := []struct {
		name     string
		solution string
		wantCode int
		wantSol  string
		wantInt  string
		wantErr  string
	}{
		{"correct", `while read x; do echo $((x+x)); done`, 0, "ok", "ok", "OK"},
		{"wrong answer", `while read x; do echo 0; done`, 1, "", "nonzero_exit", "WA on 1"},
		{"solution crashes", `read x; kill -SEGV $$`, 1, "signaled", "nonzero_exit", ""},
		{"solution floods", `yes 2`, 1, "", "nonzero_exit", "WA on 2"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resFile := filepath.Join(dir, "r.json")
			code, stderr, _, took := runRaw(t, nil, io.Discard, "interact", "--result", resFile, "--transcript", transcript,
				"--", "/bin/sh", "-c", tc.solution, "--", "/bin/sh", "-c", interactor)
			res := readResult(t, resFile)
			sol, okS := res["solution"].(map[string]any)
			inter, okI := res["interactor"].(map[string]any)
			if !okS || !okI { // a run that failed to start has no per-side results: fail, don't panic the binary
				t.Fatalf("exit %d, result without solution/interactor: %v; stderr %q", code, res, stderr)
			}
			if code != tc.wantCode || inter["status"] != tc.wantInt || (tc.wantSol != "" && sol["status"] != tc.wantSol) {
				t.Fatalf("exit %d, solution %v, interactor %v; stderr %q", code, sol["status"], inter["status"], stderr)
			}
			if !strings.Contains(stderr, tc.wantErr) {
				t.Fatalf("stderr %q after %v", stderr, took)
			}
			if tc.name == "correct" {
				s2i := res["solution_to_interactor"].(map[string]any)
				i2s := res["interactor_to_solution"].(map[string]any)
				if s2i["sha256"] != sha("2\n4\n6\n") || i2s["sha256"] != sha("1\n2\n3\n") || s2i["bytes"].(float64) != 6 {
					t.Fatalf("directions %v %v", s2i, i2s)
				}
				b, _ := os.ReadFile(transcript)
				if !strings.Contains(string(b), `"dir":"solution\u003einteractor"`) && !strings.Contains(string(b), `"dir":"solution>interactor"`) {
					t.Fatalf("transcript %s", b)
				}
			}
		})
	}
}

func TestInteractCLIUsage(t *testing.T) {
	for _, args := range [][]string{
		{"interact", "--", "/bin/true"},
		{"interact", "--", "/bin/true", "--", "/bin/true", "--", "/bin/true"},
		{"interact", "--", "/bin/true", "--"},
		{"pipe", "--", "/bin/true"},
	} {
		code, stderr, _, _ := runRaw(t, nil, io.Discard, args...)
		if code != 2 || strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "jailrun: ") {
			t.Errorf("%v: exit %d, stderr %q; want one line and exit 2", args, code, stderr)
		}
	}
}

func TestPipeCLI(t *testing.T) {
	requirePrivileged(t)
	var out bytes.Buffer
	resFile := filepath.Join(t.TempDir(), "r.json")
	code, stderr, _, _ := runRaw(t, strings.NewReader("pear\napple\npear\n"), &out, "pipe", "--result", resFile,
		"--", "sort", "--", "uniq", "-c", "--", "/bin/sh", "-c", "tr -s ' '; exit 5")
	if code != 5 || out.String() != " 1 apple\n 2 pear\n" {
		t.Fatalf("exit %d out %q stderr %q", code, out.String(), stderr)
	}
	res := readResult(t, resFile)
	links := res["links"].([]any)
	if len(links) != 2 || links[0].(map[string]any)["sha256"] != sha("apple\npear\npear\n") {
		t.Fatalf("links %v", links)
	}
	// yes | head: yes gets SIGPIPE as soon as head is done, and that is not a failure. The kernel's word
	// for it is in the result (a wall-time bound would be a timed assertion, which flakes on a loaded host).
	out.Reset()
	code, stderr, _, took := runRaw(t, nil, &out, "pipe", "--result", resFile, "--", "yes", "--", "head", "-n2")
	if code != 0 || out.String() != "y\ny\n" {
		t.Fatalf("yes | head: exit %d out %q stderr %q after %v", code, out.String(), stderr, took)
	}
	stages := readResult(t, resFile)["stages"].([]any)
	if yes := stages[0].(map[string]any); yes["status"] != "signaled" || yes["signal_name"] != "SIGPIPE" {
		t.Fatalf("yes | head: want yes ended by SIGPIPE, got %v (after %v)", yes, took)
	}
}

// Extra channels: the child writes to fd 3 and reads fd 4; the result accounts for both, through the
// launcher's --channel (see docs/ipc.md).
func TestChannelCLI(t *testing.T) {
	requirePrivileged(t)
	if help, _ := jailrunCmd(context.Background(), "run", "--help").CombinedOutput(); !bytes.Contains(help, []byte("--channel")) {
		t.Fatal("jailrun run has no --channel flag: the launcher must pass channels (docs/ipc.md)")
	}
	dir := t.TempDir()
	in := filepath.Join(dir, "in")
	out := filepath.Join(dir, "out")
	os.WriteFile(in, []byte("question\n"), 0o600)
	resFile := filepath.Join(dir, "r.json")
	code, stderr, _, _ := runRaw(t, nil, io.Discard, "--result", resFile,
		"--channel", "log=fd:3,file="+out, "--channel", "q=fd:4:in,file="+in,
		"--", "/bin/sh", "-c", `read x <&4; echo "got $x" >&3`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if b, _ := os.ReadFile(out); string(b) != "got question\n" {
		t.Fatalf("channel file %q", b)
	}
	res := readResult(t, resFile)
	chs, _ := res["channels"].([]any)
	if len(chs) != 2 {
		t.Fatalf("result channels %v", res["channels"])
	}
	for _, c := range chs {
		m := c.(map[string]any)
		switch m["name"] {
		case "log":
			if m["from_child"].(map[string]any)["sha256"] != sha("got question\n") {
				t.Fatalf("log %v", m)
			}
		case "q":
			if m["to_child"].(map[string]any)["sha256"] != sha("question\n") {
				t.Fatalf("q %v", m)
			}
		}
	}
	// A channel endpoint that cannot be opened fails the run before it starts.
	code, stderr, _, _ = runRaw(t, nil, io.Discard, "--channel", "q=fd:4:in,file="+filepath.Join(dir, "missing"), "--", "/bin/true")
	if code == 0 || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("missing channel input: exit %d stderr %q", code, stderr)
	}
}
