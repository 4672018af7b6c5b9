package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// openDir is a temporary directory the sandbox's host user (65534, or a subordinate id) can reach and, with
// writable, write: t.TempDir() and its parent are 0700 root.
func openDir(t *testing.T, writable bool) string {
	t.Helper()
	d := t.TempDir()
	mode := os.FileMode(0o755)
	if writable {
		mode = 0o777
	}
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Chmod(d, mode); err != nil {
		t.Fatal(err)
	}
	return d
}

// Each override flag changes what is enforced: the same command behaves differently with and without it.
func TestOverrideFlags(t *testing.T) {
	requirePrivileged(t)
	needPython(t)
	ro := openDir(t, false)
	if err := os.WriteFile(filepath.Join(ro, "in.txt"), []byte("from the host\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rw := openDir(t, true)
	hog := "b = bytearray(128 << 20)\nfor i in range(0, len(b), 4096): b[i] = 1\nprint('survived')"
	forks := `i=0; while [ $i -lt 20 ]; do sleep 2 & i=$((i+1)); done; wait; echo survived`
	// A CPU-bound loop well over 300 ms of CPU but well under the base policy's limit: about 1 s here, and
	// a quarter of the iterations in the emulated VM lane, which runs 5-13 times slower.
	spin := "i=0; while [ $i -lt 400000 ]; do i=$((i+1)); done"
	if inVM() {
		spin = "i=0; while [ $i -lt 100000 ]; do i=$((i+1)); done"
	}
	for _, tc := range []struct {
		name     string
		flags    []string
		argv     []string
		without  string // status (or stdout) without the flags
		with     string // with them
		override string // expected in policy.overrides
	}{
		{"memory", []string{"--memory", "64M"}, []string{"/usr/bin/python3", "-c", hog}, "ok", "memory_limit", "limits.memory=64M"},
		{"pids", []string{"--pids", "8"}, []string{"/bin/sh", "-c", forks}, "ok", "pids_limit", "limits.pids=8"},
		{"wall-time", []string{"--wall-time", "500ms"}, []string{"/bin/sleep", "2"}, "ok", "wall_time_limit", "limits.wall_time=500ms"},
		{"cpu-time", []string{"--cpu-time", "300ms"}, []string{"/bin/sh", "-c", spin}, "ok", "time_limit", "limits.cpu_time=300ms"},
		{"bind read", []string{"--bind", ro + ":/data:ro"}, []string{"/bin/cat", "/data/in.txt"}, "stdout:", "stdout:from the host\n", "filesystem.mounts+=bind:" + ro + ":/data:ro"},
		{"bind ro not writable", []string{"--bind", ro + ":/data:ro"}, []string{"/bin/sh", "-c", "echo x > /data/new && echo wrote"}, "stdout:", "stdout:", ""},
		{"bind rw writable", []string{"--bind", rw + ":/data"}, []string{"/bin/sh", "-c", "echo x > /data/new && echo wrote"}, "stdout:", "stdout:wrote\n", "filesystem.mounts+=bind:" + rw + ":/data:rw"},
		{"tmpfs", []string{"--tmpfs", "/work:1M"}, []string{"/bin/sh", "-c", "echo x > /work/f && echo wrote"}, "stdout:", "stdout:wrote\n", "filesystem.mounts+=tmpfs:/work:1M"},
		{"env", []string{"--env", "GREETING=hi there"}, []string{"/bin/sh", "-c", `echo "$GREETING"`}, "stdout:\n", "stdout:hi there\n", "process.env.set.GREETING"},
		{"chdir", []string{"--tmpfs", "/work", "--chdir", "/work"}, []string{"/bin/pwd"}, "stdout:/tmp\n", "stdout:/work\n", "filesystem.workdir=/work"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(r run, want string) {
				t.Helper()
				if out, ok := strings.CutPrefix(want, "stdout:"); ok {
					if r.stdout != out {
						t.Errorf("stdout %q, want %q\n%v", r.stdout, out, r)
					}
					return
				}
				if r.status() != want {
					t.Errorf("status %q, want %q\n%v", r.status(), want, r)
				}
			}
			base := jailrun(t, append([]string{"--quiet", "--"}, tc.argv...))
			check(base, tc.without)
			r := jailrun(t, append(append(append([]string{"--quiet"}, tc.flags...), "--"), tc.argv...))
			check(r, tc.with)
			pol, _ := r.result["policy"].(map[string]any)
			if pol == nil {
				t.Fatalf("no policy in the result: %v", r)
			}
			if pol["sha256"] == base.result["policy"].(map[string]any)["sha256"] {
				t.Errorf("policy.sha256 is the same with and without %v", tc.flags)
			}
			if tc.override != "" {
				got, _ := pol["overrides"].([]any)
				found := false
				for _, o := range got {
					found = found || o == tc.override
				}
				if !found {
					t.Errorf("policy.overrides %v does not list %q", got, tc.override)
				}
			}
		})
	}
}

// A value the policy language refuses is a usage error in one line, exit 2, and nothing runs.
func TestOverrideFlagsRefused(t *testing.T) {
	for _, tc := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--memory", "64Q"}, `--memory: limits.memory: "64Q" is not a size`},
		{[]string{"--memory", "1K"}, "below the minimum of 1M"},
		{[]string{"--cpu-time", "2"}, `"2" is not a duration`},
		{[]string{"--wall-time", "-1s"}, "is not a duration"},
		{[]string{"--pids", "0"}, "out of range"},
		{[]string{"--pids", "many"}, "is not an integer"},
		{[]string{"--bind", "/etc"}, "want SRC:DST"},
		{[]string{"--bind", "/etc:/data:rx"}, "must be ro or rw"},
		{[]string{"--bind", "/etc:/proc/etc"}, "cannot put a bind mount at or under /proc"},
		{[]string{"--bind", "/proc:/p"}, `cannot bind "/proc"`},
		{[]string{"--bind", "/no/such/dir:/data"}, "no such file or directory"},
		{[]string{"--bind", "/etc:data"}, "is not absolute"},
		{[]string{"--tmpfs", "/work:12"}, "below the minimum of 4K"},
		{[]string{"--tmpfs", "/"}, `cannot mount over "/"`},
		{[]string{"--env", "NOEQUALS"}, "want NAME=VALUE"},
		{[]string{"--env", "1X=y"}, "not a valid variable name"},
		{[]string{"--chdir", "work"}, "is not absolute"},
		{[]string{"--tmpfs", "/etc"}, `"/etc" hides the earlier mount at "/etc/ld.so.cache"`}, // checked against the policy
	} {
		t.Run(strings.Join(tc.flags, " "), func(t *testing.T) {
			r := jailrun(t, append(tc.flags, "--", "/bin/echo", "ran"))
			if r.code != 2 || r.stdout != "" {
				t.Fatalf("exit %d, stdout %q; want exit 2 and no run\n%v", r.code, r.stdout, r)
			}
			msg := strings.TrimSuffix(r.stderr, "\n")
			if strings.Contains(msg, "\n") || !strings.HasPrefix(msg, "jailrun: ") || !strings.Contains(msg, tc.want) {
				t.Errorf("stderr %q, want one line containing %q", r.stderr, tc.want)
			}
		})
	}
}
