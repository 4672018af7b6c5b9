package seccomp

import (
	"testing"
	"time"
)

// The supervisor's budget: a burst at full speed, then NotifyRate a second however fast calls arrive, and
// a full burst again after a quiet spell.
func TestThrottle(t *testing.T) {
	var b throttle
	now := time.Unix(1000, 0)
	for i := 0; i < NotifyBurst; i++ {
		if d := b.wait(now); d != 0 {
			t.Fatalf("call %d of the burst held %v", i, d)
		}
	}
	// 1000 more calls at the same instant: each is held one more 1/NotifyRate than the one before.
	var held time.Duration
	for i := 0; i < 1000; i++ {
		held = b.wait(now)
	}
	if want := time.Second * 1000 / NotifyRate; held < want-time.Millisecond || held > want+time.Millisecond {
		t.Fatalf("the 1000th call over the burst is held %v, want about %v", held, want)
	}
	// Calls that honour the holds run at NotifyRate: simulate 10 s of them.
	n := 0
	for end := now.Add(10 * time.Second); now.Before(end); n++ {
		now = now.Add(b.wait(now))
	}
	if rate := float64(n) / 10; rate < NotifyRate*0.9 || rate > NotifyRate*1.1 {
		t.Fatalf("%v calls a second once the burst is spent, want about %d", rate, NotifyRate)
	}
	if d := b.wait(now.Add(time.Hour)); d != 0 {
		t.Fatalf("after an hour's quiet a call is held %v", d)
	}
}
