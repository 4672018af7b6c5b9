package tests

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jailrun/jailrun/sandbox/service"
)

// runKey sends a run request with an Idempotency-Key.
func (s *serveProc) runKey(ctx context.Context, key string, req map[string]any) answer {
	return s.post(ctx, http.Header{"Idempotency-Key": {key}}, req)
}

func fleetConfig() string {
	return fmt.Sprintf(`{"max_concurrent": 2, "max_queue": 64,
  "tenants": [{"name": "fleet", "uids": [%d], "policies": ["strict"]}]}`, os.Getuid())
}

// An Idempotency-Key makes a retry safe: while the first request runs, the same key gets 409; once it has
// answered, the same key gets that answer again (the same run id) without running anything; another body
// under the same key is refused.
func TestServeIdempotencyKey(t *testing.T) {
	requirePrivileged(t)
	s := startServe(t, fleetConfig())
	ctx := context.Background()
	slow := map[string]any{"policy": "strict", "argv": []string{"/bin/sh", "-c", "sleep 1; echo done"}}
	first := make(chan answer, 1)
	go func() { first <- s.runKey(ctx, "key-1", slow) }()
	// The first request is in flight once the server counts it.
	if !waitCond(10*time.Second, func() bool { return s.metric("jailrun_idempotency_keys") == 1 }) {
		t.Fatal("the first request never arrived")
	}
	if a := s.runKey(ctx, "key-1", slow); a.code != 409 || a.body.Error == nil || a.body.Error.Kind != service.KindInProgress || a.header.Get("Retry-After") == "" {
		t.Fatalf("same key while running: %d %s", a.code, a.raw)
	}
	a1 := <-first
	if a1.code != 200 || a1.body.Stdout != "done\n" {
		t.Fatalf("first: %d %s", a1.code, a1.raw)
	}
	a2 := s.runKey(ctx, "key-1", slow)
	if a2.code != 200 || a2.raw != a1.raw || a2.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %q, want the first answer %q", a2.code, a2.raw, a1.raw)
	}
	if v := s.metric(`jailrun_runs_total{tenant="fleet",status="ok"}`); v != 1 {
		t.Errorf("jailrun_runs_total = %v: the replay ran again", v)
	}
	if v := s.metric(`jailrun_idempotent_replays_total{tenant="fleet"}`); v != 1 {
		t.Errorf("jailrun_idempotent_replays_total = %v", v)
	}
	other := map[string]any{"policy": "strict", "argv": []string{"/bin/true"}}
	if a := s.runKey(ctx, "key-1", other); a.code != 422 || a.body.Error.Kind != service.KindIdempotencyMismatch {
		t.Errorf("same key, other body: %d %s", a.code, a.raw)
	}
	if a := s.runKey(ctx, "bad key", other); a.code != 400 {
		t.Errorf("a key with a space: %d %s", a.code, a.raw)
	}
	// A request refused before running is not kept: the same key then runs.
	if a := s.runKey(ctx, "key-2", map[string]any{"policy": "nope", "argv": []string{"/bin/true"}}); a.code == 200 {
		t.Fatalf("unknown policy ran: %s", a.raw)
	}
}

// Three instances behind a client that spreads 600 runs over them; one instance is SIGKILLed in the middle.
// Every run must end answered exactly once: a request that got no answer is reported as not started on
// that instance and retried with the same Idempotency-Key, on the same instance while it lives (it replays
// or runs) and elsewhere once it is gone (its runs died with it). The survivors' run counters must equal the
// answers they gave: nothing ran twice, nothing ran unanswered.
func TestServeFleetFailover(t *testing.T) {
	skipInVM(t, "600 runs over three servers take too long")
	requirePrivileged(t)
	const n, workers, killAt = 600, 6, 200
	var servers [3]*serveProc
	for i := range servers {
		servers[i] = startServe(t, fleetConfig())
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	req := map[string]any{"policy": "strict", "argv": []string{"/bin/true"}}

	type final struct {
		inst     int
		runID    string
		replayed bool
	}
	var (
		mu         sync.Mutex
		finals     = map[int]final{}
		notStarted [3]int
		answered   atomic.Int64
		killed     atomic.Bool
		dead       [3]atomic.Bool
	)
	kill := func() {
		if killed.Swap(true) {
			return
		}
		dead[1].Store(true)
		servers[1].cmd.Process.Kill() // SIGKILL, our own child, by pid
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				key := fmt.Sprintf("fleet-run-%d", i)
				inst := i % 3
				for attempt := 0; ; attempt++ {
					if attempt > 200 || ctx.Err() != nil {
						errs <- fmt.Errorf("run %d: gave up", i)
						break
					}
					if dead[inst].Load() {
						inst = (inst + 1) % 3
						continue
					}
					a := servers[inst].runKey(ctx, key, req)
					if a.err != nil {
						// No answer: the run is reported as not started here (its instance is gone or the
						// connection broke); the same key goes again.
						mu.Lock()
						notStarted[inst]++
						mu.Unlock()
						select {
						case <-servers[inst].exited:
							dead[inst].Store(true)
						default:
						}
						continue
					}
					switch a.code {
					case 200:
						if a.body.Result == nil || a.body.Result.Status != "ok" {
							errs <- fmt.Errorf("run %d: %s", i, a.raw)
						}
						mu.Lock()
						if _, dup := finals[i]; dup {
							errs <- fmt.Errorf("run %d answered twice", i)
						}
						finals[i] = final{inst: inst, runID: a.body.Result.RunID, replayed: a.header.Get("Idempotent-Replayed") == "true"}
						mu.Unlock()
						if answered.Add(1) == killAt {
							kill()
						}
					case 409, 429, 503:
						time.Sleep(20 * time.Millisecond)
						continue
					default:
						errs <- fmt.Errorf("run %d: %d %s", i, a.code, a.raw)
					}
					break
				}
			}
		}()
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if !killed.Load() {
		t.Fatal("the instance was never killed")
	}
	if len(finals) != n {
		t.Fatalf("%d of %d runs answered", len(finals), n)
	}
	ids := map[string]int{}
	perInst := [3]int{}
	for i, f := range finals {
		if j, dup := ids[f.runID]; dup {
			t.Errorf("runs %d and %d have the same run id %s", i, j, f.runID)
		}
		ids[f.runID] = i
		if !f.replayed {
			perInst[f.inst]++
		}
	}
	for _, i := range []int{0, 2} {
		if v := servers[i].metric(`jailrun_runs_total{tenant="fleet",status="ok"}`); int(v) != perInst[i] {
			t.Errorf("instance %d ran %v runs and answered %d first-time answers", i, v, perInst[i])
		}
	}
	t.Logf("answered per instance %v (instance 1 SIGKILLed after %d answers); reported not started per instance %v", perInst, killAt, notStarted)
	if notStarted[1] == 0 {
		t.Log("no request was in flight on the killed instance (the retry path was not exercised this time)")
	}
}
