package seccomp

import (
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
