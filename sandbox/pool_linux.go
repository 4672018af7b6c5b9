//go:build linux && cgo

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"runtime"
	"sync"
	"time"

	"github.com/jailrun/jailrun/internal/childabi"
	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// Pool keeps sandboxes for one policy prepared ahead of demand — cgroup created and joined, namespaces,
// mounts and pivot_root done, the init stage waiting — so that a run only pays for its command: fds and
// argv go to the waiting sandbox, which forks, loads its seccomp filter and execs. A sandbox is never
// reused: it runs exactly one command, is destroyed with its cgroup, and a fresh one is prepared in the
// background.
//
// A request whose policy differs from the pool's (a per-run tightening, another policy) runs cold through
// the Runner, as does any request when no prepared sandbox is ready; the result is the same either way, and
// Result.Pooled tells which path it took.
type Pool struct {
	r    *Runner
	s    *policy.Settings
	size int

	ready chan *prepared
	stop  chan struct{}
	done  chan struct{}

	mu       sync.Mutex
	closed   bool
	inflight sync.WaitGroup
	stats    PoolStats
	lastErr  error

	// seccompPlan is worked out at the first sandbox and shared by all: the section's filter and the
	// supervisor's argument table depend only on the policy, which a pool never changes (its hash, the
	// cache key, alone cost 2 % of a warm pool's CPU when made per sandbox).
	seccompPlan func() seccompPlan
}

// NewPool starts a pool for policy s. Close it to drain it: prepared sandboxes are destroyed, runs in
// progress finish first; Runner.Close closes it too. A negative PoolOptions.Size is refused (ErrPolicy),
// and a Runner that was closed refuses with ErrClosed.
func (r *Runner) NewPool(s *policy.Settings, o PoolOptions) (*Pool, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no policy", ErrPolicy)
	}
	if err := o.validate(); err != nil {
		return nil, err
	}
	if o.Size == 0 {
		o.Size = defaultPoolSize
	}
	p := &Pool{r: r, s: s, size: o.Size, ready: make(chan *prepared, o.Size), stop: make(chan struct{}), done: make(chan struct{})}
	p.seccompPlan = sync.OnceValue(func() seccompPlan { return planSeccomp(s.Seccomp) })
	p.stats.Size = o.Size
	// Registered before its first sandbox is prepared: a Runner.Close from now on closes it.
	if err := r.addPool(p); err != nil {
		return nil, err
	}
	go p.fill()
	return p, nil
}

// fill prepares sandboxes until Close. It runs on its own locked OS thread for the pool's whole life: a
// prepared sandbox's parent-death signal is tied to the thread that cloned it, which therefore must not go
// away while any of its sandboxes lives. It exits (and its thread with it) only after every run that took
// one of its sandboxes has ended.
func (p *Pool) fill() {
	runtime.LockOSThread() // never unlocked: the thread ends with this goroutine
	defer close(p.done)
	pause := time.Duration(0)
	for {
		if pause > 0 {
			select {
			case <-p.stop:
				p.drain()
				return
			case <-time.After(pause):
			}
		}
		pr, err := p.prepareOne()
		p.mu.Lock()
		if err != nil {
			p.stats.Failed++
			p.lastErr = err
			p.mu.Unlock()
			// A policy this host cannot run fails every time: back off, and let runs report it cold.
			pause = min(max(2*pause, 50*time.Millisecond), 5*time.Second)
			continue
		}
		p.stats.Prepared++
		p.mu.Unlock()
		pause = 0
		select {
		case p.ready <- pr:
		case <-p.stop:
			pr.discard()
			p.drain()
			return
		}
	}
}

// drain destroys the prepared sandboxes and waits for runs in progress, whose sandboxes this thread cloned.
func (p *Pool) drain() {
	for {
		select {
		case pr := <-p.ready:
			pr.discard()
		default:
			p.inflight.Wait()
			return
		}
	}
}

