//go:build linux

package seccomp

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

const seccompGetActionAvail = 2 // SECCOMP_GET_ACTION_AVAIL

// CheckKernel fails closed, naming the action, when the running kernel does not implement an action the
// program can return (SECCOMP_GET_ACTION_AVAIL: kill_process and log need Linux 4.14, notify 5.0). A kernel
// that lacks seccomp filters altogether is reported as ErrUnsupported.
func (p *Program) CheckKernel() error {
	if _, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0); err != nil {
		return fmt.Errorf("%w: this kernel has no seccomp filters (prctl PR_GET_SECCOMP: %w)", ErrUnsupported, err)
	}
	for _, a := range p.actions {
		ret, err := EncodeAction(a)
		if err != nil {
			return err
		}
		action := ret & retActionFull
		_, _, e := unix.Syscall(unix.SYS_SECCOMP, seccompGetActionAvail, 0, uintptr(unsafe.Pointer(&action)))
		if e != 0 {
			if errors.Is(e, unix.EOPNOTSUPP) {
				return fmt.Errorf("%w: seccomp action %s is not supported by this kernel", ErrUnsupported, FormatAction(a))
			}
			return fmt.Errorf("seccomp: SECCOMP_GET_ACTION_AVAIL(%s): %w", FormatAction(a), e)
		}
	}
	return nil
}
