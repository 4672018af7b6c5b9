package seccomp

import (
	"encoding/binary"
	"errors"
	"math/rand"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

func rule(action policy.Action, names []string, args ...policy.ArgCond) policy.SeccompRule {
	return policy.SeccompRule{Syscalls: names, Action: action, Args: args}
}

func cond(i uint, op policy.CmpOp, v uint64) policy.ArgCond {
	return policy.ArgCond{Index: i, Op: op, Value: v}
}

func masked(i uint, mask, v uint64) policy.ArgCond {
	return policy.ArgCond{Index: i, Op: policy.OpMaskedEq, Mask: mask, Value: v}
}

func allowlist(rules ...policy.SeccompRule) policy.Seccomp {
	return policy.Seccomp{Enabled: true, DefaultAction: eperm, Rules: rules}
}

func TestPrefix(t *testing.T) {
	if syscalls.Native != syscalls.AMD64 {
		t.Skip("the x32 and i386 cases are x86_64 specifics")
	}
	p := mustBuild(t, policy.Seccomp{Enabled: true, DefaultAction: allow})
	max := syscalls.Max(syscalls.Native)
	getpid := nr(t, "getpid")
	tests := []struct {
		name string
		arch uint32
		nr   int
		want policy.Action
	}{
		{"native getpid", auditArchX86_64, getpid, allow},
		{"i386 (int 0x80)", auditArchI386, 20, kill},
		{"i386 nr that is getpid on x86_64", auditArchI386, getpid, kill},
		{"aarch64", auditArchAArch64, getpid, kill},
		{"arch 0", 0, getpid, kill},
		{"x32 getpid", auditArchX86_64, x32SyscallBit | getpid, kill},
		{"x32 nr 0", auditArchX86_64, x32SyscallBit, kill},
		{"x32 top", auditArchX86_64, 0x7fffffff, kill},
		{"unknown 1000", auditArchX86_64, 1000, enosys},
		{"first unknown", auditArchX86_64, max + 1, enosys},
		{"last known", auditArchX86_64, max, allow},
		{"negative (-1)", auditArchX86_64, -1, enosys},
		{"below x32 range", auditArchX86_64, x32SyscallBit - 1, enosys},
	}
	for _, tt := range tests {
		got, err := p.Evaluate(tt.arch, tt.nr, [6]uint64{})
		if err != nil {
			t.Fatal(err)
		}
		if got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.name, FormatAction(got), FormatAction(tt.want))
		}
	}
}

func TestUnknownSyscallsAction(t *testing.T) {
	s := allowlist(rule(allow, []string{"getpid"}))
	s.UnknownSyscalls = eacces
	p := mustBuild(t, s)
	for _, n := range []int{1000, syscalls.Max(syscalls.Native) + 1} {
		got, _ := p.Evaluate(nativeAudit(t), n, [6]uint64{})
		if got != eacces {
			t.Errorf("nr %d: got %s, want errno(EACCES)", n, FormatAction(got))
		}
	}
	// A denylist does not let new syscalls through either: they are unknown to this build.
	d := mustBuild(t, policy.Seccomp{Enabled: true, DefaultAction: allow})
	if got, _ := d.Evaluate(nativeAudit(t), 1000, [6]uint64{}); got != enosys {
		t.Errorf("denylist, nr 1000: got %s, want errno(ENOSYS)", FormatAction(got))
	}
}

// Every syscall of jailrun's table, including those Debian's libseccomp 2.5.4 cannot name (mseal,
// listmount, ...), can be allowed by number.
func TestLibseccompAcceptsNewNumbers(t *testing.T) {
	names := syscalls.Names(syscalls.Native)
	p := mustBuild(t, allowlist(rule(allow, names)))
	for _, n := range names {
		if got := eval(t, p, n); got != allow {
			t.Errorf("%s (%d): got %s, want allow", n, nr(t, n), FormatAction(got))
		}
	}
	// And the other way round: an allowlist without them gives the default.
	q := mustBuild(t, allowlist(rule(allow, []string{"getpid"})))
	for _, n := range []string{"mseal", "listmount", "statmount", "lsm_list_modules", "cachestat"} {
		if got := eval(t, q, n); got != eperm {
			t.Errorf("%s: got %s, want errno(EPERM)", n, FormatAction(got))
		}
	}
}