// prepared is what a Pool holds: a sandbox cloned up to the point where its init stage waits for a command,
// and the launch that owns its cgroup, pipes and memory. Pool.Run hands both to launch.run, the same path a
// cold run takes from there.
type prepared struct {
	l  *launch
	sb *sandboxProc
}

// prepareOne creates one sandbox up to the point where it waits for its command.
func (p *Pool) prepareOne() (*prepared, error) {
	l := &launch{r: p.r, s: p.s, start: time.Now(), seccompPlan: p.seccompPlan}
	l.newResult()
	cfg, err := l.prepare(true)
	if err != nil {
		l.runCleanup()
		return nil, err
	}
	sb, se := l.clone(cfg)
	if se != nil {
		l.runCleanup()
		return nil, se
	}
	return &prepared{l: l, sb: sb}, nil
}

// Run runs req in a prepared sandbox when req.Policy is the pool's policy and one is ready, else cold
// through the Runner. Like Runner.Run, it is safe for concurrent use. Once the pool is closed every run is
// refused with ErrClosed, whatever its policy: a caller that closed the pool learns it is using it still.
func (p *Pool) Run(ctx context.Context, req Request) (*Result, error) {
	if p.isClosed() {
		return nil, errPoolClosed
	}
	if err := validateRequest(&req); err != nil {
		return nil, err
	}
	if !p.serves(req.Policy) || req.wantsFiles() {
		p.count(func(s *PoolStats) { s.Bypassed++ })
		return p.r.Run(ctx, req)
	}
	p.mu.Lock()
	if p.closed { // closed since the check above: drain may be waiting for inflight already
		p.mu.Unlock()
		return nil, errPoolClosed
	}
	p.inflight.Add(1)
	p.mu.Unlock()
	defer p.inflight.Done()
	for {
		var pr *prepared
		select {
		case pr = <-p.ready:
		default:
		}
		if pr == nil {
			p.count(func(s *PoolStats) { s.Misses++ })
			return p.r.Run(ctx, req)
		}
		if err := pr.awaitReady(); err != nil {
			// It failed in its init stage (the host changed under the pool?): try the next, or run cold.
			pr.discard()
			p.mu.Lock()
			p.stats.Failed++
			p.lastErr = err
			p.mu.Unlock()
			continue
		}
		if err := fitsShared(&req); errors.Is(err, errCommandTooLarge) {
			pr.discard()
			p.count(func(s *PoolStats) { s.Bypassed++ })
			return p.r.Run(ctx, req)
		}
		p.count(func(s *PoolStats) { s.Hits++ })
		l := pr.l
		l.req = &req
		l.start = time.Now()
		l.res.Pooled = true
		return l.run(ctx, pr.sb)
	}
}

// Serves reports whether runs of s can use this pool's sandboxes: the pool is not closed, and s is its
// policy, unchanged.
func (p *Pool) Serves(s *policy.Settings) bool {
	return !p.isClosed() && p.serves(s)
}

// serves is Serves without the closed check: whether s is the pool's policy.
func (p *Pool) serves(s *policy.Settings) bool {
	return s == p.s || reflect.DeepEqual(s, p.s)
}

func (p *Pool) isClosed() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.closed
}

// fitsShared checks, before a prepared sandbox is committed to req, that its command will fit the shared
// memory (sendCommand writes it once the fds are known) and its fds the pooled sandbox's table: a request
// that does not fit runs cold, as it would without a pool, rather than failing.
func fitsShared(req *Request) error {
	if 3+len(req.Channels) > childabi.PoolMaxFDs {
		return errCommandTooLarge
	}
	n := len(req.Argv[0]) + 64*len(req.Argv) + 1024
	for _, a := range req.Argv {
		n += len(a)
	}
	for _, e := range req.Env {
		n += len(e) + 16
	}
	if n > sharedSize/2 {
		return errCommandTooLarge
	}
	return nil
}

func (p *Pool) count(f func(*PoolStats)) {
	p.mu.Lock()
	f(&p.stats)
	p.mu.Unlock()
}

// Stats returns the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.stats
	s.Ready = len(p.ready)
	if p.lastErr != nil {
		s.LastError = p.lastErr.Error()
	}
	return s
}

