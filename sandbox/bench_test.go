//go:build linux && cgo

package sandbox

// Launch-cost benchmarks: the whole Run of /bin/true under the built-in strict policy, an ablation that turns
// one part of the sandbox off at a time (alternating, so the differences come from the same minutes), each
// launch phase on its own (clone, id maps, cgroup create/attach/destroy, init setup, seccomp load, wait and
// reap), the distribution of the cgroup v1 attach, and the parent's preparation (plan, seccomp compile).
//
// These are measurements, never assertions: the figures that matter are the custom metrics (medians in ms;
// ns/op of a paired benchmark covers several runs). bench/run.sh runs them and docs/performance.md explains
// them. Everything that launches needs root and is skipped without it (a failure under
// JAILRUN_REQUIRE_PRIVILEGED=1).

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jailrun/jailrun/cgroups"
	"github.com/jailrun/jailrun/internal/childabi"
	"github.com/jailrun/jailrun/namespaces"
	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp"
	"golang.org/x/sys/unix"
)

func benchNeedRoot(b *testing.B) {
	b.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("JAILRUN_REQUIRE_PRIVILEGED") == "1" {
		b.Fatal("launch benchmarks need root (JAILRUN_REQUIRE_PRIVILEGED=1)")
	}
	b.Skip("launch benchmarks need root: they create namespaces and cgroups")
}

func benchStrict(b *testing.B) *policy.Settings {
	b.Helper()
	s, err := policy.Builtin("strict")
	if err != nil {
		b.Fatal(err)
	}
	return s
}

func benchRunner(b *testing.B) *Runner {
	b.Helper()
	r, err := NewRunner(Options{Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "jailrun: "+f+"\n", a...) }})
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// samples collects durations per metric name, in milliseconds.
type samples map[string][]float64

func (s samples) add(name string, d time.Duration) { s[name] = append(s[name], float64(d)/1e6) }
func (s samples) addMS(name string, ms float64)    { s[name] = append(s[name], ms) }

// quantile is the q-quantile (nearest rank) of xs; xs is sorted in place.
func quantile(xs []float64, q float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	sort.Float64s(xs)
	i := int(q*float64(len(xs))+0.5) - 1
	return xs[min(max(i, 0), len(xs)-1)]
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	c := append([]float64(nil), xs...)
	sort.Float64s(c)
	if n := len(c); n%2 == 0 {
		return (c[n/2-1] + c[n/2]) / 2
	}
	return c[len(c)/2]
}

// reportMedians reports the median of each named metric as "<name>-ms".
func (s samples) reportMedians(b *testing.B, names ...string) {
	for _, n := range names {
		if xs := s[n]; len(xs) > 0 {
			b.ReportMetric(median(xs), n+"-ms")
		}
	}
}

// reportSpread reports p50, p90, p99 and max of one metric as "<name>-p50-ms" and so on.
func (s samples) reportSpread(b *testing.B, name string) {
	xs := append([]float64(nil), s[name]...)
	if len(xs) == 0 {
		return
	}
	b.ReportMetric(quantile(xs, 0.5), name+"-p50-ms")
	b.ReportMetric(quantile(xs, 0.9), name+"-p90-ms")
	b.ReportMetric(quantile(xs, 0.99), name+"-p99-ms")
	b.ReportMetric(xs[len(xs)-1], name+"-max-ms")
}

// runTrue is one library run of /bin/true; it records the total and the setup trace's phases.
func runTrue(r *Runner, s *policy.Settings, sm samples, mu *sync.Mutex) error {
	t0 := time.Now()
	res, err := r.Run(context.Background(), Request{Policy: s, Argv: []string{"/bin/true"}, TraceSetup: true})
	total := time.Since(t0)
	if err != nil {
		return err
	}
	if res.Status != StatusOK {
		return fmt.Errorf("status %s: %s", res.Status, res.Message)
	}
	if mu != nil {
		mu.Lock()
		defer mu.Unlock()
	}
	sm.add("total", total)
	for _, p := range res.SetupTrace {
		sm.addMS(p.Name, p.MS)
	}
	sm.addMS("wait", res.WallTimeMS)
	// After the command was reaped: cgroup counters, cgroup removal, closing pipes and fds.
	sm.addMS("after", float64(total)/1e6-res.SetupTimeMS-res.WallTimeMS)
	return nil
}

