package sandbox

import (
	"fmt"
	"syscall"
)

// StopSignal, as the cause of a cancelled context (context.WithCancelCause), asks Run to stop the run
// gracefully: Signal is forwarded to the command, which then has the policy's limits.kill_grace to exit
// before the whole sandbox is killed. This is what the CLI does when it receives SIGTERM, SIGINT or SIGHUP.
// Any other cancellation (a plain cancel, a deadline) kills the sandbox at once: a caller that no longer
// waits for the run gets no grace period spent on its behalf.
type StopSignal struct {
	Signal syscall.Signal
}

func (s *StopSignal) Error() string { return fmt.Sprintf("asked to stop with %v", s.Signal) }

// StopInfo says how a run that was asked to stop (StopSignal) ended.
type StopInfo struct {
	// Signal is the signal's name, e.g. "SIGTERM".
	Signal string `json:"signal"`
	// Forwarded: the signal reached the command (false when limits.kill_grace is 0 or the command was
	// already gone).
	Forwarded bool `json:"forwarded"`
	// KilledAfterGrace: the sandbox was still running when limits.kill_grace ran out and was killed.
	KilledAfterGrace bool `json:"killed_after_grace"`
}
