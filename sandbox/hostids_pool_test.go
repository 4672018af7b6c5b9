package sandbox_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/jailrun/jailrun/sandbox"
)

// Pooled and cold runs of one Runner, at the same time, each have host ids of their own: a pooled sandbox
// holds its ids from preparation to its end.
func TestPoolAndColdRunsGetOwnHostIDs(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	for end := time.Now().Add(10 * time.Second); p.Stats().Ready < 2 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	var wg sync.WaitGroup
	res := make([]*sandbox.Result, 4)
	for i := range res {
		wg.Add(1)
		go func() {
			defer wg.Done()
			run := p.Run
			if i >= 2 {
				run = r.Run
			}
			var err error
			if res[i], err = run(context.Background(), shReq(strict, "sleep 0.5")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	seen := map[uint32]bool{}
	pooled := 0
	for _, x := range res {
		if x == nil {
			t.FailNow()
		}
		e := x.Enforced
		if e.IDMap != "allocated" || e.HostUID != e.HostGID || e.IDNote != "" || seen[e.HostUID] {
			t.Errorf("run (pooled %v): id_map %q host %d/%d note %q; seen %v", x.Pooled, e.IDMap, e.HostUID, e.HostGID, e.IDNote, seen)
		}
		seen[e.HostUID] = true
		if x.Pooled {
			pooled++
		}
	}
	if pooled == 0 {
		t.Error("no run came from the pool: the test proves nothing about pooled sandboxes")
	}
}