var tracePhases = []string{"prepare", "cgroup", "stdio", "clone", "init+exec", "wait", "after"}

// BenchmarkRun is the whole library launch of /bin/true under strict, one at a time and two at a time. The
// metrics are the latency spread of one run, its runs/s and the median of each setup_trace phase ("wait" is
// exec to reaped, "after" is what Run does once the command is gone).
func BenchmarkRun(b *testing.B) {
	benchNeedRoot(b)
	r, s := benchRunner(b), benchStrict(b)
	if err := runTrue(r, s, samples{}, nil); err != nil { // warm the seccomp cache and the cgroup parents
		b.Fatal(err)
	}
	b.Run("strict-true", func(b *testing.B) {
		sm := samples{}
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			if err := runTrue(r, s, sm, nil); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
		sm.reportSpread(b, "total")
		sm.reportMedians(b, tracePhases...)
	})
	b.Run("strict-true-parallel2", func(b *testing.B) {
		sm := samples{}
		var mu sync.Mutex
		var next atomic.Int64
		var wg sync.WaitGroup
		errs := make(chan error, 2)
		b.ResetTimer()
		start := time.Now()
		for w := 0; w < 2; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for next.Add(1) <= int64(b.N) {
					if err := runTrue(r, s, sm, &mu); err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "runs/s")
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
		sm.reportSpread(b, "total")
		sm.reportMedians(b, tracePhases...)
	})
}

// BenchmarkRunAblation turns one part of the strict sandbox off at a time. Every iteration runs every variant
// once, in an order that rotates, so each variant's "-delta-ms" (the median of its per-iteration difference to
// the full strict run; negative = cheaper) compares runs made seconds apart. ns/op covers all variants.
func BenchmarkRunAblation(b *testing.B) {
	benchNeedRoot(b)
	r, s := benchRunner(b), benchStrict(b)
	// A Runner that acts as on a host without cgroups: no cgroup is created, attached or removed; the
	// policy's cgroup limits are marked best effort so that the run is allowed.
	noCg := benchRunner(b)
	noCg.plat.cg, noCg.plat.cgErr = nil, errors.New("benchmark: cgroups turned off")
	type variant struct {
		name string
		r    *Runner
		s    *policy.Settings
	}
	mod := func(f func(*policy.Settings)) *policy.Settings { c := s.Clone(); f(c); return c }
	vs := []variant{
		{"full", r, s},
		{"no-cgroup", noCg, mod(func(c *policy.Settings) { c.Require.BestEffort = append(c.Require.BestEffort, "limits") })},
		{"no-seccomp", r, mod(func(c *policy.Settings) { c.Seccomp.Enabled = false })},
		// The same filter with errno(EPERM) where strict kills: no notify listener to hand over, no supervisor.
		{"seccomp-no-notify", r, mod(func(c *policy.Settings) {
			for i := range c.Seccomp.Rules {
				if k := c.Seccomp.Rules[i].Action.Kind; k == policy.ActKillProcess || k == policy.ActKillThread {
					c.Seccomp.Rules[i].Action = policy.Action{Kind: policy.ActErrno, Errno: uint16(unix.EPERM)}
				}
			}
		})},
		{"no-netns", r, mod(func(c *policy.Settings) { c.Namespaces.Net, c.Network.LoopbackUp = false, false })},
		// No file-size limit, hence no perf event counting SIGXFSZ (fsizecount_linux.go).
		{"no-fsize-trace", r, mod(func(c *policy.Settings) {
			var kept []policy.Rlimit
			for _, rl := range c.Rlimits {
				if rl.Resource != policy.RlimitFsize {
					kept = append(kept, rl)
				}
			}
			c.Rlimits = kept
		})},
	}
	for _, v := range vs { // warm-up, and a check that every variant runs
		if err := runTrue(v.r, v.s, samples{}, nil); err != nil {
			b.Fatalf("%s: %v", v.name, err)
		}
	}
	times := map[string][]float64{}
	deltas := map[string][]float64{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		got := map[string]float64{}
		for j := range vs {
			v := vs[(i+j)%len(vs)]
			sm := samples{}
			if err := runTrue(v.r, v.s, sm, nil); err != nil {
				b.Fatalf("%s: %v", v.name, err)
			}
			got[v.name] = sm["total"][0]
		}
		for _, v := range vs {
			times[v.name] = append(times[v.name], got[v.name])
			if v.name != "full" {
				deltas[v.name] = append(deltas[v.name], got[v.name]-got["full"])
			}
		}
	}
	for _, v := range vs {
		b.ReportMetric(median(times[v.name]), v.name+"-ms")
		if v.name != "full" {
			b.ReportMetric(median(deltas[v.name]), v.name+"-delta-ms")
		}
	}
}

