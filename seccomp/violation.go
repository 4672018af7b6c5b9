package seccomp

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"

	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// Violation is a syscall the filter stopped, as the kernel reported it.
type Violation struct {
	Syscall string    `json:"syscall"` // name, or "" when the number is unknown for Arch
	Nr      int       `json:"nr"`
	Arch    string    `json:"arch"` // "x86_64", "i386", ...
	Args    [6]uint64 `json:"args"`
}

func (v Violation) String() string {
	name := v.Syscall
	if name == "" {
		name = "syscall " + strconv.Itoa(v.Nr)
	}
	if v.Arch != ArchName(mustAudit(syscalls.Native)) {
		name += " (" + v.Arch + ")"
	}
	return name
}

func mustAudit(a syscalls.Arch) uint32 {
	v, _ := AuditArch(a)
	return v
}

// NewViolation names syscall nr of the given audit architecture. A foreign architecture (i386 via
// int 0x80) keeps its number and gets no name: jailrun has no table for it. An x32 call (x86_64 with the
// x32 bit) gets Arch "x32" and, below 512 where x32 shares x86_64's numbers, the name "x32:NAME".
func NewViolation(auditArch uint32, nr int, args [6]uint64) Violation {
	v := Violation{Nr: nr, Arch: ArchName(auditArch), Args: args}
	a, ok := archOfAudit(auditArch)
	if !ok {
		return v
	}
	if a == syscalls.AMD64 && nr >= x32SyscallBit && nr < 0x80000000 {
		v.Arch = "x32"
		if base := nr &^ x32SyscallBit; base < 512 {
			if name, ok := syscalls.Name(a, base); ok {
				v.Syscall = "x32:" + name
			}
		}
		return v
	}
	if name, ok := syscalls.Name(a, nr); ok {
		v.Syscall = name
	}
	return v
}

// SIGSYS siginfo layout (struct siginfo, _sigsys member) on 64-bit Linux: si_signo, si_errno, si_code,
// padding, then void *_call_addr, int _syscall, unsigned int _arch.
const (
	siginfoSize     = 128
	sigsysNr        = 31
	sysSeccompCode  = 1 // SYS_SECCOMP
	offSiCallAddr   = 16
	offSiSyscall    = 24
	offSiArch       = 28
	offSiginfoCode  = 8
	offSiginfoSigno = 0
)

// ViolationFromSigsys decodes the siginfo of a SIGSYS raised by a seccomp "trap" action (si_code
// SYS_SECCOMP): what a tracer gets from PTRACE_GETSIGINFO or a signalfd. raw is the 128-byte struct
// siginfo in native byte order. The kernel does not put the arguments in siginfo; Args is zero.
func ViolationFromSigsys(raw []byte) (Violation, bool) {
	if len(raw) < siginfoSize/4 {
		return Violation{}, false
	}
	signo := int32(binary.NativeEndian.Uint32(raw[offSiginfoSigno:]))
	code := int32(binary.NativeEndian.Uint32(raw[offSiginfoCode:]))
	if signo != sigsysNr || code != sysSeccompCode {
		return Violation{}, false
	}
	nr := int(int32(binary.NativeEndian.Uint32(raw[offSiSyscall:])))
	arch := binary.NativeEndian.Uint32(raw[offSiArch:])
	return NewViolation(arch, nr, [6]uint64{}), true
}

// ParseAudit decodes a kernel audit record of a seccomp action (type=1326, AUDIT_SECCOMP), as read from
// the audit netlink socket, /var/log/audit/audit.log or the kernel log (/dev/kmsg, dmesg), e.g.
//
//	audit: type=1326 audit(1700000000.123:42): auid=4294967295 uid=1000 gid=1000 ses=4294967295
//	  subj=unconfined pid=4242 comm="a.out" exe="/tmp/a.out" sig=31 arch=c000003e syscall=101 compat=0
//	  ip=0x7f0000001234 code=0x80000000
//
// It returns the violation, the pid it names, and whether the line was a seccomp record. The kernel
// writes such records for the actions in /proc/sys/kernel/seccomp/actions_logged (kill_process,
// kill_thread, trap, errno... by default all but allow) when auditing is on; arguments are not logged.
func ParseAudit(line string) (v Violation, pid int, ok bool) {
	if !strings.Contains(line, "type=1326") && !strings.Contains(line, "type=SECCOMP") {
		return Violation{}, 0, false
	}
	fields := map[string]string{}
	for _, f := range strings.Fields(line) {
		if k, val, found := strings.Cut(f, "="); found {
			fields[k] = val
		}
	}
	archHex, okA := fields["arch"]
	nrText, okN := fields["syscall"]
	if !okA || !okN {
		return Violation{}, 0, false
	}
	arch, err := strconv.ParseUint(archHex, 16, 32)
	if err != nil {
		return Violation{}, 0, false
	}
	nr, err := strconv.Atoi(nrText)
	if err != nil {
		return Violation{}, 0, false
	}
	pid, _ = strconv.Atoi(fields["pid"])
	return NewViolation(uint32(arch), nr, [6]uint64{}), pid, true
}

// Describe renders a violation with its action for logs: "ptrace (nr 101, x86_64) → kill_process".
func (v Violation) Describe() string {
	return fmt.Sprintf("%s (nr %d, %s)", v.String(), v.Nr, v.Arch)
}
