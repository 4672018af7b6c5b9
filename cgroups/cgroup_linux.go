package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/policy"
)

// Cgroup is one run's cgroup (one directory per hierarchy on v1). Its methods are safe for concurrent use; call
// Stats before Destroy.
type Cgroup struct {
	m       *Manager
	name    string
	order   []string          // its directories, in creation order (one on v2)
	dirs    map[string]string // controller -> directory; "" -> the v2 directory
	skipped []string

	mu    sync.RWMutex // guards the fds against Destroy closing them under a reader
	dirFD int          // v2: the directory, for clone3(CLONE_INTO_CGROUP)
	// at holds an O_PATH fd of each of its directories, opened right after the mkdir: its files are then
	// opened relative to it (one lookup) rather than by a path that kernfs walks from /sys/fs/cgroup down,
	// about eight components, for every limit written, every counter read and every tasks file.
	at        map[string]int
	cpuFD     int // cpu.stat (v2) or cpuacct.usage (v1), kept open for CPUUsage
	removed   map[string]bool
	destroyed bool
}

// Path is the cgroup's directory, for messages: the v2 directory, or on v1 the memory hierarchy's one (the
// first created when there is no memory hierarchy).
func (c *Cgroup) Path() string {
	if d := c.dirs[""]; d != "" {
		return d
	}
	if d := c.dirs["memory"]; d != "" {
		return d
	}
	if len(c.order) > 0 {
		return c.order[0]
	}
	return ""
}

// Paths lists every directory of the cgroup (one per v1 hierarchy).
func (c *Cgroup) Paths() []string { return append([]string(nil), c.order...) }

// ViewDirs lists the run's directories a view of its own cgroup shows, by the name of their mount under
// /sys/fs/cgroup: on v2 {"": dir}; on v1 the hierarchies of memory, cpu, cpuacct, cpuset and pids, each
// named after its host mount point ("memory", or "cpu,cpuacct" for a joint one).
func (c *Cgroup) ViewDirs() map[string]string {
	out := map[string]string{}
	if d := c.dirs[""]; d != "" {
		out[""] = d
		return out
	}
	for _, ctl := range []string{"memory", "cpu", "cpuacct", "cpuset", "pids"} {
		d := c.dirs[ctl]
		h := c.m.hier[ctl]
		if d == "" || h == nil {
			continue
		}
		out[filepath.Base(h.mount)] = d
	}
	return out
}

// Skipped lists the settings that were not enforced because the host cannot and the policy allows it.
func (c *Cgroup) Skipped() []string { return append([]string(nil), c.skipped...) }

// CloneFD returns an fd of the cgroup's directory for clone3(CLONE_INTO_CGROUP) (Go: SysProcAttr.UseCgroupFD),
// which starts the child inside the cgroup with no window outside it. ok is false on v1 and hybrid hosts, where
// the launcher must Add the child before it execs. The fd stays owned by the Cgroup (closed by Destroy).
func (c *Cgroup) CloneFD() (fd int, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.dirFD < 0 || c.destroyed {
		return -1, false
	}
	return c.dirFD, true
}

// OpenTasks opens, on cgroup v1, the tasks file of each of the cgroup's hierarchies for writing (close-on-exec;
// the caller closes them). A single-threaded process joins the cgroup by writing "0" to each: that moves only
// the calling thread, which does not take the kernel's cgroup_threadgroup_rwsem, whose write side waits for an
// RCU grace period when no other attach happened moments before (10-15 ms on an idle host; Add pays it).
// The check of the writer is made against the opener's credentials. On v2 it returns nil: CloneFD applies.
func (c *Cgroup) OpenTasks() ([]*os.File, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.dirFD >= 0 || c.destroyed {
		return nil, nil
	}
	var out []*os.File
	for _, d := range c.order {
		fd, err := c.openAt(filepath.Join(d, "tasks"), unix.O_WRONLY)
		var f *os.File
		if err == nil {
			f = os.NewFile(uintptr(fd), filepath.Join(d, "tasks"))
		}
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, fmt.Errorf("cgroups: open tasks of %s: %w", d, err)
		}
		out = append(out, f)
	}
	return out, nil
}

