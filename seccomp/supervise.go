package seccomp

import (
	"time"

	"github.com/jailrun/jailrun/policy"
)

// These are declared on every OS, like Supervise itself, so that code using them builds everywhere.

// DecideTimeout bounds how long Supervise waits for a decide callback: a slow or stuck callback must not
// keep the sandboxed thread blocked in its syscall forever. Past it the call is denied with EPERM.
var DecideTimeout = 2 * time.Second

// DenyEPERM is Supervise's answer when decide is nil, times out or returns an action it cannot give.
var DenyEPERM = policy.Action{Kind: policy.ActErrno, Errno: 1}
