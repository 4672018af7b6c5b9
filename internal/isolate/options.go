// Package isolate reads an ioi/isolate command line and translates it into jailrun's typed policy settings,
// so that a grader built on isolate (CMS, course autograders) switches to jailrun by changing the binary
// name. Parsing and translation are pure: nothing here touches the host, so both are unit-tested
// table-driven; cmd/jailrun does the box directory, the run and the meta file.
package isolate

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Mode is the isolate command: exactly one per invocation.
type Mode int

const (
	ModeNone Mode = iota
	ModeInit
	ModeRun
	ModeCleanup
	ModeVersion
)

// Options is one parsed isolate command line. Sizes are in bytes (isolate takes kilobytes), times are
// durations (isolate takes fractional seconds). A nil pointer means "not given".
type Options struct {
	Mode  Mode
	BoxID int
	CG    bool
	// CGTiming records --cg-timing / --no-cg-timing; jailrun always measures CPU time with the cgroup.
	CGTiming *bool
	Meta     string

	Time, WallTime, ExtraTime *time.Duration
	Mem, CGMem                *int64 // -m (RLIMIT_AS), --cg-mem (cgroup memory)
	Stack, FSize, Core        *int64
	OpenFiles                 *int64
	// Processes: nil = not given (one process, isolate's default); 0 = -p without a value (no fixed count).
	Processes *int64
	Quota     string

	Dirs          []DirRule
	NoDefaultDirs bool
	Env           []EnvRule
	FullEnv       bool

	Stdin, Stdout, Stderr string
	StderrToStdout        bool
	Chdir                 string
	ShareNet              bool
	InheritFDs            bool
	SpecialFiles          bool
	TTYHack               bool
	Wait                  bool
	AsUID, AsGID          *int64
	PrintCGRoot           bool
	Silent                bool
	Verbose               int
	// Help is --help/-h (not isolate's: its getopt refuses them): print Usage and exit 0.
	Help bool

	// jailrun's own additions (long options isolate does not have).
	Policy  string // --jailrun-policy: the base policy (default "default")
	BoxRoot string // --jailrun-root: where boxes live

	Argv []string
}

// UsageError is a command line isolate would refuse with its usage message (exit 2).
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, a ...any) error { return &UsageError{Msg: fmt.Sprintf(format, a...)} }

type argKind int

const (
	noArg argKind = iota
	reqArg
	optArg
)

type optSpec struct {
	long  string
	short byte
	arg   argKind
	set   func(o *Options, v string, given bool) error
}

