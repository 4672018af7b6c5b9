package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/sandbox/service"
)

// isolateKeys are the keys of isolate's meta file (isolate.1.txt, META-FILES); a jailrun meta file has
// no others.
var isolateKeys = map[string]bool{
	"time": true, "time-wall": true, "max-rss": true, "csw-voluntary": true, "csw-forced": true, "cg-mem": true,
	"cg-oom-killed": true, "exitcode": true, "exitsig": true, "killed": true, "status": true, "message": true,
}

// readMeta parses a meta file strictly: one key:value per line, known keys, each at most once.
func readMeta(t *testing.T, path string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("meta file: %v", err)
	}
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("meta file empty or without a final newline: %q", b)
	}
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || !isolateKeys[k] {
			t.Fatalf("meta line %q is not an isolate key:value\n%s", l, b)
		}
		if _, dup := m[k]; dup {
			t.Fatalf("meta key %s twice\n%s", k, b)
		}
		m[k] = v
	}
	return m
}

// metaSeconds reads a "time" value, which must have exactly three decimals.
func metaSeconds(t *testing.T, m map[string]string, key string) float64 {
	t.Helper()
	v := m[key]
	if i := strings.IndexByte(v, '.'); i < 1 || len(v)-i != 4 {
		t.Fatalf("%s:%s is not seconds with three decimals", key, v)
	}
	f, err := strconv.ParseFloat(v, 64)
	if err != nil {
		t.Fatalf("%s:%s: %v", key, v, err)
	}
	return f
}

func metaInt(t *testing.T, m map[string]string, key string) int64 {
	t.Helper()
	n, err := strconv.ParseInt(m[key], 10, 64)
	if err != nil {
		t.Fatalf("%s:%q is not an integer", key, m[key])
	}
	return n
}

