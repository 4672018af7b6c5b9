package sandbox_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/sandbox"
)

// A closed pool refuses every run with ErrClosed, whatever its policy: before, a run of the pool's policy
// got an ErrSetup that was no *SetupError, and a run of another or tightened policy still ran, cold.
func TestClosedPoolRefusesEveryRun(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	tight, err := sandbox.Tighten(strict, sandbox.Overrides{WallTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for name, req := range map[string]sandbox.Request{
		"the pool's policy":  {Policy: strict, Argv: []string{"/bin/true"}},
		"a tightened policy": {Policy: tight, Argv: []string{"/bin/true"}},
		"with files":         {Policy: strict, Argv: []string{"/bin/true"}, FilesOut: []string{"x"}},
	} {
		res, err := p.Run(context.Background(), req)
		if !errors.Is(err, sandbox.ErrClosed) || errors.Is(err, sandbox.ErrSetup) || res != nil {
			t.Errorf("%s on a closed pool: %v %+v; want ErrClosed (not ErrSetup) and no result", name, err, res)
		}
	}
	if p.Serves(strict) {
		t.Error("a closed pool says it serves its policy")
	}
}

// Pools routes around a closed pool: its runs go cold through the Runner, as for a policy no pool serves,
// instead of failing.
func TestPoolsSkipAClosedPool(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	ps := sandbox.NewPools(r, p)
	defer ps.Close()
	p.Close()
	res, err := ps.Run(context.Background(), sandbox.Request{Policy: strict, Argv: []string{"/bin/true"}})
	if err != nil || res.Status != sandbox.StatusOK || res.Pooled {
		t.Fatalf("through Pools with its pool closed: %v %+v; want a cold ok run", err, res)
	}
}

// Runner.Close waits for the runs in progress and only then removes the cgroup parent; afterwards Run and
// NewPool fail with ErrClosed, and Close may be called again.
func TestRunnerCloseWaitsThenRefuses(t *testing.T) {
	_, strict := needSandboxes(t)
	// A parent of its own, so that what Close removes is this Runner's alone. Where the harness names where
	// runs go (the v2 VM lane: the test process is in a leaf that cannot have controlled children), below it.
	parent := "jailrun-review-" + strconv.Itoa(os.Getpid())
	if p := os.Getenv("JAILRUN_CGROUP_PARENT"); p != "" {
		parent = path.Join(p, parent)
	}
	r, err := sandbox.NewRunner(sandbox.Options{CgroupParent: parent})
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	type ran struct {
		res *sandbox.Result
		err error
	}
	done := make(chan ran, 1)
	go func() {
		res, err := r.Run(context.Background(), sandbox.Request{Policy: strict, Argv: []string{"/bin/sh", "-c", "echo up; sleep 0.5"}, Stdout: pw})
		pw.Close()
		done <- ran{res, err}
	}()
	if line, err := bufio.NewReader(pr).ReadString('\n'); line != "up\n" {
		t.Fatalf("the run did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, pr)
	dirs := cgroupDirsNamed(parent)
	if len(dirs) == 0 {
		t.Fatalf("no cgroup parent %s while a run is in progress", parent)
	}
	t.Cleanup(func() {
		// A Close that failed to remove them must not leave them on the host.
		for _, d := range dirs {
			_ = os.Remove(d)
		}
	})
	start := time.Now()
	if err := r.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	// The run had about 500 ms to go: a Close that did not wait returns in a few.
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("Close returned after %v, before the run in progress ended", took)
	}
	if x := <-done; x.err != nil || x.res.Status != sandbox.StatusOK {
		t.Errorf("the run in progress: %v %+v; want it to finish ok", x.err, x.res)
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("cgroup parent %s still there after Close (%v)", d, err)
		}
	}
	if res, err := r.Run(context.Background(), sandbox.Request{Policy: strict, Argv: []string{"/bin/true"}}); !errors.Is(err, sandbox.ErrClosed) || res != nil {
		t.Errorf("Run after Close: %v %+v; want ErrClosed", err, res)
	}
	if p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1}); !errors.Is(err, sandbox.ErrClosed) || p != nil {
		t.Errorf("NewPool after Close: %v; want ErrClosed", err)
	}
	if err := r.Close(); err != nil {
		t.Errorf("a second Close: %v", err)
	}
}

