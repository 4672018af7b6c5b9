package childabi

import (
	"flag"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
)

var update = flag.Bool("update", false, "rewrite sandbox/abi_linux.h")

// The C side of the contract is generated from this package: a stale header fails here.
func TestCHeaderIsGenerated(t *testing.T) {
	testenv.Golden(t, "../../sandbox/abi_linux.h", CHeader(), *update, "sandbox/abi_linux.h",
		"go test ./internal/childabi -update")
}

func TestTablesAreConsistent(t *testing.T) {
	for i, k := range OpKinds {
		if int(k.Kind) != i+1 {
			t.Errorf("OpKinds[%d] is JR_OP_%s = %d: the table must follow the constants' order", i, k.C, k.Kind)
		}
	}
	if int(OpDevpts) != len(OpKinds) {
		t.Errorf("%d op kinds declared, %d described", OpDevpts, len(OpKinds))
	}
	seen := map[Step]string{}
	for _, s := range Steps {
		if s.Code >= 0 {
			t.Errorf("JR_STEP_%s = %d: step codes are negative (>= 0 is an op index)", s.C, s.Code)
		}
		if other, dup := seen[s.Code]; dup {
			t.Errorf("JR_STEP_%s and JR_STEP_%s share %d", s.C, other, s.Code)
		}
		seen[s.Code] = s.C
	}
}

func TestDecodeError(t *testing.T) {
	b := []byte{0xef, 0xff, 0xff, 0xff, 13, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0}
	if got := DecodeError(b); got != (Error{Step: StepExecNotFound, Errno: 13, Detail: 7}) {
		t.Errorf("DecodeError = %+v", got)
	}
}
