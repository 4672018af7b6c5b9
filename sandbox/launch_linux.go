//go:build linux && cgo

package sandbox

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jailrun/jailrun/cgroups"
	"github.com/jailrun/jailrun/internal/childabi"
	"github.com/jailrun/jailrun/internal/statedir"
	"github.com/jailrun/jailrun/ipc"
	"github.com/jailrun/jailrun/namespaces"
	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp"
	"golang.org/x/sys/unix"
)

type platform struct {
	root bool
	// cg is nil when this host has no usable cgroup hierarchy; a policy that needs cgroup limits is then
	// refused unless it marks them best effort.
	cg    *cgroups.Manager
	cgErr error
	// ids is what the sandbox's user and group map to, settled once: the id files and helpers are read
	// here, not on every launch.
	ids IDMappingInfo
	// alloc hands each run host ids of its own when ids.Kind is "allocated" (see hostids_linux.go).
	alloc  *idAllocator
	idNote string // why this Runner's sandboxes share host ids, when they do
}

func (r *Runner) initPlatform() error {
	r.plat.root = os.Geteuid() == 0
	ids, err := ResolveIDMapping(r.opts)
	if err != nil {
		return err
	}
	// Under IDMapAuto a fallback to the caller's ids is not logged on every run: the result's enforced.id_map
	// says it, and `jailrun doctor` says why.
	r.plat.ids = ids
	if r.plat.alloc, r.plat.idNote, err = newHostIDAllocator(ids); err != nil {
		return err
	}
	m, err := cgroups.NewManager(cgroups.Options{Parent: r.opts.CgroupParent, Registry: statedir.Dir("cgroups")})
	if err != nil {
		r.plat.cgErr = err
		return nil
	}
	r.plat.cg = m
	// Sweep cgroups left by jailrun processes that were killed (SIGKILL leaves no chance to clean up).
	// Quietly on success: a CLI run prints nothing of its own unless something is wrong with it.
	if _, err := m.Janitor(); err != nil {
		r.opts.Logf("cgroup janitor: %v", err)
	}
	return nil
}

// Close marks the Runner closed (Run and NewPool then fail with ErrClosed), closes the pools it made,
// waits for runs in progress to end, and then releases what the Runner set up on the host (the cgroup
// parent it created, and its record for the janitor; left while another Runner or process of this host
// still runs under it). Call it when the Runner is no longer needed. It is safe to call more than once.
func (r *Runner) Close() error {
	return r.shutdown(func() error {
		if r.plat.cg != nil {
			return r.plat.cg.Close()
		}
		return nil
	})
}

// Run runs one command under req.Policy and returns its result. The error is non-nil only when the run could
// not start or its outcome could not be established; a command that fails or breaks a limit is a normal
// Result. On a setup failure the Result (Status setup_error) is returned too. After Close it fails with
// ErrClosed.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	exit, err := r.enter()
	if err != nil {
		return nil, err
	}
	defer exit()
	if err := validateRequest(&req); err != nil {
		return nil, err
	}
	l := &launch{r: r, req: &req, s: req.Policy, start: time.Now()}
	if req.wantsFiles() {
		dir, err := validateFiles(&req)
		if err != nil {
			return nil, err
		}
		l.box = &runBox{dir: dir}
	}
	l.prepareFileSize()
	return l.run(ctx, nil)
}

// launch is the state of one run, from policy to Result.
type launch struct {
	r     *Runner
	req   *Request
	s     *policy.Settings
	start time.Time
	trace []Phase
	last  time.Time

	res     *Result
	cleanup []func()

	auditStarted, auditEnded bool
	dg                       *degraded // degraded mode (no namespaces); nil on a normal run

	pipes pipes
	stdio *stdio

	killOnce sync.Once
	pidfd    int
	ownPIDNS bool // the sandbox's pid 1 is the init of its own pid namespace (not degraded)
	execed   bool // the command runs: pid 1 is in its reaper loop
	cg       *cgroups.Cgroup
	sup      *supervisor
	box      *runBox // the run's files in and out; nil without any
	killedBy Status  // the limit jailrun killed the sandbox for, if any
	killMsg  *LimitHit
	mu       sync.Mutex
	oom      *cgroups.OOMWatch // cgroup v1: ends the sandbox on an OOM kill; nil when the kernel does it
	counters *cgroups.Stats    // the cgroup's figures after the run, for limits_hit
	reaper   int               // the sandbox's pid 1 (host pid), whose first child is the command
	ids      IDMappingInfo     // this run's host ids: the Runner's, or its own allocated ones
	fsize    *fsizeCount       // counts SIGXFSZ raised in the sandbox (fsizecount_linux.go); nil when not

	fsizePrep chan fsizePrepared // a cold run's counter, prepared in the background until watchFileSize takes it

	seccompPlan func() seccompPlan // the pool's, worked out once for all its sandboxes; nil on a single run
}

// setupTimeout bounds the child's init stage (mounts, pivot_root, exec), which takes milliseconds; only a
// stuck mount source or a stalled kernel comes near it.
const setupTimeout = 30 * time.Second

func (l *launch) phase(name string) {
	if l.req == nil || !l.req.TraceSetup {
		return
	}
	now := time.Now()
	if l.last.IsZero() {
		l.last = l.start
	}
	l.trace = append(l.trace, Phase{Name: name, MS: ms(now.Sub(l.last))})
	l.last = now
}

// kill stops the whole sandbox. The first reason recorded wins: it is the limit that ended the run.
func (l *launch) kill(reason Status, hit *LimitHit) {
	l.mu.Lock()
	if l.killedBy == "" {
		l.killedBy, l.killMsg = reason, hit
	}
	l.mu.Unlock()
	l.killOnce.Do(func() {
		l.mu.Lock()
		// Before the exec, pid 1 is still setting up and would take the request only once the command
		// runs: kill outright then.
		own := l.ownPIDNS && l.execed
		if l.pidfd >= 0 && own {
			// Pid 1 kills everything else in its pid namespace and reaps the command, which keeps the
			// command's rusage (max RSS, context switches) for the result, as after any end; it exits at
			// once after. A pid 1 that does not end the run so within reaperKillGrace is killed outright.
			_ = unix.PidfdSendSignal(l.pidfd, unix.Signal(childabi.KillSignal), nil, 0)
			time.AfterFunc(reaperKillGrace, l.killHard)
		}
		l.mu.Unlock()
		if !own {
			l.killHard()
		}
	})
}

