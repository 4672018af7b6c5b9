package seccomp

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

var (
	allow        = policy.Action{Kind: policy.ActAllow}
	kill         = policy.Action{Kind: policy.ActKillProcess}
	eperm        = policy.Action{Kind: policy.ActErrno, Errno: 1}
	enosys       = policy.Action{Kind: policy.ActErrno, Errno: 38}
	eacces       = policy.Action{Kind: policy.ActErrno, Errno: 13}
	eafnosupport = policy.Action{Kind: policy.ActErrno, Errno: 97}
	trap         = policy.Action{Kind: policy.ActTrap}
	logA         = policy.Action{Kind: policy.ActLog}
	notify       = policy.Action{Kind: policy.ActNotify}
)

// nativeAudit is AUDIT_ARCH of this machine.
func nativeAudit(t testing.TB) uint32 {
	a, ok := AuditArch(syscalls.Native)
	if !ok {
		t.Skipf("no audit arch for %s", syscalls.Native)
	}
	return a
}

func nr(t testing.TB, name string) int {
	n, ok := syscalls.Number(syscalls.Native, name)
	if !ok {
		t.Fatalf("syscall %s unknown on %s", name, syscalls.Native)
	}
	return n
}

// shippedPolicy loads policies/NAME.json through the real policy parser and compiler.
func shippedPolicy(t testing.TB, name string) policy.Seccomp {
	t.Helper()
	s, err := policy.Load(filepath.Join("..", "policies", name+".json"))
	if err != nil {
		t.Fatalf("load policy %s: %v", name, err)
	}
	if !s.Seccomp.Enabled {
		t.Fatalf("policy %s has no seccomp section", name)
	}
	return s.Seccomp
}

func mustBuild(t testing.TB, s policy.Seccomp) *Program {
	t.Helper()
	p, err := Build(s)
	if errors.Is(err, ErrUnsupported) {
		t.Skipf("this build cannot compile filters: %v", err)
	}
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return p
}

func eval(t testing.TB, p *Program, name string, args ...uint64) policy.Action {
	t.Helper()
	var a [6]uint64
	copy(a[:], args)
	got, err := p.Evaluate(nativeAudit(t), nr(t, name), a)
	if err != nil {
		t.Fatalf("Evaluate(%s): %v", name, err)
	}
	return got
}
