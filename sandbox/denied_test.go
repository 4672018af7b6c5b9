package sandbox_test

import (
	"context"
	"testing"

	"github.com/jailrun/jailrun/sandbox"
)

// TestDeniedSyscallsLibrary: the library's Result names the syscalls the filter refused with an errno,
// counted, on a cold run and on a pooled one; with LearnSeccomp the call runs and is marked learned.
func TestDeniedSyscallsLibrary(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	// hostname NAME calls sethostname, which strict answers errno(EPERM) by its default action.
	script := "hostname a; hostname b; hostname c; exit 0"
	pool, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	for _, c := range []struct {
		name  string
		run   func(sandbox.Request) (*sandbox.Result, error)
		learn bool
	}{
		{"cold", func(q sandbox.Request) (*sandbox.Result, error) { return r.Run(context.Background(), q) }, false},
		{"pooled", func(q sandbox.Request) (*sandbox.Result, error) { return pool.Run(context.Background(), q) }, false},
		{"learn", func(q sandbox.Request) (*sandbox.Result, error) { return r.Run(context.Background(), q) }, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			q := shReq(strict, script)
			q.LearnSeccomp = c.learn
			res, err := c.run(q)
			if err != nil {
				t.Fatal(err)
			}
			var got *sandbox.DeniedSyscall
			for i, d := range res.DeniedSyscalls {
				if d.Syscall == "sethostname" {
					got = &res.DeniedSyscalls[i]
				}
			}
			if res.Status != sandbox.StatusOK || got == nil || got.Count != 3 || got.Action != "errno(EPERM)" || got.Learned != c.learn {
				t.Fatalf("status %s, denied %+v: want sethostname errno(EPERM) x3 (learned %v)", res.Status, res.DeniedSyscalls, c.learn)
			}
		})
	}
}
