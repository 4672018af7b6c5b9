package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/bpf"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// Raw SECCOMP_RET_* values. They are spelled out here (not taken from x/sys/unix) because this file is
// built on every OS: explain and Evaluate work on a Mac too.
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retUserNotif   = 0x7fc00000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
	retActionFull  = 0xffff0000
	retData        = 0x0000ffff

	auditArchX86_64  = 0xc000003e
	auditArchI386    = 0x40000003
	auditArchAArch64 = 0xc00000b7
	auditArchARM     = 0x40000028

	// x32SyscallBit marks an x32 syscall on x86_64 (__X32_SYSCALL_BIT): a 64-bit process can make x32
	// syscalls with the same AUDIT_ARCH_X86_64, so the arch check alone does not catch them.
	x32SyscallBit = 0x40000000

	// maxErrno is the largest errno a rule may return: the kernel passes up to MAX_ERRNO (4095) through,
	// but libseccomp 2.5 refuses 4095 itself.
	maxErrno = 4094
	// maxInstructions is the kernel's BPF_MAXINSNS.
	maxInstructions = 4096
)

// Offsets in struct seccomp_data.
const (
	offNr   = 0
	offArch = 4
	offIP   = 8
	offArgs = 16
)

// AuditArch returns the AUDIT_ARCH_* value of a jailrun architecture.
func AuditArch(a syscalls.Arch) (uint32, bool) {
	switch a {
	case syscalls.AMD64:
		return auditArchX86_64, true
	case syscalls.ARM64:
		return auditArchAArch64, true
	}
	return 0, false
}

// ArchName names an AUDIT_ARCH_* value the way a report shows it ("x86_64", "i386", ...).
func ArchName(auditArch uint32) string {
	switch auditArch {
	case auditArchX86_64:
		return "x86_64"
	case auditArchI386:
		return "i386"
	case auditArchAArch64:
		return "aarch64"
	case auditArchARM:
		return "arm"
	}
	return fmt.Sprintf("0x%08x", auditArch)
}

// ArchByName is ArchName's inverse, for a Violation's Arch: the AUDIT_ARCH_* value ("x32" is x86_64's).
func ArchByName(name string) uint32 {
	switch name {
	case "x86_64", "x32":
		return auditArchX86_64
	case "i386":
		return auditArchI386
	case "aarch64":
		return auditArchAArch64
	case "arm":
		return auditArchARM
	}
	v, _ := strconv.ParseUint(strings.TrimPrefix(name, "0x"), 16, 32)
	return uint32(v)
}

func archOfAudit(auditArch uint32) (syscalls.Arch, bool) {
	switch auditArch {
	case auditArchX86_64:
		return syscalls.AMD64, true
	case auditArchAArch64:
		return syscalls.ARM64, true
	}
	return "", false
}

// Program is a compiled seccomp filter: jailrun's prefix (architecture, x32 and unknown-syscall checks)
// followed by the libseccomp-generated rules. It is immutable; every accessor returns a copy, so a cached
// Program can be shared by concurrent launches.
type Program struct {
	insns     []SockFilter
	arch      syscalls.Arch
	prefixLen int
	notify    bool
	actions   []policy.Action // distinct actions the program can return

	vmOnce sync.Once // the interpreter is built once: Evaluate is called per syscall by explain and tests
	vm     *bpf.VM
	vmErr  error
}

// Instructions returns the program, ready for SECCOMP_SET_MODE_FILTER.
func (p *Program) Instructions() []SockFilter {
	return append([]SockFilter(nil), p.insns...)
}

// Len is the number of BPF instructions.
func (p *Program) Len() int { return len(p.insns) }

// Bytes returns the program as raw struct sock_filter bytes (8 bytes each, native endian): what a raw C
// child passes in struct sock_fprog.
func (p *Program) Bytes() []byte {
	b := make([]byte, 0, 8*len(p.insns))
	for _, in := range p.insns {
		b = binary.NativeEndian.AppendUint16(b, in.Code)
		b = append(b, in.Jt, in.Jf)
		b = binary.NativeEndian.AppendUint32(b, in.K)
	}
	return b
}

