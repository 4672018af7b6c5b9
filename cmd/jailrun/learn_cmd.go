package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
	"github.com/jailrun/jailrun/seccomp"
)

// `jailrun learn`: run a command with the syscalls its base policy denies let through and recorded, then
// write a policy that extends the base and allows exactly those.

// learnState is the learn command's part of a run (runFlags.learn).
type learnState struct {
	out     string       // --out; "" means stdout
	outFile *pendingFile // --out, prepared before the run so that a bad path fails before it
	ref     string       // --policy as given: the base the written policy extends
}

func addLearnCmd() {
	var f runFlags
	var st learnState
	c := &cobra.Command{
		Use:   "learn [flags] --policy BASE -- COMMAND [ARGS...]",
		Short: "Run COMMAND once and write a policy extending BASE that allows the syscalls it needed",
		Long: `Runs COMMAND under the policy BASE in learn mode, then writes a policy that "extends" BASE and
allows exactly the syscalls BASE would have denied that COMMAND used.

Learn mode changes one thing: a syscall that BASE's seccomp filter would answer with an errno, trap, kill
or notify runs instead, and is recorded (name, count, and the values of the arguments BASE's rules test).
Everything else of BASE is in force as in a normal run: namespaces, mounts, cgroup limits, rlimits,
Landlock, no_new_privs. Calls through another ABI (i386 int 0x80, x32) and syscall numbers unknown to
jailrun keep BASE's answer; they cannot be learned.

The written policy puts its rules before BASE's (a child policy's rules come first), so nothing BASE
allows changes, and nothing that was not seen is opened:
  - a syscall BASE decides without looking at its arguments is allowed outright;
  - a syscall BASE decides by its arguments (socket's family, clone's flags, ioctl's request) is allowed
    only for the values seen, e.g. socket(AF_INET) but not AF_NETLINK.
Syscalls that cross the sandbox boundary (@dangerous: mount, ptrace, unshare ...) are learned too, with a
warning on stderr: review the file before using it. It passes 'jailrun policy check'. "extends" names
BASE as given when it is a built-in, else by a path relative to the written file.

Run COMMAND with the inputs that exercise what it needs: a syscall that was not used is not learned.
Learn mode is for writing policies, not for running untrusted code: the learning run allows what BASE
would have refused.

The policy goes to --out FILE, or to stdout; then COMMAND's stdout goes to stderr, so that stdout holds
only the policy. With --json a summary object goes to stderr: {policy_file, learned (as the result's
denied_syscalls), warnings, result}. jailrun learn exits like a run (the command's own code, 128+N for a
signal, jailrun's own codes for its failures; see README): the policy is written whenever the command ran,
even if it failed.`,
		Example: `  jailrun learn --policy strict --out my.json -- ./build.sh
  jailrun --policy my.json -- ./build.sh          # now runs to status ok
  jailrun learn --policy policies/interpreter.json -- python3 app.py > learned.json`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			// Learning needs the seccomp listener of a sandbox on this host: a server would run the
			// command under its own filter and learn nothing. $JAILRUN_SERVER is for runs, not this.
			if c.Flags().Changed("server") {
				return fail(exitUsage, "learn: --server cannot be used: learning needs a sandbox on this host; run without it")
			}
			f.client.server = ""
			s, err := loadPolicy(f.policy)
			if err != nil {
				return err
			}
			if !s.Seccomp.Enabled {
				return fail(exitPolicy, "learn: policy %s has no seccomp filter, so it denies no syscall: nothing to learn", s.Name)
			}
			if st.out != "" {
				if st.outFile, err = preparePending(st.out, "--out", true); err != nil {
					return err
				}
				defer st.outFile.discard()
			}
			st.ref = f.policy
			f.learn = &st
			return runCommand(c.Context(), &f, args)
		},
	}
	addRunFlags(c, &f)
	_ = c.Flags().MarkHidden("server")
	_ = c.Flags().MarkHidden("server-fallback")
	c.Flags().StringVarP(&st.out, "out", "o", "", "write the learned policy to `FILE` (default: stdout, and the command's stdout goes to stderr)")
	c.Flags().Lookup("json").Usage = "print a JSON summary on stderr after the run: {policy_file, learned, warnings, result}"
	c.Flags().Lookup("policy").Usage = "the base policy `BASE` (file or built-in name) to run under and extend"
	rootCmd.AddCommand(c)
}

// learnedPolicy is the written file, keys in the documented order.
type learnedPolicy struct {
	Version     int             `json:"version"`
	Name        string          `json:"name"`
	Description string          `json:"description"`
	Extends     string          `json:"extends"`
	Seccomp     json.RawMessage `json:"seccomp,omitempty"`
}

