package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"

	"github.com/jailrun/jailrun/internal/atomicfile"
	"github.com/jailrun/jailrun/policy"
	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"
)

// exitCheckFailed is `jailrun policy check`'s exit code when a policy is invalid (0 when all pass), so that
// scripts and CI can use it as a plain test.
const exitCheckFailed = 1

var policyCmd = &cobra.Command{
	Use:   "policy",
	Short: "Check, format, explain and list policies",
	Long: `Tools for policy files. A policy is named by a file path, or by a built-in name such as "strict"
(a name without '/' and without a .json suffix). See docs/policy.md for the language.`,
}

var policyCheckJSON bool

var policyCheckCmd = &cobra.Command{
	Use:   "check FILE...",
	Short: "Check policies; print every problem as file:line:col: path: message",
	Long: `Parses and compiles each policy (following extends) and prints every problem found.
Exit status: 0 when all are valid, 1 when any is invalid, 122 when a file cannot be read.`,
	Args: cobra.MinimumNArgs(1),
	RunE: runPolicyCheck,
}

var (
	policyFmtWrite     bool
	policyFmtList      bool
	policyFmtEffective bool
)

var policyFmtCmd = &cobra.Command{
	Use:   "fmt FILE...",
	Short: "Print policies in canonical form (or rewrite them with -w)",
	Long: `Prints each policy as canonical JSON: keys in the documented order, units in canonical form.
Formatting is a fixed point: formatting the output again changes nothing. With --effective, prints the
policy after extends and defaults, which is what the SHA256 of a run's policy is computed over.`,
	Args: cobra.MinimumNArgs(1),
	RunE: runPolicyFmt,
}

var policyExplainJSON bool

// policyExplainCmd is a package variable so that other files of this command can add flags and sections in
// their own init (see explainExtensions).
var policyExplainCmd = &cobra.Command{
	Use:   "explain FILE|NAME",
	Short: "Explain the effective policy: namespaces, mounts, limits with their knobs, seccomp rules",
	Args:  cobra.ExactArgs(1),
	RunE:  runPolicyExplain,
}

// explainExtension adds to `jailrun policy explain`. It runs before the standard explanation; returning
// handled=true replaces it (e.g. a flag asking for BPF disassembly only). Register in an init function,
// together with the flags it reads from cmd.
type explainExtension func(cmd *cobra.Command, s *policy.Settings, out io.Writer) (handled bool, err error)

var explainExtensions []explainExtension

var policyListCmd = &cobra.Command{
	Use:   "list",
	Short: "List the built-in policies",
	Args:  cobra.NoArgs,
	RunE:  runPolicyList,
}

func addPolicyCmds() {
	policyCheckCmd.Flags().BoolVar(&policyCheckJSON, "json", false, "print the results as a JSON array for tools")
	policyFmtCmd.Flags().BoolVarP(&policyFmtWrite, "write", "w", false, "rewrite the files in place instead of printing them")
	policyFmtCmd.Flags().BoolVarP(&policyFmtList, "list", "l", false, "only list the files whose formatting differs; exit 1 if any")
	policyFmtCmd.Flags().BoolVar(&policyFmtEffective, "effective", false, "format the effective policy (after extends and defaults)")
	policyExplainCmd.Flags().BoolVar(&policyExplainJSON, "json", false, "print the effective policy as canonical JSON")
	addOverrideFlags(policyExplainCmd, &policyExplainOverrides)
	policyCmd.AddCommand(policyCheckCmd, policyFmtCmd, policyExplainCmd, policyListCmd)
	rootCmd.AddCommand(policyCmd)
}

// checkResult is one element of `policy check --json`.
type checkResult struct {
	File      string         `json:"file"`
	OK        bool           `json:"ok"`
	Name      string         `json:"name,omitempty"`
	SHA256    string         `json:"sha256,omitempty"`
	ReadError string         `json:"read_error,omitempty"`
	Problems  []checkProblem `json:"problems,omitempty"`
}

type checkProblem struct {
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Path    string `json:"path,omitempty"`
	Message string `json:"message"`
}