// TestMetaFile runs the verdicts through `jailrun --meta` and checks each against isolate's meta file:
// which keys are present, their values, and that the figures are the result's in isolate's units.
func TestMetaFile(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	for _, tc := range []struct {
		name   string
		policy string
		argv   []string
		want   map[string]string // exact values; "" means the key must be absent
		check  func(t *testing.T, m map[string]string, r run)
	}{
		{
			name: "ok", argv: []string{"/bin/true"},
			want: map[string]string{"exitcode": "0", "status": "", "message": "", "exitsig": "", "killed": "", "cg-oom-killed": ""},
		},
		{
			name: "nonzero exit", argv: []string{"/bin/sh", "-c", "exit 3"},
			want: map[string]string{"exitcode": "3", "status": "RE", "exitsig": "", "killed": ""},
		},
		{
			name: "signal", argv: []string{"/bin/sh", "-c", "kill -SEGV $$"},
			want: map[string]string{"exitsig": "11", "status": "SG", "exitcode": "", "killed": ""},
		},
		{
			name: "cpu time limit", policy: `"limits": {"cpu_time": "1s", "wall_time": "20s"}`,
			argv: []string{"/bin/sh", "-c", "while :; do :; done"},
			want: map[string]string{"status": "TO", "killed": "1", "message": "Time limit exceeded", "exitcode": "", "exitsig": ""},
			check: func(t *testing.T, m map[string]string, r run) {
				if s := metaSeconds(t, m, "time"); s < 1 || s > 1.5 {
					t.Errorf("time:%v, want about 1 s (seconds, not ms)", s)
				}
			},
		},
		{
			name: "wall time limit", policy: `"limits": {"wall_time": "1s"}`, argv: []string{"/bin/sleep", "100"},
			want: map[string]string{"status": "TO", "killed": "1", "message": "Time limit exceeded (wall clock)"},
			check: func(t *testing.T, m map[string]string, r run) {
				if s := metaSeconds(t, m, "time-wall"); s < 1 || s > 2 {
					t.Errorf("time-wall:%v, want about 1 s", s)
				}
			},
		},
		{
			name: "memory hog", policy: `"limits": {"memory": "64M"}`,
			argv: []string{"/usr/bin/python3", "-c", "b = bytearray(1 << 30)\nfor i in range(0, len(b), 4096): b[i] = 1"},
			want: map[string]string{"cg-oom-killed": "1", "status": "SG", "exitsig": "9", "killed": ""},
			check: func(t *testing.T, m map[string]string, r run) {
				if kb := metaInt(t, m, "cg-mem"); kb < 32<<10 || kb > 64<<10+1024 {
					t.Errorf("cg-mem:%d, want KB near the 65536 KB limit", kb)
				}
			},
		},
		{
			name: "setup error", argv: []string{"/nonexistent"},
			want: map[string]string{"status": "XX", "time": "", "exitcode": "", "exitsig": ""},
			check: func(t *testing.T, m map[string]string, r run) {
				if !strings.Contains(m["message"], "/nonexistent") {
					t.Errorf("message:%s does not name the command", m["message"])
				}
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "meta")
			args := []string{"--quiet", "--meta", path}
			if tc.policy != "" {
				args = append(args, "--policy", policyFile(t, tc.policy))
			}
			r := jailrun(t, append(append(args, "--"), tc.argv...))
			m := readMeta(t, path)
			for k, want := range tc.want {
				if got, ok := m[k]; want == "" && ok || want != "" && got != want {
					t.Errorf("%s:%q, want %q (status %s)\n%v", k, got, want, r.status(), m)
				}
			}
			if m["status"] == "XX" {
				if len(m) != 2 {
					t.Errorf("a setup error has only status and message, got %v", m)
				}
			} else {
				// The figures are the result's, in isolate's units.
				cpu, _ := r.result["cpu_time_ms"].(map[string]any)
				total, _ := cpu["total"].(float64)
				if s := metaSeconds(t, m, "time"); math.Abs(s*1000-total) > 1 {
					t.Errorf("time:%v s, result cpu_time_ms.total %v", s, total)
				}
				if s := metaSeconds(t, m, "time-wall"); math.Abs(s*1000-num(r, "wall_time_ms")) > 1 {
					t.Errorf("time-wall:%v s, result wall_time_ms %v", s, num(r, "wall_time_ms"))
				}
				rss := metaInt(t, m, "max-rss")
				if rss != int64(num(r, "max_rss_bytes"))/1024 || rss < 100 || rss > 2<<20 {
					t.Errorf("max-rss:%d KB, result max_rss_bytes %v", rss, num(r, "max_rss_bytes"))
				}
				if v := metaInt(t, m, "csw-voluntary"); v < 0 || float64(v) != num(r, "csw_voluntary") {
					t.Errorf("csw-voluntary:%d, result %v", v, num(r, "csw_voluntary"))
				}
				if metaInt(t, m, "csw-voluntary")+metaInt(t, m, "csw-forced") == 0 {
					t.Errorf("no context switches at all: the rusage counters are not wired")
				}
				if p := num(r, "peak_memory_bytes"); p > 0 && metaInt(t, m, "cg-mem") != int64(p)/1024 {
					t.Errorf("cg-mem:%s KB, result peak_memory_bytes %v", m["cg-mem"], p)
				}
			}
			if m["status"] != "" && m["message"] == "" {
				t.Errorf("status:%s without a message", m["status"])
			}
			if tc.check != nil {
				tc.check(t, m, r)
			}
		})
	}
}

// A seccomp kill is isolate's death by SIGSYS, and the message names the syscall.
func TestMetaFileSeccomp(t *testing.T) {
	requirePrivileged(t)
	path := filepath.Join(t.TempDir(), "meta")
	r := jailrun(t, []string{"--quiet", "--meta", path, "--policy", sysProbePolicy(t, "strict"), "--", "/probe/syscall_probe", "ptrace"})
	m := readMeta(t, path)
	if r.status() != "seccomp_violation" || m["status"] != "SG" || m["exitsig"] != "31" || !strings.Contains(m["message"], "ptrace") {
		t.Fatalf("status %s; meta %v", r.status(), m)
	}
}

