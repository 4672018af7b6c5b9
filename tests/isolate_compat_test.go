package tests

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// These tests check jailrun isolate against what isolate 2.x itself does (isolate.c, util.c, rules.c) where
// a grader can tell the difference: what is left in the box, how a command that cannot be executed ends,
// -M -, --help, signals to the keeper, /dev/null redirections, relative argv[0], the box uid range.

// initBox runs --init for id and returns the box directory.
func initBox(t *testing.T, e *isoEnv, id string) string {
	t.Helper()
	if r := e.isolate("-b", id, "--init"); r.code != 0 {
		t.Fatal(r)
	}
	t.Cleanup(func() { e.isolate("-b", id, "--cleanup") })
	return filepath.Join(e.root, id, "box")
}

// TestIsolateSymlinksRemoved: as isolate's chowntree_helper, everything the program leaves in the box that is
// neither a regular file nor a directory is removed after the run: a symlink planted where the grader reads
// its output (out.txt -> /etc/shadow) must not lead a root grader to a host file. --special-files keeps them.
func TestIsolateSymlinksRemoved(t *testing.T) {
	e := newIsoEnv(t)
	box := initBox(t, e, "50")
	plant := "rm /box/out.txt; ln -s /etc/shadow /box/out.txt; mkdir d; ln -s / d/root; ln -s out.txt rel; mkfifo f; echo x > kept"
	if r := e.isolate("-b", "50", "-p", "-o", "out.txt", "--run", "--", "/bin/sh", "-c", plant); r.code != 0 {
		t.Fatal(r)
	}
	for _, p := range []string{"out.txt", "d/root", "rel", "f"} {
		if _, err := os.Lstat(filepath.Join(box, p)); err == nil {
			t.Errorf("%s the program made is still in the box", p)
		}
	}
	if b, err := os.ReadFile(filepath.Join(box, "kept")); err != nil || string(b) != "x\n" {
		t.Errorf("regular file: %q %v", b, err)
	}
	if fi, err := os.Lstat(filepath.Join(box, "d")); err != nil || !fi.IsDir() {
		t.Errorf("directory: %v", err)
	}

	if r := e.isolate("-b", "50", "-p", "--special-files", "--run", "--", "/bin/sh", "-c", "ln -s /etc/shadow link; mkfifo f2"); r.code != 0 {
		t.Fatal(r)
	}
	if target, err := os.Readlink(filepath.Join(box, "link")); err != nil || target != "/etc/shadow" {
		t.Errorf("--special-files: symlink %q %v, want it kept", target, err)
	}
	if fi, err := os.Lstat(filepath.Join(box, "f2")); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("--special-files: FIFO %v, want it kept", err)
	}
}

