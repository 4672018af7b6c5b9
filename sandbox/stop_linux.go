//go:build linux && cgo

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// stopGracefully handles a context cancelled with a StopSignal cause: the signal goes to the command, which
// has limits.kill_grace to exit; then the whole sandbox is killed. It returns false for any other
// cancellation, which the caller answers with a kill at once. It returns when the run ended, the grace ran
// out, or the wall-time limit fired meanwhile (onWall).
func (l *launch) stopGracefully(ctx context.Context, stop <-chan struct{}, wall <-chan time.Time, onWall func()) bool {
	var ss *StopSignal
	cause := context.Cause(ctx)
	if !errors.As(cause, &ss) {
		return false
	}
	info := &StopInfo{Signal: unix.SignalName(ss.Signal)}
	if info.Signal == "" {
		info.Signal = strconv.Itoa(int(ss.Signal))
	}
	l.res.StoppedBy = info // read only after the watchers are done
	killNow := func() {
		info.KilledAfterGrace = true
		l.kill(StatusSignaled, &LimitHit{Name: "context", Value: cause.Error()})
	}
	grace := l.s.Limits.KillGrace
	if grace <= 0 {
		killNow()
		return true
	}
	if err := l.forward(ss.Signal); err != nil {
		// The command is gone already (the run is ending) or cannot be reached: nothing to wait for.
		l.r.opts.Logf("forward %s to the command: %v; killing the sandbox", info.Signal, err)
		killNow()
		return true
	}
	info.Forwarded = true
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-stop:
	case <-wall:
		onWall()
	case <-t.C:
		killNow()
	}
	return true
}

// forward sends sig to the command: the first child of the sandbox's pid 1 (orphans it adopts later come
// after it in the list), through a pidfd taken while it is still that child, so that a reused pid number is
// never signalled.
func (l *launch) forward(sig syscall.Signal) error {
	children := fmt.Sprintf("/proc/%d/task/%d/children", l.reaper, l.reaper)
	first := func() (int, error) {
		b, err := os.ReadFile(children)
		if err != nil {
			return 0, err
		}
		f := strings.Fields(string(b))
		if len(f) == 0 {
			return 0, errors.New("the command has exited")
		}
		return strconv.Atoi(f[0])
	}
	pid, err := first()
	if err != nil {
		return err
	}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil {
		return fmt.Errorf("pidfd_open %d: %w", pid, err)
	}
	defer unix.Close(fd)
	if again, err := first(); err != nil || again != pid {
		return errors.New("the command has exited")
	}
	if err := unix.PidfdSendSignal(fd, sig, nil, 0); err != nil {
		return fmt.Errorf("pidfd_send_signal: %w", err)
	}
	return nil
}
