package tests

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// jailrun serve --pool keeps sandboxes of a policy prepared; requests of that policy use them (each once),
// others run cold, /metrics shows the pool, and SIGTERM drains it without leaving processes or cgroups.
func TestServePool(t *testing.T) {
	requirePrivileged(t)
	s := startServe(t, loadConfig(2), "--pool", "strict=3")
	if !waitCond(5*time.Second, func() bool { return s.metric("jailrun_pool_size") == 3 }) {
		t.Fatalf("jailrun_pool_size %v, want 3", s.metric("jailrun_pool_size"))
	}
	pooled, ids := 0, map[string]bool{}
	for i := range 20 {
		want := fmt.Sprintf("jrpool-%d", i)
		a := s.run(context.Background(), "", map[string]any{"policy": "strict", "argv": []string{"/bin/echo", want}})
		if a.err != nil || a.code != 200 || a.body.Result == nil {
			t.Fatalf("request %d: %d %v %s", i, a.code, a.err, a.raw)
		}
		if strings.TrimSpace(a.body.Stdout) != want || a.body.Result.Status != "ok" {
			t.Errorf("request %d: status %s stdout %q", i, a.body.Result.Status, a.body.Stdout)
		}
		if ids[a.body.Result.RunID] {
			t.Errorf("request %d: run id %s reused", i, a.body.Result.RunID)
		}
		ids[a.body.Result.RunID] = true
		if a.body.Result.Pooled {
			pooled++
		}
		time.Sleep(10 * time.Millisecond)
	}
	if pooled < 10 {
		t.Errorf("only %d of 20 runs used a prepared sandbox", pooled)
	}
	// A fork bomb in a prepared sandbox hits the pids limit and is killed whole: through the namespace's pid 1,
	// with no v1 freezer (a run in its own pid namespace has none), and nothing of it survives.
	bomb := s.run(context.Background(), "", map[string]any{"policy": "strict",
		"argv": []string{"/bin/sh", "-c", "while :; do sleep 7.371 & done"}})
	if bomb.err != nil || bomb.body.Result == nil || bomb.body.Result.Status != "pids_limit" {
		t.Errorf("fork bomb: want pids_limit, got %v %s", bomb.err, bomb.raw)
	}
	if !waitCond(5*time.Second, func() bool { return len(procsMatching("7.371")) == 0 }) {
		t.Errorf("fork bomb processes survived: %v", procsMatching("7.371"))
	}
	a := s.run(context.Background(), "", map[string]any{"policy": "interpreter", "argv": []string{"/bin/true"}})
	if a.err != nil || a.body.Result == nil || a.body.Result.Pooled {
		t.Errorf("a policy without a pool must run cold: %v %s", a.err, a.raw)
	}
	if !waitCond(5*time.Second, func() bool { return len(procsMatching("jrpool-")) == 0 }) {
		t.Errorf("run processes survived: %v", procsMatching("jrpool-"))
	}
	// Only the prepared sandboxes hold cgroups now: the pool's size, no more.
	if n := len(runCgroups(s.pid())); n > 3*10 {
		t.Errorf("%d run cgroups while idle with a pool of 3", n)
	}
	if err := s.term(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	if left := runCgroups(s.pid()); len(left) != 0 {
		t.Errorf("cgroups left after SIGTERM: %v", left)
	}
}

// jailrun serve killed with SIGKILL, with prepared sandboxes waiting and a run in progress: every sandbox
// process dies with it (each pid 1 sees the server's end of its status pipe close), and the next jailrun's
// janitor removes the run cgroups it could not.
func TestServeSIGKILLLeavesNothing(t *testing.T) {
	requirePrivileged(t)
	s := startServe(t, loadConfig(2), "--pool", "strict=3")
	if !waitCond(5*time.Second, func() bool { return s.metric("jailrun_pool_size") == 3 }) {
		t.Fatalf("jailrun_pool_size %v, want 3", s.metric("jailrun_pool_size"))
	}
	marker := sleepMarker()
	go s.run(context.Background(), "", map[string]any{"policy": "strict", "argv": []string{"/bin/sleep", marker}})
	if !waitCond(10*time.Second, func() bool { return len(procsStarting("/bin/sleep "+marker)) == 1 }) {
		t.Fatal("the run did not start")
	}
	pid := s.pid()
	// The server's children now: the prepared sandboxes' and the run's pid 1. Pinned by pidfds, so that a
	// pid reused after they die is not taken for a survivor.
	// A child belongs to the thread that cloned it: read every thread's list.
	var pidfds []int
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			c, _ := strconv.Atoi(f)
			if fd, err := unix.PidfdOpen(c, 0); err == nil {
				pidfds = append(pidfds, fd)
				defer unix.Close(fd)
			}
		}
	}
	if len(pidfds) < 4 {
		t.Fatalf("%d sandbox processes under the server, want the 3 prepared ones and the run's", len(pidfds))
	}
	stale := runCgroups(pid)
	if len(stale) == 0 {
		t.Fatal("no run cgroup of the server found")
	}
	t.Logf("killing the server with %d sandbox processes and %d run cgroup directories", len(pidfds), len(stale))
	s.cmd.Process.Kill()
	<-s.exited
	waitGone(t, "sleep "+marker, 5*time.Second)
	alive := func() (n int) {
		for _, fd := range pidfds {
			// A pidfd polls readable once its process has exited; zombies (not reaped by the host's init yet)
			// count as gone.
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			if k, _ := unix.Poll(pfd, 0); k == 0 {
				n++
			}
		}
		return n
	}
	if !waitCond(5*time.Second, func() bool { return alive() == 0 }) {
		t.Fatalf("%d of the server's %d sandbox processes survived its SIGKILL", alive(), len(pidfds))
	}
	if r := jailrun(t, []string{"--quiet", "--", "/bin/true"}); r.code != 0 {
		t.Fatalf("the next run: %v", r)
	}
	if left := runCgroups(pid); len(left) > 0 {
		t.Errorf("run cgroups of the killed server left after the next run's janitor: %v", left)
	}
}