// Add moves process pid (all its threads) into the cgroup, in every hierarchy.
func (c *Cgroup) Add(pid int) error {
	for _, d := range c.order {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("cgroups: add pid %d: %w", pid, err)
		}
	}
	return nil
}

// CPUUsage is the CPU time (user+system) used so far by every task that ran in the cgroup: one pread of a file
// kept open (cpu.stat usage_usec on v2, cpuacct.usage on v1), cheap enough to poll every millisecond.
func (c *Cgroup) CPUUsage() (time.Duration, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.cpuFD < 0 {
		if c.destroyed {
			return 0, errors.New("cgroups: CPUUsage after Destroy")
		}
		return 0, fmt.Errorf("cgroups: no CPU accounting for %s (the cpuacct hierarchy is not usable): %w", c.Path(), ErrUnsupported)
	}
	b, err := readFD(c.cpuFD, "cpu usage")
	if err != nil {
		return 0, fmt.Errorf("cgroups: %w", err)
	}
	if c.m.v2 {
		us, ok := parseKeyed(b, "usage_usec")
		if !ok {
			return 0, fmt.Errorf("cgroups: no usage_usec in %s/cpu.stat", c.Path())
		}
		return time.Duration(us) * time.Microsecond, nil
	}
	ns, err := strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("cgroups: parse cpuacct.usage: %w", err)
	}
	return time.Duration(ns), nil
}

// Stats reads the run's figures from the kernel's counters. Call it after the run and before Destroy.
func (c *Cgroup) Stats() (Stats, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.destroyed {
		return Stats{}, errors.New("cgroups: Stats after Destroy")
	}
	s := Stats{MemoryPeak: -1, PidsPeak: -1}
	var err error
	if c.m.v2 {
		err = c.statsV2(&s)
	} else {
		err = c.statsV1(&s)
	}
	if err != nil {
		return s, fmt.Errorf("cgroups: stats of %s: %w", c.Path(), err)
	}
	s.MemoryLimitHit = s.MemoryLimitHit || s.OOMKills > 0
	return s, nil
}

func (c *Cgroup) statsV2(s *Stats) error {
	dir := c.dirs[""]
	b, err := c.readFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		return err
	}
	usage, _ := parseKeyed(b, "usage_usec")
	user, _ := parseKeyed(b, "user_usec")
	sys, _ := parseKeyed(b, "system_usec")
	s.CPUTotal, s.CPUUser, s.CPUSystem = time.Duration(usage)*time.Microsecond, time.Duration(user)*time.Microsecond, time.Duration(sys)*time.Microsecond
	if c.dirs["memory"] != "" {
		peak, err := c.readInt(filepath.Join(dir, "memory.peak"))
		switch {
		case err == nil:
			s.MemoryPeak, s.MemoryPeakSource = peak, "memory.peak"
		case !isNotExist(err):
			return err
		}
		ev, err := c.readFile(filepath.Join(dir, "memory.events"))
		if err != nil {
			return err
		}
		s.OOMKills, _ = parseKeyed(ev, "oom_kill")
		hits, _ := parseKeyed(ev, "max")
		s.MemoryLimitHit, s.MemoryLimitEvents = hits > 0, hits
	}
	return c.statsPids(s, dir)
}

func (c *Cgroup) statsPids(s *Stats, dir string) error {
	if dir == "" || c.dirs["pids"] == "" {
		return nil
	}
	peak, err := c.readInt(filepath.Join(dir, "pids.peak"))
	switch {
	case err == nil:
		s.PidsPeak = peak
	case !isNotExist(err):
		return err
	}
	ev, err := c.readFile(filepath.Join(dir, "pids.events"))
	if err != nil {
		return err
	}
	n, _ := parseKeyed(ev, "max")
	s.PidsLimitHit, s.PidsLimitEvents = n > 0, n
	return nil
}

