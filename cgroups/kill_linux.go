package cgroups

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// killTimeout bounds how long Kill and Destroy wait for the tasks of a cgroup to be gone. Killed tasks exit
// within milliseconds unless they are stuck in the kernel (uninterruptible sleep on a dead NFS server...).
const killTimeout = 5 * time.Second

// Kill kills every task in the cgroup and waits until none is left (or killTimeout passes).
//
// v2 writes cgroup.kill (Linux >= 5.14): the kernel kills the whole cgroup at once, including tasks being
// forked. Without it, and on v1, jailrun freezes the cgroup first (v2 cgroup.freeze, v1 freezer.state), so that
// nothing inside can fork or exit while it reads the task list and signals each task, then thaws and repeats
// until the cgroup is empty: a fork bomb cannot outrun that, and a pid read from the list cannot be reused by
// another process before the signal (a frozen task cannot exit). Without any freezer it loops with pidfds,
// checking that each pid still belongs to this cgroup before signalling it.
func (c *Cgroup) Kill() error {
	return c.kill(time.Now().Add(killTimeout))
}

func (c *Cgroup) kill(deadline time.Time) error {
	if c.m.v2 {
		dir := c.dirs[""]
		err := writeFile(filepath.Join(dir, "cgroup.kill"), "1")
		if err == nil {
			return c.waitEmpty(deadline)
		}
		if !isNotExist(err) {
			return fmt.Errorf("cgroups: kill %s: %w", dir, err)
		}
	}
	return c.killLoop(deadline)
}

func (c *Cgroup) killLoop(deadline time.Time) error {
	for {
		frozen := c.freeze(deadline)
		pids, err := c.procs()
		if err != nil {
			c.thaw()
			return fmt.Errorf("cgroups: kill %s: %w", c.Path(), err)
		}
		// Even frozen, each pid is checked through a pidfd: on v1 a task may sit in some hierarchies of the
		// run and not in the freezer one (a half-done Add), and there it could still exit and be reused.
		_ = frozen
		for _, pid := range pids {
			killVerified(pid, c.name)
		}
		c.thaw()
		if err := c.waitEmpty(time.Now().Add(20 * time.Millisecond)); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			pids, _ := c.procs()
			return fmt.Errorf("cgroups: kill %s: %d tasks still inside after %v", c.Path(), len(pids), killTimeout)
		}
	}
}

// freeze stops every task of the cgroup and reports whether it is frozen now.
func (c *Cgroup) freeze(deadline time.Time) bool {
	var file, on, done string
	var dir string
	if c.m.v2 {
		dir, file, on = c.dirs[""], "cgroup.freeze", "1"
	} else if dir = c.dirs["freezer"]; dir != "" {
		file, on, done = "freezer.state", "FROZEN", "FROZEN"
	} else {
		return false
	}
	if writeFile(filepath.Join(dir, file), on) != nil {
		return false
	}
	// Freezing takes effect asynchronously; a task busy in the kernel delays it. Wait a little, not for ever:
	// the pidfd path is safe without it.
	limit := time.Now().Add(100 * time.Millisecond)
	if limit.After(deadline) {
		limit = deadline
	}
	for pause := 20 * time.Microsecond; ; pause = min(2*pause, 5*time.Millisecond) {
		if c.m.v2 {
			if b, err := readFile(filepath.Join(dir, "cgroup.events")); err == nil {
				if n, ok := parseKeyed(b, "frozen"); ok && n == 1 {
					return true
				}
			}
		} else if s, err := readString(filepath.Join(dir, "freezer.state")); err == nil && s == done {
			return true
		}
		if time.Now().After(limit) {
			return false
		}
		time.Sleep(pause)
	}
}

func (c *Cgroup) thaw() {
	if c.m.v2 {
		writeFile(filepath.Join(c.dirs[""], "cgroup.freeze"), "0")
	} else if dir := c.dirs["freezer"]; dir != "" {
		writeFile(filepath.Join(dir, "freezer.state"), "THAWED")
	}
}

// procs lists the tasks (processes) in the cgroup, across every hierarchy on v1.
func (c *Cgroup) procs() ([]int, error) {
	seen := map[int]bool{}
	var out []int
	for _, d := range c.order {
		pids, err := readPids(filepath.Join(d, "cgroup.procs"))
		if err != nil {
			if isNotExist(err) {
				continue
			}
			return nil, err
		}
		for _, p := range pids {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// populated reports whether any task is in the cgroup.
func (c *Cgroup) populated() (bool, error) {
	if c.m.v2 {
		b, err := readFile(filepath.Join(c.dirs[""], "cgroup.events"))
		if err != nil {
			if isNotExist(err) {
				return false, nil
			}
			return false, err
		}
		n, _ := parseKeyed(b, "populated")
		return n == 1, nil
	}
	pids, err := c.procs()
	return len(pids) > 0, err
}

// waitEmpty polls until the cgroup holds no task. Killed tasks need a moment to exit (freeing a large
// address space takes milliseconds).
func (c *Cgroup) waitEmpty(deadline time.Time) error {
	for pause := 20 * time.Microsecond; ; pause = min(2*pause, 5*time.Millisecond) {
		busy, err := c.populated()
		if err != nil {
			return fmt.Errorf("cgroups: %w", err)
		}
		if !busy {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("cgroups: %s still has tasks after the kill", c.Path())
		}
		time.Sleep(pause)
	}
}

// killVerified sends SIGKILL to pid only if it still is in the cgroup named name: the pidfd pins the process,
// so the check and the signal concern the same one even if the pid number is reused in between.
func killVerified(pid int, name string) {
	fd, err := unix.PidfdOpen(pid, 0)
	if err == unix.ENOSYS {
		if inCgroup(pid, name) {
			unix.Kill(pid, unix.SIGKILL) // Linux < 5.3: the small reuse window remains
		}
		return
	}
	if err != nil {
		return // gone
	}
	defer unix.Close(fd)
	if inCgroup(pid, name) {
		unix.PidfdSendSignal(fd, unix.SIGKILL, nil, 0)
	}
}

func inCgroup(pid int, name string) bool {
	b, err := readFile("/proc/" + strconv.Itoa(pid) + "/cgroup")
	if err != nil {
		return false
	}
	s := string(b)
	return strings.Contains(s, "/"+name+"\n") || strings.Contains(s, "/"+name+"/")
}
