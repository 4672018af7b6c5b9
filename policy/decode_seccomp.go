package policy

import (
	"fmt"
	"strconv"
	"strings"
	"sync"

	"github.com/jailrun/jailrun/seccomp/syscalls"
)

var actionNames = []string{"allow", "errno(N)", "kill_process", "kill_thread", "trap", "log", "notify"}

// parseAction understands "allow", "kill_process", "errno(EPERM)", "errno(13)"... It returns a problem
// message or "".
func parseAction(s string) (Action, string) {
	switch ActionKind(s) {
	case ActAllow, ActKillProcess, ActKillThread, ActTrap, ActLog, ActNotify:
		return Action{Kind: ActionKind(s)}, ""
	}
	if arg, ok := strings.CutPrefix(s, "errno("); ok && strings.HasSuffix(arg, ")") {
		arg = strings.TrimSuffix(arg, ")")
		if n, err := strconv.ParseUint(arg, 10, 16); err == nil && (arg == "0" || arg[0] != '0') {
			if n > maxErrno {
				return Action{}, fmt.Sprintf("%q: errno %d is above the maximum of %d", s, n, maxErrno)
			}
			return Action{Kind: ActErrno, Errno: uint16(n)}, ""
		}
		if v, ok := errnoByName(arg); ok {
			return Action{Kind: ActErrno, Errno: v}, ""
		}
		return Action{}, fmt.Sprintf("%q: %q is not an errno number (0..%d) or a known errno name such as EPERM", s, arg, maxErrno)
	}
	return Action{}, unknownMsg("action", s, actionNames)
}

func (d *decoder) action(n *node, path string) Field[ActionSpec] {
	f, ok := d.str(n, path, 64)
	if !ok {
		return Field[ActionSpec]{}
	}
	a, msg := parseAction(f.Value)
	if msg != "" {
		d.errs.add(n, path, msg)
		return Field[ActionSpec]{}
	}
	return set(ActionSpec{Text: f.Value, Action: a}, f.Pos)
}

var cmpOps = []string{"==", "!=", "<", "<=", ">", ">=", "&="}

func (d *decoder) seccomp(n *node, path string) *SeccompSpec {
	s := &SeccompSpec{Pos: n.pos}
	ok := d.obj(n, path, []field{
		{"default_action", func(v *node, path string) { s.DefaultAction = d.action(v, path) }},
		{"unknown_syscalls", func(v *node, path string) {
			if v.kind == kindString && v.str == "enosys" {
				s.UnknownSyscalls = set(ActionSpec{Text: "enosys", Action: Action{Kind: ActErrno, Errno: 38}}, v.pos)
				return
			}
			s.UnknownSyscalls = d.action(v, path)
		}},
		{"rules", func(v *node, path string) {
			d.array(v, path, MaxRules, func(el *node, p string) {
				if r, ok := d.rule(el, p); ok {
					s.Rules = append(s.Rules, r)
				}
			})
		}},
	})
	if !ok {
		return nil
	}
	return s
}

func (d *decoder) rule(n *node, path string) (RuleSpec, bool) {
	r := RuleSpec{Pos: n.pos, path: path}
	ok := d.obj(n, path, []field{
		{"syscalls", func(v *node, path string) {
			r.Syscalls = d.uniqueStrings(v, path, MaxRuleNames, 64, checkSyscallName)
			if v.kind == kindArray && len(v.arr) == 0 {
				d.errs.add(v, path, "is empty (name at least one syscall or @group)")
			}
		}},
		{"action", func(v *node, path string) { r.Action = d.action(v, path) }},
		{"args", func(v *node, path string) {
			d.array(v, path, MaxArgs, func(el *node, p string) {
				if a, ok := d.arg(el, p); ok {
					r.Args = append(r.Args, a)
				}
			})
		}},
		{"comment", func(v *node, path string) {
			if f, ok := d.str(v, path, maxStringLen); ok {
				r.Comment = f
			}
		}},
	})
	if !ok {
		return r, false
	}
	for _, k := range []string{"syscalls", "action"} {
		if n.member(k) == nil {
			d.errs.add(n, path+"."+k, "required in a seccomp rule")
		}
	}
	return r, true
}

