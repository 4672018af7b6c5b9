package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
	"github.com/spf13/cobra"
)

type interactFlags struct {
	policy, interactorPolicy string
	transcript               string
	transcriptLimit          int64
	peerGrace                time.Duration
	solutionStderr           string
	interactorStderr         string
	solutionMeta             string
	interactorMeta           string
	json                     bool
	resultFile               string
	quiet                    bool
	audit                    auditFlags
}

type pipeFlags struct {
	policy      string
	stagePolicy []string
	transcript  string
	json        bool
	resultFile  string
	quiet       bool
	audit       auditFlags
}

func addInteractCmds() {
	var f interactFlags
	interactCmd := &cobra.Command{
		Use:   "interact [flags] -- SOLUTION [ARGS...] -- INTERACTOR [ARGS...]",
		Short: "Run a solution and an interactor in two sandboxes with cross-connected stdin/stdout",
		Long: `Run SOLUTION and INTERACTOR, each in its own sandbox under its own policy and limits, with the
solution's stdout connected to the interactor's stdin and the interactor's stdout to the solution's
stdin (the online-judge interactor pattern). Both stderrs go to jailrun's stderr unless redirected.

When one side ends, the other reads EOF and gets EPIPE on its next write; a side that hangs is ended by
its own wall-time limit (or --peer-grace after the other ended); a side that floods is stopped by its own
output limit. The result (--json, --result) holds both verdicts and, for each direction, the bytes and
their SHA-256; --transcript records what crossed, as JSON lines.

Exit status: the interactor's exit code (128+N if signal N killed it) when it did not end ok, else the
solution's; 0 when both ended ok.`,
		Example: `  jailrun interact --policy strict --interactor-policy judge.json -- ./sol -- ./interactor tests/1.in
  jailrun interact --transcript t.jsonl --result r.json -- python3 sol.py -- ./interactor`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cmds, err := splitCommands(args, 2)
			if err != nil {
				return err
			}
			return interactCommand(c.Context(), &f, cmds[0], cmds[1])
		},
	}
	fl := interactCmd.Flags()
	fl.StringVarP(&f.policy, "policy", "p", "strict", "the solution's policy: a file or a built-in name")
	fl.StringVar(&f.interactorPolicy, "interactor-policy", "", "the interactor's policy (default: the same as --policy)")
	fl.StringVar(&f.transcript, "transcript", "", "record both directions to `FILE` as JSON lines")
	fl.Int64Var(&f.transcriptLimit, "transcript-limit", sandbox.DefaultTranscriptLimit, "cap the transcript's data at `BYTES`")
	fl.DurationVar(&f.peerGrace, "peer-grace", 0, "stop a side this long after the other ended (0: only its own limits)")
	fl.StringVar(&f.solutionStderr, "solution-stderr", "", "write the solution's stderr to `FILE` instead of jailrun's stderr")
	fl.StringVar(&f.interactorStderr, "interactor-stderr", "", "write the interactor's stderr to `FILE` instead of jailrun's stderr")
	fl.StringVar(&f.solutionMeta, "solution-meta", "", "write the solution's isolate-compatible meta file (key:value lines) to `FILE`")
	fl.StringVar(&f.interactorMeta, "interactor-meta", "", "write the interactor's isolate-compatible meta file (key:value lines) to `FILE`")
	fl.BoolVar(&f.json, "json", false, "print the result object as JSON on stderr after the runs")
	fl.StringVar(&f.resultFile, "result", "", "write the result object as JSON to `FILE`")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no one-line notice when a limit or the seccomp filter ends a side")
	addAuditFlags(interactCmd, &f.audit)
	addHostIDsFlag(fl)
	fl.SetInterspersed(false)
	rootCmd.AddCommand(interactCmd)

	var p pipeFlags
	pipeCmd := &cobra.Command{
		Use:   "pipe [flags] -- CMD1 [ARGS...] -- CMD2 [ARGS...] [-- CMD3 ...]",
		Short: "Run a pipeline CMD1 | CMD2 | ... with every stage in its own sandbox",
		Long: `Run the commands as a pipeline, each in its own sandbox: jailrun's stdin feeds the first, the last
writes to jailrun's stdout, every stage's stderr goes to jailrun's stderr. Each link is a pipe with the
usual backpressure, accounted for (bytes, SHA-256) in the result. As in a shell, a stage whose reader has
ended gets SIGPIPE.

Exit status, as with 'set -o pipefail': 0 if every stage ended ok (a stage killed by SIGPIPE because a
later one stopped reading counts as ok), else the exit code of the last stage that did not (128+N for a
signal).

Every "--" separates two stages, so a stage cannot be given a literal "--" argument: run such a command
through a stage of its own with a script or a shell (e.g. sh -c 'exec grep -e "$1" -- file' sh PATTERN).`,
		Example: `  jailrun pipe -- /bin/cat data.txt -- sort -- uniq -c
  jailrun pipe --policy strict --stage-policy 1=filter.json -- ./gen -- ./filter`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			cmds, err := splitCommands(args, -1)
			if err != nil {
				return err
			}
			return pipeCommand(c.Context(), &p, cmds)
		},
	}
	pf := pipeCmd.Flags()
	pf.StringVarP(&p.policy, "policy", "p", "strict", "the policy of every stage: a file or a built-in name")
	pf.StringArrayVar(&p.stagePolicy, "stage-policy", nil, "`N=POLICY`: stage N (from 0) uses POLICY instead (repeatable)")
	pf.StringVar(&p.transcript, "transcript", "", "record what crosses every link to `FILE` as JSON lines")
	pf.BoolVar(&p.json, "json", false, "print the result object as JSON on stderr after the runs")
	pf.StringVar(&p.resultFile, "result", "", "write the result object as JSON to `FILE`")
	pf.BoolVarP(&p.quiet, "quiet", "q", false, "no one-line notice when a limit or the seccomp filter ends a stage")
	addAuditFlags(pipeCmd, &p.audit)
	addHostIDsFlag(pf)
	pf.SetInterspersed(false)
	rootCmd.AddCommand(pipeCmd)
}

