package seccomp

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// ObservedCall is a call that learn mode let run although the base policy denies it: the syscall's name
// on the native architecture and its arguments (only the values the base's rules test matter, see
// ArgsTested). AnyArgs says the calls were not told apart by argument (too many different values were
// seen), so the syscall can only be allowed whatever its arguments.
type ObservedCall struct {
	Syscall string
	Args    [6]uint64
	AnyArgs bool
	// BaseAction is the base policy's answer, as FormatAction writes it ("kill_process"), for warnings.
	BaseAction string
}

// maxLearnedValues bounds the argument rules learned for one syscall; past it the syscall is allowed
// whatever its arguments, with a warning.
const maxLearnedValues = 32

// SuggestExtends is learn mode's answer for `jailrun learn`: the "seccomp" object of a policy that
// extends base and allows exactly the observed calls. The rules go before base's (a child's rules come
// first), so everything base allows stays allowed and everything not observed keeps base's answer:
//   - a syscall that base decides without looking at its arguments gets one unconditional allow;
//   - a syscall that base decides by its arguments (socket's family, clone's flags, ioctl's request) is
//     allowed only for the values of those arguments that were seen, compared the way base compares them
//     (the low 32 bits where base only masks those), so socket(AF_INET) does not open AF_NETLINK.
//
// Warnings name the allowed syscalls that cross the sandbox boundary (@dangerous): review them before use.
func SuggestExtends(base policy.Seccomp, calls []ObservedCall) (Suggestion, error) {
	tested := ArgsTested(base)
	plain := map[string]bool{}
	type valueSet struct {
		any  bool
		seen map[[6]uint64]bool
		keys [][6]uint64
	}
	byArgs := map[string]*valueSet{}
	dangerous := dangerousSet()
	var warn []string
	warned := map[string]bool{}
	for _, c := range calls {
		if !syscalls.Known(c.Syscall) {
			return Suggestion{}, fmt.Errorf("seccomp: learn: unknown syscall %q", c.Syscall)
		}
		switch a := c.BaseAction; {
		case dangerous[c.Syscall]:
		case warned[c.Syscall]:
		case strings.HasPrefix(a, "kill"), a == "trap":
			warned[c.Syscall] = true
			warn = append(warn, fmt.Sprintf("%s: the base policy treats it as a violation (%s) for the arguments seen, and the learned policy allows it: review before use", c.Syscall, a))
		}
		t, conditional := tested[c.Syscall]
		if !conditional {
			plain[c.Syscall] = true
			continue
		}
		vs := byArgs[c.Syscall]
		if vs == nil {
			vs = &valueSet{seen: map[[6]uint64]bool{}}
			byArgs[c.Syscall] = vs
		}
		if c.AnyArgs {
			vs.any = true
			continue
		}
		k := TestedValues(t, c.Args)
		if !vs.seen[k] {
			vs.seen[k] = true
			vs.keys = append(vs.keys, k)
		}
	}

	var rules []learnedRule
	names := make([]string, 0, len(byArgs))
	for n := range byArgs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		vs := byArgs[n]
		if vs.any || len(vs.keys) > maxLearnedValues {
			warn = append(warn, fmt.Sprintf("%s was used with more argument values than learn mode tells apart: it is allowed whatever its arguments (the base policy tests %s)", n, argList(tested[n])))
			plain[n] = true
			continue
		}
		sort.Slice(vs.keys, func(i, j int) bool {
			for x := range vs.keys[i] {
				if vs.keys[i][x] != vs.keys[j][x] {
					return vs.keys[i][x] < vs.keys[j][x]
				}
			}
			return false
		})
		for i, k := range vs.keys {
			r := learnedRule{Syscalls: []string{n}, Action: "allow"}
			if i == 0 {
				r.Comment = fmt.Sprintf("Learned: %s with the argument values seen (the base policy decides it by %s).", n, argList(tested[n]))
			}
			for _, t := range tested[n] {
				r.Args = append(r.Args, learnedCond(n, t, k[t.Index]))
			}
			rules = append(rules, r)
		}
		if dangerous[n] {
			warn = append(warn, fmt.Sprintf("%s crosses the sandbox boundary (@dangerous) and is allowed for the values seen: review before use", n))
		}
	}
	if len(plain) > 0 {
		var list []string
		for n := range plain {
			list = append(list, n)
			if dangerous[n] {
				warn = append(warn, fmt.Sprintf("%s crosses the sandbox boundary (@dangerous) and is allowed: review before use", n))
			}
		}
		sort.Strings(list)
		rules = append([]learnedRule{{Comment: "Learned: syscalls the base policy denies that the command used.", Syscalls: list, Action: "allow"}}, rules...)
	}
	if rules == nil {
		rules = []learnedRule{}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "&=" stays readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(struct {
		Rules []learnedRule `json:"rules"`
	}{rules}); err != nil {
		return Suggestion{}, err
	}
	out := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	sort.Strings(warn)
	return Suggestion{JSON: out, Warnings: warn}, nil
}

func argList(t []TestedArg) string {
	var s []string
	for _, a := range t {
		s = append(s, fmt.Sprintf("args[%d]", a.Index))
	}
	return strings.Join(s, ", ")
}

// learnedCond is the condition "argument t has value v", compared as the base compares it.
func learnedCond(name string, t TestedArg, v uint64) learnedArg {
	var value any = fmt.Sprintf("%#x", v)
	if name == "socket" && t.Index == 0 {
		value = familyName(v)
	}
	if t.Low32 {
		return learnedArg{Index: int(t.Index), Op: "&=", Mask: "LOW32", Value: value}
	}
	return learnedArg{Index: int(t.Index), Op: "==", Value: value}
}
