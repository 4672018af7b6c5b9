package seccomp

import "time"

// The supervisor's work for a refused call (receive, decide, answer: about 10 µs, more under load) is
// jailrun's CPU, not the sandbox's: its cgroup is not charged. A program that does nothing but make refused
// calls would otherwise turn one sandbox's CPU share into up to a whole core of the host's, uncounted, which
// in a service is one tenant degrading the others. So each supervisor answers a burst of NotifyBurst calls
// at full speed and then at most NotifyRate a second; a call over the budget stays pending, its task asleep
// in the kernel (charged nothing, bounded by the run's wall-time limit). Ordinary programs never come near:
// a refused call is a failure they handle, not a loop.
const (
	NotifyBurst = 4096
	NotifyRate  = 1000 // per second, after the burst
)

// throttle is a token bucket that may go into debt: wait says how long to hold the call it was asked for.
type throttle struct {
	tokens float64
	last   time.Time
}

func (b *throttle) wait(now time.Time) time.Duration {
	if b.last.IsZero() {
		b.tokens = NotifyBurst
	} else {
		b.tokens = min(NotifyBurst, b.tokens+now.Sub(b.last).Seconds()*NotifyRate)
	}
	b.last = now
	b.tokens--
	if b.tokens >= 0 {
		return 0
	}
	return time.Duration(-b.tokens / NotifyRate * float64(time.Second))
}
