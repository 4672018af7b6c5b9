package sandbox

import (
	"strings"
	"testing"
)

func TestMetaFormat(t *testing.T) {
	figures := func(r Result) *Result {
		r.CPUTimeMS = CPUTime{TotalMS: 12.345}
		r.WallTimeMS = 1002.999
		r.MaxRSSBytes = 3<<20 + 100
		r.VoluntaryCSW, r.ForcedCSW = 7, 2
		r.PeakMemoryBytes, r.PeakMemorySrc = 5<<20, "memory.peak"
		return &r
	}
	stats := "time:0.012\ntime-wall:1.002\nmax-rss:3072\ncsw-voluntary:7\ncsw-forced:2\ncg-mem:5120\n"
	for _, tc := range []struct {
		name string
		res  *Result
		want string
	}{
		{"nil", nil, ""},
		{"ok", figures(Result{Status: StatusOK}), stats + "exitcode:0\n"},
		{"nonzero exit", figures(Result{Status: StatusNonzeroExit, ExitCode: 3}),
			stats + "exitcode:3\nstatus:RE\nmessage:Exited with error status 3\n"},
		{"signal", figures(Result{Status: StatusSignaled, ExitCode: -1, Signal: 11, SignalName: "SIGSEGV"}),
			stats + "exitsig:11\nstatus:SG\nmessage:Caught fatal signal 11\n"},
		{"cpu time", figures(Result{Status: StatusTimeLimit, ExitCode: -1, Signal: 9}),
			stats + "killed:1\nstatus:TO\nmessage:Time limit exceeded\n"},
		{"wall time", figures(Result{Status: StatusWallTimeLimit, ExitCode: -1, Signal: 9}),
			stats + "killed:1\nstatus:TO\nmessage:Time limit exceeded (wall clock)\n"},
		{"memory, OOM kill", figures(Result{Status: StatusMemoryLimit, ExitCode: -1, Signal: 9, OOMKills: 1,
			Message: "limits.memory exceeded (268435456 bytes)"}),
			stats + "cg-oom-killed:1\nexitsig:9\nstatus:SG\nmessage:limits.memory exceeded (268435456 bytes)\n"},
		{"memory, failed allocation", figures(Result{Status: StatusMemoryLimit, ExitCode: 1,
			Limit: &LimitHit{Name: "limits.memory", Value: "1024"}}),
			stats + "cg-oom-killed:1\nexitcode:1\nstatus:RE\nmessage:limits.memory exceeded (1024)\n"},
		{"memory, a child OOM-killed, command exited 0", figures(Result{Status: StatusMemoryLimit, OOMKills: 2}),
			stats + "cg-oom-killed:1\nexitcode:0\nstatus:SG\nmessage:memory_limit\n"},
		{"pids", figures(Result{Status: StatusPidsLimit, ExitCode: 2, Message: "limits.pids reached (32)"}),
			stats + "exitcode:2\nstatus:RE\nmessage:limits.pids reached (32)\n"},
		{"output killed by jailrun", figures(Result{Status: StatusOutputLimit, ExitCode: -1, Signal: 9,
			Message: "limits.output.stdout exceeded (1048576)"}),
			stats + "exitsig:9\nkilled:1\nstatus:SG\nmessage:limits.output.stdout exceeded (1048576)\n"},
		{"file size by the kernel", figures(Result{Status: StatusOutputLimit, ExitCode: -1, Signal: 25,
			Limit: &LimitHit{Name: "limits.file_size", Value: "1024"}}),
			stats + "exitsig:25\nstatus:SG\nmessage:limits.file_size exceeded (1024)\n"},
		{"seccomp by the supervisor", figures(Result{Status: StatusSeccompViolation, ExitCode: -1, Signal: 9,
			Message: "the seccomp filter stopped ptrace", Violation: &Violation{Syscall: "ptrace", Nr: 101}}),
			stats + "exitsig:31\nstatus:SG\nmessage:the seccomp filter stopped ptrace\n"},
		{"seccomp by the kernel", figures(Result{Status: StatusSeccompViolation, ExitCode: -1, Signal: 31,
			Message: "killed by the seccomp filter", Violation: &Violation{Syscall: "mount"}}),
			stats + "exitsig:31\nstatus:SG\nmessage:killed by the seccomp filter (syscall mount)\n"},
		{"setup error: no figures, one-line message", figures(Result{Status: StatusSetupError, ExitCode: -1,
			Message: "init: mount /usr:\nno such file"}),
			"status:XX\nmessage:init: mount /usr: no such file\n"},
		{"no cgroup: no cg-mem", &Result{Status: StatusOK, PeakMemoryBytes: -1},
			"time:0.000\ntime-wall:0.000\nmax-rss:0\ncsw-voluntary:0\ncsw-forced:0\nexitcode:0\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.res.MetaText()
			if got != tc.want {
				t.Errorf("meta:\n%s\nwant:\n%s", got, tc.want)
			}
			// The syntax every isolate reader relies on: one key:value per line, keys unique.
			seen := map[string]bool{}
			for _, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
				if got == "" {
					break
				}
				k, _, ok := strings.Cut(l, ":")
				if !ok || k == "" || seen[k] {
					t.Errorf("bad or repeated line %q", l)
				}
				seen[k] = true
			}
		})
	}
}

func TestMetaSeconds(t *testing.T) {
	for in, want := range map[float64]string{
		0: "0.000", 0.999: "0.000", 1: "0.001", 12.345: "0.012", 999.999: "0.999", 1000: "1.000",
		1234.5678: "1.234", 61000.4: "61.000", -1: "0.000",
	} {
		if got := metaSeconds(in); got != want {
			t.Errorf("metaSeconds(%v) = %q, want %q", in, got, want)
		}
	}
}
