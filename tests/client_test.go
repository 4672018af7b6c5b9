package tests

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// clientServer starts `jailrun serve --pool strict=2` for client-mode tests: the caller's uid may use
// strict and a policy with room for large output (bigPolicy, a file, named by its path as the client
// names it), and nothing else.
func clientServer(t *testing.T, extra ...string) (*serveProc, string) {
	t.Helper()
	big := filepath.Join(t.TempDir(), "big-output.json")
	if err := os.WriteFile(big, []byte(`{"version": 1, "name": "big-output", "extends": "strict",
  "limits": {"output": {"stdout": "256M", "stderr": "16M", "total": "300M"}}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`{"tenants": [{"name": "grader", "uids": [%d], "policies": ["strict", %q], "max_concurrent": 4}]}`, os.Getuid(), big)
	s := startServe(t, cfg, append([]string{"--pool", "strict=2", "--access-log"}, extra...)...)
	if !waitCond(10*time.Second, func() bool { return s.metric("jailrun_pool_size") == 2 }) {
		t.Fatalf("the pool did not fill: jailrun_pool_size %v", s.metric("jailrun_pool_size"))
	}
	return s, big
}

func keysOf(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

// jailrun --server SOCKET -- CMD runs CMD in the server's (pooled) sandbox and behaves as a local run:
// the same streams, exit codes, result object and refusals.
func TestClientMode(t *testing.T) {
	requirePrivileged(t)
	s, _ := clientServer(t)
	srv := []string{"--server", s.sock}
	for _, tc := range []struct {
		name   string
		args   []string
		opts   []runOpt
		code   int
		stdout string
		stderr string // a substring
		status string
		pooled bool
	}{
		{"exit code and separate streams", append(srv, "--", "/bin/sh", "-c", "echo out; echo err >&2; exit 3"), nil, 3, "out\n", "err\n", "nonzero_exit", true},
		{"stdin", append(srv, "--", "/bin/sh", "-c", `read x; echo "got $x"`), []runOpt{withStdin("line\n")}, 0, "got line\n", "", "ok", true},
		{"killed by a signal", append(srv, "--", "/bin/sh", "-c", "kill -SEGV $$"), nil, 128 + int(syscall.SIGSEGV), "", "", "signaled", true},
		{"output limit", append(srv, "--", "/bin/sh", "-c", "head -c 20000000 /dev/zero | tr '\\0' y"), nil, 128 + int(syscall.SIGKILL), "<16MiB>", "jailrun: output_limit: limits.output.stdout exceeded", "output_limit", true},
		{"not found", append(srv, "--", "/no/such/cmd"), nil, 127, "", "does not exist inside the sandbox", "", false},
		{"policy the tenant lacks", append(srv, "--policy", "interpreter", "--", "/bin/true"), nil, 123,
			"", `jailrun: server ` + s.sock + ` refused the run: policy "interpreter" is not allowed for tenant grader (allowed: strict, `, "", false},
		{"--param for a policy without a template", append(srv, "--param", "x=1"), nil, 2, "", "has no command template", "", false},
		{"a mistyped subcommand", append(srv, "polcy", "list"), nil, 2, "", `did you mean "policy"?`, "setup_error", true},
		{"a local-only flag", append(srv, "--channel", "log=fd:3", "--", "/bin/true"), nil, 2, "", "--channel cannot be used with --server", "", false},
		// Flags that would configure the sandbox here are refused, never dropped: the server builds it.
		{"--bind", append(srv, "--bind", "/tmp:/x", "--", "/bin/true"), nil, 2, "", "--bind cannot be used with --server", "", false},
		{"--env", append(srv, "--env", "A=b", "--", "/bin/true"), nil, 2, "", "--env cannot be used with --server", "", false},
		// Limit flags go to the server, checked here as a local run checks them; there they may only tighten.
		{"a limit flag bites", append(srv, "--wall-time", "300ms", "--", "/bin/sleep", "5"), nil, 128 + int(syscall.SIGKILL), "", "jailrun: wall_time_limit: limits.wall_time exceeded (300ms)", "wall_time_limit", false},
		{"a bad limit value", append(srv, "--memory", "1K", "--", "/bin/true"), nil, 2, "", `--memory: limits.memory: "1K" is below the minimum of 1M`, "", false},
		{"a looser limit", append(srv, "--memory", "1G", "--", "/bin/true"), nil, 120, "", "override limits.memory: 1G would loosen the policy's 256M", "", false},
		// JSON text cannot carry these bytes: refused rather than changed to U+FFFD.
		{"an argument that is not UTF-8", append(srv, "--", "/bin/echo", "\xff"), nil, 2, "", "is not valid UTF-8, which client mode cannot send", "", false},
		{"$JAILRUN_SERVER", []string{"--", "/bin/echo", "env"}, []runOpt{withEnv("JAILRUN_SERVER=" + s.sock)}, 0, "env\n", "", "ok", true},
		{"--shell", append(srv, "--shell", `echo "[$1]"`, "--", "a b"), nil, 0, "[a b]\n", "", "ok", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := jailrun(t, tc.args, tc.opts...)
			if tc.stdout == "<16MiB>" && len(r.stdout) == 16<<20 && strings.Trim(r.stdout, "y") == "" {
				r.stdout = tc.stdout // the output limit let exactly the allowed bytes through
			}
			if len(r.stdout) > 4096 {
				r.stdout = fmt.Sprintf("%.200s... (%d bytes)", r.stdout, len(r.stdout))
			}
			if r.code != tc.code || r.stdout != tc.stdout || !strings.Contains(r.stderr, tc.stderr) {
				t.Fatalf("want exit %d, stdout %q, stderr containing %q; got %s", tc.code, tc.stdout, tc.stderr, r)
			}
			if tc.stderr == "" && r.stderr != "" {
				t.Errorf("stderr %q, want nothing", r.stderr)
			}
			if tc.status == "" {
				if tc.code != 127 && r.result != nil {
					t.Errorf("a refused run wrote a result: %v", r.result)
				}
				return
			}
			if r.status() != tc.status {
				t.Errorf("status %q, want %q", r.status(), tc.status)
			}
			if p, _ := r.result["pooled"].(bool); p != tc.pooled {
				t.Errorf("pooled %v, want %v: the server's warm pool was not used", p, tc.pooled)
			}
		})
	}
	// The limit flags are in the run's policy, as a local run's overrides are.
	r := jailrun(t, append(srv, "--memory", "32M", "--pids", "8", "--cpu-time", "2s", "--", "/bin/true"))
	pol, _ := r.result["policy"].(map[string]any)
	enf, _ := r.result["enforced"].(map[string]any)
	lim, _ := enf["limits"].(map[string]any)
	if r.code != 0 || fmt.Sprint(pol["overrides"]) != "[limits.memory=32M limits.pids=8 limits.cpu_time=2s]" ||
		lim["memory"] != "33554432" || lim["pids"] != "8" || lim["cpu_time"] != "2s" {
		t.Errorf("limit flags through the server: policy %v, enforced limits %v; %s", pol, lim, r)
	}
	// --copy-in and --copy-out go through the server's file store and leave nothing in it.
	dir := t.TempDir()
	in, out, missing := filepath.Join(dir, "in.txt"), filepath.Join(dir, "out.bin"), filepath.Join(dir, "missing")
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<17) // 2 MiB: more than one answer frame holds
	if err := os.WriteFile(in, big, 0o644); err != nil {
		t.Fatal(err)
	}
	idMap := enf["id_map"]
	r = jailrun(t, append(srv, "--copy-in", in+":in.txt", "--copy-out", "out.bin:"+out, "--copy-out", "nope:"+missing,
		"--", "/bin/sh", "-c", "cp in.txt out.bin && chmod 755 out.bin"))
	if idMap == "subordinate" {
		// A rootless server mapping subordinate ids cannot create files in a box: refused as a local run is.
		if r.code != 121 || !strings.Contains(r.stderr, "subordinate ids cannot create files") {
			t.Errorf("copy through a server mapping subordinate ids: want exit 121 naming the mapping, got %s", r)
		}
	} else {
		got, err := os.ReadFile(out)
		if r.code != 0 || err != nil || !bytes.Equal(got, big) || !strings.Contains(r.stderr, "jailrun: --copy-out nope: not found") {
			t.Errorf("copy through the server: %d bytes back (%v); %s", len(got), err, r)
		}
		if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o755 {
			t.Errorf("copied-out mode: %v, want 0755 as the run left it", err)
		}
		if _, err := os.Stat(missing); err == nil {
			t.Error("a file the run did not leave was written")
		}
	}
	if n := s.metric(`jailrun_files_stored{tenant="grader"}`); n != 0 {
		t.Errorf("%v files left in the server's store", n)
	}
	// learn needs a sandbox here: $JAILRUN_SERVER does not apply to it, and --server is refused.
	if r := jailrun(t, []string{"learn", "--", "/bin/true"}, withEnv("JAILRUN_SERVER="+s.sock)); r.code != 0 || !strings.Contains(r.stdout, `"extends": "strict"`) {
		t.Errorf("learn with $JAILRUN_SERVER set: %s", r)
	}
	if r := jailrun(t, []string{"learn", "--server", s.sock, "--", "/bin/true"}); r.code != 2 || !strings.Contains(r.stderr, "learn: --server cannot be used") {
		t.Errorf("learn --server: %s", r)
	}
	// `jailrun run --server` is the same.
	if r := jailrun(t, []string{"run", "--server", s.sock, "--", "/bin/echo", "run"}); r.code != 0 || r.stdout != "run\n" {
		t.Errorf("jailrun run --server: %s", r)
	}
	// The runs went through the server's accounting.
	if got := s.metric(`jailrun_runs_total{tenant="grader",status="ok"}`); got < 4 {
		t.Errorf("jailrun_runs_total ok = %v, want at least 4", got)
	}
	if got := s.metric(`jailrun_rejected_total{tenant="grader",reason="forbidden"}`); got != 1 {
		t.Errorf("jailrun_rejected_total forbidden = %v, want 1", got)
	}
	if !strings.Contains(s.stderr.String(), `exec tenant=grader policy="strict" code=200 nonzero_exit`) {
		t.Errorf("no access log line for the exec runs:\n%s", s.stderr.String())
	}
}

// The result file and the meta file of a client-mode run have the shape of a local run's.
func TestClientResultMatchesLocal(t *testing.T) {
	requirePrivileged(t)
	s, _ := clientServer(t)
	dir := t.TempDir()
	script := "echo hi; exit 4"
	local := jailrun(t, []string{"--meta", filepath.Join(dir, "local.meta"), "--", "/bin/sh", "-c", script})
	remote := jailrun(t, []string{"--server", s.sock, "--meta", filepath.Join(dir, "remote.meta"), "--", "/bin/sh", "-c", script})
	if local.code != 4 || remote.code != 4 || local.stdout != remote.stdout {
		t.Fatalf("local: %s\nremote: %s", local, remote)
	}
	lk, rk := keysOf(local.result), keysOf(remote.result)
	// pooled is omitted when false: a local run is never pooled.
	want := append(append([]string{}, lk...), "pooled")
	sort.Strings(want)
	if strings.Join(want, ",") != strings.Join(rk, ",") {
		t.Errorf("result keys differ:\nlocal  %v (and pooled)\nremote %v", lk, rk)
	}
	for _, k := range []string{"status", "exit_code", "signal", "mode", "policy", "skipped"} {
		if fmt.Sprint(local.result[k]) != fmt.Sprint(remote.result[k]) {
			t.Errorf("%s: local %v, remote %v", k, local.result[k], remote.result[k])
		}
	}
	// Host ids are allocated per run, so they differ between any two runs; the rest must not.
	for _, r := range []map[string]any{local.result, remote.result} {
		if e, ok := r["enforced"].(map[string]any); ok {
			delete(e, "host_uid")
			delete(e, "host_gid")
		}
	}
	if fmt.Sprint(local.result["enforced"]) != fmt.Sprint(remote.result["enforced"]) {
		t.Errorf("enforced differs:\nlocal  %v\nremote %v", local.result["enforced"], remote.result["enforced"])
	}
	metaKeys := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		var keys []string
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			k, v, _ := strings.Cut(l, ":")
			if k == "exitcode" || k == "status" {
				k += "=" + v
			}
			keys = append(keys, k)
		}
		return strings.Join(keys, " ")
	}
	if l, r := metaKeys("local.meta"), metaKeys("remote.meta"); l != r {
		t.Errorf("meta files differ: local %q, remote %q", l, r)
	}
}

// stdin and stdout are streamed both ways, with bounded memory on both ends: 64 MiB through cat keeps
// every byte and neither the client nor the server holds it; and a reply comes back before stdin ends.
func TestClientStreams(t *testing.T) {
	requirePrivileged(t)
	s, big := clientServer(t)

	t.Run("interactive", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := jailrunCmd(ctx, "--server", s.sock, "--", "/bin/sh", "-c", `while read l; do echo "got $l"; done`)
		in, _ := c.StdinPipe()
		outp, _ := c.StdoutPipe()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		out := bufio.NewReader(outp)
		for i := range 3 {
			fmt.Fprintf(in, "ping%d\n", i)
			line, err := out.ReadString('\n')
			if want := fmt.Sprintf("got ping%d\n", i); err != nil || line != want {
				t.Fatalf("reply %d: %q %v, want %q (stdin still open: the stream is not buffered whole)", i, line, err, want)
			}
		}
		in.Close()
		if err := c.Wait(); err != nil {
			t.Fatalf("exit: %v", err)
		}
	})

	t.Run("64MiB through cat", func(t *testing.T) {
		const size = 64 << 20
		src := filepath.Join(t.TempDir(), "in")
		f, err := os.Create(src)
		if err != nil {
			t.Fatal(err)
		}
		h := sha256.New()
		chunk := make([]byte, 1<<20)
		for i := range size / len(chunk) {
			for j := range chunk {
				chunk[j] = byte(i*31 + j*7)
			}
			f.Write(chunk)
			h.Write(chunk)
		}
		f.Close()
		want := hex.EncodeToString(h.Sum(nil))
		statusKiB := func(pid int, key string) int {
			b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
			for _, l := range strings.Split(string(b), "\n") {
				if v, ok := strings.CutPrefix(l, key+":"); ok {
					n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")))
					if err != nil {
						return -1
					}
					return n
				}
			}
			return -1
		}
		hwm := func(pid int) int { return statusKiB(pid, "VmHWM") }
		serverBefore := hwm(s.pid())

		in, _ := os.Open(src)
		defer in.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		c := jailrunCmd(ctx, "--server", s.sock, "--policy", big, "--", "/bin/cat")
		c.Stdin = in
		outp, _ := c.StdoutPipe()
		var errb bytes.Buffer
		c.Stderr = &errb
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		// The client's resident size, sampled until it exits: a client that buffered would hold the data
		// for a while (the Go runtime returns freed memory to the kernel minutes later). Not rusage's
		// ru_maxrss, which includes the test process's own memory, shared until the client's exec. Only
		// samples of the client's own image count, and sampling stops when it is reaped: the VM lane twice
		// read 98 MiB from this pid with "Name: tests.test", one thread, the test binary's memory — a
		// process of the test binary, not the client (the pid reused once the client was gone, in a guest
		// whose pid_max wraps).
		self := "Name:\t" + filepath.Base(jailrunBin)
		if len(self) > len("Name:\t")+15 {
			self = self[:len("Name:\t")+15] // comm is 15 bytes
		}
		clientKiB, peakStatus := 0, ""
		sampled, reaped := make(chan struct{}), make(chan struct{})
		go func() {
			defer close(sampled)
			for {
				select {
				case <-reaped:
					return
				default:
				}
				b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.Process.Pid))
				if strings.Contains(string(b), self+"\n") {
					if v := statusKiB(c.Process.Pid, "VmRSS"); v > clientKiB {
						// Kept to say what the memory was (heap, file pages, shared) if the bound fails.
						clientKiB, peakStatus = v, string(b)
					}
				}
				time.Sleep(20 * time.Millisecond)
			}
		}()
		oh := sha256.New()
		n, _ := io.Copy(oh, outp)
		err = c.Wait()
		close(reaped)
		if err != nil {
			t.Fatalf("exit: %v\n%s", err, errb.String())
		}
		if got := hex.EncodeToString(oh.Sum(nil)); n != size || got != want {
			t.Fatalf("%d bytes with sha256 %s came back, want %d with %s", n, got, size, want)
		}
		<-sampled
		serverAfter := hwm(s.pid())
		if clientKiB == 0 {
			t.Fatalf("no sample of the client's own status (%q) was taken", self)
		}
		t.Logf("64 MiB through cat: client peak RSS %d KiB; server VmHWM %d -> %d KiB", clientKiB, serverBefore, serverAfter)
		if clientKiB > 48<<10 {
			t.Errorf("the client's peak RSS was %d KiB for 64 MiB of data: it buffers; its status then:\n%s", clientKiB, peakStatus)
		}
		if serverAfter-serverBefore > 32<<10 {
			t.Errorf("the server's peak RSS grew by %d KiB for 64 MiB of data: it buffers", serverAfter-serverBefore)
		}
	})

	t.Run("reader of stdout goes away", func(t *testing.T) {
		// As in a shell pipeline (and a local run): the command gets SIGPIPE, jailrun exits 128+13.
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c := jailrunCmd(ctx, "--server", s.sock, "-q", "--", "/usr/bin/yes")
		outp, _ := c.StdoutPipe()
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		if line, err := bufio.NewReader(outp).ReadString('\n'); err != nil || line != "y\n" {
			t.Fatalf("%q %v", line, err)
		}
		outp.Close()
		err := c.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 128+int(syscall.SIGPIPE) {
			t.Fatalf("exit %v, want %d", err, 128+int(syscall.SIGPIPE))
		}
	})
}

// SIGINT to the client stops the remote run: the client exits 130 with the run's result, the sandboxed
// process is gone and so is its cgroup on the server.
func TestClientSigintKillsRemoteRun(t *testing.T) {
	requirePrivileged(t)
	s, _ := clientServer(t)
	res := filepath.Join(t.TempDir(), "r.json")
	c := jailrunCmd(context.Background(), "--server", s.sock, "--result", res, "--", "/bin/sh", "-c", "sleep 1000.25 & sleep 1000.25; wait")
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Process.Kill()
	if !waitCond(15*time.Second, func() bool { return len(procsExact("sleep 1000.25")) == 2 }) {
		t.Fatal("the remote run did not start")
	}
	// The run's own cgroups, from the kernel's view of its process.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", procsExact("sleep 1000.25")[0]))
	if err != nil {
		t.Fatal(err)
	}
	var cgDirs []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) == 3 && strings.Contains(parts[2], "/jr.") {
			ctrl := strings.TrimPrefix(strings.Split(parts[1], ",")[0], "name=")
			for _, root := range []string{"/sys/fs/cgroup/" + ctrl, "/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
				if st, err := os.Stat(root + parts[2]); err == nil && st.IsDir() {
					cgDirs = append(cgDirs, root+parts[2])
					break
				}
			}
		}
	}
	if len(cgDirs) == 0 {
		t.Fatalf("no run cgroup found for the sandboxed process:\n%s", b)
	}
	if err := c.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	select {
	case err = <-done:
	case <-time.After(15 * time.Second):
		t.Fatal("the client did not exit after SIGINT")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 130 {
		t.Fatalf("exit %v, want 130\n%s", err, errb.String())
	}
	waitGone(t, "sleep 1000.25", 5*time.Second)
	if !waitCond(5*time.Second, func() bool {
		for _, d := range cgDirs {
			if _, err := os.Stat(d); err == nil {
				return false
			}
		}
		return true
	}) {
		t.Errorf("the run's cgroups survived on the server: %v", cgDirs)
	}
	rb, err := os.ReadFile(res)
	if err != nil || !strings.Contains(string(rb), `"name": "context"`) {
		t.Errorf("the result of the stopped run: %v\n%s", err, rb)
	}
	if !waitCond(5*time.Second, func() bool { return s.metric(`jailrun_runs_canceled_total{tenant="grader"}`) == 1 }) {
		t.Error("the stop is not in jailrun_runs_canceled_total")
	}
	// The server is fine afterwards.
	if r := jailrun(t, []string{"--server", s.sock, "--", "/bin/echo", "after"}); r.code != 0 || r.stdout != "after\n" {
		t.Errorf("a run after the stop: %s", r)
	}
}

// No server on the socket: a clear error naming it and the fix, exit 124; with --server-fallback=local the
// run happens here instead.
func TestClientNoServer(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "missing.sock")
	r := jailrun(t, []string{"--server", missing, "--", "/bin/true"})
	if r.code != 124 || !strings.Contains(r.stderr, "no jailrun server answers on "+missing) ||
		!strings.Contains(r.stderr, "--server-fallback=local") || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("missing socket: %s", r)
	}
	if r := jailrun(t, []string{"--server", missing, "--server-fallback", "sometimes", "--", "/bin/true"}); r.code != 2 {
		t.Errorf("a bad --server-fallback: %s", r)
	}
	requirePrivileged(t)
	r = jailrun(t, []string{"--server", missing, "--server-fallback=local", "--", "/bin/echo", "here"})
	if r.code != 0 || r.stdout != "here\n" || !strings.Contains(r.stderr, "running here") || r.status() != "ok" {
		t.Errorf("fallback: %s", r)
	}
}

// SIGTERM to the server with a client-mode run in flight: the run gets the grace period, is then killed,
// the client exits 124 with the partial result, and the server exits (net/http does not wait for the
// upgraded connection; the server must).
func TestClientServerShutdown(t *testing.T) {
	requirePrivileged(t)
	s, _ := clientServer(t, "--shutdown-grace", "500ms")
	res := filepath.Join(t.TempDir(), "r.json")
	c := jailrunCmd(context.Background(), "--server", s.sock, "--result", res, "--", "/bin/sh", "-c", "sleep 1000.125")
	var errb bytes.Buffer
	c.Stderr = &errb
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer c.Process.Kill()
	if !waitCond(15*time.Second, func() bool { return len(procsExact("sleep 1000.125")) == 1 }) {
		t.Fatal("the run did not start")
	}
	pid := s.pid()
	if err := s.term(15 * time.Second); err != nil {
		t.Fatalf("server exit: %v", err)
	}
	err := c.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 124 || !strings.Contains(errb.String(), "shut down") {
		t.Fatalf("client: %v: %s", err, errb.String())
	}
	if _, err := os.Stat(res); err != nil {
		t.Errorf("no result for the killed run: %v", err)
	}
	waitGone(t, "sleep 1000.125", 5*time.Second)
	if left := runCgroups(pid); len(left) != 0 {
		t.Errorf("cgroups left after SIGTERM: %v", left)
	}
}
