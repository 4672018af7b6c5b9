package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandFlags are the ways to give the command other than `-- COMMAND [ARGS...]`. Exactly one way is
// used per run:
//
//	jailrun --policy compile.json --param source=a.c --param binary=a.out   (the policy's template)
//	jailrun -- /usr/bin/gcc -O2 a.c                                          (argv as given)
//	jailrun --cmd 'gcc -O2 a.c'                                              (split like a shell would, no shell)
//	jailrun --shell 'printf "%s\n" "$1"' -- 'untrusted value'                (an explicit shell; args are $1...)
type commandFlags struct {
	params []string
	cmd    string
	shell  string
	fs     *pflag.FlagSet
}

func addCommandFlags(c *cobra.Command, f *commandFlags) {
	fl := c.Flags()
	// StringArray, not StringSlice: a slice flag would split a value at commas, and "a,b.c" is a legal
	// file name that must stay one value.
	fl.StringArrayVar(&f.params, "param", nil, "set a parameter of the policy's command template, as `NAME=VALUE` (repeatable); the value becomes exactly one argument, checked for the parameter's type")
	fl.StringVar(&f.cmd, "cmd", "", "the command as one `STRING`, split with shell-like quoting but never run by a shell; for trusted input only")
	fl.StringVar(&f.shell, "shell", "", "run `SCRIPT` with /bin/sh -c; arguments after -- become \"$1\", \"$2\", ... of the script")
	f.fs = fl
}

// given reports whether a command was given by flag, so that `jailrun --param x=1` (no arguments) runs
// instead of printing the help.
func (f *commandFlags) given() bool {
	return len(f.params) > 0 || f.changed("cmd") || f.changed("shell")
}

func (f *commandFlags) changed(name string) bool { return f.fs != nil && f.fs.Changed(name) }

// buildArgv decides the child's argv from the command flags and the arguments after "--" (rest), or, for
// a policy with a command template, the template's parameters (argv is then nil: the library expands the
// template itself, as it does for every entry point, and refuses an argv). A misuse (two ways at once, a
// parameter without a template, no command at all) is an exitUsage error; so is a value the template or
// the splitter refuses, with one line naming it: the template is expanded here once too, so that such a
// value is a usage error before anything is set up.
func buildArgv(s *policy.Settings, f *commandFlags, rest []string) ([]string, map[string]string, error) {
	usage := func(format string, a ...any) error { return fail(exitUsage, format, a...) }
	hasCmd, hasShell := f.changed("cmd"), f.changed("shell")
	if len(s.Command.Template) > 0 {
		switch {
		case hasCmd:
			return nil, nil, usage("--cmd: policy %s fixes the command with a template; give its parameters with --param NAME=VALUE", s.Name)
		case hasShell:
			return nil, nil, usage("--shell: policy %s fixes the command with a template; give its parameters with --param NAME=VALUE", s.Name)
		case len(rest) > 0:
			return nil, nil, usage("policy %s fixes the command with a template; give its parameters with --param NAME=VALUE instead of a command after --", s.Name)
		}
		params, err := parseParams(f.params)
		if err != nil {
			return nil, nil, err
		}
		if _, err := sandbox.ExpandTemplate(s.Command, params); err != nil {
			return nil, nil, argError(err)
		}
		if params == nil {
			params = map[string]string{}
		}
		return nil, params, nil
	}
	if len(f.params) > 0 {
		return nil, nil, usage("--param: policy %s has no command template to fill in", s.Name)
	}
	argv, err := plainArgv(f, rest)
	return argv, nil, err
}

// plainArgv is the argv of a policy without a command template: from --cmd, --shell, or the arguments
// after "--". The client mode uses it too, where the server knows the policy.
func plainArgv(f *commandFlags, rest []string) ([]string, error) {
	usage := func(format string, a ...any) error { return fail(exitUsage, format, a...) }
	hasCmd, hasShell := f.changed("cmd"), f.changed("shell")
	switch {
	case hasCmd && hasShell:
		return nil, usage("--cmd and --shell cannot be used together")
	case hasCmd && len(rest) > 0:
		return nil, usage("--cmd and a command after -- cannot be used together")
	case hasCmd:
		argv, err := sandbox.SplitCommand(f.cmd)
		if err != nil {
			return nil, argError(err)
		}
		return argv, nil
	case hasShell:
		if f.shell == "" {
			return nil, usage("--shell: the script is empty")
		}
		return sandbox.Shell(f.shell, rest...), nil
	case len(rest) == 0:
		return nil, usage("no command: give -- COMMAND [ARGS...], --cmd, --shell, or a policy with a command template")
	case rest[0] == "":
		return nil, usage("the command is an empty string: give -- COMMAND [ARGS...] with a program name or path")
	}
	return rest, nil
}

// parseParams turns repeated NAME=VALUE flags into a map. The value is everything after the first '='
// and may be empty or contain '='; a name given twice is an error rather than a silent override.
func parseParams(flags []string) (map[string]string, error) {
	params := make(map[string]string, len(flags))
	for _, kv := range flags {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || name == "" {
			return nil, fail(exitUsage, "--param %q: want NAME=VALUE", shorten(kv))
		}
		if _, dup := params[name]; dup {
			return nil, fail(exitUsage, "--param %q: given twice", shorten(name))
		}
		params[name] = value
	}
	return params, nil
}

func argError(err error) error {
	if errors.Is(err, sandbox.ErrArgument) {
		return &exitError{code: exitUsage, err: err}
	}
	return &exitError{code: exitInternal, err: err}
}

// shorten keeps a hostile flag value from making a megabyte-long error line.
func shorten(s string) string {
	if len(s) <= 64 {
		return s
	}
	return fmt.Sprintf("%.64s... (%d bytes)", s, len(s))
}