func TestArgumentOps(t *testing.T) {
	const big = 1 << 40
	tests := []struct {
		name string
		c    policy.ArgCond
		in   map[uint64]bool // argument value → should match
	}{
		{"==", cond(2, policy.OpEq, 5), map[uint64]bool{5: true, 4: false, 6: false, 5 | big: false}},
		{"== 64-bit", cond(2, policy.OpEq, big|5), map[uint64]bool{big | 5: true, 5: false}},
		{"!=", cond(2, policy.OpNe, 5), map[uint64]bool{5: false, 4: true, 5 | big: true}},
		{"<", cond(2, policy.OpLt, 5), map[uint64]bool{0: true, 4: true, 5: false, 6: false, big: false}},
		{"<=", cond(2, policy.OpLe, 5), map[uint64]bool{4: true, 5: true, 6: false, big | 1: false}},
		{">", cond(2, policy.OpGt, 5), map[uint64]bool{5: false, 6: true, big: true, 0: false}},
		{">=", cond(2, policy.OpGe, 5), map[uint64]bool{4: false, 5: true, big: true}},
		{"> 64-bit", cond(2, policy.OpGt, big), map[uint64]bool{big: false, big + 1: true, 1 << 41: true, 7: false}},
		{"&=", masked(2, 0x0f, 0x05), map[uint64]bool{0x05: true, 0xf5: true, 0x04: false, 0x15: true, big | 5: true}},
		{"&= zero", masked(2, syscalls.CloneNSFlags, 0), map[uint64]bool{0x3d0f00: true, syscalls.CloneNewUser: false}},
		{"&= 64-bit mask", masked(2, big|1, big), map[uint64]bool{big: true, big | 1: false, 0: false}},
	}
	for _, tt := range tests {
		p := mustBuild(t, allowlist(rule(allow, []string{"getpid"}, tt.c)))
		for v, match := range tt.in {
			want := eperm
			if match {
				want = allow
			}
			if got := eval(t, p, "getpid", 0, 0, v); got != want {
				t.Errorf("%s: args[2]=%#x: got %s, want %s", tt.name, v, FormatAction(got), FormatAction(want))
			}
		}
	}
}

func TestEveryArgumentIndex(t *testing.T) {
	for i := uint(0); i < 6; i++ {
		p := mustBuild(t, allowlist(rule(allow, []string{"getpid"}, cond(i, policy.OpEq, 7))))
		var args [6]uint64
		if got := eval(t, p, "getpid", args[:]...); got != eperm {
			t.Errorf("index %d, arg 0: got %s", i, FormatAction(got))
		}
		args[i] = 7
		if got := eval(t, p, "getpid", args[:]...); got != allow {
			t.Errorf("index %d, arg 7: got %s", i, FormatAction(got))
		}
	}
}

func TestEveryGroup(t *testing.T) {
	for _, g := range syscalls.GroupNames() {
		members, _ := syscalls.Group(g)
		p := mustBuild(t, allowlist(rule(allow, []string{g})))
		in := map[string]bool{}
		for _, m := range members {
			in[m] = true
			if _, ok := syscalls.Number(syscalls.Native, m); !ok {
				continue
			}
			if got := eval(t, p, m); got != allow {
				t.Errorf("%s: member %s got %s, want allow", g, m, FormatAction(got))
			}
		}
		for _, other := range syscalls.Names(syscalls.Native) {
			if in[other] {
				continue
			}
			if got := eval(t, p, other); got != eperm {
				t.Errorf("%s: non-member %s got %s, want errno(EPERM)", g, other, FormatAction(got))
			}
		}
	}
}