// nativeNames is the sorted syscall table, for suggestions; computed once.
var nativeNames = sync.OnceValue(func() []string { return syscalls.Names(syscalls.Native) })

func checkSyscallName(s string) string {
	if strings.HasPrefix(s, "@") {
		if !syscalls.IsGroup(s) {
			return unknownMsg("syscall group", s, syscalls.GroupNames())
		}
		return ""
	}
	if !syscalls.Known(s) {
		msg := fmt.Sprintf("unknown syscall %q", s)
		if c := closest(s, nativeNames()); c != "" {
			msg += fmt.Sprintf(" (did you mean %q?)", c)
		}
		return msg
	}
	return ""
}

func (d *decoder) arg(n *node, path string) (ArgSpec, bool) {
	a := ArgSpec{Pos: n.pos}
	ok := d.obj(n, path, []field{
		{"index", func(v *node, path string) { a.Index = d.integer(v, path, 0, 5) }},
		{"op", func(v *node, path string) {
			if f, ok := d.str(v, path, 8); ok {
				for _, op := range cmpOps {
					if op == f.Value {
						a.Op = set(CmpOp(op), f.Pos)
						return
					}
				}
				d.errs.add(v, path, fmt.Sprintf("unknown operator %q (allowed: %s)", f.Value, strings.Join(cmpOps, " ")))
			}
		}},
		{"value", func(v *node, path string) { a.Value = d.argValue(v, path) }},
		{"mask", func(v *node, path string) { a.Mask = d.argValue(v, path) }},
	})
	if !ok {
		return a, false
	}
	for _, k := range []string{"index", "op", "value"} {
		if n.member(k) == nil {
			d.errs.add(n, path+"."+k, "required in an argument condition")
		}
	}
	if a.Op.Set {
		masked := a.Op.Value == OpMaskedEq
		if mn := n.member("mask"); mn != nil && !masked {
			d.errs.add(mn, path+".mask", fmt.Sprintf("only the \"&=\" operator takes a mask, not %q", a.Op.Value))
		}
		if masked && n.member("mask") == nil {
			d.errs.add(n, path+".mask", "required with the \"&=\" operator ((arg & mask) == value)")
		}
		if masked && a.Mask.Set && a.Value.Set && a.Value.Value.Value&^a.Mask.Value.Value != 0 {
			d.errs.addAt(a.Value.Pos, path+".value", fmt.Sprintf("has bits outside the mask 0x%x, so the condition can never hold", a.Mask.Value.Value))
		}
	}
	return a, true
}

// argValue reads an operand: a JSON integer (negative values are two's complement, as the kernel passes
// them), a "0x" hex string, or a named constant such as "AF_UNIX".
func (d *decoder) argValue(n *node, path string) Field[ArgValue] {
	switch n.kind {
	case kindNumber:
		if !strings.ContainsAny(n.str, ".eE") {
			if u, err := strconv.ParseUint(n.str, 10, 64); err == nil {
				return set(ArgValue{Text: n.str, Value: u}, n.pos)
			}
			if i, err := strconv.ParseInt(n.str, 10, 64); err == nil {
				return set(ArgValue{Text: n.str, Value: uint64(i)}, n.pos)
			}
		}
		d.errs.add(n, path, fmt.Sprintf("%s is not a 64-bit integer", n.str))
	case kindString:
		if h, ok := strings.CutPrefix(n.str, "0x"); ok {
			if u, err := strconv.ParseUint(h, 16, 64); err == nil && h != "" && h[0] != '+' && h[0] != '-' {
				return set(ArgValue{Text: n.str, IsString: true, Value: u}, n.pos)
			}
			d.errs.add(n, path, fmt.Sprintf("%s is not a 64-bit hex number", describe(n)))
			return Field[ArgValue]{}
		}
		if v, ok := syscalls.Constant(n.str); ok {
			return set(ArgValue{Text: n.str, IsString: true, Value: v}, n.pos)
		}
		d.errs.add(n, path, fmt.Sprintf("%s is not a number, a \"0x\" hex string or a known constant such as \"AF_UNIX\"", describe(n)))
	default:
		d.errs.add(n, path, fmt.Sprintf("expected a number, a \"0x\" hex string or a constant name, got %s", describe(n)))
	}
	return Field[ArgValue]{}
}