// opts lists every option of isolate 2.x (isolate.1 / isolate --help) plus jailrun's --jailrun-policy and
// --jailrun-root. Options jailrun cannot honour are parsed here and refused by Refused, so that the refusal names
// the option instead of saying "unknown option".
var opts = []optSpec{
	{"box-id", 'b', reqArg, func(o *Options, v string, _ bool) error { n, err := uintArg(v); o.BoxID = int(n); return err }},
	{"chdir", 'c', reqArg, func(o *Options, v string, _ bool) error { o.Chdir = v; return nil }},
	{"cg", 0, noArg, func(o *Options, _ string, _ bool) error { o.CG = true; return nil }},
	{"cg-mem", 0, reqArg, func(o *Options, v string, _ bool) error { return kb(&o.CGMem, v) }},
	{"cg-timing", 0, noArg, func(o *Options, _ string, _ bool) error { t := true; o.CGTiming = &t; return nil }},
	{"no-cg-timing", 0, noArg, func(o *Options, _ string, _ bool) error { f := false; o.CGTiming = &f; return nil }},
	{"cleanup", 0, noArg, mode(ModeCleanup)},
	{"core", 0, reqArg, func(o *Options, v string, _ bool) error { return kb(&o.Core, v) }},
	{"dir", 'd', reqArg, func(o *Options, v string, _ bool) error {
		r, err := ParseDirRule(v)
		if err == nil {
			o.Dirs = append(o.Dirs, r)
		}
		return err
	}},
	{"no-default-dirs", 'D', noArg, func(o *Options, _ string, _ bool) error { o.NoDefaultDirs = true; return nil }},
	{"env", 'E', reqArg, func(o *Options, v string, _ bool) error {
		r, err := parseEnvRule(v)
		if err == nil {
			o.Env = append(o.Env, r)
		}
		return err
	}},
	{"full-env", 'e', noArg, func(o *Options, _ string, _ bool) error { o.FullEnv = true; return nil }},
	{"extra-time", 'x', reqArg, func(o *Options, v string, _ bool) error { return seconds(&o.ExtraTime, v) }},
	{"fsize", 'f', reqArg, func(o *Options, v string, _ bool) error { return kb(&o.FSize, v) }},
	{"inherit-fds", 0, noArg, func(o *Options, _ string, _ bool) error { o.InheritFDs = true; return nil }},
	{"init", 0, noArg, mode(ModeInit)},
	{"mem", 'm', reqArg, func(o *Options, v string, _ bool) error { return kb(&o.Mem, v) }},
	{"meta", 'M', reqArg, func(o *Options, v string, _ bool) error { o.Meta = v; return nil }},
	{"open-files", 'n', reqArg, func(o *Options, v string, _ bool) error { return count(&o.OpenFiles, v) }},
	{"processes", 'p', optArg, func(o *Options, v string, given bool) error {
		if !given {
			var z int64
			o.Processes = &z
			return nil
		}
		return count(&o.Processes, v)
	}},
	{"quota", 'q', reqArg, func(o *Options, v string, _ bool) error { o.Quota = v; return nil }},
	{"run", 0, noArg, mode(ModeRun)},
	{"share-net", 0, noArg, func(o *Options, _ string, _ bool) error { o.ShareNet = true; return nil }},
	{"silent", 's', noArg, func(o *Options, _ string, _ bool) error { o.Silent = true; return nil }},
	{"special-files", 0, noArg, func(o *Options, _ string, _ bool) error { o.SpecialFiles = true; return nil }},
	{"stack", 'k', reqArg, func(o *Options, v string, _ bool) error { return kb(&o.Stack, v) }},
	{"stderr", 'r', reqArg, func(o *Options, v string, _ bool) error { o.Stderr, o.StderrToStdout = v, false; return nil }},
	{"stderr-to-stdout", 0, noArg, func(o *Options, _ string, _ bool) error { o.Stderr, o.StderrToStdout = "", true; return nil }},
	{"stdin", 'i', reqArg, func(o *Options, v string, _ bool) error { o.Stdin = v; return nil }},
	{"stdout", 'o', reqArg, func(o *Options, v string, _ bool) error { o.Stdout = v; return nil }},
	{"time", 't', reqArg, func(o *Options, v string, _ bool) error { return seconds(&o.Time, v) }},
	{"tty-hack", 0, noArg, func(o *Options, _ string, _ bool) error { o.TTYHack = true; return nil }},
	{"verbose", 'v', noArg, func(o *Options, _ string, _ bool) error { o.Verbose++; return nil }},
	{"version", 0, noArg, mode(ModeVersion)},
	{"wait", 0, noArg, func(o *Options, _ string, _ bool) error { o.Wait = true; return nil }},
	{"wall-time", 'w', reqArg, func(o *Options, v string, _ bool) error { return seconds(&o.WallTime, v) }},
	{"as-uid", 0, reqArg, func(o *Options, v string, _ bool) error { return count(&o.AsUID, v) }},
	{"as-gid", 0, reqArg, func(o *Options, v string, _ bool) error { return count(&o.AsGID, v) }},
	{"print-cg-root", 0, noArg, func(o *Options, _ string, _ bool) error { o.PrintCGRoot = true; return nil }},
	{"help", 'h', noArg, func(o *Options, _ string, _ bool) error { o.Help = true; return nil }},
	{"jailrun-policy", 0, reqArg, func(o *Options, v string, _ bool) error { o.Policy = v; return nil }},
	{"jailrun-root", 0, reqArg, func(o *Options, v string, _ bool) error { o.BoxRoot = v; return nil }},
}

func mode(m Mode) func(*Options, string, bool) error {
	return func(o *Options, _ string, _ bool) error {
		if o.Mode != ModeNone && o.Mode != m {
			return usagef("Only one command is allowed.")
		}
		o.Mode = m
		return nil
	}
}