// splitCommands splits args at "--" into commands; want is the exact number of commands, or -1 for two or
// more. (cobra has already consumed a "--" that came right after the flags.)
func splitCommands(args []string, want int) ([][]string, error) {
	var cmds [][]string
	cur := []string{}
	for _, a := range args {
		if a == "--" {
			cmds = append(cmds, cur)
			cur = []string{}
			continue
		}
		cur = append(cur, a)
	}
	cmds = append(cmds, cur)
	for i, c := range cmds {
		if len(c) == 0 {
			return nil, fail(exitUsage, "command %d is empty: separate the commands with a single '--' (see --help)", i+1)
		}
	}
	switch {
	case want > 0 && len(cmds) != want:
		return nil, fail(exitUsage, "want %d commands separated by '--', got %d (see --help)", want, len(cmds))
	case want < 0 && len(cmds) < 2:
		return nil, fail(exitUsage, "want two or more commands separated by '--' (see --help)")
	}
	return cmds, nil
}

// signalContext cancels ctx on SIGINT/SIGTERM/SIGHUP so that the sandboxes are stopped and cleaned up; the
// returned function reports the signal, if one came.
func signalContext(ctx context.Context) (context.Context, func() os.Signal, func()) {
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithCancelCause(ctx)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	got := make(chan os.Signal, 1)
	go func() {
		if sig, ok := <-sigs; ok {
			got <- sig
			cancel(&sandbox.StopSignal{Signal: sig.(syscall.Signal)}) // each side gets limits.kill_grace
		}
	}()
	received := func() os.Signal {
		select {
		case s := <-got:
			return s
		default:
			return nil
		}
	}
	return ctx, received, func() { signal.Stop(sigs); close(sigs); cancel(nil) }
}

// openOut opens an output file named by a flag, or returns def when the flag is empty.
func openOut(path string, def io.Writer, what string) (io.Writer, func(), error) {
	if path == "" {
		return def, func() {}, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return nil, nil, fail(exitInput, "%s: %v", what, err)
	}
	return f, func() { f.Close() }, nil
}

func newCLIRunner() (*sandbox.Runner, error) {
	ids, err := parseHostIDs()
	if err != nil {
		return nil, err
	}
	r, err := sandbox.NewRunner(sandbox.Options{
		CgroupParent: os.Getenv("JAILRUN_CGROUP_PARENT"),
		IDMapping:    envIDMapping(),
		HostIDs:      ids,
		Logf:         func(format string, a ...any) { fmt.Fprintf(os.Stderr, "jailrun: warning: "+format+"\n", a...) },
	})
	if err != nil {
		return nil, mapRunError(err)
	}
	return r, nil
}

