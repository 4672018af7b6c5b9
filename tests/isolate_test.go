package tests

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// These tests replay the command lines CMS's IsolateSandbox (cms/grading/Sandbox.py) gives isolate: the
// idempotent --cleanup, --init, a compilation with --full-env and many processes, evaluations with
// --stdin/--stdout, the limits and --meta, then --cleanup; and they read the meta file the way CMS does.

// isoFirstUID is jailrun isolate's default first box uid (isolate's default.cf value).
const isoFirstUID = 60000

type isoEnv struct {
	t      *testing.T
	root   string // JAILRUN_ISOLATE_ROOT
	cgName string // JAILRUN_CGROUP_PARENT given to jailrun (relative to the test's own cgroup) or ""
}

func newIsoEnv(t *testing.T) *isoEnv {
	t.Helper()
	requireRoot(t) // boxes are chowned to their own uids
	e := &isoEnv{t: t, root: filepath.Join(t.TempDir(), "boxes")}
	// jailrun opens bind sources as the box's user: the directories above the box root must let it through
	// (as /var/local/lib does).
	openPath(t, filepath.Dir(e.root))
	if os.Getenv("JAILRUN_CGROUP_PARENT") == "" {
		// A cgroup parent of this test's own, so that "no cgroup left" is checked against nothing else.
		e.cgName = fmt.Sprintf("jailrun-isotest-%d-%d", os.Getpid(), time.Now().UnixNano())
		t.Cleanup(func() {
			for _, d := range e.cgroupDirs() {
				os.Remove(d)
			}
		})
	}
	return e
}

func (e *isoEnv) env() []string {
	env := append(baseEnv(), "JAILRUN_ISOLATE_ROOT="+e.root)
	if e.cgName != "" {
		env = append(env, "JAILRUN_CGROUP_PARENT="+e.cgName)
	}
	return env
}

// isolate runs `jailrun isolate ARGS`.
func (e *isoEnv) isolate(args ...string) run {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, jailrunBin, append([]string{"isolate"}, args...)...)
	c.Env = e.env()
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	return collect(e.t, c, &out, &errb, "")
}

// cgroupDirs are the directories run cgroups of this test's jailrun processes are created in.
func (e *isoEnv) cgroupDirs() []string {
	if e.cgName == "" {
		return nil
	}
	b, _ := os.ReadFile("/proc/self/cgroup")
	var dirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.SplitN(l, ":", 3)
		if len(f) != 3 {
			continue
		}
		switch {
		case f[1] != "" && !strings.HasPrefix(f[1], "name="):
			// Every v1 hierarchy jailrun may use (freezer, cpuacct, memory, pids, ...): its parent is made in
			// each, and a parent left by one of them would pile up run after run.
			if d := filepath.Join("/sys/fs/cgroup", f[1], f[2], e.cgName); dirExists(d) {
				dirs = append(dirs, d)
			}
		case f[0] == "0" && f[1] == "":
			if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
				dirs = append(dirs, filepath.Join("/sys/fs/cgroup", f[2], e.cgName))
			}
		}
	}
	return dirs
}

// leftCgroups lists run cgroups still present below the test's cgroup parent.
func (e *isoEnv) leftCgroups() []string {
	var left []string
	for _, d := range e.cgroupDirs() {
		ents, _ := os.ReadDir(d)
		for _, en := range ents {
			if en.IsDir() {
				left = append(left, filepath.Join(d, en.Name()))
			}
		}
	}
	return left
}

// cmsSandbox mirrors one CMS Sandbox: an outer directory with "home" bound read-write at /tmp, box id, and
// the options build_box_options writes.
type cmsSandbox struct {
	e       *isoEnv
	id      int
	outer   string
	home    string
	execNum int
}

