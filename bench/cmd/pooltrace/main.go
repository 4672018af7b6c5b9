//go:build linux && cgo

// Command pooltrace shows where a pooled run's time goes: the phases of Result.SetupTrace, the command's
// wall time and what is left (waiting for the reaper, reading counters, destroying the cgroup), as medians.
package main

import (
	"context"
	"flag"
	"fmt"
	"github.com/jailrun/jailrun/bench/internal/stats"
	"os"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

func main() {
	n := flag.Int("n", 300, "runs")
	noLandlock := flag.Bool("no-landlock", false, "turn the Landlock layer off (to see its cost)")
	noSeccomp := flag.Bool("no-seccomp", false, "turn seccomp off (to see its cost)")
	flag.Parse()
	s, _ := policy.Builtin("strict")
	if *noLandlock {
		s.Filesystem.Landlock = policy.LandlockOff
	}
	if *noSeccomp {
		s.Seccomp.Enabled = false
	}
	r, err := sandbox.NewRunner(sandbox.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	p, _ := r.NewPool(s, sandbox.PoolOptions{Size: 4})
	defer p.Close()
	time.Sleep(100 * time.Millisecond)
	cols := map[string][]float64{}
	var order []string
	add := func(k string, v float64) {
		if _, ok := cols[k]; !ok {
			order = append(order, k)
		}
		cols[k] = append(cols[k], v)
	}
	for i := 0; i < *n; i++ {
		t0 := time.Now()
		res, err := p.Run(context.Background(), sandbox.Request{Policy: s, Argv: []string{"/bin/true"}, TraceSetup: true})
		total := float64(time.Since(t0).Microseconds()) / 1000
		if err != nil || !res.Pooled {
			continue
		}
		for _, ph := range res.SetupTrace {
			add(ph.Name, ph.MS)
		}
		add("wall (exec→reaped)", res.WallTimeMS)
		add("total", total)
		add("rest", total-res.SetupTimeMS-res.WallTimeMS)
		time.Sleep(3 * time.Millisecond) // let the pool refill: this is about the per-run path
	}
	for _, k := range order {
		fmt.Printf("%-22s %8.3f ms (n=%d)\n", k, stats.Median(cols[k]), len(cols[k]))
	}
}
