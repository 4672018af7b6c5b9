//go:build linux && cgo

// Command throughput measures library throughput: how many sandboxed runs of a command one process
// completes per second through sandbox.Runner, one at a time and then P at a time, with the latency spread
// of a run (p50, p90, p99). The same loop also runs the command bare (os/exec fork+exec, no sandbox) and
// under bubblewrap, as baselines. The modes take turns in short slices (rounds), so that all of them see
// the same machine.
//
//	throughput -seconds 6 -rounds 6 -modes jailrun,bare,bwrap -- /bin/true
//
// Mode "pool" runs through a sandbox.Pool (sandboxes prepared ahead of demand, each used once); the line
// after the table says how many of its runs found a prepared sandbox. It ends with this process's own peak
// RSS (VmHWM).
// With -summary FILE it appends "<label>.<phase>.<mode>.<metric> <value>" lines for bench/run.sh.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"github.com/jailrun/jailrun/bench/internal/stats"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// bwrapArgs are the bubblewrap flags of the comparison in docs/performance.md.
var bwrapArgs = []string{"--unshare-all", "--die-with-parent", "--new-session",
	"--ro-bind", "/usr", "/usr", "--ro-bind", "/bin", "/bin", "--ro-bind", "/lib", "/lib",
	"--ro-bind", "/lib64", "/lib64", "--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"}

type tally struct {
	mu   sync.Mutex
	lat  []float64 // ms
	busy time.Duration
	cpu  float64 // ms of CPU the whole machine spent during the slices (all processes, kernel workers too)
	errs int
	err  error
}

func main() {
	seconds := flag.Float64("seconds", 5, "seconds per mode and phase (split over the rounds)")
	rounds := flag.Int("rounds", 5, "slices per mode and phase; modes alternate slice by slice")
	par := flag.Int("parallel", 2, "concurrent runs in the parallel phase")
	pol := flag.String("policy", "strict", "policy file or built-in name for the jailrun mode")
	modesFlag := flag.String("modes", "jailrun,bare,bwrap", "comma-separated: jailrun, pool, bare, bwrap")
	poolSize := flag.Int("pool-size", 4, "prepared sandboxes kept by the pool mode")
	bwrap := flag.String("bwrap", "bwrap", "the bubblewrap binary")
	label := flag.String("label", "throughput", "prefix of the summary keys")
	sumFile := flag.String("summary", "", "append \"key value\" lines to `FILE` (for bench/run.sh)")
	flag.Parse()
	if err := stats.OpenSummary(*sumFile); err != nil {
		fatalf("%v", err)
	}
	argv := flag.Args()
	if len(argv) == 0 {
		argv = []string{"/bin/true"}
	}
	s, err := policy.Resolve(*pol)
	if err != nil {
		fatalf("%v", err)
	}
	r, err := sandbox.NewRunner(sandbox.Options{Logf: func(f string, a ...any) { fmt.Fprintf(os.Stderr, "jailrun: "+f+"\n", a...) }})
	if err != nil {
		fatalf("%v", err)
	}
	pool, err := r.NewPool(s, sandbox.PoolOptions{Size: *poolSize})
	if err != nil {
		fatalf("%v", err)
	}
	defer pool.Close()
	run := map[string]func() error{
		"pool": func() error {
			res, err := pool.Run(context.Background(), sandbox.Request{Policy: s, Argv: argv})
			if err != nil {
				return err
			}
			if res.Status != sandbox.StatusOK {
				return fmt.Errorf("status %s: %s", res.Status, res.Message)
			}
			return nil
		},
		"jailrun": func() error {
			res, err := r.Run(context.Background(), sandbox.Request{Policy: s, Argv: argv})
			if err != nil {
				return err
			}
			if res.Status != sandbox.StatusOK {
				return fmt.Errorf("status %s: %s", res.Status, res.Message)
			}
			return nil
		},
		"bare": func() error { return exec.Command(argv[0], argv[1:]...).Run() },
		"bwrap": func() error {
			return exec.Command(*bwrap, append(append([]string(nil), bwrapArgs...), argv...)...).Run()
		},
	}
	modes := strings.Split(*modesFlag, ",")
	for _, m := range modes {
		if run[m] == nil {
			fatalf("unknown mode %q", m)
		}
		if err := run[m](); err != nil { // warm-up and check
			fatalf("%s: %v", m, err)
		}
	}
	slice := time.Duration(*seconds / float64(*rounds) * float64(time.Second))
	phases := []struct {
		name string
		par  int
	}{{"sequential", 1}, {fmt.Sprintf("parallel%d", *par), *par}}

	failed := false
	fmt.Printf("%s: %v; %.1f s per mode and phase in %d alternating slices; policy %s; GOMAXPROCS %d\n",
		*label, argv, *seconds, *rounds, s.Name, runtime.GOMAXPROCS(0))
	for _, ph := range phases {
		all := map[string]*tally{}
		for _, m := range modes {
			all[m] = &tally{}
		}
		for round := 0; round < *rounds; round++ {
			for j := range modes {
				m := modes[(round+j)%len(modes)]
				measure(run[m], ph.par, slice, all[m])
			}
		}
		fmt.Printf("\n%-10s %-8s %7s %9s %8s %8s %8s %8s %6s %11s\n", ph.name, "mode", "runs", "runs/s", "p50_ms", "p90_ms", "p99_ms", "max_ms", "errors", "cpu_ms/run")
		for _, m := range modes {
			st := all[m]
			rate := float64(len(st.lat)) / st.busy.Seconds()
			cpu := st.cpu / float64(max(len(st.lat), 1))
			fmt.Printf("%-10s %-8s %7d %9.1f %8.3f %8.3f %8.3f %8.3f %6d %11.2f\n", "", m, len(st.lat), rate,
				stats.Quantile(st.lat, 0.5), stats.Quantile(st.lat, 0.9), stats.Quantile(st.lat, 0.99), stats.Quantile(st.lat, 1), st.errs, cpu)
			if st.err != nil {
				failed = true
				fmt.Printf("%-10s first error: %v\n", "", st.err)
			}
			p := *label + "." + ph.name + "." + m + "."
			stats.Add(p+"runs_per_s", "%.2f", rate)
			stats.Add(p+"p50_ms", "%.3f", stats.Quantile(st.lat, 0.5))
			stats.Add(p+"p90_ms", "%.3f", stats.Quantile(st.lat, 0.9))
			stats.Add(p+"p99_ms", "%.3f", stats.Quantile(st.lat, 0.99))
			stats.Add(p+"errors", "%d", st.errs)
			stats.Add(p+"cpu_ms_per_run", "%.3f", cpu)
		}
	}
	if ps := pool.Stats(); ps.Hits+ps.Misses > 0 {
		fmt.Printf("\npool (size %d): %d runs found a prepared sandbox, %d ran cold (none ready), %d preparation failures\n",
			ps.Size, ps.Hits, ps.Misses, ps.Failed)
		stats.Add(*label+".pool.hit_ratio", "%.4f", float64(ps.Hits)/float64(ps.Hits+ps.Misses))
	}
	hwm, rss := procStatus("VmHWM"), procStatus("VmRSS")
	fmt.Printf("\nthis process: VmHWM %d KiB (%.1f MiB), VmRSS %d KiB\n", hwm, float64(hwm)/1024, rss)
	stats.Add(*label+".vmhwm_kib", "%d", hwm)
	if failed {
		fmt.Fprintln(os.Stderr, "throughput: some runs failed (see errors above)")
		os.Exit(1)
	}
}

