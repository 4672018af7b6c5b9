package sandbox_test

import (
	"context"
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/cgroups"
	"github.com/jailrun/jailrun/policy"
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
	var se *sandbox.SetupError
	if !errors.As(err, &se) || se.Stage != "exec" || se.Step != sandbox.StepExec || se.What != "execve /etc/passwd" {
		t.Fatalf("want a *SetupError at exec/%q naming the command, got %T %+v", sandbox.StepExec, err, se)
	}
}

// Each step of the C init stage reaches a library caller typed (a SetupStep), whatever the failure: a
// hostname the kernel refuses fails at StepHostname, an rlimit the kernel refuses at StepRlimit.
func TestSetupStepIsTyped(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	for _, tc := range []struct {
		name string
		edit func(s *policy.Settings)
		step sandbox.SetupStep
		what string
	}{
		{"a missing required bind source", func(s *policy.Settings) {
			s.Filesystem.Mounts = append(s.Filesystem.Mounts, policy.Mount{Kind: policy.MountBind, Src: "/nonexistent-jailrun-src", Dst: "/x"})
		}, sandbox.StepMount, "/nonexistent-jailrun-src"},
		{"a missing working directory", func(s *policy.Settings) { s.Filesystem.Workdir = "/nonexistent-jailrun-cwd" },
			sandbox.StepChdir, "chdir /nonexistent-jailrun-cwd"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := strict.Clone()
			tc.edit(s)
			res, err := r.Run(context.Background(), sandbox.Request{Policy: s, Argv: []string{"/bin/true"}})
			var se *sandbox.SetupError
			if !errors.As(err, &se) {
				t.Fatalf("want a *SetupError, got %T %v", err, err)
			}
			if se.Step != tc.step || !strings.Contains(se.What, tc.what) {
				t.Errorf("step %q what %q: want %q naming %q", se.Step, se.What, tc.step, tc.what)
			}
			if res == nil || res.Status != sandbox.StatusSetupError || !strings.Contains(res.Message, tc.what) {
				t.Errorf("result %+v: want setup_error naming %q", res, tc.what)
			}
		})
	}
}
