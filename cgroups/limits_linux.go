package cgroups

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jailrun/jailrun/policy"
)

// writer puts one cgroup limit into a run's cgroup. dir is the run's directory in the limit's v1 hierarchy, or
// its one directory on v2. It is called only when the run has the limit's controller.
type writer func(c *Cgroup, dir string, lim policy.Limits, req policy.Require) error

// limitWriter is how one entry of policy.CgroupLimits reaches the kernel.
type limitWriter struct {
	v1, v2 writer
	// always: called even when the policy does not set the limit, because the controller's files need
	// writing either way (a v1 cpuset starts empty; memory.oom.group).
	always bool
	// report names, for doctor, what enforces the limit in a trial cgroup that has it; "" = the entry's
	// V2File or V1File.
	report func(c *Cgroup, setting string) string
}

// writers has one entry per policy.CgroupLimits name (a test checks it). cpu_time writes nothing: the
// launcher measures it from the cgroup's counters.
var writers = map[string]limitWriter{
	"memory":      {v1: memoryV1, v2: memoryV2, always: true},
	"memory_swap": {v1: swapV1, v2: swapV2, report: swapReport},
	"pids":        {v1: pidsMax, v2: pidsMax},
	"cpu":         {v1: cpuV1, v2: cpuV2},
	"cpuset":      {v1: cpusetV1, v2: cpusetV2, always: true},
	"io_weight":   {v1: ioWeightV1, v2: ioWeightV2, report: ioWeightReport},
	"cpu_time":    {},
}

// limitCtrl is the controller that enforces k in this mode ("" = none needed); a limit enforced with another
// (memory_swap) uses that one's.
func (m *Manager) limitCtrl(k policy.CgroupLimit) string {
	if k.With != "" {
		k, _ = policy.CgroupLimitByName(k.With)
	}
	if m.v2 {
		return k.V2Ctrl
	}
	return k.V1Ctrl
}

// apply writes the limits in policy.CgroupLimits' order. Controllers that were skipped are not in c.dirs.
func (m *Manager) apply(c *Cgroup, lim policy.Limits, req policy.Require) error {
	for _, k := range policy.CgroupLimits {
		w := writers[k.Name]
		fn := w.v1
		if m.v2 {
			fn = w.v2
		}
		ctrl := m.limitCtrl(k)
		if fn == nil || ctrl == "" || c.dirs[ctrl] == "" || !(w.always || k.On(lim)) {
			continue
		}
		dir := c.dirs[ctrl]
		if m.v2 {
			dir = c.dirs[""]
		}
		if err := fn(c, dir, lim, req); err != nil {
			return err
		}
	}
	return nil
}

func memoryV1(c *Cgroup, dir string, lim policy.Limits, _ policy.Require) error {
	if lim.Memory == 0 {
		return nil
	}
	// Before memsw (memory_swap, next in the table): memsw must never be below it.
	return c.set("limits.memory", dir, "memory.limit_in_bytes", strconv.FormatInt(lim.Memory, 10))
}

func memoryV2(c *Cgroup, dir string, lim policy.Limits, _ policy.Require) error {
	if lim.Memory > 0 {
		if err := c.set("limits.memory", dir, "memory.max", strconv.FormatInt(lim.Memory, 10)); err != nil {
			return err
		}
	}
	// One OOM kill takes the whole sandbox down together rather than leaving it half alive (a dead
	// helper, a surviving parent): the verdict is "memory limit" either way, and what survives an OOM kill
	// is never what the user's program expects. Linux >= 4.19; without it the launcher kills the rest.
	if exists(filepath.Join(dir, "memory.oom.group")) {
		return c.set("limits.memory", dir, "memory.oom.group", "1")
	}
	return nil
}

// swapV1: v1 caps memory+swap together.
func swapV1(c *Cgroup, dir string, lim policy.Limits, req policy.Require) error {
	if !c.m.noSwap && exists(filepath.Join(dir, "memory.memsw.limit_in_bytes")) {
		return c.set("limits.memory_swap", dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(lim.Memory+lim.MemorySwap, 10))
	}
	return c.noSwapAccounting(req, "memory.memsw.limit_in_bytes")
}

