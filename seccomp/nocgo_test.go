//go:build !linux || !cgo

package seccomp

import (
	"errors"
	"testing"

	"github.com/jailrun/jailrun/policy"
)

// Without cgo there is no libseccomp: Build must fail closed with ErrUnsupported, after reporting policy
// mistakes as such.
func TestBuildFailsClosedWithoutCgo(t *testing.T) {
	_, err := Build(policy.Seccomp{Enabled: true, DefaultAction: eperm})
	if !errors.Is(err, ErrUnsupported) {
		t.Fatalf("Build without cgo: %v, want ErrUnsupported", err)
	}
	if err.Error() != "unsupported: seccomp needs cgo and libseccomp on Linux" {
		t.Errorf("message %q", err)
	}
	var pe *PolicyError
	if _, err := Build(policy.Seccomp{Enabled: true}); !errors.As(err, &pe) {
		t.Errorf("a bad policy without cgo: %v, want a PolicyError", err)
	}
}

func kernelProbeNames() []string { return nil }
