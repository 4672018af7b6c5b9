package seccomp

import (
	"encoding/binary"
	"fmt"

	"github.com/jailrun/jailrun/policy"
)

// A tiny assembler for the per-syscall blocks: instructions with symbolic jump targets, resolved into
// relative 8-bit offsets at the end.

type label int

type fixup struct {
	pc     int
	jt, jf label // -1: fall through (offset 0)
}

type assembler struct {
	ins    []SockFilter
	fix    []fixup
	labels []int // label → pc, -1 until placed
}

func (a *assembler) newLabel() label {
	a.labels = append(a.labels, -1)
	return label(len(a.labels) - 1)
}

func (a *assembler) place(l label) { a.labels[l] = len(a.ins) }

func (a *assembler) stmt(code uint16, k uint32) { a.ins = append(a.ins, SockFilter{Code: code, K: k}) }

const next label = -1

// jmp adds a conditional jump; next means "the following instruction".
func (a *assembler) jmp(op uint16, k uint32, jt, jf label) {
	a.fix = append(a.fix, fixup{pc: len(a.ins), jt: jt, jf: jf})
	a.ins = append(a.ins, SockFilter{Code: bpfJMP | op | bpfK, K: k})
}

func (a *assembler) resolve() ([]SockFilter, error) {
	for _, f := range a.fix {
		for _, side := range []struct {
			l   label
			dst *uint8
		}{{f.jt, &a.ins[f.pc].Jt}, {f.jf, &a.ins[f.pc].Jf}} {
			if side.l == next {
				continue
			}
			target := a.labels[side.l]
			off := target - f.pc - 1
			if target < 0 || off < 0 || off > 255 {
				return nil, fmt.Errorf("seccomp: internal: jump from %d to %d does not fit", f.pc, target)
			}
			*side.dst = uint8(off)
		}
	}
	return a.ins, nil
}

// argOffsets returns the seccomp_data offsets of the low and high 32-bit words of argument i.
func argOffsets(i uint) (lo, hi uint32) {
	base := uint32(offArgs + 8*i)
	if binary.NativeEndian.Uint16([]byte{1, 0}) == 1 { // little endian: low word first
		return base, base + 4
	}
	return base + 4, base
}

// cond emits code that goes to pass when c holds and to fail when it does not. The argument is 64 bits
// and compared unsigned, as the kernel hands it over: the high words decide unless they are equal.
func (a *assembler) cond(c policy.ArgCond, pass, fail label) {
	lo, hi := argOffsets(c.Index)
	v := c.Value
	vh, vl := uint32(v>>32), uint32(v)
	ld := func(off uint32) { a.stmt(bpfLD|bpfW|bpfABS, off) }
	switch c.Op {
	case policy.OpEq:
		ld(hi)
		a.jmp(bpfJEQ, vh, next, fail)
		ld(lo)
		a.jmp(bpfJEQ, vl, pass, fail)
	case policy.OpNe:
		ld(hi)
		a.jmp(bpfJEQ, vh, next, pass)
		ld(lo)
		a.jmp(bpfJEQ, vl, fail, pass)
	case policy.OpGt, policy.OpGe:
		op := uint16(bpfJGT)
		if c.Op == policy.OpGe {
			op = bpfJGE
		}
		ld(hi)
		a.jmp(bpfJGT, vh, pass, next)
		a.jmp(bpfJEQ, vh, next, fail)
		ld(lo)
		a.jmp(op, vl, pass, fail)
	case policy.OpLt, policy.OpLe:
		// a < v is not (a >= v); a <= v is not (a > v).
		op := uint16(bpfJGE)
		if c.Op == policy.OpLe {
			op = bpfJGT
		}
		ld(hi)
		a.jmp(bpfJGT, vh, fail, next)
		a.jmp(bpfJEQ, vh, next, pass)
		ld(lo)
		a.jmp(op, vl, fail, pass)
	case policy.OpMaskedEq:
		mh, ml := uint32(c.Mask>>32), uint32(c.Mask)
		and := func(m uint32) {
			if m != 0xffffffff { // and-ing with all ones changes nothing
				a.stmt(bpfALU|0x50|bpfK, m)
			}
		}
		if mh == 0 && ml == 0 {
			a.jmpAlways(pass) // (x & 0) == 0 always holds (the value was checked to lie within the mask)
			return
		}
		if mh != 0 { // with a zero high mask the high half always matches
			ld(hi)
			and(mh)
			if ml == 0 {
				a.jmp(bpfJEQ, vh, pass, fail)
				return
			}
			a.jmp(bpfJEQ, vh, next, fail)
		}
		ld(lo)
		and(ml)
		a.jmp(bpfJEQ, vl, pass, fail)
	}
}

// jmpAlways jumps to l unconditionally (jeq on anything with both sides to l).
func (a *assembler) jmpAlways(l label) {
	a.jmp(bpfJEQ, 0, l, l)
}

// syscallBlock compiles one special syscall: its rules in order, the first that holds returns its action;
// the block returns sp.Default when none holds. Every path ends in a return.
func syscallBlock(sp special) ([]SockFilter, error) {
	a := &assembler{}
	for _, r := range sp.Rules {
		ret, err := EncodeAction(r.Action)
		if err != nil {
			return nil, err
		}
		nextRule := a.newLabel()
		for _, c := range r.Conds {
			pass := a.newLabel()
			a.cond(c, pass, nextRule)
			a.place(pass)
		}
		a.stmt(bpfRET|bpfK, ret)
		a.place(nextRule)
		if len(r.Conds) == 0 {
			break
		}
	}
	if last := sp.Rules[len(sp.Rules)-1]; len(last.Conds) != 0 {
		ret, err := EncodeAction(sp.Default)
		if err != nil {
			return nil, err
		}
		a.stmt(bpfRET|bpfK, ret)
	}
	return a.resolve()
}
