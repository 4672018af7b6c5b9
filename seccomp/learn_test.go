package seccomp

import (
	"fmt"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
)

func TestSuggest(t *testing.T) {
	sug, err := Suggest(Observation{
		Syscalls:       []string{"read", "write", "openat", "clone", "clone3", "socket", "connect", "ioctl", "ptrace", "getdents64"},
		SocketFamilies: []uint64{1, 2, 1},
	})
	if err != nil {
		t.Fatal(err)
	}
	// The suggestion must be a valid policy section: parse and compile it with the real policy code.
	doc := `{"version": 1, "name": "learned", "seccomp": ` + string(sug.JSON) + `}`
	p, err := policy.Parse([]byte(doc), "learned.json")
	if err != nil {
		t.Fatalf("suggestion does not parse: %v\n%s", err, sug.JSON)
	}
	s, err := policy.Compile(p)
	if err != nil {
		t.Fatalf("suggestion does not compile: %v\n%s", err, sug.JSON)
	}
	prog := mustBuild(t, s.Seccomp)
	for _, tt := range []struct {
		name string
		args []uint64
		want policy.Action
	}{
		{"read", nil, allow}, {"getdents64", nil, allow}, {"execve", nil, allow}, {"connect", nil, allow},
		{"ptrace", nil, kill}, {"mount", nil, kill},
		{"clone", []uint64{0x3d0f00}, allow}, {"clone", []uint64{0x10000000}, kill}, {"clone3", nil, enosys},
		{"socket", []uint64{1}, allow}, {"socket", []uint64{2}, allow}, {"socket", []uint64{10}, eafnosupport},
		{"ioctl", []uint64{0, 0x5412}, kill}, {"ioctl", []uint64{0, 0x5401}, allow},
	} {
		if got := eval(t, prog, tt.name, tt.args...); got != tt.want {
			t.Errorf("learned policy: %s%v = %s, want %s", tt.name, tt.args, FormatAction(got), FormatAction(tt.want))
		}
	}
	joined := strings.Join(sug.Warnings, "\n")
	for _, w := range []string{"ptrace was used", "clone3 was used", "AF_INET"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings lack %q: %q", w, sug.Warnings)
		}
	}
	if _, err := Suggest(Observation{Syscalls: []string{"frob"}}); err == nil {
		t.Error("an unknown syscall was accepted")
	}
}

// TestSuggestExtends: the learned rules, placed before strict's as extends does, allow exactly the calls
// seen: by number where strict decides by number, by the tested argument values where strict decides by
// argument (compared on the low 32 bits where strict only masks those), and nothing else changes.
func TestSuggestExtends(t *testing.T) {
	base, err := policy.Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	sug, err := SuggestExtends(base.Seccomp, []ObservedCall{
		{Syscall: "ptrace", Args: [6]uint64{1, 2, 3}},
		{Syscall: "setuid", Args: [6]uint64{1000}},
		{Syscall: "socket", Args: [6]uint64{2, 1, 0}},
		{Syscall: "socket", Args: [6]uint64{0x100000002, 2, 0}}, // the same family for strict: one rule
		{Syscall: "clone", Args: [6]uint64{0x10000000 | 17, 0xdead}, BaseAction: "kill_process"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(sug.JSON), `"AF_INET"`); n != 1 {
		t.Errorf("want one rule for AF_INET, got %d:\n%s", n, sug.JSON)
	}
	doc := `{"version": 1, "name": "learned", "extends": "strict", "seccomp": ` + string(sug.JSON) + `}`
	p, err := policy.Parse([]byte(doc), "learned.json")
	if err != nil {
		t.Fatalf("does not parse: %v\n%s", err, sug.JSON)
	}
	s, err := policy.Compile(p)
	if err != nil {
		t.Fatalf("does not compile: %v\n%s", err, sug.JSON)
	}
	prog := mustBuild(t, s.Seccomp)
	for _, tt := range []struct {
		name string
		args []uint64
		want policy.Action
	}{
		{"ptrace", []uint64{16}, allow}, {"setuid", []uint64{0}, allow}, {"read", nil, allow},
		{"socket", []uint64{2}, allow}, {"socket", []uint64{1}, allow}, {"socket", []uint64{10}, eafnosupport},
		{"clone", []uint64{0x10000000 | 17}, allow}, {"clone", []uint64{0x40000000 | 17}, kill}, {"clone", []uint64{17}, allow},
		{"mount", nil, kill}, {"setgid", nil, policy.Action{Kind: policy.ActErrno, Errno: 1}},
	} {
		if got := eval(t, prog, tt.name, tt.args...); got != tt.want {
			t.Errorf("learned policy: %s%v = %s, want %s", tt.name, tt.args, FormatAction(got), FormatAction(tt.want))
		}
	}
	joined := strings.Join(sug.Warnings, "\n")
	for _, w := range []string{"ptrace crosses", "clone: the base policy treats it as a violation (kill_process)"} {
		if !strings.Contains(joined, w) {
			t.Errorf("warnings lack %q: %q", w, sug.Warnings)
		}
	}
	if _, err := SuggestExtends(base.Seccomp, []ObservedCall{{Syscall: "frob"}}); err == nil {
		t.Error("an unknown syscall was accepted")
	}
}

func TestArgsTested(t *testing.T) {
	base, _ := policy.Builtin("strict")
	got := ArgsTested(base.Seccomp)
	for name, want := range map[string][]TestedArg{
		"socket": {{0, true}}, "ioctl": {{1, true}}, "clone": {{0, true}}, "personality": {{0, true}},
	} {
		if fmt.Sprint(got[name]) != fmt.Sprint(want) {
			t.Errorf("%s: %v, want %v", name, got[name], want)
		}
	}
	if _, ok := got["read"]; ok {
		t.Error("read has no argument rule")
	}
	mixed := policy.Seccomp{Rules: []policy.SeccompRule{
		{Syscalls: []string{"kill"}, Action: allow, Args: []policy.ArgCond{{Index: 1, Op: policy.OpMaskedEq, Mask: 0xff, Value: 1}}},
		{Syscalls: []string{"kill"}, Action: allow, Args: []policy.ArgCond{{Index: 1, Op: policy.OpLt, Value: 5}}},
	}}
	if g := ArgsTested(mixed)["kill"]; len(g) != 1 || g[0].Low32 {
		t.Errorf("an unmasked comparison makes all 64 bits count: %v", g)
	}
	if v := TestedValues([]TestedArg{{1, true}, {2, false}}, [6]uint64{9, 0x100000005, 0x100000007}); v != [6]uint64{0, 5, 0x100000007} {
		t.Errorf("TestedValues: %#x", v)
	}
}
