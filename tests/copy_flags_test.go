package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// --copy-in and --copy-out move files through the CLI: compile in one run (the binary copied out), run the
// binary in another (copied in), and a file the run does not leave is reported, not written.
func TestCLICopyInOut(t *testing.T) {
	requirePrivileged(t)
	filesInIDMap(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "hello.c")
	if err := os.WriteFile(src, []byte("#include <stdio.h>\nint main(void){char b[64]; if(!fgets(b,sizeof b,stdin)) return 3; printf(\"got %s\", b); return 0;}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "hello")
	r := jailrun(t, []string{"--policy", "compile", "--copy-in", src + ":src/hello.c", "--copy-out", "hello:" + bin,
		"--copy-out", "missing:" + filepath.Join(dir, "missing"), "--", "/usr/bin/gcc", "-o", "hello", "src/hello.c"})
	if r.code != 0 {
		t.Fatalf("compile: %v", r)
	}
	if !strings.Contains(r.stderr, "--copy-out missing: not found") {
		t.Errorf("missing output not reported: %q", r.stderr)
	}
	if _, err := os.Stat(filepath.Join(dir, "missing")); err == nil {
		t.Errorf("a file was written for an output the run did not leave")
	}
	st, err := os.Stat(bin)
	if err != nil || st.Mode().Perm()&0o100 == 0 {
		t.Fatalf("binary not copied out as a program: %v %v", st, err)
	}
	fo, _ := r.result["files_out"].([]any)
	if len(fo) != 2 {
		t.Fatalf("result files_out = %v", r.result["files_out"])
	}
	if e := fo[1].(map[string]any)["error"]; e != "not found" {
		t.Errorf("files_out[1].error = %v", e)
	}
	r = jailrun(t, []string{"--copy-in", bin + ":hello", "--", "./hello"}, withStdin("world\n"))
	if r.code != 0 || r.stdout != "got world\n" {
		t.Fatalf("run the copied-in binary: %v", r)
	}
	if fi, _ := r.result["files_in"].(map[string]any); fi["count"] != 1.0 {
		t.Errorf("files_in = %v", r.result["files_in"])
	}
}

// Misuse of the copy flags is a usage error (exit 2) with one line, found before anything runs, and leaves
// nothing on the host.
func TestCLICopyUsageErrors(t *testing.T) {
	requirePrivileged(t)
	filesInIDMap(t)
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	os.WriteFile(in, []byte("x"), 0o644)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no colon", []string{"--copy-in", in}, "want HOST:SANDBOX"},
		{"escape", []string{"--copy-in", in + ":../in.txt"}, "'..' component"},
		{"absolute inside", []string{"--copy-out", "/etc/passwd:" + filepath.Join(dir, "p")}, "is absolute"},
		{"missing host file", []string{"--copy-in", filepath.Join(dir, "nope") + ":a"}, "no such file"},
		{"host dir missing", []string{"--copy-out", "a:" + filepath.Join(dir, "no", "a")}, "does not exist"},
		{"no box", []string{"--policy", writeNoBoxPolicy(t), "--copy-in", in + ":a"}, "writable tmpfs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, "--", "/bin/sh", "-c", "touch /tmp/x; echo ran")
			r := jailrun(t, args)
			if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 || r.stdout != "" {
				t.Fatalf("want exit 2 with %q, got %v", tc.want, r)
			}
		})
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if e.Name() != "in.txt" && !strings.HasSuffix(e.Name(), ".json") {
			t.Errorf("left behind: %s", e.Name())
		}
	}
}

func writeNoBoxPolicy(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "nobox.json")
	if err := os.WriteFile(p, []byte(`{"version": 1, "name": "nobox", "extends": "strict", "filesystem": {"workdir": "/usr"}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// A rootless jailrun mapping subordinate ids cannot create files in the sandbox's box (its tmpfs takes new
// files only from ids its user namespace maps): --copy-in is refused before anything runs (exit 121, naming
// the fix), never half done.
func TestCLICopyInSubordinateRefused(t *testing.T) {
	if os.Geteuid() == 0 || !rootlessLane() {
		t.Skip("for the rootless lane, whose user has subordinate ids (make e2e-rootless)")
	}
	requirePrivileged(t)
	if _, _, ok := callerSubIDs(t); !ok {
		// The v2 VM lane's rootless user (nobody) has no range; make e2e-rootless gives its user one and
		// sets JAILRUN_REQUIRE_SUBIDS=1, which makes that a failure.
		if os.Getenv("JAILRUN_REQUIRE_SUBIDS") == "1" {
			t.Fatal("JAILRUN_REQUIRE_SUBIDS=1 but this user has no subordinate ids or newuidmap is missing")
		}
		t.Skip("this user has no subordinate ids (or newuidmap is missing)")
	}
	in := filepath.Join(t.TempDir(), "in.txt")
	os.WriteFile(in, []byte("x"), 0o644)
	r := jailrun(t, []string{"--id-map", "subordinate", "--copy-in", in + ":in.txt", "--", "/bin/cat", "in.txt"})
	if r.code != 121 || !strings.Contains(r.stderr, "subordinate ids cannot create files") || r.stdout != "" {
		t.Fatalf("want exit 121 naming the subordinate mapping, got %v", r)
	}
	// Copy-out alone works with any mapping.
	out := filepath.Join(t.TempDir(), "o.txt")
	r = jailrun(t, []string{"--id-map", "subordinate", "--copy-out", "o.txt:" + out, "--", "/bin/sh", "-c", "echo hi > o.txt"})
	if b, err := os.ReadFile(out); r.code != 0 || string(b) != "hi\n" {
		t.Fatalf("copy-out under subordinate ids: %v, %q %v", r, b, err)
	}
}
