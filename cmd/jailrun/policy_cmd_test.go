package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jailrun/jailrun/policy"
)

// runPolicy runs `jailrun policy ARGS...` in-process and returns stdout, stderr (of the command itself)
// and the exit code.
func runPolicy(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	policyCheckJSON, policyFmtWrite, policyFmtList, policyFmtEffective, policyExplainJSON = false, false, false, false, false
	var out, errOut bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&errOut)
	defer func() { rootCmd.SetOut(nil); rootCmd.SetErr(nil) }()
	code := execute(append([]string{"policy"}, args...))
	return out.String(), errOut.String(), code
}

func writePolicy(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicyCheck(t *testing.T) {
	shipped, _ := filepath.Glob("../../policies/*.json")
	if len(shipped) < 6 {
		t.Fatalf("shipped policies: %v", shipped)
	}
	out, errOut, code := runPolicy(t, append([]string{"check"}, shipped...)...)
	if code != 0 || strings.Count(out, ": ok\n") != len(shipped) || errOut != "" {
		t.Fatalf("check shipped: code %d\n%s%s", code, out, errOut)
	}

	dir := t.TempDir()
	bad := writePolicy(t, dir, "bad.json", "{\n  \"version\": 1,\n  \"limits\": {\"memory\": \"256Q\", \"pids\": 0}\n}\n")
	good := writePolicy(t, dir, "good.json", `{"version": 1}`)
	out, errOut, code = runPolicy(t, "check", good, bad)
	wantErr := bad + `:3:24: limits.memory: "256Q" is not a size`
	if code != exitCheckFailed || !strings.Contains(out, good+": ok") || !strings.HasPrefix(errOut, wantErr) || strings.Count(errOut, "\n") != 2 {
		t.Errorf("check good bad: code %d\nstdout %q\nstderr %q", code, out, errOut)
	}

	_, errOut, code = runPolicy(t, "check", good, filepath.Join(dir, "missing.json"), bad)
	if code != exitInput || !strings.Contains(errOut, "missing.json") {
		t.Errorf("check with an unreadable file: code %d, stderr %q", code, errOut)
	}
}

func TestPolicyCheckJSON(t *testing.T) {
	dir := t.TempDir()
	bad := writePolicy(t, dir, "bad.json", "{\"version\": 1,\n \"bogus\": 1}")
	out, _, code := runPolicy(t, "check", "--json", "strict", bad)
	if code != exitCheckFailed {
		t.Fatalf("code %d", code)
	}
	var res []checkResult
	if err := json.Unmarshal([]byte(out), &res); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if len(res) != 2 || !res[0].OK || len(res[0].SHA256) != 64 || res[1].OK || len(res[1].Problems) != 1 {
		t.Fatalf("results = %+v", res)
	}
	p := res[1].Problems[0]
	if p.File != bad || p.Line != 2 || p.Column != 2 || p.Path != "bogus" || !strings.Contains(p.Message, "unknown field") {
		t.Errorf("problem = %+v", p)
	}
}

func TestPolicyFmt(t *testing.T) {
	dir := t.TempDir()
	messy := "{\"limits\":{\"memory\":268435456,\"cpu_time\":1500},\"version\":1}"
	f := writePolicy(t, dir, "p.json", messy)
	out, _, code := runPolicy(t, "fmt", f)
	want := "{\n  \"version\": 1,\n  \"limits\": {\"memory\": \"256M\", \"cpu_time\": \"1.5s\"}\n}\n"
	if code != 0 || out != want {
		t.Fatalf("fmt: code %d\n%s\nwant\n%s", code, out, want)
	}
	if out, _, code = runPolicy(t, "fmt", "-l", f); code != exitCheckFailed || out != f+"\n" {
		t.Errorf("fmt -l on a messy file: code %d, %q", code, out)
	}
	if _, _, code = runPolicy(t, "fmt", "-w", f); code != 0 {
		t.Fatalf("fmt -w: code %d", code)
	}
	if got, _ := os.ReadFile(f); string(got) != want {
		t.Errorf("after fmt -w: %q", got)
	}
	if out, _, code = runPolicy(t, "fmt", "-l", f); code != 0 || out != "" {
		t.Errorf("fmt -l on a canonical file: code %d, %q", code, out)
	}
	left, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(left) != 0 {
		t.Errorf("fmt -w left temporary files: %v", left)
	}

	out, _, code = runPolicy(t, "fmt", "--effective", f)
	if code != 0 || !strings.Contains(out, `"no_new_privs": true`) || !strings.Contains(out, `"core": 0`) {
		t.Errorf("fmt --effective: code %d\n%s", code, out)
	}
	if _, _, code = runPolicy(t, "fmt", "-w", "strict"); code != exitUsage {
		t.Errorf("fmt -w on a built-in: code %d", code)
	}
	bad := writePolicy(t, dir, "bad.json", `{"version": 1, "x": 1}`)
	if _, _, code = runPolicy(t, "fmt", bad); code != exitPolicy {
		t.Errorf("fmt on an invalid policy: code %d, want %d", code, exitPolicy)
	}
}

func TestPolicyExplain(t *testing.T) {
	out, _, code := runPolicy(t, "explain", "strict")
	for _, want := range []string{"policy strict (builtin:strict)", "namespaces", "memory.max", "RLIMIT_NOFILE", "seccomp"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("explain strict: code %d, lacks %q", code, want)
		}
	}
	out, _, code = runPolicy(t, "explain", "--json", "compile")
	if code != 0 {
		t.Fatalf("explain --json: code %d", code)
	}
	p, err := policy.Parse([]byte(out), "effective.json")
	if err != nil {
		t.Fatalf("explain --json is not a policy: %v", err)
	}
	s, err := policy.Compile(p)
	c, _ := policy.Builtin("compile")
	if err != nil || s.SHA256 != c.SHA256 {
		t.Errorf("explain --json compiles to %v, %v; want the digest of compile", s, err)
	}

	dir := t.TempDir()
	bad := writePolicy(t, dir, "bad.json", `{"version": 2}`)
	if _, _, code = runPolicy(t, "explain", bad); code != exitPolicy {
		t.Errorf("explain invalid: code %d, want %d", code, exitPolicy)
	}
	if _, _, code = runPolicy(t, "explain", filepath.Join(dir, "none.json")); code != exitInput {
		t.Errorf("explain missing file: code %d, want %d", code, exitInput)
	}
	if _, _, code = runPolicy(t, "explain", "nosuch"); code != exitInput {
		t.Errorf("explain unknown built-in: code %d, want %d", code, exitInput)
	}
}