func TestActions(t *testing.T) {
	for _, a := range []policy.Action{allow, kill, eperm, enosys, trap, logA, notify, {Kind: policy.ActKillThread}, {Kind: policy.ActErrno, Errno: 0}, {Kind: policy.ActErrno, Errno: 4094}} {
		def := eacces
		if a == eacces {
			def = allow
		}
		p := mustBuild(t, policy.Seccomp{Enabled: true, DefaultAction: def, Rules: []policy.SeccompRule{rule(a, []string{"getpid"})}})
		if got := eval(t, p, "getpid"); got != a {
			t.Errorf("action %s: got %s", FormatAction(a), FormatAction(got))
		}
		if got := eval(t, p, "getppid"); got != def {
			t.Errorf("action %s: default got %s", FormatAction(a), FormatAction(got))
		}
		if p.NeedsNotify() != (a == notify) {
			t.Errorf("action %s: NeedsNotify = %v", FormatAction(a), p.NeedsNotify())
		}
	}
}

// TestRuleOrder covers the ordered-rule shapes: first match decides, per syscall.
func TestRuleOrder(t *testing.T) {
	getpid := []string{"getpid"}
	type check struct {
		a0   uint64
		want policy.Action
	}
	tests := []struct {
		name   string
		s      policy.Seccomp
		checks []check
	}{
		{"conditional then unconditional",
			allowlist(rule(allow, getpid, cond(0, policy.OpEq, 1)), rule(kill, getpid)),
			[]check{{1, allow}, {2, kill}, {0, kill}}},
		{"unconditional shadows later rules",
			allowlist(rule(kill, getpid), rule(allow, getpid, cond(0, policy.OpEq, 1))),
			[]check{{1, kill}, {2, kill}}},
		{"disjoint conditions, different actions",
			allowlist(rule(allow, getpid, cond(0, policy.OpGt, 10)), rule(kill, getpid, cond(0, policy.OpLt, 5))),
			[]check{{11, allow}, {4, kill}, {7, eperm}}},
		{"same action merges",
			allowlist(rule(allow, getpid, cond(0, policy.OpEq, 1)), rule(allow, getpid, cond(1, policy.OpEq, 2))),
			[]check{{1, allow}, {0, eperm}}},
		{"conditional with the default action before another fallback",
			policy.Seccomp{Enabled: true, DefaultAction: allow, Rules: []policy.SeccompRule{
				rule(allow, []string{"clone"}, masked(0, syscalls.CloneNSFlags, 0)), rule(kill, []string{"clone"})}},
			nil},
		{"rule with the fallback action is dropped only when disjoint",
			allowlist(rule(kill, getpid, cond(0, policy.OpEq, 3)), rule(eperm, getpid, cond(0, policy.OpEq, 4)), rule(allow, getpid)),
			[]check{{3, kill}, {4, eperm}, {5, allow}}},
		{"overlapping conditions: the first rule wins",
			allowlist(rule(allow, getpid, cond(0, policy.OpGt, 1)), rule(kill, getpid, cond(0, policy.OpLt, 10))),
			[]check{{0, kill}, {1, kill}, {2, allow}, {10, allow}}},
		{"overlapping conditions on different arguments",
			allowlist(rule(kill, getpid, cond(0, policy.OpEq, 1)), rule(allow, getpid, cond(1, policy.OpEq, 0))),
			[]check{{1, kill}, {0, allow}, {2, allow}}},
		{"two conditions on one argument make a range",
			allowlist(rule(allow, getpid, cond(0, policy.OpGt, 1), cond(0, policy.OpLt, 10))),
			[]check{{1, eperm}, {2, allow}, {9, allow}, {10, eperm}, {1<<32 | 5, eperm}}},
		{"group then single syscall: the group wins",
			allowlist(rule(allow, []string{"@default"}), rule(kill, getpid)),
			[]check{{0, allow}}},
	}
	for _, tt := range tests {
		p := mustBuild(t, tt.s)
		for _, c := range tt.checks {
			if got := eval(t, p, "getpid", c.a0); got != c.want {
				t.Errorf("%s: getpid(%d) = %s, want %s", tt.name, c.a0, FormatAction(got), FormatAction(c.want))
			}
		}
		for _, c := range []struct {
			flags uint64
			want  policy.Action
		}{{0x3d0f00, allow}, {syscalls.CloneNewUser, kill}} {
			if tt.name == "conditional with the default action before another fallback" {
				if got := eval(t, p, "clone", c.flags); got != c.want {
					t.Errorf("%s: clone(%#x) = %s, want %s", tt.name, c.flags, FormatAction(got), FormatAction(c.want))
				}
			}
		}
	}
}

