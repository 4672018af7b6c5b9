//go:build linux && cgo

package sandbox

import (
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/jailrun/jailrun/cgroups"
	"github.com/jailrun/jailrun/internal/childabi"
	"github.com/jailrun/jailrun/namespaces"
	"github.com/jailrun/jailrun/policy"
)

// prepareCgroup creates the run's cgroup before the clone. Every run gets one when the host has cgroups, for
// the kernel's accounting and a kill that reaches every process; a host without any is refused only when the
// policy needs a cgroup limit that it does not allow to be skipped.
func (l *launch) prepareCgroup(cfg *spawnConfig) error {
	m := l.r.plat.cg
	if m == nil {
		return l.withoutCgroup(l.r.plat.cgErr)
	}
	var o cgroups.CreateOptions
	if l.s.Filesystem.CgroupView {
		o.Extra = cgroupViewControllers
	}
	// With a pid namespace, kill reaches every process through the sandbox's pid 1 (launch.kill): the v1
	// freezer would guard nothing.
	o.PIDNamespace = l.s.Namespaces.PID && l.dg == nil
	cg, err := m.CreateWith(l.res.RunID, cgroupLimits(l.s.Limits), l.s.Require, o)
	if errors.Is(err, cgroups.ErrNoCgroup) {
		// Not even an accounting cgroup can be made here (an unprivileged caller without delegation).
		return l.withoutCgroup(err)
	}
	if err != nil {
		if errors.Is(err, cgroups.ErrUnsupported) {
			return fmt.Errorf("%w: %w", ErrUnsupported, err)
		}
		var le *cgroups.LimitError
		if errors.As(err, &le) {
			return fmt.Errorf("%w: %w", ErrPolicy, err)
		}
		return &SetupError{Stage: "prepare", Step: StepCreateCgroup, Err: err}
	}
	l.cg = cg
	l.cleanup = append(l.cleanup, func() {
		if err := cg.Destroy(); err != nil {
			l.r.opts.Logf("remove cgroup %s: %v", cg.Path(), err)
		}
	})
	l.res.Skipped = append(l.res.Skipped, cg.Skipped()...)
	if l.s.Limits.Memory > 0 {
		l.watchOOM(cg)
	}
	l.res.Enforced.Cgroup = cgroupVersion(m.Mode())
	if fd, ok := cg.CloneFD(); ok {
		// cgroup v2: the child starts inside its cgroup (CLONE_INTO_CGROUP) and never runs outside it, so
		// its cgroup namespace can be created by the clone itself.
		cfg.cgroupFD = fd
		if l.s.Namespaces.Cgroup {
			cfg.cloneFlags |= namespaces.CloneNewCgroup
			cfg.unshareCgroup = false
		}
		return nil
	}
	// cgroup v1: the child joins its cgroup itself, through tasks files opened here (cgroups.OpenTasks says
	// why: no RCU grace-period wait). Should they not open, the parent adds the child's pid as before.
	files, err := cg.OpenTasks()
	if err != nil || len(files) == 0 || len(files) > childabi.MaxCgroupTasks {
		for _, f := range files {
			f.Close()
		}
		return nil
	}
	for _, f := range files {
		cfg.cgroupTasks = append(cfg.cgroupTasks, int(f.Fd()))
	}
	cfg.cgroupPaths = cg.Paths()
	l.cleanup = append(l.cleanup, func() {
		for _, f := range files {
			f.Close()
		}
	})
	return nil
}

// initTasks is what jailrun itself keeps in every run's cgroup: the sandbox's pid 1 (the reaper), a task for
// pids.max like any other.
const initTasks = 1

// cgroupLimits are the policy's limits as the cgroup must hold them: limits.pids counts the command's tasks,
// so pids.max also leaves room for jailrun's pid 1 (pids 1 means one process of the command's, not none).
func cgroupLimits(lim policy.Limits) policy.Limits {
	if lim.Pids > 0 {
		lim.Pids += initTasks
	}
	return lim
}

// watchOOM arms, before anything runs in the cgroup, the watch that ends the whole sandbox on its first OOM
// kill where the kernel does not (cgroup v1 has no memory.oom.group): what survives an OOM kill (a shell
// whose child was killed) must not run on until some other limit stops it.
func (l *launch) watchOOM(cg *cgroups.Cgroup) {
	w, err := cg.WatchOOM()
	if err != nil {
		// The limit itself holds; only the prompt end of the rest of the sandbox is lost.
		l.r.opts.Logf("%v: an OOM kill will not end the rest of the sandbox at once", err)
		return
	}
	if w == nil {
		return
	}
	l.oom = w
	l.cleanup = append(l.cleanup, func() { _ = w.Close() })
}

