package sandbox_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/jailrun/jailrun/sandbox"
)

// Pools sends a run of a pooled policy to its pool (a prepared sandbox) and any other run cold.
func TestPoolsRouteByPolicy(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	ps := sandbox.NewPools(r, p)
	defer ps.Close()
	for end := time.Now().Add(20 * time.Second); p.Stats().Ready == 0 && time.Now().Before(end); {
		time.Sleep(10 * time.Millisecond)
	}
	var out bytes.Buffer
	res, err := ps.Run(context.Background(), sandbox.Request{Policy: strict, Argv: []string{"/bin/echo", "pooled"}, Stdout: &out})
	if err != nil || res.Status != sandbox.StatusOK || !res.Pooled || out.String() != "pooled\n" {
		t.Fatalf("strict through the pools: %v %+v %q", err, res, out.String())
	}
	other := strict.Clone()
	other.Limits.Pids = 7 // not the pool's policy any more
	res, err = ps.Run(context.Background(), sandbox.Request{Policy: other, Argv: []string{"/bin/true"}})
	if err != nil || res.Status != sandbox.StatusOK || res.Pooled {
		t.Fatalf("another policy through the pools: %v %+v", err, res)
	}
}
