//go:build linux && cgo

package sandbox

import (
	"os"
	"regexp"
	"testing"

	"github.com/jailrun/jailrun/internal/childabi"
)

// The Go↔C contract of the launcher is defined once, in internal/childabi, and sandbox/abi_linux.h is
// generated from it (internal/childabi's test fails on a stale header). These tests hold the two sides'
// use of it together: every op kind is executed by the C child, every failure code is reported by it and
// named by the parent, and the error record has the agreed size.

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestContractOpKinds(t *testing.T) {
	c := readFile(t, "spawn_linux.c")
	for _, k := range childabi.OpKinds {
		if !regexp.MustCompile(`case JR_OP_` + k.C + `\s*:`).MatchString(c) {
			t.Errorf("JR_OP_%s has no case in spawn_linux.c: the child would refuse every plan that uses it", k.C)
		}
	}
	if !regexp.MustCompile(`#include "abi_linux.h"`).MatchString(readFile(t, "spawn_linux.h")) {
		t.Error("spawn_linux.h does not include the generated abi_linux.h")
	}
}

func TestContractSteps(t *testing.T) {
	c := readFile(t, "spawn_linux.c") + readFile(t, "landlock_linux.c") + readFile(t, "kernel_linux.c")
	for _, s := range childabi.Steps {
		// Every code is reported by the child (an unused code is a step whose failures are named wrongly)...
		if !regexp.MustCompile(`(die|report)\(c, JR_STEP_` + s.C + `\b`).MatchString(c) {
			t.Errorf("JR_STEP_%s is never reported by the C child: remove it, or use it where that step fails", s.C)
		}
		// ...and named by the parent, unless it is a hand-over, not an error.
		_, named := childSteps[s.Code]
		if named == s.Handover {
			if s.Handover {
				t.Errorf("JR_STEP_%s is a hand-over, not a failure: it has no place in childSteps", s.C)
			} else {
				t.Errorf("JR_STEP_%s has no entry in childSteps: its failures would read %q", s.C, s.Code.String())
			}
		}
	}
	for code := range childSteps {
		if _, ok := code.Info(); !ok {
			t.Errorf("childSteps names %v, which internal/childabi does not define", code)
		}
	}
}

func TestContractSizes(t *testing.T) {
	// cgo's view of the structs the parent fills, against the sizes the protocol agreed on.
	if got := contractErrorSize(); got != childabi.ErrorSize {
		t.Errorf("struct jr_error is %d bytes, childabi.ErrorSize is %d", got, childabi.ErrorSize)
	}
	if got := contractParentFDs(); got != childabi.ParentFDs {
		t.Errorf("jr_config.parent_fds has %d entries, childabi.ParentFDs is %d", got, childabi.ParentFDs)
	}
}
