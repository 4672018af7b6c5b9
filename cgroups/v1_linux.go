package cgroups

import (
	"fmt"
	"path/filepath"
	"strings"
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
