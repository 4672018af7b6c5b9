package service

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"
)

// Admission refusals. Each maps to one HTTP status.
var (
	errQuota        = errors.New("tenant is over its quota")      // 429
	errQueueFull    = errors.New("server queue is full")          // 503
	errShuttingDown = errors.New("server is shutting down")       // 503
	errGone         = errors.New("client went away while queued") // no answer is read
)

// sched decides when a request may run. A request runs when its tenant is under max_concurrent and the
// server is under its global max_concurrent; otherwise it waits in one FIFO shared by all tenants, bounded
// per tenant (max_concurrent+max_queue requests running or waiting, else 429) and globally (else 503). A release hands the freed slot to the oldest
// waiter that can use it, so one tenant's full quota never blocks another tenant's requests behind it.
type sched struct {
	mu         sync.Mutex
	maxRunning int
	maxQueued  int
	running    int
	queue      []*waiter
	draining   bool
	// avgRun is an exponentially weighted mean of run durations (seconds), for Retry-After.
	avgRun float64
}

type tenantSlots struct {
	max, maxQueue   int
	running, queued int // guarded by sched.mu
}

type waiter struct {
	t     *tenantSlots
	n     int        // slots the request needs: 1 for a run, 2 for an interactive run (two sandboxes)
	ready chan error // receives nil when granted, or a refusal
}

func newSched(maxRunning, maxQueued int) *sched {
	return &sched{maxRunning: maxRunning, maxQueued: maxQueued, avgRun: 1}
}

// errTooBig: the request needs more slots than its tenant or the server has at all.
var errTooBig = errors.New("request needs more run slots than configured")

// acquire returns when the request may run n sandboxes at once, with release to call when it is done. It
// fails with errTooBig, errQuota, errQueueFull, errShuttingDown, or errGone when ctx ends while waiting.
func (s *sched) acquire(ctx context.Context, t *tenantSlots, n int) (release func(), err error) {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return nil, errShuttingDown
	}
	if n > t.max || n > s.maxRunning {
		s.mu.Unlock()
		return nil, errTooBig
	}
	// Requests of the tenant that already wait go first, and so do all waiters for the server's capacity
	// (dispatch keeps both FIFO), so a request runs at once only when nobody it would overtake waits.
	if t.queued == 0 && t.running+n <= t.max && s.running+n <= s.maxRunning && !s.globalWaiters() {
		s.grant(t, n)
		s.mu.Unlock()
		return s.releaser(t, n), nil
	}
	// The tenant's quota bounds what it has in the server, running or waiting, whatever it waits for: a
	// tenant under max_concurrent whose request waits only because the server is busy still uses its queue.
	if t.running+t.queued+n > t.max+t.maxQueue {
		s.mu.Unlock()
		return nil, errQuota
	}
	if len(s.queue) >= s.maxQueued {
		s.mu.Unlock()
		return nil, errQueueFull
	}
	w := &waiter{t: t, n: n, ready: make(chan error, 1)}
	s.queue = append(s.queue, w)
	t.queued += n
	s.mu.Unlock()

	select {
	case err := <-w.ready:
		if err != nil {
			return nil, err
		}
		return s.releaser(t, n), nil
	case <-ctx.Done():
		s.mu.Lock()
		if s.remove(w) {
			t.queued -= n
			s.dispatch() // a waiter behind this one may fit now
			s.mu.Unlock()
			return nil, errGone
		}
		s.mu.Unlock()
		// Granted (or refused) between ctx ending and taking the lock: honour the grant by giving it back.
		if err := <-w.ready; err == nil {
			s.releaser(t, n)()
		}
		return nil, errGone
	}
}

// globalWaiters reports whether a request waits for the server's capacity rather than its tenant's quota.
// Called with mu held.
func (s *sched) globalWaiters() bool {
	for _, w := range s.queue {
		if w.t.running+w.n <= w.t.max {
			return true
		}
	}
	return false
}

func (s *sched) grant(t *tenantSlots, n int) {
	t.running += n
	s.running += n
}

func (s *sched) releaser(t *tenantSlots, n int) func() {
	start := time.Now()
	var once sync.Once
	return func() {
		once.Do(func() {
			d := time.Since(start).Seconds()
			s.mu.Lock()
			defer s.mu.Unlock()
			s.avgRun = 0.9*s.avgRun + 0.1*d
			t.running -= n
			s.running -= n
			s.dispatch()
		})
	}
}

// dispatch grants slots to waiters in order. A waiter whose own tenant is at its quota is passed over (it
// must not hold back other tenants); the first one that only lacks server capacity stops the scan, so the
// server's capacity goes strictly first come, first served and an interactive run needing two slots is
// not starved by single runs behind it. Called with mu held.
func (s *sched) dispatch() {
	for i := 0; i < len(s.queue); {
		w := s.queue[i]
		if w.t.running+w.n > w.t.max {
			i++
			continue
		}
		if s.running+w.n > s.maxRunning {
			return
		}
		s.queue = append(s.queue[:i], s.queue[i+1:]...)
		w.t.queued -= w.n
		s.grant(w.t, w.n)
		w.ready <- nil
	}
}

func (s *sched) remove(w *waiter) bool {
	for i, x := range s.queue {
		if x == w {
			s.queue = append(s.queue[:i], s.queue[i+1:]...)
			return true
		}
	}
	return false
}

// drain refuses every waiting and every future request; running ones are left alone.
func (s *sched) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.draining = true
	for _, w := range s.queue {
		w.t.queued -= w.n
		w.ready <- errShuttingDown
	}
	s.queue = nil
}

// retryAfter estimates, in whole seconds (1..60), when a refused request of t is likely to be admitted:
// the mean run time times the runs ahead of it per slot.
func (s *sched) retryAfter(t *tenantSlots) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	ahead, slots := float64(t.queued+1), float64(max(t.max, 1))
	if len(s.queue) >= s.maxQueued {
		ahead, slots = float64(len(s.queue)+1), float64(s.maxRunning)
	}
	return int(math.Min(60, math.Max(1, math.Ceil(s.avgRun*ahead/slots))))
}

// stats is a snapshot for /metrics.
func (s *sched) stats() (running, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.running, len(s.queue)
}

func (s *sched) tenantStats(t *tenantSlots) (running, queued int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return t.running, t.queued
}