// Runner.Close closes the pools it made: their prepared sandboxes live in its cgroups.
func TestRunnerCloseClosesItsPools(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close() // the test's own Close may not get there
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	for end := time.Now().Add(10 * time.Second); p.Stats().Ready == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if n := p.Stats().Ready; n != 0 {
		t.Errorf("%d prepared sandboxes left after Runner.Close", n)
	}
	if _, err := p.Run(context.Background(), sandbox.Request{Policy: strict, Argv: []string{"/bin/true"}}); !errors.Is(err, sandbox.ErrClosed) {
		t.Errorf("the pool after Runner.Close: %v; want ErrClosed", err)
	}
}

// cgroupDirsNamed lists the directories name (a cgroup parent: relative to this process's cgroups, or
// absolute from each hierarchy's root) stands for, v1 and v2 alike, that exist now.
func cgroupDirsNamed(name string) []string {
	b, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		p := strings.SplitN(line, ":", 3)
		if len(p) != 3 {
			continue
		}
		var mounts []string
		if p[1] == "" {
			mounts = []string{"/sys/fs/cgroup"}
		}
		for _, c := range strings.Split(p[1], ",") {
			if c != "" {
				mounts = append(mounts, filepath.Join("/sys/fs/cgroup", strings.TrimPrefix(c, "name=")))
			}
		}
		for _, m := range mounts {
			d := filepath.Join(m, p[2], name)
			if strings.HasPrefix(name, "/") {
				d = filepath.Join(m, name)
			}
			if st, err := os.Stat(d); err == nil && st.IsDir() {
				out = append(out, d)
			}
		}
	}
	return out
}

// What docs/library.md says of a context that ends: before the command was executed, the run is a setup
// error that matches the context's error; while the command runs, a Result with Limit.Name "context" and
// no error.
func TestContextEndsARunAsDocumented(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := r.Run(ctx, sandbox.Request{Policy: strict, Argv: []string{"/bin/true"}})
	var se *sandbox.SetupError
	if !errors.Is(err, context.Canceled) || !errors.Is(err, sandbox.ErrSetup) || !errors.As(err, &se) || se.Step != sandbox.StepSetupTimeout {
		t.Errorf("cancelled before the run: %v; want a *SetupError at %q matching context.Canceled", err, sandbox.StepSetupTimeout)
	}
	if res == nil || res.Status != sandbox.StatusSetupError || res.Limit != nil {
		t.Errorf("cancelled before the run: result %+v; want setup_error without a limit", res)
	}

	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err = r.Run(ctx, sandbox.Request{Policy: strict, Argv: []string{"/bin/sleep", "5"}})
	if err != nil || res.Status != sandbox.StatusSignaled || res.Limit == nil || res.Limit.Name != "context" ||
		res.Limit.Value != context.DeadlineExceeded.Error() {
		t.Errorf("deadline during the run: %v %+v; want signaled, limit context: %v", err, res, context.DeadlineExceeded)
	}
}

// A run that finds every host id of the Runner's range held by a live sandbox fails with ErrHostIDs (and
// ErrSetup), naming Options.HostIDs; with the launch change, it has its setup_error Result as Run promises.
func TestRunnerOutOfHostIDs(t *testing.T) {
	_, strict := needSandboxes(t)
	r, err := sandbox.NewRunner(sandbox.Options{HostIDs: sandbox.IDRange{Start: 3999999100, End: 3999999100}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(context.Background(), sandbox.Request{Policy: strict, Argv: []string{"/bin/sh", "-c", "echo up; sleep 0.3"}, Stdout: pw})
		pw.Close()
		done <- err
	}()
	if line, err := bufio.NewReader(pr).ReadString('\n'); line != "up\n" {
		t.Fatalf("the first run did not start: %q %v", line, err)
	}
	go io.Copy(io.Discard, pr)
	res, err := r.Run(context.Background(), sandbox.Request{Policy: strict, Argv: []string{"/bin/true"}})
	if !errors.Is(err, sandbox.ErrHostIDs) || !errors.Is(err, sandbox.ErrSetup) || !strings.Contains(err.Error(), "Options.HostIDs") {
		t.Errorf("with the range's only id in use: %v; want ErrHostIDs and ErrSetup naming Options.HostIDs", err)
	}
	if err := <-done; err != nil {
		t.Errorf("the first run: %v", err)
	}
	if res == nil || res.Status != sandbox.StatusSetupError || !strings.Contains(res.Message, "Options.HostIDs") {
		t.Errorf("with the range's only id in use: result %+v; want setup_error naming Options.HostIDs", res)
	}
}
