package main

import (
	"strings"
	"sync"
)

// The subcommands and their flags are built only when the command line may name one: building them all is
// about 0.4 ms and 300 allocations of every process start, and a plain `jailrun [flags] -- COMMAND` never
// reads them. The order is cobra's own (it sorts commands by name for help).
var addSubcommands = sync.OnceFunc(func() {
	addAuditCmd()
	addDoctorCmd()
	addInteractCmds()
	addIsolateCmd()
	addLearnCmd()
	addPolicyCmds()
	addExplainSeccompFlags()
	addRunCmd()
	addServeCmd()
})

// plainRun reports whether args are root flags then "--": cobra then runs the root command whatever
// subcommands exist, since it looks for a subcommand name only before "--". It follows cobra's own walk
// (stripFlags): a long flag without "=" takes the next argument as its value unless it is a boolean-like
// flag (NoOptDefVal), likewise a two-character short flag. Anything it cannot place — a non-flag word,
// an unknown flag (help, a typo), combined short flags — answers false and the full command tree is built,
// so cobra decides exactly as before.
func plainRun(args []string) bool {
	fl := rootCmd.Flags()
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return true
		}
		if len(a) < 2 || a[0] != '-' {
			return false
		}
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		var f = fl.Lookup(name)
		if !strings.HasPrefix(a, "--") {
			if len(name) != 1 {
				return false
			}
			f = fl.ShorthandLookup(name)
		}
		if f == nil {
			return false
		}
		if !hasValue && f.NoOptDefVal == "" {
			i++ // its value is the next argument
		}
	}
	return false
}
