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
// per tenant (max_queue, else 429) and globally (else 503). A release hands the freed slot to the oldest
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
	ready chan error // receives nil when granted, or a refusal
}

func newSched(maxRunning, maxQueued int) *sched {
	return &sched{maxRunning: maxRunning, maxQueued: maxQueued, avgRun: 1}
}

// acquire returns when the request may run, with release to call when it is done. It fails with errQuota,
// errQueueFull, errShuttingDown, or errGone when ctx ends while waiting.
func (s *sched) acquire(ctx context.Context, t *tenantSlots) (release func(), err error) {
	s.mu.Lock()
	if s.draining {
		s.mu.Unlock()
		return nil, errShuttingDown
	}
	// Requests of the tenant that already wait go first; waiters only exist for a saturated tenant or a
	// saturated server, so "no one of mine waits and both have room" means this one may run now.
	if t.queued == 0 && t.running < t.max && s.running < s.maxRunning {
		s.grant(t)
		s.mu.Unlock()
		return s.releaser(t), nil
	}
	if t.queued >= t.maxQueue {
		s.mu.Unlock()
		return nil, errQuota
	}
	if len(s.queue) >= s.maxQueued {
		s.mu.Unlock()
		return nil, errQueueFull
	}
	w := &waiter{t: t, ready: make(chan error, 1)}
	s.queue = append(s.queue, w)
	t.queued++
	s.mu.Unlock()

	select {
	case err := <-w.ready:
		if err != nil {
			return nil, err
		}
		return s.releaser(t), nil
	case <-ctx.Done():
		s.mu.Lock()
		if s.remove(w) {
			t.queued--
			s.mu.Unlock()
			return nil, errGone
		}
		s.mu.Unlock()
		// Granted (or refused) between ctx ending and taking the lock: honour the grant by giving it back.
		if err := <-w.ready; err == nil {
			s.releaser(t)()
		}
		return nil, errGone
	}
}

func (s *sched) grant(t *tenantSlots) {
	t.running++
	s.running++
}

func (s *sched) releaser(t *tenantSlots) func() {
	start := time.Now()
	var once sync.Once
	return func() {
		once.Do(func() {
			d := time.Since(start).Seconds()
			s.mu.Lock()
			defer s.mu.Unlock()
			s.avgRun = 0.9*s.avgRun + 0.1*d
			t.running--
			s.running--
			s.dispatch()
		})
	}
}

// dispatch grants slots to the oldest waiters that can use them. Called with mu held.
func (s *sched) dispatch() {
	for i := 0; i < len(s.queue) && s.running < s.maxRunning; {
		w := s.queue[i]
		if w.t.running >= w.t.max {
			i++
			continue
		}
		s.queue = append(s.queue[:i], s.queue[i+1:]...)
		w.t.queued--
		s.grant(w.t)
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
		w.t.queued--
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
