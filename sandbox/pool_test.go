//go:build linux && cgo

package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/ipc"
	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// children lists the pids whose parent is this test process.
func children(t *testing.T) []int {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	me := strconv.Itoa(os.Getpid())
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may contain spaces, so split after the last ')'.
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) > 1 && f[1] == me {
			out = append(out, pid)
		}
	}
	return out
}

// runCgroups lists the run cgroups this process created, in every hierarchy: their names carry the creating
// process's pid ("jr.<pidns>.<pid>.<start>.<seq>-<runid>").
func runCgroups(t *testing.T) []string {
	t.Helper()
	mid := "." + strconv.Itoa(os.Getpid()) + "."
	var out []string
	_ = filepath.WalkDir("/sys/fs/cgroup", func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		// On cgroup v2 this test process lives in its own "<tag>.self" leaf for as long as it runs (see
		// docs/cgroups.md); that leaf is not a run cgroup.
		if strings.HasPrefix(d.Name(), "jr.") && strings.Contains(d.Name(), mid) && !strings.HasSuffix(d.Name(), ".self") {
			out = append(out, p)
			return filepath.SkipDir
		}
		return nil
	})
	return out
}

func TestPoolRunsEachCommandInAFreshSandbox(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	ids := map[string]bool{}
	pooled := 0
	for i := range 12 {
		var out bytes.Buffer
		// Each run leaves a file in its /tmp and checks that no earlier run's file is there, and prints its
		// pid-namespace view: pid 1 is its own reaper, so a fresh pid namespace has the command as pid 2.
		req := sandbox.Request{Policy: strict, Stdout: &out, Argv: []string{"/bin/sh", "-c",
			`ls /tmp; : > /tmp/mark-$1; echo "$1 $$"; exit $(( $1 % 3 ))`, "sh", strconv.Itoa(i)}}
		res, err := p.Run(ctx, req)
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		if got, want := out.String(), fmt.Sprintf("%d 2\n", i); got != want {
			t.Errorf("run %d: stdout %q, want %q (a reused sandbox would list an earlier mark file)", i, got, want)
		}
		if res.ExitCode != i%3 {
			t.Errorf("run %d: exit %d, want %d", i, res.ExitCode, i%3)
		}
		if ids[res.RunID] {
			t.Errorf("run %d: run id %s seen before", i, res.RunID)
		}
		ids[res.RunID] = true
		if res.Pooled {
			pooled++
		}
		if res.Enforced.Cgroup == "" || !res.Enforced.Seccomp || len(res.Enforced.Namespaces) < 6 {
			t.Errorf("run %d: enforced %+v", i, res.Enforced)
		}
		time.Sleep(5 * time.Millisecond) // let the pool refill: this test is about correctness, not speed
	}
	st := p.Stats()
	if pooled == 0 || st.Hits != uint64(pooled) {
		t.Errorf("pooled runs %d, stats %+v", pooled, st)
	}
	// The check below must be able to fail: while sandboxes wait prepared, their cgroups are found.
	if st.Ready > 0 && len(runCgroups(t)) == 0 {
		t.Fatalf("%d sandboxes ready but no run cgroup found: the leftover check cannot see them", st.Ready)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if kids := children(t); len(kids) != 0 {
		t.Errorf("processes left after Close: %v", kids)
	}
	if left := runCgroups(t); len(left) != 0 {
		t.Errorf("cgroups left after Close: %v", left)
	}
	if _, err := p.Run(ctx, shReq(strict, "true")); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("Run after Close: %v, want ErrClosed", err)
	}
}

func TestPoolEnforcesLimitsAndSeccomp(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	cases := []struct {
		name, script string
		want         sandbox.Status
	}{
		{"memory hog", `exec /usr/bin/python3 -c 'b = bytearray(1 << 30)'`, sandbox.StatusMemoryLimit},
		{"fork bomb", `while :; do sleep 5 & done`, sandbox.StatusPidsLimit},
		{"blocked syscall", `exec /usr/bin/python3 -c 'import ctypes; ctypes.CDLL(None).syscall(165, 0, 0, 0, 0, 0)'`, sandbox.StatusSeccompViolation},
		{"ok", `echo fine`, sandbox.StatusOK},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name != "ok" {
				if _, err := os.Stat("/usr/bin/python3"); err != nil && strings.Contains(c.script, "python3") {
					t.Skip("needs /usr/bin/python3")
				}
			}
			// Wait until a prepared sandbox is ready, so that the pooled path is the one tested.
			deadline := time.Now().Add(5 * time.Second)
			for p.Stats().Ready == 0 && time.Now().Before(deadline) {
				time.Sleep(2 * time.Millisecond)
			}
			res, err := p.Run(context.Background(), shReq(strict, c.script))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Pooled {
				t.Fatalf("did not run pooled (stats %+v)", p.Stats())
			}
			if res.Status != c.want {
				t.Errorf("status %s (%s), want %s", res.Status, res.Message, c.want)
			}
		})
	}
}

