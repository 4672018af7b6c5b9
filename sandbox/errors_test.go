package sandbox_test

import (
	"context"
	"errors"
	"io/fs"
	"testing"

	"github.com/jailrun/jailrun/cgroups"
	"github.com/jailrun/jailrun/sandbox"
)

// The cgroup layer's typed errors reach a library caller through Runner.Run, under the sandbox's own
// sentinel: errors.As finds the *cgroups.LimitError that names the setting.
func TestTypedErrorsReachLibraryCallers(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	s := strict.Clone()
	s.Limits.Cpuset = "4095" // a CPU this host does not have
	_, err := r.Run(context.Background(), sandbox.Request{Policy: s, Argv: []string{"/bin/true"}})
	var ue *cgroups.UnsupportedError
	if !errors.As(err, &ue) || ue.Setting != "limits.cpuset" {
		t.Fatalf("want a *cgroups.UnsupportedError for limits.cpuset, got %T %v", err, err)
	}
	if !errors.Is(err, sandbox.ErrUnsupported) {
		t.Fatalf("want ErrUnsupported too, got %v", err)
	}
}

// A command that exists but cannot be executed is ErrCannotExec, and the kernel's errno stays reachable:
// errors.Is finds fs.ErrPermission (EACCES) behind it.
func TestCannotExecKeepsTheErrno(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	_, err := r.Run(context.Background(), sandbox.Request{Policy: strict, Argv: []string{"/etc/passwd"}})
	if !errors.Is(err, sandbox.ErrCannotExec) {
		t.Fatalf("want ErrCannotExec, got %v", err)
	}
	if !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("want the errno (EACCES) behind it, got %T %v", err, err)
	}
}