func (e *isoEnv) newCMS(id int) *cmsSandbox {
	e.t.Helper()
	outer, err := os.MkdirTemp(e.t.TempDir(), "cms-")
	if err != nil {
		e.t.Fatal(err)
	}
	// CMS's mkdtemp directory is 0700; jailrun opens bind sources as the box's user, so the directory above
	// the bound home must let that user through (docs/isolate.md).
	openPath(e.t, outer)
	home := filepath.Join(outer, "home")
	must(e.t, os.Mkdir(home, 0o777))
	must(e.t, os.Chmod(home, 0o777)) // allow_writing_all
	s := &cmsSandbox{e: e, id: id, outer: outer, home: home, execNum: -1}
	// CMS first cleans up idempotently, then initialises.
	if r := e.isolate(fmt.Sprintf("--box-id=%d", id), "--cg", "--cleanup"); r.code != 0 {
		e.t.Fatalf("first cleanup: %v", r)
	}
	r := e.isolate(fmt.Sprintf("--box-id=%d", id), "--cg", "--init")
	if r.code != 0 {
		e.t.Fatalf("init: %v", r)
	}
	if want := filepath.Join(e.root, strconv.Itoa(id)) + "\n"; r.stdout != want {
		e.t.Fatalf("--init printed %q, want the box's parent %q as isolate does", r.stdout, want)
	}
	return s
}

type cmsRun struct {
	argv                  []string
	fullEnv               bool
	processes             int
	timeout, wall, extra  float64
	memKB, fsizeKB, stack int
	stdin, stdout, stderr string
	dirs                  []string // extra --dir rules
}

// run replays build_box_options + _popen: `isolate <options> -- <argv>`, then reads the meta file.
func (s *cmsSandbox) run(c cmsRun) (run, map[string][]string) {
	s.e.t.Helper()
	s.execNum++
	opts := []string{"--cg", fmt.Sprintf("--box-id=%d", s.id), "--chdir=/tmp",
		"--dir=/tmp=" + s.home + ":rw", "--dir=/dev/shm:tmp"}
	if _, err := os.Stat("/etc/alternatives"); err == nil {
		opts = append(opts, "--dir=/etc/alternatives=/etc/alternatives")
	}
	for _, d := range c.dirs {
		opts = append(opts, "--dir="+d)
	}
	if c.fullEnv {
		opts = append(opts, "--full-env")
	}
	opts = append(opts, "--env=HOME=/tmp")
	if c.fsizeKB > 0 {
		opts = append(opts, fmt.Sprintf("--fsize=%d", c.fsizeKB))
	}
	if c.stdin != "" {
		opts = append(opts, "--stdin=/tmp/"+c.stdin)
	}
	if c.stack > 0 {
		opts = append(opts, fmt.Sprintf("--stack=%d", c.stack))
	}
	if c.memKB > 0 {
		opts = append(opts, fmt.Sprintf("--cg-mem=%d", c.memKB))
	}
	if c.stdout != "" {
		opts = append(opts, "--stdout=/tmp/"+c.stdout)
	}
	opts = append(opts, fmt.Sprintf("--processes=%d", c.processes))
	if c.stderr != "" {
		opts = append(opts, "--stderr=/tmp/"+c.stderr)
	}
	if c.timeout > 0 {
		opts = append(opts, fmt.Sprintf("--time=%g", c.timeout))
	}
	if c.wall > 0 {
		opts = append(opts, fmt.Sprintf("--wall-time=%g", c.wall))
	}
	if c.extra > 0 {
		opts = append(opts, fmt.Sprintf("--extra-time=%g", c.extra))
	}
	metaPath := filepath.Join(s.outer, fmt.Sprintf("run.meta.%d", s.execNum))
	opts = append(opts, "--meta="+metaPath, "--run", "--")
	r := s.e.isolate(append(opts, c.argv...)...)
	return r, readCMSMeta(s.e.t, metaPath)
}

func (s *cmsSandbox) cleanup() run {
	s.e.t.Helper()
	return s.e.isolate(fmt.Sprintf("--box-id=%d", s.id), "--cg", "--cleanup")
}

