package tests

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestEchoPrintsOnlyChildOutput(t *testing.T) {
	requirePrivileged(t)
	r := jailrun(t, []string{"--", "/bin/echo", "hello", "world"})
	if r.code != 0 || r.stdout != "hello world\n" || r.stderr != "" {
		t.Fatalf("want only the child's output and exit 0, got %v", r)
	}
	if r.status() != "ok" {
		t.Fatalf("status %q, want ok; result %v", r.status(), r.result)
	}
	for _, k := range []string{"schema_version", "status", "exit_code", "signal", "wall_time_ms", "cpu_time_ms", "setup_time_ms", "enforced"} {
		if _, ok := r.result[k]; !ok {
			t.Errorf("result lacks %q: %v", k, r.result)
		}
	}
}

func TestRunSubcommandIsTheSame(t *testing.T) {
	requirePrivileged(t)
	r := jailrun(t, []string{"run", "--", "/bin/echo", "x"})
	if r.code != 0 || r.stdout != "x\n" {
		t.Fatalf("jailrun run: %v", r)
	}
}

// The sandbox has its own pid namespace: pid 1 is jailrun's reaper, the command is pid 2, and no host
// process is visible.
func TestOwnPidNamespace(t *testing.T) {
	requirePrivileged(t)
	r := sh(t, `echo $$; ls /proc | grep -c '^[0-9]'`)
	f := strings.Fields(r.stdout)
	if r.code != 0 || len(f) != 2 || f[0] != "2" {
		t.Fatalf("want the command to be pid 2 under the sandbox's own pid 1: %v", r)
	}
	if f[1] != "3" && f[1] != "4" { // pid 1, the shell, ls (and maybe grep)
		t.Fatalf("sandbox sees %s processes, want only its own: %v", f[1], r)
	}
}

func TestNamespacesDifferFromHost(t *testing.T) {
	requirePrivileged(t)
	kinds := []string{"user", "pid", "mnt", "net", "ipc", "uts", "cgroup"}
	script := ""
	for _, k := range kinds {
		script += "readlink /proc/self/ns/" + k + "; "
	}
	r := sh(t, script)
	inside := strings.Fields(r.stdout)
	if r.code != 0 || len(inside) != len(kinds) {
		t.Fatalf("reading namespaces: %v", r)
	}
	for i, k := range kinds {
		host, err := os.Readlink("/proc/self/ns/" + k)
		if err != nil {
			t.Fatal(err)
		}
		if host == inside[i] {
			t.Errorf("%s namespace is the host's (%s)", k, host)
		}
	}
}

func TestUsrIsReadOnly(t *testing.T) {
	requirePrivileged(t)
	r := sh(t, `touch /usr/jailrun-probe 2>&1; echo rc=$?`)
	if !strings.Contains(r.stdout, "Read-only file system") || !strings.Contains(r.stdout, "rc=1") {
		t.Fatalf("writing /usr must fail with EROFS: %v", r)
	}
	if _, err := os.Stat("/usr/jailrun-probe"); err == nil {
		os.Remove("/usr/jailrun-probe")
		t.Fatal("the probe file reached the host's /usr")
	}
}

