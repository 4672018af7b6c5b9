package cgroups

import (
	"fmt"

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

// limitKind is one cgroup-backed limit of the report.
type limitKind struct {
	setting   string
	requested bool
	trial     policy.Limits
}

// limitKinds are the cgroup-backed limits, with a representative value to try when the policy does not set
// one (the report covers every kind, the verdict only the requested ones).
func limitKinds(lim policy.Limits) []limitKind {
	out := make([]limitKind, 0, len(policy.CgroupLimits))
	for _, k := range policy.CgroupLimits {
		lk := limitKind{setting: k.Setting(), requested: k.On(lim), trial: k.Trial}
		if lk.requested {
			lk.trial = k.Part(lim)
		}
		out = append(out, lk)
	}
	return out
}
