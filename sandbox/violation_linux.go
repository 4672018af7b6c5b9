//go:build linux && cgo

package sandbox

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp"
	"golang.org/x/sys/unix"
)

// reportable rewrites the policy's kill actions into user notifications, so that jailrun's supervisor
// learns which syscall it was (name, number, arguments) before it kills the sandbox; with a plain kill the
// parent only sees SIGSYS. The syscall never runs either way: if the supervisor were gone, the kernel would
// fail the call with ENOSYS. It also returns the syscalls the policy itself routes to notify, which are
// denied with EPERM and logged rather than treated as violations.
func reportable(s policy.Seccomp) (policy.Seccomp, map[string]bool) {
	out := s
	out.Rules = make([]policy.SeccompRule, len(s.Rules))
	ownNotify := map[string]bool{}
	isKill := func(a policy.Action) bool { return a.Kind == policy.ActKillProcess || a.Kind == policy.ActKillThread }
	killed := map[string]bool{}
	for i, r := range s.Rules {
		if r.Action.Kind == policy.ActNotify {
			for _, n := range r.Syscalls {
				ownNotify[n] = true
			}
		}
		if isKill(r.Action) {
			for _, n := range r.Syscalls {
				killed[n] = true
			}
			r.Action = policy.Action{Kind: policy.ActNotify}
		}
		out.Rules[i] = r
	}
	if isKill(s.DefaultAction) {
		out.DefaultAction = policy.Action{Kind: policy.ActNotify}
	}
	for n := range killed {
		delete(ownNotify, n) // a syscall the policy kills for is a violation, whatever else it says
	}
	return out, ownNotify
}

// supervisor answers the filter's notifications for one run.
type supervisor struct {
	fd        int
	ownNotify map[string]bool
	l         *launch
	done      chan struct{}
	mu        sync.Mutex
	first     *seccomp.Violation
}

func (sv *supervisor) start(ctx context.Context) {
	sv.done = make(chan struct{})
	go func() {
		defer close(sv.done)
		decide := func(v seccomp.Violation) policy.Action {
			if sv.ownNotify[v.Syscall] {
				sv.l.r.opts.Logf("seccomp: denied %s (policy action notify)", v.Describe())
				return policy.Action{Kind: policy.ActErrno, Errno: uint16(unix.EPERM)}
			}
			sv.mu.Lock()
			if sv.first == nil {
				vv := v
				sv.first = &vv
			}
			sv.mu.Unlock()
			name := v.Syscall
			if name == "" {
				name = "syscall " + strconv.Itoa(v.Nr)
			}
			sv.l.kill(StatusSeccompViolation, &LimitHit{Name: "seccomp", Value: name})
			return policy.Action{Kind: policy.ActKillProcess}
		}
		_ = seccomp.Supervise(ctx, sv.fd, decide, nil)
	}()
}

func (sv *supervisor) violation() *Violation {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	if sv.first == nil {
		return nil
	}
	v := sv.first
	return &Violation{Syscall: v.Syscall, Nr: v.Nr, Arch: v.Arch, Args: v.Args}
}

// takeListener copies the seccomp listener fd out of the command process (the only child of the sandbox's
// pid 1 at this point) with pidfd_getfd.
func takeListener(reaper int, fd int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", reaper, reaper))
	if err != nil {
		return -1, err
	}
	f := strings.Fields(string(b))
	if len(f) != 1 {
		return -1, fmt.Errorf("expected one child of the sandbox's pid 1, found %q", f)
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return -1, err
	}
	pidfd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(pidfd)
	lfd, err := unix.PidfdGetfd(pidfd, fd, 0)
	if err != nil {
		return -1, fmt.Errorf("pidfd_getfd: %w", err)
	}
	unix.CloseOnExec(lfd)
	return lfd, nil
}