// readMeta parses a meta file as CMS's get_meta does: key:value lines, a key may repeat.
func readCMSMeta(t *testing.T, path string) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("meta file: %v", err)
	}
	m := map[string][]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), ":")
		if !ok {
			t.Fatalf("meta line %q is not key:value", sc.Text())
		}
		if !isolateKeys[k] {
			t.Errorf("meta key %q is not one isolate.1 defines", k)
		}
		m[k] = append(m[k], v)
	}
	return m
}

// cmsStatus is CMS's get_exit_status on a meta file.
func cmsStatus(m map[string][]string) string {
	st := m["status"]
	has := func(s string) bool {
		for _, x := range st {
			if x == s {
				return true
			}
		}
		return false
	}
	switch {
	case has("XX"):
		return "sandbox error"
	case has("TO"):
		if len(m["message"]) > 0 && strings.Contains(m["message"][0], "wall") {
			return "wall timeout"
		}
		return "timeout"
	case has("SG"):
		if _, ok := m["cg-oom-killed"]; ok {
			return "memory limit exceeded"
		}
		return "signal"
	case has("RE"):
		return "nonzero return"
	}
	return "ok"
}

func keys(m map[string][]string) string {
	var ks []string
	for k, v := range m {
		ks = append(ks, k+"="+strings.Join(v, ","))
	}
	sort.Strings(ks)
	return strings.Join(ks, " ")
}

