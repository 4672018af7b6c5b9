package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/jailrun/jailrun/audit"
	"github.com/jailrun/jailrun/ipc"
	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
	"github.com/spf13/cobra"
)

// runFlags are shared by `jailrun -- CMD` and `jailrun run -- CMD`.
type runFlags struct {
	policy     string
	json       bool
	resultFile string
	metaFile   string
	traceSetup bool
	quiet      bool
	cgParent   string
	idMap      string
	command    commandFlags
	channels   []string
	audit      auditFlags
	// bareArgs: the command came as plain arguments to jailrun itself, without "--"; a name that is not
	// found may then be a mistyped subcommand (see typoOf).
	bareArgs bool
	learn    *learnState // set by `jailrun learn`
	// resultOut is --result, prepared before the run (pendingFile).
	resultOut *pendingFile
	client    clientFlags
	copy      copyFlags
	overrides overrideFlags
}

func addRunFlags(c *cobra.Command, f *runFlags) {
	fl := c.Flags()
	fl.StringVarP(&f.policy, "policy", "p", "strict", "policy file, or the name of a built-in policy (see 'jailrun policy list')")
	fl.BoolVar(&f.json, "json", false, "print the result object as JSON on stderr after the run")
	fl.StringVar(&f.resultFile, "result", "", "write the result object as JSON to `FILE`")
	fl.StringVar(&f.metaFile, "meta", "", "write an isolate-compatible meta file (key:value lines) to `FILE`, also after a limit or a setup error")
	fl.BoolVar(&f.traceSetup, "trace-setup", false, "record where the launch time went (setup_trace in the result)")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "do not print a one-line notice when a limit or the seccomp filter ends the run")
	fl.StringVar(&f.cgParent, "cgroup-parent", os.Getenv("JAILRUN_CGROUP_PARENT"),
		"create run cgroups under `CGROUP`: an absolute path from the hierarchy root, or relative to jailrun's own cgroup (default \"jailrun\", or $JAILRUN_CGROUP_PARENT)")
	fl.StringVar(&f.idMap, "id-map", os.Getenv("JAILRUN_ID_MAP"),
		"when not root, map the sandbox's user to `MODE`: auto (subordinate ids from /etc/subuid when newuidmap is installed, else your own), subordinate (required) or caller (your own ids) (default auto, or $JAILRUN_ID_MAP)")
	addHostIDsFlag(fl)
	addCommandFlags(c, &f.command)
	fl.StringArrayVar(&f.channels, "channel", nil, "an extra fd for the child, relayed and accounted for: `NAME=fd:N[:KIND][,file=PATH|socket=PATH][,limit=SIZE][,capture=SIZE]`, KIND out (default), in, socket or seqpacket (repeatable; see docs/ipc.md)")
	addAuditFlags(c, &f.audit)
	addClientFlags(c, &f.client)
	addCopyFlags(c, &f.copy)
	addOverrideFlags(c, &f.overrides)
	c.Flags().SetInterspersed(false)
}

var rootRun runFlags

func init() {
	addRunFlags(rootCmd, &rootRun)
	rootCmd.Args = cobra.ArbitraryArgs
	rootCmd.RunE = func(c *cobra.Command, args []string) error {
		dash := c.Flags().ArgsLenAtDash()
		if len(args) == 0 && dash < 0 && !rootRun.command.given() && !rootRun.overrides.given() && !c.Flags().Changed("policy") {
			return c.Help()
		}
		rootRun.bareArgs = dash < 0 && len(args) > 0
		return runCommand(c.Context(), &rootRun, args)
	}
}

func addRunCmd() {
	var f runFlags
	runCmd := &cobra.Command{
		Use:   "run [flags] -- COMMAND [ARGS...]",
		Short: "Run COMMAND in a sandbox (the explicit form of 'jailrun -- COMMAND')",
		Long: `Run COMMAND in a sandbox under a policy and exit with its exit code (128+N if a signal N killed it).

COMMAND is an absolute path inside the sandbox, or a name looked up in the sandbox's PATH (from the
policy's environment), never on the host. Arguments are passed as given: no shell is involved.

` + exitCodesHelp,
		Example: `  jailrun run -- /bin/echo hello
  jailrun run --policy policies/interpreter.json --json -- python3 -c 'print(2+2)'`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			return runCommand(c.Context(), &f, args)
		},
	}
	addRunFlags(runCmd, &f)
	rootCmd.AddCommand(runCmd)
}