// Parse reads an isolate command line the way isolate's getopt_long does: short options may be clustered
// and take their argument attached or as the next word (-b0, -b 0), -p takes an optional argument only
// attached (-p4); long options take it after '=' or as the next word, and may be abbreviated to any
// unambiguous prefix; non-option words are the command (options may also follow it, as GNU getopt permutes),
// and "--" ends the options.
func Parse(args []string) (*Options, error) {
	o := &Options{}
	var operands []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			operands = append(operands, args[i+1:]...)
			i = len(args)
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			spec, err := findLong(name)
			if err != nil {
				return nil, err
			}
			switch spec.arg {
			case noArg:
				if hasVal {
					return nil, usagef("option '--%s' doesn't allow an argument", spec.long)
				}
			case reqArg:
				if !hasVal {
					if i+1 >= len(args) {
						return nil, usagef("option '--%s' requires an argument", spec.long)
					}
					i++
					val = args[i]
				}
			}
			if err := spec.set(o, val, hasVal); err != nil {
				return nil, wrapOpt("--"+spec.long, err)
			}
		case len(a) > 1 && a[0] == '-':
		cluster:
			for j := 1; j < len(a); j++ {
				spec := findShort(a[j])
				if spec == nil {
					return nil, usagef("invalid option -- '%c'", a[j])
				}
				rest := a[j+1:]
				switch spec.arg {
				case noArg:
					if err := spec.set(o, "", false); err != nil {
						return nil, wrapOpt("-"+string(spec.short), err)
					}
					continue
				case optArg:
					if err := spec.set(o, rest, rest != ""); err != nil {
						return nil, wrapOpt("-"+string(spec.short), err)
					}
				case reqArg:
					if rest == "" {
						if i+1 >= len(args) {
							return nil, usagef("option requires an argument -- '%c'", spec.short)
						}
						i++
						rest = args[i]
					}
					if err := spec.set(o, rest, true); err != nil {
						return nil, wrapOpt("-"+string(spec.short), err)
					}
				}
				break cluster
			}
		default:
			operands = append(operands, a)
		}
	}
	o.Argv = operands
	return o, o.check()
}

func wrapOpt(name string, err error) error {
	if ue, ok := err.(*UsageError); ok {
		return ue
	}
	return usagef("%s: %v", name, err)
}

func findLong(name string) (*optSpec, error) {
	var match *optSpec
	n := 0
	for i := range opts {
		if opts[i].long == name {
			return &opts[i], nil
		}
		if strings.HasPrefix(opts[i].long, name) && name != "" {
			match = &opts[i]
			n++
		}
	}
	switch n {
	case 0:
		return nil, usagef("unrecognized option '--%s'", name)
	case 1:
		return match, nil
	}
	return nil, usagef("option '--%s' is ambiguous", name)
}

func findShort(c byte) *optSpec {
	for i := range opts {
		if opts[i].short == c {
			return &opts[i]
		}
	}
	return nil
}

// check applies isolate's own consistency rules (its usage errors) to a complete command line.
func (o *Options) check() error {
	if o.Help {
		return nil // --help answers whatever else the line says
	}
	switch o.Mode {
	case ModeNone:
		if o.PrintCGRoot {
			return nil // refused later with the reason
		}
		return usagef("Please specify an isolate command (e.g. --init, --run).")
	case ModeRun:
		if len(o.Argv) == 0 {
			return usagef("--run mode requires a command to run")
		}
	case ModeInit, ModeCleanup:
		if len(o.Argv) > 0 {
			return usagef("--%s mode takes no parameters", map[Mode]string{ModeInit: "init", ModeCleanup: "cleanup"}[o.Mode])
		}
	}
	if (o.CGMem != nil || o.CGTiming != nil) && !o.CG {
		return usagef("Options related to control groups require --cg to be set.")
	}
	return nil
}

// uintArg is isolate's opt_uint: a decimal unsigned 32-bit number, nothing else.
func uintArg(v string) (int64, error) {
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return 0, usagef("Numeric parameter out of range: %s", v)
		}
		return 0, usagef("Invalid numeric parameter: %s", v)
	}
	return int64(n), nil
}

func kb(dst **int64, v string) error {
	n, err := uintArg(v)
	if err != nil {
		return err
	}
	b := n * 1024
	*dst = &b
	return nil
}

func count(dst **int64, v string) error {
	n, err := uintArg(v)
	if err != nil {
		return err
	}
	*dst = &n
	return nil
}

// seconds reads isolate's fractional seconds ("1", "0.5", "2.25"). Unlike isolate's atof, garbage is
// refused rather than read as 0 (no limit).
func seconds(dst **time.Duration, v string) error {
	f, err := strconv.ParseFloat(v, 64)
	if err != nil || f < 0 || f != f || f > 7*24*3600 {
		return usagef("Invalid time parameter: %s", v)
	}
	d := time.Duration(f * float64(time.Second))
	*dst = &d
	return nil
}

// EnvRule is one -E rule: inherit Name (no '='), set it to Value, or remove it (empty Value after '=').
type EnvRule struct {
	Name    string
	Value   string
	Inherit bool
}