// NeedsNotify reports whether any rule uses the notify action: the launcher must then load the filter with
// SECCOMP_FILTER_FLAG_NEW_LISTENER and run Supervise on the returned fd.
func (p *Program) NeedsNotify() bool { return p.notify }

// Actions lists the distinct actions the program can return (for checking kernel support).
func (p *Program) Actions() []policy.Action { return append([]policy.Action(nil), p.actions...) }

// Arch is the architecture the program was built for (the only one it lets through).
func (p *Program) Arch() syscalls.Arch { return p.arch }

// seccompData lays out struct seccomp_data for the x/net/bpf VM. The VM loads 32-bit words big-endian
// (network order) while the kernel loads them in native order, so every aligned word is stored byte-swapped
// relative to memory: a load then yields exactly the value the kernel would see.
func seccompData(arch uint32, nr int, args [6]uint64) []byte {
	native := make([]byte, 64)
	binary.NativeEndian.PutUint32(native[offNr:], uint32(int32(nr)))
	binary.NativeEndian.PutUint32(native[offArch:], arch)
	for i, a := range args {
		binary.NativeEndian.PutUint64(native[offArgs+8*i:], a)
	}
	out := make([]byte, 64)
	for off := 0; off < 64; off += 4 {
		binary.BigEndian.PutUint32(out[off:], binary.NativeEndian.Uint32(native[off:]))
	}
	return out
}

// Evaluate runs the program in the x/net/bpf VM against a synthetic seccomp_data, as the kernel would for
// a syscall nr with args made under the audit architecture arch (e.g. AUDIT_ARCH_X86_64; for an x32 call
// pass nr|0x40000000). It answers what the filter really does, not what the policy meant.
func (p *Program) Evaluate(arch uint32, nr int, args [6]uint64) (policy.Action, error) {
	ret, err := p.Run(arch, nr, args)
	if err != nil {
		return policy.Action{}, err
	}
	return DecodeRet(ret)
}

// Run is Evaluate's raw form: the SECCOMP_RET_* value the program returns.
func (p *Program) Run(arch uint32, nr int, args [6]uint64) (uint32, error) {
	p.vmOnce.Do(func() {
		raw := make([]bpf.RawInstruction, len(p.insns))
		for i, in := range p.insns {
			raw[i] = bpf.RawInstruction{Op: in.Code, Jt: in.Jt, Jf: in.Jf, K: in.K}
		}
		insns, ok := bpf.Disassemble(raw)
		if !ok {
			p.vmErr = errors.New("seccomp: program has an instruction the BPF VM cannot run")
			return
		}
		if p.vm, p.vmErr = bpf.NewVM(insns); p.vmErr != nil {
			p.vmErr = fmt.Errorf("seccomp: load program into BPF VM: %w", p.vmErr)
		}
	})
	if p.vmErr != nil {
		return 0, p.vmErr
	}
	// The VM keeps its registers on the stack of Run, so one VM serves concurrent callers.
	ret, err := p.vm.Run(seccompData(arch, nr, args))
	if err != nil {
		return 0, fmt.Errorf("seccomp: run program: %w", err)
	}
	return uint32(ret), nil
}

// EncodeAction turns a policy action into its SECCOMP_RET_* value.
func EncodeAction(a policy.Action) (uint32, error) {
	switch a.Kind {
	case policy.ActAllow:
		return retAllow, nil
	case policy.ActErrno:
		// errno(0) is allowed: the syscall is skipped and reports success (a "pretend" rule).
		if a.Errno > maxErrno {
			return 0, fmt.Errorf("errno %d is above %d, the largest errno libseccomp accepts", a.Errno, maxErrno)
		}
		return retErrno | uint32(a.Errno), nil
	case policy.ActKillProcess:
		return retKillProcess, nil
	case policy.ActKillThread:
		return retKillThread, nil
	case policy.ActTrap:
		return retTrap, nil
	case policy.ActLog:
		return retLog, nil
	case policy.ActNotify:
		return retUserNotif, nil
	case "":
		return 0, errors.New("action is not set")
	}
	return 0, fmt.Errorf("unknown action %q", a.Kind)
}