// loadPolicy resolves --policy to compiled settings and maps failures to their exit codes.
func loadPolicy(ref string) (*policy.Settings, error) {
	s, err := policy.Resolve(ref)
	switch {
	case err == nil:
		return s, nil
	case errors.Is(err, policy.ErrRead):
		return nil, &exitError{code: exitInput, err: err}
	case errors.Is(err, policy.ErrInvalid):
		return nil, &exitError{code: exitPolicy, err: err}
	default:
		return nil, &exitError{code: exitPolicy, err: err}
	}
}

func runCommand(ctx context.Context, f *runFlags, argv []string) (retErr error) {
	if f.client.server != "" {
		return runClient(ctx, f, argv) // client mode: a `jailrun serve` runs it (client.go)
	}
	// The meta file is opened first: a bad path fails before anything runs, and any later failure is
	// reported in it (status:XX).
	meta, err := openMeta(f.metaFile, "--meta")
	if err != nil {
		return err
	}
	var res *sandbox.Result
	defer func() { retErr = meta.finish(res, retErr) }()
	if f.resultOut, err = openResult(f.resultFile); err != nil {
		return err
	}
	defer f.resultOut.discard()
	s, err := loadPolicy(f.policy)
	if err != nil {
		return err
	}
	if s, err = f.overrides.apply(s); err != nil {
		return err
	}
	argv, params, err := buildArgv(s, &f.command, argv)
	if err != nil {
		return err
	}
	if ctx == nil {
		ctx = context.Background()
	}
	// SIGINT/SIGTERM/SIGHUP stop the sandbox and still clean up; jailrun then exits as if killed by them.
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	gotSig := make(chan os.Signal, 1)
	go func() {
		if sig, ok := <-sigs; ok {
			gotSig <- sig
			// The command gets the signal and limits.kill_grace to exit, then the sandbox is killed.
			cancel(&sandbox.StopSignal{Signal: sig.(syscall.Signal)})
		}
	}()

	var channels []*ipc.Channel
	for _, spec := range f.channels {
		ch, err := ipc.ParseSpec(spec)
		if err != nil {
			return fail(exitUsage, "--channel: %v", err)
		}
		channels = append(channels, ch)
	}
	lg, err := f.audit.open()
	if err != nil {
		return err
	}
	defer lg.Close()
	idMap, err := sandbox.ParseIDMapping(f.idMap)
	if err != nil {
		return fail(exitUsage, "--id-map: %v", err)
	}
	ids, err := parseHostIDs()
	if err != nil {
		return err
	}
	runner, err := sandbox.NewRunner(sandbox.Options{
		CgroupParent: f.cgParent,
		IDMapping:    idMap,
		HostIDs:      ids,
		Logf:         func(format string, a ...any) { fmt.Fprintf(os.Stderr, "jailrun: warning: "+format+"\n", a...) },
	})
	if err != nil {
		return mapRunError(err)
	}
	defer runner.Close()
	var got os.Signal
	req := sandbox.Request{
		Policy:     s,
		Argv:       argv,
		Params:     params,
		Env:        os.Environ(),
		Stdin:      os.Stdin,
		Stdout:     os.Stdout,
		Stderr:     os.Stderr,
		TraceSetup: f.traceSetup,
		Channels:   channels,
		Audit:      lg,
	}
	if f.learn != nil {
		req.LearnSeccomp = true
		if f.learn.out == "" {
			req.Stdout = os.Stderr // stdout is for the policy
		}
	}
	outs, err := f.copy.request(s, &req)
	if err != nil {
		return err
	}
	var runErr error
	if err := startOutputs(f.resultOut, f.learnOut()); err != nil {
		return err
	}
	res, runErr = runner.Run(ctx, req)
	if res != nil && runErr == nil {
		if err := writeCopyOuts(outs, res); err != nil {
			return err
		}
	}
	select {
	case got = <-gotSig:
	default:
	}
	if res != nil && runErr == nil && got == nil && !f.quiet && notable(res.Status) {
		fmt.Fprintf(os.Stderr, "jailrun: %s: %s\n", res.Status, res.Message)
	}
	if res != nil {
		if err := report(f, res); err != nil {
			return err
		}
	}
	if f.learn != nil && res != nil && runErr == nil {
		if err := f.learn.finish(f, s, argv, res); err != nil {
			return err
		}
	}
	if got != nil {
		// Stopped by a signal, even if it came while the sandbox was still being set up (the run then ends
		// as a cancelled setup): jailrun exits as if killed by it, after cleaning up.
		return &childExit{code: 128 + int(got.(syscall.Signal))}
	}
	if runErr != nil {
		if errors.Is(runErr, sandbox.ErrNotFound) && f.bareArgs && len(argv) > 0 {
			if sub := typoOf(rootCmd, argv[0]); sub != "" {
				return typoError(argv[0], sub)
			}
		}
		return mapRunError(runErr)
	}
	switch {
	case res.Signal != 0:
		return &childExit{code: 128 + res.Signal}
	default:
		return &childExit{code: res.ExitCode}
	}
}

