//go:build linux

package seccomp

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/policy"
)

// struct seccomp_notif and seccomp_notif_resp (linux/seccomp.h); x/sys has the ioctl numbers but not the
// structs.
type notifReq struct {
	ID    uint64
	Pid   uint32
	Flags uint32
	Data  [64]byte // struct seccomp_data
}

type notifResp struct {
	ID    uint64
	Val   int64
	Error int32
	Flags uint32
}

const userNotifFlagContinue = 1 // SECCOMP_USER_NOTIF_FLAG_CONTINUE

// Supervise answers the seccomp user notifications arriving on notifyFD (the listener returned by
// seccomp(SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, ...)) until every task using the
// filter has exited (the fd reports POLLHUP: returns nil) or ctx is done (returns ctx.Err()). The caller
// owns notifyFD and closes it after Supervise returns; from then on the kernel answers the filter's
// notify actions with ENOSYS, so a child is never left blocked.
//
// For every notification report (if not nil) is called and decide (if not nil) chooses the answer:
//   - allow, log: the syscall runs (SECCOMP_USER_NOTIF_FLAG_CONTINUE). Safe here because decisions see
//     only register values, never memory the child could change after the check;
//   - errno(N): the syscall fails with N without running;
//   - kill_process, kill_thread, trap: the calling process is killed with SIGKILL (after checking with
//     SECCOMP_IOCTL_NOTIF_ID_VALID that the pid still belongs to the notifying task) and the call fails;
//   - anything else, a nil decide or one slower than DecideTimeout: errno(EPERM).
func Supervise(ctx context.Context, notifyFD int, decide func(Violation) policy.Action, report func(Violation)) error {
	return supervise(ctx, notifyFD, func(v Violation) policy.Action { return decideWithin(decide, v) }, report)
}

// SuperviseInline is Supervise for a decide that returns at once (it evaluates registers, takes no lock
// for long, does no blocking I/O): decide runs on the supervisor's own thread, without the goroutine and
// timer per call that bound a slow decide to DecideTimeout. That is about a third of the supervisor's CPU
// per notification (BenchmarkDeniedSyscall, docs/seccomp.md); jailrun's launcher uses it. A nil decide, or
// an action Supervise cannot give, still means EPERM.
func SuperviseInline(ctx context.Context, notifyFD int, decide func(Violation) policy.Action, report func(Violation)) error {
	return supervise(ctx, notifyFD, func(v Violation) policy.Action {
		if decide == nil {
			return DenyEPERM
		}
		return checkedAction(decide(v))
	}, report)
}

func supervise(ctx context.Context, notifyFD int, decide func(Violation) policy.Action, report func(Violation)) error {
	// Wake-ups between the notifying task and this supervisor are synchronous (Linux 6.6+): the kernel
	// switches straight to the other side on the same CPU instead of waking it wherever it runs, which cuts
	// the round trip of every notification. An older kernel refuses the flag; nothing else changes.
	_, _, _ = unix.Syscall(unix.SYS_IOCTL, uintptr(notifyFD), unix.SECCOMP_IOCTL_NOTIF_SET_FLAGS, unix.SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP)
	// An eventfd wakes the poll when ctx is done, so there is no busy polling.
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return fmt.Errorf("seccomp: supervise: eventfd: %w", err)
	}
	// The eventfd is closed only once the wake-up can no longer run: stop does not wait for an AfterFunc
	// that has already started, and a write after the close would land in whatever file next got the fd
	// number (seen: another sandbox's sync pipe, which released that sandbox before its ids were mapped).
	fired := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		defer close(fired)
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(wake, one[:])
	})
	defer func() {
		if !stop() {
			<-fired
		}
		unix.Close(wake)
	}()

	var th throttle
	for {
		fds := []unix.PollFd{{Fd: int32(notifyFD), Events: unix.POLLIN}, {Fd: int32(wake), Events: unix.POLLIN}}
		if _, err := unix.Poll(fds, -1); err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			return fmt.Errorf("seccomp: supervise: poll: %w", err)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if fds[0].Revents&unix.POLLNVAL != 0 {
			return fmt.Errorf("seccomp: supervise: fd %d is not open", notifyFD)
		}
		if fds[0].Revents&unix.POLLIN != 0 {
			if d := th.wait(time.Now()); d > 0 {
				// Over the budget: leave the call pending (its task sleeps in the kernel) and answer later,
				// waking early only if ctx ends.
				_, _ = unix.Poll([]unix.PollFd{{Fd: int32(wake), Events: unix.POLLIN}}, int(d/time.Millisecond)+1)
				if ctx.Err() != nil {
					return ctx.Err()
				}
			}
			if err := handleOne(notifyFD, decide, report); err != nil {
				return err
			}
			continue
		}
		if fds[0].Revents&(unix.POLLHUP|unix.POLLERR) != 0 {
			return nil // no task uses the filter any more
		}
	}
}

func ioctlPtr(fd int, req uint, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), uintptr(req), uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

func handleOne(fd int, decide func(Violation) policy.Action, report func(Violation)) error {
	var req notifReq // must be zeroed: the kernel refuses a dirty buffer
	for {
		err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_RECV, unsafe.Pointer(&req))
		if err == nil {
			break
		}
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOENT):
			return nil // the task died or was interrupted between poll and recv
		}
		return fmt.Errorf("seccomp: supervise: receive: %w", err)
	}
	nr := int(int32(binary.NativeEndian.Uint32(req.Data[offNr:])))
	arch := binary.NativeEndian.Uint32(req.Data[offArch:])
	var args [6]uint64
	for i := range args {
		args[i] = binary.NativeEndian.Uint64(req.Data[offArgs+8*i:])
	}
	v := NewViolation(arch, nr, args)
	if report != nil {
		report(v)
	}
	act := decide(v)

	resp := notifResp{ID: req.ID}
	switch act.Kind {
	case policy.ActAllow, policy.ActLog:
		resp.Flags = userNotifFlagContinue
	case policy.ActErrno:
		resp.Error = -int32(act.Errno)
	case policy.ActKillProcess, policy.ActKillThread, policy.ActTrap:
		// Kill only if the notification is still pending: then req.Pid is still the notifying task and
		// cannot have been reused by another process.
		id := req.ID
		if ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_ID_VALID, unsafe.Pointer(&id)) == nil {
			_ = unix.Kill(int(req.Pid), unix.SIGKILL) // a thread id reaches its whole thread group
		}
		resp.Error = -int32(unix.EPERM)
	default:
		resp.Error = -int32(unix.EPERM)
	}
	if err := ioctlPtr(fd, unix.SECCOMP_IOCTL_NOTIF_SEND, unsafe.Pointer(&resp)); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINTR) {
			return nil // the task is gone or its syscall was interrupted: nothing to answer
		}
		return fmt.Errorf("seccomp: supervise: send: %w", err)
	}
	return nil
}

func decideWithin(decide func(Violation) policy.Action, v Violation) policy.Action {
	if decide == nil {
		return DenyEPERM
	}
	ch := make(chan policy.Action, 1)
	go func() { ch <- decide(v) }()
	t := time.NewTimer(DecideTimeout)
	defer t.Stop()
	select {
	case a := <-ch:
		return checkedAction(a)
	case <-t.C:
		return DenyEPERM
	}
}

// checkedAction is a decide's answer if Supervise can give it, else EPERM.
func checkedAction(a policy.Action) policy.Action {
	if _, err := EncodeAction(a); err != nil || a.Kind == policy.ActNotify {
		return DenyEPERM
	}
	return a
}
