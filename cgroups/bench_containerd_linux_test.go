//go:build linux && containerdbench

package cgroups

import (
	"fmt"
	"testing"

	"github.com/containerd/cgroups/v3/cgroup1"
	"github.com/containerd/cgroups/v3/cgroup2"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// Run with: go test -tags containerdbench -run "^$" -bench Containerd ./cgroups
// (tagged so that the regular test binaries do not link cgroup1/cgroup2 and their dbus, ebpf and protobuf deps).
//
// The same per-run work done with containerd/cgroups v3, to justify writing the few files directly on the hot
// path (docs/cgroups.md has the figures). Each variant creates a child of a prepared parent with the strict
// policy's memory and pids limits, then deletes it.

func ctrdResourcesV1() *specs.LinuxResources {
	mem, swap, pids := int64(256*mib), int64(256*mib), int64(64)
	return &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &mem, Swap: &swap}, Pids: &specs.LinuxPids{Limit: &pids}}
}

func benchContainerdV1(b *testing.B, hierarchy cgroup1.Hierarchy) {
	m := requireCgroups(b, Options{})
	if m.v2 {
		b.Skip("cgroup v1 benchmark; this host is v2")
	}
	parent, err := cgroup1.New(cgroup1.NestedPath("jailrun-ctrd-bench"), &specs.LinuxResources{}, cgroup1.WithHierarchy(hierarchy))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { parent.Delete() })
	res := ctrdResourcesV1()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := parent.New(fmt.Sprintf("run%d", i), res)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Delete(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkContainerdV1(b *testing.B) {
	// Only the hierarchies jailrun uses per run (freezer, cpuacct, memory, pids), as restricted as it gets.
	b.Run("4-hierarchies", func(b *testing.B) {
		benchContainerdV1(b, func() ([]cgroup1.Subsystem, error) {
			const root = "/sys/fs/cgroup"
			return []cgroup1.Subsystem{cgroup1.NewFreezer(root), cgroup1.NewCpuacct(root), cgroup1.NewMemory(root), cgroup1.NewPids(root)}, nil
		})
	})
	// cgroup1.Default: every mounted hierarchy, which is what New does unless told otherwise.
	b.Run("default-hierarchies", func(b *testing.B) { benchContainerdV1(b, cgroup1.Default) })
}

func BenchmarkContainerdV2(b *testing.B) {
	o := Options{}
	res := &cgroup2.Resources{}
	if detectMode() == ModeHybrid {
		o.unified = "/sys/fs/cgroup/unified" // no controllers there: mkdir, subtree_control writes, rmdir only
	} else {
		mem, pids := int64(256*mib), int64(64)
		res = &cgroup2.Resources{Memory: &cgroup2.Memory{Max: &mem}, Pids: &cgroup2.Pids{Max: pids}}
	}
	m := requireCgroups(b, o)
	if !m.v2 {
		b.Skip("no cgroup2 mount")
	}
	rel := m.parent[len(m.mount):] + "-ctrd-bench"
	parent, err := cgroup2.NewManager(m.mount, rel, res)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { parent.Delete() })
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := parent.NewChild(fmt.Sprintf("run%d", i), res)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Delete(); err != nil {
			b.Fatal(err)
		}
	}
}