func swapV2(c *Cgroup, dir string, lim policy.Limits, req policy.Require) error {
	if !c.m.noSwap && exists(filepath.Join(dir, "memory.swap.max")) {
		return c.set("limits.memory_swap", dir, "memory.swap.max", strconv.FormatInt(lim.MemorySwap, 10))
	}
	return c.noSwapAccounting(req, "memory.swap.max")
}

func swapReport(c *Cgroup, setting string) string {
	file := "memory.memsw.limit_in_bytes"
	if c.m.v2 {
		file = "memory.swap.max"
	}
	if contains(c.skipped, setting) {
		return "not enforced (skipped)"
	}
	if !exists(filepath.Join(c.dirs["memory"], file)) {
		return "no " + file + " (no swap accounting), but swap is off: nothing can be swapped"
	}
	return file
}

func pidsMax(c *Cgroup, dir string, lim policy.Limits, _ policy.Require) error {
	return c.set("limits.pids", dir, "pids.max", strconv.FormatInt(lim.Pids, 10))
}

func cpuV1(c *Cgroup, dir string, lim policy.Limits, _ policy.Require) error {
	q, p := cpuQuota(lim.CPU)
	if err := c.set("limits.cpu", dir, "cpu.cfs_period_us", strconv.FormatUint(p, 10)); err != nil {
		return err
	}
	return c.set("limits.cpu", dir, "cpu.cfs_quota_us", strconv.FormatUint(q, 10))
}

func cpuV2(c *Cgroup, dir string, lim policy.Limits, _ policy.Require) error {
	q, p := cpuQuota(lim.CPU)
	return c.set("limits.cpu", dir, "cpu.max", fmt.Sprintf("%d %d", q, p))
}

func cpusetV1(c *Cgroup, dir string, lim policy.Limits, req policy.Require) error {
	if lim.Cpuset == "" {
		// A new v1 cpuset starts empty and no task could join it: the parent's sets, as it had before.
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := readString(filepath.Join(filepath.Dir(dir), f))
			if err != nil {
				return fmt.Errorf("cgroups: %w", err)
			}
			if err := writeFile(filepath.Join(dir, f), v); err != nil {
				return fmt.Errorf("cgroups: %s/%s: %w", dir, f, err)
			}
		}
		return nil
	}
	mems, err := readString(filepath.Join(filepath.Dir(dir), "cpuset.mems"))
	if err != nil {
		return fmt.Errorf("cgroups: %w", err)
	}
	if err := c.set("limits.cpuset", dir, "cpuset.mems", mems); err != nil {
		return err
	}
	_, err = c.setCpuset(req, dir, lim.Cpuset, "cpuset.cpus")
	return err
}

func cpusetV2(c *Cgroup, dir string, lim policy.Limits, req policy.Require) error {
	if lim.Cpuset == "" {
		return nil // a v2 cpuset inherits its parent's CPUs
	}
	skipped, err := c.setCpuset(req, dir, lim.Cpuset, "cpuset.cpus.effective")
	if err != nil {
		return err
	}
	// v2 accepts CPUs the parent does not have and then silently falls back to the parent's set when none
	// is left: check that the sandbox really got a subset of what was asked.
	eff, err := readString(filepath.Join(dir, "cpuset.cpus.effective"))
	if err != nil {
		return fmt.Errorf("cgroups: %w", err)
	}
	if err := checkCpuset(lim.Cpuset, eff); err != nil && !skipped {
		parent, _ := readString(filepath.Join(filepath.Dir(dir), "cpuset.cpus.effective"))
		if err := c.unsupported(req, cpusetUnavailable(lim.Cpuset, parent, err.Error())); err != nil {
			return err
		}
		// Skipped (best effort): give the sandbox the parent's CPUs explicitly rather than a bogus list.
		if err := writeFile(filepath.Join(dir, "cpuset.cpus"), ""); err != nil {
			return fmt.Errorf("cgroups: reset cpuset.cpus: %w", err)
		}
	}
	return nil
}

