package seccomp

import (
	"sort"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// TestedArg is an argument a section's rules test for some syscall. Low32 is true when every condition
// on it is a mask within the low 32 bits ("&=" with LOW32, CLONE_NS_FLAGS ...): the filter's answer then
// depends on those bits only, as for the int arguments the kernel truncates.
type TestedArg struct {
	Index uint
	Low32 bool
}

// ArgsTested returns, per syscall name of the native architecture, the arguments the section's rules
// test, in index order. A syscall whose rules have no conditions is absent: the filter's answer for it
// does not depend on its arguments. The launcher uses it to count a denied syscall once per set of the
// values that decided its answer, and learn mode to allow exactly the values it saw.
func ArgsTested(s policy.Seccomp) map[string][]TestedArg {
	low := map[string]map[uint]bool{}
	for _, r := range s.Rules {
		for _, name := range expand(r.Syscalls) {
			if _, ok := syscalls.Number(syscalls.Native, name); !ok {
				continue
			}
			for _, c := range r.Args {
				m := low[name]
				if m == nil {
					m = map[uint]bool{}
					low[name] = m
				}
				fits := c.Op == policy.OpMaskedEq && c.Mask <= 0xffffffff
				if prev, seen := m[c.Index]; seen {
					fits = fits && prev
				}
				m[c.Index] = fits
			}
		}
	}
	out := make(map[string][]TestedArg, len(low))
	for name, m := range low {
		for i, l := range m {
			out[name] = append(out[name], TestedArg{Index: i, Low32: l})
		}
		sort.Slice(out[name], func(a, b int) bool { return out[name][a].Index < out[name][b].Index })
	}
	return out
}

// TestedValues keeps, of a call's arguments, the values of the tested ones (the low 32 bits where only
// those matter) and zeroes the others: two calls with the same TestedValues get the same answer.
func TestedValues(tested []TestedArg, args [6]uint64) [6]uint64 {
	var out [6]uint64
	for _, t := range tested {
		if t.Index > 5 {
			continue
		}
		v := args[t.Index]
		if t.Low32 {
			v &= 0xffffffff
		}
		out[t.Index] = v
	}
	return out
}