// A meta path that cannot be used fails before anything runs, with exit 122 and one line naming the flag;
// a failure after it was opened is reported in it as status:XX.
func TestMetaFileBadPath(t *testing.T) {
	requirePrivileged(t)
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{link, filepath.Join(dir, "missing", "meta"), dir} {
		r := jailrun(t, []string{"--meta", path, "--", "/bin/echo", "ran"})
		if r.code != 122 || !strings.HasPrefix(r.stderr, "jailrun: --meta: ") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("--meta %s: %v", path, r)
		}
		if r.stdout != "" || r.result != nil {
			t.Errorf("--meta %s: the command ran: %v", path, r)
		}
		if _, err := os.Lstat(target); err == nil {
			t.Fatalf("--meta %s: the symlink was followed", path)
		}
	}

	path := filepath.Join(dir, "meta")
	os.WriteFile(path, []byte("stale contents that must go\nstatus:OK\n"), 0o600)
	r := jailrun(t, []string{"--meta", path, "--policy", filepath.Join(dir, "no-such-policy.json"), "--", "/bin/true"})
	m := readMeta(t, path)
	if r.code != 122 || m["status"] != "XX" || !strings.Contains(m["message"], "no-such-policy.json") {
		t.Errorf("exit %d, meta %v", r.code, m)
	}
}

// --result is checked before anything runs, as --meta is: a path that cannot be written is exit 122 and the
// command does not run (its verdict would be lost).
func TestResultFileBadPath(t *testing.T) {
	requirePrivileged(t)
	dir := t.TempDir()
	for _, path := range []string{filepath.Join(dir, "missing", "r.json"), dir} {
		r := jailrun(t, []string{"--result", path, "--", "/bin/echo", "ran"})
		if r.code != 122 || !strings.HasPrefix(r.stderr, "jailrun: --result: ") || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("--result %s: want exit 122 before the command runs: %v", path, r)
		}
	}
	// A refused command line loses nothing: the previous result file stays until a run starts.
	old := filepath.Join(dir, "old.json")
	if err := os.WriteFile(old, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := jailrunCmd(context.Background(), "--result", old, "--memory", "1K", "--", "/bin/true")
	if out, err := c.CombinedOutput(); c.ProcessState.ExitCode() != 2 {
		t.Fatalf("--memory 1K: %v %s", err, out)
	}
	if b, err := os.ReadFile(old); err != nil || string(b) != "{}\n" {
		t.Errorf("a refused command line removed or changed the previous --result file: %q %v", b, err)
	}
}