// startOOMWatch kills the whole sandbox on the cgroup's first OOM event; the verdict then comes from the
// kernel's counters (memory_limit), exactly as after a memory.oom.group kill on v2.
func (l *launch) startOOMWatch(stop <-chan struct{}, wg *sync.WaitGroup) {
	if l.oom == nil {
		return
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		if l.oom.Wait() {
			// The event is the kernel's own word that the cgroup ran out of memory (memory.oom_control).
			// Name it as the reason: this kill can come before the OOM killer's own, and then oom_kill is
			// still 0 and the verdict would read "signaled".
			l.kill(StatusMemoryLimit, &LimitHit{Name: "limits.memory", Value: strconv.FormatInt(l.s.Limits.Memory, 10)})
		}
	}()
	go func() {
		defer wg.Done()
		<-stop
		_ = l.oom.Close()
	}()
}

// cgroupViewControllers are the v1 hierarchies the cgroup view needs a run directory in beyond the ones every
// run gets: the JVM refuses a v1 view without cpu and cpuset.
var cgroupViewControllers = []string{"cpu", "cpuset"}

// addCgroupView mounts the run's own cgroup read-only at /sys/fs/cgroup (filesystem.cgroup_view) and lets
// the Landlock layer read it. Without a cgroup (limits skipped as best effort) there is nothing to show; the
// result's skipped says so.
func (l *launch) addCgroupView(cfg *spawnConfig) {
	if !l.s.Filesystem.CgroupView || cfg.plan == nil {
		return
	}
	if l.cg == nil {
		l.res.Skipped = append(l.res.Skipped, "filesystem.cgroup_view")
		return
	}
	cfg.plan.AddCgroupView(l.cg.ViewDirs())
	if ll := cfg.landlock; ll != nil {
		if acc := (llReadFile | llReadDir) & ll.handledFS; acc != 0 {
			ll.paths = append(ll.paths, landlockPath{path: "/sys/fs/cgroup", access: acc})
		}
	}
}

// withoutCgroup runs without a cgroup when every cgroup limit the policy asks for may be skipped.
func (l *launch) withoutCgroup(why error) error {
	for _, k := range policy.CgroupLimits {
		// A limit enforced with another (memory_swap) goes with it.
		if k.With != "" || !k.On(l.s.Limits) {
			continue
		}
		name := k.Setting()
		if !l.s.Require.Allows(name) {
			return fmt.Errorf("%w: %s needs a cgroup, and jailrun cannot create one here: %w", ErrUnsupported, name, why)
		}
		l.res.Skipped = append(l.res.Skipped, name)
	}
	return nil
}

// enforcedCgroupLimits reports in the result the cgroup limits the run has: those the policy asks for and
// that were not skipped.
func enforcedCgroupLimits(e *Enforced, lim policy.Limits, skipped []string) {
	for _, k := range policy.CgroupLimits {
		if k.On(lim) && !slices.Contains(skipped, k.Setting()) {
			e.Limits[k.Name] = k.Value(lim)
		}
	}
}

func cgroupVersion(m cgroups.Mode) string {
	if m == cgroups.ModeV2 {
		return "v2"
	}
	return "v1"
}

// watchCPU enforces limits.cpu_time from the cgroup's CPU usage with millisecond precision (RLIMIT_CPU only
// counts whole seconds, per process). It sleeps for the time the sandbox could at most use before reaching
// the limit, so a mostly idle run costs a handful of reads.
func (l *launch) watchCPU(stop <-chan struct{}) {
	lim := l.s.Limits.CPUTime + l.s.Limits.ExtraTime
	cpus := time.Duration(runtime.NumCPU())
	for {
		used, err := l.cg.CPUUsage()
		if err != nil {
			return
		}
		if used >= lim {
			l.kill(StatusTimeLimit, &LimitHit{Name: "limits.cpu_time", Value: l.s.Limits.CPUTime.String()})
			return
		}
		wait := (lim - used) / cpus
		wait = max(min(wait, 100*time.Millisecond), 2*time.Millisecond)
		select {
		case <-stop:
			return
		case <-time.After(wait):
		}
	}
}

// readCgroupStats fills the result from the cgroup's counters: exact CPU time of every process that ever ran
// in the sandbox, peak memory and pids, OOM kills.
func (l *launch) readCgroupStats() error {
	if l.cg == nil {
		return nil
	}
	st, err := l.cg.Stats()
	if err != nil {
		return err
	}
	l.res.CPUTimeMS = CPUTime{UserMS: ms(st.CPUUser), SysMS: ms(st.CPUSystem), TotalMS: ms(st.CPUTotal), Source: "cgroup"}
	l.res.PeakMemoryBytes, l.res.PeakMemorySrc = st.MemoryPeak, st.MemoryPeakSource
	l.res.PeakPids = st.PidsPeak
	if st.PidsPeak >= initTasks {
		// The command's tasks, as limits.pids counts them: jailrun's pid 1 was there throughout.
		l.res.PeakPids = st.PidsPeak - initTasks
	}
	l.res.OOMKills = st.OOMKills
	l.counters = &st
	return nil
}
