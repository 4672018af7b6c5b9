package tests

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A policy that turns no_new_privs off under a seccomp filter cannot run (the kernel loads the filter only
// with no_new_privs or CAP_SYS_ADMIN): `policy check` refuses it with one line naming both, and a run is
// an invalid policy (120), not "exec: load seccomp filter: permission denied" (125).
func TestPolicyReviewSeccompNeedsNoNewPrivs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "nnp.json")
	if err := os.WriteFile(p, []byte(`{"version": 1, "extends": "strict", "process": {"unsafe": true, "no_new_privs": false}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := jailrun(t, []string{"policy", "check", p})
	if r.code != 1 || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "process.no_new_privs") || !strings.Contains(r.stderr, "seccomp") {
		t.Errorf("policy check: %v", r)
	}
	r = jailrun(t, []string{"--policy", p, "--", "/usr/bin/true"})
	if r.code != 120 || !strings.Contains(r.stderr, "process.no_new_privs") {
		t.Errorf("run: %v", r)
	}
}

// A FIFO named as a policy is refused at once (122); it used to block in open until a writer came.
func TestPolicyReviewFIFO(t *testing.T) {
	p := filepath.Join(t.TempDir(), "p.json")
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"policy", "check", p}, {"policy", "fmt", p}, {"policy", "fmt", "-w", p}, {"--policy", p, "--", "/usr/bin/true"}} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := jailrunCmd(ctx, args...).CombinedOutput()
		blocked := ctx.Err() == context.DeadlineExceeded
		cancel()
		if blocked {
			t.Fatalf("%v blocked on a FIFO", args)
		}
		ee, _ := err.(*exec.ExitError)
		if ee == nil || ee.ExitCode() != 122 || !strings.Contains(string(out), "not a regular file (a FIFO)") {
			t.Errorf("%v: %v\n%s", args, err, out)
		}
	}
}

// fmt -w rewrites only what its caller may write, and keeps the owner, group and mode: a read-only file
// stays as it is, an unwritable directory or an owner or group that cannot be kept is refused with exit
// 122 (a directory used to give 125), and root formatting another user's file leaves it theirs (it used
// to get root's group).
func TestPolicyReviewFmtWrite(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Skip("needs setpriv (util-linux)")
	}
	const messy = `{"version":1}`
	base, err := os.MkdirTemp("", "jailrun-fmt-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(base) })
	os.Chmod(base, 0o755)
	mk := func(name string, dirMode os.FileMode, mode os.FileMode, uid, gid int) string {
		d := filepath.Join(base, name)
		if err := os.Mkdir(d, dirMode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(d, dirMode)
		f := filepath.Join(d, "p.json")
		if err := os.WriteFile(f, []byte(messy), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(f, uid, gid); err != nil {
			t.Fatal(err)
		}
		return f
	}
	asNobody := func(args ...string) (string, int) {
		argv := append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--", jailrunBin}, args...)
		out, err := exec.Command("setpriv", argv...).CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	owner := func(f string) (int, int, os.FileMode, string) {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(f)
		sys := st.Sys().(*syscall.Stat_t)
		return int(sys.Uid), int(sys.Gid), st.Mode().Perm(), string(b)
	}
	for _, tc := range []struct {
		name, want    string
		dirMode, mode os.FileMode
		uid, gid      int
	}{
		{"read-only file", "you may not write this file (mode 0444)", 0o777, 0o444, 65534, 65534},
		{"unwritable directory", "needs write permission on", 0o755, 0o644, 65534, 65534},
		{"group not kept", "cannot keep its owner and group 65534:0", 0o777, 0o664, 65534, 0},
		{"owner not kept", "it belongs to uid 0", 0o777, 0o666, 0, 65534},
	} {
		f := mk(strings.ReplaceAll(tc.name, " ", "-"), tc.dirMode, tc.mode, tc.uid, tc.gid)
		out, code := asNobody("policy", "fmt", "-w", f)
		if code != 122 || !strings.Contains(out, tc.want) || strings.Count(out, "\n") != 1 {
			t.Errorf("%s: code %d, want 122 and %q:\n%s", tc.name, code, tc.want, out)
		}
		if uid, gid, mode, body := owner(f); uid != tc.uid || gid != tc.gid || mode != tc.mode || body != messy {
			t.Errorf("%s: the file changed: %d:%d %04o %q", tc.name, uid, gid, mode, body)
		}
		if left, _ := filepath.Glob(filepath.Join(filepath.Dir(f), ".*")); len(left) != 0 {
			t.Errorf("%s: left %v", tc.name, left)
		}
	}
	// Its owner may rewrite a writable file of its own; root may rewrite anyone's, which stays theirs.
	f := mk("own", 0o777, 0o640, 65534, 65534)
	if out, code := asNobody("policy", "fmt", "-w", f); code != 0 {
		t.Errorf("own file: code %d: %s", code, out)
	}
	if uid, gid, mode, body := owner(f); uid != 65534 || gid != 65534 || mode != 0o640 || body == messy {
		t.Errorf("own file after fmt -w: %d:%d %04o %q", uid, gid, mode, body)
	}
	f = mk("root", 0o755, 0o444, 65534, 65534)
	if r := jailrun(t, []string{"policy", "fmt", "-w", f}); r.code != 0 {
		t.Errorf("as root: %v", r)
	}
	if uid, gid, mode, body := owner(f); uid != 65534 || gid != 65534 || mode != 0o444 || body == messy {
		t.Errorf("root's fmt -w: %d:%d %04o %q", uid, gid, mode, body)
	}
}

// The command-template example of docs/commands.md runs as documented: its program is named by the file
// itself, not by /usr/bin/gcc, a symbolic link on Debian, which allowed_commands refuses (exit 120).
func TestPolicyReviewDocsCommandExample(t *testing.T) {
	requirePrivileged(t)
	doc, err := os.ReadFile("../docs/commands.md")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile("(?s)```json\n(\\{\n  \"version\": 1,\n  \"name\": \"compile-c\".*?)\n```").FindSubmatch(doc)
	if m == nil {
		t.Fatal("docs/commands.md has no compile-c example")
	}
	var pol map[string]any
	if err := json.Unmarshal(m[1], &pol); err != nil {
		t.Fatal(err)
	}
	prog := pol["command"].(map[string]any)["template"].([]any)[0].(string)
	// Stat, not Lstat: a link to a program that exists must fail the test, as it fails the example.
	if _, err := os.Stat(prog); err != nil {
		t.Skipf("%s is not on this host (the example is for Debian 12 amd64): %v", prog, err)
	}
	box := sharedDir(t)
	if err := os.WriteFile(filepath.Join(box, "main.c"), []byte("int main(void) { return 0; }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	pol["filesystem"].(map[string]any)["mounts"].([]any)[0].(map[string]any)["src"] = box
	b, _ := json.Marshal(pol)
	p := filepath.Join(box, "compile-c.json")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	r := jailrun(t, []string{"--policy", p, "--param", "source=main.c", "--param", "binary=main", "--param", "std=c11"})
	if r.code != 0 {
		t.Fatalf("the documented example: %v", r)
	}
	if _, err := os.Stat(filepath.Join(box, "main")); err != nil {
		t.Errorf("no binary: %v", err)
	}
}