// TestIsolateExecFailure: a command that cannot be executed ends as in isolate, whose box_inside prints
// execve("CMD"): <error> on the program's stderr and exits 127: status:RE, exitcode:127, "Exited with error
// status 127", exit code 1. CMS takes status:XX for a sandbox failure and retries the job forever.
func TestIsolateExecFailure(t *testing.T) {
	e := newIsoEnv(t)
	box := initBox(t, e, "51")
	must(t, os.WriteFile(filepath.Join(box, "badshebang"), []byte("#!/nonexistent/interp\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(box, "garbage"), []byte("\x01\x02\x03garbage\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(box, "noexec"), []byte("#!/bin/sh\n"), 0o644))
	meta := filepath.Join(t.TempDir(), "meta")
	for _, tc := range []struct {
		cmd, err string
	}{
		{"/nonexistent", "No such file or directory"},
		{"./missing", "No such file or directory"},
		{"./badshebang", "No such file or directory"},
		{"./garbage", "Exec format error"},
		{"./noexec", "Permission denied"},
	} {
		// The execve line goes where the program's stderr goes: here the -r file.
		r := e.isolate("-b", "51", "-M", meta, "-r", "err.txt", "--run", "--", tc.cmd)
		m := readCMSMeta(t, meta)
		errTxt, _ := os.ReadFile(filepath.Join(box, "err.txt"))
		wantErr := `execve("` + tc.cmd + `"): ` + tc.err + "\n"
		if r.code != 1 || r.stderr != "Exited with error status 127\n" || string(errTxt) != wantErr {
			t.Errorf("%s: %v\nerr.txt %q, want exit 1, the status line and %q", tc.cmd, r, errTxt, wantErr)
		}
		// checkMeta's figures but cg-mem: the run never reached the point where the cgroup is read.
		for k, want := range map[string]string{"status": "RE", "exitcode": "127", "message": "Exited with error status 127",
			"time": "", "time-wall": "", "max-rss": "", "csw-voluntary": "", "csw-forced": "", "exitsig": "-", "killed": "-"} {
			got, ok := m[k]
			if want == "-" && ok || want != "-" && (!ok || want != "" && first(got) != want) {
				t.Errorf("%s: meta %s = %q, want %q (%s)", tc.cmd, k, got, want, keys(m))
			}
		}
		if cmsStatus(m) != "nonzero return" {
			t.Errorf("%s: CMS reads %q", tc.cmd, cmsStatus(m))
		}
	}
	// Without -r the line is on jailrun's own stderr, before the status line.
	if r := e.isolate("-b", "51", "--run", "--", "./missing"); r.code != 1 ||
		r.stderr != "execve(\"./missing\"): No such file or directory\nExited with error status 127\n" {
		t.Errorf("stderr not redirected: %v", r)
	}
}

// TestIsolateProcRule: isolate's fs rule for /proc, in every spelling graders use (its default rule
// proc=proc:fs, its usage example /proc:proc:fs, options after it, re-adding a removed /proc), gives the
// default layout's proc; other filesystems and places are refused in one line.
func TestIsolateProcRule(t *testing.T) {
	e := newIsoEnv(t)
	initBox(t, e, "52")
	// The sandbox's own pid namespace (jailrun's init is pid 1, the program 2) and one proc, read-only.
	probe := "read s < /proc/self/stat && echo ${s%% *} && grep -c ' /proc proc ro,' /proc/self/mounts"
	def := e.isolate("-b", "52", "-p", "--run", "--", "/bin/sh", "-c", probe)
	if def.code != 0 || def.stdout != "2\n1\n" {
		t.Fatalf("default layout: %v", def)
	}
	for _, rules := range [][]string{
		{"-d", "/proc=proc:fs"}, {"--dir=/proc:proc:fs"}, {"-d", "/proc=proc:fs,rw"}, {"-d", "/proc=proc:fs:rw:noexec"},
		{"-d", "proc=proc:fs"}, {"-d", "/proc=", "-d", "/proc=proc:fs"},
	} {
		args := append(append([]string{"-b", "52", "-p"}, rules...), "--run", "--", "/bin/sh", "-c", probe)
		if r := e.isolate(args...); r.code != 0 || r.stdout != def.stdout {
			t.Errorf("%q: %v, want the default layout's %q", rules, r, def.stdout)
		}
	}
	for _, tc := range []struct{ rule, want string }{
		{"/proc=sysfs:fs", "only proc and tmpfs can be mounted"},
		{"/sys=proc:fs", "proc can be mounted only at /proc"},
		{"/proc:fs", "fs needs the filesystem type"},
	} {
		r := e.isolate("-b", "52", "-d", tc.rule, "--run", "--", "/bin/true")
		if r.code != 2 || !strings.Contains(r.stderr, tc.want) || strings.Contains(r.stderr, "{") {
			t.Errorf("%s: %v, want exit 2 and %q in one line", tc.rule, r, tc.want)
		}
	}
}

// TestIsolateBoxUIDRangeHint: CMS's box ids ((1+shard%64)*1000+index) need more than the default 1000 boxes;
// raising only the number of boxes makes the uid range cross 65534, and the refusal names a first uid that
// works, which then does.
func TestIsolateBoxUIDRangeHint(t *testing.T) {
	e := newIsoEnv(t)
	c := exec.Command(jailrunBin, "isolate", "-b", "64999", "--init")
	c.Env = append(e.env(), "JAILRUN_ISOLATE_NUM_BOXES=65000")
	out, _ := c.CombinedOutput()
	msg := string(out)
	i := strings.Index(msg, "JAILRUN_ISOLATE_FIRST_UID=")
	if c.ProcessState.ExitCode() != 2 || i < 0 || strings.Count(msg, "\n") != 1 {
		t.Fatalf("%q: want exit 2 and one line naming JAILRUN_ISOLATE_FIRST_UID=N", msg)
	}
	first := strings.Fields(msg[i:])[0]
	for _, args := range [][]string{{"-b", "64999", "--init"}, {"-b", "64999", "--run", "--", "/bin/true"}, {"-b", "64999", "--cleanup"}} {
		c = exec.Command(jailrunBin, append([]string{"isolate"}, args...)...)
		c.Env = append(e.env(), "JAILRUN_ISOLATE_NUM_BOXES=65000", first)
		if out, err := c.CombinedOutput(); err != nil {
			t.Fatalf("with %s, %q: %v %s", first, args, err, out)
		}
	}
}

// TestIsolateBoxUIDsOfAHostUser: as root, box ids that a host user has are refused (the program would run
// as that user on the host, who could then signal or trace it, and the box would be chowned to it), with a
// range that works.
func TestIsolateBoxUIDsOfAHostUser(t *testing.T) {
	requirePrivileged(t)
	e := newIsoEnv(t)
	b, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	uid := ""
	for _, line := range strings.Split(string(b), "\n") {
		if p := strings.Split(line, ":"); len(p) > 3 && p[2] != "0" && p[2] != "65534" {
			uid = p[2]
			break
		}
	}
	if uid == "" {
		t.Skip("/etc/passwd has no user but root and nobody")
	}
	c := exec.Command(jailrunBin, "isolate", "-b", "0", "--init")
	c.Env = append(e.env(), "JAILRUN_ISOLATE_FIRST_UID="+uid)
	out, _ := c.CombinedOutput()
	if c.ProcessState.ExitCode() != 2 || !strings.Contains(string(out), "overlaps") || !strings.Contains(string(out), "JAILRUN_ISOLATE_FIRST_UID=") {
		t.Fatalf("box uids from host uid %s: %q, exit %d; want exit 2 naming the clash and a range that works", uid, out, c.ProcessState.ExitCode())
	}
}

// TestIsolateMetaStdout: -M - writes the meta data to stdout, as isolate's meta_open does, and no file named "-".
func TestIsolateMetaStdout(t *testing.T) {
	e := newIsoEnv(t)
	initBox(t, e, "53")
	dir := t.TempDir()
	c := exec.Command(jailrunBin, "isolate", "-b", "53", "-M", "-", "--run", "--", "/bin/sh", "-c", "exit 3")
	c.Env, c.Dir = e.env(), dir
	out, err := c.Output()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("exit %v", err)
	}
	for _, want := range []string{"exitcode:3\n", "status:RE\n", "message:Exited with error status 3\n", "time-wall:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("stdout %q lacks %q", out, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dir, "-")); err == nil {
		t.Error("-M - created a file named -")
	}
}