// reaperKillGrace is how long pid 1 has to end the run when asked (it takes microseconds) before the
// sandbox is killed outright.
const reaperKillGrace = 100 * time.Millisecond

// killHard kills the sandbox outright: SIGKILL to pid 1, whose death kills its pid namespace, and every
// process of the run's cgroup (without a pid namespace the cgroup is what holds them all). Once the
// sandbox is reaped it does nothing.
func (l *launch) killHard() {
	l.mu.Lock()
	gone := l.pidfd < 0
	if !gone {
		_ = unix.PidfdSendSignal(l.pidfd, unix.SIGKILL, nil, 0)
	}
	l.mu.Unlock()
	if l.cg != nil && !gone {
		_ = l.cg.Kill()
	}
}

// setupError ends the run as a setup error: the result says so, and the error is se.
func (l *launch) setupError(se *SetupError) (*Result, error) {
	l.res.Status = StatusSetupError
	l.res.Message = se.Error()
	return l.res, se
}

func (l *launch) newResult() {
	s := l.s
	l.pidfd = -1
	l.res = &Result{
		SchemaVersion:   SchemaVersion,
		RunID:           newRunID(),
		ExitCode:        -1,
		PeakMemoryBytes: -1,
		PeakPids:        -1,
		Policy:          PolicyInfo{Name: s.Name, Source: s.Source, SHA256: s.SHA256, Overrides: s.Overrides},
		Skipped:         []string{},
		LimitsHit:       []LimitHit{},
	}
}

// sandboxProc is a cloned sandbox as the parent sees it: its pid 1 and the parent's ends of its pipes.
type sandboxProc struct {
	cfg     *spawnConfig
	pid     int
	errR    *os.File // EOF when the command was executed; a jr_error before that
	statusR *os.File // the reaper writes the command's wait status
	notifyW *os.File // releases the command after the parent took the seccomp listener
	ctl     *os.File // pooled sandboxes: the ready byte comes here, the command goes there
	shared  []byte   // pooled sandboxes: struct jr_cmd and its strings, shared with the child
	reaped  bool
}

