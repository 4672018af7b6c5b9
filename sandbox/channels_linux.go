//go:build linux && cgo

package sandbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/jailrun/jailrun/audit"
	"github.com/jailrun/jailrun/ipc"
	"github.com/jailrun/jailrun/policy"
)

// prepareChannels opens every extra channel's endpoint and pipe before the clone and maps the child's ends
// to their fds. An endpoint that cannot be opened (ipc.ErrEndpoint) fails the run before it starts.
func (l *launch) prepareChannels(ctx context.Context, cfg *spawnConfig) error {
	for _, ch := range l.req.Channels {
		end, err := ch.Prepare(ctx)
		// Finish is idempotent and releases everything in any state: it is the cleanup for every failure
		// path; the normal path calls it after the sandbox is reaped.
		l.cleanup = append(l.cleanup, func() { ch.Finish() })
		if err != nil {
			return fmt.Errorf("prepare: %w", err)
		}
		cfg.fds = append(cfg.fds, [2]int{int(end.Fd()), ch.FD})
	}
	return nil
}

// startChannels starts the relays once the command runs. A child that sends more than a channel's Limit
// ends the run with output_limit.
func (l *launch) startChannels(ctx context.Context) {
	for _, ch := range l.req.Channels {
		ch.Start(ctx, func() {
			l.kill(StatusOutputLimit, &LimitHit{Name: "channels." + ch.Name + ".limit", Value: strconv.FormatInt(ch.Limit, 10)})
		})
	}
}

// auditStart writes run.start and a channel.open per channel.
func (l *launch) auditStart() error {
	lg := l.req.Audit
	if lg == nil {
		return nil
	}
	cwd, _ := os.Getwd()
	d := audit.RunStartData{
		CallerUID: os.Getuid(),
		CallerGID: os.Getgid(),
		Policy:    audit.PolicyRef{Name: l.s.Name, Source: l.s.Source, SHA256: l.s.SHA256},
		Argv:      l.req.Argv,
		Cwd:       cwd,
		Limits:    policyLimits(l.s),
	}
	for _, ch := range l.req.Channels {
		d.Channels = append(d.Channels, fmt.Sprintf("%s=fd:%d:%s", ch.Name, ch.FD, ch.Kind))
	}
	// A sink that failed may not be the only one: another may hold run.start already. So a failure here
	// still ends the run's records with a run.end (setup_error), where it can be written: no log is left
	// with a run that neither ran nor ended.
	failed := func(err error) error {
		err = fmt.Errorf("prepare: audit: %w", err)
		l.auditStarted = true
		l.res.Status, l.res.Message = StatusSetupError, err.Error()
		_ = l.auditEnd()
		return err
	}
	if err := lg.Emit(audit.Event{Type: audit.TypeRunStart, RunID: l.res.RunID, Data: d}); err != nil {
		return failed(err)
	}
	l.auditStarted = true
	for _, ch := range l.req.Channels {
		if err := lg.Emit(audit.Event{Type: audit.TypeChannelOpen, RunID: l.res.RunID, Data: ch.Info()}); err != nil {
			return failed(err)
		}
	}
	return nil
}

// auditEnd writes channel.close per channel, limit.hit, seccomp.violation and seccomp.denied when they apply, then
// run.end with the whole result (flushed to disk).
func (l *launch) auditEnd() error {
	lg := l.req.Audit
	if lg == nil || l.auditEnded {
		return nil
	}
	l.auditEnded = true
	id := l.res.RunID
	var errs []error
	for _, st := range l.res.Channels {
		errs = append(errs, lg.Emit(audit.Event{Type: audit.TypeChannelClose, RunID: id, Data: st}))
	}
	if hit := l.res.Limit; hit != nil {
		errs = append(errs, lg.Emit(audit.Event{Type: audit.TypeLimitHit, RunID: id, Data: audit.LimitHitData{Name: hit.Name, Value: hit.Value}}))
	}
	if v := l.res.Violation; v != nil {
		errs = append(errs, lg.Emit(audit.Event{Type: audit.TypeSeccompViolation, RunID: id,
			Data: audit.SeccompViolationData{Syscall: v.Syscall, Nr: v.Nr, Arch: v.Arch, Args: v.Args}}))
	}
	if d := l.res.DeniedSyscalls; len(d) > 0 {
		errs = append(errs, lg.Emit(audit.Event{Type: audit.TypeSeccompDenied, RunID: id, Data: audit.SeccompDeniedData{DeniedSyscalls: d}}))
	}
	errs = append(errs, lg.Emit(audit.Event{Type: audit.TypeRunEnd, RunID: id, Data: auditEnd(l.res)}))
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("audit: %w", err)
	}
	return nil
}

// policyLimits is the run.start summary of the limits the policy asks for.
func policyLimits(s *policy.Settings) map[string]string {
	m := map[string]string{}
	lim := s.Limits
	add := func(k string, on bool, v string) {
		if on {
			m[k] = v
		}
	}
	add("memory", lim.Memory > 0, strconv.FormatInt(lim.Memory, 10))
	add("pids", lim.Pids > 0, strconv.FormatInt(lim.Pids, 10))
	add("cpu_time", lim.CPUTime > 0, lim.CPUTime.String())
	add("wall_time", lim.WallTime > 0, lim.WallTime.String())
	add("output.stdout", lim.Output.Stdout > 0, strconv.FormatInt(lim.Output.Stdout, 10))
	add("output.stderr", lim.Output.Stderr > 0, strconv.FormatInt(lim.Output.Stderr, 10))
	add("output.total", lim.Output.Total > 0, strconv.FormatInt(lim.Output.Total, 10))
	return m
}

// auditEnd is the Result as run.end records it: whole, but for the channels' captured heads and tails,
// which their channel.close records just before carry already. Seven channels capturing 1 MiB each way
// made a run.end past the record size cap, and the run ended with no run.end at all.
func auditEnd(res *Result) *Result {
	if len(res.Channels) == 0 {
		return res
	}
	end := *res
	end.Channels = make([]ipc.ChannelStats, len(res.Channels))
	for i, ch := range res.Channels {
		for _, d := range []**ipc.DirStats{&ch.FromChild, &ch.ToChild} {
			if *d != nil && (len((*d).Head) > 0 || len((*d).Tail) > 0) {
				ds := **d
				ds.Head, ds.Tail = nil, nil
				*d = &ds
			}
		}
		end.Channels[i] = ch
	}
	return &end
}
