package cgroups

import (
	"testing"
	"time"

	"github.com/jailrun/jailrun/policy"
)

// strictLimits are the cgroup limits of the built-in strict policy (policies/strict.json).
var strictLimits = policy.Limits{Memory: 256 * mib, Pids: 64, CPUTime: 10 * time.Second}

func benchCreateDestroy(b *testing.B, o Options, lim policy.Limits) {
	m := requireCgroups(b, o)
	req := policy.Require{BestEffort: []string{"limits"}}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c, err := m.Create("", lim, req)
		if err != nil {
			b.Fatal(err)
		}
		if err := c.Destroy(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCreateDestroy is the per-run cgroup cost of the launch path, for the strict policy's limits and for
// none (accounting only), on the host's mode and, on a hybrid host, on the v2 path of its unified mount.
func BenchmarkCreateDestroy(b *testing.B) {
	b.Run("host/strict", func(b *testing.B) { benchCreateDestroy(b, Options{}, strictLimits) })
	b.Run("host/no-limits", func(b *testing.B) { benchCreateDestroy(b, Options{}, policy.Limits{}) })
	if detectMode() == ModeHybrid && exists("/sys/fs/cgroup/unified/cgroup.procs") {
		b.Run("hybrid-unified-as-v2/strict", func(b *testing.B) {
			benchCreateDestroy(b, Options{unified: "/sys/fs/cgroup/unified"}, strictLimits)
		})
	}
}

func BenchmarkCPUUsage(b *testing.B) {
	m := requireCgroups(b, Options{})
	c := create(b, m, strictLimits, policy.Require{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.CPUUsage(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStats(b *testing.B) {
	m := requireCgroups(b, Options{})
	c := create(b, m, strictLimits, policy.Require{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.Stats(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkJanitor is the cost of the sweep the CLI makes at start when there is nothing to remove.
func BenchmarkJanitor(b *testing.B) {
	m := requireCgroups(b, Options{})
	c := create(b, m, strictLimits, policy.Require{}) // so that the parents exist and hold one live run
	_ = c
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := m.Janitor(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNewManager is the detection cost paid once per process.
func BenchmarkNewManager(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := NewManager(Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
