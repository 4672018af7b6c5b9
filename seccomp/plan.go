package seccomp

import (
	"errors"
	"fmt"
	"sort"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// This file turns the policy's ordered rules ("for a given syscall the first rule whose conditions match
// decides") into a program, exactly:
//
//   - A syscall whose rules have no argument conditions is decided by its first rule; libseccomp puts it in
//     the main filter (a binary tree of syscall numbers) unless that action is the default.
//   - A syscall with argument conditions gets a block of its own, generated here and reached from jailrun's
//     prefix when nr matches: the rules are tested in order, the first that holds returns its action, and
//     rules after the first unconditional one are unreachable and dropped; if none holds, the block returns
//     the default action.
//
// Argument conditions are not handed to libseccomp on purpose: the differential test (TestDifferential)
// found that Debian's libseccomp 2.5.4 miscompiles several rules with conditions on one syscall (it
// jumps between comparison chains assuming the accumulator still holds the other chain's word: e.g.
// "a0 < 2 → allow, a0 >= 2^64-1 → log" let 0xffffffff through as log), and libseccomp has no rule order
// anyway. Generating these few comparisons ourselves keeps first-match semantics with no restrictions.
//
// PolicyError is a seccomp setting this package refuses to compile. Setting is the policy path
// ("seccomp.rules[3]"), so the CLI can point at it.
type PolicyError struct {
	Setting string
	Err     error
}

func (e *PolicyError) Error() string { return e.Setting + ": " + e.Err.Error() }
func (e *PolicyError) Unwrap() error { return e.Err }

func ruleSetting(i int) string { return fmt.Sprintf("seccomp.rules[%d]", i) }

// lsRule is one unconditional rule handed to libseccomp: Action for syscall Nr.
type lsRule struct {
	Nr     int
	Name   string
	Action policy.Action
}

// condRule is one rule of a special syscall's block: Action when all Conds hold (none: always). Rule is
// the index in the policy's rules, for explain output.
type condRule struct {
	Rule   int
	Action policy.Action
	Conds  []policy.ArgCond
}

// special is a syscall with argument conditions: it gets a block of its own (see above).
type special struct {
	Nr    int
	Name  string
	Rules []condRule // in policy order, ending with an unconditional rule or falling back to Default
	// Default is what the block returns when no rule holds: the policy's default action.
	Default policy.Action
}

// plan is a seccomp section checked and flattened for one architecture.
type plan struct {
	arch    syscalls.Arch
	def     policy.Action
	unknown policy.Action
	max     int
	rules   []lsRule  // the main libseccomp filter
	special []special // syscalls with argument conditions, in syscall-number order
	actions []policy.Action
	notify  bool
}

type entry struct {
	rule   int
	action policy.Action
	conds  []policy.ArgCond
}

// filterFlagNewListener is SECCOMP_FILTER_FLAG_NEW_LISTENER (seccomp(2)'s flags are argument 1).
const filterFlagNewListener = 8

// DefaultUnknownAction is what syscalls newer than jailrun's table get when the policy does not say:
// ENOSYS, so that libc falls back to an older syscall instead of failing (clone3 → clone, ...).
var DefaultUnknownAction = policy.Action{Kind: policy.ActErrno, Errno: 38}

func validCond(c policy.ArgCond) error {
	if c.Index > 5 {
		return fmt.Errorf("argument index %d out of range 0..5", c.Index)
	}
	switch c.Op {
	case policy.OpEq, policy.OpNe, policy.OpLt, policy.OpLe, policy.OpGt, policy.OpGe:
	case policy.OpMaskedEq:
		if c.Value&^c.Mask != 0 {
			return fmt.Errorf("args[%d] &= : value %#x has bits outside mask %#x, so the condition can never match", c.Index, c.Value, c.Mask)
		}
	default:
		return fmt.Errorf("unknown comparison %q", c.Op)
	}
	return nil
}

func makePlan(s policy.Seccomp, arch syscalls.Arch) (*plan, error) {
	if !s.Enabled {
		return nil, &PolicyError{Setting: "seccomp", Err: errors.New("the filter is disabled; nothing to build")}
	}
	p := &plan{arch: arch, def: s.DefaultAction, unknown: s.UnknownSyscalls, max: syscalls.Max(arch)}
	if p.max < 0 {
		return nil, &PolicyError{Setting: "seccomp", Err: fmt.Errorf("no syscall table for architecture %s", arch)}
	}
	if p.unknown.Kind == "" {
		p.unknown = DefaultUnknownAction
	}
	if _, err := EncodeAction(p.def); err != nil {
		return nil, &PolicyError{Setting: "seccomp.default_action", Err: err}
	}
	if _, err := EncodeAction(p.unknown); err != nil {
		return nil, &PolicyError{Setting: "seccomp.unknown_syscalls", Err: err}
	}
	used := map[policy.Action]bool{p.def: true, p.unknown: true, {Kind: policy.ActKillProcess}: true}

	perNr := map[int][]entry{}
	for i, r := range s.Rules {
		if _, err := EncodeAction(r.Action); err != nil {
			return nil, &PolicyError{Setting: ruleSetting(i) + ".action", Err: err}
		}
		if len(r.Syscalls) == 0 {
			return nil, &PolicyError{Setting: ruleSetting(i), Err: errors.New("names no syscall")}
		}
		for j, c := range r.Args {
			if err := validCond(c); err != nil {
				return nil, &PolicyError{Setting: fmt.Sprintf("%s.args[%d]", ruleSetting(i), j), Err: err}
			}
		}
		seen := map[int]bool{}
		for _, name := range expand(r.Syscalls) {
			nr, ok := syscalls.Number(arch, name)
			if !ok {
				if syscalls.Known(name) {
					continue // exists on another architecture only (e.g. "open" on arm64)
				}
				return nil, &PolicyError{Setting: ruleSetting(i), Err: fmt.Errorf("unknown syscall %q", name)}
			}
			if seen[nr] {
				continue
			}
			seen[nr] = true
			perNr[nr] = append(perNr[nr], entry{rule: i, action: r.Action, conds: r.Args})
		}
	}

	// With notify in the filter, the sandboxed program must not get a listener of its own: when two stacked
	// filters both return USER_NOTIF, the kernel asks the most recently installed one, so a filter the
	// program installs with SECCOMP_FILTER_FLAG_NEW_LISTENER could answer CONTINUE for a syscall that ours
	// routes to jailrun's supervisor, and it would run. The kernel refuses a second listener (EBUSY) only
	// while ours is open; once jailrun's listener is closed (supervisor gone) it would accept one. So
	// seccomp(2) with that flag fails with EPERM, before any rule of the policy. (Our kill, errno and trap
	// answers cannot be overridden this way: they outrank USER_NOTIF.)
	notifyUsed := p.def.Kind == policy.ActNotify || p.unknown.Kind == policy.ActNotify
	for _, r := range s.Rules {
		notifyUsed = notifyUsed || r.Action.Kind == policy.ActNotify
	}
	if nr, ok := syscalls.Number(arch, "seccomp"); ok && notifyUsed {
		deny := policy.Action{Kind: policy.ActErrno, Errno: 1}
		perNr[nr] = append([]entry{{rule: -1, action: deny, conds: []policy.ArgCond{
			{Index: 1, Op: policy.OpMaskedEq, Mask: filterFlagNewListener, Value: filterFlagNewListener}}}}, perNr[nr]...)
		used[deny] = true
	}

	nrs := make([]int, 0, len(perNr))
	for nr := range perNr {
		nrs = append(nrs, nr)
	}
	sort.Ints(nrs)
	for _, nr := range nrs {
		name, _ := syscalls.Name(arch, nr)
		var block []condRule
		conditional := false
		for _, e := range perNr[nr] {
			block = append(block, condRule{Rule: e.rule, Action: e.action, Conds: e.conds})
			used[e.action] = true
			if len(e.conds) == 0 {
				break // first match decides: later rules for this syscall are unreachable
			}
			conditional = true
		}
		switch {
		case conditional:
			p.special = append(p.special, special{Nr: nr, Name: name, Rules: block, Default: p.def})
		case block[0].Action != p.def:
			p.rules = append(p.rules, lsRule{Nr: nr, Name: name, Action: block[0].Action})
		}
	}
	for a := range used {
		p.actions = append(p.actions, a)
		if a.Kind == policy.ActNotify {
			p.notify = true
		}
	}
	sort.Slice(p.actions, func(i, j int) bool { return FormatAction(p.actions[i]) < FormatAction(p.actions[j]) })
	return p, nil
}

// expand replaces "@group" names by their members (policy.Compile already does; a library caller may not).
func expand(names []string) []string {
	var out []string
	for _, n := range names {
		if members, ok := syscalls.Group(n); ok {
			out = append(out, members...)
		} else {
			out = append(out, n)
		}
	}
	return out
}

// Check validates a seccomp section the way Build does, without compiling it (pure Go, works without cgo):
// for `jailrun policy check` and other callers that want every problem before a run.
func Check(s policy.Seccomp) error {
	_, err := makePlan(s, syscalls.Native)
	return err
}