// ioWeightV1 prefers BFQ's weight (CFQ's blkio.weight is gone since Linux 5.0). BFQ's weight file exists
// as soon as the scheduler is loaded, but it acts only on devices that use BFQ: with none, writing it
// would report a weight that nothing enforces (fail closed: refused, or skipped under best_effort).
func ioWeightV1(c *Cgroup, dir string, lim policy.Limits, req policy.Require) error {
	switch {
	case exists(filepath.Join(dir, "blkio.bfq.weight")) && len(bfqInUse()) == 0:
		return c.unsupported(req, &UnsupportedError{Setting: "limits.io_weight", Controller: "blkio", File: "blkio.bfq.weight",
			Reason: "no block device uses the BFQ scheduler, so the weight would have no effect",
			Hint:   "select BFQ for the devices the sandbox writes to (echo bfq > /sys/block/DEV/queue/scheduler)"})
	case exists(filepath.Join(dir, "blkio.bfq.weight")):
		return c.set("limits.io_weight", dir, "blkio.bfq.weight", strconv.FormatUint(bfqWeight(lim.IOWeight), 10))
	case exists(filepath.Join(dir, "blkio.weight")):
		return c.set("limits.io_weight", dir, "blkio.weight", strconv.FormatUint(cfqWeight(lim.IOWeight), 10))
	}
	return c.unsupported(req, &UnsupportedError{Setting: "limits.io_weight", Controller: "blkio", File: "blkio.bfq.weight",
		Reason: "the blkio controller has neither blkio.bfq.weight (BFQ) nor blkio.weight (CFQ, gone since Linux 5.0)",
		Hint:   "load the BFQ I/O scheduler (modprobe bfq) or use cgroup v2 with io.cost"})
}

// ioWeightV2: io.weight is enforced by io.cost where its QoS is enabled for a device, io.bfq.weight by
// BFQ; with neither in force on any device the weight would act on nothing, and is refused like v1's.
func ioWeightV2(c *Cgroup, dir string, lim policy.Limits, req policy.Require) error {
	if len(bfqInUse()) == 0 && !ioCostEnabled() {
		return c.unsupported(req, &UnsupportedError{Setting: "limits.io_weight", Controller: "io", File: "io.weight",
			Reason: "no block device uses the BFQ scheduler and io.cost is enabled for none, so the weight would have no effect",
			Hint:   "enable io.cost (io.cost.qos in the root cgroup) or BFQ for the devices the sandbox writes to"})
	}
	switch {
	case exists(filepath.Join(dir, "io.weight")):
		return c.set("limits.io_weight", dir, "io.weight", "default "+strconv.Itoa(int(lim.IOWeight)))
	case exists(filepath.Join(dir, "io.bfq.weight")):
		return c.set("limits.io_weight", dir, "io.bfq.weight", strconv.FormatUint(bfqWeight(lim.IOWeight), 10))
	}
	return c.unsupported(req, &UnsupportedError{Setting: "limits.io_weight", Controller: "io", File: "io.weight",
		Reason: "the io controller has neither io.weight nor io.bfq.weight here",
		Hint:   "use a kernel with the BFQ scheduler (io.bfq.weight) or io.cost (io.weight)"})
}

// ioWeightReport names the weight file the trial cgroup has and the devices it acts on.
func ioWeightReport(c *Cgroup, setting string) string {
	for _, name := range []string{"io.weight", "io.bfq.weight", "blkio.bfq.weight", "blkio.weight"} {
		for _, d := range c.order {
			if exists(filepath.Join(d, name)) {
				return name + " (" + bfqDevices() + ")"
			}
		}
	}
	k, _ := policy.CgroupLimitByName(strings.TrimPrefix(setting, "limits."))
	if c.m.v2 {
		return k.V2File
	}
	return k.V1File
}

// bfqInUse lists the block devices whose scheduler is BFQ.
func bfqInUse() []string {
	scheds, _ := filepath.Glob("/sys/block/*/queue/scheduler")
	var bfq []string
	for _, f := range scheds {
		if s, err := readString(f); err == nil && strings.Contains(s, "[bfq]") {
			bfq = append(bfq, filepath.Base(filepath.Dir(filepath.Dir(f))))
		}
	}
	return bfq
}

// ioCostEnabled says whether io.cost's QoS is on for some device (cgroup v2's root io.cost.qos).
func ioCostEnabled() bool {
	s, err := readString("/sys/fs/cgroup/io.cost.qos")
	return err == nil && strings.Contains(s, "enable=1")
}