// run takes the launch through its stages (docs/architecture.md): startSandbox (a cold run acquires and
// clones its sandbox, a pooled one comes cloned from the Pool; both are then given their command), waitExec
// (the child's init stage, up to the command's execve), supervise (the command runs under the watchers
// until the sandbox is reaped) and finish (the figures, the verdict, what was enforced). Each stage hands
// the next what it needs. pooled is the sandbox a Pool cloned for this launch ahead of demand; nil for a
// cold run.
func (l *launch) run(ctx context.Context, pooled *sandboxProc) (res *Result, err error) {
	if l.res == nil {
		l.newResult()
	}
	defer func() {
		if res != nil && l.auditStarted && !l.auditEnded {
			// A run that failed after run.start still gets its run.end (status setup_error).
			_ = l.auditEnd()
		}
		l.runCleanup()
		if res != nil {
			res.SetupTrace = l.trace
		}
	}()
	if pooled == nil {
		// A cold run clones its sandbox in startSandbox. The thread stays locked until the sandbox is reaped: the
		// child's parent-death signal is tied to the thread that cloned it (a pooled sandbox's is the Pool's).
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	sb, res, err := l.startSandbox(ctx, pooled)
	if sb == nil {
		if pooled != nil && !pooled.reaped {
			// The prepared sandbox never got its command: it must not outlive the run as a process or a zombie.
			l.kill(StatusSetupError, nil)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(pooled.pid, &ws, 0, nil)
			pooled.reaped = true
		}
		return res, err
	}
	defer func() {
		if !sb.reaped {
			l.kill(StatusSetupError, nil)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(sb.pid, &ws, 0, nil)
		}
	}()
	// The supervisor answers from the moment the listener is taken (in waitExec) until the sandbox is gone.
	supCtx, supCancel := context.WithCancel(context.Background())
	defer func() {
		supCancel()
		if l.sup != nil && l.sup.done != nil {
			<-l.sup.done
		}
	}()
	execAt, res, err := l.waitExec(ctx, sb, supCtx)
	if err != nil {
		return res, err
	}
	ex, res, err := l.supervise(ctx, sb, supCancel)
	if err != nil {
		return res, err
	}
	return l.finish(sb, execAt, ex)
}

// startSandbox gives the sandbox its command. A cold run first acquires what its sandbox needs (prepare:
// cgroup, seccomp program, pipes) and clones it with the command's fds; a pooled sandbox, cloned ahead of
// demand, is sent the command and its fds. From here on the cold and pooled paths are one. On failure it
// returns no sandbox, and the result to return with the error (nil before anything was started).
func (l *launch) startSandbox(ctx context.Context, pooled *sandboxProc) (*sandboxProc, *Result, error) {
	sb := pooled
	var cfg *spawnConfig
	if sb == nil {
		// Stage "prepare": everything the parent can do before the clone.
		var err error
		if cfg, err = l.prepare(false); err != nil {
			if errors.Is(err, ErrSetup) {
				// As Run promises: a setup failure (no host id left, no pipe, no cgroup) has its Result too. A
				// refused policy or request has none: nothing was attempted.
				l.res.Status, l.res.Message = StatusSetupError, err.Error()
				return nil, l.res, err
			}
			return nil, nil, err
		}
	} else {
		// A pooled sandbox: namespaces, mounts and cgroup are in place; only the command is missing.
		cfg = sb.cfg
		cfg.fds = nil
	}
	stdio, err := l.setupStdio()
	if err != nil {
		return nil, nil, err
	}
	l.stdio = stdio
	for i, f := range stdio.child {
		cfg.fds = append(cfg.fds, [2]int{int(f.Fd()), i})
	}
	if err := l.prepareChannels(ctx, cfg); err != nil {
		return nil, nil, err
	}
	l.phase("stdio")
	// The audit log learns of the run before anything of it runs: a log that cannot be written stops the
	// run here (fail closed).
	if err := l.auditStart(); err != nil {
		return nil, nil, err
	}
	if sb == nil {
		// Stage "clone".
		var se *SetupError
		if sb, se = l.clone(cfg); se != nil {
			res, err := l.setupError(se)
			return nil, res, err
		}
	} else {
		cfg.path, cfg.search, cfg.argv, cfg.envp = l.command()
		if err := l.sendCommand(sb); err != nil {
			res, err := l.setupError(&SetupError{Stage: "init", Step: StepPoolSend, Err: err})
			return nil, res, err
		}
	}
	stdio.closeChildEnds()
	for _, ch := range l.req.Channels {
		ch.CloseChildEnd()
	}
	if pooled != nil {
		l.phase("send command")
	}
	return sb, nil, nil
}

// waitExec is stage "init", which runs in the child: the error pipe reaches EOF when execve succeeded, and
// it returns when that happened. With a box, pid 1 first hands it over for the files to be copied in; with
// a seccomp listener, the command first reports its fd number and waits until the parent has taken it and
// started the supervisor under supCtx. The parent must never block forever on a child stuck in its init
// stage (a hung FUSE or NFS bind source, a kernel stall): a watchdog kills the sandbox when the caller
// cancels or setup overruns. On failure the error is a setup error, with the result to return.
func (l *launch) waitExec(ctx context.Context, sb *sandboxProc, supCtx context.Context) (time.Time, *Result, error) {
	cfg, pid, errR, notifyW := sb.cfg, sb.pid, sb.errR, sb.notifyW
	setupDone, watchdogDone := make(chan struct{}), make(chan struct{})
	// Ending the watchdog waits for it: once endWatchdog returns, either it aborted (setupAbort is set and
	// the sandbox killed) or it never will, so an abort cannot land after the command was found executed.
	endWatchdog := sync.OnceFunc(func() { close(setupDone); <-watchdogDone })
	defer endWatchdog()
	var setupAbort atomic.Value
	go func() {
		defer close(watchdogDone)
		t := time.NewTimer(setupTimeout)
		defer t.Stop()
		select {
		case <-setupDone:
			return
		case <-ctx.Done():
			setupAbort.Store(fmt.Errorf("cancelled during setup: %w", ctx.Err()))
		case <-t.C:
			setupAbort.Store(fmt.Errorf("the sandbox's init stage did not finish within %v", setupTimeout))
		}
		l.kill(StatusSetupError, nil)
	}()
	fail := func(stage string, step SetupStep, err error) (time.Time, *Result, error) {
		// A step that failed because the watchdog killed the sandbox reports why it was killed.
		endWatchdog()
		if e, ok := setupAbort.Load().(error); ok {
			stage, step, err = "init", StepSetupTimeout, e
		}
		res, err := l.setupError(&SetupError{Stage: stage, Step: step, Err: err})
		return time.Time{}, res, err
	}
	var eb [childabi.ErrorSize]byte
	n, rerr := io.ReadFull(errR, eb[:])
	if n == childabi.ErrorSize && l.box != nil {
		// pid 1 hands over the box and waits until the files are in (box_linux.go).
		if ce := childabi.DecodeError(eb[:]); ce.Step == childabi.StepBoxFD {
			if err := l.takeBox(int(ce.Detail)); err != nil {
				endWatchdog()
				return fail("init", StepCopyIn, err)
			}
			if _, err := notifyW.Write([]byte{1}); err != nil {
				return fail("init", StepReleaseBox, err)
			}
			l.phase("files in")
			n, rerr = io.ReadFull(errR, eb[:])
		}
	}
	if n == childabi.ErrorSize && l.sup != nil {
		if ce := childabi.DecodeError(eb[:]); ce.Step == childabi.StepNotifyFD {
			fd, err := takeListener(pid, int(ce.Detail))
			if err != nil {
				return fail("exec", StepSeccompListener, err)
			}
			l.sup.fd = fd
			l.cleanup = append(l.cleanup, func() { unix.Close(fd) })
			l.sup.learn = l.req.LearnSeccomp
			l.sup.start(supCtx)
			if _, err := notifyW.Write([]byte{1}); err != nil {
				return fail("exec", StepReleaseCommand, err)
			}
			notifyW.Close()
			n, rerr = io.ReadFull(errR, eb[:])
		}
	}
	endWatchdog()
	if e, ok := setupAbort.Load().(error); ok {
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		sb.reaped = true
		return fail("init", StepSetupTimeout, e)
	}
	execAt := time.Now()
	l.phase("init+exec")
	l.res.SetupTimeMS = ms(execAt.Sub(l.start))
	if n == childabi.ErrorSize {
		ce := childabi.DecodeError(eb[:])
		se := describeChildError(ce, cfg)
		se.Err = l.childError(cfg, ce)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		sb.reaped = true
		res, err := l.setupError(se)
		return time.Time{}, res, err
	}
	if rerr != nil && rerr != io.EOF && !errors.Is(rerr, io.ErrUnexpectedEOF) {
		return fail("init", StepReadChildState, rerr)
	}
	l.mu.Lock()
	l.execed = true
	l.mu.Unlock()
	return execAt, nil, nil
}

// childError is the error a failed init stage reports, with a hint where jailrun can give one.
func (l *launch) childError(cfg *spawnConfig, ce childabi.Error) error {
	e := error(unix.Errno(ce.Errno))
	switch {
	case ce.Step >= 0 && unix.Errno(ce.Errno) == unix.EACCES && cfg.plan != nil && int(ce.Step) < len(cfg.plan.Ops) && cfg.plan.Ops[ce.Step].Kind == childabi.OpOpenSrc:
		if hint := bindSourceHint(cfg.plan.Ops[ce.Step].Src, l.ids.HostUID, l.ids.HostGID); hint != "" {
			e = fmt.Errorf("%w: %s", unix.EACCES, hint)
		}
	case ce.Step == childabi.StepSysctl && unix.Errno(ce.Errno) == unix.EACCES && int(ce.Detail) >= 0 && int(ce.Detail) < len(cfg.sysctls):
		// A root directory closed to the sandbox's host user (an image whose / is 0700) fails here first.
		if hint := searchHint(cfg.sysctls[ce.Detail][0], l.ids.HostUID, l.ids.HostGID,
			"the init writes limits.kernel as that user", "or give the sandbox's ids search permission"); hint != "" {
			e = fmt.Errorf("%w: %s", unix.EACCES, hint)
		}
	case ce.Step >= 0 && unix.Errno(ce.Errno) == unix.ENOENT && cfg.plan != nil && int(ce.Step) < len(cfg.plan.Ops) && cfg.plan.Ops[ce.Step].Kind == childabi.OpOpenSrc:
		e = fmt.Errorf("%w: create it on the host, or mark the mount \"optional\" in the policy (jailrun doctor lists such mounts)", unix.ENOENT)
	case ce.Step >= 0 && unix.Errno(ce.Errno) == unix.EXDEV:
		e = errors.New("its mount point is missing inside a host bind, and jailrun never creates files on the host: create it on the host, or mount a tmpfs above it")
	case ce.Step == childabi.StepExecNotFound:
		e = fmt.Errorf("%w: %s (looked in %v inside the sandbox)", ErrNotFound, cfg.path, cfg.search)
		if hasSlash(cfg.path) {
			e = fmt.Errorf("%w: %s does not exist inside the sandbox", ErrNotFound, cfg.path)
		}
	case ce.Step == childabi.StepExec:
		e = fmt.Errorf("%w: %s: %w", ErrCannotExec, cfg.path, unix.Errno(ce.Errno))
	case ce.Step == childabi.StepNotAllowed && ce.Detail == 1:
		e = fmt.Errorf("%w: %s: a path in allowed_commands must not go through a symlink (name the file the link points to)", ErrPolicy, cfg.path)
	case ce.Step == childabi.StepNotAllowed && ce.Detail == 2:
		e = fmt.Errorf("%w: %s is a #! script; allowed_commands names the programs that may run, so list the interpreter and run it with the script as an argument", ErrPolicy, cfg.path)
	case ce.Step == childabi.StepNotAllowed:
		e = fmt.Errorf("%w: %s is not in the policy's allowed_commands", ErrPolicy, cfg.path)
	}
	return e
}

// ended is what the supervise stage hands to finish: when the sandbox was reaped, the rusage of what was
// reaped, and what the relays counted.
type ended struct {
	at      time.Time
	ru      unix.Rusage
	streams [2]StreamStats
}

// supervise is stage "wait": the command runs. Watchers enforce time, memory and output limits, the relays
// carry output, the channels their messages, until the sandbox's pid 1 is reaped; then the watchers and the
// seccomp supervisor are stopped (supCancel) and their accounts taken.
func (l *launch) supervise(ctx context.Context, sb *sandboxProc, supCancel context.CancelFunc) (ended, *Result, error) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	l.reaper = sb.pid
	l.watch(ctx, stop, &wg)
	outDone := l.stdio.relay(l)
	l.startChannels(ctx)

	var ex ended
	var ws unix.WaitStatus
	var err error
	for {
		_, err = unix.Wait4(sb.pid, &ws, 0, &ex.ru)
		if err != unix.EINTR {
			break
		}
	}
	sb.reaped = true
	ex.at = time.Now()
	close(stop)
	wg.Wait()
	if l.sup != nil && l.sup.done != nil {
		// Every task that used the filter is gone, so the listener hangs up; cancel in case it has not yet.
		supCancel()
		<-l.sup.done
		l.res.Violation = l.sup.violation()
		l.res.DeniedSyscalls = l.sup.deniedSyscalls()
	}
	if err != nil {
		res, err := l.setupError(&SetupError{Stage: "wait", Step: StepWait, Err: err})
		return ended{}, res, err
	}
	ex.streams = outDone()
	for _, ch := range l.req.Channels {
		l.res.Channels = append(l.res.Channels, ch.Finish())
	}
	return ex, nil, nil
}