// measure runs f from par goroutines for d and adds each run's latency to st.
func measure(f func() error, par int, d time.Duration, st *tally) {
	var wg sync.WaitGroup
	var stop atomic.Bool
	cpu0 := machineCPU()
	start := time.Now()
	deadline := start.Add(d)
	for w := 0; w < par; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() && time.Now().Before(deadline) {
				t := time.Now()
				err := f()
				ms := float64(time.Since(t)) / 1e6
				st.mu.Lock()
				if err != nil {
					st.errs++
					if st.err == nil {
						st.err = err
					}
				} else {
					st.lat = append(st.lat, ms)
				}
				st.mu.Unlock()
			}
		}()
	}
	wg.Wait()
	st.mu.Lock()
	st.busy += time.Since(start)
	st.cpu += machineCPU() - cpu0
	st.mu.Unlock()
}

// machineCPU is the CPU time all CPUs have spent not idle since boot, in ms (/proc/stat: user, nice, system,
// irq, softirq, steal), so that a run's cost includes its child processes and the kernel's workers.
func machineCPU() float64 {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	var ticks float64
	for i, x := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		if v, err := strconv.ParseFloat(x, 64); err == nil {
			ticks += v
		}
	}
	return ticks * 1000 / 100 // USER_HZ is 100 on Linux
}

// procStatus reads a "kB" field of /proc/self/status.
func procStatus(key string) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return -1
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), key+":"); ok {
			var n int64
			fmt.Sscanf(strings.TrimSpace(v), "%d", &n)
			return n
		}
	}
	return -1
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "throughput: "+format+"\n", a...)
	os.Exit(1)
}
