package cgroups

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"golang.org/x/sys/unix"
)

// OOMWatch reports when a run's memory cgroup runs out of memory, so that the launcher can end the whole
// sandbox at once, as memory.oom.group does on cgroup v2 (v1 has no such knob: the OOM killer kills one
// task and the rest of the sandbox runs on).
type OOMWatch struct {
	f    *os.File // a non-blocking eventfd, read through Go's poller so that Close wakes Wait
	once sync.Once
}

// WatchOOM starts watching the cgroup for OOM events. It returns nil when no watch is needed (cgroup v2 with
// memory.oom.group in force: the kernel kills the whole cgroup itself) or possible (no memory controller).
//
// v1: an eventfd registered in cgroup.event_control for memory.oom_control, which the kernel signals each
// time the cgroup hits its limit and the OOM killer is invoked in it. Events that happen before Wait is
// called are counted by the eventfd, so a watch made before the command starts misses none.
func (c *Cgroup) WatchOOM() (*OOMWatch, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.destroyed || c.m.v2 {
		return nil, nil
	}
	dir := c.dirs["memory"]
	if dir == "" {
		return nil, nil
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("cgroups: eventfd: %w", err)
	}
	cfd, err := openFile(filepath.Join(dir, "memory.oom_control"), unix.O_RDONLY)
	if err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	// The kernel keeps what it needs of memory.oom_control once registered; its fd can go.
	err = writeFile(filepath.Join(dir, "cgroup.event_control"), strconv.Itoa(efd)+" "+strconv.Itoa(cfd))
	unix.Close(cfd)
	if err != nil {
		unix.Close(efd)
		return nil, fmt.Errorf("cgroups: register an OOM event for %s: %w", dir, err)
	}
	return &OOMWatch{f: os.NewFile(uintptr(efd), "oom eventfd")}, nil
}

// Wait blocks until the cgroup has run out of memory (true) or the watch was closed (false). The kernel
// also signals the eventfd when the cgroup is removed: close the watch before destroying the cgroup.
func (w *OOMWatch) Wait() bool {
	var b [8]byte
	n, err := w.f.Read(b[:])
	return err == nil && n == len(b)
}

// Close ends the watch and wakes a Wait in progress. It may be called more than once.
func (w *OOMWatch) Close() error {
	var err error
	w.once.Do(func() { err = w.f.Close() })
	return err
}