func TestBuildRejects(t *testing.T) {
	getpid := []string{"getpid"}
	tests := []struct {
		name    string
		s       policy.Seccomp
		setting string
		msg     string
	}{
		{"index out of range", allowlist(rule(allow, getpid, cond(6, policy.OpEq, 1))), "seccomp.rules[0].args[0]", "out of range"},
		{"unknown op", allowlist(rule(allow, getpid, policy.ArgCond{Op: "=~"})), "seccomp.rules[0].args[0]", "unknown comparison"},
		{"masked value outside mask", allowlist(rule(allow, getpid, masked(0, 1, 2))), "seccomp.rules[0].args[0]", "never match"},
		{"unknown syscall", allowlist(rule(allow, []string{"frobnicate"})), "seccomp.rules[0]", "unknown syscall"},
		{"empty rule", allowlist(rule(allow, nil)), "seccomp.rules[0]", "names no syscall"},
		{"no default", policy.Seccomp{Enabled: true}, "seccomp.default_action", "not set"},
		{"bad action", allowlist(rule(policy.Action{Kind: "trace"}, getpid)), "seccomp.rules[0].action", "unknown action"},
		{"errno too big", allowlist(rule(policy.Action{Kind: policy.ActErrno, Errno: 4095}, getpid)), "seccomp.rules[0].action", "largest errno"},
		{"disabled", policy.Seccomp{}, "seccomp", "disabled"},
	}
	for _, tt := range tests {
		_, err := Build(tt.s)
		var pe *PolicyError
		if !errors.As(err, &pe) {
			t.Errorf("%s: got %v, want a PolicyError", tt.name, err)
			continue
		}
		if pe.Setting != tt.setting || !strings.Contains(err.Error(), tt.msg) {
			t.Errorf("%s: got %q (setting %q), want setting %q and %q", tt.name, err, pe.Setting, tt.setting, tt.msg)
		}
		if strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error is not one line: %q", tt.name, err)
		}
	}
}

// reference is the policy semantics written as plainly as possible: the compiled filter must agree.
func reference(s policy.Seccomp, arch uint32, n int, args [6]uint64) policy.Action {
	native, _ := AuditArch(syscalls.Native)
	if arch != native {
		return kill
	}
	if syscalls.Native == syscalls.AMD64 && n >= x32SyscallBit && n < 0x80000000 {
		return kill
	}
	unknown := s.UnknownSyscalls
	if unknown.Kind == "" {
		unknown = DefaultUnknownAction
	}
	if n < 0 || n > syscalls.Max(syscalls.Native) {
		return unknown
	}
	name, _ := syscalls.Name(syscalls.Native, n)
	for _, r := range s.Rules {
		named := false
		for _, sc := range r.Syscalls {
			if sc == name {
				named = true
			}
		}
		if !named {
			continue
		}
		ok := true
		for _, c := range r.Args {
			a := args[c.Index]
			switch c.Op {
			case policy.OpEq:
				ok = ok && a == c.Value
			case policy.OpNe:
				ok = ok && a != c.Value
			case policy.OpLt:
				ok = ok && a < c.Value
			case policy.OpLe:
				ok = ok && a <= c.Value
			case policy.OpGt:
				ok = ok && a > c.Value
			case policy.OpGe:
				ok = ok && a >= c.Value
			case policy.OpMaskedEq:
				ok = ok && a&c.Mask == c.Value
			}
		}
		if ok {
			return r.Action
		}
	}
	return s.DefaultAction
}

