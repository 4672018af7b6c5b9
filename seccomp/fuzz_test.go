package seccomp

import (
	"encoding/binary"
	"testing"

	"github.com/jailrun/jailrun/policy"
)

// FuzzProgram decodes bytes into a policy over a few syscalls and a call, and checks the compiled BPF
// against the reference semantics: go test -fuzz FuzzProgram ./seccomp/ explores rule shapes beyond
// TestDifferential's generator.
func FuzzProgram(f *testing.F) {
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20})
	f.Add([]byte("\x01\x02\x00\x03\xff\xff\xff\xff\x00\x00\x00\x00\x02\x05\x01\x00\x00\x00\x01\x00\x00\x00\x05"))
	f.Add([]byte("clone with namespace flags and a masked compare against CLONE_NS_FLAGS"))
	names := []string{"getpid", "getppid", "clone", "socket"}
	actions := []policy.Action{allow, kill, eperm, eacces, trap, logA, enosys}
	ops := []policy.CmpOp{policy.OpEq, policy.OpNe, policy.OpLt, policy.OpLe, policy.OpGt, policy.OpGe, policy.OpMaskedEq}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &byteReader{b: data}
		s := policy.Seccomp{Enabled: true, DefaultAction: actions[r.n(len(actions))]}
		for n := r.n(5); n >= 0; n-- {
			rule := policy.SeccompRule{Syscalls: []string{names[r.n(len(names))]}, Action: actions[r.n(len(actions))]}
			for c := r.n(4); c > 0; c-- {
				ac := policy.ArgCond{Index: uint(r.n(3)), Op: ops[r.n(len(ops))], Value: r.u64()}
				if ac.Op == policy.OpMaskedEq {
					ac.Mask = r.u64()
					ac.Value &= ac.Mask
				}
				rule.Args = append(rule.Args, ac)
			}
			s.Rules = append(s.Rules, rule)
		}
		p := mustBuild(t, s)
		for i := 0; i < 8; i++ {
			name := names[r.n(len(names))]
			args := [6]uint64{r.u64(), r.u64(), r.u64()}
			got, err := p.Evaluate(nativeAudit(t), nr(t, name), args)
			if err != nil {
				t.Fatal(err)
			}
			if want := reference(s, nativeAudit(t), nr(t, name), args); got != want {
				t.Fatalf("policy %+v\n%s%v: filter %s, policy %s", s, name, args, FormatAction(got), FormatAction(want))
			}
		}
	})
}

// byteReader hands out small numbers and 64-bit values from fuzz input, zeros when it runs out. Values
// near boundaries (0, 1, 2^32-1, 2^32, 2^64-1) are favoured because that is where comparisons go wrong.
type byteReader struct {
	b []byte
}

func (r *byteReader) byte() byte {
	if len(r.b) == 0 {
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *byteReader) n(m int) int { return int(r.byte()) % m }

func (r *byteReader) u64() uint64 {
	special := []uint64{0, 1, 2, 5, 0xffffffff, 1 << 32, 1<<32 | 1, ^uint64(0), 0x7e020000}
	c := r.byte()
	if int(c) < 2*len(special) {
		return special[int(c)%len(special)]
	}
	var buf [8]byte
	for i := range buf {
		buf[i] = r.byte()
	}
	return binary.LittleEndian.Uint64(buf[:])
}
