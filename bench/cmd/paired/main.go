//go:build linux

// Command paired times whole commands against a baseline, alternating them: every round runs each command
// once, in an order that rotates from round to round, and timing is the monotonic clock around fork, exec
// and wait. It reports each command's median and p90 wall time and, against the baseline, the median of the
// per-round ratios (command / baseline in the same round), which cancels the drift of a shared machine.
//
//	paired -n 50 -baseline bwrap 'bare=/bin/true' 'jailrun=bin/jailrun -- /bin/true' 'bwrap=bwrap ... /bin/true'
//
// Commands are NAME=COMMAND LINE, split like a shell would (quotes, no expansion). Every run must exit 0.
// With -summary FILE it appends "<label>.<name>.<metric> <value>" lines for bench/run.sh.
package main

import (
	"flag"
	"fmt"
	"github.com/jailrun/jailrun/bench/internal/stats"
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/google/shlex"
)

type command struct {
	name  string
	argv  []string
	wall  []float64 // ms
	cpu   []float64 // user+sys ms of the command and the children it waited for
	rss   int64     // highest ru_maxrss, KiB
	inner []float64 // ms, with -inner: what the command reported about itself
}

func main() {
	n := flag.Int("n", 50, "measured rounds")
	warmup := flag.Int("warmup", 3, "unmeasured rounds first")
	baseline := flag.String("baseline", "", "name of the command the others are compared with (default: the first)")
	label := flag.String("label", "paired", "prefix of the summary keys")
	inner := flag.Bool("inner", false, "each command prints its own elapsed time in microseconds as the last line of stdout; report it too")
	sumFile := flag.String("summary", "", "append \"key value\" lines to `FILE` (for bench/run.sh)")
	flag.Usage = func() {
		fmt.Fprintf(os.Stderr, "usage: paired [flags] NAME=COMMAND...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() < 1 {
		flag.Usage()
		os.Exit(2)
	}
	if err := stats.OpenSummary(*sumFile); err != nil {
		fatalf("%v", err)
	}
	var cmds []*command
	for _, a := range flag.Args() {
		name, line, ok := strings.Cut(a, "=")
		argv, err := shlex.Split(line)
		if !ok || name == "" || err != nil || len(argv) == 0 {
			fatalf("bad command %q: want NAME=COMMAND", a)
		}
		cmds = append(cmds, &command{name: name, argv: argv})
	}
	base := cmds[0]
	for _, c := range cmds {
		if c.name == *baseline {
			base = c
		}
	}
	errf, err := os.CreateTemp("", "paired-stderr-")
	if err != nil {
		fatalf("%v", err)
	}
	tmpFiles = append(tmpFiles, errf.Name())
	defer errf.Close()
	var outf *os.File
	if *inner {
		if outf, err = os.CreateTemp("", "paired-stdout-"); err != nil {
			fatalf("%v", err)
		}
		tmpFiles = append(tmpFiles, outf.Name())
		defer outf.Close()
	}
	defer removeTmp()

	ratios := map[string][]float64{}
	innerRatios := map[string][]float64{}
	for round := -*warmup; round < *n; round++ {
		got, gotInner := map[string]float64{}, map[string]float64{}
		for j := range cmds {
			c := cmds[(max(round, 0)+j)%len(cmds)]
			ms, cpu, rss, in := runOnce(c, errf, outf)
			if round < 0 {
				continue
			}
			got[c.name], gotInner[c.name] = ms, in
			c.wall = append(c.wall, ms)
			c.cpu = append(c.cpu, cpu)
			c.rss = max(c.rss, rss)
			if outf != nil {
				c.inner = append(c.inner, in)
			}
		}
		if round >= 0 {
			for _, c := range cmds {
				if c != base {
					ratios[c.name] = append(ratios[c.name], got[c.name]/got[base.name])
					if outf != nil {
						innerRatios[c.name] = append(innerRatios[c.name], gotInner[c.name]/gotInner[base.name])
					}
				}
			}
		}
	}

	fmt.Printf("%d rounds (after %d warm-up), order rotating; wall ms from fork to wait, monotonic clock\n", *n, *warmup)
	fmt.Printf("%-18s %9s %9s %9s %9s %9s %9s   %s\n", "command", "median", "p90", "min", "max", "cpu_med", "maxrss_KiB", "÷ "+base.name+" per round: median [p10, p90]")
	for _, c := range cmds {
		r := "(baseline)"
		if c != base {
			rs := ratios[c.name]
			r = fmt.Sprintf("%.3f [%.3f, %.3f]", stats.Median(rs), stats.Quantile(rs, 0.1), stats.Quantile(rs, 0.9))
		}
		fmt.Printf("%-18s %9.3f %9.3f %9.3f %9.3f %9.3f %9d   %s\n", c.name, stats.Median(c.wall), stats.Quantile(c.wall, 0.9),
			stats.Quantile(c.wall, 0), stats.Quantile(c.wall, 1), stats.Median(c.cpu), c.rss, r)
	}
	if outf != nil {
		fmt.Printf("\nas reported by the commands themselves (ms):\n")
		fmt.Printf("%-18s %9s %9s %9s %9s   %s\n", "command", "median", "p90", "min", "max", "÷ "+base.name+" per round: median [p10, p90]")
		for _, c := range cmds {
			r := "(baseline)"
			if c != base {
				rs := innerRatios[c.name]
				r = fmt.Sprintf("%.4f [%.4f, %.4f]", stats.Median(rs), stats.Quantile(rs, 0.1), stats.Quantile(rs, 0.9))
			}
			fmt.Printf("%-18s %9.3f %9.3f %9.3f %9.3f   %s\n", c.name, stats.Median(c.inner), stats.Quantile(c.inner, 0.9),
				stats.Quantile(c.inner, 0), stats.Quantile(c.inner, 1), r)
		}
	}
	for _, c := range cmds {
		p := *label + "." + c.name + "."
		if outf != nil {
			stats.Add(p+"inner_median_ms", "%.3f", stats.Median(c.inner))
			stats.Add(p+"inner_min_ms", "%.3f", stats.Quantile(c.inner, 0))
			if c != base {
				stats.Add(p+"inner_ratio_vs_"+base.name, "%.5f", stats.Median(innerRatios[c.name]))
			}
		}
		stats.Add(p+"median_ms", "%.3f", stats.Median(c.wall))
		stats.Add(p+"p90_ms", "%.3f", stats.Quantile(c.wall, 0.9))
		stats.Add(p+"cpu_median_ms", "%.3f", stats.Median(c.cpu))
		stats.Add(p+"maxrss_kib", "%d", c.rss)
		if c != base {
			stats.Add(p+"ratio_vs_"+base.name, "%.4f", stats.Median(ratios[c.name]))
			stats.Add(p+"ratio_p90_vs_"+base.name, "%.4f", stats.Quantile(ratios[c.name], 0.9))
		}
	}
}

// runOnce runs c with stdin on /dev/null, stderr in errf (kept for the error message) and stdout in outf, or
// on /dev/null when outf is nil.
func runOnce(c *command, errf, outf *os.File) (wallMS, cpuMS float64, maxrss int64, innerMS float64) {
	for _, f := range []*os.File{errf, outf} {
		if f == nil {
			continue
		}
		if err := f.Truncate(0); err != nil {
			fatalf("%v", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			fatalf("%v", err)
		}
	}
	cmd := exec.Command(c.argv[0], c.argv[1:]...)
	cmd.Stderr = errf
	if outf != nil {
		cmd.Stdout = outf
	}
	t := time.Now()
	err := cmd.Run()
	wall := time.Since(t)
	if err != nil {
		b, _ := os.ReadFile(errf.Name())
		fatalf("%s: %v\n%s", c.name, err, b)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	if outf != nil {
		b, _ := os.ReadFile(outf.Name())
		lines := strings.Fields(string(b))
		var us float64
		if len(lines) == 0 {
			fatalf("%s: printed nothing; -inner needs the elapsed microseconds as its last line", c.name)
		}
		if _, err := fmt.Sscanf(lines[len(lines)-1], "%g", &us); err != nil {
			fatalf("%s: last line %q is not a number of microseconds", c.name, lines[len(lines)-1])
		}
		innerMS = us / 1000
	}
	return float64(wall) / 1e6, float64(cpu) / 1e6, ru.Maxrss, innerMS
}

var tmpFiles []string

func removeTmp() {
	for _, f := range tmpFiles {
		os.Remove(f)
	}
}

func fatalf(format string, a ...any) {
	removeTmp()
	fmt.Fprintf(os.Stderr, "paired: "+format+"\n", a...)
	os.Exit(1)
}