func resolveAndCompile(ref string) (*policy.Settings, error) {
	p, err := policy.ResolvePolicy(ref)
	if err != nil {
		return nil, err
	}
	return policy.Compile(p)
}

func runPolicyCheck(cmd *cobra.Command, args []string) error {
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var results []checkResult
	code := 0
	for _, f := range args {
		r := checkResult{File: f}
		s, err := resolveAndCompile(f)
		var inv *policy.InvalidError
		switch {
		case err == nil:
			r.OK, r.Name, r.SHA256 = true, s.Name, s.SHA256
			if !policyCheckJSON {
				fmt.Fprintf(out, "%s: ok\n", f)
			}
		case errors.As(err, &inv):
			for _, p := range inv.Problems {
				r.Problems = append(r.Problems, checkProblem{File: p.File, Line: p.Line, Column: p.Col, Path: p.Path, Message: p.Msg})
				if !policyCheckJSON {
					fmt.Fprintln(errOut, p.String())
				}
			}
			if code == 0 {
				code = exitCheckFailed
			}
		default:
			r.ReadError = err.Error()
			if !policyCheckJSON {
				fmt.Fprintf(errOut, "jailrun: %v\n", err)
			}
			code = exitInput
		}
		results = append(results, r)
	}
	if policyCheckJSON {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(results); err != nil {
			return fail(exitInternal, "write results: %v", err)
		}
	}
	if code != 0 {
		return &childExit{code: code}
	}
	return nil
}

// policyError maps a policy error to the CLI's exit codes. An invalid policy's problems go to stderr one
// per line (the first carries the "jailrun:" prefix via the returned error).
func policyError(err error) error {
	if errors.Is(err, policy.ErrInvalid) {
		return &exitError{code: exitPolicy, err: err}
	}
	if errors.Is(err, policy.ErrRead) {
		return &exitError{code: exitInput, err: err}
	}
	return &exitError{code: exitInternal, err: err}
}

func runPolicyFmt(cmd *cobra.Command, args []string) error {
	out := cmd.OutOrStdout()
	differs := false
	for _, f := range args {
		p, err := policy.ResolvePolicy(f)
		if err != nil {
			return policyError(err)
		}
		if policyFmtEffective {
			if p, err = policy.Effective(p); err != nil {
				return policyError(err)
			}
		}
		canon, err := policy.Format(p)
		if err != nil {
			return policyError(err)
		}
		switch {
		case policyFmtList || policyFmtWrite:
			if strings.HasPrefix(p.Source, "builtin:") {
				return fail(exitUsage, "%s is a built-in policy; -w and -l work on files", f)
			}
			orig, st, err := readRegularFile(f)
			if err != nil {
				return policyError(&policy.ReadError{Path: f, Err: err})
			}
			if bytes.Equal(orig, canon) {
				continue
			}
			differs = true
			if policyFmtList {
				fmt.Fprintln(out, f)
				continue
			}
			// The file is an input that cannot be written: exit 122 like one that cannot be read.
			if err := rewriteFile(f, canon, st); err != nil {
				return fail(exitInput, "rewrite %s: %v", f, err)
			}
		default:
			if _, err := out.Write(canon); err != nil {
				return fail(exitInternal, "write: %v", err)
			}
		}
	}
	if policyFmtList && differs {
		return &childExit{code: exitCheckFailed}
	}
	return nil
}

// readRegularFile reads the file fmt -l and -w compare and replace. Like the policy loader it opens with
// O_NONBLOCK and checks with fstat before reading, so a FIFO put in the file's place is refused instead of
// blocking the open; what it returns is what was read, and the mode and owner rewriteFile must keep.
func readRegularFile(path string) ([]byte, os.FileInfo, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("not a regular file (mode %s)", st.Mode())
	}
	data, err := io.ReadAll(io.LimitReader(f, policy.MaxFileSize+1))
	if err != nil {
		return nil, nil, err
	}
	return data, st, nil
}