// DecodeRet turns a SECCOMP_RET_* value into a policy action.
func DecodeRet(ret uint32) (policy.Action, error) {
	switch ret & retActionFull {
	case retAllow:
		return policy.Action{Kind: policy.ActAllow}, nil
	case retErrno:
		return policy.Action{Kind: policy.ActErrno, Errno: uint16(ret & retData)}, nil
	case retKillProcess:
		return policy.Action{Kind: policy.ActKillProcess}, nil
	case retKillThread:
		return policy.Action{Kind: policy.ActKillThread}, nil
	case retTrap:
		return policy.Action{Kind: policy.ActTrap}, nil
	case retLog:
		return policy.Action{Kind: policy.ActLog}, nil
	case retUserNotif:
		return policy.Action{Kind: policy.ActNotify}, nil
	}
	return policy.Action{}, fmt.Errorf("seccomp: return value %#08x is not an action jailrun uses", ret)
}

// FormatAction renders an action the way policies write it: "allow", "errno(EPERM)", "kill_process".
func FormatAction(a policy.Action) string {
	if a.Kind == policy.ActErrno {
		return fmt.Sprintf("errno(%s)", errnoName(a.Errno))
	}
	return string(a.Kind)
}

var (
	errnoNamesOnce sync.Once
	errnoNames     map[uint64]string
)

// errnoName names an errno from the constants table ("EPERM"), or prints the number. Where two names share
// a value (ENOTSUP, EOPNOTSUPP) the first in sorted order wins.
func errnoName(e uint16) string {
	errnoNamesOnce.Do(func() {
		errnoNames = map[uint64]string{}
		for _, n := range syscalls.ConstantNames() {
			if v, _ := syscalls.Constant(n); strings.HasPrefix(n, "E") {
				if _, dup := errnoNames[v]; !dup {
					errnoNames[v] = n
				}
			}
		}
	})
	if n, ok := errnoNames[uint64(e)]; ok {
		return n
	}
	return fmt.Sprint(e)
}

// Disassemble renders the program one instruction per line, annotated with what each load reads, which
// syscall each comparison against nr names and which action each return is.
func (p *Program) Disassemble() string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "; %d instructions (%d jailrun prefix and argument blocks + %d libseccomp), arch %s\n",
		len(p.insns), p.prefixLen, len(p.insns)-p.prefixLen, p.arch)
	loaded := -1 // offset of the last absolute load, to annotate the comparisons that follow
	for i, in := range p.insns {
		op, comment := disasmOne(in, i, loaded, p.arch)
		if in.Code == bpfLD|bpfW|bpfABS {
			loaded = int(in.K)
		}
		if in.Code&0x07 == bpfLD && in.Code != bpfLD|bpfW|bpfABS {
			loaded = -1
		}
		if i == p.prefixLen && p.prefixLen > 0 {
			sb.WriteString("; ---- libseccomp ----\n")
		}
		if comment != "" {
			fmt.Fprintf(&sb, "%04d: %-36s ; %s\n", i, op, comment)
		} else {
			fmt.Fprintf(&sb, "%04d: %s\n", i, op)
		}
	}
	return sb.String()
}

// Classic BPF opcode parts (linux/bpf_common.h).
const (
	bpfLD   = 0x00
	bpfLDX  = 0x01
	bpfST   = 0x02
	bpfSTX  = 0x03
	bpfALU  = 0x04
	bpfJMP  = 0x05
	bpfRET  = 0x06
	bpfMISC = 0x07
	bpfW    = 0x00
	bpfABS  = 0x20
	bpfMEM  = 0x60
	bpfIMM  = 0x00
	bpfK    = 0x00
	bpfX    = 0x08
	bpfA    = 0x10
	bpfJA   = 0x00
	bpfJEQ  = 0x10
	bpfJGT  = 0x20
	bpfJGE  = 0x30
	bpfJSET = 0x40
)