func interactCommand(ctx context.Context, f *interactFlags, solArgv, interArgv []string) (retErr error) {
	// Each side's meta file, opened before anything runs (see runCommand).
	solMeta, err := openMeta(f.solutionMeta, "--solution-meta")
	if err != nil {
		return err
	}
	interMeta, err := openMeta(f.interactorMeta, "--interactor-meta")
	if err != nil {
		return solMeta.finish(nil, err)
	}
	resultOut, err := openResult(f.resultFile)
	if err != nil {
		return err
	}
	defer resultOut.discard()
	var res *sandbox.InteractResult
	defer func() {
		var solRes, interRes *sandbox.Result
		if res != nil {
			solRes, interRes = res.Solution, res.Interactor
		}
		retErr = interMeta.finish(interRes, solMeta.finish(solRes, retErr))
	}()
	sol, err := loadPolicy(f.policy)
	if err != nil {
		return err
	}
	inter := sol
	if f.interactorPolicy != "" {
		if inter, err = loadPolicy(f.interactorPolicy); err != nil {
			return err
		}
	}
	lg, err := f.audit.open()
	if err != nil {
		return err
	}
	defer lg.Close()
	solErr, closeSol, err := openOut(f.solutionStderr, os.Stderr, "--solution-stderr")
	if err != nil {
		return err
	}
	defer closeSol()
	interErr, closeInter, err := openOut(f.interactorStderr, os.Stderr, "--interactor-stderr")
	if err != nil {
		return err
	}
	defer closeInter()
	tr, closeTr, err := openOut(f.transcript, nil, "--transcript")
	if err != nil {
		return err
	}
	defer closeTr()

	ctx, received, stop := signalContext(ctx)
	defer stop()
	runner, err := newCLIRunner()
	if err != nil {
		return err
	}
	defer runner.Close()
	var runErr error
	if err := resultOut.start(); err != nil {
		return err
	}
	res, runErr = sandbox.Interact(ctx, runner,
		sandbox.Request{Policy: sol, Argv: solArgv, Env: os.Environ(), Stderr: solErr, Audit: lg},
		sandbox.Request{Policy: inter, Argv: interArgv, Env: os.Environ(), Stderr: interErr, Audit: lg},
		sandbox.InteractOptions{Transcript: tr, TranscriptLimit: f.transcriptLimit, PeerGrace: f.peerGrace, Audit: lg})
	got := received()
	if res != nil {
		if err := writeResult(res, f.json, resultOut); err != nil {
			return err
		}
	}
	if runErr != nil {
		return mapRunError(runErr)
	}
	if got != nil {
		return &childExit{code: 128 + int(got.(syscall.Signal))}
	}
	if !f.quiet {
		notice("solution", res.Solution)
		notice("interactor", res.Interactor)
	}
	if res.Interactor.Status != sandbox.StatusOK {
		return &childExit{code: exitCodeOf(res.Interactor)}
	}
	return &childExit{code: exitCodeOf(res.Solution)}
}

func pipeCommand(ctx context.Context, f *pipeFlags, cmds [][]string) error {
	resultOut, err := openResult(f.resultFile)
	if err != nil {
		return err
	}
	defer resultOut.discard()
	pols := make([]*policy.Settings, len(cmds))
	def, err := loadPolicy(f.policy)
	if err != nil {
		return err
	}
	for i := range pols {
		pols[i] = def
	}
	for _, sp := range f.stagePolicy {
		n, ref, ok := strings.Cut(sp, "=")
		i, err := strconv.Atoi(n)
		if !ok || err != nil || i < 0 || i >= len(cmds) || ref == "" {
			return fail(exitUsage, "--stage-policy %q: want N=POLICY with N from 0 to %d", sp, len(cmds)-1)
		}
		if pols[i], err = loadPolicy(ref); err != nil {
			return err
		}
	}
	lg, err := f.audit.open()
	if err != nil {
		return err
	}
	defer lg.Close()
	tr, closeTr, err := openOut(f.transcript, nil, "--transcript")
	if err != nil {
		return err
	}
	defer closeTr()
	stages := make([]sandbox.Request, len(cmds))
	for i, argv := range cmds {
		stages[i] = sandbox.Request{Policy: pols[i], Argv: argv, Env: os.Environ(), Stderr: os.Stderr, Audit: lg}
	}
	stages[0].Stdin = os.Stdin
	stages[len(stages)-1].Stdout = os.Stdout

	ctx, received, stop := signalContext(ctx)
	defer stop()
	runner, err := newCLIRunner()
	if err != nil {
		return err
	}
	defer runner.Close()
	if err := resultOut.start(); err != nil {
		return err
	}
	res, runErr := sandbox.Pipeline(ctx, runner, stages, sandbox.PipelineOptions{Transcript: tr, Audit: lg})
	got := received()
	if res != nil {
		if err := writeResult(res, f.json, resultOut); err != nil {
			return err
		}
	}
	if runErr != nil {
		return mapRunError(runErr)
	}
	if got != nil {
		return &childExit{code: 128 + int(got.(syscall.Signal))}
	}
	if !f.quiet {
		for i, r := range res.Stages {
			notice(fmt.Sprintf("stage %d", i), r)
		}
	}
	code := 0
	for i, r := range res.Stages {
		if r.Status == sandbox.StatusOK || (i < len(res.Stages)-1 && r.SignalName == "SIGPIPE" && r.Status == sandbox.StatusSignaled) {
			continue
		}
		code = exitCodeOf(r)
	}
	return &childExit{code: code}
}

func notice(side string, r *sandbox.Result) {
	if r != nil && notable(r.Status) {
		fmt.Fprintf(os.Stderr, "jailrun: %s: %s: %s\n", side, r.Status, r.Message)
	}
}

// exitCodeOf is the code a shell would report for the run: its exit code, or 128+N for signal N.
func exitCodeOf(r *sandbox.Result) int {
	if r.Signal != 0 {
		return 128 + r.Signal
	}
	if r.ExitCode < 0 {
		return exitInternal
	}
	return r.ExitCode
}

func writeResult(v any, toStderr bool, out *pendingFile) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fail(exitInternal, "encode result: %v", err)
	}
	b = append(b, '\n')
	if err := out.write(b); err != nil {
		return fail(exitInput, "%v", err)
	}
	if toStderr {
		os.Stderr.Write(b)
	}
	return nil
}
