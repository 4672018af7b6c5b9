package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

func busy() float64 {
	b, _ := os.ReadFile("/proc/stat")
	f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0])
	var s float64
	for i, x := range f[1:] {
		if i == 3 || i == 4 {
			continue
		}
		v, _ := strconv.ParseFloat(x, 64)
		s += v
	}
	return s * 10 // ms
}

func main() {
	s, _ := policy.Builtin("strict")
	mod := func(f func(*policy.Settings)) *policy.Settings { c := s.Clone(); f(c); return c }
	vs := []struct {
		n string
		s *policy.Settings
	}{
		{"full", s},
		{"no-seccomp", mod(func(c *policy.Settings) { c.Seccomp.Enabled = false })},
		{"no-landlock", mod(func(c *policy.Settings) { c.Filesystem.Landlock = policy.LandlockOff })},
		{"no-netns", mod(func(c *policy.Settings) { c.Namespaces.Net, c.Network.LoopbackUp = false, false })},
		{"no-masks", mod(func(c *policy.Settings) { c.Filesystem.MaskedPaths = nil })},
	}
	r, err := sandbox.NewRunner(sandbox.Options{})
	if err != nil {
		panic(err)
	}
	n := 400
	for round := 0; round < 5; round++ {
		for _, v := range vs {
			p, err := r.NewPool(v.s, sandbox.PoolOptions{Size: 4})
			if err != nil {
				panic(err)
			}
			time.Sleep(50 * time.Millisecond)
			b0, t0 := busy(), time.Now()
			pooled := 0
			for i := 0; i < n; i++ {
				res, err := p.Run(context.Background(), sandbox.Request{Policy: v.s, Argv: []string{"/bin/true"}})
				if err != nil {
					panic(err)
				}
				if res.Pooled {
					pooled++
				}
			}
			el := time.Since(t0).Seconds()
			b1 := busy()
			p.Close()
			fmt.Printf("%-12s %6.1f runs/s  cpu %.2f ms/run  pooled %d\n", v.n, float64(n)/el, (b1-b0)/float64(n), pooled)
		}
	}
}
