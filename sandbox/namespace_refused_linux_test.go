//go:build linux

package sandbox_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/sandbox"
)

// Through the library: a namespace kind the host will not create refuses the run with ErrUnsupported naming
// it, or is skipped when the policy may do without it (tests/namespace_probe_test.go has the CLI, doctor
// and serve). The host's limit on time namespaces is 0 for the test: only a root with CAP_SYS_RESOURCE can
// set it (the v2 VM lane's).
func TestNamespaceRefusedOrSkipped(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	testenv.SetHostLimit(t, "/proc/sys/user/max_time_namespaces", "0", "time namespaces")

	s := strict.Clone()
	s.Namespaces.Time = true
	res, err := r.Run(context.Background(), sandbox.Request{Policy: s, Argv: []string{"/bin/true"}})
	var se *sandbox.SetupError
	if !errors.Is(err, sandbox.ErrUnsupported) || !errors.As(err, &se) || se.Step != sandbox.StepClone ||
		!strings.Contains(err.Error(), "namespaces.time") || res == nil || res.Status != sandbox.StatusSetupError {
		t.Fatalf("want ErrUnsupported at the clone step naming namespaces.time, got %v (result %+v)", err, res)
	}

	s.Require.BestEffort = append(s.Require.BestEffort, "namespaces.time")
	res, err = r.Run(context.Background(), sandbox.Request{Policy: s, Argv: []string{"/bin/true"}})
	if err != nil || res.Status != sandbox.StatusOK || !slices.Contains(res.Skipped, "namespaces.time") ||
		slices.Contains(res.Enforced.Namespaces, "time") {
		t.Fatalf("best effort: want ok with namespaces.time skipped and not enforced, got %v %+v", err, res)
	}
	if !s.Namespaces.Time {
		t.Error("the caller's policy was changed: namespaces.time is off in it")
	}
}