func (c *Cgroup) statsV1(s *Stats) error {
	if dir := c.dirs["cpuacct"]; dir != "" {
		total, err := c.readInt(filepath.Join(dir, "cpuacct.usage"))
		if err != nil {
			return err
		}
		s.CPUTotal = time.Duration(total)
		// The user/system split is sampled at timer ticks (cpuacct.usage_user/_sys, or cpuacct.stat in
		// USER_HZ ticks before Linux 4.16) while the total is exact: scale the split to the total, as the kernel
		// does for /proc/<pid>/stat (cputime_adjust) and as v2's cpu.stat does.
		user, uerr := c.readInt(filepath.Join(dir, "cpuacct.usage_user"))
		sys, serr := c.readInt(filepath.Join(dir, "cpuacct.usage_sys"))
		if uerr != nil || serr != nil {
			if b, err := c.readFile(filepath.Join(dir, "cpuacct.stat")); err == nil {
				user, _ = parseKeyed(b, "user")
				sys, _ = parseKeyed(b, "system")
			}
		}
		s.CPUUser, s.CPUSystem = splitCPU(s.CPUTotal, user, sys)
	}
	if dir := c.dirs["memory"]; dir != "" {
		peak, err := c.readInt(filepath.Join(dir, "memory.max_usage_in_bytes"))
		if err != nil {
			return err
		}
		s.MemoryPeak, s.MemoryPeakSource = peak, "memory.max_usage_in_bytes"
		fail, err := c.readInt(filepath.Join(dir, "memory.failcnt"))
		if err != nil {
			return err
		}
		s.MemoryLimitEvents = fail
		// With memory+swap limited, a charge fails at memory.memsw.limit_in_bytes first and only that
		// counter moves (memory.failcnt can stay 0 through an OOM kill).
		if sw, err := c.readInt(filepath.Join(dir, "memory.memsw.failcnt")); err == nil {
			s.MemorySwapLimitEvents = sw
		}
		s.MemoryLimitHit = fail > 0 || s.MemorySwapLimitEvents > 0
		oc, err := c.readFile(filepath.Join(dir, "memory.oom_control"))
		if err != nil {
			return err
		}
		s.OOMKills, _ = parseKeyed(oc, "oom_kill")
	}
	return c.statsPids(s, c.dirs["pids"])
}

// splitCPU divides total in the ratio user:sys.
func splitCPU(total time.Duration, user, sys int64) (time.Duration, time.Duration) {
	if user < 0 || sys < 0 || user+sys == 0 {
		return 0, 0
	}
	u := time.Duration(float64(total) * float64(user) / float64(user+sys))
	return u, total - u
}

// set writes one limit file and explains a refusal.
func (c *Cgroup) set(setting, dir, file, value string) error {
	err := c.writeFile(filepath.Join(dir, file), value)
	if err == nil {
		return nil
	}
	le := &LimitError{Setting: setting, File: file, Value: value, Err: err}
	switch errnoOf(err) {
	case unix.EBUSY:
		if strings.HasPrefix(file, "memory.") {
			le.Reason = "the cgroup already uses more memory than that"
		} else {
			le.Reason = "the cgroup is in use (" + unix.EBUSY.Error() + ")"
		}
	case unix.EINVAL, unix.ERANGE:
		switch file {
		case "cpuset.cpus":
			parent, _ := readString(filepath.Join(filepath.Dir(dir), "cpuset.effective_cpus"))
			le.Reason = "CPUs outside what this cgroup's parent may use (" + parent + ")"
		case "cpu.max", "cpu.cfs_quota_us", "cpu.cfs_period_us":
			le.Reason = "quota or period out of the kernel's range, or above the parent's quota"
		default:
			le.Reason = "value out of range for this kernel"
		}
	case unix.ENOENT:
		return fmt.Errorf("cgroups: %w", err)
	}
	return le
}

// unsupported fails closed with e, or records e.Setting as skipped when the policy allows it.
func (c *Cgroup) unsupported(req policy.Require, e *UnsupportedError) error {
	if req.Allows(e.Setting) {
		c.skipped = append(c.skipped, e.Setting)
		return nil
	}
	return e
}

