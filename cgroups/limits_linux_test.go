package cgroups

import (
	"testing"

	"github.com/jailrun/jailrun/policy"
)

// Every cgroup limit of the policy language reaches the kernel: a writer for v1 and v2 (cpu_time alone is
// only measured), and a controller in both modes unless it is enforced with another limit.
func TestEveryCgroupLimitHasAWriter(t *testing.T) {
	for _, k := range policy.CgroupLimits {
		w, ok := writers[k.Name]
		if !ok {
			t.Errorf("%s: no entry in writers", k.Name)
			continue
		}
		measured := k.Name == "cpu_time"
		if (w.v1 == nil || w.v2 == nil) != measured {
			t.Errorf("%s: writers v1 %v, v2 %v", k.Name, w.v1 != nil, w.v2 != nil)
		}
		for _, v2 := range []bool{false, true} {
			m := &Manager{v2: v2}
			if c := m.limitCtrl(k); c == "" && !(v2 && measured) {
				t.Errorf("%s: no controller (v2 %v)", k.Name, v2)
			}
		}
	}
	if len(writers) != len(policy.CgroupLimits) {
		t.Errorf("writers has %d entries for %d limits", len(writers), len(policy.CgroupLimits))
	}
}
