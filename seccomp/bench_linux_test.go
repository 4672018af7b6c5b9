//go:build linux && cgo

package seccomp

import (
	"context"
	"fmt"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// go test -run '^$' -bench . ./seccomp/ reports Build against BuildCached (the ratio is what a service
// saves per launch) and the per-syscall cost of the strict filter as a ratio to an unfiltered getpid.

func BenchmarkBuild(b *testing.B) {
	s := shippedPolicy(b, "strict")
	for i := 0; i < b.N; i++ {
		if _, err := Build(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildCached(b *testing.B) {
	s := shippedPolicy(b, "strict")
	if _, err := BuildCached(s); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := BuildCached(s); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	p := mustBuild(b, shippedPolicy(b, "strict"))
	arch := nativeAudit(b)
	n := nr(b, "getpid")
	for i := 0; i < b.N; i++ {
		if _, err := p.Evaluate(arch, n, [6]uint64{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSyscallOverhead times getpid loops in re-executed subprocesses, alternately under the strict
// filter and without one, and reports the fastest of each (a VM's noise only ever adds time) and their
// ratio (strict/bare). getpid is the cheapest syscall, so the ratio is the worst case; real programs spend
// most of their time outside syscalls.
func BenchmarkSyscallOverhead(b *testing.B) {
	const calls = 200000
	bare, filtered := math.Inf(1), math.Inf(1)
	for i := 0; i < b.N; i++ {
		bare = math.Min(bare, loopNs(b, "none", calls))
		filtered = math.Min(filtered, loopNs(b, "strict", calls))
	}
	b.ReportMetric(bare/calls, "ns/getpid-bare")
	b.ReportMetric(filtered/calls, "ns/getpid-strict")
	b.ReportMetric(filtered/bare, "strict/bare")
}

func loopNs(b *testing.B, pol string, calls int) float64 {
	out, err := helperCmd(b, "loop:"+pol+":"+strconv.Itoa(calls)).Output()
	if err != nil {
		b.Fatalf("loop helper (%s): %v", pol, err)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("loop helper (%s): output %q", pol, out)
	}
	return ns
}

// BenchmarkDeniedSyscall is the cost of counting refused calls: getppid refused with EPERM 10000 times,
// answered by the kernel (errno in the filter, as before jailrun routed refusals to its supervisor) and
// by a supervisor (notify in the filter; Supervise answers errno(EPERM) after evaluating the policy's own
// program, with SuperviseInline, as the launcher does). Fastest of b.N alternating runs of each, and their ratio.
func BenchmarkDeniedSyscall(b *testing.B) {
	const calls = 10000
	direct, notified := math.Inf(1), math.Inf(1)
	for i := 0; i < b.N; i++ {
		direct = math.Min(direct, denyNs(b, "errno", calls))
		notified = math.Min(notified, denyNs(b, "notify", calls))
	}
	b.ReportMetric(direct/calls, "ns/denied-errno")
	b.ReportMetric(notified/calls, "ns/denied-notify")
	b.ReportMetric(notified/direct, "notify/errno")
}

func denyNs(b *testing.B, mode string, calls int) float64 {
	out, err := helperCmd(b, "deny:"+mode+":"+strconv.Itoa(calls)).CombinedOutput()
	if err != nil {
		b.Fatalf("deny helper (%s): %v: %s", mode, err, out)
	}
	ns, err := strconv.ParseFloat(strings.TrimSpace(string(out)), 64)
	if err != nil {
		b.Fatalf("deny helper (%s): output %q", mode, out)
	}
	return ns
}

// denyLoop runs in the re-executed helper: "errno:N" or "notify:N" (see BenchmarkDeniedSyscall). It
// prints the nanoseconds N refused getppid calls took.
func denyLoop(rest string) int {
	mode, nText, _ := strings.Cut(rest, ":")
	n, _ := strconv.Atoi(nText)
	fail := func(err error) int { fmt.Fprintln(os.Stderr, "deny helper:", err); return 99 }
	eperm := policy.Action{Kind: policy.ActErrno, Errno: 1}
	own := policy.Seccomp{Enabled: true, DefaultAction: allow, Rules: []policy.SeccompRule{{Syscalls: []string{"getppid"}, Action: eperm}}}
	ownProg, err := Build(own)
	if err != nil {
		return fail(err)
	}
	runtime.LockOSThread()
	switch mode {
	case "errno":
		if _, err := loadFilter(ownProg, 0); err != nil {
			return fail(err)
		}
	case "notify":
		routed := own
		routed.Rules = []policy.SeccompRule{{Syscalls: []string{"getppid"}, Action: notify}}
		p, err := Build(routed)
		if err != nil {
			return fail(err)
		}
		fd, err := loadFilter(p, filterFlagNewListen)
		if err != nil {
			return fail(err)
		}
		// The supervisor runs on other threads of this process: its own calls are allowed by the filter.
		go SuperviseInline(context.Background(), fd, func(v Violation) policy.Action {
			a, err := ownProg.Evaluate(nativeAuditArch(), v.Nr, v.Args)
			if err != nil {
				return DenyEPERM
			}
			return a
		}, nil)
	default:
		return fail(fmt.Errorf("unknown mode %q", mode))
	}
	start := time.Now()
	for i := 0; i < n; i++ {
		if _, _, e := unix.Syscall(unix.SYS_GETPPID, 0, 0, 0); e != unix.EPERM {
			return fail(fmt.Errorf("getppid: %v, want EPERM", e))
		}
	}
	fmt.Println(time.Since(start).Nanoseconds())
	return 0
}

func nativeAuditArch() uint32 {
	a, _ := AuditArch(syscalls.Native)
	return a
}
