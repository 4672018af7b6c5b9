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
	"github.com/jailrun/jailrun/seccomp/syscalls"
	"golang.org/x/sys/unix"
)

// routed rewrites every action of the policy other than allow into a user notification: the filter then
// only allows or asks jailrun's supervisor, which answers each call as the policy would (it runs the
// policy's own program on the call's registers, see supervisor.answer) and counts it, so that every
// refused call is named in the result, not only those that kill. Allowed calls never leave the kernel:
// their cost is unchanged. A call waiting for the supervisor never runs unless the answer lets it; were
// the supervisor gone, the kernel would fail it with ENOSYS.
func routed(s policy.Seccomp) policy.Seccomp {
	notify := policy.Action{Kind: policy.ActNotify}
	route := func(a policy.Action) policy.Action {
		if a.Kind == policy.ActAllow {
			return a
		}
		return notify
	}
	out := s
	out.Rules = make([]policy.SeccompRule, len(s.Rules))
	for i, r := range s.Rules {
		r.Action = route(r.Action)
		out.Rules[i] = r
	}
	out.DefaultAction = route(s.DefaultAction)
	unknown := s.UnknownSyscalls
	if unknown.Kind == "" {
		unknown = seccomp.DefaultUnknownAction
	}
	out.UnknownSyscalls = route(unknown)
	return out
}

// maxDenied bounds the distinct entries of Result.DeniedSyscalls: past it, new argument values of a
// syscall already listed are counted in its first entry (args_merged) and new syscalls still get one.
const maxDenied = 1024

type deniedKey struct {
	arch   string
	nr     int
	action policy.Action
	args   [6]uint64 // the values of the arguments the policy tests for this syscall
}

// supervisor answers the filter's notifications for one run.
type supervisor struct {
	fd     int
	l      *launch
	policy func() (*seccomp.Program, error) // the policy's own filter, built at the first call: its answer
	tested map[string][]seccomp.TestedArg
	learn  bool // Request.LearnSeccomp, set when the run starts (a pooled sandbox is prepared without it)
	native string
	done   chan struct{}

	mu     sync.Mutex
	first  *seccomp.Violation
	denied []DeniedSyscall
	index  map[deniedKey]int
}

func newSupervisor(l *launch, s policy.Seccomp, tested map[string][]seccomp.TestedArg) *supervisor {
	native, _ := seccomp.AuditArch(syscalls.Native)
	own := sync.OnceValues(func() (*seccomp.Program, error) { return seccomp.BuildCached(s) })
	return &supervisor{fd: -1, l: l, policy: own, tested: tested,
		native: seccomp.ArchName(native), index: map[deniedKey]int{}}
}

func (sv *supervisor) start(ctx context.Context) {
	sv.done = make(chan struct{})
	go func() {
		defer close(sv.done)
		_ = seccomp.SuperviseInline(ctx, sv.fd, sv.answer, nil)
	}()
}

// answer is the policy's own answer to one call, counted. It runs on the supervisor's thread
// (SuperviseInline): it only evaluates registers and must never block. Kill and trap end the run as a violation
// naming the syscall (a trap's SIGSYS with its siginfo cannot be raised from here, so the sandbox is
// killed instead: never weaker). The policy's own notify rules are denied with EPERM and logged. In
// learn mode every native, known syscall runs instead and is recorded as learned.
func (sv *supervisor) answer(v seccomp.Violation) policy.Action {
	var act policy.Action
	prog, err := sv.policy()
	if err == nil {
		act, err = prog.Evaluate(seccomp.ArchByName(v.Arch), v.Nr, v.Args)
	}
	if err != nil {
		sv.l.r.opts.Logf("seccomp: %s: %v; denied with EPERM", v.Describe(), err)
		act = seccomp.DenyEPERM
	}
	if act.Kind == policy.ActAllow {
		return act // not routed by routed(); kept for safety
	}
	learn := sv.learn && v.Arch == sv.native && v.Syscall != ""
	first := sv.count(v, act, learn)
	switch {
	case learn:
		return policy.Action{Kind: policy.ActAllow}
	case act.Kind == policy.ActErrno, act.Kind == policy.ActLog:
		return act
	case act.Kind == policy.ActNotify:
		if first { // once per entry: the count is in the result, and a loop must not flood the log
			sv.l.r.opts.Logf("seccomp: denied %s (policy action notify)", v.Describe())
		}
		return seccomp.DenyEPERM
	}
	// kill_process, kill_thread, trap.
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

// count records one call; it reports whether the call opened a new entry.
func (sv *supervisor) count(v seccomp.Violation, act policy.Action, learned bool) bool {
	k := deniedKey{arch: v.Arch, nr: v.Nr, action: act}
	if t, ok := sv.tested[v.Syscall]; ok && v.Arch == sv.native {
		k.args = seccomp.TestedValues(t, v.Args)
	}
	sv.mu.Lock()
	defer sv.mu.Unlock()
	i, ok := sv.index[k]
	if !ok && len(sv.denied) >= maxDenied {
		for j, d := range sv.denied {
			if d.Arch == v.Arch && d.Nr == v.Nr && d.Action == seccomp.FormatAction(act) {
				i, ok = j, true
				sv.denied[j].ArgsMerged = true
				break
			}
		}
		if ok {
			sv.index[k] = i
		}
	}
	if !ok {
		i = len(sv.denied)
		sv.index[k] = i
		sv.denied = append(sv.denied, DeniedSyscall{Syscall: v.Syscall, Nr: v.Nr, Arch: v.Arch,
			Action: seccomp.FormatAction(act), FirstArgs: v.Args, Learned: learned})
	}
	sv.denied[i].Count++
	return !ok
}

// deniedSyscalls is the run's list, once the supervisor has stopped.
func (sv *supervisor) deniedSyscalls() []DeniedSyscall {
	sv.mu.Lock()
	defer sv.mu.Unlock()
	return append([]DeniedSyscall{}, sv.denied...)
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
