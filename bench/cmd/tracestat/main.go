//go:build linux

// Command tracestat runs the jailrun CLI N times with --trace-setup and reports where the time went: the
// median, p90 and max of each setup_trace phase, of wall_time_ms (exec to reaped) and of the time outside
// both (process start-up, policy loading, cgroup manager and janitor, result handling, exit), measured by
// the monotonic clock around the whole process.
//
//	tracestat -n 60 -jailrun bin/jailrun -- --policy policies/strict.json -- /bin/true
//
// Everything after the first "--" is passed to jailrun after --trace-setup --result FILE.
// With -summary FILE it appends "<label>.<phase>.<metric> <value>" lines for bench/run.sh.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"github.com/jailrun/jailrun/bench/internal/stats"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

type result struct {
	Status      string  `json:"status"`
	WallTimeMS  float64 `json:"wall_time_ms"`
	SetupTimeMS float64 `json:"setup_time_ms"`
	SetupTrace  []struct {
		Name string  `json:"name"`
		MS   float64 `json:"ms"`
	} `json:"setup_trace"`
}

func main() {
	n := flag.Int("n", 60, "runs")
	bin := flag.String("jailrun", "bin/jailrun", "the jailrun binary")
	label := flag.String("label", "trace", "prefix of the summary keys")
	sumFile := flag.String("summary", "", "append \"key value\" lines to `FILE` (for bench/run.sh)")
	flag.Parse()
	if err := stats.OpenSummary(*sumFile); err != nil {
		fatalf("%v", err)
	}
	dir, err := os.MkdirTemp("", "tracestat-")
	if err != nil {
		fatalf("%v", err)
	}
	defer os.RemoveAll(dir)
	resFile := filepath.Join(dir, "result.json")
	args := append([]string{"--trace-setup", "--result", resFile}, flag.Args()...)

	var order []string
	ms := map[string][]float64{}
	add := func(k string, v float64) {
		if _, ok := ms[k]; !ok {
			order = append(order, k)
		}
		ms[k] = append(ms[k], v)
	}
	for i := 0; i < *n; i++ {
		cmd := exec.Command(*bin, args...)
		cmd.Stderr = os.Stderr
		t := time.Now()
		err := cmd.Run()
		total := float64(time.Since(t)) / 1e6
		if err != nil {
			os.RemoveAll(dir)
			fatalf("run %d: %v", i, err)
		}
		b, err := os.ReadFile(resFile)
		var r result
		if err == nil {
			err = json.Unmarshal(b, &r)
		}
		if err != nil || r.Status != "ok" {
			os.RemoveAll(dir)
			fatalf("run %d: result %q: %v", i, r.Status, err)
		}
		for _, p := range r.SetupTrace {
			add(p.Name, p.MS)
		}
		add("wait (exec→reaped)", r.WallTimeMS)
		add("outside Run", total-r.SetupTimeMS-r.WallTimeMS)
		add("total (process)", total)
	}
	fmt.Printf("%d runs of %s %v\n", *n, *bin, args)
	fmt.Printf("%-22s %9s %9s %9s\n", "phase", "median", "p90", "max")
	for _, k := range order {
		fmt.Printf("%-22s %9.3f %9.3f %9.3f\n", k, stats.Median(ms[k]), stats.Quantile(ms[k], 0.9), stats.Quantile(ms[k], 1))
	}
	keys := map[string]string{"wait (exec→reaped)": "wait", "outside Run": "outside", "total (process)": "total"}
	for _, k := range order {
		name := k
		if s, ok := keys[k]; ok {
			name = s
		}
		stats.Add(*label+"."+name+".median_ms", "%.3f", stats.Median(ms[k]))
		stats.Add(*label+"."+name+".p90_ms", "%.3f", stats.Quantile(ms[k], 0.9))
	}
}

func fatalf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "tracestat: "+format+"\n", a...)
	os.Exit(1)
}
