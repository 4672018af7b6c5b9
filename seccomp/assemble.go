package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// ErrUnsupported is returned when this build or host cannot compile a seccomp filter at all (no cgo, no
// libseccomp, not Linux). Callers fail closed on it.
var ErrUnsupported = errors.New("unsupported: seccomp needs cgo and libseccomp on Linux")

func parseSockFilters(raw []byte) ([]SockFilter, error) {
	if len(raw) == 0 || len(raw)%8 != 0 {
		return nil, fmt.Errorf("seccomp: program of %d bytes is not a whole number of instructions", len(raw))
	}
	out := make([]SockFilter, len(raw)/8)
	for i := range out {
		b := raw[8*i:]
		out[i] = SockFilter{Code: binary.NativeEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.NativeEndian.Uint32(b[4:])}
	}
	return out, nil
}

func stmt(code uint16, k uint32) SockFilter { return SockFilter{Code: code, K: k} }
func jump(code uint16, k uint32, jt, jf uint8) SockFilter {
	return SockFilter{Code: code, Jt: jt, Jf: jf, K: k}
}

// prefix is jailrun's own head of every filter (the idea of runc's patchbpf):
//
//	ld arch; if arch != native → KILL_PROCESS       (i386 via int 0x80, arm32 compat, ...)
//	ld nr;   if nr <= max(table) → libseccomp part
//	         if 0x40000000 <= nr < 0x80000000 → KILL_PROCESS (x32 ABI, x86_64 only)
//	         else → the unknown-syscall action       (newer than this build: ENOSYS so libc falls back)
//
// Negative numbers (syscall(-1)) count as unknown: the kernel itself answers them with ENOSYS.
func prefix(arch syscalls.Arch, max int, unknownRet, foreignRet uint32) ([]SockFilter, error) {
	audit, ok := AuditArch(arch)
	if !ok {
		return nil, fmt.Errorf("%w: no audit architecture for %s", ErrUnsupported, arch)
	}
	ld := uint16(bpfLD | bpfW | bpfABS)
	jeq := uint16(bpfJMP | bpfJEQ | bpfK)
	jgt := uint16(bpfJMP | bpfJGT | bpfK)
	jge := uint16(bpfJMP | bpfJGE | bpfK)
	ret := uint16(bpfRET | bpfK)
	p := []SockFilter{
		stmt(ld, offArch),
		jump(jeq, audit, 1, 0),
		stmt(ret, foreignRet),
		stmt(ld, offNr),
	}
	if arch == syscalls.AMD64 {
		p = append(p,
			jump(jgt, uint32(max), 0, 4), // → libseccomp part (after the 4 instructions below)
			jump(jge, x32SyscallBit, 0, 2),
			jump(jge, 0x80000000, 1, 0),
			stmt(ret, foreignRet),
			stmt(ret, unknownRet),
		)
	} else {
		p = append(p,
			jump(jgt, uint32(max), 0, 1),
			stmt(ret, unknownRet),
		)
	}
	return p, nil
}

// assemble puts jailrun's prefix in front of the libseccomp body, with a dispatch to each special
// syscall's block in between:
//
//	jeq #nr jt +1 jf +0 ; ja +len(block) ; block...
//
// Every path of a block ends in a return and BPF jumps are relative and forward only, so the libseccomp
// program runs unchanged after them. A still holds nr when a dispatch is skipped.
func assemble(p *plan, body []SockFilter, o Options) (*Program, error) {
	unknownRet, err := EncodeAction(p.unknown)
	if err != nil {
		return nil, &PolicyError{Setting: "seccomp.unknown_syscalls", Err: err}
	}
	foreignRet, err := o.foreignRet()
	if err != nil {
		return nil, err
	}
	head, err := prefix(p.arch, p.max, unknownRet, foreignRet)
	if err != nil {
		return nil, err
	}
	insns := head
	for _, sp := range p.special {
		block, err := syscallBlock(sp)
		if err != nil {
			return nil, err
		}
		insns = append(insns,
			jump(bpfJMP|bpfJEQ|bpfK, uint32(sp.Nr), 1, 0),
			stmt(bpfJMP|bpfJA, uint32(len(block))))
		insns = append(insns, block...)
	}
	insns = append(insns, body...)
	if len(insns) > maxInstructions {
		return nil, &PolicyError{Setting: "seccomp", Err: fmt.Errorf("the compiled filter has %d instructions; the kernel accepts at most %d: use fewer argument rules", len(insns), maxInstructions)}
	}
	actions, notify := p.actions, p.notify
	if foreign, _ := DecodeRet(foreignRet); !containsAction(actions, foreign) {
		actions = append(append([]policy.Action(nil), actions...), foreign)
		notify = notify || foreign.Kind == policy.ActNotify
	}
	return &Program{insns: insns, arch: p.arch, prefixLen: len(insns) - len(body), notify: notify, actions: actions}, nil
}

func containsAction(as []policy.Action, a policy.Action) bool {
	for _, x := range as {
		if x == a {
			return true
		}
	}
	return false
}