func loadName(off int) string {
	switch {
	case off == offNr:
		return "nr"
	case off == offArch:
		return "arch"
	case off == offIP:
		return "instruction_pointer (low)"
	case off == offIP+4:
		return "instruction_pointer (high)"
	case off >= offArgs && off < offArgs+48:
		i := (off - offArgs) / 8
		// On a little-endian machine the low word of an argument comes first.
		firstIsLow := binary.NativeEndian.Uint16([]byte{1, 0}) == 1
		half := "low"
		if ((off-offArgs)%8 == 0) != firstIsLow {
			half = "high"
		}
		return fmt.Sprintf("args[%d] (%s 32 bits)", i, half)
	}
	return ""
}

func disasmOne(in SockFilter, pc, loaded int, arch syscalls.Arch) (string, string) {
	k := in.K
	switch in.Code & 0x07 {
	case bpfLD:
		switch in.Code &^ 0x07 {
		case bpfW | bpfABS:
			return fmt.Sprintf("ld [%d]", k), loadName(int(k))
		case bpfMEM:
			return fmt.Sprintf("ld M[%d]", k), ""
		case bpfIMM:
			return fmt.Sprintf("ld #%#x", k), ""
		}
	case bpfLDX:
		if in.Code&^0x07 == bpfMEM {
			return fmt.Sprintf("ldx M[%d]", k), ""
		}
		return fmt.Sprintf("ldx #%#x", k), ""
	case bpfST:
		return fmt.Sprintf("st M[%d]", k), ""
	case bpfSTX:
		return fmt.Sprintf("stx M[%d]", k), ""
	case bpfALU:
		ops := map[uint16]string{0x00: "add", 0x10: "sub", 0x20: "mul", 0x30: "div", 0x40: "or", 0x50: "and", 0x60: "lsh", 0x70: "rsh", 0x80: "neg", 0x90: "mod", 0xa0: "xor"}
		name := ops[in.Code&0xf0]
		if in.Code&bpfX != 0 {
			return name + " x", ""
		}
		return fmt.Sprintf("%s #%#x", name, k), ""
	case bpfJMP:
		if in.Code&0xf0 == bpfJA {
			return fmt.Sprintf("ja %04d", pc+1+int(k)), ""
		}
		names := map[uint16]string{bpfJEQ: "jeq", bpfJGT: "jgt", bpfJGE: "jge", bpfJSET: "jset"}
		op := fmt.Sprintf("%s #%#x jt %04d jf %04d", names[in.Code&0xf0], k, pc+1+int(in.Jt), pc+1+int(in.Jf))
		comment := ""
		switch loaded {
		case offNr:
			rel := map[uint16]string{bpfJEQ: "", bpfJGT: "> ", bpfJGE: ">= "}[in.Code&0xf0]
			if name, ok := syscalls.Name(arch, int(k)); ok {
				comment = rel + name
			}
			if k == x32SyscallBit && arch == syscalls.AMD64 {
				comment = "x32 ABI bit"
			}
			if k == uint32(syscalls.Max(arch)) && in.Code&0xf0 == bpfJGT {
				comment = fmt.Sprintf("> %s, the newest syscall jailrun knows", comment[2:])
			}
		case offArch:
			comment = ArchName(k)
		}
		return op, comment
	case bpfRET:
		if in.Code&0x18 == bpfA {
			return "ret A", ""
		}
		comment := ""
		if a, err := DecodeRet(k); err == nil {
			comment = FormatAction(a)
		}
		return fmt.Sprintf("ret #%#x", k), comment
	case bpfMISC:
		if in.Code&0xf8 == 0 {
			return "tax", ""
		}
		return "txa", ""
	}
	return fmt.Sprintf("unknown code=%#x jt=%d jf=%d k=%#x", in.Code, in.Jt, in.Jf, k), ""
}
