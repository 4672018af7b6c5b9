package namespaces

import (
	"testing"

	"github.com/jailrun/jailrun/policy"
)

// The policy table's clone flags are the kernel's (the constants here), and CloneFlags leaves out only the
// cgroup namespace, which the launcher enters itself once the child is in its cgroup.
func TestCloneFlags(t *testing.T) {
	want := map[string]uint64{"user": CloneNewUser, "pid": CloneNewPID, "mount": CloneNewNS, "net": CloneNewNet,
		"ipc": CloneNewIPC, "uts": CloneNewUTS, "cgroup": CloneNewCgroup, "time": CloneNewTime}
	if len(want) != len(policy.NamespaceKinds) {
		t.Fatalf("%d kinds, want %d", len(policy.NamespaceKinds), len(want))
	}
	var all policy.Namespaces
	for _, k := range policy.NamespaceKinds {
		if k.Clone != want[k.Name] {
			t.Errorf("%s: clone flag %#x, want %#x", k.Name, k.Clone, want[k.Name])
		}
		var one policy.Namespaces
		k.Set(&one, true)
		k.Set(&all, true)
		exp := k.Clone
		if k.Name == "cgroup" {
			exp = 0
		}
		if got := CloneFlags(one); got != exp {
			t.Errorf("%s alone: CloneFlags %#x, want %#x", k.Name, got, exp)
		}
	}
	if got, exp := CloneFlags(all), uint64(CloneNewUser|CloneNewPID|CloneNewNS|CloneNewNet|CloneNewIPC|CloneNewUTS|CloneNewTime); got != exp {
		t.Errorf("all: %#x, want %#x", got, exp)
	}
}
