// Command jailrun runs an untrusted command in a Linux sandbox described by a policy and reports what
// happened. See README.md for the flags, the exit codes and the result format.
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// Exit codes of jailrun's own failures. A run that starts reports the child's own exit code, or 128+N when
// the child was killed by signal N. These codes are documented in README.md; keep them in sync.
const (
	exitUsage       = 2   // bad flags or arguments
	exitPolicy      = 120 // the policy is malformed or invalid
	exitUnsupported = 121 // this host cannot enforce what the policy requires (fail closed)
	exitInput       = 122 // an input file (policy, params) cannot be read
	exitRefused     = 123 // client mode: the server refused the run (not a tenant, policy not allowed)
	exitNoServer    = 124 // client mode: no server answers, it is busy or shutting down, or the connection broke
	exitInternal    = 125 // jailrun itself failed: sandbox setup, cgroups, I/O
	exitCannotExec  = 126 // the command exists but cannot be executed
	exitNotFound    = 127 // the command was not found inside the sandbox
)

// exitError carries the exit code and the one-line message a failure ends with.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func fail(code int, format string, a ...any) error {
	return &exitError{code: code, err: fmt.Errorf(format, a...)}
}

// exitCodesHelp is the exit code summary of --help; README.md's "Exit codes" has the whole table.
const exitCodesHelp = `Exit codes: the command's own (128+N if signal N killed it, e.g. 137 after a limit; the result's
status says which); 2 bad flags or arguments; 120 invalid policy; 121 this host cannot enforce the policy;
122 a file cannot be read or written; 123/124 client mode: refused / no server; 125 jailrun failed;
126 the command cannot be executed; 127 not found inside the sandbox.`

var rootCmd = &cobra.Command{
	Use:   "jailrun [flags] -- COMMAND [ARGS...]",
	Short: "Run an untrusted command in a Linux sandbox and report what happened",
	Long: `jailrun runs COMMAND in fresh namespaces, on an empty read-only root with only the paths the policy
names, under cgroup limits, rlimits and a seccomp filter, and reports how it ended.

With no --policy the built-in "strict" policy applies: no network, nothing writable from the host,
256 MiB memory, 64 processes, 10 s CPU, 30 s wall time, an allowlist syscall filter.

The command is taken from argv as given: it is never passed through a shell.

` + exitCodesHelp,
	Example: `  jailrun -- /bin/echo hello
  jailrun --policy policies/compile.json --json -- gcc -O2 /box/a.c -o /box/a.out
  jailrun --result result.json -- python3 -c 'print(1)'`,
	SilenceUsage:  true,
	SilenceErrors: true,
}

func main() {
	// A reader of jailrun's stdout that goes away (jailrun -- yes | head -1) must not kill jailrun before it
	// has stopped the sandbox, cleaned up and written its result: with SIGPIPE handled (not ignored, which
	// the child would inherit across exec), writes to fd 1 and 2 fail with EPIPE, the relay closes the
	// child's pipe and the child gets its own SIGPIPE, as in a shell pipeline.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	if calledAsIsolate(os.Args[0]) {
		os.Exit(isolateMain(os.Args[1:]))
	}
	os.Exit(execute(os.Args[1:]))
}

// execute runs the CLI and turns every failure into one line on stderr and an exit code.
func execute(args []string) int {
	if !plainRun(args) {
		addSubcommands()
	}
	rootCmd.SetArgs(args)
	rootCmd.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &exitError{code: exitUsage, err: fmt.Errorf("%w (see '%s --help')", err, c.CommandPath())}
	})
	err := rootCmd.Execute()
	if err == nil {
		return 0
	}
	var code *childExit
	if errors.As(err, &code) {
		return code.code
	}
	var ee *exitError
	if errors.As(err, &ee) {
		fmt.Fprintf(os.Stderr, "jailrun: %v\n", ee.err)
		return ee.code
	}
	// Cobra's own argument errors (unknown command, wrong arity) are usage errors.
	fmt.Fprintf(os.Stderr, "jailrun: %v (see 'jailrun --help')\n", err)
	return exitUsage
}

// childExit is returned when the sandboxed command ran: jailrun exits with the child's code and prints
// nothing more of its own.
type childExit struct{ code int }

func (c *childExit) Error() string { return fmt.Sprintf("child exited with %d", c.code) }
