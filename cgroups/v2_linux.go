package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// prepareV2 makes controller c usable by run cgroups: the parent exists and c is enabled in its
// cgroup.subtree_control (and in its ancestors' up to the caller's own cgroup where needed). Under proc.mu.
func (m *Manager) prepareV2(c string) *problem {
	if !proc.prepared[m.parent][""] {
		created, err := mkdirAll(m.parent)
		proc.created = append(proc.created, created...)
		if err != nil {
			return &problem{reason: fmt.Sprintf("cannot create the parent cgroup: %v", err), hint: delegateHint}
		}
		if p := writable(m.parent); p != nil {
			return p
		}
		m.markPrepared(m.parent, "")
	}
	if p := m.enableV2(c, m.parent); p != nil {
		return p
	}
	m.markPrepared(m.parent, c)
	return nil
}

const delegateHint = "run jailrun as root, or in a cgroup delegated to its user (systemd: Delegate=yes, e.g. systemd-run --user --scope -p Delegate=yes jailrun ...)"

// enableV2 enables controller c in dir's cgroup.subtree_control so that dir's children can use it, first in
// the ancestors that do not pass it down yet, never above m.writeTop (the caller's own cgroup: what is above
// belongs to whoever delegated it).
func (m *Manager) enableV2(c, dir string) *problem {
	sc, err := readString(filepath.Join(dir, "cgroup.subtree_control"))
	if err != nil {
		return &problem{reason: err.Error(), hint: delegateHint}
	}
	if hasWord(sc, c) {
		return nil
	}
	avail, err := readString(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return &problem{reason: err.Error(), hint: delegateHint}
	}
	if !hasWord(avail, c) {
		if dir == m.mount {
			return &problem{
				reason: "the kernel does not offer it (not built in, disabled with cgroup_disable=, or bound to a cgroup v1 hierarchy)",
				hint:   "check /proc/cgroups and the kernel command line",
			}
		}
		if dir == m.writeTop {
			up := filepath.Dir(dir)
			return &problem{
				reason: fmt.Sprintf("it is not delegated to %s (missing from its cgroup.controllers)", dir),
				hint: fmt.Sprintf("enable it in the parent (as root: echo +%s > %s), or run jailrun under systemd with Delegate=yes",
					c, filepath.Join(up, "cgroup.subtree_control")),
			}
		}
		if p := m.enableV2(c, filepath.Dir(dir)); p != nil {
			return p
		}
	}
	file := filepath.Join(dir, "cgroup.subtree_control")
	err = writeFile(file, "+"+c)
	if errnoOf(err) == unix.EBUSY && dir == m.origin && proc.leaf == "" {
		// cgroup v2 allows no processes in a cgroup that distributes controllers to children, and this
		// process lives in its own cgroup: move it into a leaf under the parent, as nsjail and container
		// runtimes do under a Delegate=yes unit, then retry.
		if p := m.moveSelf(); p != nil {
			return p
		}
		if err = writeFile(file, "+"+c); errnoOf(err) == unix.EBUSY {
			m.moveBack()
		}
	}
	switch {
	case err == nil:
		proc.enabled = append(proc.enabled, enabledCtl{dir, c})
		return nil
	case errnoOf(err) == unix.EBUSY:
		return &problem{
			reason: fmt.Sprintf("cannot enable it in %s: other processes live in that cgroup (cgroup v2 lets no process stay in a cgroup that passes controllers to its children)", dir),
			hint:   "run jailrun in a cgroup of its own (e.g. systemd-run --scope -p Delegate=yes jailrun ...) or choose another cgroup parent",
		}
	case errnoOf(err) == unix.EACCES || errnoOf(err) == unix.EPERM || errnoOf(err) == unix.EROFS:
		return &problem{reason: fmt.Sprintf("not allowed to enable it in %s: %v", file, errnoOf(err)), hint: delegateHint}
	default:
		return &problem{reason: err.Error(), hint: delegateHint}
	}
}

// moveSelf moves this whole process (every thread) into its own leaf under the parent.
func (m *Manager) moveSelf() *problem {
	leaf := filepath.Join(m.parent, m.owner.selfName())
	if err := unix.Mkdir(leaf, 0o755); err != nil && err != unix.EEXIST {
		return &problem{reason: fmt.Sprintf("cannot create a leaf to move this process into: mkdir %s: %v", leaf, err), hint: delegateHint}
	}
	if err := writeFile(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
		unix.Rmdir(leaf)
		return &problem{reason: fmt.Sprintf("cannot move this process out of %s: %v", m.origin, err), hint: delegateHint}
	}
	proc.leaf, proc.leafFrom = leaf, m.origin
	return nil
}

func (m *Manager) moveBack() {
	if writeFile(filepath.Join(proc.leafFrom, "cgroup.procs"), strconv.Itoa(os.Getpid())) == nil {
		unix.Rmdir(proc.leaf)
		proc.leaf, proc.leafFrom = "", ""
	}
}