// cpusetUnavailable says that limits.cpuset names CPUs this host (or jailrun's parent cgroup) cannot give: a
// property of the host, like a missing controller, so it fails closed as unsupported with the CPUs that are
// available, and may be skipped when the policy lists limits.cpuset in require.best_effort.
func cpusetUnavailable(requested, available, why string) *UnsupportedError {
	available = strings.TrimSpace(available)
	return &UnsupportedError{Setting: "limits.cpuset", Controller: "cpuset", File: "cpuset.cpus",
		Reason: fmt.Sprintf("CPUs %s are not available here (%s); this host's cgroup can give CPUs %s", requested, why, available),
		Hint:   fmt.Sprintf("list only CPUs among %s in limits.cpuset (jailrun doctor shows them), or omit it", available)}
}

// setCpuset writes cpuset.cpus; a list the kernel refuses (EINVAL, or ERANGE on v1: CPUs that do not exist or that the parent
// does not have) is cpusetUnavailable. parentFile is the parent's file that lists its CPUs. When the policy lets
// limits.cpuset be skipped, the sandbox keeps the parent's CPUs.
func (c *Cgroup) setCpuset(req policy.Require, dir, cpus, parentFile string) (skipped bool, err error) {
	err = c.set("limits.cpuset", dir, "cpuset.cpus", cpus)
	var le *LimitError
	// EINVAL/ERANGE: CPUs the host does not have; EACCES: v1's answer for CPUs the parent cpuset lacks (a
	// --cgroup-parent restricted to fewer CPUs). Each is this host's limit, not a bad policy: 121 or skipped.
	if err == nil || !errors.As(err, &le) {
		return false, err
	}
	if errno := errnoOf(le.Err); errno != unix.EINVAL && errno != unix.ERANGE && errno != unix.EACCES {
		return false, err
	}
	parent, _ := readString(filepath.Join(filepath.Dir(dir), parentFile))
	if err := c.unsupported(req, cpusetUnavailable(cpus, parent, "the kernel refused cpuset.cpus="+cpus)); err != nil {
		return false, err
	}
	return true, c.set("limits.cpuset", dir, "cpuset.cpus", strings.TrimSpace(parent))
}

// noSwapAccounting handles a memory controller without swap accounting (memory.swap.max on v2,
// memory.memsw.limit_in_bytes on v1): harmless while the host has no swap (nothing can be swapped), a hole in
// the memory limit (and in "no swap") when it has some.
func (c *Cgroup) noSwapAccounting(req policy.Require, file string) error {
	total, err := swapTotalHook()
	if err != nil || total == 0 {
		return err
	}
	return c.unsupported(req, &UnsupportedError{Setting: "limits.memory_swap", Controller: "memory", File: file,
		Reason: fmt.Sprintf("swap is on (%d MiB) but the kernel does not account swap per cgroup, so the sandbox could swap beyond limits.memory", total>>20),
		Hint:   "boot with swapaccount=1 (CONFIG_MEMCG_SWAP), or turn swap off (swapoff -a)"})
}

// swapTotalHook is replaced by tests to simulate swap.
var swapTotalHook = swapTotal

// swapTotal is SwapTotal from /proc/meminfo, in bytes.
func swapTotal() (int64, error) {
	b, err := readFile("/proc/meminfo")
	if err != nil {
		return 0, fmt.Errorf("cgroups: %w", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "SwapTotal:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, err := strconv.ParseInt(f[0], 10, 64)
				if err != nil {
					return 0, fmt.Errorf("cgroups: parse /proc/meminfo SwapTotal: %w", err)
				}
				return kb << 10, nil
			}
		}
	}
	return 0, nil
}

