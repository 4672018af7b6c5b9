package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/jailrun/jailrun/internal/isolate"
)

// isolate's exit codes (isolate.1, RETURN VALUE): 0 the program finished correctly, 1 it did not (an exit
// code, a signal, a limit), 2 the sandbox itself failed or the command line was refused.
const (
	isoExitOK      = 0
	isoExitProgram = 1
	isoExitError   = 2
)

// isolateBinaryName: jailrun started under this name (a symlink) behaves as `jailrun isolate`, so a grader
// switches by changing only the binary it calls.
const isolateBinaryName = "isolate"

func addIsolateCmd() {
	cmd := &cobra.Command{
		Use:   "isolate [ISOLATE OPTIONS] --init | --run -- COMMAND [ARGS...] | --cleanup",
		Short: "Run with ioi/isolate's command line, box layout, meta file and exit codes (see docs/isolate.md)",
		Long: `jailrun isolate takes isolate's command line (--init, --run, --cleanup, -b, --cg, -M, -t, -w, -x,
--cg-mem, -p, -d, -E, -i, -o, -r, ...) and runs the box in a jailrun sandbox. A symlink named "isolate"
to the jailrun binary does the same. Exit codes are isolate's: 0 ok, 1 the program failed or hit a limit,
2 the sandbox failed or the command line was refused. Boxes live in $JAILRUN_ISOLATE_ROOT (default
/var/local/lib/jailrun-isolate). Every option and its status: docs/isolate.md.`,
		DisableFlagParsing: true,
		RunE: func(c *cobra.Command, args []string) error {
			return &childExit{code: isolateMain(args)}
		},
	}
	// `jailrun help isolate` prints what `jailrun isolate --help` prints: isolate's options are parsed by
	// internal/isolate, not by cobra, which would list none of them.
	cmd.SetHelpFunc(func(c *cobra.Command, _ []string) { fmt.Fprint(c.OutOrStdout(), isolate.Usage) })
	rootCmd.AddCommand(cmd)
}

// calledAsIsolate reports whether argv[0] names the isolate binary.
func calledAsIsolate(argv0 string) bool { return filepath.Base(argv0) == isolateBinaryName }

// isoUsage prints a usage error as isolate does (the reason, then where the options are) and returns 2.
func isoUsage(err error) int {
	fmt.Fprintln(os.Stderr, err)
	fmt.Fprintln(os.Stderr, "Usage: isolate [<options>] <command>  (jailrun isolate --help; options: docs/isolate.md)")
	return isoExitError
}