// openPath makes dir and its ancestors traversable (o+x) by other users, such as a box's uid.
func openPath(t *testing.T, dir string) {
	t.Helper()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if st, err := os.Stat(d); err == nil && st.Mode().Perm()&0o001 == 0 {
			must(t, os.Chmod(d, st.Mode().Perm()|0o011))
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// checkMeta asserts the keys isolate.1 says a meta file of this outcome has, and those it must not have.
func checkMeta(t *testing.T, m map[string][]string, present map[string]string, absent ...string) {
	t.Helper()
	for _, k := range []string{"time", "time-wall", "max-rss", "csw-voluntary", "csw-forced", "cg-mem"} {
		if _, ok := m[k]; !ok {
			t.Errorf("meta has no %s: %s", k, keys(m))
		}
	}
	if v, err := strconv.ParseFloat(first(m["time"]), 64); err != nil || v < 0 {
		t.Errorf("time %q is not fractional seconds", first(m["time"]))
	}
	for k, want := range present {
		got, ok := m[k]
		if !ok || (want != "" && first(got) != want) {
			t.Errorf("meta %s = %q, want %q (%s)", k, got, want, keys(m))
		}
	}
	for _, k := range absent {
		if _, ok := m[k]; ok {
			t.Errorf("meta has %s, which isolate does not write here (%s)", k, keys(m))
		}
	}
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

const cppSource = `#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>
int main(int argc, char **argv) {
	long a, b;
	if (scanf("%ld %ld", &a, &b) != 2) return 3;
	if (a == 1) { printf("%ld\n", a + b + 1); return 0; }          // wrong answer
	if (a == 2) { volatile long x = 0; for (;;) x++; }              // time limit
	if (a == 3) { std::vector<char*> v; for (;;) { char *p = (char*)malloc(1 << 20); memset(p, 1, 1 << 20); v.push_back(p); } }
	if (a == 4) return 42;                                          // runtime error
	if (a == 5) { for (;;) fputs("0123456789abcdef", stdout); }     // output limit (fsize)
	printf("%ld\n", a + b);
	return 0;
}
`

// TestIsolateCMSCpp is CMS's whole sequence for a C++ task: compile in the box, then one evaluation per
// verdict, each meta file read and judged the way CMS does it.
func TestIsolateCMSCpp(t *testing.T) {
	e := newIsoEnv(t)
	s := e.newCMS(11)
	must(t, os.WriteFile(filepath.Join(s.home, "sol.cpp"), []byte(cppSource), 0o644))
	r, m := s.run(cmsRun{argv: []string{"/usr/bin/g++", "-DEVAL", "-std=gnu++17", "-O2", "-pipe", "-static", "-s", "-o", "sol", "sol.cpp"},
		fullEnv: true, processes: 1000, timeout: 10, wall: 60, memKB: 512 << 10,
		stdout: "compiler_stdout.txt", stderr: "compiler_stderr.txt"})
	if r.code != 0 || cmsStatus(m) != "ok" {
		errOut, _ := os.ReadFile(filepath.Join(s.home, "compiler_stderr.txt"))
		t.Fatalf("compilation: %v\nmeta %s\ncompiler: %s", r, keys(m), errOut)
	}
	checkMeta(t, m, map[string]string{"exitcode": "0"}, "status", "message", "killed", "exitsig")
	if !strings.HasPrefix(r.stderr, "OK (") || !strings.Contains(r.stderr, " sec real, ") {
		t.Errorf("status line %q, want isolate's \"OK (X sec real, Y sec wall)\"", r.stderr)
	}

	for _, tc := range []struct {
		name    string
		input   string
		cms     string
		code    int
		present map[string]string
		absent  []string
		output  string
	}{
		{"accepted", "20 22", "ok", 0, map[string]string{"exitcode": "0"}, []string{"status", "message", "killed", "exitsig", "cg-oom-killed"}, "42\n"},
		{"wrong answer", "1 1", "ok", 0, map[string]string{"exitcode": "0"}, []string{"status", "killed"}, "3\n"},
		{"time limit", "2 0", "timeout", 1, map[string]string{"status": "TO", "killed": "1", "message": "Time limit exceeded"}, []string{"exitcode", "cg-oom-killed"}, ""},
		{"memory limit", "3 0", "memory limit exceeded", 1, map[string]string{"status": "SG", "cg-oom-killed": "1", "exitsig": ""}, []string{"exitcode", "killed"}, ""},
		{"runtime error", "4 0", "nonzero return", 1, map[string]string{"status": "RE", "exitcode": "42", "message": "Exited with error status 42"}, []string{"exitsig", "killed", "cg-oom-killed"}, ""},
		{"output limit", "5 0", "signal", 1, map[string]string{"status": "SG", "exitsig": "25"}, []string{"exitcode", "cg-oom-killed"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			must(t, os.WriteFile(filepath.Join(s.home, "input.txt"), []byte(tc.input+"\n"), 0o644))
			os.Remove(filepath.Join(s.home, "output.txt"))
			// A generous wall limit: on a loaded machine the CPU limit must still be the one that fires.
			r, m := s.run(cmsRun{argv: []string{"./sol"}, processes: 1, timeout: 1, wall: 30, memKB: 64 << 10,
				fsizeKB: 1024, stack: 64 << 10, stdin: "input.txt", stdout: "output.txt"})
			if r.code != tc.code || cmsStatus(m) != tc.cms {
				t.Fatalf("%v\nmeta %s: CMS would say %q, want %q", r, keys(m), cmsStatus(m), tc.cms)
			}
			checkMeta(t, m, tc.present, tc.absent...)
			out, err := os.ReadFile(filepath.Join(s.home, "output.txt"))
			must(t, err)
			if tc.output != "" && string(out) != tc.output {
				t.Errorf("output %q, want %q (the grader compares it)", out, tc.output)
			}
			if tc.name == "output limit" && len(out) != 1024<<10 {
				t.Errorf("output file is %d bytes, want exactly the --fsize cap %d", len(out), 1024<<10)
			}
			if tc.name == "wrong answer" && string(out) == "2\n" {
				t.Error("wrong answer printed the right one")
			}
		})
	}
	if r := s.cleanup(); r.code != 0 {
		t.Fatalf("cleanup: %v", r)
	}
	assertCleaned(t, e, 11)
}

// TestIsolateCMSPython: an interpreted solution through the same sequence (no compile step).
func TestIsolateCMSPython(t *testing.T) {
	skipInVM(t, "a Python memory hog outruns its 1 s CPU limit before its memory limit")
	e := newIsoEnv(t)
	s := e.newCMS(12)
	must(t, os.WriteFile(filepath.Join(s.home, "sol.py"), []byte(`import sys
a, b = map(int, sys.stdin.read().split())
if a == 2:
    while True: pass
if a == 3:
    x = bytearray(1 << 30)
if a == 4:
    sys.exit(5)
print(a + b)
`), 0o644))
	for _, tc := range []struct {
		input, cms, out string
	}{
		{"20 22", "ok", "42\n"}, {"2 0", "timeout", ""}, {"3 0", "memory limit exceeded", ""}, {"4 0", "nonzero return", ""},
	} {
		must(t, os.WriteFile(filepath.Join(s.home, "input.txt"), []byte(tc.input), 0o644))
		r, m := s.run(cmsRun{argv: []string{"/usr/bin/python3", "sol.py"}, processes: 1, timeout: 1, wall: 30,
			memKB: 128 << 10, stdin: "input.txt", stdout: "output.txt"})
		if cmsStatus(m) != tc.cms {
			t.Errorf("input %q: CMS would say %q, want %q\n%v\nmeta %s", tc.input, cmsStatus(m), tc.cms, r, keys(m))
		}
		if tc.out != "" {
			if out, _ := os.ReadFile(filepath.Join(s.home, "output.txt")); string(out) != tc.out {
				t.Errorf("output %q, want %q", out, tc.out)
			}
		}
	}
	must(t, func() error {
		if r := s.cleanup(); r.code != 0 {
			return fmt.Errorf("cleanup: %v", r)
		}
		return nil
	}())
	assertCleaned(t, e, 12)
}

// TestIsolateCMSJava: javac and java (many threads) through the same sequence. Debian's JDK reads its
// configuration through a symlink into /etc/java-17-openjdk, which a grader binds with --dir (with isolate
// too: its default rules have no /etc).
func TestIsolateCMSJava(t *testing.T) {
	skipInVM(t, "javac and the JVM are too slow")
	javaConf, _ := filepath.Glob("/etc/java-*-openjdk")
	if _, err := exec.LookPath("javac"); err != nil || len(javaConf) == 0 {
		t.Skip("needs a JDK (javac and /etc/java-*-openjdk)")
	}
	e := newIsoEnv(t)
	s := e.newCMS(13)
	must(t, os.WriteFile(filepath.Join(s.home, "Main.java"), []byte(`import java.util.*;
public class Main {
	public static void main(String[] args) {
		Scanner in = new Scanner(System.in);
		long a = in.nextLong(), b = in.nextLong();
		if (a == 2) { long x = 0; while (true) x++; }
		if (a == 4) throw new RuntimeException("boom");
		System.out.println(a + b);
	}
}
`), 0o644))
	dirs := []string{javaConf[0]}
	r, m := s.run(cmsRun{argv: []string{"/usr/bin/javac", "Main.java"}, fullEnv: true, processes: 1000, timeout: 30,
		wall: 120, memKB: 1 << 20, dirs: dirs, stderr: "compiler_stderr.txt"})
	if cmsStatus(m) != "ok" {
		errOut, _ := os.ReadFile(filepath.Join(s.home, "compiler_stderr.txt"))
		t.Fatalf("javac: %v\nmeta %s\n%s", r, keys(m), errOut)
	}
	for _, tc := range []struct{ input, cms, out string }{
		{"20 22", "ok", "42\n"}, {"2 0", "timeout", ""}, {"4 0", "nonzero return", ""},
	} {
		must(t, os.WriteFile(filepath.Join(s.home, "input.txt"), []byte(tc.input), 0o644))
		r, m := s.run(cmsRun{argv: []string{"/usr/bin/java", "-Xmx256m", "-Xss64m", "Main"}, processes: 1000, timeout: 2,
			wall: 60, memKB: 1 << 20, dirs: dirs, stdin: "input.txt", stdout: "output.txt"})
		if cmsStatus(m) != tc.cms {
			t.Errorf("input %q: CMS would say %q, want %q\n%v\nmeta %s", tc.input, cmsStatus(m), tc.cms, r, keys(m))
		}
		if tc.out != "" {
			if out, _ := os.ReadFile(filepath.Join(s.home, "output.txt")); string(out) != tc.out {
				t.Errorf("output %q, want %q", out, tc.out)
			}
		}
	}
	if r := s.cleanup(); r.code != 0 {
		t.Fatalf("cleanup: %v", r)
	}
	assertCleaned(t, e, 13)
}

// assertCleaned: after --cleanup nothing of the box is left: no directory, no lock, no cgroup, no process.
func assertCleaned(t *testing.T, e *isoEnv, id int) {
	t.Helper()
	for _, p := range []string{filepath.Join(e.root, strconv.Itoa(id)), filepath.Join(e.root, strconv.Itoa(id)+".lock")} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s is still there after --cleanup", p)
		}
	}
	if left := e.leftCgroups(); len(left) > 0 {
		t.Errorf("cgroups left: %v", left)
	}
	if pids := procsMatching(e.root); len(pids) > 0 {
		t.Errorf("processes left: %v", pids)
	}
}

// TestIsolateBoxLayout: --init makes <root>/<id>/box owned by the caller; during --run the box belongs to the
// box's own host uid (60000+id) so that the sandbox can write it; afterwards everything in it is the
// caller's again, readable, and special files the program left are gone.
func TestIsolateBoxLayout(t *testing.T) {
	e := newIsoEnv(t)
	r := e.isolate("-b", "5", "--init")
	if r.code != 0 {
		t.Fatal(r)
	}
	parent := filepath.Join(e.root, "5")
	box := filepath.Join(parent, "box")
	st := stat(t, box)
	if st.Uid != 0 || st.Mode&0o777 != 0o700 || stat(t, parent).Mode&0o777 != 0o755 {
		t.Fatalf("after init: box uid %d mode %o, parent mode %o", st.Uid, st.Mode&0o777, stat(t, parent).Mode&0o777)
	}
	// During the run, look from the host.
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, jailrunBin, "isolate", "-b", "5", "-p", "-E", "PATH=/usr/bin:/bin", "--run", "--",
		"/bin/sh", "-c", "echo hi > made.txt; mkdir d; mkfifo d/fifo; sleep 1")
	c.Env = e.env()
	var errb bytes.Buffer
	c.Stderr = &errb
	must(t, c.Start())
	uidDuring := uint32(0)
	for i := 0; i < 100 && uidDuring == 0; i++ {
		uidDuring = stat(t, box).Uid
		time.Sleep(10 * time.Millisecond)
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("run: %v %s", err, errb.String())
	}
	if uidDuring != isoFirstUID+5 {
		t.Errorf("during the run the box belonged to %d, want the box's uid %d", uidDuring, isoFirstUID+5)
	}
	for _, p := range []string{box, filepath.Join(box, "made.txt"), filepath.Join(box, "d")} {
		if st := stat(t, p); st.Uid != 0 || st.Gid != 0 {
			t.Errorf("%s belongs to %d:%d after the run, want the caller's 0:0", p, st.Uid, st.Gid)
		}
	}
	if _, err := os.Lstat(filepath.Join(box, "d", "fifo")); err == nil {
		t.Error("a FIFO the program made is still in the box")
	}
	// --init again resets the box.
	if r := e.isolate("-b", "5", "--init"); r.code != 0 {
		t.Fatal(r)
	}
	if ents, _ := os.ReadDir(box); len(ents) != 0 {
		t.Errorf("--init on an existing box left %d entries", len(ents))
	}
	if r := e.isolate("-b", "5", "--cleanup"); r.code != 0 {
		t.Fatal(r)
	}
	assertCleaned(t, e, 5)
	// A second cleanup does nothing and succeeds, as in isolate.
	if r := e.isolate("-b", "5", "--cleanup"); r.code != 0 {
		t.Fatal(r)
	}
}