func TestPolicyList(t *testing.T) {
	out, _, code := runPolicy(t, "list")
	if code != 0 || !strings.Contains(out, "strict (default)") {
		t.Fatalf("list: code %d\n%s", code, out)
	}
	for _, name := range policy.BuiltinNames() {
		if !strings.Contains(out, name) {
			t.Errorf("list lacks %s", name)
		}
	}
}

// A FIFO in place of a policy is refused at once (exit 122) by check, fmt, fmt -l and fmt -w: opening it
// for reading used to block until a writer came.
func TestPolicyFIFORefused(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.json")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Skip("mkfifo:", err)
	}
	for _, args := range [][]string{{"check", p}, {"fmt", p}, {"fmt", "-l", p}, {"fmt", "-w", p}} {
		type res struct {
			errOut string
			code   int
		}
		done := make(chan res, 1)
		go func() { _, e, c := runPolicy(t, args...); done <- res{e, c} }()
		select {
		case r := <-done:
			// fmt's error goes to the process's stderr, check's to the command's.
			if r.code != exitInput || (args[0] == "check" && !strings.Contains(r.errOut, "not a regular file (a FIFO)")) {
				t.Errorf("%v: code %d, stderr %q", args, r.code, r.errOut)
			}
		case <-time.After(5 * time.Second):
			if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil { // unblock it
				f.Close()
			}
			t.Fatalf("%v blocked on a FIFO", args)
		}
	}
}

// fmt -w keeps the owner, group and mode of the file it replaces: as root, formatting a file of another
// user gave it root's group (the replacement is a new file, created by root).
func TestPolicyFmtWriteKeepsOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give the fixture away")
	}
	dir := t.TempDir()
	f := writePolicy(t, dir, "p.json", `{"version":1}`)
	if err := os.Chown(f, 65534, 65533); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(f, 0o440); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := runPolicy(t, "fmt", "-w", f); code != 0 {
		t.Fatalf("fmt -w: code %d: %s", code, errOut)
	}
	st, err := os.Stat(f)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	if sys.Uid != 65534 || sys.Gid != 65533 || st.Mode().Perm() != 0o440 {
		t.Errorf("after fmt -w: %d:%d %04o, want 65534:65533 0440", sys.Uid, sys.Gid, st.Mode().Perm())
	}
	if got, _ := os.ReadFile(f); string(got) != "{\n  \"version\": 1\n}\n" {
		t.Errorf("after fmt -w: %q", got)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, ".*")); len(left) != 0 {
		t.Errorf("fmt -w left temporary files: %v", left)
	}
}