// finish fills the result's figures from the kernel (the command's wait status from pid 1, rusage, the
// cgroup's counters), copies the files out, decides the verdict and says what was enforced.
func (l *launch) finish(sb *sandboxProc, execAt time.Time, ex ended) (*Result, error) {
	l.res.WallTimeMS = ms(ex.at.Sub(execAt))
	var st [8]byte
	cmdStatus, haveStatus := unix.WaitStatus(0), false
	if n, _ := io.ReadFull(sb.statusR, st[:]); n == len(st) {
		cmdStatus, haveStatus = unix.WaitStatus(binary.NativeEndian.Uint32(st[:4])), true
	}
	ru := ex.ru
	l.res.CPUTimeMS = CPUTime{
		UserMS:  ms(time.Duration(ru.Utime.Nano())),
		SysMS:   ms(time.Duration(ru.Stime.Nano())),
		TotalMS: ms(time.Duration(ru.Utime.Nano() + ru.Stime.Nano())),
		Source:  "rusage",
	}
	if err := l.readCgroupStats(); err != nil {
		return l.setupError(&SetupError{Stage: "wait", Step: StepCounters, Err: err})
	}
	l.res.MaxRSSBytes = ru.Maxrss * 1024
	l.res.VoluntaryCSW, l.res.ForcedCSW = ru.Nvcsw, ru.Nivcsw
	l.res.Stdout, l.res.Stderr = ex.streams[0], ex.streams[1]
	if l.box != nil {
		l.copyOut()
	}
	l.verdict(cmdStatus, haveStatus)
	l.enforced(sb.cfg)
	if err := l.auditEnd(); err != nil {
		return l.res, err
	}
	return l.res, nil
}

func hasSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

// verdict gathers the run's facts (verdict_linux.go says which) and writes the verdict decided from them
// into the result. The result's figures (CPU, wall time, output, cgroup counters) are already in.
func (l *launch) verdict(ws unix.WaitStatus, have bool) {
	l.mu.Lock()
	killedBy, hit := l.killedBy, l.killMsg
	l.mu.Unlock()
	res := l.res
	v := verdict(&runFacts{
		WaitStatus: ws,
		Reported:   have,
		KilledBy:   killedBy,
		Hit:        hit,
		Counters:   l.counters,
		Cgroup:     res.Enforced.Cgroup,
		CPUTimeMS:  res.CPUTimeMS,
		WallTimeMS: res.WallTimeMS,
		Stdout:     res.Stdout,
		Stderr:     res.Stderr,
		Limits:     l.s.Limits,
		Rlimits:    l.s.Rlimits,
		// Read once the sandbox is reaped: an inherited event adds its count when its task exits.
		FileSizeSignals: l.fsizeHit(),
	})
	res.Status, res.ExitCode, res.Signal, res.SignalName = v.Status, v.ExitCode, v.Signal, v.SignalName
	res.Message, res.Limit, res.LimitsHit = v.Message, v.Limit, v.LimitsHit
}

// watch enforces the wall-clock limit and context cancellation while the command runs.
func (l *launch) watch(ctx context.Context, stop <-chan struct{}, wg *sync.WaitGroup) {
	lim := l.s.Limits
	var wall <-chan time.Time
	if lim.WallTime > 0 {
		t := time.NewTimer(lim.WallTime + lim.ExtraTime)
		wall = t.C
		l.cleanup = append(l.cleanup, func() { t.Stop() })
	}
	if lim.CPUTime > 0 && l.cg != nil {
		wg.Add(1)
		go func() { defer wg.Done(); l.watchCPU(stop) }()
	}
	l.startOOMWatch(stop, wg)
	wg.Add(1)
	go func() {
		defer wg.Done()
		onWall := func() {
			l.kill(StatusWallTimeLimit, &LimitHit{Name: "limits.wall_time", Value: lim.WallTime.String()})
		}
		select {
		case <-stop:
		case <-ctx.Done():
			if !l.stopGracefully(ctx, stop, wall, onWall) {
				l.kill(StatusSignaled, &LimitHit{Name: "context", Value: context.Cause(ctx).Error()})
			}
		case <-wall:
			onWall()
		}
	}()
}

// checkEnforceable refuses a policy this host cannot enforce (fail closed) before anything is created.
func (l *launch) checkEnforceable() error {
	if err := l.chooseMode(); err != nil {
		return err
	}
	s := l.s
	if !s.Namespaces.User && s.Process.UID == 0 && !s.Process.Unsafe {
		return fmt.Errorf("%w: process.uid 0 without a user namespace would be host root", ErrPolicy)
	}
	return nil
}

// prepareSeccomp compiles the policy's filter in the parent; the child only loads it, as its last step
// before execve.
func (l *launch) prepareSeccomp(cfg *spawnConfig) error {
	if !l.s.Seccomp.Enabled {
		return nil
	}
	var sp seccompPlan
	if l.seccompPlan != nil {
		sp = l.seccompPlan()
	} else {
		sp = planSeccomp(l.s.Seccomp)
	}
	prog, err := sp.prog, sp.err
	if err != nil {
		if l.s.Require.Allows("seccomp") {
			l.res.Skipped = append(l.res.Skipped, "seccomp")
			l.r.opts.Logf("seccomp skipped (best effort): %v", err)
			return nil
		}
		var pe *seccomp.PolicyError
		if errors.As(err, &pe) {
			return fmt.Errorf("%w: %w", ErrPolicy, err)
		}
		return fmt.Errorf("%w: seccomp: %w", ErrUnsupported, err)
	}
	if !prog.NeedsNotify() {
		// Cannot happen (foreign-ABI calls are always routed); without a listener nothing would be counted.
		return fmt.Errorf("%w: seccomp: the filter has no supervisor to count refused calls", ErrUnsupported)
	}
	cfg.seccompFlags |= unix.SECCOMP_FILTER_FLAG_NEW_LISTENER
	l.sup = newSupervisor(l, l.s.Seccomp, sp.tested)
	cfg.filter = prog.Instructions()
	return nil
}

// seccompPlan is what a policy's seccomp section gives every sandbox of it: the filter and the arguments the
// supervisor reads. A pool works it out once (Pool.seccompPlan); a single run works it out for itself.
type seccompPlan struct {
	prog   *seccomp.Program
	tested map[string][]seccomp.TestedArg // read-only once made: shared by the pool's supervisors
	err    error
}

func planSeccomp(s policy.Seccomp) seccompPlan {
	// Every refused call goes to the supervisor, which answers it as the policy would and counts it
	// (violation_linux.go); foreign-ABI calls (i386 int 0x80, x32) too, so they are named in the result.
	// Root's compiled filters are kept in /run/jailrun/bpf: a cold CLI start then skips libseccomp.
	prog, err := seccomp.BuildDiskCached(routed(s), seccomp.Options{ForeignABI: policy.Action{Kind: policy.ActNotify}})
	if err == nil {
		// The policy as written must compile too: the supervisor evaluates it at the first refused call.
		// Root compiles it once into the disk cache (a later process finds it there, and the supervisor
		// then in memory); others check it once per process and section.
		err = seccomp.CheckDiskCached(s)
	}
	if err == nil {
		err = prog.CheckKernel()
	}
	if err != nil {
		return seccompPlan{err: err}
	}
	return seccompPlan{prog: prog, tested: seccomp.ArgsTested(s)}
}