func stat(t *testing.T, p string) *syscall.Stat_t {
	t.Helper()
	fi, err := os.Lstat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t)
}

// TestIsolateConcurrentBoxes: two box ids run at once, each sees only its own box, and one box is busy
// for a second command until the first ends.
func TestIsolateConcurrentBoxes(t *testing.T) {
	e := newIsoEnv(t)
	for _, id := range []string{"21", "22"} {
		if r := e.isolate("-b", id, "--init"); r.code != 0 {
			t.Fatal(r)
		}
		must(t, os.WriteFile(filepath.Join(e.root, id, "box", "mine"), []byte(id), 0o644))
	}
	var wg sync.WaitGroup
	res := map[string]run{}
	var mu sync.Mutex
	for _, id := range []string{"21", "22"} {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			r := e.isolate("-b", id, "-p", "-o", "out", "--run", "--", "/bin/sh", "-c",
				"/bin/sleep 1; /bin/cat /box/mine; /bin/ls /box; /bin/ls "+e.root+" 2>&1; /bin/id -u")
			mu.Lock()
			res[id] = r
			mu.Unlock()
		}(id)
	}
	time.Sleep(300 * time.Millisecond)
	busy := e.isolate("-b", "21", "--run", "--", "/bin/true")
	wg.Wait()
	for id, r := range res {
		out, _ := os.ReadFile(filepath.Join(e.root, id, "box", "out"))
		want := id + "mine\nout\n/bin/ls: cannot access '" + e.root + "': No such file or directory\n1000\n"
		if r.code != 0 || string(out) != want {
			t.Errorf("box %s: %v\noutput %q\nwant   %q", id, r, out, want)
		}
	}
	if busy.code != 2 || !strings.Contains(busy.stderr, "in use") {
		t.Errorf("a second command on a busy box: %v, want exit 2 and \"in use\"", busy)
	}
	for _, id := range []string{"21", "22"} {
		if r := e.isolate("-b", id, "--cleanup"); r.code != 0 {
			t.Fatal(r)
		}
		n, _ := strconv.Atoi(id)
		assertCleaned(t, e, n)
	}
}

