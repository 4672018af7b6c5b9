package cgroups

import (
	"testing"
	"time"

	"github.com/jailrun/jailrun/policy"
)

// TestWatchOOM: on v1 the watch fires on the cgroup's OOM kill (so the launcher can end the rest of the
// sandbox, which v1 has no memory.oom.group for) and Close wakes a Wait that saw nothing; on v2 there is
// nothing to watch, the kernel kills the group.
func TestWatchOOM(t *testing.T) {
	m := requireCgroups(t, Options{})
	if !hostOffers(m, "memory") {
		skipOrFail(t, "no memory controller offered here")
	}
	c := create(t, m, policy.Limits{Memory: 64 * mib}, policy.Require{})
	w, err := c.WatchOOM()
	if err != nil {
		t.Fatal(err)
	}
	if m.v2 {
		if w != nil {
			t.Fatalf("a watch on v2, where memory.oom.group does the job")
		}
		return
	}
	if w == nil {
		t.Fatal("no OOM watch on v1")
	}
	fired := make(chan bool, 1)
	go func() { fired <- w.Wait() }()
	// A quiet process first: no event.
	quiet := startHelper(t, c, "sleep", nil, false)
	select {
	case <-fired:
		t.Fatal("the watch fired with no OOM")
	case <-time.After(200 * time.Millisecond):
	}
	h := startHelper(t, c, "hog", []string{"HOG_MIB=512"}, false)
	select {
	case ok := <-fired:
		if !ok {
			t.Fatal("Wait returned false without Close")
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no OOM event within 30 s")
	}
	<-h.exited
	// What the launcher then does: the rest of the cgroup goes too.
	if err := c.Kill(); err != nil {
		t.Fatal(err)
	}
	<-quiet.exited
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	if s.OOMKills < 1 {
		t.Errorf("OOMKills %d after the event", s.OOMKills)
	}
	t.Logf("stats after the OOM event: %+v", s)
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}

	// A Wait in progress returns false when the watch is closed.
	w2, err := c.WatchOOM()
	if err != nil || w2 == nil {
		t.Fatalf("second watch: %v %v", w2, err)
	}
	go func() { fired <- w2.Wait() }()
	time.Sleep(50 * time.Millisecond)
	w2.Close()
	select {
	case ok := <-fired:
		if ok {
			t.Error("Wait reported an OOM after Close")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not wake Wait")
	}
}
