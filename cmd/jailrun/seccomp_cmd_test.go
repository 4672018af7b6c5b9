package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp"
)

func runExplain(t *testing.T, args ...string) (string, int) {
	t.Helper()
	explainBPF, explainSyscalls = false, nil
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	defer rootCmd.SetOut(nil)
	code := execute(append([]string{"policy", "explain"}, args...))
	return out.String(), code
}

func TestExplainSyscall(t *testing.T) {
	if _, err := seccomp.Build(mustStrict(t)); err != nil {
		t.Skipf("cannot build filters here: %v", err)
	}
	tests := []struct {
		policy, spec, want string
	}{
		{"strict", "ptrace", "action=kill_process"},
		{"strict", "ioctl 1 TIOCSTI", "action=kill_process"},
		{"strict", "ioctl 1 TCGETS", "action=allow"},
		{"strict", "socket AF_INET 1 0", "action=errno(EAFNOSUPPORT)"},
		{"strict", "clone CLONE_NEWUSER|17", "action=kill_process"},
		{"strict", "clone3", "action=errno(ENOSYS)"},
		{"strict", "1000", "action=errno(ENOSYS)"},
		{"strict", "x32:getpid", "action=kill_process"},
		{"strict", "setuid 0", "action=errno(EPERM)"},
		{"network-loopback", "socket AF_INET6 1 0", "action=allow"},
	}
	for _, tt := range tests {
		out, code := runExplain(t, tt.policy, "--syscall", tt.spec)
		if code != 0 || !strings.Contains(out, tt.want) {
			t.Errorf("explain %s --syscall %q: code %d, output %q, want %q", tt.policy, tt.spec, code, out, tt.want)
		}
	}
}

func TestExplainBPF(t *testing.T) {
	if _, err := seccomp.Build(mustStrict(t)); err != nil {
		t.Skipf("cannot build filters here: %v", err)
	}
	out, code := runExplain(t, "strict", "--bpf")
	if code != 0 || !strings.Contains(out, "ret #0x80000000") || !strings.Contains(out, "; arch") {
		t.Errorf("explain --bpf: code %d, output starts %q", code, out[:min(len(out), 200)])
	}
}

func TestExplainSyscallBadSpec(t *testing.T) {
	if _, code := runExplain(t, "strict", "--syscall", "frobnicate"); code != exitUsage {
		t.Errorf("unknown syscall: exit %d, want %d", code, exitUsage)
	}
	if _, code := runExplain(t, "strict", "--syscall", "ioctl 1 NOT_A_CONSTANT"); code != exitUsage {
		t.Errorf("unknown constant: exit %d, want %d", code, exitUsage)
	}
}

func mustStrict(t *testing.T) policy.Seccomp {
	t.Helper()
	s, err := policy.Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	return s.Seccomp
}