// TestIsolateErrors: isolate's exit codes for what is not the program's fault: 2 with status:XX in the meta
// file (a missing box, an option jailrun refuses), 2 for usage errors. (A command that cannot be executed
// is the program's failure, as in isolate: TestIsolateExecFailure.)
func TestIsolateErrors(t *testing.T) {
	e := newIsoEnv(t)
	meta := filepath.Join(t.TempDir(), "meta")
	r := e.isolate("-b", "30", "-M", meta, "--run", "--", "/bin/true")
	if r.code != 2 || !strings.Contains(r.stderr, "Box directory not found") {
		t.Errorf("run without init: %v", r)
	}
	if m := readCMSMeta(t, meta); first(m["status"]) != "XX" {
		t.Errorf("meta %s, want status:XX", keys(m))
	}
	if r := e.isolate("-b", "30", "--init"); r.code != 0 {
		t.Fatal(r)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-q", "100,100", "--run", "--", "/bin/true"}, "--quota"},
		{[]string{"--inherit-fds", "--run", "--", "/bin/true"}, "--inherit-fds"},
		{[]string{"-d", "/dev/kvm:dev", "--run", "--", "/bin/true"}, "device access"},
		{[]string{"-o", "/usr/out", "--run", "--", "/bin/true"}, "read-only"},
	} {
		r := e.isolate(append([]string{"-b", "30", "-M", meta}, tc.args...)...)
		m := readCMSMeta(t, meta)
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || first(m["status"]) != "XX" {
			t.Errorf("%q: %v\nmeta %s; want exit 2, %q, status:XX", tc.args, r, keys(m), tc.want)
		}
	}
	for _, args := range [][]string{{"-b", "30"}, {"--init", "--run"}, {"--bogus", "--init"}, {"--cg-mem=100", "--run", "--", "/bin/true"}, {"-b", "1000", "--init"}} {
		if r := e.isolate(args...); r.code != 2 || r.stdout != "" {
			t.Errorf("%q: %v, want usage error exit 2", args, r)
		}
	}
	// A symlink planted in the box cannot redirect --stdout outside it.
	must(t, os.Symlink("/etc/passwd", filepath.Join(e.root, "30", "box", "link")))
	if r := e.isolate("-b", "30", "-o", "link", "--run", "--", "/bin/echo", "x"); r.code != 2 {
		t.Errorf("--stdout through a symlink: %v", r)
	}
	if r := e.isolate("-b", "30", "-s", "--run", "--", "/bin/false"); r.code != 1 || r.stderr != "" {
		t.Errorf("--silent failed program: %v, want exit 1 and nothing on stderr", r)
	}
	if r := e.isolate("-b", "30", "--cleanup"); r.code != 0 {
		t.Fatal(r)
	}
}

