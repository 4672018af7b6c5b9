package seccomp

import (
	"fmt"

	"github.com/jailrun/jailrun/policy"
)

// Options adjust how a filter is compiled. The zero value is Build's behaviour.
type Options struct {
	// ForeignABI is the answer to a syscall made through another ABI than the native one: i386 via
	// int 0x80 and x32 on x86_64, arm32 compat on arm64. Zero means kill_process. A launcher that names
	// violations through a notify supervisor sets notify, so that "i386 syscall 20" is reported instead
	// of a bare SIGSYS. Only kill_process, kill_thread, trap and notify are accepted: such a call must
	// never run.
	ForeignABI policy.Action
}

func (o Options) foreignRet() (uint32, error) {
	switch o.ForeignABI.Kind {
	case "":
		return retKillProcess, nil
	case policy.ActKillProcess, policy.ActKillThread, policy.ActTrap, policy.ActNotify:
		return EncodeAction(o.ForeignABI)
	}
	return 0, &PolicyError{Setting: "seccomp (foreign ABI)", Err: fmt.Errorf("%s would let a call through another ABI be answered like a native one; use kill_process, kill_thread, trap or notify", FormatAction(o.ForeignABI))}
}