// rawLaunch runs the launch steps of launch.run without the Go-level extras (stdio relays, watchers, seccomp
// supervisor, result), timing each step: what the phases cost by themselves. The child's configuration is
// production's own plan (planSpawn), so the benchmark launches what a run launches.
type rawLaunch struct {
	r      *Runner
	s      *policy.Settings
	filter []unix.SockFilter
}

func newRawLaunch(b *testing.B) *rawLaunch {
	r, s := benchRunner(b), benchStrict(b)
	if r.plat.cg == nil {
		b.Skipf("no usable cgroup hierarchy: %v", r.plat.cgErr)
	}
	// strict's own filter without the violation reporting (kill_process stays kill_process): the same size
	// of program to load, but no listener to hand over.
	prog, err := seccomp.BuildCached(s.Seccomp)
	if err != nil {
		b.Fatal(err)
	}
	if prog.NeedsNotify() {
		b.Fatal("strict's plain filter unexpectedly needs a notify listener")
	}
	b.ReportMetric(float64(prog.Len()), "filter-insns")
	return &rawLaunch{r: r, s: s, filter: prog.Instructions()}
}

// once launches /bin/true under strict's namespaces, mounts, ids, rlimits and cgroup, with or without the
// seccomp filter, and records each step in sm. The init step is recorded as "init" or "init-seccomp".
func (rl *rawLaunch) once(withFilter bool, sm samples) (err error) {
	s := rl.s
	// The run's own host ids, as launch.allocateIDs takes them: the plan gives them the user namespace.
	ids := rl.r.plat.ids
	if rl.r.plat.alloc != nil && s.Namespaces.User {
		lease, err := rl.r.plat.alloc.acquire()
		if err != nil {
			return err
		}
		defer lease.release()
		ids.HostUID, ids.HostGID = lease.uid, lease.gid
	}
	cfg, err := planSpawn(s, hostFacts{Root: rl.r.plat.root, IDKind: rl.r.plat.ids.Kind, RunIDs: ids}, []string{"/bin/true"}, nil)
	if err != nil {
		return err
	}
	if withFilter {
		cfg.filter = rl.filter
	}

	t := time.Now()
	cg, err := rl.r.plat.cg.Create(newRunID(), s.Limits, s.Require)
	if err != nil {
		return err
	}
	sm.add("cgroup-create", time.Since(t))
	defer func() {
		t := time.Now()
		if derr := cg.Destroy(); derr != nil && err == nil {
			err = derr
		}
		sm.add("cgroup-destroy", time.Since(t))
	}()

	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	pipe := func() (*os.File, *os.File, error) {
		r, w, err := os.Pipe()
		if err == nil {
			files = append(files, r, w)
		}
		return r, w, err
	}
	syncR, syncW, err := pipe()
	if err != nil {
		return err
	}
	errR, errW, err := pipe()
	if err != nil {
		return err
	}
	statusR, statusW, err := pipe()
	if err != nil {
		return err
	}
	cfg.syncFD, cfg.errFD, cfg.statusFD, cfg.notifySyncFD = int(syncR.Fd()), int(errW.Fd()), int(statusW.Fd()), -1
	cfg.parentFDs = [5]int{int(syncW.Fd()), int(errR.Fd()), int(statusR.Fd()), -1, -1}

	runtime.LockOSThread() // the child's parent-death signal belongs to this thread
	defer runtime.UnlockOSThread()
	t = time.Now()
	pid, pidfd, err := spawn(cfg)
	if err != nil {
		return fmt.Errorf("clone: %w", err)
	}
	sm.add("clone", time.Since(t))
	defer unix.Close(pidfd)
	reaped := false
	defer func() {
		if !reaped {
			_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pid, &ws, 0, nil)
		}
	}()
	syncR.Close()
	errW.Close()
	statusW.Close()

	t = time.Now()
	if err := writeIDMaps(pid, s.Process, &ids); err != nil {
		return err
	}
	sm.add("idmap", time.Since(t))
	t = time.Now()
	if err := cg.Add(pid); err != nil {
		return err
	}
	sm.add("cgroup-attach", time.Since(t))

	t = time.Now()
	if _, err := syncW.Write([]byte{1}); err != nil {
		return err
	}
	var eb [childabi.ErrorSize]byte
	if n, _ := io.ReadFull(errR, eb[:]); n == childabi.ErrorSize {
		return describeChildError(childabi.DecodeError(eb[:]), cfg)
	}
	if withFilter {
		sm.add("init-seccomp", time.Since(t))
	} else {
		sm.add("init", time.Since(t))
	}

	t = time.Now()
	var ws unix.WaitStatus
	for {
		_, err = unix.Wait4(pid, &ws, 0, nil)
		if err != unix.EINTR {
			break
		}
	}
	reaped = true
	if err != nil {
		return err
	}
	sm.add("wait-reap", time.Since(t))
	var st [8]byte
	if n, _ := io.ReadFull(statusR, st[:]); n != len(st) || binary.NativeEndian.Uint32(st[:4]) != 0 {
		return fmt.Errorf("/bin/true did not exit 0 (status %v, reaper %v)", st, ws)
	}
	return nil
}

