//go:build linux && cgo

package sandbox_test

import (
	"bytes"
	"context"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jailrun/jailrun/sandbox"
)

// Concurrent runs in one process must never touch each other's pipes. A stale fd write (the seccomp
// supervisor's wake-up landing in a newly created sync pipe) released sandboxes before their ids were mapped:
// this test failed within a few hundred runs before the fix.
func TestConcurrentRunsStayApart(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				var out bytes.Buffer
				want := strconv.Itoa(g*1000 + i)
				res, err := r.Run(context.Background(), sandbox.Request{Policy: strict, Stdout: &out, Argv: []string{"/bin/echo", want}})
				if err != nil {
					t.Errorf("run %s: %v", want, err)
					return
				}
				if res.Status != sandbox.StatusOK || strings.TrimSpace(out.String()) != want {
					t.Errorf("run %s: status %s, stdout %q", want, res.Status, out.String())
				}
			}
		}()
	}
	wg.Wait()
}