// TestDifferential builds random policies over a few syscalls and checks the BPF program against the
// reference semantics on interesting argument values. Build must accept every one of them (all shapes are
// expressible) and be exact. This test is what found libseccomp 2.5.4's miscompilation of argument rules.
func TestDifferential(t *testing.T) {
	rng := rand.New(rand.NewSource(1))
	names := []string{"getpid", "getppid", "clone", "socket"}
	actions := []policy.Action{allow, kill, eperm, eacces, trap, logA}
	values := []uint64{0, 1, 2, 3, 5, 0x10, 0xff, 0xffffffff, 1 << 32, 1<<32 | 1, ^uint64(0)}
	ops := []policy.CmpOp{policy.OpEq, policy.OpNe, policy.OpLt, policy.OpLe, policy.OpGt, policy.OpGe, policy.OpMaskedEq}

	built := 0
	for iter := 0; iter < 400; iter++ {
		s := policy.Seccomp{Enabled: true, DefaultAction: actions[rng.Intn(len(actions))]}
		for r := rng.Intn(5) + 1; r > 0; r-- {
			var sr policy.SeccompRule
			sr.Syscalls = []string{names[rng.Intn(len(names))]}
			if rng.Intn(3) == 0 {
				sr.Syscalls = append(sr.Syscalls, names[rng.Intn(len(names))])
			}
			sr.Action = actions[rng.Intn(len(actions))]
			for c := rng.Intn(4); c > 0; c-- {
				idx := uint(rng.Intn(2))
				op := ops[rng.Intn(len(ops))]
				ac := policy.ArgCond{Index: idx, Op: op, Value: values[rng.Intn(len(values))]}
				if op == policy.OpMaskedEq {
					ac.Mask = values[rng.Intn(len(values))]
					ac.Value &= ac.Mask
				}
				sr.Args = append(sr.Args, ac)
			}
			s.Rules = append(s.Rules, sr)
		}
		p := mustBuild(t, s)
		built++
		for _, name := range names {
			for _, a0 := range values {
				for _, a1 := range []uint64{0, 1, 5, 1 << 32, ^uint64(0)} {
					args := [6]uint64{a0, a1}
					got, err := p.Evaluate(nativeAudit(t), nr(t, name), args)
					if err != nil {
						t.Fatal(err)
					}
					if want := reference(s, nativeAudit(t), nr(t, name), args); got != want {
						t.Fatalf("policy %+v\n%s(%#x, %#x): filter says %s, policy says %s\n%s", s, name, a0, a1, FormatAction(got), FormatAction(want), p.Disassemble())
					}
				}
			}
		}
	}
	t.Logf("%d random policies built and matched the reference", built)
}

func TestBytes(t *testing.T) {
	p := mustBuild(t, shippedPolicy(t, "strict"))
	b := p.Bytes()
	insns := p.Instructions()
	if len(b) != 8*len(insns) {
		t.Fatalf("Bytes: %d bytes for %d instructions", len(b), len(insns))
	}
	for i, in := range insns {
		c := b[8*i:]
		if binary.NativeEndian.Uint16(c) != in.Code || c[2] != in.Jt || c[3] != in.Jf || binary.NativeEndian.Uint32(c[4:]) != in.K {
			t.Fatalf("instruction %d differs between Bytes and Instructions", i)
		}
	}
	// Instructions and Bytes hand out copies: a caller cannot weaken a shared (cached) program.
	insns[0].K = 0
	b[0] = 0xff
	if p.Instructions()[0].K == 0 || p.Bytes()[0] == 0xff {
		t.Fatal("Instructions/Bytes expose the program's own memory")
	}
}

