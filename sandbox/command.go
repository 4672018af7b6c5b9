package sandbox

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/shlex"
	"github.com/jailrun/jailrun/policy"
)

// Building a command from values a user controls (file names, flags, language options) is where the
// injection bugs of comparable systems came from. The rules here make the safe way the easy one:
//
//   - an untrusted value always becomes exactly one argv element: it is never split, never glob-expanded,
//     never passed through a shell, and never turns into two arguments;
//   - it is checked for its kind before it gets there: a path is confined to a declared directory, a value
//     cannot start with '-' (and so cannot become an option) unless that is explicitly allowed, and bytes
//     that make logs and parsers lie (NUL, newlines, other control and invisible formatting characters,
//     invalid UTF-8) are refused;
//   - fixed parts are the trusted caller's compile-time constants, and a different type from untrusted
//     values, so that passing a user's string where a literal belongs does not compile.

// Default length caps of untrusted values, in bytes, when a policy.Param leaves MaxLen at 0.
const (
	DefaultPathMaxLen = 4096 // PATH_MAX
	DefaultWordMaxLen = 256
	DefaultIntMaxLen  = 20 // len("-9223372036854775808")
	maxNameLen        = 255
)

// ErrArgument: an untrusted command value, a template parameter or a command string was refused. The
// error is an *ArgError saying which value and why.
var ErrArgument = errors.New("refused command argument")

// ArgError says which value was refused and why. Its message is one line: the value is quoted with Go
// escapes (a newline shows as \n) and shortened.
type ArgError struct {
	// What names the value: `parameter "source"`, `argument 3`, `command string`.
	What string
	// Value is the refused value as given (not shortened).
	Value  string
	Reason string
}

func (e *ArgError) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s: %s", e.What, e.Reason)
	}
	return fmt.Sprintf("%s: %s %s", e.What, quoteShort(e.Value), e.Reason)
}

func (e *ArgError) Unwrap() error { return ErrArgument }

