package sandbox_test

import (
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// Chained Tighten (and Tighten after ApplyOverrides) lists each field once, with the value in force.
func TestChainedTightenListsEachFieldOnce(t *testing.T) {
	strict, err := policy.Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	op, err := policy.ApplyOverrides(strict, []policy.Override{{Key: "wall-time", Value: "20s"}, {Key: "env", Value: "LANG=C"}})
	if err != nil {
		t.Fatal(err)
	}
	a, err := sandbox.Tighten(op, sandbox.Overrides{WallTime: 2 * time.Second, Memory: 64 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b, err := sandbox.Tighten(a, sandbox.Overrides{WallTime: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"limits.wall_time=1s", "process.env.set.LANG", "limits.memory=64M"}
	if strings.Join(b.Overrides, " ") != strings.Join(want, " ") {
		t.Errorf("overrides %q; want %q", b.Overrides, want)
	}
	if strings.Join(a.Overrides, " ") != "limits.wall_time=2s process.env.set.LANG limits.memory=64M" {
		t.Errorf("the first tightening's overrides changed under it: %q", a.Overrides)
	}
}