// notable statuses get a one-line notice: the command did not simply exit or crash on its own.
func notable(s sandbox.Status) bool {
	switch s {
	case sandbox.StatusOK, sandbox.StatusNonzeroExit, sandbox.StatusSignaled:
		return false
	}
	return true
}

func report(f *runFlags, res *sandbox.Result) error {
	if f.resultFile == "" && (!f.json || f.learn != nil) {
		return nil // nothing asked for the result: encoding it was a few percent of a plain run
	}
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fail(exitInternal, "encode result: %v", err)
	}
	b = append(b, '\n')
	if err := f.resultOut.write(b); err != nil {
		return fail(exitInput, "%v", err)
	}
	if f.json && f.learn == nil { // learn prints its own summary
		os.Stderr.Write(b)
	}
	return nil
}

func mapRunError(err error) error {
	switch {
	case errors.Is(err, ipc.ErrEndpoint), errors.Is(err, audit.ErrSink):
		// A channel endpoint or an audit sink the caller named cannot be used: the run did not start.
		return &exitError{code: exitInput, err: err}
	case errors.Is(err, sandbox.ErrHostIDs) && !errors.Is(err, sandbox.ErrSetup):
		// --host-id-range or $JAILRUN_HOST_IDS names ids the host already uses.
		return &exitError{code: exitUsage, err: err}
	case errors.Is(err, sandbox.ErrNotFound):
		return &exitError{code: exitNotFound, err: err}
	case errors.Is(err, sandbox.ErrCannotExec):
		return &exitError{code: exitCannotExec, err: err}
	case errors.Is(err, sandbox.ErrUnsupported):
		return &exitError{code: exitUnsupported, err: err}
	case errors.Is(err, sandbox.ErrArgument), errors.Is(err, sandbox.ErrFiles):
		// A refused command (an argv where the policy's template fixes the command, a bad parameter), or
		// --copy-in/--copy-out naming a path that leaves the box, a file over a cap: the same usage error
		// the flags give.
		return &exitError{code: exitUsage, err: err}
	case errors.Is(err, sandbox.ErrPolicy):
		return &exitError{code: exitPolicy, err: err}
	}
	return &exitError{code: exitInternal, err: err}
}

// envIDMapping is $JAILRUN_ID_MAP for the commands without an --id-map flag; NewRunner parses it and refuses
// an invalid value with the reason.
func envIDMapping() sandbox.IDMapping { return sandbox.IDMapping(os.Getenv("JAILRUN_ID_MAP")) }

// learnOut is learn's --out file, or nil.
func (f *runFlags) learnOut() *pendingFile {
	if f.learn == nil {
		return nil
	}
	return f.learn.outFile
}
