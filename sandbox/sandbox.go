// Package sandbox runs commands under a compiled policy. It is the library behind the jailrun CLI and
// service, for Go programs that run untrusted code for many tenants.
//
//	r, err := sandbox.NewRunner(sandbox.Options{})
//	res, err := r.Run(ctx, sandbox.Request{Policy: settings, Argv: []string{"/usr/bin/python3", "main.py"}})
//
// A Runner is safe for concurrent use. Every run gets fresh namespaces, a fresh cgroup and a fresh root.
package sandbox

import (
	"errors"
	"fmt"
	"io"

	"github.com/jailrun/jailrun/audit"
	"github.com/jailrun/jailrun/ipc"
	"github.com/jailrun/jailrun/policy"
)

// Errors a caller can branch on with errors.Is.
var (
	// ErrPolicy: the request's policy or command is invalid, or an option the caller gave is (an unknown
	// Options.IDMapping, a negative PoolOptions.Size, a Stdin or Stdout on a request that Interact or
	// Pipeline connects itself).
	ErrPolicy = errors.New("invalid policy or request")
	// ErrUnsupported: this host cannot enforce what the policy requires (fail closed).
	ErrUnsupported = errors.New("not supported on this host")
	// ErrSetup: the sandbox could not be built. The error is a *SetupError naming the step, except for
	// the few failures that come before any step: running out of host ids (which matches ErrHostIDs too)
	// and Interact's pipes. A context cancelled or expired before the command was executed ends the setup
	// too: a *SetupError at StepSetupTimeout that also matches context.Canceled or
	// context.DeadlineExceeded.
	ErrSetup = errors.New("sandbox setup failed")
	// ErrNotFound: the command does not exist inside the sandbox.
	ErrNotFound = errors.New("command not found")
	// ErrCannotExec: the command exists inside the sandbox but cannot be executed.
	ErrCannotExec = errors.New("cannot execute command")
	// ErrHostIDs: the configured host id range (Options.HostIDs) cannot be used on this host: NewRunner
	// refuses it (it overlaps ids the host uses, or is not a valid range), or a run finds every id of it
	// (rootless: of the caller's subordinate ids) taken by live sandboxes; that error matches ErrSetup too,
	// and the run did not start.
	ErrHostIDs = errors.New("unusable host id range")
	// ErrClosed: the Runner or Pool was closed (Runner.Close, Pool.Close) before the call: nothing was
	// started.
	ErrClosed = errors.New("closed")
)

// SetupError says which stage and step of a launch failed. Branch on Step (a SetupStep constant); What
// is the same step as the message names it, with its object.
type SetupError struct {
	Stage string    // "prepare", "clone", "init", "exec", "wait"
	Step  SetupStep // StepMount, StepSetuid, StepSeccomp, ...
	What  string    // "mount /usr", "setresuid 65534", "setrlimit NOFILE"; empty: Step says it all
	Err   error
}

func (e *SetupError) Error() string {
	what := e.What
	if what == "" {
		what = string(e.Step)
	}
	if what == "" {
		return fmt.Sprintf("%s: %v", e.Stage, e.Err)
	}
	return fmt.Sprintf("%s: %s: %v", e.Stage, what, e.Err)
}

func (e *SetupError) Unwrap() []error { return []error{ErrSetup, e.Err} }

// Request is one run.
type Request struct {
	// Policy is the compiled policy (policy.Load, policy.Builtin).
	Policy *policy.Settings
	// Argv is the command. Argv[0] is a path inside the sandbox, or a name looked up in the sandbox's PATH
	// (never the host's). It must be empty when the policy has a command template: such a policy fixes the
	// command, and the caller gives only the template's parameters, in Params.
	Argv []string
	// Params are the values of the policy's command template parameters (policy "command.params"); each
	// becomes exactly one argument, checked for its declared type (ExpandTemplate). They are refused when
	// the policy has no template.
	Params map[string]string
	// Env is the caller's environment that the policy's env allowlist may copy from. Nothing else of it
	// reaches the child.
	Env []string
	// Stdin, Stdout and Stderr default to /dev/null and discard. An *os.File that is a regular file is
	// opened again for the child, read-only for stdin and write-only for output (its offset shared back
	// after the run), when no limit needs the bytes to pass through jailrun; a pipe open in that direction
	// only is passed as it is; anything else (a terminal, a socket) is relayed: the child never gets the
	// caller's own open file description, so it cannot write back through its stdin or reconfigure a
	// terminal.
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// TraceSetup records where the launch time went in Result.SetupTrace.
	TraceSetup bool
	// Channels are extra fds passed to the child beyond stdio, each relayed to its endpoint and accounted
	// for in Result.Channels (see ipc.Channel). The run owns them: it prepares, starts and finishes them.
	Channels []*ipc.Channel
	// fromTemplate is set once Argv has been expanded from the policy's template, so that the layers a
	// request passes through (Pool, Interact, Pipeline, Runner) check it once. Callers cannot set it.
	fromTemplate bool
	// Audit, when set, receives the run's records: run.start before the sandbox is created (its failure
	// fails the run before anything starts, unless the logger is best-effort), channel.open and
	// channel.close, limit.hit, seccomp.violation, seccomp.denied and run.end.
	Audit *audit.Logger
	// LearnSeccomp runs the command in learn mode: every syscall the policy's filter would deny (any
	// action) runs instead and is recorded in Result.DeniedSyscalls with Learned set. Only the filter's
	// denials change: namespaces, mounts, cgroups, limits, Landlock and no_new_privs are in force as
	// usual, and calls through another ABI (i386, x32) or unknown to jailrun's table keep the policy's
	// answer. For writing a policy (jailrun learn), never for running untrusted code in production.
	LearnSeccomp bool
	// FilesIn are created in the run's box (the policy's working directory on a tmpfs of the policy) before
	// the command starts; FilesOut are copied out of it after the run into Result.FilesOut. FileCaps bounds
	// both. See FileIn and BoxDir. A run with files never uses a pooled sandbox.
	FilesIn  []FileIn
	FilesOut []string
	FileCaps FileCaps
}