// BenchmarkPhases times each launch step by itself: clone3 with strict's namespace flags, the uid/gid maps,
// cgroup create/attach/destroy (v1 here: the attach is a write to cgroup.procs in each hierarchy), the init
// stage (mounts, pivot_root, ids, rlimits, capabilities, up to execve), the seccomp load, and wait/reap
// (execve of /bin/true until the sandbox's pid 1 is reaped). Iterations alternate with and without the
// filter; seccomp-load-ms is the difference of the two init medians.
func BenchmarkPhases(b *testing.B) {
	benchNeedRoot(b)
	rl := newRawLaunch(b)
	if err := rl.once(true, samples{}); err != nil {
		b.Fatal(err)
	}
	sm := samples{}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := rl.once(i%2 == 1, sm); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	sm.reportMedians(b, "clone", "idmap", "cgroup-create", "init", "init-seccomp", "wait-reap", "cgroup-destroy")
	if len(sm["init"]) > 0 && len(sm["init-seccomp"]) > 0 {
		b.ReportMetric(median(sm["init-seccomp"])-median(sm["init"]), "seccomp-load-ms")
	}
	sm.reportSpread(b, "cgroup-attach")
}

// attachScript is a fresh single-threaded process that places itself in the cgroup directories given as
// arguments and prints how long that took, in microseconds: "pid" writes its pid to cgroup.procs, "tid0"
// writes 0 (the calling thread) to the v1 tasks file.
const attachScript = `m=$1; shift; t0=$EPOCHREALTIME
for d in "$@"; do if [ "$m" = tid0 ]; then echo 0 >"$d/tasks"; else echo $$ >"$d/cgroup.procs"; fi; done
t1=$EPOCHREALTIME; echo $(( ${t1/./} - ${t0/./} ))`