// A jailrun killed during the run leaves neither its --meta nor its --result file: not an empty one, not a
// temporary one, and not the previous run's, which a grader would read as this run's verdict.
func TestOutputFilesAfterSIGKILL(t *testing.T) {
	requirePrivileged(t)
	dir := t.TempDir()
	meta, res := filepath.Join(dir, "run.meta"), filepath.Join(dir, "run.json")
	for _, p := range []string{meta, res} {
		if err := os.WriteFile(p, []byte("status:OK\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	killedMidRun(t, "--meta", meta, "--result", res)
	if es, _ := os.ReadDir(dir); len(es) != 0 {
		var names []string
		for _, e := range es {
			names = append(names, e.Name())
		}
		t.Errorf("after SIGKILL the directory holds %v, want nothing", names)
	}
}

// interact writes one meta file per side, each side's own verdict and figures.
func TestMetaFileInteract(t *testing.T) {
	requirePrivileged(t)
	dir := t.TempDir()
	solMeta, intMeta := filepath.Join(dir, "sol.meta"), filepath.Join(dir, "int.meta")
	resFile := filepath.Join(dir, "r.json")
	code, stderr, _, _ := runRaw(t, nil, io.Discard, "interact", "--quiet", "--result", resFile,
		"--solution-meta", solMeta, "--interactor-meta", intMeta,
		"--", "/bin/sh", "-c", `read x; kill -SEGV $$`,
		"--", "/bin/sh", "-c", `echo 1; read a; exit 4`)
	res := readResult(t, resFile)
	s, i := readMeta(t, solMeta), readMeta(t, intMeta)
	if s["status"] != "SG" || s["exitsig"] != "11" || i["status"] != "RE" || i["exitcode"] != "4" {
		t.Fatalf("exit %d, stderr %q\nsolution meta %v\ninteractor meta %v", code, stderr, s, i)
	}
	for side, m := range map[string]map[string]string{"solution": s, "interactor": i} {
		r, _ := res[side].(map[string]any)
		if r == nil || metaInt(t, m, "max-rss") != int64(r["max_rss_bytes"].(float64))/1024 {
			t.Errorf("%s: max-rss:%s, result %v", side, m["max-rss"], r)
		}
	}

	// A bad path for one side: nothing runs.
	code, stderr, _, _ = runRaw(t, nil, io.Discard, "interact", "--interactor-meta", dir,
		"--", "/bin/true", "--", "/bin/true")
	if code != 122 || !strings.HasPrefix(stderr, "jailrun: --interactor-meta: ") {
		t.Errorf("--interactor-meta DIR: exit %d, stderr %q", code, stderr)
	}
}

// The service sends the same meta file in /v1/run (meta) and per side in /v1/interact.
func TestMetaService(t *testing.T) {
	requirePrivileged(t)
	s := startServe(t, loadConfig(2))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	parse := func(text string) map[string]string {
		t.Helper()
		p := filepath.Join(t.TempDir(), "meta")
		os.WriteFile(p, []byte(text), 0o600)
		return readMeta(t, p)
	}
	for _, tc := range []struct {
		name string
		req  map[string]any
		want map[string]string
	}{
		{"nonzero exit", map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", "exit 3"}},
			map[string]string{"status": "RE", "exitcode": "3"}},
		{"wall time", map[string]any{"policy": "strict", "argv": []string{"/bin/sleep", "100"}, "overrides": map[string]any{"wall_time": "1s"}},
			map[string]string{"status": "TO", "killed": "1", "message": "Time limit exceeded (wall clock)"}},
	} {
		a := s.run(ctx, "", tc.req)
		if a.err != nil || a.body.Result == nil {
			t.Fatalf("%s: %v %s", tc.name, a.err, a.raw)
		}
		m := parse(a.body.Meta)
		for k, v := range tc.want {
			if m[k] != v {
				t.Errorf("%s: %s:%q, want %q\n%s", tc.name, k, m[k], v, a.body.Meta)
			}
		}
		if rss := metaInt(t, m, "max-rss"); rss != a.body.Result.MaxRSSBytes/1024 {
			t.Errorf("%s: max-rss:%d, result %d bytes", tc.name, rss, a.body.Result.MaxRSSBytes)
		}
	}

	body, _ := json.Marshal(map[string]any{
		"solution":   map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", `read x; kill -SEGV $$`}},
		"interactor": map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", `echo 1; read a; exit 4`}},
	})
	resp, err := s.client.Post("http://jailrun/v1/interact", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ir service.InteractResponse
	if err := json.Unmarshal(raw, &ir); err != nil || ir.Result == nil {
		t.Fatalf("%v: %s", err, raw)
	}
	sm, im := parse(ir.SolutionMeta), parse(ir.InteractorMeta)
	if sm["status"] != "SG" || sm["exitsig"] != "11" || im["status"] != "RE" || im["exitcode"] != "4" {
		t.Errorf("solution meta %v, interactor meta %v", sm, im)
	}
}
