package seccomp

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// SyscallSpec is one syscall to evaluate against a program, as written on a command line:
//
//	NAME [ARG...]        "ioctl 1 TIOCSTI", "socket AF_INET SOCK_STREAM 0", "mseal"
//	NUMBER [ARG...]      "1000": a raw number on the native architecture
//	x32:NAME [ARG...]    the x32 ABI number of NAME (x86_64 only)
//	i386:NUMBER [ARG...] a number on the i386 ABI (int 0x80)
//
// Arguments are decimal, 0x-hex, negative (two's complement) or named constants such as AF_INET.
type SyscallSpec struct {
	Arch uint32
	Nr   int
	Name string
	Args [6]uint64
}

// ParseSyscallSpec parses a SyscallSpec for the native architecture.
func ParseSyscallSpec(spec string) (SyscallSpec, error) {
	fields := strings.Fields(strings.NewReplacer(",", " ", "(", " ", ")", " ").Replace(spec))
	if len(fields) == 0 {
		return SyscallSpec{}, fmt.Errorf("empty syscall spec")
	}
	if len(fields) > 7 {
		return SyscallSpec{}, fmt.Errorf("%q: at most 6 arguments", spec)
	}
	native, ok := AuditArch(syscalls.Native)
	if !ok {
		return SyscallSpec{}, fmt.Errorf("%w: no audit architecture for %s", ErrUnsupported, syscalls.Native)
	}
	s := SyscallSpec{Arch: native}
	name := fields[0]
	prefix, rest, hasPrefix := strings.Cut(name, ":")
	if hasPrefix {
		name = rest
	}
	switch {
	case !hasPrefix:
	case prefix == "x32" && syscalls.Native == syscalls.AMD64:
		s.Nr = x32SyscallBit
	case prefix == "i386" && syscalls.Native == syscalls.AMD64:
		s.Arch = auditArchI386
	default:
		return SyscallSpec{}, fmt.Errorf("%q: unknown ABI prefix %q (x32: and i386: on x86_64)", spec, prefix)
	}
	if n, err := strconv.ParseInt(name, 0, 32); err == nil {
		s.Nr += int(n)
		if s.Arch == native {
			s.Name, _ = syscalls.Name(syscalls.Native, s.Nr&^x32SyscallBit)
		}
	} else if s.Arch != native {
		return SyscallSpec{}, fmt.Errorf("%q: give a number for a foreign ABI (jailrun has no %s table)", spec, ArchName(s.Arch))
	} else if nr, ok := syscalls.Number(syscalls.Native, name); ok {
		s.Nr += nr
		s.Name = name
	} else {
		return SyscallSpec{}, fmt.Errorf("%q: unknown syscall %q on %s", spec, name, syscalls.Native)
	}
	for i, a := range fields[1:] {
		v, err := parseArg(a)
		if err != nil {
			return SyscallSpec{}, fmt.Errorf("%q: argument %d: %w", spec, i, err)
		}
		s.Args[i] = v
	}
	return s, nil
}

func parseArg(a string) (uint64, error) {
	if v, err := strconv.ParseUint(a, 0, 64); err == nil {
		return v, nil
	}
	if v, err := strconv.ParseInt(a, 0, 64); err == nil {
		return uint64(v), nil
	}
	// "A|B" ORs constants and numbers: "CLONE_NEWUSER|SIGCHLD"-style flag sets.
	if strings.Contains(a, "|") {
		var v uint64
		for _, part := range strings.Split(a, "|") {
			x, err := parseArg(part)
			if err != nil {
				return 0, err
			}
			v |= x
		}
		return v, nil
	}
	if v, ok := syscalls.Constant(a); ok {
		return v, nil
	}
	return 0, fmt.Errorf("%q is not a number or a known constant", a)
}

// EvaluateSpec runs the program on a parsed spec.
func (p *Program) EvaluateSpec(s SyscallSpec) (Violation, uint32, error) {
	ret, err := p.Run(s.Arch, s.Nr, s.Args)
	return NewViolation(s.Arch, s.Nr, s.Args), ret, err
}
