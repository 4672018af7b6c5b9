package cgroups

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jailrun/jailrun/policy"
)

// prepareV1 makes the parent exist in c's hierarchy. Under proc.mu.
func (m *Manager) prepareV1(c string) *problem {
	h := m.hier[c]
	if h == nil {
		reason := "no cgroup v1 hierarchy of it is mounted"
		if m.mode == ModeHybrid {
			if avail, err := readString("/sys/fs/cgroup/unified/cgroup.controllers"); err == nil && hasWord(avail, c) {
				reason = "on this hybrid host it is on the cgroup2 side, and jailrun uses the v1 hierarchies here"
			}
		}
		return &problem{reason: reason,
			hint: fmt.Sprintf("mount it (mount -t cgroup -o %s cgroup /sys/fs/cgroup/%s), or boot with pure cgroup v2 (systemd.unified_cgroup_hierarchy=1)", c, c)}
	}
	if h.err != nil {
		return &problem{reason: h.err.Error()}
	}
	created, err := mkdirAll(h.parent)
	proc.created = append(proc.created, created...)
	if err != nil {
		return &problem{reason: fmt.Sprintf("cannot create the parent cgroup: %v", err),
			hint: "run jailrun as root, or give its user a cgroup of its own in each v1 hierarchy (chown)"}
	}
	if p := writable(h.parent); p != nil {
		return p
	}
	if exists(filepath.Join(h.parent, "cpuset.cpus")) {
		// A new v1 cpuset cgroup starts with no CPUs and no memory nodes (unless cgroup.clone_children is
		// set), and no task can join it: fill every level from the top down with its parent's sets.
		if err := initCpuset(h.mount, h.parent); err != nil {
			return &problem{reason: fmt.Sprintf("cannot initialise the cpuset parent: %v", err)}
		}
	}
	m.markPrepared(h.parent, "")
	return nil
}

func initCpuset(mount, dir string) error {
	rel := strings.TrimPrefix(dir, mount)
	cur := mount
	for _, part := range strings.Split(strings.Trim(rel, "/"), "/") {
		if part == "" {
			continue
		}
		up := cur
		cur = filepath.Join(cur, part)
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			v, err := readString(filepath.Join(cur, f))
			if err != nil {
				return err
			}
			if v != "" {
				continue
			}
			pv, err := readString(filepath.Join(up, f))
			if err != nil {
				return err
			}
			if err := writeFile(filepath.Join(cur, f), pv); err != nil {
				return err
			}
		}
	}
	return nil
}

// applyV1 writes the limits, one hierarchy at a time.
func (m *Manager) applyV1(c *Cgroup, lim policy.Limits, req policy.Require) error {
	if dir := c.dirs["memory"]; dir != "" && lim.Memory > 0 {
		// memory.limit_in_bytes first: memsw must never be below it.
		if err := c.set("limits.memory", dir, "memory.limit_in_bytes", strconv.FormatInt(lim.Memory, 10)); err != nil {
			return err
		}
		if !m.noSwap && exists(filepath.Join(dir, "memory.memsw.limit_in_bytes")) {
			if err := c.set("limits.memory_swap", dir, "memory.memsw.limit_in_bytes", strconv.FormatInt(lim.Memory+lim.MemorySwap, 10)); err != nil {
				return err
			}
		} else if err := c.noSwapAccounting(req, "memory.memsw.limit_in_bytes"); err != nil {
			return err
		}
	}
	if dir := c.dirs["pids"]; dir != "" && lim.Pids > 0 {
		if err := c.set("limits.pids", dir, "pids.max", strconv.FormatInt(lim.Pids, 10)); err != nil {
			return err
		}
	}
	if dir := c.dirs["cpu"]; dir != "" && lim.CPU > 0 {
		q, p := cpuQuota(lim.CPU)
		if err := c.set("limits.cpu", dir, "cpu.cfs_period_us", strconv.FormatUint(p, 10)); err != nil {
			return err
		}
		if err := c.set("limits.cpu", dir, "cpu.cfs_quota_us", strconv.FormatUint(q, 10)); err != nil {
			return err
		}
	}
	if dir := c.dirs["cpuset"]; dir != "" && lim.Cpuset == "" {
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
	}
	if dir := c.dirs["cpuset"]; dir != "" && lim.Cpuset != "" {
		mems, err := readString(filepath.Join(filepath.Dir(dir), "cpuset.mems"))
		if err != nil {
			return fmt.Errorf("cgroups: %w", err)
		}
		if err := c.set("limits.cpuset", dir, "cpuset.mems", mems); err != nil {
			return err
		}
		if _, err := c.setCpuset(req, dir, lim.Cpuset, "cpuset.cpus"); err != nil {
			return err
		}
	}
	if dir := c.dirs["blkio"]; dir != "" && lim.IOWeight > 0 {
		switch {
		case exists(filepath.Join(dir, "blkio.bfq.weight")):
			if err := c.set("limits.io_weight", dir, "blkio.bfq.weight", strconv.FormatUint(bfqWeight(lim.IOWeight), 10)); err != nil {
				return err
			}
		case exists(filepath.Join(dir, "blkio.weight")):
			if err := c.set("limits.io_weight", dir, "blkio.weight", strconv.FormatUint(cfqWeight(lim.IOWeight), 10)); err != nil {
				return err
			}
		default:
			if err := c.unsupported(req, &UnsupportedError{Setting: "limits.io_weight", Controller: "blkio", File: "blkio.bfq.weight",
				Reason: "the blkio controller has neither blkio.bfq.weight (BFQ) nor blkio.weight (CFQ, gone since Linux 5.0)",
				Hint:   "load the BFQ I/O scheduler (modprobe bfq) or use cgroup v2 with io.cost"}); err != nil {
				return err
			}
		}
	}
	return nil
}
