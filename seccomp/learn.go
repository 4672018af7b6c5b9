package seccomp

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// Observation is what learn mode saw a program do (e.g. through a notify or log filter): the syscalls by
// name on the native architecture, and the argument values that jailrun's rules care about.
type Observation struct {
	Syscalls       []string
	SocketFamilies []uint64 // socket(2) argument 0 values seen
}

// Suggestion is a policy "seccomp" object learned from an Observation, and what the user must know
// about it.
type Suggestion struct {
	// JSON is the "seccomp" object, indented, ready to paste into a policy file.
	JSON []byte
	// Warnings name observed syscalls the suggestion does not allow (boundary-crossing ones) and other
	// decisions a human should review.
	Warnings []string
}

// learnedRule mirrors the policy language's rule object (field order is the documented key order).
type learnedRule struct {
	Comment  string       `json:"comment,omitempty"`
	Syscalls []string     `json:"syscalls"`
	Action   string       `json:"action"`
	Args     []learnedArg `json:"args,omitempty"`
}

type learnedArg struct {
	Index int    `json:"index"`
	Op    string `json:"op"`
	Mask  string `json:"mask,omitempty"`
	Value any    `json:"value"`
}

type learnedSeccomp struct {
	DefaultAction   string        `json:"default_action"`
	UnknownSyscalls string        `json:"unknown_syscalls"`
	Rules           []learnedRule `json:"rules"`
}

// Suggest turns an Observation into an allowlist: exactly the observed syscalls plus @default (so that a
// different libc or loader path does not break the program), with strict's protective rules in front:
// the dangerous groups kill the process even if they were observed (listed in Warnings), clone may not
// create namespaces, clone3 answers ENOSYS, ioctl(TIOCSTI/TIOCLINUX) kills, and socket is limited to the
// families that were observed. Unknown syscalls get ENOSYS and everything else EPERM.
func Suggest(o Observation) (Suggestion, error) {
	var warn []string
	dangerous := dangerousSet()
	def, _ := syscalls.Group("@default")
	allowed := map[string]bool{}
	for _, s := range def {
		allowed[s] = true
	}
	seen := map[string]bool{}
	for _, s := range o.Syscalls {
		if !syscalls.Known(s) {
			return Suggestion{}, fmt.Errorf("seccomp: learn: unknown syscall %q", s)
		}
		seen[s] = true
		switch {
		case dangerous[s]:
			warn = append(warn, fmt.Sprintf("%s was used but crosses the sandbox boundary: the suggestion kills it; allow it by hand only if you must", s))
		case s == "clone", s == "clone3", s == "socket", s == "ioctl", s == "personality":
			// handled by argument rules below
		default:
			allowed[s] = true
		}
	}
	for s := range allowed {
		if _, ok := syscalls.Number(syscalls.Native, s); !ok {
			delete(allowed, s) // @default names some syscalls of other architectures
		}
	}
	rules := []learnedRule{{
		Comment:  "Escape routes and kernel-exploit primitives: kill the sandbox and report the syscall.",
		Syscalls: []string{"@dangerous", "@io-uring", "@cpu-emulation"}, Action: "kill_process",
	}}
	if seen["clone"] || seen["clone3"] {
		rules = append(rules,
			learnedRule{Comment: "clone3's flags cannot be filtered: ENOSYS makes libc use clone.", Syscalls: []string{"clone3"}, Action: "errno(ENOSYS)"},
			learnedRule{Comment: "Processes and threads, no new namespaces.", Syscalls: []string{"clone"}, Action: "allow",
				Args: []learnedArg{{Index: 0, Op: "&=", Mask: "CLONE_NS_FLAGS", Value: 0}}},
			learnedRule{Syscalls: []string{"clone"}, Action: "kill_process"})
		if seen["clone3"] {
			warn = append(warn, "clone3 was used: the suggestion answers it with ENOSYS so that libc falls back to clone")
		}
	}
	if seen["ioctl"] {
		for _, c := range []string{"TIOCSTI", "TIOCLINUX"} {
			rules = append(rules, learnedRule{Syscalls: []string{"ioctl"}, Action: "kill_process",
				Args: []learnedArg{{Index: 1, Op: "&=", Mask: "LOW32", Value: c}}})
		}
		allowed["ioctl"] = true
	}
	if seen["personality"] {
		for _, c := range []string{"PER_LINUX", "PER_QUERY"} {
			rules = append(rules, learnedRule{Syscalls: []string{"personality"}, Action: "allow",
				Args: []learnedArg{{Index: 0, Op: "&=", Mask: "LOW32", Value: c}}})
		}
		rules = append(rules, learnedRule{Syscalls: []string{"personality"}, Action: "kill_process"})
	}
	if seen["socket"] {
		fams := append([]uint64(nil), o.SocketFamilies...)
		sort.Slice(fams, func(i, j int) bool { return fams[i] < fams[j] })
		last := ^uint64(0)
		for _, f := range fams {
			if f == last {
				continue
			}
			last = f
			rules = append(rules, learnedRule{Syscalls: []string{"socket"}, Action: "allow",
				Args: []learnedArg{{Index: 0, Op: "&=", Mask: "LOW32", Value: familyName(f)}}})
			if f != 1 {
				warn = append(warn, fmt.Sprintf("socket family %v was used: it needs a network namespace policy (network-loopback) to be useful", familyName(f)))
			}
		}
		rules = append(rules, learnedRule{Syscalls: []string{"socket"}, Action: "errno(EAFNOSUPPORT)"})
	}
	names := make([]string, 0, len(allowed))
	for s := range allowed {
		names = append(names, s)
	}
	sort.Strings(names)
	rules = append(rules, learnedRule{Comment: "Learned: @default plus every syscall observed.", Syscalls: names, Action: "allow"})
	out, err := json.MarshalIndent(learnedSeccomp{DefaultAction: "errno(EPERM)", UnknownSyscalls: "enosys", Rules: rules}, "", "  ")
	if err != nil {
		return Suggestion{}, err
	}
	sort.Strings(warn)
	return Suggestion{JSON: out, Warnings: warn}, nil
}

// dangerousSet is every syscall of the groups strict kills for: escape routes and exploit primitives.
func dangerousSet() map[string]bool {
	dangerous := map[string]bool{}
	for _, g := range []string{"@dangerous", "@io-uring", "@cpu-emulation"} {
		m, _ := syscalls.Group(g)
		for _, s := range m {
			dangerous[s] = true
		}
	}
	return dangerous
}

// familyName spells a socket family as the constant policies use, or its number.
func familyName(f uint64) any {
	for _, n := range syscalls.ConstantNames() {
		if len(n) > 3 && n[:3] == "AF_" && n != "AF_LOCAL" {
			if v, _ := syscalls.Constant(n); v == f {
				return n
			}
		}
	}
	return f
}