func parseEnvRule(v string) (EnvRule, error) {
	name, val, hasVal := strings.Cut(v, "=")
	if name == "" || strings.ContainsAny(name, "\x00") || strings.ContainsRune(val, 0) {
		return EnvRule{}, usagef("Invalid environment specified: %s", v)
	}
	return EnvRule{Name: name, Value: val, Inherit: !hasVal}, nil
}

// Usage is what --help prints: isolate's usage text, one line per option, with jailrun's differences in
// brackets where an option is refused or behaves differently (docs/isolate.md has the details).
const Usage = `Usage: isolate [<options>] <command>
       (jailrun isolate: ioi/isolate's command line, box layout, meta file and exit codes; see docs/isolate.md)

Options:
    --as-uid=<uid>	Perform action on behalf of a given user [refused: jailrun is not setuid]
    --as-gid=<gid>	Perform action on behalf of a given group [refused: jailrun is not setuid]
-b, --box-id=<id>	When multiple sandboxes are used in parallel, each must get a unique ID
    --cg		Enable use of control groups [accepted: every jailrun run has a cgroup of its own]
    --cg-mem=<size>	Limit memory usage of the control group to <size> KB
    --cg-timing		Time the whole control group [jailrun always does]
    --no-cg-timing	Do not time the whole control group [accepted; jailrun times the cgroup]
-c, --chdir=<dir>	Change directory to <dir> before executing the program
    --core=<size>	Limit core files to <size> KB (default: 0)
-d, --dir=<dir>		Make a directory <dir> visible inside the sandbox
    --dir=<in>=<out>	Make a directory <out> outside visible as <in> inside
    --dir=<in>=		Delete a previously defined directory rule (even a default one)
    --dir=...:<opt>	Specify options for a rule (several: <opt>:<opt> or <opt>,<opt>):
				dev	Allow access to block/char devices [only /dev:dev]
				fs	Mount a filesystem (e.g., --dir=/proc=proc:fs) [proc at /proc, tmpfs]
				maybe	Skip the rule if <out> does not exist
				noexec	Do not allow execution of binaries
				norec	Do not bind mount recursively
				rw	Allow read-write access
				tmp	Create as a temporary directory (implies rw)
-D, --no-default-dirs	Do not add default directory rules
-f, --fsize=<size>	Max size (in KB) of files that can be created
-E, --env=<var>		Inherit the environment variable <var> from the parent process
-E, --env=<var>=<val>	Set the environment variable <var> to <val>; unset it if <val> is empty
-x, --extra-time=<time>	Set extra timeout, before which a timing-out program is not yet killed,
			so that its real execution time is reported (seconds, fractions allowed)
-e, --full-env		Inherit full environment of the parent process
-h, --help		Print this help and exit [jailrun's addition]
    --inherit-fds	Inherit all file descriptors of the parent process [refused]
-m, --mem=<size>	Limit address space to <size> KB
-M, --meta=<file>	Output process information to <file> (name:value; - for stdout)
-n, --open-files=<max>	Limit number of open files to <max> (default: 64, 0=unlimited)
-q, --quota=<blk>,<ino>	Set disk quota to <blk> blocks and <ino> inodes [refused]
    --share-net		Share network namespace with the parent process
-s, --silent		Do not print status messages except for fatal errors
    --special-files	Keep non-regular files (symlinks etc.) produced inside sandbox
-k, --stack=<size>	Limit stack size to <size> KB (default: 0=unlimited)
-r, --stderr=<file>	Redirect stderr to <file>
    --stderr-to-stdout	Redirect stderr to stdout
-i, --stdin=<file>	Redirect stdin from <file>
-o, --stdout=<file>	Redirect stdout to <file>
-p, --processes[=<max>]	Enable multiple processes (at most <max> of them)
-t, --time=<time>	Set run time limit (seconds, fractions allowed)
    --tty-hack		Allow interactive programs in the sandbox [refused]
-v, --verbose		Be verbose (use multiple times for even more verbosity)
    --wait		If the sandbox is currently busy, wait instead of refusing to run
-w, --wall-time=<time>	Set wall clock time limit (seconds, fractions allowed)
    --jailrun-policy=<name|file>	The base jailrun policy the options apply to (default: default)
    --jailrun-root=<dir>	Where boxes live (default: $JAILRUN_ISOLATE_ROOT or /var/local/lib/jailrun-isolate)

Commands:
    --init		Initialize sandbox
    --run -- <cmd> ...	Run given command within sandbox
    --cleanup		Clean up sandbox
    --print-cg-root	Print the root of cgroup hierarchy [refused]
    --version		Display program version and configuration
`