func TestDisassemble(t *testing.T) {
	p := mustBuild(t, shippedPolicy(t, "strict"))
	d := p.Disassemble()
	for _, want := range []string{"; arch", "kill_process", "errno(ENOSYS)", "errno(EPERM)", "allow", "; ioctl", "args[1] (low 32 bits)"} {
		if !strings.Contains(d, want) {
			t.Errorf("disassembly lacks %q", want)
		}
	}
	if n := strings.Count(d, "\n"); n < p.Len() {
		t.Errorf("disassembly has %d lines for %d instructions", n, p.Len())
	}
}

// With notify in the filter, the program cannot install a listener of its own (which could answer
// CONTINUE for calls routed to jailrun's supervisor); without notify, seccomp(2) is left to the policy.
func TestNotifyBlocksNestedListener(t *testing.T) {
	s := policy.Seccomp{Enabled: true, DefaultAction: allow, Rules: []policy.SeccompRule{
		rule(notify, []string{"ptrace"}),
		rule(allow, []string{"seccomp"}),
	}}
	p := mustBuild(t, s)
	const setModeFilter, tsync, newListener = 1, 1, 8
	if got := eval(t, p, "seccomp", setModeFilter, newListener); got != eperm {
		t.Errorf("seccomp(SET_MODE_FILTER, NEW_LISTENER) under a notify filter = %s, want errno(EPERM)", FormatAction(got))
	}
	if got := eval(t, p, "seccomp", setModeFilter, newListener|tsync); got != eperm {
		t.Errorf("seccomp(SET_MODE_FILTER, NEW_LISTENER|TSYNC) = %s, want errno(EPERM)", FormatAction(got))
	}
	if got := eval(t, p, "seccomp", setModeFilter, tsync); got != allow {
		t.Errorf("seccomp(SET_MODE_FILTER, TSYNC) = %s, want allow (the policy's rule)", FormatAction(got))
	}
	s.Rules[0].Action = kill
	if got := eval(t, mustBuild(t, s), "seccomp", setModeFilter, newListener); got != allow {
		t.Errorf("without notify, seccomp(NEW_LISTENER) = %s, want the policy's allow", FormatAction(got))
	}
}

func TestCheck(t *testing.T) {
	if err := Check(shippedPolicy(t, "strict")); err != nil {
		t.Errorf("Check(strict): %v", err)
	}
	var pe *PolicyError
	if err := Check(allowlist(rule(policy.Action{Kind: policy.ActErrno, Errno: 4095}, []string{"getpid"}))); !errors.As(err, &pe) {
		t.Errorf("Check(errno 4095): %v, want a PolicyError", err)
	}
}

func TestForeignABIOption(t *testing.T) {
	if syscalls.Native != syscalls.AMD64 {
		t.Skip("x86_64 ABIs")
	}
	s := allowlist(rule(allow, []string{"getpid"}))
	p, err := BuildWith(s, Options{ForeignABI: notify})
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		arch uint32
		nr   int
	}{{auditArchI386, 20}, {auditArchX86_64, x32SyscallBit | 39}, {auditArchAArch64, 172}} {
		if got, _ := p.Evaluate(c.arch, c.nr, [6]uint64{}); got != notify {
			t.Errorf("arch %s nr %#x: %s, want notify", ArchName(c.arch), c.nr, FormatAction(got))
		}
	}
	if !p.NeedsNotify() {
		t.Error("a foreign-ABI notify program must say NeedsNotify")
	}
	if got := eval(t, p, "getpid"); got != allow {
		t.Errorf("native getpid: %s", FormatAction(got))
	}
	for _, bad := range []policy.Action{allow, logA, eperm} {
		var pe *PolicyError
		if _, err := BuildWith(s, Options{ForeignABI: bad}); !errors.As(err, &pe) {
			t.Errorf("ForeignABI %s: %v, want a PolicyError", FormatAction(bad), err)
		}
	}
	a, _ := BuildCachedWith(s, Options{})
	b, _ := BuildCachedWith(s, Options{ForeignABI: notify})
	if a == b {
		t.Error("the cache ignores Options")
	}
}