// TestIsolateEnvDirsAndName: the environment is exactly isolate's (LIBC_FATAL_STDERR_=1 plus the -E rules),
// directory rules and --chdir take effect, --wait waits for a busy box, and the binary answers to the name
// "isolate" as to `jailrun isolate`.
func TestIsolateEnvDirsAndName(t *testing.T) {
	e := newIsoEnv(t)
	name := filepath.Join(t.TempDir(), "isolate")
	must(t, os.Symlink(jailrunBin, name))
	c := exec.Command(name, "-b", "40", "--init")
	c.Env = append(e.env(), "SECRET=host")
	out, err := c.Output()
	if err != nil || string(out) != filepath.Join(e.root, "40")+"\n" {
		t.Fatalf("isolate as a symlink: %q %v", out, err)
	}
	box := filepath.Join(e.root, "40", "box")
	must(t, os.Mkdir(filepath.Join(box, "sub"), 0o755))
	data := t.TempDir()
	openPath(t, data)
	must(t, os.WriteFile(filepath.Join(data, "f"), []byte("data"), 0o644))

	c = exec.Command(name, "-b", "40", "-p", "-E", "PATH=/usr/bin:/bin", "-E", "SECRET", "-E", "GONE=x", "-E", "GONE=",
		"-d", "/data="+data, "-d", "/scratch:tmp", "-c", "sub", "-o", "/box/out", "--run", "--",
		"/bin/sh", "-c", "env | sort; pwd; cat /data/f; echo; echo hi > /scratch/x && cat /scratch/x; echo no > /data/g || echo ro")
	c.Env = append(e.env(), "SECRET=host")
	if b, err := c.CombinedOutput(); err != nil {
		t.Fatalf("run: %v %s", err, b)
	}
	got, _ := os.ReadFile(filepath.Join(box, "out"))
	want := "LIBC_FATAL_STDERR_=1\nPATH=/usr/bin:/bin\nPWD=/box/sub\nSECRET=host\n/box/sub\ndata\nhi\nro\n"
	if string(got) != want {
		t.Errorf("output:\n%s\nwant:\n%s", got, want)
	}

	// --wait: a second command on a busy box waits instead of failing.
	c = exec.Command(name, "-b", "40", "--run", "--", "/bin/sleep", "1")
	c.Env = e.env()
	must(t, c.Start())
	time.Sleep(300 * time.Millisecond)
	if r := e.isolate("-b", "40", "--wait", "--run", "--", "/bin/true"); r.code != 0 {
		t.Errorf("--wait on a busy box: %v", r)
	}
	must(t, c.Wait())
	if r := e.isolate("-b", "40", "--cleanup"); r.code != 0 {
		t.Fatal(r)
	}
	assertCleaned(t, e, 40)
}

func dirExists(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}