// open keeps the fds the hot paths need.
func (c *Cgroup) open() error {
	if c.m.v2 {
		dir := c.dirs[""]
		fd, err := openFile(dir, unix.O_RDONLY|unix.O_DIRECTORY)
		if err != nil {
			return fmt.Errorf("cgroups: %w", err)
		}
		c.dirFD = fd
		if c.cpuFD, err = c.openAt(filepath.Join(dir, "cpu.stat"), unix.O_RDONLY); err != nil {
			return fmt.Errorf("cgroups: %w", err)
		}
		return nil
	}
	if dir := c.dirs["cpuacct"]; dir != "" {
		fd, err := c.openAt(filepath.Join(dir, "cpuacct.usage"), unix.O_RDONLY)
		if err != nil {
			return fmt.Errorf("cgroups: %w", err)
		}
		c.cpuFD = fd
	}
	return nil
}

func (c *Cgroup) closeFDs() {
	for d, fd := range c.at {
		unix.Close(fd)
		delete(c.at, d)
	}
	if c.dirFD >= 0 {
		unix.Close(c.dirFD)
		c.dirFD = -1
	}
	if c.cpuFD >= 0 {
		unix.Close(c.cpuFD)
		c.cpuFD = -1
	}
}

// Destroy kills whatever is still inside, then removes the cgroup (every hierarchy), retrying while the kernel
// still reports it busy. It is idempotent; after it only Path and Skipped are meaningful.
func (c *Cgroup) Destroy() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.destroyed {
		return nil
	}
	deadline := time.Now().Add(killTimeout)
	var err error
	for pause := 50 * time.Microsecond; ; pause = min(2*pause, 10*time.Millisecond) {
		err = c.rmdirAll()
		if err == nil || errnoOf(err) != unix.EBUSY || time.Now().After(deadline) {
			break
		}
		// Busy: tasks are inside (or were just killed and are still exiting).
		if kerr := c.kill(deadline); kerr != nil {
			err = kerr
			break
		}
		time.Sleep(pause)
	}
	if err != nil {
		return fmt.Errorf("cgroups: destroy %s: %w", c.Path(), err)
	}
	c.closeFDs()
	c.destroyed = true
	return nil
}

// remove deletes the directories of a cgroup that holds no task (Create's error path, the janitor's empty
// leaves).
func (c *Cgroup) remove() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeFDs()
	if err := c.rmdirAll(); err != nil {
		return fmt.Errorf("cgroups: remove %s: %w", c.Path(), err)
	}
	c.destroyed = true
	return nil
}

func (c *Cgroup) rmdirAll() error {
	if c.removed == nil {
		c.removed = map[string]bool{}
	}
	var first error
	for i := len(c.order) - 1; i >= 0; i-- {
		d := c.order[i]
		if c.removed[d] {
			continue
		}
		if err := unix.Rmdir(d); err != nil && err != unix.ENOENT {
			if first == nil {
				first = &fs.PathError{Op: "rmdir", Path: d, Err: err}
			}
			continue
		}
		c.removed[d] = true
	}
	return first
}

// keepDir opens dir (just made) for openAt. Failing to is not an error: the files are then opened by path.
func (c *Cgroup) keepDir(dir string) {
	fd, err := openFile(dir, unix.O_PATH|unix.O_DIRECTORY)
	if err != nil {
		return
	}
	if c.at == nil {
		c.at = map[string]int{}
	}
	c.at[dir] = fd
}

// openAt opens path, a file in one of the cgroup's directories, through that directory's fd when it has one.
// The caller holds c.mu (or is still creating the cgroup), so that Destroy cannot close the fd meanwhile.
func (c *Cgroup) openAt(path string, flags int) (int, error) {
	if dfd, ok := c.at[filepath.Dir(path)]; ok {
		return openIn(dfd, filepath.Base(path), path, flags)
	}
	return openFile(path, flags)
}

func (c *Cgroup) readFile(path string) ([]byte, error) {
	fd, err := c.openAt(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readFD(fd, path)
}

func (c *Cgroup) readInt(path string) (int64, error) {
	b, err := c.readFile(path)
	if err != nil {
		return 0, err
	}
	return parseInt(path, string(bytes.TrimSpace(b)))
}

func (c *Cgroup) writeFile(path, value string) error {
	fd, err := c.openAt(path, unix.O_WRONLY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return writeFD(fd, path, value)
}