func (l *launch) enforced(cfg *spawnConfig) {
	s := l.s
	e := &l.res.Enforced
	ns := s.Namespaces
	e.Namespaces = append(e.Namespaces, ns.Names()...)
	e.Limits = map[string]string{}
	enforcedKernelLimits(e, cfg)
	if l.cg != nil {
		enforcedCgroupLimits(e, s.Limits, l.res.Skipped)
	}
	if s.Limits.WallTime > 0 {
		e.Limits["wall_time"] = s.Limits.WallTime.String()
	}
	if s.Limits.Output.Stdout > 0 {
		e.Limits["output.stdout"] = strconv.FormatInt(s.Limits.Output.Stdout, 10)
	}
	if s.Limits.Output.Stderr > 0 {
		e.Limits["output.stderr"] = strconv.FormatInt(s.Limits.Output.Stderr, 10)
	}
	if s.Limits.Output.Total > 0 {
		e.Limits["output.total"] = strconv.FormatInt(s.Limits.Output.Total, 10)
	}
	e.Rlimits = map[string]string{}
	for _, rl := range s.Rlimits {
		v := "unlimited"
		if rl.Hard != policy.RlimInfinity {
			v = strconv.FormatUint(rl.Hard, 10)
		}
		e.Rlimits[rlimitNames[int32(rl.Resource)]] = v
	}
	e.Seccomp = len(cfg.filter) > 0
	if cfg.landlock != nil {
		e.Landlock = cfg.landlock.info()
	}
	e.NoNewPrivs = cfg.noNewPrivs
	e.UID, e.GID = s.Process.UID, s.Process.GID
	e.HostUID, e.HostGID, e.IDMap = s.Process.UID, s.Process.GID, "none"
	if ns.User {
		e.HostUID, e.HostGID, e.IDMap = l.ids.HostUID, l.ids.HostGID, l.ids.Kind
	}
}

// cloneFailed explains a failed clone3 by probing the namespace kinds it asked for. Those this host cannot
// create are named with the fix (fail closed); when every one of them may be dropped (NamespaceKind.MayDrop:
// it can be done without, and require.best_effort allows it), they are dropped, listed in skipped, and the
// clone is tried once more. Nothing is probed on the way to a successful clone.
func (l *launch) cloneFailed(cfg *spawnConfig, err error) (pid, pidfd int, _ *SetupError) {
	missing, why := cloneRefused(l.s, cfg.cloneFlags)
	if len(missing) == 0 {
		return 0, -1, &SetupError{Stage: "clone", Step: StepClone, Err: err}
	}
	for _, k := range missing {
		if !k.MayDrop(l.s.Require) {
			return 0, -1, &SetupError{Stage: "clone", Step: StepClone, What: "clone3 (namespaces)",
				Err: fmt.Errorf("%w: %s", ErrUnsupported, strings.Join(why, "; "))}
		}
	}
	s := l.s.Clone() // the caller's policy stays as it was
	for _, k := range missing {
		k.Set(&s.Namespaces, false)
		cfg.cloneFlags &^= k.Clone
		l.res.Skipped = append(l.res.Skipped, k.Setting())
	}
	l.s = s
	if pid, pidfd, err = spawn(cfg); err != nil {
		return 0, -1, &SetupError{Stage: "clone", Step: StepClone, Err: err}
	}
	return pid, pidfd, nil
}

// stdio holds the child's ends of its standard streams and the parent's relays.
type stdio struct {
	child   [3]*os.File
	closers []*os.File // child ends the parent closes after clone
	relays  []func() ipc.StreamResult
	outs    [2]int // index into relays for stdout, stderr; -1 when passed through
	stdinCp func()
}

func (l *launch) setupStdio() (*stdio, error) {
	st := &stdio{outs: [2]int{-1, -1}}
	req := l.req
	devnull := func(flag int) (*os.File, error) {
		f, err := os.OpenFile(os.DevNull, flag, 0)
		if err != nil {
			return nil, &SetupError{Stage: "prepare", Step: StepStdio, Err: err}
		}
		l.cleanup = append(l.cleanup, func() { f.Close() })
		return f, nil
	}
	// stdin
	switch in := req.Stdin.(type) {
	case nil:
		f, err := devnull(os.O_RDONLY)
		if err != nil {
			return nil, err
		}
		st.child[0] = f
	case *os.File:
		if f, ok := l.childEnd(in, false); ok {
			st.child[0] = f
			break
		}
		// Not a file the child may have an open file description of its own for (a terminal, a socket, a
		// pipe open for writing too): relayed, so that it cannot write back or change the terminal.
		if err := l.relayStdin(st, in); err != nil {
			return nil, err
		}
	default:
		if err := l.relayStdin(st, in); err != nil {
			return nil, err
		}
	}
	lim := l.s.Limits.Output
	total := ipc.NewBudget(lim.Total)
	for i, w := range []io.Writer{req.Stdout, req.Stderr} {
		limit := []int64{lim.Stdout, lim.Stderr}[i]
		if f, ok := w.(*os.File); ok && limit == 0 && lim.Total == 0 {
			if cf, ok := l.childEnd(f, true); ok {
				st.child[i+1] = cf
				continue
			}
		}
		if w == nil && limit == 0 && lim.Total == 0 {
			f, err := devnull(os.O_WRONLY)
			if err != nil {
				return nil, err
			}
			st.child[i+1] = f
			continue
		}
		if w == nil {
			w = io.Discard
		}
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, &SetupError{Stage: "prepare", Step: StepPipe, Err: err}
		}
		l.cleanup = append(l.cleanup, func() { pr.Close(); pw.Close() })
		st.child[i+1] = pw
		st.closers = append(st.closers, pw)
		dst := w
		st.outs[i] = len(st.relays)
		st.relays = append(st.relays, func() ipc.StreamResult {
			res := ipc.Relay(dst, pr, limit, total, nil)
			if res.Truncated {
				// The relay returns the moment a limit cuts the stream, and says which one did.
				n, v := outputLimitCut(lim, i, res.ByTotal)
				l.kill(StatusOutputLimit, &LimitHit{Name: n, Value: strconv.FormatInt(v, 10)})
			}
			return res
		})
	}
	return st, nil
}