// Close stops preparing sandboxes, destroys the prepared ones and waits for runs in progress to end; Run
// then refuses with ErrClosed. It is safe to call more than once.
func (p *Pool) Close() error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.stop)
	}
	p.mu.Unlock()
	<-p.done
	p.r.dropPool(p)
	return nil
}

// prepareControl gives a pooled sandbox its control socket (the parent's end non-blocking, so a read can
// have a deadline) and the shared memory its command will arrive in.
func (l *launch) prepareControl(cfg *spawnConfig) error {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return &SetupError{Stage: "prepare", Step: StepControlSocket, Err: err}
	}
	if err := unix.SetNonblock(fds[0], true); err != nil {
		unix.Close(fds[0])
		unix.Close(fds[1])
		return &SetupError{Stage: "prepare", Step: StepControlSocket, Err: err}
	}
	p := &l.pipes
	p.ctlP, p.ctlC = os.NewFile(uintptr(fds[0]), "pool-ctl"), os.NewFile(uintptr(fds[1]), "pool-ctl-child")
	ctlP, ctlC := p.ctlP, p.ctlC
	l.cleanup = append(l.cleanup, func() { ctlP.Close(); ctlC.Close() })
	mem, err := unix.Mmap(-1, 0, sharedSize, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED|unix.MAP_ANONYMOUS)
	if err != nil {
		return &SetupError{Stage: "prepare", Step: StepSharedMemory, Err: err}
	}
	p.shared = mem
	l.cleanup = append(l.cleanup, func() { _ = unix.Munmap(mem) })
	cfg.ctlFD, cfg.shared = fds[1], mem
	cfg.parentFDs[4] = fds[0]
	return nil
}

// awaitReady waits for the sandbox's ready byte: normally already there. EOF means the init stage failed;
// its error is on the error pipe.
func (pr *prepared) awaitReady() error {
	sb := pr.sb
	_ = sb.ctl.SetReadDeadline(time.Now().Add(setupTimeout))
	var b [1]byte
	n, err := sb.ctl.Read(b[:])
	if n == 1 {
		return nil
	}
	var eb [childabi.ErrorSize]byte
	if m, _ := io.ReadFull(sb.errR, eb[:]); m == childabi.ErrorSize {
		// The same words a cold run's waitExec gives (a bind source's closed directory, a missing command).
		ce := childabi.DecodeError(eb[:])
		se := describeChildError(ce, sb.cfg)
		se.Err = pr.l.childError(sb.cfg, ce)
		return se
	}
	if err == nil {
		err = io.EOF
	}
	return &SetupError{Stage: "init", Step: StepPoolWait, Err: err}
}

// sendCommand hands the command to the waiting sandbox: argv, environment and PATH through the shared
// memory, the fds with the message.
func (l *launch) sendCommand(sb *sandboxProc) error {
	if err := fillCommand(sb.cfg); err != nil {
		return err
	}
	fds := make([]int, len(sb.cfg.fds))
	for i, f := range sb.cfg.fds {
		fds[i] = f[0]
	}
	rc, err := sb.ctl.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Write(func(fd uintptr) bool {
		serr = unix.Sendmsg(int(fd), []byte{1}, unix.UnixRights(fds...), nil, unix.MSG_NOSIGNAL)
		return serr != unix.EAGAIN
	})
	if err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("send command: %w", err)
	}
	return nil
}

// discard destroys a prepared sandbox that will not run: its pid 1 is killed (and with it the pid
// namespace), reaped, and its cgroup, pipes and memory released.
func (pr *prepared) discard() {
	pr.l.kill(StatusSetupError, nil)
	if !pr.sb.reaped {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pr.sb.pid, &ws, 0, nil)
		pr.sb.reaped = true
	}
	pr.l.runCleanup()
}

func (l *launch) runCleanup() {
	for i := len(l.cleanup) - 1; i >= 0; i-- {
		l.cleanup[i]()
	}
	l.cleanup = nil
}
