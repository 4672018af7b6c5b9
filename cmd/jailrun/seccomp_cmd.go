package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp"
)

// `jailrun policy explain --bpf` and `--syscall`: show the compiled seccomp filter and what it does to
// given syscalls. Both run the real compiler and evaluate the real BPF program (in a BPF interpreter), so
// they answer what the kernel will do, not what the policy meant.

var (
	explainBPF      bool
	explainSyscalls []string
)

func addExplainSeccompFlags() {
	f := policyExplainCmd.Flags()
	f.BoolVar(&explainBPF, "bpf", false, "print the compiled seccomp BPF program, annotated, instead of the explanation")
	f.StringArrayVar(&explainSyscalls, "syscall", nil, `evaluate a syscall against the compiled filter: "NAME [ARG...]", e.g. "ioctl 1 TIOCSTI", "socket AF_INET 1 0", "1000", "x32:getpid", "i386:20" (repeatable)`)
	explainExtensions = append(explainExtensions, explainSeccomp)
}

func explainSeccomp(cmd *cobra.Command, s *policy.Settings, out io.Writer) (bool, error) {
	if !explainBPF && len(explainSyscalls) == 0 {
		return false, nil
	}
	if !s.Seccomp.Enabled {
		return true, fail(exitPolicy, "policy %s has no seccomp filter", s.Name)
	}
	// Parse every spec first: a typo is a usage error, whatever the policy.
	specs := make([]seccomp.SyscallSpec, 0, len(explainSyscalls))
	for _, raw := range explainSyscalls {
		sp, err := seccomp.ParseSyscallSpec(raw)
		if err != nil {
			return true, fail(exitUsage, "--syscall: %v", err)
		}
		specs = append(specs, sp)
	}
	prog, err := seccomp.BuildCached(s.Seccomp)
	if err != nil {
		var pe *seccomp.PolicyError
		switch {
		case errors.As(err, &pe):
			return true, fail(exitPolicy, "%v", err)
		case errors.Is(err, seccomp.ErrUnsupported):
			return true, fail(exitUnsupported, "%v", err)
		}
		return true, fail(exitInternal, "%v", err)
	}
	if explainBPF {
		if _, err := io.WriteString(out, prog.Disassemble()); err != nil {
			return true, err
		}
	}
	for _, sp := range specs {
		v, ret, err := prog.EvaluateSpec(sp)
		if err != nil {
			return true, fail(exitInternal, "%v", err)
		}
		action := fmt.Sprintf("%#08x", ret)
		if a, err := seccomp.DecodeRet(ret); err == nil {
			action = seccomp.FormatAction(a)
		}
		name := v.Syscall
		if name == "" {
			name = "?"
		}
		if _, err := fmt.Fprintf(out, "%s nr=%d arch=%s args=%#x action=%s\n", name, v.Nr, v.Arch, v.Args, action); err != nil {
			return true, err
		}
	}
	return true, nil
}
