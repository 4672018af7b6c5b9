//go:build linux

package sandbox

import (
	"fmt"
	"strconv"

	"github.com/jailrun/jailrun/cgroups"
	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// runFacts is everything a run's verdict is decided from, gathered once the sandbox is reaped: what the
// kernel reported (the wait status, the cgroup's counters, the CPU figures) and what jailrun's own watchers
// did (the limit they killed for, truncated output). The verdict reads nothing else, so that a table of
// facts tests it without a kernel (verdict_test.go).
type runFacts struct {
	// WaitStatus is the command's wait status as the sandbox's pid 1 reported it; Reported is false when
	// pid 1 was killed before it could report (jailrun or the kernel killed the whole sandbox).
	WaitStatus unix.WaitStatus
	Reported   bool
	// KilledBy and Hit are the first limit jailrun killed the sandbox for ("" and nil when it did not).
	KilledBy Status
	Hit      *LimitHit
	// Counters are the cgroup's figures after the run; nil without a cgroup. Cgroup is its version, "v1"
	// or "v2" (it names the counters in limits_hit).
	Counters *cgroups.Stats
	Cgroup   string
	// CPUTimeMS is the run's CPU time (from the cgroup when there is one, else rusage); WallTimeMS the wall
	// clock from exec to exit.
	CPUTimeMS  CPUTime
	WallTimeMS float64
	// Stdout and Stderr say what the relays counted and whether they truncated.
	Stdout, Stderr StreamStats
	// FileSizeSignals is the counter of SIGXFSZ raised in the sandbox (fsizecount_linux.go), "" when none
	// was or none could be counted: a writer that ignored or handled it still hit limits.file_size.
	FileSizeSignals string
	// Limits and Rlimits are the policy's, as configured: the values a verdict quotes.
	Limits  policy.Limits
	Rlimits []policy.Rlimit
}

// runVerdict is the part of a Result the verdict decides.
type runVerdict struct {
	Status     Status
	ExitCode   int // -1 when the command did not exit normally
	Signal     int
	SignalName string
	Message    string
	Limit      *LimitHit
	LimitsHit  []LimitHit // never nil
}

// verdict decides Status from what jailrun and the kernel observed. Precedence, first match wins:
// a limit jailrun killed the sandbox for (output, wall time, CPU time — whichever fired first), then the
// kernel's memory and pids counters, a seccomp kill, then how the command itself ended.
func verdict(f *runFacts) runVerdict {
	v := runVerdict{ExitCode: -1}
	ws := f.WaitStatus
	if f.Reported {
		switch {
		case ws.Exited():
			v.ExitCode = ws.ExitStatus()
		case ws.Signaled():
			v.Signal = int(ws.Signal())
			v.SignalName = unix.SignalName(ws.Signal())
		}
	} else {
		// The sandbox's pid 1 was killed before it could report: jailrun or the kernel killed everything.
		v.Signal = int(unix.SIGKILL)
		v.SignalName = "SIGKILL"
	}
	lim := f.Limits
	abnormal := v.Signal != 0 || v.ExitCode != 0
	c := f.Counters
	if c == nil {
		c = &cgroups.Stats{}
	}
	switch killedBy, hit := f.KilledBy, f.Hit; {
	case killedBy == StatusSeccompViolation && hit != nil:
		v.Status = killedBy
		v.Message = "the seccomp filter stopped " + hit.Value
	case killedBy != "":
		v.Status, v.Limit = killedBy, hit
		if hit != nil {
			v.Message = fmt.Sprintf("%s exceeded (%s)", hit.Name, hit.Value)
		}
		if killedBy == StatusMemoryLimit {
			// The same words whichever of the kernel and the v1 OOM watch killed first.
			v.Message = fmt.Sprintf("limits.memory exceeded (%d bytes)", lim.Memory)
			if f.Counters != nil && !ownMemoryLimit(c, lim.Memory) {
				v.Limit, v.Message = nil, outsideOOM(lim.Memory)
			}
		}
	case c.OOMKills > 0 || (c.MemoryLimitHit && abnormal):
		v.Status = StatusMemoryLimit
		v.Limit = &LimitHit{Name: "limits.memory", Value: strconv.FormatInt(lim.Memory, 10)}
		v.Message = fmt.Sprintf("limits.memory exceeded (%d bytes)", lim.Memory)
		if !ownMemoryLimit(c, lim.Memory) {
			v.Limit, v.Message = nil, outsideOOM(lim.Memory)
		}
	case c.PidsLimitHit && abnormal:
		v.Status = StatusPidsLimit
		v.Limit = &LimitHit{Name: "limits.pids", Value: strconv.FormatInt(lim.Pids, 10)}
		v.Message = fmt.Sprintf("limits.pids reached (%d)", lim.Pids)
	case v.Signal == int(unix.SIGSYS):
		v.Status = StatusSeccompViolation
		v.Message = "killed by the seccomp filter"
	// A run that went over a time limit and ended by itself within limits.extra_time (or between two
	// checks of the watcher) still exceeded it: the grace is there so the real time is measured, not so
	// the limit is forgiven (isolate reports TO the same way, before the exit status).
	case lim.CPUTime > 0 && f.CPUTimeMS.TotalMS > ms(lim.CPUTime):
		v.Status = StatusTimeLimit
		v.Limit = &LimitHit{Name: "limits.cpu_time", Value: lim.CPUTime.String()}
		v.Message = fmt.Sprintf("limits.cpu_time exceeded (%s): %.3fs used", lim.CPUTime, f.CPUTimeMS.TotalMS/1000)
	case lim.WallTime > 0 && f.WallTimeMS > ms(lim.WallTime):
		v.Status = StatusWallTimeLimit
		v.Limit = &LimitHit{Name: "limits.wall_time", Value: lim.WallTime.String()}
		v.Message = fmt.Sprintf("limits.wall_time exceeded (%s): %.3fs", lim.WallTime, f.WallTimeMS/1000)
	case v.Signal == int(unix.SIGXCPU) || (v.Signal == int(unix.SIGKILL) && f.cpuRlimitHit()):
		v.Status = StatusTimeLimit
		v.Limit = &LimitHit{Name: "limits.cpu_time", Value: lim.CPUTime.String()}
	case v.Signal == int(unix.SIGXFSZ):
		v.Status = StatusOutputLimit
		v.Limit = &LimitHit{Name: "limits.file_size", Value: rlimitValue(f.Rlimits, policy.RlimitFsize)}
	case v.Signal != 0:
		v.Status = StatusSignaled
		v.Message = "killed by " + v.SignalName
	case v.ExitCode != 0:
		v.Status = StatusNonzeroExit
		v.Message = fmt.Sprintf("exited with status %d", v.ExitCode)
	default:
		v.Status = StatusOK
	}
	v.LimitsHit = limitsHit(f, v.Signal)
	return v
}

// cpuRlimitHit reports whether the CPU rlimit backstop can explain a SIGKILL: only when there is no cgroup
// to measure with and the rusage figures reached the limit.
func (f *runFacts) cpuRlimitHit() bool {
	for _, rl := range f.Rlimits {
		if rl.Resource == policy.RlimitCPU && rl.Hard != policy.RlimInfinity {
			return f.CPUTimeMS.TotalMS >= float64(rl.Hard)*1000-50
		}
	}
	return false
}

// rlimitValue is the hard value of the policy's rlimit res as a result quotes it.
func rlimitValue(rls []policy.Rlimit, res policy.Resource) string {
	for _, rl := range rls {
		if rl.Resource == res {
			if rl.Hard == policy.RlimInfinity {
				return "unlimited"
			}
			return strconv.FormatUint(rl.Hard, 10)
		}
	}
	return "unset"
}

// ownMemoryLimit says whether the sandbox's own memory limit was reached: its counters say so (v2
// memory.events max, v1 failcnt), or its peak came to the limit (v1's failcnt stays 0 through an OOM kill
// when memory+swap is limited as well, seen on 6.18). An OOM kill without either came from above — a
// --cgroup-parent with less memory than limits.memory, or the host itself — and the verdict must not claim
// the policy's limit.
func ownMemoryLimit(c *cgroups.Stats, limit int64) bool {
	const slack = 256 << 10 // the peak is charged in pages and batches: "at the limit" is within this
	return c.MemoryLimitEvents > 0 || c.MemorySwapLimitEvents > 0 || (limit > 0 && c.MemoryPeak >= limit-slack)
}

func outsideOOM(limit int64) string {
	return fmt.Sprintf("out of memory before limits.memory (%d bytes) was reached: a cgroup above the sandbox, or the host, ran out", limit)
}
