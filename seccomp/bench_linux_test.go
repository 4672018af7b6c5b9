//go:build linux && cgo

package seccomp

import (
	"math"
	"strconv"
	"strings"
	"testing"
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