// TestIsolateNoLockWithoutInit: as in isolate, only --init creates a box's lock; --run and --cleanup of a
// box that was never initialised leave nothing behind, not even the box root.
func TestIsolateNoLockWithoutInit(t *testing.T) {
	e := newIsoEnv(t)
	if r := e.isolate("-b", "54", "--run", "--", "/bin/true"); r.code != 2 || !strings.Contains(r.stderr, "did you run `isolate --init'") {
		t.Errorf("run without init: %v", r)
	}
	if _, err := os.Lstat(filepath.Join(e.root, "54.lock")); err == nil {
		t.Error("--run without --init left a lock file")
	}
	if r := e.isolate("-b", "54", "--cleanup"); r.code != 0 {
		t.Errorf("cleanup without init: %v", r)
	}
	if _, err := os.Lstat(e.root); err == nil {
		t.Errorf("--run and --cleanup without --init left the box root %s", e.root)
	}
	// A box directory whose lock is gone is still cleaned up, lock and all.
	initBox(t, e, "54")
	must(t, os.Remove(filepath.Join(e.root, "54.lock")))
	if r := e.isolate("-b", "54", "--cleanup"); r.code != 0 {
		t.Fatal(r)
	}
	assertCleaned(t, e, 54)
}

// TestIsolateHelp: --help, -h and `jailrun help isolate` print the usage, every option with a line of its
// own, on stdout, and exit 0.
func TestIsolateHelp(t *testing.T) {
	var outs []string
	for _, args := range [][]string{{"isolate", "--help"}, {"isolate", "-h"}, {"isolate", "-b", "3", "--help", "--run"}, {"help", "isolate"}} {
		var out, errb bytes.Buffer
		c := exec.Command(jailrunBin, args...)
		c.Stdout, c.Stderr = &out, &errb
		if err := c.Run(); err != nil || errb.Len() != 0 {
			t.Errorf("%q: %v, stderr %q", args, err, errb.String())
		}
		outs = append(outs, out.String())
	}
	for i, o := range outs {
		if o != outs[0] {
			t.Errorf("output %d differs from `jailrun isolate --help`:\n%s", i, o)
		}
	}
	for _, opt := range []string{"--box-id=", "--cg-mem=", "--dir=<in>=<out>", "--stdin=", "--processes[=", "--special-files",
		"--wall-time=", "--meta=", "--init", "--run --", "--cleanup", "--jailrun-policy="} {
		if !strings.Contains(outs[0], opt) {
			t.Errorf("usage lacks %s", opt)
		}
	}
	if !strings.HasSuffix(outs[0], "\n") || strings.Contains(outs[0], "Flags:") {
		t.Errorf("usage:\n%q", outs[0])
	}
}