// relayStdin gives the child a pipe whose other end jailrun fills from in.
func (l *launch) relayStdin(st *stdio, in io.Reader) error {
	pr, pw, err := os.Pipe()
	if err != nil {
		return &SetupError{Stage: "prepare", Step: StepPipe, Err: err}
	}
	l.cleanup = append(l.cleanup, func() { pr.Close(); pw.Close() })
	st.child[0] = pr
	st.closers = append(st.closers, pr)
	st.stdinCp = func() {
		// A child that never reads its stdin must not hang jailrun: the copy ends when the run does
		// (the pipe's read end dies with the sandbox and the write fails).
		go func() { _, _ = io.Copy(pw, in); pw.Close() }()
	}
	return nil
}

// childEnd decides whether a caller's file may reach the child as a descriptor rather than through a
// relay, and gives the one it may have. The caller's own open file description never crosses: it may be
// open for reading and writing (<>, a terminal), and the child could write back through its stdin, read
// back its output, or change the terminal's settings, outside every limit and record. So:
//   - a regular file is opened again, read-only for stdin, write-only (append kept) for output, at the
//     caller's offset; when the run ends the caller's offset moves to where the child left it, as if
//     they had shared it (two runs in `{ a; b; } < input` read on from each other);
//   - a pipe open in the run's direction only is passed as it is (its other direction does not exist);
//   - the null device is opened afresh;
//   - everything else (terminals, sockets, other devices, a FIFO open both ways) is relayed: ok is false.
func (l *launch) childEnd(f *os.File, write bool) (*os.File, bool) {
	var st unix.Stat_t
	if unix.Fstat(int(f.Fd()), &st) != nil {
		return nil, false
	}
	fl, err := unix.FcntlInt(f.Fd(), unix.F_GETFL, 0)
	if err != nil {
		return nil, false
	}
	want := unix.O_RDONLY
	if write {
		want = unix.O_WRONLY
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFIFO:
		if fl&unix.O_ACCMODE == want {
			return f, true
		}
		return nil, false
	case unix.S_IFREG:
	case unix.S_IFCHR:
		// The null device carries nothing either way: a fresh one, so the child still sees a device.
		if st.Rdev != unix.Mkdev(1, 3) {
			return nil, false
		}
		fd, err := unix.Open(os.DevNull, want|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != nil {
			return nil, false
		}
		nf := os.NewFile(uintptr(fd), os.DevNull)
		l.cleanup = append(l.cleanup, func() { nf.Close() })
		return nf, true
	default:
		return nil, false
	}
	flags := want | unix.O_CLOEXEC | unix.O_NOCTTY | (fl & unix.O_APPEND)
	fd, err := unix.Open("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), flags, 0)
	if err != nil {
		return nil, false // no /proc, or the file's mode changed since the caller opened it: relayed
	}
	nf := os.NewFile(uintptr(fd), f.Name())
	off, err := unix.Seek(int(f.Fd()), 0, io.SeekCurrent)
	if err == nil && fl&unix.O_APPEND == 0 {
		_, err = unix.Seek(fd, off, io.SeekStart)
	}
	if err != nil {
		nf.Close()
		return nil, false
	}
	l.cleanup = append(l.cleanup, func() {
		if fl&unix.O_APPEND == 0 {
			if end, err := unix.Seek(fd, 0, io.SeekCurrent); err == nil {
				_, _ = unix.Seek(int(f.Fd()), end, io.SeekStart)
			}
		}
		nf.Close()
	})
	return nf, true
}

func (st *stdio) closeChildEnds() {
	for _, f := range st.closers {
		f.Close()
	}
}

// relay starts the output relays and the stdin copy; the returned function waits for the relays.
func (st *stdio) relay(l *launch) func() [2]StreamStats {
	if st.stdinCp != nil {
		st.stdinCp()
	}
	results := make([]ipc.StreamResult, len(st.relays))
	var wg sync.WaitGroup
	for i, r := range st.relays {
		wg.Add(1)
		go func() { defer wg.Done(); results[i] = r() }()
	}
	return func() [2]StreamStats {
		wg.Wait()
		var out [2]StreamStats
		for i, idx := range st.outs {
			if idx < 0 {
				out[i] = StreamStats{Bytes: -1}
				continue
			}
			out[i] = StreamStats{Bytes: results[idx].Bytes, Truncated: results[idx].Truncated, byTotal: results[idx].ByTotal}
		}
		return out
	}
}

// pipes are the parent's and the child's ends of a sandbox's control pipes until the clone.
type pipes struct {
	syncR, syncW     *os.File // parent → child: ids mapped, cgroup joined
	errR, errW       *os.File // child → parent: a jr_error, or EOF at exec
	statusR, statusW *os.File // reaper → parent: the command's wait status
	notifyR, notifyW *os.File // parent → command: the seccomp listener was taken
	ctlP, ctlC       *os.File // pooled sandboxes: ready byte, then the command and its fds
	shared           []byte
}

// prepare is the stage before the clone: it checks the policy can be enforced here, builds the mount plan,
// loads the seccomp program, creates the cgroup and the control pipes. Everything it creates is released by
// l.cleanup. A pooled sandbox also gets its control socket and the memory its command will arrive in.
func (l *launch) prepare(pooled bool) (*spawnConfig, error) {
	if err := l.checkEnforceable(); err != nil {
		return nil, err
	}
	s := l.s // degraded mode runs a copy without namespaces
	if pooled && l.dg != nil {
		return nil, fmt.Errorf("%w: degraded mode (no user namespaces here) is not pooled", ErrUnsupported)
	}
	// The run's own host ids come first: the plan gives them the user namespace.
	if err := l.allocateIDs(); err != nil {
		return nil, err
	}
	var argv, env []string
	if l.req != nil {
		// A cold run knows its command now (degraded mode rewrites its environment in prepareLandlock); a
		// pooled sandbox gets it in sendCommand.
		argv, env = l.req.Argv, l.req.Env
	}
	cfg, err := planSpawn(s, hostFacts{Root: l.r.plat.root, IDKind: l.r.plat.ids.Kind, RunIDs: l.ids}, argv, env)
	if err != nil {
		return nil, err
	}
	if l.box != nil {
		if !s.Namespaces.Mount || l.dg != nil {
			return nil, &FileRequestError{Dir: "files", Index: -1, Err: fmt.Errorf("%w: copying files in or out needs the sandbox's own mount namespace and tmpfs box", ErrUnsupported)}
		}
		if len(l.req.FilesIn) > 0 && !l.r.plat.root && l.r.plat.ids.Kind == "subordinate" {
			// The box's tmpfs takes new files only from an id its user namespace maps (see copyIn).
			return nil, &FileRequestError{Dir: "files_in", Index: -1, Err: fmt.Errorf("%w: an unprivileged jailrun mapping subordinate ids cannot create files in the sandbox's box (run as root, or with the caller's own id mapping)", ErrUnsupported)}
		}
		cfg.boxDir = l.box.dir
	}
	if err := l.prepareKernelLimits(cfg); err != nil {
		return nil, err
	}
	if s.Process.Unsafe {
		l.r.opts.Logf("policy %s: unsafe settings in force (no_new_privs=%v)", s.Name, s.Process.NoNewPrivs)
	}
	if err := l.prepareSeccomp(cfg); err != nil {
		return nil, err
	}
	if err := l.prepareLandlock(cfg, nsView, s.Namespaces.Net && !s.Network.LoopbackUp); err != nil {
		return nil, err
	}
	l.phase("prepare")
	if err := l.prepareCgroup(cfg); err != nil {
		return nil, err
	}
	l.addCgroupView(cfg)
	if err := l.openForSandbox(cfg.plan); err != nil {
		return nil, err
	}
	l.phase("cgroup")

	p := &l.pipes
	pipe := func(r, w **os.File) error {
		var err error
		if *r, *w, err = os.Pipe(); err != nil {
			return &SetupError{Stage: "prepare", Step: StepPipe, Err: err}
		}
		rr, ww := *r, *w
		l.cleanup = append(l.cleanup, func() { rr.Close(); ww.Close() })
		return nil
	}
	if err := pipe(&p.syncR, &p.syncW); err != nil {
		return nil, err
	}
	if err := pipe(&p.errR, &p.errW); err != nil {
		return nil, err
	}
	if err := pipe(&p.statusR, &p.statusW); err != nil {
		return nil, err
	}
	cfg.syncFD, cfg.errFD, cfg.statusFD = int(p.syncR.Fd()), int(p.errW.Fd()), int(p.statusW.Fd())
	cfg.notifySyncFD = -1
	cfg.parentFDs = [childabi.ParentFDs]int{int(p.syncW.Fd()), int(p.errR.Fd()), int(p.statusR.Fd()), -1, -1}
	if l.sup != nil || cfg.boxDir != "" {
		if err := pipe(&p.notifyR, &p.notifyW); err != nil {
			return nil, err
		}
		cfg.notifySyncFD, cfg.parentFDs[3] = int(p.notifyR.Fd()), int(p.notifyW.Fd())
	}
	if pooled {
		if err := l.prepareControl(cfg); err != nil {
			return nil, err
		}
	}
	return cfg, nil
}

// command is the request's part of the child's configuration: the program, its PATH, argv and environment.
func (l *launch) command() (path string, search, argv, envp []string) {
	return planCommand(l.s, l.req.Argv, l.req.Env)
}

// clone creates the sandbox, maps its ids, places it in its cgroup (v1) and releases it into its init stage.
// The caller holds its OS thread locked: the child's parent-death signal is tied to it. On failure the
// child is gone again and the setup error names the step that failed.
func (l *launch) clone(cfg *spawnConfig) (sb *sandboxProc, _ *SetupError) {
	p := &l.pipes
	pid, pidfd, err := spawn(cfg)
	if err != nil {
		var se *SetupError
		if pid, pidfd, se = l.cloneFailed(cfg, err); se != nil {
			return nil, se
		}
	}
	noteOwner(l, cfg)
	l.mu.Lock()
	l.pidfd = pidfd
	l.ownPIDNS = cfg.cloneFlags&namespaces.CloneNewPID != 0
	l.mu.Unlock()
	l.spawned(pid)
	l.cleanup = append(l.cleanup, func() {
		// Under mu, so that a late kill never signals whatever process the reused number names next.
		l.mu.Lock()
		unix.Close(pidfd)
		l.pidfd = -1
		l.mu.Unlock()
	})
	sb = &sandboxProc{cfg: cfg, pid: pid, errR: p.errR, statusR: p.statusR, notifyW: p.notifyW, ctl: p.ctlP, shared: p.shared}
	p.syncR.Close()
	p.errW.Close()
	p.statusW.Close()
	if p.notifyR != nil {
		p.notifyR.Close()
	}
	if p.ctlC != nil {
		p.ctlC.Close()
	}
	l.phase("clone")
	l.watchFileSize(pid)
	fail := func(step SetupStep, what string, err error) (*sandboxProc, *SetupError) {
		l.kill(StatusSetupError, nil)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		sb.reaped = true
		return nil, &SetupError{Stage: "clone", Step: step, What: what, Err: err}
	}
	if l.s.Namespaces.User {
		if err := writeIDMaps(pid, l.s.Process, &l.ids); err != nil {
			return fail(StepIDMaps, "", err)
		}
		l.phase("id maps")
	}
	if l.cg != nil && cfg.cgroupFD < 0 && len(cfg.cgroupTasks) == 0 {
		// cgroup v1 (or no clone3): place the child before it runs anything of the policy's; it is waiting
		// on the sync pipe and enters its cgroup namespace only afterwards.
		if err := l.cg.Add(pid); err != nil {
			return fail(StepJoinCgroup, "join cgroup "+l.cg.Path(), err)
		}
		l.phase("join cgroup")
	}
	if _, err := p.syncW.Write([]byte{1}); err != nil {
		return fail(StepReleaseChild, "", err)
	}
	p.syncW.Close()
	return sb, nil
}