// BenchmarkCgroupAttach is the cost of placing a fresh process in a run's cgroup v1 cgroup (one write per
// hierarchy: freezer, cpuacct, memory, pids), three ways, in rotating order, each in a new process as in a
// launch:
//   - parent-writes-pid: what jailrun does on v1 — the parent writes the waiting child's pid to cgroup.procs;
//   - child-writes-pid: the process writes its own pid to cgroup.procs (the same kernel path);
//   - child-writes-tid0: the process writes 0 to the tasks file, which moves only the calling thread.
//
// A pid write takes cgroup_threadgroup_rwsem for writing, which waits for an RCU grace period unless another
// writer passed moments before; moving the current thread alone skips that lock. For a single-threaded
// child (jailrun's C init stage) the thread is the whole process.
func BenchmarkCgroupAttach(b *testing.B) {
	benchNeedRoot(b)
	r, s := benchRunner(b), benchStrict(b)
	if r.plat.cg == nil {
		b.Skipf("no usable cgroup hierarchy: %v", r.plat.cgErr)
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		b.Skip("needs bash for the self-placing helper")
	}
	var cgs [2]*cgroups.Cgroup
	for i := range cgs {
		c, err := r.plat.cg.Create("bench-attach", s.Limits, s.Require)
		if err != nil {
			b.Fatal(err)
		}
		cgs[i] = c
		defer c.Destroy()
	}
	if _, ok := cgs[0].CloneFD(); ok {
		b.Skip("cgroup v2: a launch starts the child in its cgroup with CLONE_INTO_CGROUP and never attaches")
	}
	b.ReportMetric(float64(len(cgs[0].Paths())), "hierarchies")
	modes := []string{"parent-writes-pid", "child-writes-pid", "child-writes-tid0"}
	for _, idle := range []time.Duration{0, 5 * time.Millisecond, 10 * time.Millisecond, 20 * time.Millisecond} {
		b.Run("idle-"+idle.String(), func(b *testing.B) {
			sm := samples{}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j := range modes {
					mode, cg := modes[(i+j)%len(modes)], cgs[(i+j)%2]
					b.StopTimer()
					switch mode {
					case "parent-writes-pid":
						p := exec.Command("/bin/sleep", "60")
						if err := p.Start(); err != nil {
							b.Fatal(err)
						}
						time.Sleep(idle)
						b.StartTimer()
						t := time.Now()
						err := cg.Add(p.Process.Pid)
						sm.add(mode, time.Since(t))
						_ = p.Process.Kill()
						_ = p.Wait()
						if err != nil {
							b.Fatal(err)
						}
					default:
						time.Sleep(idle) // the helper needs about 2 ms more to start
						b.StartTimer()
						m := map[string]string{"child-writes-pid": "pid", "child-writes-tid0": "tid0"}[mode]
						out, err := exec.Command(bash, append([]string{"-c", attachScript, "attach", m}, cg.Paths()...)...).CombinedOutput()
						if err != nil {
							b.Fatalf("%s: %v: %s", mode, err, out)
						}
						us, err := strconv.ParseFloat(string(bytes.TrimSpace(out)), 64)
						if err != nil {
							b.Fatalf("%s: %q", mode, out)
						}
						sm.addMS(mode, us/1000)
					}
				}
			}
			b.StopTimer()
			for _, m := range modes {
				sm.reportSpread(b, m)
			}
		})
	}
}

// BenchmarkPrepare is the parent's work before the first clone: loading strict.json, NewRunner (needs root),
// the mount plan, the environment, compiling strict's seccomp filter (what a CLI process pays once when root's
// disk cache misses, and always when not root; seccomp's BenchmarkDiskCacheLoad is the hit) and the cached
// lookup a library run pays.
func BenchmarkPrepare(b *testing.B) {
	s := benchStrict(b)
	b.Run("build-plan", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := namespaces.BuildPlan(s.Filesystem); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("plan-spawn", func(b *testing.B) {
		// The whole pure plan stage: mount plan, clone flags, ids, rlimits, command and environment.
		h := hostFacts{Root: true, IDKind: "allocated", RunIDs: IDMappingInfo{Kind: "allocated", HostUID: 1879048200, HostGID: 1879048200}}
		argv, env := []string{"/bin/true"}, os.Environ()
		for i := 0; i < b.N; i++ {
			if _, err := planSpawn(s, h, argv, env); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("build-env", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			_ = buildEnv(&s.Process, os.Environ())
		}
	})
	b.Run("policy-load", func(b *testing.B) {
		// What the CLI does with --policy policies/strict.json (the test runs in sandbox/).
		for i := 0; i < b.N; i++ {
			if _, err := policy.Resolve("../policies/strict.json"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("new-runner", func(b *testing.B) {
		// Once per CLI process: cgroup hierarchy detection and the janitor's sweep of stale run cgroups.
		benchNeedRoot(b)
		for i := 0; i < b.N; i++ {
			if _, err := NewRunner(Options{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	filter := routed(s.Seccomp)
	opts := seccomp.Options{ForeignABI: policy.Action{Kind: policy.ActNotify}}
	b.Run("seccomp-compile", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			if _, err := seccomp.BuildWith(filter, opts); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("seccomp-cached", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			p, err := seccomp.BuildCachedWith(filter, opts)
			if err == nil {
				err = p.CheckKernel()
			}
			if err != nil {
				b.Fatal(err)
			}
		}
	})
}
