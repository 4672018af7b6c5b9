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
	"sync"
	"sync/atomic"
	"time"

	"github.com/jailrun/jailrun/cgroups"
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
	m, err := cgroups.NewManager(cgroups.Options{Parent: r.opts.CgroupParent})
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

// Close releases what the Runner set up on the host (the cgroup parent it created); it does nothing to
// runs still in progress. Call it when the Runner is no longer needed.
func (r *Runner) Close() error {
	if r.plat.cg != nil {
		return r.plat.cg.Close()
	}
	return nil
}

// Run runs one command under req.Policy and returns its result. The error is non-nil only when the run could
// not start or its outcome could not be established; a command that fails or breaks a limit is a normal
// Result. On a setup failure the Result (Status setup_error) is returned too.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
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
	return l.run(ctx)
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
	sb    *sandboxProc // set when the sandbox came from a Pool, already cloned and set up
	stdio *stdio

	killOnce sync.Once
	pidfd    int
	cg       *cgroups.Cgroup
	sup      *supervisor
	box      *runBox // the run's files in and out; nil without any
	killedBy Status  // the limit jailrun killed the sandbox for, if any
	killMsg  *LimitHit
	mu       sync.Mutex
	memHit   bool
	pidsHit  bool
	oom      *cgroups.OOMWatch // cgroup v1: ends the sandbox on an OOM kill; nil when the kernel does it
	counters *cgroups.Stats    // the cgroup's figures after the run, for limits_hit
	reaper   int               // the sandbox's pid 1 (host pid), whose first child is the command
	ids      IDMappingInfo     // this run's host ids: the Runner's, or its own allocated ones
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
		if l.pidfd >= 0 {
			// SIGKILL to the sandbox's pid 1: the kernel then kills everything in its pid namespace.
			_ = unix.PidfdSendSignal(l.pidfd, unix.SIGKILL, nil, 0)
		}
		l.mu.Unlock()
		if l.cg != nil {
			// Without a pid namespace the cgroup is what holds every process of the run.
			_ = l.cg.Kill()
		}
	})
}