func TestPoolBypassesOtherPolicies(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	tight := strict.Clone()
	tight.Limits.Pids = 8
	res, err := p.Run(context.Background(), shReq(tight, "true"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Pooled || res.Enforced.Limits["pids"] != "8" {
		t.Errorf("a tightened policy must run cold with its own limits: pooled %v, limits %v", res.Pooled, res.Enforced.Limits)
	}
	if st := p.Stats(); st.Bypassed != 1 {
		t.Errorf("stats %+v, want one bypass", st)
	}
}

func TestPoolConcurrentRuns(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 4})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 10 {
				var out bytes.Buffer
				want := fmt.Sprintf("%d-%d", g, i)
				req := sandbox.Request{Policy: strict, Stdout: &out, Argv: []string{"/bin/echo", want}}
				res, err := p.Run(context.Background(), req)
				if err != nil {
					errs <- err
					return
				}
				if res.Status != sandbox.StatusOK || strings.TrimSpace(out.String()) != want {
					errs <- fmt.Errorf("%s: status %s, stdout %q", want, res.Status, out.String())
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if kids := children(t); len(kids) != 0 {
		t.Errorf("processes left after Close: %v", kids)
	}
}

func TestPoolReportsAPolicyThatCannotRun(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	bad := strict.Clone()
	bad.Filesystem.Mounts = append(bad.Filesystem.Mounts, policy.Mount{Kind: policy.MountBind, Src: "/nonexistent-jailrun-src", Dst: "/x", ReadOnly: true})
	poolSetupError(t, r, bad, "nonexistent-jailrun-src")
}

// A bind source behind a directory the sandbox's host user cannot search, which jailrun will not open for it
// (writable by a group): a pooled run's error, and the pool's record of its failed preparation, name the
// directory and the fix, as a cold run's error does.
func TestPoolExplainsAClosedBindSource(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root: a root-owned directory closed to the sandbox's host user")
	}
	closed, err := os.MkdirTemp("", "jailrun-closed-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(closed)
	if err := os.Mkdir(filepath.Join(closed, "box"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(closed, 0o770); err != nil {
		t.Fatal(err)
	}
	bad := strict.Clone()
	bad.Filesystem.Mounts = append(bad.Filesystem.Mounts, policy.Mount{Kind: policy.MountBind, Src: filepath.Join(closed, "box"), Dst: "/x", ReadOnly: true})
	poolSetupError(t, r, bad, closed+" is mode 0770 owned by root:root", "chmod o+x "+closed)
}

// poolSetupError runs a pooled sandbox of a policy that cannot be set up and checks the run's error (a setup
// error at the init stage's mount step whose message has each of want) and the pool's record of the failed
// preparation, which must say the same.
func poolSetupError(t *testing.T, r *sandbox.Runner, bad *policy.Settings, want ...string) {
	t.Helper()
	p, err := r.NewPool(bad, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	// The pool prepares in the background, and the bad bind fails in the prepared sandbox's init stage, which
	// the run that takes it finds out: wait until one is ready to take (a fixed 50 ms sleep was too short on
	// a loaded machine, and the run then went cold and counted no failure). Ready, not Prepared: the pool
	// counts a sandbox as prepared just before it hands it over, and a run in between finds none.
	for end := time.Now().Add(20 * time.Second); p.Stats().Ready == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	res, err := p.Run(context.Background(), shReq(bad, "true"))
	var se *sandbox.SetupError
	if !errors.As(err, &se) || res == nil || res.Status != sandbox.StatusSetupError {
		t.Fatalf("err %v, result %+v: want a setup error naming the mount", err, res)
	}
	for _, w := range want {
		if !strings.Contains(se.Error(), w) {
			t.Errorf("error %q does not say %q", se.Error(), w)
		}
	}
	if se.Stage != "init" || se.Step != sandbox.StepMount {
		t.Errorf("stage %q step %q: want the init stage's mount step", se.Stage, se.Step)
	}
	// The pool's own record of the failed preparation (Stats, the service's metrics) says the same.
	st := p.Stats()
	if st.Failed == 0 {
		t.Errorf("stats %+v: the preparation failures are not counted", st)
	}
	for _, w := range want {
		if !strings.Contains(st.LastError, w) {
			t.Errorf("stats' last error %q does not say %q", st.LastError, w)
		}
	}
}

// A request with more channels than a prepared sandbox can receive fds for runs cold, as it would without a
// pool, and the prepared sandbox is neither used nor left behind (it used to fail the run with a setup error
// and leave the sandbox's pid 1 unreaped).
func TestPoolRunsTooManyChannelsCold(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(20 * time.Second); p.Stats().Ready == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	// bash: dash's redirections stop at fd 9.
	req := sandbox.Request{Policy: strict, Argv: []string{"/bin/bash", "-c", "for fd in 3 40 69; do echo x >&$fd; done"}}
	for fd := 3; fd < 70; fd++ {
		req.Channels = append(req.Channels, &ipc.Channel{Name: fmt.Sprintf("c%d", fd), FD: fd, Kind: ipc.KindOut, Writer: io.Discard})
	}
	res, err := p.Run(context.Background(), req)
	if err != nil {
		t.Fatalf("err %v: want a cold run that ends ok", err)
	}
	if res.Status != sandbox.StatusOK {
		t.Fatalf("status %s (%s): want a cold run that ends ok", res.Status, res.Message)
	}
	if res.Pooled {
		t.Error("a request over the pooled fd table ran pooled")
	}
	if len(res.Channels) != 67 || res.Channels[37].FromChild == nil || res.Channels[37].FromChild.Bytes != 2 {
		t.Errorf("channel c40 did not carry its 2 bytes: %+v", res.Channels)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if kids := children(t); len(kids) != 0 {
		t.Errorf("processes left after Close: %v", kids)
	}
}
