//go:build linux

package sandbox

import (
	"fmt"
	"reflect"
	"testing"
	"time"

	"github.com/jailrun/jailrun/cgroups"
	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// The verdict is a pure function of the run's facts: this table pins every Status it can give and the
// precedence between them, without a kernel. The e2e suites check that the facts are gathered right.

func exited(code int) unix.WaitStatus        { return unix.WaitStatus(code << 8) }
func signaled(s unix.Signal) unix.WaitStatus { return unix.WaitStatus(s) }

func TestVerdict(t *testing.T) {
	lim := policy.Limits{
		Memory: 64 << 20, Pids: 16, CPUTime: time.Second, WallTime: 3 * time.Second,
		Output: policy.OutputLimits{Stdout: 1000, Stderr: 500, Total: 800},
	}
	rl := []policy.Rlimit{{Resource: policy.RlimitCPU, Soft: 2, Hard: 2}, {Resource: policy.RlimitFsize, Soft: 4096, Hard: 4096}}
	// base is a run under lim and rl with a v2 cgroup whose counters saw nothing; each case changes it.
	base := func() runFacts {
		return runFacts{Reported: true, Counters: &cgroups.Stats{}, Cgroup: "v2", CPUTimeMS: CPUTime{TotalMS: 120, Source: "cgroup"},
			WallTimeMS: 150, Limits: lim, Rlimits: rl}
	}
	memHit := LimitHit{Name: "limits.memory", Value: "67108864"}
	pidsHit := LimitHit{Name: "limits.pids", Value: "16"}
	wallHit := LimitHit{Name: "limits.wall_time", Value: "3s"}
	cpuHit := LimitHit{Name: "limits.cpu_time", Value: "1s"}
	with := func(h LimitHit, counter string) LimitHit { h.Counter = counter; return h }
	ptr := func(h LimitHit) *LimitHit { return &h }

	cases := []struct {
		name string
		edit func(f *runFacts)
		want runVerdict
	}{
		// How the command itself ended, when no limit explains it.
		{"exit 0 is ok", func(f *runFacts) { f.WaitStatus = exited(0) },
			runVerdict{Status: StatusOK}},
		{"exit 3 is nonzero_exit", func(f *runFacts) { f.WaitStatus = exited(3) },
			runVerdict{Status: StatusNonzeroExit, ExitCode: 3, Message: "exited with status 3"}},
		{"a signal is signaled", func(f *runFacts) { f.WaitStatus = signaled(unix.SIGSEGV) },
			runVerdict{Status: StatusSignaled, ExitCode: -1, Signal: 11, SignalName: "SIGSEGV", Message: "killed by SIGSEGV"}},
		{"no status from pid 1 is a SIGKILL", func(f *runFacts) { f.Reported = false },
			runVerdict{Status: StatusSignaled, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Message: "killed by SIGKILL"}},
		{"SIGSYS is seccomp_violation", func(f *runFacts) { f.WaitStatus = signaled(unix.SIGSYS) },
			runVerdict{Status: StatusSeccompViolation, ExitCode: -1, Signal: 31, SignalName: "SIGSYS", Message: "killed by the seccomp filter"}},

		// Limits jailrun killed for: the first one recorded decides, whatever the kernel counted.
		{"wall time kill", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit, f.WallTimeMS = false, StatusWallTimeLimit, ptr(wallHit), 3001.5
		}, runVerdict{Status: StatusWallTimeLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Limit: ptr(wallHit),
			Message:   "limits.wall_time exceeded (3s)",
			LimitsHit: []LimitHit{with(wallHit, "wall clock from exec 3001.5 ms")}}},
		{"cpu time kill by the cgroup watch (v2 counter)", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit, f.CPUTimeMS.TotalMS = false, StatusTimeLimit, ptr(cpuHit), 1003.2
		}, runVerdict{Status: StatusTimeLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Limit: ptr(cpuHit),
			Message:   "limits.cpu_time exceeded (1s)",
			LimitsHit: []LimitHit{with(cpuHit, "cpu.stat usage_usec 1003.2 ms")}}},
		{"cpu time kill by the cgroup watch (v1 counter)", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit, f.CPUTimeMS.TotalMS, f.Cgroup = false, StatusTimeLimit, ptr(cpuHit), 1003.2, "v1"
		}, runVerdict{Status: StatusTimeLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Limit: ptr(cpuHit),
			Message:   "limits.cpu_time exceeded (1s)",
			LimitsHit: []LimitHit{with(cpuHit, "cpuacct.usage 1003.2 ms")}}},
		{"output kill, stdout truncated at the total", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit = false, StatusOutputLimit, &LimitHit{Name: "limits.output.total", Value: "800"}
			f.Stdout = StreamStats{Bytes: 800, Truncated: true, byTotal: true}
		}, runVerdict{Status: StatusOutputLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL",
			Limit: &LimitHit{Name: "limits.output.total", Value: "800"}, Message: "limits.output.total exceeded (800)",
			LimitsHit: []LimitHit{{Name: "limits.output.total", Value: "800", Counter: "bytes counted on the pipe by jailrun"}}}},
		// The relay says which budget cut a stream: a total larger than the stream's own limit can still be
		// what ran out first (stderr took most of it).
		{"output kill, stdout cut by a total larger than its own limit", func(f *runFacts) {
			f.Limits.Output.Total = 1500
			f.Reported, f.KilledBy, f.Hit = false, StatusOutputLimit, &LimitHit{Name: "limits.output.total", Value: "1500"}
			f.Stdout = StreamStats{Bytes: 700, Truncated: true, byTotal: true}
		}, runVerdict{Status: StatusOutputLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL",
			Limit: &LimitHit{Name: "limits.output.total", Value: "1500"}, Message: "limits.output.total exceeded (1500)",
			LimitsHit: []LimitHit{{Name: "limits.output.total", Value: "1500", Counter: "bytes counted on the pipe by jailrun"}}}},
		{"output kill on a channel", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit = false, StatusOutputLimit, &LimitHit{Name: "channels.log.limit", Value: "10"}
		}, runVerdict{Status: StatusOutputLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL",
			Limit: &LimitHit{Name: "channels.log.limit", Value: "10"}, Message: "channels.log.limit exceeded (10)",
			LimitsHit: []LimitHit{{Name: "channels.log.limit", Value: "10", Counter: "bytes counted on the pipe by jailrun"}}}},
		{"memory kill by the v1 OOM watch before the kernel counted a kill", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit, f.Cgroup = false, StatusMemoryLimit, ptr(memHit), "v1"
			f.Counters = &cgroups.Stats{MemoryLimitEvents: 3}
		}, runVerdict{Status: StatusMemoryLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Limit: ptr(memHit),
			Message:   "limits.memory exceeded (67108864 bytes)",
			LimitsHit: []LimitHit{with(memHit, "memory.failcnt=3 memory.memsw.failcnt=0 memory.oom_control oom_kill=0")}}},
		// A --cgroup-parent with less memory than the policy's limit, or the host, ran out: the sandbox's own
		// limit was never reached, and the verdict does not claim it was.
		{"an OOM kill from above the sandbox does not claim limits.memory", func(f *runFacts) {
			f.WaitStatus = signaled(unix.SIGKILL)
			f.Counters = &cgroups.Stats{OOMKills: 1}
		}, runVerdict{Status: StatusMemoryLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL",
			Message: "out of memory before limits.memory (67108864 bytes) was reached: a cgroup above the sandbox, or the host, ran out"}},
		{"seccomp kill by the supervisor names the call", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit = false, StatusSeccompViolation, &LimitHit{Name: "seccomp", Value: "ptrace"}
		}, runVerdict{Status: StatusSeccompViolation, ExitCode: -1, Signal: 9, SignalName: "SIGKILL",
			Message: "the seccomp filter stopped ptrace", LimitsHit: []LimitHit{}}},
		{"a cancelled context is signaled, with the context as the limit", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit = false, StatusSignaled, &LimitHit{Name: "context", Value: "context canceled"}
		}, runVerdict{Status: StatusSignaled, ExitCode: -1, Signal: 9, SignalName: "SIGKILL",
			Limit: &LimitHit{Name: "context", Value: "context canceled"}, Message: "context exceeded (context canceled)", LimitsHit: []LimitHit{}}},
		{"a setup-error kill stays setup_error", func(f *runFacts) { f.Reported, f.KilledBy = false, StatusSetupError },
			runVerdict{Status: StatusSetupError, ExitCode: -1, Signal: 9, SignalName: "SIGKILL"}},

		// The kernel's counters.
		{"an OOM kill is memory_limit even when the command exited 0", func(f *runFacts) {
			f.WaitStatus = exited(0)
			f.Counters = &cgroups.Stats{OOMKills: 1, MemoryLimitHit: true, MemoryLimitEvents: 7}
		}, runVerdict{Status: StatusMemoryLimit, Limit: ptr(memHit), Message: "limits.memory exceeded (67108864 bytes)",
			LimitsHit: []LimitHit{with(memHit, "memory.events max=7 oom_kill=1")}}},
		{"memory at its limit and an abnormal end is memory_limit (v1 counter)", func(f *runFacts) {
			f.WaitStatus, f.Cgroup = exited(1), "v1"
			f.Counters = &cgroups.Stats{MemoryLimitHit: true, MemoryLimitEvents: 3, MemorySwapLimitEvents: 2}
		}, runVerdict{Status: StatusMemoryLimit, ExitCode: 1, Limit: ptr(memHit), Message: "limits.memory exceeded (67108864 bytes)",
			LimitsHit: []LimitHit{with(memHit, "memory.failcnt=3 memory.memsw.failcnt=2 memory.oom_control oom_kill=0")}}},
		{"memory at its limit and exit 0 is ok, and listed", func(f *runFacts) {
			f.Counters = &cgroups.Stats{MemoryLimitHit: true, MemoryLimitEvents: 3}
		}, runVerdict{Status: StatusOK, LimitsHit: []LimitHit{with(memHit, "memory.events max=3 oom_kill=0")}}},
		{"pids refused a fork and the command failed: pids_limit", func(f *runFacts) {
			f.WaitStatus = exited(2)
			f.Counters = &cgroups.Stats{PidsLimitHit: true, PidsLimitEvents: 4}
		}, runVerdict{Status: StatusPidsLimit, ExitCode: 2, Limit: ptr(pidsHit), Message: "limits.pids reached (16)",
			LimitsHit: []LimitHit{with(pidsHit, "pids.events max=4")}}},
		{"pids refused a fork and the command coped: ok, and listed", func(f *runFacts) {
			f.Counters = &cgroups.Stats{PidsLimitHit: true, PidsLimitEvents: 1}
		}, runVerdict{Status: StatusOK, LimitsHit: []LimitHit{with(pidsHit, "pids.events max=1")}}},
		{"no cgroup: counters absent, nothing from them", func(f *runFacts) { f.Counters, f.Cgroup = nil, "" },
			runVerdict{Status: StatusOK}},

		// Rlimits.
		{"SIGXCPU is time_limit", func(f *runFacts) { f.WaitStatus = signaled(unix.SIGXCPU) },
			runVerdict{Status: StatusTimeLimit, ExitCode: -1, Signal: 24, SignalName: "SIGXCPU", Limit: ptr(cpuHit),
				LimitsHit: []LimitHit{with(cpuHit, "SIGXCPU (RLIMIT_CPU)")}}},
		{"SIGKILL at the RLIMIT_CPU hard limit is time_limit", func(f *runFacts) {
			f.WaitStatus, f.Counters, f.CPUTimeMS = signaled(unix.SIGKILL), nil, CPUTime{TotalMS: 1960, Source: "rusage"}
		}, runVerdict{Status: StatusTimeLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Limit: ptr(cpuHit),
			Message: "limits.cpu_time exceeded (1s): 1.960s used", LimitsHit: []LimitHit{with(cpuHit, "cpu.stat usage_usec 1960.0 ms")}}},
		{"SIGKILL short of the RLIMIT_CPU hard limit is signaled", func(f *runFacts) {
			f.WaitStatus, f.Counters, f.CPUTimeMS = signaled(unix.SIGKILL), nil, CPUTime{TotalMS: 1900, Source: "rusage"}
			f.Limits.CPUTime = 0 // only the backstop: whoever sent the SIGKILL, no limit explains it
		}, runVerdict{Status: StatusSignaled, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Message: "killed by SIGKILL"}},
		{"SIGKILL without an RLIMIT_CPU is signaled", func(f *runFacts) {
			f.WaitStatus, f.Rlimits, f.CPUTimeMS.TotalMS, f.Limits.CPUTime = signaled(unix.SIGKILL), nil, 99999, 0
		}, runVerdict{Status: StatusSignaled, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Message: "killed by SIGKILL"}},

		// Over a time limit but ended by itself (within limits.extra_time, or between two checks of the
		// watcher): the limit was still exceeded, also when the command failed on its own.
		{"exited over cpu_time within the grace is time_limit", func(f *runFacts) { f.CPUTimeMS.TotalMS = 1302.5 },
			runVerdict{Status: StatusTimeLimit, ExitCode: 0, Limit: ptr(cpuHit), Message: "limits.cpu_time exceeded (1s): 1.302s used",
				LimitsHit: []LimitHit{with(cpuHit, "cpu.stat usage_usec 1302.5 ms")}}},
		{"failed over cpu_time within the grace is time_limit", func(f *runFacts) {
			f.CPUTimeMS.TotalMS, f.WaitStatus = 1001, exited(3)
		}, runVerdict{Status: StatusTimeLimit, ExitCode: 3, Limit: ptr(cpuHit), Message: "limits.cpu_time exceeded (1s): 1.001s used",
			LimitsHit: []LimitHit{with(cpuHit, "cpu.stat usage_usec 1001.0 ms")}}},
		{"exited over wall_time within the grace is wall_time_limit", func(f *runFacts) { f.WallTimeMS = 3200 },
			runVerdict{Status: StatusWallTimeLimit, ExitCode: 0, Limit: ptr(wallHit), Message: "limits.wall_time exceeded (3s): 3.200s",
				LimitsHit: []LimitHit{with(wallHit, "wall clock from exec 3200.0 ms")}}},
		{"at the cpu_time limit exactly is ok", func(f *runFacts) { f.CPUTimeMS.TotalMS = 1000 }, runVerdict{Status: StatusOK}},
		{"SIGXFSZ is output_limit on limits.file_size", func(f *runFacts) { f.WaitStatus = signaled(unix.SIGXFSZ) },
			runVerdict{Status: StatusOutputLimit, ExitCode: -1, Signal: 25, SignalName: "SIGXFSZ",
				Limit:     &LimitHit{Name: "limits.file_size", Value: "4096"},
				LimitsHit: []LimitHit{{Name: "limits.file_size", Value: "4096", Counter: "SIGXFSZ (RLIMIT_FSIZE)"}}}},
		{"SIGXFSZ without an RLIMIT_FSIZE quotes it unset", func(f *runFacts) {
			f.WaitStatus, f.Rlimits = signaled(unix.SIGXFSZ), nil
		}, runVerdict{Status: StatusOutputLimit, ExitCode: -1, Signal: 25, SignalName: "SIGXFSZ",
			Limit:     &LimitHit{Name: "limits.file_size", Value: "unset"},
			LimitsHit: []LimitHit{{Name: "limits.file_size", Value: "unset", Counter: "SIGXFSZ (RLIMIT_FSIZE)"}}}},

		// Precedence.
		{"a wall time kill wins over the memory counters, which are still listed", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit, f.WallTimeMS = false, StatusWallTimeLimit, ptr(wallHit), 3000
			f.Counters = &cgroups.Stats{OOMKills: 1, MemoryLimitHit: true, MemoryLimitEvents: 1, PidsLimitHit: true, PidsLimitEvents: 2}
		}, runVerdict{Status: StatusWallTimeLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Limit: ptr(wallHit),
			Message: "limits.wall_time exceeded (3s)",
			LimitsHit: []LimitHit{with(wallHit, "wall clock from exec 3000.0 ms"), with(memHit, "memory.events max=1 oom_kill=1"),
				with(pidsHit, "pids.events max=2")}}},
		{"a cpu time kill wins over a SIGXFSZ status", func(f *runFacts) {
			f.WaitStatus, f.KilledBy, f.Hit, f.CPUTimeMS.TotalMS = signaled(unix.SIGXFSZ), StatusTimeLimit, ptr(cpuHit), 1000
		}, runVerdict{Status: StatusTimeLimit, ExitCode: -1, Signal: 25, SignalName: "SIGXFSZ", Limit: ptr(cpuHit),
			Message: "limits.cpu_time exceeded (1s)",
			LimitsHit: []LimitHit{with(cpuHit, "cpu.stat usage_usec 1000.0 ms"),
				{Name: "limits.file_size", Value: "4096", Counter: "SIGXFSZ (RLIMIT_FSIZE)"}}}},
		{"memory wins over pids", func(f *runFacts) {
			f.WaitStatus = signaled(unix.SIGKILL)
			f.Counters = &cgroups.Stats{OOMKills: 2, MemoryLimitHit: true, MemoryLimitEvents: 5, PidsLimitHit: true, PidsLimitEvents: 1}
		}, runVerdict{Status: StatusMemoryLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL", Limit: ptr(memHit),
			Message:   "limits.memory exceeded (67108864 bytes)",
			LimitsHit: []LimitHit{with(memHit, "memory.events max=5 oom_kill=2"), with(pidsHit, "pids.events max=1")}}},
		{"memory wins over a SIGSYS", func(f *runFacts) {
			f.WaitStatus = signaled(unix.SIGSYS)
			f.Counters = &cgroups.Stats{MemoryLimitHit: true, MemoryLimitEvents: 1}
		}, runVerdict{Status: StatusMemoryLimit, ExitCode: -1, Signal: 31, SignalName: "SIGSYS", Limit: ptr(memHit),
			Message:   "limits.memory exceeded (67108864 bytes)",
			LimitsHit: []LimitHit{with(memHit, "memory.events max=1 oom_kill=0")}}},
		{"pids wins over a SIGXCPU", func(f *runFacts) {
			f.WaitStatus = signaled(unix.SIGXCPU)
			f.Counters = &cgroups.Stats{PidsLimitHit: true, PidsLimitEvents: 1}
		}, runVerdict{Status: StatusPidsLimit, ExitCode: -1, Signal: 24, SignalName: "SIGXCPU", Limit: ptr(pidsHit),
			Message:   "limits.pids reached (16)",
			LimitsHit: []LimitHit{with(pidsHit, "pids.events max=1"), with(cpuHit, "SIGXCPU (RLIMIT_CPU)")}}},
		{"a truncated stream is listed on an ok run", func(f *runFacts) {
			f.Stderr = StreamStats{Bytes: 500, Truncated: true}
		}, runVerdict{Status: StatusOK,
			LimitsHit: []LimitHit{{Name: "limits.output.stderr", Value: "500", Counter: "bytes counted on the pipe by jailrun"}}}},
		{"the kill's limit is listed once, each truncated stream under its own limit", func(f *runFacts) {
			f.Reported, f.KilledBy, f.Hit = false, StatusOutputLimit, &LimitHit{Name: "limits.output.total", Value: "800"}
			f.Stdout = StreamStats{Bytes: 600, Truncated: true, byTotal: true}
			f.Stderr = StreamStats{Bytes: 200, Truncated: true}
		}, runVerdict{Status: StatusOutputLimit, ExitCode: -1, Signal: 9, SignalName: "SIGKILL",
			Limit: &LimitHit{Name: "limits.output.total", Value: "800"}, Message: "limits.output.total exceeded (800)",
			LimitsHit: []LimitHit{{Name: "limits.output.total", Value: "800", Counter: "bytes counted on the pipe by jailrun"},
				{Name: "limits.output.stderr", Value: "500", Counter: "bytes counted on the pipe by jailrun"}}}},
	}
	seen := map[Status]bool{}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := base()
			c.edit(&f)
			want := c.want
			if want.LimitsHit == nil {
				want.LimitsHit = []LimitHit{}
			}
			got := verdict(&f)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("verdict:\n got %s\nwant %s", show(got), show(want))
			}
			seen[got.Status] = true
		})
	}
	for _, s := range []Status{StatusOK, StatusNonzeroExit, StatusSignaled, StatusTimeLimit, StatusWallTimeLimit, StatusMemoryLimit,
		StatusPidsLimit, StatusOutputLimit, StatusSeccompViolation, StatusSetupError} {
		if !seen[s] {
			t.Errorf("no case gives status %s", s)
		}
	}
}

// show prints a verdict with its limit followed, for a readable diff.
func show(v runVerdict) string {
	lim := "nil"
	if v.Limit != nil {
		lim = fmt.Sprintf("&%+v", *v.Limit)
	}
	v.Limit = nil
	return fmt.Sprintf("%+v limit=%s", v, lim)
}