func (l *launch) setupError(stage, step string, err error) (*Result, error) {
	l.res.Status = StatusSetupError
	se := &SetupError{Stage: stage, Step: step, Err: err}
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

func (l *launch) run(ctx context.Context) (res *Result, err error) {
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

	sb := l.sb
	if sb == nil {
		// Stage "prepare": everything the parent can do before the clone.
		cfg, err := l.prepare(false)
		if err != nil {
			return nil, err
		}
		stdio, err := l.setupStdio()
		if err != nil {
			return nil, err
		}
		l.stdio = stdio
		for i, f := range stdio.child {
			cfg.fds = append(cfg.fds, [2]int{int(f.Fd()), i})
		}
		if err := l.prepareChannels(ctx, cfg); err != nil {
			return nil, err
		}
		l.phase("stdio")
		// The audit log learns of the run before anything of it exists: a log that cannot be written stops
		// the run here (fail closed).
		if err := l.auditStart(); err != nil {
			return nil, err
		}
		// Stage "clone". The thread stays locked until the sandbox is reaped: the child's parent-death signal
		// is tied to the thread that cloned it.
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		var step string
		if sb, step, err = l.clone(cfg); err != nil {
			return l.setupError("clone", step, err)
		}
		stdio.closeChildEnds()
		for _, ch := range l.req.Channels {
			ch.CloseChildEnd()
		}
	} else {
		// A pooled sandbox: namespaces, mounts and cgroup are in place; only the command is missing.
		stdio, err := l.setupStdio()
		if err != nil {
			return nil, err
		}
		l.stdio = stdio
		var cfg spawnConfig
		for i, f := range stdio.child {
			cfg.fds = append(cfg.fds, [2]int{int(f.Fd()), i})
		}
		if err := l.prepareChannels(ctx, &cfg); err != nil {
			return nil, err
		}
		l.phase("stdio")
		if err := l.auditStart(); err != nil {
			return nil, err
		}
		sb.cfg.fds = cfg.fds
		sb.cfg.path, sb.cfg.search, sb.cfg.argv, sb.cfg.envp = l.command()
		if err := l.sendCommand(sb); err != nil {
			return l.setupError("init", "pooled sandbox", err)
		}
		stdio.closeChildEnds()
		for _, ch := range l.req.Channels {
			ch.CloseChildEnd()
		}
		l.phase("send command")
	}
	defer func() {
		if !sb.reaped {
			l.kill(StatusSetupError, nil)
			var ws unix.WaitStatus
			_, _ = unix.Wait4(sb.pid, &ws, 0, nil)
		}
	}()
	cfg, pid, errR, statusR, notifyW, stdio := sb.cfg, sb.pid, sb.errR, sb.statusR, sb.notifyW, l.stdio

	// Stage "init" runs in the child; the error pipe reaches EOF when execve succeeded. With a seccomp
	// listener, the command first reports its fd number and waits until the parent has taken it.
	// The parent must never block forever on a child stuck in its init stage (a hung FUSE or NFS bind
	// source, a kernel stall): a watchdog kills the sandbox when the caller cancels or setup overruns.
	setupDone := make(chan struct{})
	endWatchdog := sync.OnceFunc(func() { close(setupDone) })
	defer endWatchdog()
	var setupAbort atomic.Value
	go func() {
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
	var eb [childErrorSize]byte
	n, rerr := io.ReadFull(errR, eb[:])
	// The supervisor answers from the moment the listener is taken: the command's own last steps before
	// execve (and the loader after it) may make calls the policy refuses, which now wait for its answer.
	supCtx, supCancel := context.WithCancel(context.Background())
	defer func() {
		supCancel()
		if l.sup != nil && l.sup.done != nil {
			<-l.sup.done
		}
	}()
	if n == childErrorSize && l.box != nil {
		// pid 1 hands over the box and waits until the files are in (box_linux.go).
		if ce := decodeChildError(eb[:]); ce.step == jrStepBoxFD {
			if err := l.takeBox(int(ce.detail)); err != nil {
				endWatchdog()
				return l.setupError("init", "copy files in", err)
			}
			if _, err := notifyW.Write([]byte{1}); err != nil {
				return l.setupError("init", "release after copying files in", err)
			}
			l.phase("files in")
			n, rerr = io.ReadFull(errR, eb[:])
		}
	}
	if n == childErrorSize && l.sup != nil {
		if ce := decodeChildError(eb[:]); ce.step == jrStepNotifyFD {
			fd, err := takeListener(pid, int(ce.detail))
			if err != nil {
				return l.setupError("exec", "take seccomp listener", err)
			}
			l.sup.fd = fd
			l.cleanup = append(l.cleanup, func() { unix.Close(fd) })
			l.sup.learn = l.req.LearnSeccomp
			l.sup.start(supCtx)
			if _, err := notifyW.Write([]byte{1}); err != nil {
				return l.setupError("exec", "release command", err)
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
		return l.setupError("init", "setup watchdog", e)
	}
	execAt := time.Now()
	l.phase("init+exec")
	l.res.SetupTimeMS = ms(execAt.Sub(l.start))
	if n == childErrorSize {
		ce := decodeChildError(eb[:])
		stage, step := ce.describe(cfg)
		e := error(unix.Errno(ce.errno))
		switch {
		case ce.step >= 0 && unix.Errno(ce.errno) == unix.EACCES && cfg.plan != nil && int(ce.step) < len(cfg.plan.Ops) && cfg.plan.Ops[ce.step].Kind == namespaces.OpOpenSrc:
			if hint := bindSourceHint(cfg.plan.Ops[ce.step].Src, l.r.plat.ids.HostUID, l.r.plat.ids.HostGID); hint != "" {
				e = fmt.Errorf("%w: %s", unix.EACCES, hint)
			}
		case ce.step >= 0 && unix.Errno(ce.errno) == unix.EXDEV:
			e = errors.New("its mount point is missing inside a host bind, and jailrun never creates files on the host: create it on the host, or mount a tmpfs above it")
		case ce.step == jrStepExecNotFound:
			e = fmt.Errorf("%w: %s (looked in %v inside the sandbox)", ErrNotFound, cfg.path, cfg.search)
			if hasSlash(cfg.path) {
				e = fmt.Errorf("%w: %s does not exist inside the sandbox", ErrNotFound, cfg.path)
			}
		case ce.step == jrStepExec:
			e = fmt.Errorf("%w: %s: %v", ErrCannotExec, cfg.path, unix.Errno(ce.errno))
		case ce.step == jrStepNotAllowed && ce.detail == 1:
			e = fmt.Errorf("%w: %s: a path in allowed_commands must not go through a symlink (name the file the link points to)", ErrPolicy, cfg.path)
		case ce.step == jrStepNotAllowed && ce.detail == 2:
			e = fmt.Errorf("%w: %s is a #! script; allowed_commands names the programs that may run, so list the interpreter and run it with the script as an argument", ErrPolicy, cfg.path)
		case ce.step == jrStepNotAllowed:
			e = fmt.Errorf("%w: %s is not in the policy's allowed_commands", ErrPolicy, cfg.path)
		}
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		sb.reaped = true
		return l.setupError(stage, step, e)
	}
	if rerr != nil && rerr != io.EOF && !errors.Is(rerr, io.ErrUnexpectedEOF) {
		return l.setupError("init", "read child status", rerr)
	}

	// Stage "wait": the command runs. Watchers enforce time and output limits; the relays carry output.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	l.reaper = pid
	l.watch(ctx, stop, &wg)
	outDone := stdio.relay(l)
	l.startChannels(ctx)

	var ws unix.WaitStatus
	var ru unix.Rusage
	for {
		_, err = unix.Wait4(pid, &ws, 0, &ru)
		if err != unix.EINTR {
			break
		}
	}
	sb.reaped = true
	end := time.Now()
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
		return l.setupError("wait", "wait4", err)
	}
	streams := outDone()
	for _, ch := range l.req.Channels {
		l.res.Channels = append(l.res.Channels, ch.Finish())
	}
	l.res.WallTimeMS = ms(end.Sub(execAt))

	var st [8]byte
	cmdStatus, haveStatus := unix.WaitStatus(0), false
	if n, _ := io.ReadFull(statusR, st[:]); n == len(st) {
		cmdStatus, haveStatus = unix.WaitStatus(binary.NativeEndian.Uint32(st[:4])), true
	}
	l.res.CPUTimeMS = CPUTime{
		UserMS:  ms(time.Duration(ru.Utime.Nano())),
		SysMS:   ms(time.Duration(ru.Stime.Nano())),
		TotalMS: ms(time.Duration(ru.Utime.Nano() + ru.Stime.Nano())),
		Source:  "rusage",
	}
	if err := l.readCgroupStats(); err != nil {
		return l.setupError("wait", "read cgroup counters", err)
	}
	l.res.MaxRSSBytes = ru.Maxrss * 1024
	l.res.VoluntaryCSW, l.res.ForcedCSW = ru.Nvcsw, ru.Nivcsw
	l.res.Stdout, l.res.Stderr = streams[0], streams[1]
	if l.box != nil {
		l.copyOut()
	}
	l.verdict(cmdStatus, haveStatus)
	l.enforced(cfg)
	if err := l.auditEnd(); err != nil {
		return l.res, err
	}
	return l.res, nil
}

// Steps that need their own error kind; must match spawn_linux.h.
const (
	jrStepExecNotFound = -17
	jrStepExec         = -18
	jrStepNotAllowed   = -19
	jrStepNotifyFD     = -23
	jrStepBoxFD        = -28
)

func hasSlash(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '/' {
			return true
		}
	}
	return false
}

// verdict decides Status from what jailrun and the kernel observed. Precedence, first match wins:
// a limit jailrun killed the sandbox for (output, wall time, CPU time — whichever fired first), then the
// kernel's memory and pids counters, a seccomp kill, then how the command itself ended.
func (l *launch) verdict(ws unix.WaitStatus, have bool) {
	res := l.res
	if have {
		switch {
		case ws.Exited():
			res.ExitCode = ws.ExitStatus()
		case ws.Signaled():
			res.Signal = int(ws.Signal())
			res.SignalName = unix.SignalName(ws.Signal())
		}
	} else {
		// The sandbox's pid 1 was killed before it could report: jailrun or the kernel killed everything.
		res.Signal = int(unix.SIGKILL)
		res.SignalName = "SIGKILL"
	}
	l.mu.Lock()
	killedBy, hit := l.killedBy, l.killMsg
	l.mu.Unlock()
	switch {
	case killedBy == StatusSeccompViolation && hit != nil:
		res.Status = killedBy
		res.Message = "the seccomp filter stopped " + hit.Value
	case killedBy != "":
		res.Status, res.Limit = killedBy, hit
		if hit != nil {
			res.Message = fmt.Sprintf("%s exceeded (%s)", hit.Name, hit.Value)
		}
		if killedBy == StatusMemoryLimit {
			// The same words whichever of the kernel and the v1 OOM watch killed first.
			res.Message = fmt.Sprintf("limits.memory exceeded (%d bytes)", l.s.Limits.Memory)
		}
	case res.OOMKills > 0 || (l.memHit && (res.Signal != 0 || res.ExitCode != 0)):
		res.Status = StatusMemoryLimit
		res.Limit = &LimitHit{Name: "limits.memory", Value: strconv.FormatInt(l.s.Limits.Memory, 10)}
		res.Message = fmt.Sprintf("limits.memory exceeded (%d bytes)", l.s.Limits.Memory)
	case l.pidsHit && (res.Signal != 0 || res.ExitCode != 0):
		res.Status = StatusPidsLimit
		res.Limit = &LimitHit{Name: "limits.pids", Value: strconv.FormatInt(l.s.Limits.Pids, 10)}
		res.Message = fmt.Sprintf("limits.pids reached (%d)", l.s.Limits.Pids)
	case res.Signal == int(unix.SIGSYS):
		res.Status = StatusSeccompViolation
		res.Message = "killed by the seccomp filter"
	case res.Signal == int(unix.SIGXCPU) || (res.Signal == int(unix.SIGKILL) && l.cpuRlimitHit()):
		res.Status = StatusTimeLimit
		res.Limit = &LimitHit{Name: "limits.cpu_time", Value: l.s.Limits.CPUTime.String()}
	case res.Signal == int(unix.SIGXFSZ):
		res.Status = StatusOutputLimit
		res.Limit = &LimitHit{Name: "limits.file_size", Value: rlimitValue(l.s, policy.RlimitFsize)}
	case res.Signal != 0:
		res.Status = StatusSignaled
		res.Message = "killed by " + res.SignalName
	case res.ExitCode != 0:
		res.Status = StatusNonzeroExit
	default:
		res.Status = StatusOK
	}
	res.LimitsHit = l.limitsHit(killedBy, hit)
}

// cpuRlimitHit reports whether the CPU rlimit backstop can explain a SIGKILL: only when there is no cgroup
// to measure with and the rusage figures reached the limit.
func (l *launch) cpuRlimitHit() bool {
	for _, rl := range l.s.Rlimits {
		if rl.Resource == policy.RlimitCPU && rl.Hard != policy.RlimInfinity {
			return l.res.CPUTimeMS.TotalMS >= float64(rl.Hard)*1000-50
		}
	}
	return false
}

func rlimitValue(s *policy.Settings, res policy.Resource) string {
	for _, rl := range s.Rlimits {
		if rl.Resource == res {
			if rl.Hard == policy.RlimInfinity {
				return "unlimited"
			}
			return strconv.FormatUint(rl.Hard, 10)
		}
	}
	return "unset"
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
	if !l.r.plat.root && !s.Namespaces.User && l.dg == nil {
		return fmt.Errorf("%w: namespaces.user is off, which needs root; jailrun runs as uid %d", ErrUnsupported, os.Geteuid())
	}
	if !s.Namespaces.User && s.Process.UID == 0 && !s.Process.Unsafe {
		return fmt.Errorf("%w: process.uid 0 without a user namespace would be host root", ErrPolicy)
	}
	return nil
}

func (l *launch) wants(name string) bool {
	lim := l.s.Limits
	switch name {
	case "limits.memory":
		return lim.Memory > 0
	case "limits.pids":
		return lim.Pids > 0
	case "limits.cpu":
		return lim.CPU > 0
	case "limits.cpuset":
		return lim.Cpuset != ""
	case "limits.io_weight":
		return lim.IOWeight > 0
	case "limits.cpu_time":
		return lim.CPUTime > 0
	}
	return false
}

// prepareSeccomp compiles the policy's filter in the parent; the child only loads it, as its last step
// before execve.
func (l *launch) prepareSeccomp(cfg *spawnConfig) error {
	if !l.s.Seccomp.Enabled {
		return nil
	}
	// Every refused call goes to the supervisor, which answers it as the policy would and counts it
	// (violation_linux.go); foreign-ABI calls (i386 int 0x80, x32) too, so they are named in the result.
	// Root's compiled filters are kept in /run/jailrun/bpf: a cold CLI start then skips libseccomp.
	prog, err := seccomp.BuildDiskCached(routed(l.s.Seccomp), seccomp.Options{ForeignABI: policy.Action{Kind: policy.ActNotify}})
	if err == nil {
		// The policy as written must compile too: the supervisor builds it at the first refused call
		// (most runs have none, and compiling costs about a millisecond).
		err = seccomp.Check(l.s.Seccomp)
	}
	if err == nil {
		err = prog.CheckKernel()
	}
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
	l.sup = newSupervisor(l, l.s.Seccomp)
	cfg.filter = prog.Instructions()
	return nil
}

func (l *launch) enforced(cfg *spawnConfig) {
	s := l.s
	e := &l.res.Enforced
	ns := s.Namespaces
	for _, x := range []struct {
		on   bool
		name string
	}{{ns.User, "user"}, {ns.PID, "pid"}, {ns.Mount, "mount"}, {ns.Net, "net"}, {ns.IPC, "ipc"}, {ns.UTS, "uts"}, {ns.Cgroup, "cgroup"}, {ns.Time, "time"}} {
		if x.on {
			e.Namespaces = append(e.Namespaces, x.name)
		}
	}
	e.Limits = map[string]string{}
	enforcedKernelLimits(e, cfg)
	if l.cg != nil {
		skipped := map[string]bool{}
		for _, k := range l.res.Skipped {
			skipped[k] = true
		}
		lim := s.Limits
		for _, x := range []struct {
			name string
			on   bool
			v    string
		}{
			{"memory", lim.Memory > 0, strconv.FormatInt(lim.Memory, 10)},
			{"memory_swap", lim.Memory > 0, strconv.FormatInt(lim.MemorySwap, 10)},
			{"pids", lim.Pids > 0, strconv.FormatInt(lim.Pids, 10)},
			{"cpu", lim.CPU > 0, strconv.FormatFloat(lim.CPU, 'f', -1, 64)},
			{"cpuset", lim.Cpuset != "", lim.Cpuset},
			{"io_weight", lim.IOWeight > 0, strconv.Itoa(int(lim.IOWeight))},
			{"cpu_time", lim.CPUTime > 0, lim.CPUTime.String()},
		} {
			if x.on && !skipped["limits."+x.name] {
				e.Limits[x.name] = x.v
			}
		}
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
			return nil, fmt.Errorf("prepare: %w", err)
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
		st.child[0] = in
	default:
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("prepare: pipe: %w", err)
		}
		l.cleanup = append(l.cleanup, func() { pr.Close(); pw.Close() })
		st.child[0] = pr
		st.closers = append(st.closers, pr)
		st.stdinCp = func() {
			// A child that never reads its stdin must not hang jailrun: the copy ends when the run does
			// (the pipe's read end dies with the sandbox and the write fails).
			go func() { _, _ = io.Copy(pw, in); pw.Close() }()
		}
	}
	lim := l.s.Limits.Output
	total := ipc.NewBudget(lim.Total)
	for i, w := range []io.Writer{req.Stdout, req.Stderr} {
		limit := []int64{lim.Stdout, lim.Stderr}[i]
		if f, ok := w.(*os.File); ok && limit == 0 && lim.Total == 0 {
			st.child[i+1] = f
			continue
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
			return nil, fmt.Errorf("prepare: pipe: %w", err)
		}
		l.cleanup = append(l.cleanup, func() { pr.Close(); pw.Close() })
		st.child[i+1] = pw
		st.closers = append(st.closers, pw)
		name := []string{"limits.output.stdout", "limits.output.stderr"}[i]
		dst := w
		st.outs[i] = len(st.relays)
		st.relays = append(st.relays, func() ipc.StreamResult {
			return ipc.Relay(dst, pr, limit, total, func() {
				n, v := name, limit
				if limit == 0 || (lim.Total > 0 && lim.Total < limit) {
					n, v = "limits.output.total", lim.Total
				}
				l.kill(StatusOutputLimit, &LimitHit{Name: n, Value: strconv.FormatInt(v, 10)})
			})
		})
	}
	return st, nil
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
			out[i] = StreamStats{Bytes: results[idx].Bytes, Truncated: results[idx].Truncated}
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
	plan, err := namespaces.BuildPlan(s.Filesystem)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	if err := l.allocateIDs(); err != nil {
		return nil, err
	}
	cfg := &spawnConfig{
		cloneFlags: namespaces.CloneFlags(s.Namespaces),
		cgroupFD:   -1,
		ctlFD:      -1,
		plan:       plan,
		userns:     s.Namespaces.User,
		setGroups:  l.r.plat.root || l.r.plat.ids.Kind == "subordinate",
		// See spawn_linux.c: with a subordinate uid, the command is not dumpable when the parent takes its
		// seccomp listener.
		listenerDumpable: !l.r.plat.root && l.r.plat.ids.Kind == "subordinate",
		uid:              s.Process.UID,
		gid:              s.Process.GID,
		hostname:         s.Process.Hostname,
		loopbackUp:       s.Network.LoopbackUp,
		umask:            s.Process.Umask,
		noNewPrivs:       s.Process.NoNewPrivs,
		workdir:          s.Filesystem.Workdir,
		allowed:          s.Command.AllowedCommands,
		// The user namespace belongs to the run's host uid (its own allocated one, or the fixed one a library
		// caller such as jailrun isolate chose), so that the kernel's per-user budgets at the host level are
		// charged to it and never to root (see hostids_linux.go).
		owner:    l.r.plat.root && s.Namespaces.User && (l.ids.Kind == "allocated" || l.ids.Kind == "fixed") && l.ids.HostUID != 0,
		ownerUID: l.ids.HostUID,
		ownerGID: l.ids.HostGID,
	}
	if !s.Namespaces.Mount {
		cfg.plan = nil
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
	if !s.Namespaces.UTS {
		cfg.hostname = ""
	}
	if s.Namespaces.Cgroup {
		cfg.unshareCgroup = true
	}
	for _, rl := range s.Rlimits {
		cfg.rlimits = append(cfg.rlimits, [3]uint64{uint64(rl.Resource), rl.Soft, rl.Hard})
	}
	if err := l.prepareKernelLimits(cfg); err != nil {
		return nil, err
	}
	if s.Process.Unsafe {
		l.r.opts.Logf("policy %s: unsafe settings in force (no_new_privs=%v)", s.Name, s.Process.NoNewPrivs)
	}
	if l.req != nil {
		// A cold run knows its command now (degraded mode rewrites its environment in prepareLandlock).
		cfg.path, cfg.search, cfg.argv, cfg.envp = l.command()
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
			return fmt.Errorf("prepare: pipe: %w", err)
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
	cfg.parentFDs = [5]int{int(p.syncW.Fd()), int(p.errR.Fd()), int(p.statusR.Fd()), -1, -1}
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
	env := buildEnv(&l.s.Process, l.req.Env)
	return l.req.Argv[0], searchPath(env), l.req.Argv, env
}

// clone creates the sandbox, maps its ids, places it in its cgroup (v1) and releases it into its init stage.
// The caller holds its OS thread locked: the child's parent-death signal is tied to it. On failure the
// child is gone again and step names what failed.
func (l *launch) clone(cfg *spawnConfig) (sb *sandboxProc, step string, err error) {
	p := &l.pipes
	pid, pidfd, err := spawn(cfg)
	if err != nil {
		return nil, "clone3", err
	}
	noteOwner(l, cfg)
	l.pidfd = pidfd
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
	fail := func(step string, err error) (*sandboxProc, string, error) {
		l.kill(StatusSetupError, nil)
		var ws unix.WaitStatus
		_, _ = unix.Wait4(pid, &ws, 0, nil)
		sb.reaped = true
		return nil, step, err
	}
	if l.s.Namespaces.User {
		if err := writeIDMaps(pid, l.s.Process, &l.ids); err != nil {
			return fail("write id maps", err)
		}
		l.phase("id maps")
	}
	if l.cg != nil && cfg.cgroupFD < 0 && len(cfg.cgroupTasks) == 0 {
		// cgroup v1 (or no clone3): place the child before it runs anything of the policy's; it is waiting
		// on the sync pipe and enters its cgroup namespace only afterwards.
		if err := l.cg.Add(pid); err != nil {
			return fail("join cgroup "+l.cg.Path(), err)
		}
		l.phase("join cgroup")
	}
	if _, err := p.syncW.Write([]byte{1}); err != nil {
		return fail("release child", err)
	}
	p.syncW.Close()
	return sb, "", nil
}
