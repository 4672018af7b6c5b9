package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// auditVerify runs `jailrun audit verify` and returns its exit code and output.
func auditVerify(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out bytes.Buffer
	code, stderr, _, _ := runRaw(t, nil, &out, append([]string{"audit", "verify"}, args...)...)
	return code, out.String(), stderr
}

func auditLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return strings.SplitAfter(strings.TrimSuffix(string(b), "\n"), "\n")
}

// Several jailrun processes append to one audit file at once: every line is whole and the records form
// one chain across the processes.
func TestAuditConcurrentProcessesOneChain(t *testing.T) {
	requirePrivileged(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	const procs, each = 4, 3
	var wg sync.WaitGroup
	errs := make(chan string, procs*each)
	for p := 0; p < procs; p++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				code, stderr, _, _ := runRaw(t, nil, io.Discard, "pipe", "--audit", path, "--",
					"/bin/sh", "-c", fmt.Sprintf("echo proc%d-%d", p, i), "--", "cat")
				if code != 0 {
					errs <- fmt.Sprintf("exit %d: %s", code, stderr)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	code, out, stderr := auditVerify(t, path)
	lines := auditLines(t, path)
	if code != 0 || !strings.Contains(out, "ok:") || len(lines) < procs*each {
		t.Fatalf("verify: exit %d, %q %q, %d records", code, out, stderr, len(lines))
	}
	// Every pipeline's link is accounted for in its record: bytes and SHA-256 of "procN-M\n".
	seen := 0
	for _, l := range lines {
		var rec struct {
			Type string `json:"type"`
			Data struct {
				Stats struct {
					Bytes  int64  `json:"bytes"`
					SHA256 string `json:"sha256"`
				} `json:"stats"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(l), &rec); err != nil {
			t.Fatalf("line is not JSON: %q", l)
		}
		if rec.Type == "channel.close" && rec.Data.Stats.Bytes == 8 {
			seen++
		}
	}
	if seen != procs*each {
		t.Fatalf("%d link records with 8 bytes, want %d", seen, procs*each)
	}
}

// makeLog writes a chain of n records with the audit code in the binary (pipelines of `true`, no root
// needed for the records themselves when run as root; otherwise the test skips).
func makeLog(t *testing.T, n int) string {
	t.Helper()
	requirePrivileged(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	for i := 0; i < n; i++ {
		code, stderr, _, _ := runRaw(t, nil, io.Discard, "pipe", "--audit", path, "--", "/bin/echo", fmt.Sprint(i), "--", "cat")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
	}
	return path
}

func TestAuditVerifyFindsTheBrokenRecord(t *testing.T) {
	orig := makeLog(t, 6)
	lines := auditLines(t, orig)
	if len(lines) < 6 {
		t.Fatalf("%d records", len(lines))
	}
	// The first record that counts the link's 2 bytes ("0\n"): which one it is depends on whether the link's
	// channel.close or a stage's run.end was written first, which the scheduler decides.
	edited := slices.IndexFunc(lines, func(l string) bool { return strings.Contains(l, `"bytes":2`) })
	if edited < 0 {
		t.Fatalf("no record counts the link's 2 bytes:\n%s", strings.Join(lines, ""))
	}
	cases := []struct {
		name       string
		edit       func([]string) string
		wantRecord int
	}{
		{"a link's byte count edited", func(ls []string) string {
			ls[edited] = strings.Replace(ls[edited], `"bytes":2`, `"bytes":3`, 1)
			return strings.Join(ls, "")
		}, edited + 1},
		{"record 4 removed", func(ls []string) string { return strings.Join(append(ls[:3:3], ls[4:]...), "") }, 4},
		{"cut inside the last record", func(ls []string) string {
			s := strings.Join(ls, "")
			return s[:len(s)-10]
		}, len(lines)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "audit.log")
			os.WriteFile(path, []byte(tc.edit(append([]string(nil), lines...))), 0o600)
			code, _, stderr := auditVerify(t, path)
			want := fmt.Sprintf("broken at record %d:", tc.wantRecord)
			if code != 1 || !strings.Contains(stderr, want) || strings.Count(stderr, "\n") != 1 {
				t.Fatalf("exit %d stderr %q, want exit 1 and %q", code, stderr, want)
			}
			code, out, _ := auditVerify(t, "--json", path)
			var o map[string]any
			json.Unmarshal([]byte(out), &o)
			if code != 1 || o["ok"] != false || o["broken_record"].(float64) != float64(tc.wantRecord) {
				t.Fatalf("--json: exit %d %v", code, o)
			}
		})
	}
	// An edited log must also stop further runs from appending to it (fail closed): the last record
	// is checked when the sink is opened.
	path := filepath.Join(t.TempDir(), "audit.log")
	ls := append([]string(nil), lines...)
	ls[len(ls)-1] = strings.Replace(ls[len(ls)-1], `"pid":`, `"pid":1`, 1)
	os.WriteFile(path, []byte(strings.Join(ls, "")), 0o600)
	code, stderr, _, _ := runRaw(t, nil, io.Discard, "pipe", "--audit", path, "--", "/bin/true", "--", "/bin/true")
	if code != 122 || !strings.Contains(stderr, "audit") {
		t.Fatalf("appending to a tampered log: exit %d %q", code, stderr)
	}
}

func TestAuditVerifyAnchorAndErrors(t *testing.T) {
	path := makeLog(t, 2)
	code, out, _ := auditVerify(t, path)
	f := strings.Fields(out)
	head := f[len(f)-1]
	if code != 0 || len(head) != 64 {
		t.Fatalf("verify: %d %q", code, out)
	}
	if code, _, stderr := auditVerify(t, "--anchor", head, path); code != 0 {
		t.Fatalf("anchor at the head: %d %s", code, stderr)
	}
	ls := auditLines(t, path)
	os.WriteFile(path, []byte(strings.Join(ls[:len(ls)-1], "")), 0o600)
	if code, _, stderr := auditVerify(t, "--anchor", head, path); code != 1 || !strings.Contains(stderr, "anchor") {
		t.Fatalf("anchor after cutting the last record: %d %q", code, stderr)
	}
	if code, _, stderr := auditVerify(t, filepath.Join(t.TempDir(), "missing")); code != 122 || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("missing file: %d %q", code, stderr)
	}
	if code, _, _ := auditVerify(t); code != 2 {
		t.Fatalf("no file: exit %d, want usage 2", code)
	}
}

// A sink that cannot be opened fails the command before anything runs, unless best-effort.
func TestAuditSinkFailsClosed(t *testing.T) {
	requirePrivileged(t)
	bad := filepath.Join(t.TempDir(), "no", "such", "dir", "audit.log")
	var out bytes.Buffer
	code, stderr, _, _ := runRaw(t, nil, &out, "pipe", "--audit", bad, "--", "/bin/echo", "ran", "--", "cat")
	if code != 122 || out.Len() != 0 || strings.Count(stderr, "\n") != 1 {
		t.Fatalf("failing sink: exit %d, stdout %q, stderr %q; want 122, nothing run, one line", code, out.String(), stderr)
	}
	out.Reset()
	code, stderr, _, _ = runRaw(t, nil, &out, "pipe", "--audit", bad, "--audit-best-effort", "--", "/bin/echo", "ran", "--", "cat")
	if code != 0 || out.String() != "ran\n" || !strings.Contains(stderr, "warning: audit") {
		t.Fatalf("best-effort: exit %d, stdout %q, stderr %q", code, out.String(), stderr)
	}
}

// Runs record run.start and run.end (--audit on run).
func TestAuditRunRecords(t *testing.T) {
	requirePrivileged(t)
	if help, _ := jailrunCmd(context.Background(), "run", "--help").CombinedOutput(); !bytes.Contains(help, []byte("--audit")) {
		t.Fatal("jailrun run has no --audit flag: the launcher must emit run records (docs/audit.md)")
	}
	path := filepath.Join(t.TempDir(), "audit.log")
	code, stderr, _, _ := runRaw(t, nil, io.Discard, "run", "--audit", path, "--", "/bin/sh", "-c", "echo secret-output")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte(`"type":"run.start"`)) || !bytes.Contains(b, []byte(`"type":"run.end"`)) {
		t.Fatalf("records: %s", b)
	}
	// The child's output is not content the log keeps.
	if bytes.Contains(b, []byte("secret-output\\n")) || bytes.Count(b, []byte("secret-output")) > 1 {
		t.Fatalf("the audit log holds the child's output: %s", b)
	}
	if code, _, stderr := auditVerify(t, path); code != 0 {
		t.Fatalf("verify: %s", stderr)
	}
}

// jailrun serve --audit records every run of every endpoint (POST /v1/run, /v1/exec through client mode),
// as jailrun run --audit does: one chain that verifies, each run a run.start and a run.end.
func TestServeAudit(t *testing.T) {
	requirePrivileged(t)
	path := filepath.Join(t.TempDir(), "serve-audit.log")
	s := startServe(t, fmt.Sprintf(`{"tenants": [{"name": "a", "uids": [%d], "policies": ["strict"]}]}`, os.Getuid()), "--audit", path)
	if a := s.run(context.Background(), "", map[string]any{"policy": "strict", "argv": []string{"/bin/echo", "via-run"}}); a.code != 200 {
		t.Fatalf("/v1/run: %d %s %v", a.code, a.raw, a.err)
	}
	if r := jailrun(t, []string{"--server", s.sock, "--", "/bin/echo", "via-exec"}); r.code != 0 {
		t.Fatalf("client mode: %s", r)
	}
	var kinds []string
	for _, line := range auditLines(t, path) {
		var rec struct {
			Type string `json:"type"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		kinds = append(kinds, rec.Type)
	}
	if n := strings.Count(strings.Join(kinds, " "), "run.start"); n != 2 || strings.Count(strings.Join(kinds, " "), "run.end") != 2 {
		t.Fatalf("serve's audit log has %v, want two runs' run.start and run.end", kinds)
	}
	if code, out, stderr := auditVerify(t, path); code != 0 {
		t.Fatalf("audit verify: exit %d: %s %s", code, out, stderr)
	}
}

// run.end is written even when the channels captured much: their heads and tails are in the channel.close
// records, not again in run.end, which therefore stays under the record size cap.
func TestAuditRunEndWithLargeCaptures(t *testing.T) {
	requirePrivileged(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	args := []string{"--quiet", "--audit", path}
	script := ""
	for fd := 3; fd <= 9; fd++ {
		args = append(args, "--channel", fmt.Sprintf("c%d=fd:%d,capture=1M", fd, fd))
		script += fmt.Sprintf("head -c 3000000 /dev/urandom >&%d; ", fd)
	}
	r := jailrun(t, append(args, "--", "/bin/sh", "-c", script))
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	lines := auditLines(t, path)
	var last struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || last.Type != "run.end" {
		t.Fatalf("the log's last record is %q (%v), want run.end", last.Type, err)
	}
	if code, out, stderr := auditVerify(t, path); code != 0 {
		t.Fatalf("audit verify: exit %d: %s %s", code, out, stderr)
	}
}

// A run refused because one of its audit sinks fails after another took run.start still ends that log's
// records with a run.end (setup_error): no log is left with a run that neither ran nor ended.
func TestAuditRunStartFailureEnds(t *testing.T) {
	requirePrivileged(t)
	path := filepath.Join(t.TempDir(), "audit.log")
	full, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
	if err != nil {
		t.Skipf("no /dev/full: %v", err)
	}
	defer full.Close()
	c := jailrunCmd(context.Background(), "--audit", path, "--audit", "stderr", "--", "/bin/echo", "RAN")
	c.Stderr = full
	out, _ := c.Output()
	if c.ProcessState.ExitCode() != 122 || strings.Contains(string(out), "RAN") {
		t.Fatalf("exit %d, stdout %q: want 122 and nothing run", c.ProcessState.ExitCode(), out)
	}
	var types []string
	for _, line := range auditLines(t, path) {
		var rec struct {
			Type string `json:"type"`
			Data struct {
				Status string `json:"status"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		types = append(types, rec.Type+":"+rec.Data.Status)
	}
	if strings.Join(types, " ") != "run.start: run.end:setup_error" {
		t.Fatalf("the file sink holds %v, want run.start then run.end with setup_error", types)
	}
}