// quoteShort quotes v for an error message, shortened so that a 1 MiB value does not make a 1 MiB line.
func quoteShort(v string) string {
	const max = 64
	if len(v) <= max {
		return strconv.Quote(v)
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(v[cut]) {
		cut--
	}
	return strconv.Quote(v[:cut]) + fmt.Sprintf("... (%d bytes)", len(v))
}

// CheckValue validates one untrusted value of the kind p declares and returns the argv element it becomes.
// what names the value in errors. The rules, for every kind:
//
//   - not empty, valid UTF-8, no NUL, no control characters (newline, tab, ESC, C1) and no invisible
//     formatting characters (Unicode Cf: bidi overrides, zero-width spaces, BOM). Linux allows most of these
//     in file names, but they are how a value lies to a log, a terminal or a line-based parser;
//   - at most p.MaxLen bytes (default DefaultPathMaxLen, DefaultWordMaxLen or DefaultIntMaxLen);
//   - no leading '-' unless p.AllowDash, so that the value cannot become an option.
//
// A path has no ".." component and no component longer than 255 bytes, and is cleaned. With p.Under set
// it becomes an absolute path under p.Under (a relative value is taken relative to it, an absolute one must
// already be inside it): the program receives exactly the path that was checked, so a later change of
// working directory cannot move it, and it can never start with '-'. The check is lexical: symbolic links
// inside the sandbox are followed by the sandboxed program, inside the sandbox, which is what confines it.
//
// An int is a canonical decimal integer that fits in 64 bits: no sign but an allowed '-', no leading
// zeros, no spaces, no hex. A word is any other text that passes the rules above.
func CheckValue(what string, p policy.Param, v string) (string, error) {
	bad := func(format string, a ...any) error {
		return &ArgError{What: what, Value: v, Reason: fmt.Sprintf(format, a...)}
	}
	max := p.MaxLen
	if max <= 0 {
		switch p.Type {
		case policy.ParamPath:
			max = DefaultPathMaxLen
		case policy.ParamInt:
			max = DefaultIntMaxLen
		default:
			max = DefaultWordMaxLen
		}
	}
	if v == "" {
		return "", &ArgError{What: what, Reason: "is empty"}
	}
	if len(v) > max {
		return "", bad("is %d bytes, over the limit of %d", len(v), max)
	}
	if msg := badText(v); msg != "" {
		return "", bad("%s", msg)
	}
	if v[0] == '-' && !p.AllowDash {
		return "", bad("starts with '-' and could be read as an option (the parameter does not allow_dash)")
	}
	switch p.Type {
	case policy.ParamWord:
		return v, nil
	case policy.ParamInt:
		if !canonicalInt(v) {
			return "", bad("is not a decimal integer (digits only, no sign, spaces or leading zeros)")
		}
		if _, err := strconv.ParseInt(v, 10, 64); err != nil {
			return "", bad("is out of the 64-bit integer range")
		}
		return v, nil
	case policy.ParamPath:
		return checkPath(p, v, bad)
	}
	return "", bad("has an unknown parameter type %q", p.Type)
}

func checkPath(p policy.Param, v string, bad func(string, ...any) error) (string, error) {
	for _, c := range strings.Split(v, "/") {
		if c == ".." {
			return "", bad("has a '..' component")
		}
		if len(c) > maxNameLen {
			return "", bad("has a component of %d bytes, over the limit of %d", len(c), maxNameLen)
		}
	}
	if p.Under == "" {
		return path.Clean(v), nil
	}
	under := path.Clean(p.Under)
	if !path.IsAbs(under) || badText(under) != "" {
		return "", bad("cannot be confined: the parameter's directory %q is not a plain absolute path", p.Under)
	}
	full := path.Clean(v)
	if !path.IsAbs(full) {
		full = path.Join(under, full)
	}
	if !within(full, under) {
		return "", bad("is not under %s", under)
	}
	return full, nil
}

// within reports whether the cleaned absolute path p is dir or below it.
func within(p, dir string) bool {
	if dir == "/" || p == dir {
		return true
	}
	return strings.HasPrefix(p, dir+"/")
}

func canonicalInt(v string) bool {
	d := strings.TrimPrefix(v, "-")
	if d == "" || (d[0] == '0' && len(d) > 1) || v == "-0" {
		return false
	}
	for i := 0; i < len(d); i++ {
		if d[i] < '0' || d[i] > '9' {
			return false
		}
	}
	return true
}

// badText returns why v is not acceptable text, or "".
func badText(v string) string {
	if !utf8.ValidString(v) {
		return "is not valid UTF-8"
	}
	for _, r := range v {
		switch {
		case r == 0:
			return "contains a NUL byte"
		case r == '\n' || r == '\r':
			return "contains a line break"
		case unicode.IsControl(r):
			return fmt.Sprintf("contains the control character %U", r)
		case unicode.Is(unicode.Cf, r):
			return fmt.Sprintf("contains the invisible formatting character %U", r)
		}
	}
	return ""
}

// ExpandTemplate builds the argv of a policy's command template from the caller's parameter values. Each
// placeholder is replaced by its value checked with CheckValue for the parameter's declared type; a
// placeholder inside a longer argument ("-o{binary}", "--std={std}") stays inside that one argument. A
// value is never split, glob-expanded or turned into more arguments. A parameter that is not declared,
// or a declared one without a value, is an error naming it.
func ExpandTemplate(c policy.Command, params map[string]string) ([]string, error) {
	if len(c.Template) == 0 {
		return nil, &ArgError{What: "command template", Reason: "the policy has none (it lets the caller choose the command)"}
	}
	var unknown []string
	for name := range params {
		if _, ok := c.Params[name]; !ok {
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return nil, &ArgError{What: fmt.Sprintf("parameter %q", unknown[0]),
			Reason: "is not declared by the policy (" + declared(c) + ")"}
	}
	argv := make([]string, 0, len(c.Template))
	for i, arg := range c.Template {
		parts, err := policy.ParseTemplateArg(arg)
		if err != nil {
			// Compile rejects such a template; a hand-built policy.Command could still have one.
			// The message may quote the template's own bytes; keep it to one line.
			msg := strconv.Quote(err.Error())
			return nil, &ArgError{What: fmt.Sprintf("command template argument %d", i), Reason: msg[1 : len(msg)-1]}
		}
		var b strings.Builder
		for _, part := range parts {
			if part.Param == "" {
				b.WriteString(part.Literal)
				continue
			}
			p, ok := c.Params[part.Param]
			if !ok {
				return nil, &ArgError{What: fmt.Sprintf("placeholder {%s}", part.Param), Reason: "is not declared in the policy's params"}
			}
			v, ok := params[part.Param]
			if !ok {
				return nil, &ArgError{What: fmt.Sprintf("parameter %q", part.Param), Reason: "is missing (give --param " + part.Param + "=VALUE)"}
			}
			out, err := CheckValue(fmt.Sprintf("parameter %q", part.Param), p, v)
			if err != nil {
				return nil, err
			}
			b.WriteString(out)
		}
		argv = append(argv, b.String())
	}
	if argv[0] == "" {
		return nil, &ArgError{What: "command template", Reason: "expands to an empty program name"}
	}
	return argv, nil
}

func declared(c policy.Command) string {
	if len(c.Params) == 0 {
		return "it declares no parameters"
	}
	names := make([]string, 0, len(c.Params))
	for n := range c.Params {
		names = append(names, n)
	}
	sort.Strings(names)
	return "declared: " + strings.Join(names, ", ")
}

// SplitCommand splits a command string into argv with shell-like quoting ('...', "...", \) but without a
// shell: no variables, no command substitution, no globbing, no redirection or pipes — "$(id)" stays the
// five characters it is. It is a convenience for TRUSTED input such as an operator's configuration: the
// split decides where arguments begin and end, so a user's value spliced into the string can still add
// arguments. Build commands from untrusted values with Command or a policy template instead.
//
// A '#' that would start a comment is refused rather than silently dropping the rest of the line, and so
// are invalid UTF-8 (the splitter would replace it) and NUL.
func SplitCommand(s string) ([]string, error) {
	bad := func(reason string) error { return &ArgError{What: "command string", Value: s, Reason: reason} }
	if !utf8.ValidString(s) {
		return nil, bad("is not valid UTF-8")
	}
	if strings.IndexByte(s, 0) >= 0 {
		return nil, bad("contains a NUL byte")
	}
	argv, err := shlex.Split(s)
	if err != nil {
		return nil, bad("cannot be split: " + strings.ToLower(err.Error()))
	}
	// shlex drops comments silently; the raw token stream still has them, so a count mismatch means one.
	t := shlex.NewTokenizer(strings.NewReader(s))
	n := 0
	for {
		if _, err := t.Next(); err != nil {
			break
		}
		n++
	}
	if n != len(argv) {
		return nil, bad("has an unquoted '#', which would start a comment (quote it)")
	}
	if len(argv) == 0 {
		return nil, bad("is empty")
	}
	if argv[0] == "" {
		return nil, bad("has an empty program name")
	}
	return argv, nil
}

// Shell returns the argv that runs script with /bin/sh -c. Use it only when a shell is really wanted: the
// script is one argument, never concatenated with anything. Untrusted values go in args, which the script
// reads as "$1", "$2", ... (quoted): they reach the script as data and are never parsed as shell code.
// $0 is "sh".
func Shell(script string, args ...string) []string {
	argv := []string{"/bin/sh", "-c", script}
	if len(args) > 0 {
		argv = append(append(argv, "sh"), args...)
	}
	return argv
}

// constant is the type of the trusted fixed parts of a Cmd. It is unexported, so code outside this package
// can only pass untyped string constants (literals) where it is expected: Lit("-O2") compiles, Lit(name)
// with a string variable does not. Runtime values a caller trusts (a compiler path from its own
// configuration) go through Trusted, which is explicit and easy to grep for.
type constant string

// Cmd builds an argv from fixed parts and untrusted values. The first error is kept and returned by Argv;
// methods called after it do nothing.
//
//	argv, err := sandbox.Command("/usr/bin/gcc").Lit("-O2", "-Wall").
//		Under("/box").Path(userFile).Lit("-o").Path(out).Argv()
type Cmd struct {
	argv      []string
	err       error
	under     string
	sep       bool // the program accepts "--" and it is inserted before the first untrusted value
	untrusted bool // an untrusted value has been added
}

// Command starts a command whose program is a literal: a path inside the sandbox, or a name looked up in
// the sandbox's PATH.
func Command(prog constant) *Cmd { return TrustedCommand(string(prog)) }

// TrustedCommand starts a command whose program comes from a runtime value the caller trusts (its own
// configuration). Never pass a user's value here: use a policy's allowed_commands or a fixed table.
func TrustedCommand(prog string) *Cmd {
	c := &Cmd{}
	if prog == "" {
		c.err = &ArgError{What: "program", Reason: "is empty"}
		return c
	}
	if strings.IndexByte(prog, 0) >= 0 {
		c.err = &ArgError{What: "program", Value: prog, Reason: "contains a NUL byte"}
		return c
	}
	c.argv = []string{prog}
	return c
}

// Lit appends fixed arguments: literals written in the caller's source.
func (c *Cmd) Lit(args ...constant) *Cmd {
	for _, a := range args {
		c.literal(string(a))
	}
	return c
}

// Trusted appends fixed arguments from runtime values the caller vouches for (its own configuration). They
// are not checked beyond NUL. Never pass a user's value here.
func (c *Cmd) Trusted(args ...string) *Cmd {
	for _, a := range args {
		c.literal(a)
	}
	return c
}

func (c *Cmd) literal(a string) *Cmd {
	if c.err != nil {
		return c
	}
	if strings.IndexByte(a, 0) >= 0 {
		c.err = &ArgError{What: c.what(), Value: a, Reason: "contains a NUL byte"}
		return c
	}
	if c.untrusted && c.sep && strings.HasPrefix(a, "-") {
		// After "--" the program reads it as an operand: the caller meant an option, and it would be lost.
		c.err = &ArgError{What: c.what(), Value: a, Reason: "comes after the '--' separator, where it is not an option (put options before untrusted values)"}
		return c
	}
	c.argv = append(c.argv, a)
	return c
}

// Under declares the directory (inside the sandbox) that the following Path values are confined to. It
// can be called again to change it for later values.
func (c *Cmd) Under(dir string) *Cmd {
	if c.err != nil {
		return c
	}
	if !path.IsAbs(dir) || strings.IndexByte(dir, 0) >= 0 {
		c.err = &ArgError{What: "Under", Value: dir, Reason: "is not an absolute path"}
		return c
	}
	c.under = path.Clean(dir)
	return c
}

// Path appends an untrusted path, confined to the directory declared with Under (an error if none was):
// it becomes one absolute argument under that directory. See CheckValue for the rules.
func (c *Cmd) Path(v string) *Cmd {
	if c.err == nil && c.under == "" {
		c.err = &ArgError{What: c.what(), Value: v, Reason: "is a path, but no directory was declared with Under to confine it to"}
		return c
	}
	return c.Value(policy.Param{Type: policy.ParamPath, Under: c.under}, v)
}

// Word appends an untrusted word (at most DefaultWordMaxLen bytes, no leading '-').
func (c *Cmd) Word(v string) *Cmd { return c.Value(policy.Param{Type: policy.ParamWord}, v) }

// Int appends an integer in decimal. A negative number would start with '-' and is refused; use Value
// with AllowDash for a program that takes negative numbers.
func (c *Cmd) Int(n int64) *Cmd {
	return c.Value(policy.Param{Type: policy.ParamInt}, strconv.FormatInt(n, 10))
}

// Value appends an untrusted value checked by CheckValue against p: the general form of Path, Word and
// Int, for a different length cap or an allowed leading '-'.
func (c *Cmd) Value(p policy.Param, v string) *Cmd {
	if c.err != nil {
		return c
	}
	out, err := CheckValue(c.what(), p, v)
	if err != nil {
		c.err = err
		return c
	}
	if c.sep && !c.untrusted {
		c.argv = append(c.argv, "--")
	}
	c.untrusted = true
	c.argv = append(c.argv, out)
	return c
}

// WithSeparator declares that the program ends its options at "--" (POSIX utilities, most GNU tools; not
// gcc, java or most interpreters). The builder then inserts "--" before the first untrusted value, as a
// second line of defense next to the leading '-' rule, and refuses a later literal that starts with '-'.
// It is never inserted unless declared: a program that does not know "--" would take it as an operand.
// It must be called before the first untrusted value.
func (c *Cmd) WithSeparator() *Cmd {
	if c.err != nil {
		return c
	}
	if c.untrusted {
		c.err = &ArgError{What: "WithSeparator", Reason: "must be called before the first untrusted value"}
		return c
	}
	c.sep = true
	return c
}

// Argv returns the built argv, or the first error.
func (c *Cmd) Argv() ([]string, error) {
	if c.err != nil {
		return nil, c.err
	}
	return append([]string(nil), c.argv...), nil
}

func (c *Cmd) what() string {
	if len(c.argv) == 0 {
		return "program"
	}
	return fmt.Sprintf("argument %d", len(c.argv))
}

// Errors of CopyIn and CopyOut (files_linux.go), declared here because every platform needs them.
var (
	// ErrUnsafeFile: the file named for a copy is not a plain regular file reached without symbolic links
	// inside the directory: a symlink, FIFO, device, socket, directory, hard link or a mount crossing. The
	// error is an *UnsafeFileError saying what was found.
	ErrUnsafeFile = errors.New("unsafe file")
	// ErrFileTooLarge: the file or the input is larger than the copy's cap. The error is a
	// *FileTooLargeError.
	ErrFileTooLarge = errors.New("file too large")
)

// UnsafeFileError reports a file a copy refused because of what it is.
type UnsafeFileError struct {
	Name string // the name given, relative to the copy's directory
	Kind string // "a symbolic link", "a FIFO", "a character device", ...
}

func (e *UnsafeFileError) Error() string {
	return fmt.Sprintf("%s: refused: %s", quoteShort(e.Name), e.Kind)
}

func (e *UnsafeFileError) Unwrap() error { return ErrUnsafeFile }

// FileTooLargeError reports a copy over its cap. Size is what was seen: the file's size, or Max+1 when the
// file grew during the copy or the input went on past Max.
type FileTooLargeError struct {
	Name      string
	Size, Max int64
}

func (e *FileTooLargeError) Error() string {
	if e.Size == e.Max+1 {
		return fmt.Sprintf("%s: refused: larger than the cap of %d bytes", quoteShort(e.Name), e.Max)
	}
	return fmt.Sprintf("%s: refused: %d bytes, over the cap of %d", quoteShort(e.Name), e.Size, e.Max)
}

func (e *FileTooLargeError) Unwrap() error { return ErrFileTooLarge }

// checkCopyName validates the name of a copy's file: relative, below the directory, without NUL. It
// returns the cleaned name. Refusing ".." here gives a clear error; the kernel-side resolution refuses an
// escape in any case.
func checkCopyName(name string) (string, error) {
	bad := func(reason string) error { return &ArgError{What: "file name", Value: name, Reason: reason} }
	switch {
	case name == "":
		return "", &ArgError{What: "file name", Reason: "is empty"}
	case strings.IndexByte(name, 0) >= 0:
		return "", bad("contains a NUL byte")
	case path.IsAbs(name):
		return "", bad("is absolute (names are relative to the directory)")
	case len(name) > DefaultPathMaxLen:
		return "", bad(fmt.Sprintf("is %d bytes, over the limit of %d", len(name), DefaultPathMaxLen))
	}
	for _, c := range strings.Split(name, "/") {
		if c == ".." {
			return "", bad("has a '..' component")
		}
	}
	clean := path.Clean(name)
	if clean == "." {
		return "", bad("names the directory itself")
	}
	return clean, nil
}
