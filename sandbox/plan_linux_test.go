//go:build linux && cgo

package sandbox

import (
	"flag"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/policy"
)

var update = flag.Bool("update", false, "rewrite the golden launch plans in testdata/launchplan")

// renderSpawn prints what planSpawn decided, one setting a line: the golden files hold it for a few
// shipped policies, so a change to what the child is asked to do shows up as a diff to review. The mount
// plan is summarised (namespaces/testdata/plan has it op by op).
func renderSpawn(c *spawnConfig) string {
	var b strings.Builder
	w := func(k string, v any) { fmt.Fprintf(&b, "%-17s %v\n", k, v) }
	var flags []string
	for _, k := range policy.NamespaceKinds {
		if c.cloneFlags&k.Clone != 0 {
			flags = append(flags, k.Name)
		}
	}
	w("clone", strings.Join(flags, ","))
	w("unshare_cgroup", c.unshareCgroup)
	if c.plan != nil {
		w("mount_plan", fmt.Sprintf("%d ops, %d slots", len(c.plan.Ops), c.plan.Slots))
	} else {
		w("mount_plan", "none")
	}
	w("userns", c.userns)
	w("set_groups", c.setGroups)
	w("uid_gid", fmt.Sprintf("%d:%d", c.uid, c.gid))
	w("owner", fmt.Sprintf("%v %d:%d", c.owner, c.ownerUID, c.ownerGID))
	w("dumpable_listen", c.listenerDumpable)
	w("hostname", fmt.Sprintf("%q", c.hostname))
	w("loopback_up", c.loopbackUp)
	w("umask", fmt.Sprintf("%#o", c.umask))
	w("no_new_privs", c.noNewPrivs)
	w("workdir", fmt.Sprintf("%q", c.workdir))
	w("allowed", fmt.Sprintf("%q", c.allowed))
	for _, rl := range c.rlimits {
		w("rlimit "+rlimitNames[int32(rl[0])], fmt.Sprintf("soft=%d hard=%d", rl[1], rl[2]))
	}
	w("path", fmt.Sprintf("%q", c.path))
	w("search", fmt.Sprintf("%q", c.search))
	w("argv", fmt.Sprintf("%q", c.argv))
	w("envp", fmt.Sprintf("%q", c.envp))
	w("fds", fmt.Sprintf("cgroup=%d ctl=%d", c.cgroupFD, c.ctlFD))
	return b.String()
}

func TestPlanSpawnGolden(t *testing.T) {
	rootAllocated := hostFacts{Root: true, IDKind: "allocated", RunIDs: IDMappingInfo{Kind: "allocated", HostUID: 1879048200, HostGID: 1879048200}}
	subordinate := hostFacts{IDKind: "subordinate", RunIDs: IDMappingInfo{Kind: "subordinate", HostUID: 100000, HostGID: 100000}}
	argv := []string{"python3", "main.py"}
	// The caller's environment: only what the policy's process.env_allow names may cross.
	env := []string{"PATH=/home/me/bin:/usr/bin", "HOME=/root", "LANG=C.UTF-8", "SECRET_TOKEN=x"}
	cases := []struct {
		name, policy string
		host         hostFacts
		argv         []string
	}{
		{"strict", "strict", rootAllocated, argv},
		{"strict-subordinate", "strict", subordinate, argv},
		{"strict-pooled", "strict", rootAllocated, nil},
		{"compile", "compile", rootAllocated, []string{"/usr/bin/gcc", "-O2", "a.c"}},
		{"network-loopback", "network-loopback", rootAllocated, argv},
		{"ci", "ci", rootAllocated, []string{"make", "test"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := policy.Builtin(c.policy)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := planSpawn(s, c.host, c.argv, env)
			if err != nil {
				t.Fatal(err)
			}
			got := renderSpawn(cfg)
			testenv.Golden(t, filepath.Join("testdata", "launchplan", c.name+".golden"), got, *update,
				"the launch plan of "+c.name, "go test ./sandbox -run TestPlanSpawnGolden -update")
		})
	}
}

// planSpawn is pure: planning twice gives equal plans, and planning leaves the policy as it was.
func TestPlanSpawnIsPure(t *testing.T) {
	s, err := policy.Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	before := s.Clone()
	h := hostFacts{Root: true, IDKind: "allocated", RunIDs: IDMappingInfo{Kind: "allocated", HostUID: 5000, HostGID: 5000}}
	a, err := planSpawn(s, h, []string{"true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := planSpawn(s, h, []string{"true"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if renderSpawn(a) != renderSpawn(b) {
		t.Errorf("two plans differ:\n%s\n%s", renderSpawn(a), renderSpawn(b))
	}
	if !reflect.DeepEqual(before, s) {
		t.Error("planning changed the policy")
	}
}
