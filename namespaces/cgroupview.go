package namespaces

import (
	"sort"
	"strings"

	"github.com/jailrun/jailrun/internal/childabi"
)

// cgroupViewDir is where the view of the run's own cgroup is mounted, relative to the new root: where the
// JVM, Go, Node and .NET look for their limits.
const cgroupViewDir = "sys/fs/cgroup"

// roView are the flags of every mount of the view: nothing in it may be written, executed or a device.
const roView = MsRdonly | MsNosuid | MsNodev | MsNoexec

// AddCgroupView adds to p, before the root is made read-only and pivoted into, a read-only view of the run's
// own cgroup at /sys/fs/cgroup. dirs maps a mount name to the run's host directory (cgroups.Cgroup.ViewDirs):
// on cgroup v2 {"": dir}, bound at /sys/fs/cgroup itself; on v1 one directory per hierarchy ("memory",
// "cpu,cpuacct"), each bound at /sys/fs/cgroup/NAME on a small read-only tmpfs, with a symlink per
// controller of a joint hierarchy (cpu -> cpu,cpuacct), the layout a v1 host has. The command runs in a
// cgroup namespace rooted at these directories, so /proc/self/cgroup says "/" and /proc/self/mountinfo shows
// each bind's root as "/": exactly what the JVM's and Go's detection match. Every mount is read-only, so no
// limit can be written from inside even by an id that owned the files.
func (p *Plan) AddCgroupView(dirs map[string]string) {
	if len(dirs) == 0 || len(p.Ops) < 2 || p.Ops[len(p.Ops)-1].Kind != childabi.OpPivot {
		return
	}
	var ops []Op
	open := func(dir string) int {
		s := p.Slots
		p.Slots++
		ops = append(ops, Op{Kind: childabi.OpOpenSrc, Slot: s, Src: dir, What: "open cgroup " + dir})
		return s
	}
	if d, ok := dirs[""]; ok {
		s := open(d)
		ops = append(ops, Op{Kind: childabi.OpBind, Slot: s, Dst: cgroupViewDir, Flags: roView, What: "mount cgroup view /sys/fs/cgroup"})
	} else {
		names := make([]string, 0, len(dirs))
		for n := range dirs {
			names = append(names, n)
		}
		sort.Strings(names)
		ops = append(ops, Op{Kind: childabi.OpTmpfs, Dst: cgroupViewDir, Flags: MsNosuid | MsNodev | MsNoexec,
			Data: "mode=0755,size=65536,nr_inodes=64", What: "mount tmpfs /sys/fs/cgroup"})
		for _, n := range names {
			s := open(dirs[n])
			ops = append(ops, Op{Kind: childabi.OpBind, Slot: s, Dst: cgroupViewDir + "/" + n, Flags: roView, What: "mount cgroup view /sys/fs/cgroup/" + n})
			if strings.Contains(n, ",") {
				for _, c := range strings.Split(n, ",") {
					if _, own := dirs[c]; !own {
						ops = append(ops, Op{Kind: childabi.OpSymlink, Src: n, Dst: cgroupViewDir + "/" + c, What: "symlink /sys/fs/cgroup/" + c})
					}
				}
			}
		}
		ops = append(ops, Op{Kind: childabi.OpRemount, Dst: cgroupViewDir, Flags: roView, What: "remount /sys/fs/cgroup read-only"})
	}
	// The last two ops are "remount / read-only" and pivot_root.
	tail := append([]Op(nil), p.Ops[len(p.Ops)-2:]...)
	p.Ops = append(append(p.Ops[:len(p.Ops)-2], ops...), tail...)
}