// finish writes the learned policy after a run that started. It prints the warnings (and, without --quiet,
// one summary line) on stderr, and with --json the summary object.
func (st *learnState) finish(f *runFlags, s *policy.Settings, argv []string, res *sandbox.Result) error {
	if res.DeniedSyscalls == nil {
		// The filter was skipped (require.best_effort lists seccomp and this host cannot load it): nothing
		// was observed, and an empty policy would claim otherwise.
		return fail(exitUnsupported, "learn: no seccomp filter ran (skipped: %s), so nothing was learned and no policy was written", strings.Join(res.Skipped, ", "))
	}
	var calls []seccomp.ObservedCall
	var learned []sandbox.DeniedSyscall
	var warn, names []string
	for _, d := range res.DeniedSyscalls {
		if !d.Learned {
			what := d.Syscall
			if what == "" {
				what = fmt.Sprintf("syscall %d (%s)", d.Nr, d.Arch)
			}
			warn = append(warn, fmt.Sprintf("%s was refused (%s, %d times) and cannot be learned: learn mode lets through only known syscalls of the native ABI", what, d.Action, d.Count))
			continue
		}
		learned = append(learned, d)
		calls = append(calls, seccomp.ObservedCall{Syscall: d.Syscall, Args: d.FirstArgs, AnyArgs: d.ArgsMerged, BaseAction: d.Action})
		names = append(names, fmt.Sprintf("%s (%s, %d)", d.Syscall, d.Action, d.Count))
	}
	sug, err := seccomp.SuggestExtends(s.Seccomp, calls)
	if err != nil {
		return fail(exitInternal, "learn: %v", err)
	}
	warn = append(warn, sug.Warnings...)
	ext, err := extendsRef(st.ref, st.out)
	if err != nil {
		return fail(exitInput, "learn: %v", err)
	}
	base := s.Name
	if !validPolicyName(base + "-learned") {
		base = "policy"
	}
	doc := learnedPolicy{Version: 1, Name: base + "-learned", Extends: ext,
		Description: fmt.Sprintf("Written by jailrun learn: %s plus the syscalls %s used.", st.ref, filepath.Base(argv[0]))}
	if len(calls) > 0 {
		doc.Seccomp = sug.JSON
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // "&=" stays readable
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return fail(exitInternal, "learn: encode policy: %v", err)
	}
	b := buf.Bytes()
	where := "stdout"
	if st.out == "" {
		if _, err := os.Stdout.Write(b); err != nil {
			return fail(exitInternal, "learn: write policy to stdout: %v", err)
		}
	} else {
		if err := st.outFile.write(b); err != nil {
			return fail(exitInput, "learn: %v", err)
		}
		where = st.out
	}
	for _, w := range warn {
		fmt.Fprintf(os.Stderr, "jailrun: learn: warning: %s\n", w)
	}
	if !f.quiet {
		if len(names) == 0 {
			fmt.Fprintf(os.Stderr, "jailrun: learn: the command used nothing %s denies; policy written to %s\n", st.ref, where)
		} else {
			fmt.Fprintf(os.Stderr, "jailrun: learn: allowed %d syscall(s) %s denies: %s; policy written to %s\n", len(names), st.ref, strings.Join(names, ", "), where)
		}
	}
	if f.json {
		if learned == nil {
			learned = []sandbox.DeniedSyscall{}
		}
		if warn == nil {
			warn = []string{}
		}
		out, err := json.MarshalIndent(struct {
			PolicyFile string                  `json:"policy_file"`
			Learned    []sandbox.DeniedSyscall `json:"learned"`
			Warnings   []string                `json:"warnings"`
			Result     *sandbox.Result         `json:"result"`
		}{where, learned, warn, res}, "", "  ")
		if err != nil {
			return fail(exitInternal, "learn: encode summary: %v", err)
		}
		os.Stderr.Write(append(out, '\n'))
	}
	return nil
}

// extendsRef is how the written policy names its base: a built-in by name, a file by its path relative
// to the written file's directory (policies refuse absolute extends, so that they mean the same anywhere).
func extendsRef(ref, out string) (string, error) {
	if !strings.Contains(ref, "/") && !strings.HasSuffix(ref, ".json") {
		return ref, nil
	}
	abs, err := filepath.Abs(ref)
	if err != nil {
		return "", err
	}
	dir := "."
	if out != "" {
		dir = filepath.Dir(out)
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return "", err
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil {
		return "", fmt.Errorf("cannot name %s relative to %s: %w", ref, dir, err)
	}
	if !strings.Contains(rel, "/") && !strings.HasSuffix(rel, ".json") {
		rel = "./" + rel // else it would read as a built-in name
	}
	return rel, nil
}

func validPolicyName(n string) bool {
	_, err := policy.Parse([]byte(fmt.Sprintf(`{"version": 1, "name": %q}`, n)), "name")
	return err == nil
}