// TestIsolateInterrupted: SIGTERM (or SIGINT, SIGHUP, SIGQUIT) to jailrun isolate during a run ends as
// isolate's keeper ends it: exitsig:<the signal>, status:SG, message:Interrupted, killed:1, exit 1, and the
// box is given back.
func TestIsolateInterrupted(t *testing.T) {
	e := newIsoEnv(t)
	box := initBox(t, e, "55")
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		meta := filepath.Join(t.TempDir(), "meta")
		os.Remove(filepath.Join(box, "started"))
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		c := exec.CommandContext(ctx, jailrunBin, "isolate", "-b", "55", "-p", "-M", meta, "--run", "--", "/bin/sh", "-c", "touch started; exec sleep 30")
		c.Env = e.env()
		var errb bytes.Buffer
		c.Stderr = &errb
		must(t, c.Start())
		for i := 0; i < 500; i++ {
			if _, err := os.Stat(filepath.Join(box, "started")); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		must(t, c.Process.Signal(sig))
		err := c.Wait()
		cancel()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || errb.String() != "Interrupted\n" {
			t.Errorf("%v: %v, stderr %q; want exit 1 and Interrupted", sig, err, errb.String())
		}
		checkMeta(t, readCMSMeta(t, meta), map[string]string{"exitsig": strconv.Itoa(int(sig)), "status": "SG",
			"message": "Interrupted", "killed": "1"}, "exitcode")
		if st := stat(t, filepath.Join(box, "started")); st.Uid != 0 {
			t.Errorf("after the interrupted run the box's files belong to %d", st.Uid)
		}
		if pids := procsMatching(e.root); len(pids) > 0 {
			t.Errorf("processes left: %v", pids)
		}
	}
}

// TestIsolateDevNull: -i, -o and -r /dev/null are the null device, as graders use them to discard a stream.
func TestIsolateDevNull(t *testing.T) {
	e := newIsoEnv(t)
	initBox(t, e, "56")
	r := e.isolate("-b", "56", "-p", "-i", "/dev/null", "-o", "/dev/null", "-r", "/dev/null", "--run", "--",
		"/bin/sh", "-c", "cat; echo out; echo err >&2; [ -c /proc/self/fd/0 ] && [ -c /proc/self/fd/1 ] && [ -c /proc/self/fd/2 ]")
	if r.code != 0 || r.stdout != "" || !strings.HasPrefix(r.stderr, "OK (") {
		t.Errorf("%v", r)
	}
}

// TestIsolateRelativeArgv0: isolate execs the command as given, so a program run as ./prog sees ./prog (a
// script's $0 is the path its interpreter was given), from --chdir too.
func TestIsolateRelativeArgv0(t *testing.T) {
	e := newIsoEnv(t)
	box := initBox(t, e, "57")
	must(t, os.Mkdir(filepath.Join(box, "sub"), 0o755))
	for _, p := range []string{"prog", "sub/prog"} {
		must(t, os.WriteFile(filepath.Join(box, p), []byte("#!/bin/sh\necho \"$0\"\n"), 0o755))
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"./prog"}, "./prog\n"},
		{[]string{"sub/prog"}, "sub/prog\n"},
		{[]string{"/box/prog"}, "/box/prog\n"},
		{[]string{"-c", "sub", "./prog"}, "./prog\n"},
	} {
		args := append([]string{"-b", "57", "-p", "--run", "--"}, tc.args...)
		if tc.args[0] == "-c" {
			args = append([]string{"-b", "57", "-p", "-c", "sub", "--run", "--"}, tc.args[2:]...)
		}
		if r := e.isolate(args...); r.code != 0 || r.stdout != tc.want {
			t.Errorf("%q: %v, want %q", tc.args, r, tc.want)
		}
	}
}
