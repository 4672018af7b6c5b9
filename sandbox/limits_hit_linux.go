//go:build linux

package sandbox

import (
	"fmt"
	"strconv"

	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// limitsHit lists every limit that fired during the run, from the kernel's counters and from what jailrun
// itself enforced, whether or not it decided the status: a program that caught EAGAIN from fork at the pids
// limit and exited 0 is "ok", and its result still says that limits.pids refused a fork. signal is the
// signal that ended the command (0 if none), as the verdict read it from the wait status.
func limitsHit(f *runFacts, signal int) []LimitHit {
	lim := f.Limits
	killedBy, hit := f.KilledBy, f.Hit
	out := []LimitHit{}
	add := func(name, value, counter string) {
		for _, h := range out {
			if h.Name == name {
				return
			}
		}
		out = append(out, LimitHit{Name: name, Value: value, Counter: counter})
	}
	if hit != nil {
		switch killedBy {
		case StatusWallTimeLimit:
			add(hit.Name, hit.Value, fmt.Sprintf("wall clock from exec %.1f ms", f.WallTimeMS))
		case StatusTimeLimit:
			add(hit.Name, hit.Value, fmt.Sprintf("%s %.1f ms", cpuCounter(f.Cgroup), f.CPUTimeMS.TotalMS))
		case StatusOutputLimit:
			add(hit.Name, hit.Value, "bytes counted on the pipe by jailrun")
		}
	}
	// Over a time limit without a kill for it (ended within limits.extra_time): the verdict's time_limit.
	if lim.CPUTime > 0 && f.CPUTimeMS.TotalMS > ms(lim.CPUTime) {
		add("limits.cpu_time", lim.CPUTime.String(), fmt.Sprintf("%s %.1f ms", cpuCounter(f.Cgroup), f.CPUTimeMS.TotalMS))
	}
	if lim.WallTime > 0 && f.WallTimeMS > ms(lim.WallTime) {
		add("limits.wall_time", lim.WallTime.String(), fmt.Sprintf("wall clock from exec %.1f ms", f.WallTimeMS))
	}
	if c := f.Counters; c != nil {
		if ownMemoryLimit(c, lim.Memory) { // an OOM kill from above the sandbox is not limits.memory (see verdict)
			counter := fmt.Sprintf("memory.events max=%d oom_kill=%d", c.MemoryLimitEvents, c.OOMKills)
			if f.Cgroup == "v1" {
				counter = fmt.Sprintf("memory.failcnt=%d memory.memsw.failcnt=%d memory.oom_control oom_kill=%d",
					c.MemoryLimitEvents, c.MemorySwapLimitEvents, c.OOMKills)
			}
			add("limits.memory", strconv.FormatInt(lim.Memory, 10), counter)
		}
		if killedBy == StatusMemoryLimit && hit != nil && ownMemoryLimit(c, lim.Memory) {
			// jailrun's v1 OOM watch ended the sandbox on the kernel's OOM event, possibly before the OOM
			// killer's own kill was counted.
			add(hit.Name, hit.Value, fmt.Sprintf("memory.oom_control OOM event, oom_kill=%d", c.OOMKills))
		}
		if c.PidsLimitEvents > 0 {
			add("limits.pids", strconv.FormatInt(lim.Pids, 10), fmt.Sprintf("pids.events max=%d", c.PidsLimitEvents))
		}
	}
	switch signal {
	case int(unix.SIGXFSZ):
		add("limits.file_size", rlimitValue(f.Rlimits, policy.RlimitFsize), "SIGXFSZ (RLIMIT_FSIZE)")
	case int(unix.SIGXCPU):
		add("limits.cpu_time", lim.CPUTime.String(), "SIGXCPU (RLIMIT_CPU)")
	}
	if f.FileSizeSignals != "" {
		// After the death above, so that a run SIGXFSZ ended keeps that counter.
		add("limits.file_size", rlimitValue(f.Rlimits, policy.RlimitFsize), f.FileSizeSignals)
	}
	for i, st := range []StreamStats{f.Stdout, f.Stderr} {
		if st.Truncated {
			name, v := outputLimitCut(lim.Output, i, st.byTotal)
			add(name, strconv.FormatInt(v, 10), "bytes counted on the pipe by jailrun")
		}
	}
	return out
}

// outputLimitCut names the limit that cut stream i (0 stdout, 1 stderr) and its value: the total when the
// relay says the total cut it (always so when the stream has no limit of its own), else the stream's own.
func outputLimitCut(lim policy.OutputLimits, i int, byTotal bool) (string, int64) {
	if byTotal {
		return "limits.output.total", lim.Total
	}
	return []string{"limits.output.stdout", "limits.output.stderr"}[i], []int64{lim.Stdout, lim.Stderr}[i]
}

// cpuCounter names the cgroup file limits.cpu_time is measured from.
func cpuCounter(cgroup string) string {
	if cgroup == "v2" {
		return "cpu.stat usage_usec"
	}
	return "cpuacct.usage"
}
