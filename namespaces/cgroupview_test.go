package namespaces

import (
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/childabi"
	"github.com/jailrun/jailrun/policy"
)

func TestAddCgroupView(t *testing.T) {
	for _, tc := range []struct {
		name string
		dirs map[string]string
		want string // the ops added, in order
	}{
		{"v2", map[string]string{"": "/sys/fs/cgroup/jailrun/jr.1"}, "open:/sys/fs/cgroup/jailrun/jr.1 bind:sys/fs/cgroup:ro"},
		{"v1 joint cpu,cpuacct", map[string]string{"memory": "/m/jr", "cpu,cpuacct": "/c/jr"},
			"tmpfs:sys/fs/cgroup open:/c/jr bind:sys/fs/cgroup/cpu,cpuacct:ro symlink:sys/fs/cgroup/cpu symlink:sys/fs/cgroup/cpuacct open:/m/jr bind:sys/fs/cgroup/memory:ro remount:sys/fs/cgroup:ro"},
		{"nothing to show", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := BuildPlan(policy.Filesystem{Mounts: []policy.Mount{{Kind: policy.MountTmpfs, Dst: "/tmp", Size: 1 << 20}}})
			if err != nil {
				t.Fatal(err)
			}
			before := len(p.Ops)
			p.AddCgroupView(tc.dirs)
			if p.Ops[len(p.Ops)-1].Kind != childabi.OpPivot || p.Ops[len(p.Ops)-2].What != "remount / read-only" {
				t.Fatalf("the view is not added before the root is made read-only and pivoted into")
			}
			var got []string
			for _, op := range p.Ops[before-2 : len(p.Ops)-2] {
				s := map[childabi.OpKind]string{childabi.OpOpenSrc: "open:" + op.Src, childabi.OpBind: "bind:" + op.Dst, childabi.OpTmpfs: "tmpfs:" + op.Dst, childabi.OpSymlink: "symlink:" + op.Dst, childabi.OpRemount: "remount:" + op.Dst}[op.Kind]
				if (op.Kind == childabi.OpBind || op.Kind == childabi.OpRemount) && op.Flags&(MsRdonly|MsNosuid|MsNodev|MsNoexec) == MsRdonly|MsNosuid|MsNodev|MsNoexec {
					s += ":ro"
				}
				got = append(got, s)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("ops\n%s\nwant\n%s", g, tc.want)
			}
		})
	}
}
