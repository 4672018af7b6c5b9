package tests

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
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