// rewriteFile replaces path by data atomically (an interrupted rewrite never leaves half a policy), as the
// file it replaces (st): same mode, owner and group. A replacement is a new inode, made with only the
// directory's write permission, so on its own it would rewrite a read-only file and give root's group to a
// file root formats for someone else; instead the caller must be allowed to write the file itself, and an
// owner or group that cannot be kept is refused before anything is written.
func rewriteFile(path string, data []byte, st os.FileInfo) error {
	if err := unix.Faccessat(unix.AT_FDCWD, path, unix.W_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("%w: you may not write this file (mode %04o); fmt -w leaves it alone: make it writable first, or print the canonical form with fmt and redirect it", err, st.Mode().Perm())
	}
	dir := filepath.Dir(path)
	if err := unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		return fmt.Errorf("%w: fmt -w writes the new version next to the file and renames it into place, which needs write permission on %s", err, dir)
	}
	sys, ok := st.Sys().(*syscall.Stat_t)
	if !ok {
		return atomicfile.WriteFile(path, data, 0o644) // an existing file keeps its mode
	}
	uid, gid, euid := int(sys.Uid), int(sys.Gid), os.Geteuid()
	if uid != euid && euid != 0 {
		return fmt.Errorf("it belongs to uid %d and a replacement would belong to you (uid %d): run fmt -w as its owner or as root", uid, euid)
	}
	// The new version is an unnamed file (nothing left behind even on SIGKILL) given the old one's owner,
	// group and mode on its descriptor before it takes the name.
	t, err := atomicfile.Create(dir, 0o600)
	if err != nil {
		return err
	}
	defer t.Abort()
	if err := t.Chown(uid, gid); err != nil {
		return fmt.Errorf("cannot keep its owner and group %d:%d (%w): run fmt -w as root, or as its owner in group %d", uid, gid, errors.Unwrap(err), gid)
	}
	if err := t.Chmod(st.Mode().Perm()); err != nil { // after the chown, which may clear set-id bits
		return err
	}
	if _, err := t.Write(data); err != nil {
		return err
	}
	return t.Commit(path)
}

var policyExplainOverrides overrideFlags

func runPolicyExplain(cmd *cobra.Command, args []string) error {
	out := cmd.OutOrStdout()
	p, err := policy.ResolvePolicy(args[0])
	if err != nil {
		return policyError(err)
	}
	if policyExplainOverrides.given() {
		// The same flags as jailrun run: show the policy a run with them would get.
		s, err := policy.Compile(p)
		if err != nil {
			return policyError(err)
		}
		if s, err = policyExplainOverrides.apply(s); err != nil {
			return err
		}
		if policyExplainJSON {
			_, err = out.Write(s.Canonical())
			return err
		}
		_, err = io.WriteString(out, withExtendsOrder(p, policy.Explain(s)))
		return err
	}
	if policyExplainJSON {
		e, err := policy.Effective(p)
		if err != nil {
			return policyError(err)
		}
		canon, err := policy.Format(e)
		if err != nil {
			return policyError(err)
		}
		_, err = out.Write(canon)
		return err
	}
	s, err := policy.Compile(p)
	if err != nil {
		return policyError(err)
	}
	for _, ext := range explainExtensions {
		handled, err := ext(cmd, s, out)
		if err != nil {
			return err
		}
		if handled {
			return nil
		}
	}
	_, err = io.WriteString(out, withExtendsOrder(p, policy.Explain(s)))
	return err
}

// withExtendsOrder adds to an explanation, under its first line, the policies its extends graph applies, in
// order.
func withExtendsOrder(p *policy.Policy, text string) string {
	order, err := policy.ExtendsOrder(p)
	if err != nil || len(order) == 0 {
		return text
	}
	head, rest, _ := strings.Cut(text, "\n")
	return head + "\n  extends " + strings.Join(append(order, p.Source), " -> ") + " (applied in this order, each once)\n" + rest
}

func runPolicyList(cmd *cobra.Command, _ []string) error {
	tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
	for _, name := range policy.BuiltinNames() {
		s, err := policy.Builtin(name)
		if err != nil {
			return policyError(err)
		}
		def := ""
		if name == "strict" {
			def = " (default)"
		}
		fmt.Fprintf(tw, "%s%s\t%s\n", name, def, s.Description)
	}
	return tw.Flush()
}
