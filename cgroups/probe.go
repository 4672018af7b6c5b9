package cgroups

import (
	"fmt"
	"time"

	"github.com/jailrun/jailrun/policy"
)

// Report is what this host can enforce, for `jailrun doctor`. Every answer comes from trying (creating a
// cgroup with the limit, writing the file, starting a process with CLONE_INTO_CGROUP), not from version
// numbers.
type Report struct {
	Kernel string `json:"kernel"`
	Mode   Mode   `json:"cgroup_mode"`
	// Parent lists where runs are created (one directory per v1 hierarchy).
	Parent      []string           `json:"cgroup_parent,omitempty"`
	Error       string             `json:"error,omitempty"` // why cgroups cannot be used at all
	Controllers []ControllerStatus `json:"controllers"`
	Limits      []LimitStatus      `json:"limits"`
	Features    []Feature          `json:"features"`
}

// ControllerStatus says whether the kernel has a controller and whether jailrun can use it here.
type ControllerStatus struct {
	Name     string `json:"name"`
	InKernel bool   `json:"in_kernel"` // listed as enabled in /proc/cgroups
	// Usable: mounted (v1) or delegated to this process's cgroup and enabled for jailrun's parent (v2).
	Usable bool   `json:"usable"`
	Detail string `json:"detail,omitempty"`
}

// LimitStatus is one limit kind of the policy.
type LimitStatus struct {
	Setting     string `json:"setting"`
	Requested   bool   `json:"requested"` // the policy sets it
	Enforceable bool   `json:"enforceable"`
	BestEffort  bool   `json:"best_effort"` // the policy lets jailrun skip it
	Detail      string `json:"detail,omitempty"`
}

// Feature is one kernel feature jailrun uses or reports.
type Feature struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail,omitempty"`
}

// Problems lists, one line each, the requested limits that cannot be enforced and may not be skipped: the
// reasons the policy cannot run here.
func (r *Report) Problems() []string {
	var out []string
	for _, l := range r.Limits {
		if l.Requested && !l.Enforceable && !l.BestEffort {
			out = append(out, fmt.Sprintf("%s: %s", l.Setting, l.Detail))
		}
	}
	return out
}

// limitKinds are the cgroup-backed limits, with a representative value to try when the policy does not set
// one (the report covers every kind, the verdict only the requested ones).
func limitKinds(lim policy.Limits) []struct {
	setting   string
	requested bool
	trial     policy.Limits
} {
	pick := func(set bool, l policy.Limits, def policy.Limits) policy.Limits {
		if set {
			return l
		}
		return def
	}
	return []struct {
		setting   string
		requested bool
		trial     policy.Limits
	}{
		{"limits.memory", lim.Memory > 0, pick(lim.Memory > 0, policy.Limits{Memory: lim.Memory}, policy.Limits{Memory: 256 << 20})},
		{"limits.memory_swap", lim.Memory > 0, pick(lim.Memory > 0, policy.Limits{Memory: lim.Memory, MemorySwap: lim.MemorySwap}, policy.Limits{Memory: 256 << 20})},
		{"limits.pids", lim.Pids > 0, pick(lim.Pids > 0, policy.Limits{Pids: lim.Pids}, policy.Limits{Pids: 64})},
		{"limits.cpu", lim.CPU > 0, pick(lim.CPU > 0, policy.Limits{CPU: lim.CPU}, policy.Limits{CPU: 1})},
		{"limits.cpuset", lim.Cpuset != "", pick(lim.Cpuset != "", policy.Limits{Cpuset: lim.Cpuset}, policy.Limits{Cpuset: "0"})},
		{"limits.io_weight", lim.IOWeight > 0, pick(lim.IOWeight > 0, policy.Limits{IOWeight: lim.IOWeight}, policy.Limits{IOWeight: 100})},
		{"limits.cpu_time", lim.CPUTime > 0, policy.Limits{CPUTime: time.Second}},
	}
}