func TestHostLoopbackUnreachable(t *testing.T) {
	requirePrivileged(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 1)
	go func() {
		if c, err := ln.Accept(); err == nil {
			c.Close()
			accepted <- struct{}{}
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	// bash's /dev/tcp needs nothing from /dev; the connect is all that matters.
	r := sh(t, fmt.Sprintf(`if bash -c 'echo x > /dev/tcp/127.0.0.1/%d' 2>/dev/null; then echo CONNECTED; else echo blocked; fi`, port))
	if !strings.Contains(r.stdout, "blocked") {
		t.Fatalf("sandbox reached the host's loopback listener: %v", r)
	}
	select {
	case <-accepted:
		t.Fatal("the host listener accepted a connection from the sandbox")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestHostFilesystemInvisible(t *testing.T) {
	requirePrivileged(t)
	cwd, _ := os.Getwd()
	project := filepath.Dir(cwd)
	r := sh(t, fmt.Sprintf(`for p in /root /home /etc/shadow /var /sys %s; do test -e "$p" && echo "VISIBLE $p"; done; ls /`, project))
	if r.code != 0 || strings.Contains(r.stdout, "VISIBLE") {
		t.Fatalf("host paths visible inside: %v", r)
	}
}

func TestSecretEnvironmentDoesNotCross(t *testing.T) {
	requirePrivileged(t)
	const secret = "JAILRUN_TEST_SECRET=hunter2-4f1d"
	r := jailrun(t, []string{"--", "/bin/sh", "-c", `env; cat /proc/1/environ 2>&1; cat /proc/self/environ; echo`}, withEnv(secret))
	if strings.Contains(r.stdout, "hunter2") {
		t.Fatalf("caller's secret reached the sandbox: %v", r)
	}
	if !strings.Contains(r.stdout, "PATH=/usr/local/bin:/usr/bin:/bin") {
		t.Fatalf("policy environment missing: %v", r)
	}
}

func TestCallerFdsAreNotInherited(t *testing.T) {
	requirePrivileged(t)
	var files []*os.File
	for i := 3; i <= 9; i++ { // fds 3..9 in the jailrun process
		f, err := os.Open("/etc/hostname")
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		files = append(files, f)
	}
	r := jailrun(t, []string{"--", "/bin/sh", "-c", `ls /proc/self/fd | tr '\n' ' '`}, withExtraFiles(files...))
	// The shell's own fds 0-2 plus the fd ls uses to read the directory (3).
	if r.code != 0 || strings.TrimSpace(r.stdout) != "0 1 2 3" {
		t.Fatalf("want only stdio inherited, got %q (%v)", r.stdout, r)
	}
}

func TestDaemonDoesNotSurvive(t *testing.T) {
	requirePrivileged(t)
	marker := sleepMarker()
	r := sh(t, `(sleep `+marker+` </dev/null >/dev/null 2>&1 &) ; echo started`)
	if r.code != 0 || r.stdout != "started\n" {
		t.Fatalf("%v", r)
	}
	waitGone(t, "sleep "+marker, 2*time.Second)
}

func TestSigkillOfJailrunKillsSandbox(t *testing.T) {
	requirePrivileged(t)
	before := mountCount(t)
	marker := sleepMarker()
	c := jailrunCmd(context.Background(), "--", "/bin/sh", "-c", "sleep "+marker+" & sleep "+marker+"; wait")
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(procsStarting("sleep "+marker)) < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	pids := procsStarting("sleep " + marker)
	if len(pids) < 2 {
		c.Process.Kill()
		c.Wait()
		t.Fatalf("sandboxed sleeps did not start: %v", pids)
	}
	if err := c.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.Wait()
	waitGone(t, "sleep "+marker, 3*time.Second)
	for _, p := range pids {
		// A zombie is dead: with jailrun gone, the sandbox's pid 1 can only be reaped by the host's init.
		// A task still tearing down its pid namespace has no command line but is not a zombie yet.
		for end := time.Now().Add(3 * time.Second); alive(p) && time.Now().Before(end); {
			time.Sleep(10 * time.Millisecond)
		}
		if alive(p) {
			t.Errorf("pid %d survived", p)
		}
	}
	if after := mountCount(t); after != before {
		t.Errorf("host mount table changed: %d mounts before, %d after", before, after)
	}
}

func TestExitCodesAndSignals(t *testing.T) {
	requirePrivileged(t)
	for _, tc := range []struct {
		script string
		code   int
		status string
	}{
		{"exit 0", 0, "ok"},
		{"exit 3", 3, "nonzero_exit"},
		{"exit 255", 255, "nonzero_exit"},
		{"kill -SEGV $$", 128 + 11, "signaled"},
		{"kill -TERM $$", 128 + 15, "signaled"},
		{"kill -KILL $$", 128 + 9, "signaled"},
	} {
		t.Run(tc.script, func(t *testing.T) {
			r := sh(t, tc.script)
			if r.code != tc.code || r.status() != tc.status {
				t.Fatalf("want exit %d status %s, got %v status %s", tc.code, tc.status, r, r.status())
			}
		})
	}
}

func TestLaunchFailures(t *testing.T) {
	requirePrivileged(t)
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"version": 1, "limits": {"memory": "256Q"}}`), 0o644)
	unreadable := filepath.Join(dir, "missing.json")
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"missing absolute command", []string{"--", "/no/such/binary"}, 127, "does not exist inside the sandbox"},
		{"relative command not in sandbox PATH", []string{"--", "no-such-command-xyz"}, 127, "command not found"},
		{"not executable", []string{"--", "/etc/passwd"}, 126, "cannot execute"},
		{"host-only binary", []string{"--", os.Args[0]}, 127, "does not exist inside the sandbox"},
		{"unknown flag", []string{"--no-such-flag", "--", "/bin/true"}, 2, "unknown flag"},
		{"missing policy file", []string{"--policy", unreadable, "--", "/bin/true"}, 122, "missing.json"},
		{"invalid policy", []string{"--policy", bad, "--", "/bin/true"}, 120, "limits.memory"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jailrun(t, tc.args)
			lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
			if r.code != tc.code || !strings.Contains(r.stderr, tc.want) {
				t.Fatalf("want exit %d and %q on stderr, got %v", tc.code, tc.want, r)
			}
			if !strings.HasPrefix(lines[0], "jailrun: ") || strings.Contains(r.stderr, "goroutine ") {
				t.Fatalf("want one clear line, got %q", r.stderr)
			}
		})
	}
}

func TestPdeathsigViaThreadExitIsNotTriggered(t *testing.T) {
	requirePrivileged(t)
	// A run long enough for the Go runtime to shuffle goroutines between threads must not be killed early
	// by the parent-death signal (it is tied to the cloning thread, which jailrun keeps locked).
	r := sh(t, `sleep 0.3; echo done`)
	if r.code != 0 || r.stdout != "done\n" {
		t.Fatalf("%v", r)
	}
}

// A mount point missing inside a host bind is an error: jailrun never creates directories on the host,
// even in a writable bind.
func TestNoMountPointCreatedOnHost(t *testing.T) {
	requirePrivileged(t)
	// Bind sources are opened as the sandbox's host user, so the directory must be reachable by it.
	host, err := os.MkdirTemp("", "jailrun-hostbox-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(host)
	os.Chmod(host, 0o777)
	pol := policyFile(t, fmt.Sprintf(`"filesystem": {"mounts": [
		{"type": "bind", "src": %q, "dst": "/box", "readonly": false},
		{"type": "tmpfs", "dst": "/box/out", "size": "1M"}]}`, host))
	r := jailrun(t, []string{"--policy", pol, "--", "/bin/true"})
	if r.code != 125 || !strings.Contains(r.stderr, "mount tmpfs /box/out") {
		t.Fatalf("want a setup error naming the mount, got %v", r)
	}
	if ents, _ := os.ReadDir(host); len(ents) != 0 {
		t.Fatalf("jailrun created %v in the host directory", ents)
	}
}
