package tests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/sandbox"
)

// The hostile-input corpus of the injection issue, through every way of giving jailrun a command. Each
// value either reaches the program as exactly one argument, byte for byte (argvprobe prints its argv as
// JSON), or is refused before anything runs: exit 2, one line on stderr naming the value, nothing on
// stdout.

// probeDir compiles tests/argvprobe/argvprobe.c statically into a fresh directory the sandbox's
// unprivileged user can read (a bind source must be reachable without host privileges).
func probeDir(t *testing.T) string {
	t.Helper()
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		testenv.SkipOrFail(t, "the injection tests need gcc to build argvprobe (make deps installs it)")
	}
	dir, err := os.MkdirTemp("", "jailrun-argvprobe-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(gcc, "-static", "-O2", "-Wall", "-Werror", "-o", filepath.Join(dir, "argvprobe"), "argvprobe/argvprobe.c").CombinedOutput()
	if err != nil {
		t.Fatalf("building argvprobe: %v\n%s", err, out)
	}
	return dir
}

// probePolicy writes a policy extending strict that binds the probe read-only at /probe, plus members.
func probePolicy(t *testing.T, probe, members string) string {
	t.Helper()
	body := fmt.Sprintf(`{"version": 1, "name": "injection", "extends": "strict",
  "filesystem": {"mounts": [{"type": "bind", "src": %q, "dst": "/probe", "readonly": true}]}`, probe)
	if members != "" {
		body += ",\n  " + members
	}
	body += "\n}\n"
	p := filepath.Join(t.TempDir(), "policy.json")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// probeArgv decodes argvprobe's output.
func probeArgv(t *testing.T, r run) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(r.stdout), &argv); err != nil {
		t.Fatalf("argvprobe output is not a JSON array: %v\n%s", err, short(r.String()))
	}
	return argv
}

// refused checks a refusal: exit 2, one line on stderr that contains want, and the program never ran.
func refused(t *testing.T, r run, want string) {
	t.Helper()
	line := strings.TrimSuffix(r.stderr, "\n")
	if r.code != 2 || r.stdout != "" || strings.Contains(line, "\n") || !strings.HasPrefix(line, "jailrun: ") || !strings.Contains(line, want) {
		t.Fatalf("want a one-line refusal (exit 2) containing %q, got %s", want, short(r.String()))
	}
	if len(line) > 400 {
		t.Fatalf("refusal line is %d bytes long: %s", len(line), short(line))
	}
}

func short(s string) string {
	if len(s) > 600 {
		return s[:600] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

const long60k = 60 << 10 // fits in one argument (MAX_ARG_STRLEN is 128 KiB) but is over every default cap

// injectionCorpus is what a user may put in a file name or an option. NUL cannot be in a command-line
// argument at all (sandbox's unit tests cover it for the library). For each value: the argument a word
// parameter and a path parameter under /tmp produce, or "" when it must be refused.
var injectionCorpus = []struct {
	v          string
	word, path string
}{
	{"; rm -rf /", "; rm -rf /", "/tmp/; rm -rf "},
	{"$(id)", "$(id)", "/tmp/$(id)"},
	{"`id`", "`id`", "/tmp/`id`"},
	{"| cat /etc/shadow", "| cat /etc/shadow", "/tmp/| cat /etc/shadow"},
	{"&& id", "&& id", "/tmp/&& id"},
	{"> /etc/passwd", "> /etc/passwd", "/tmp/> /etc/passwd"},
	{"${IFS}id", "${IFS}id", "/tmp/${IFS}id"},
	{"--output=/etc/passwd", "", ""},
	{"-fplugin=/tmp/evil.so", "", ""},
	{"-o", "", ""},
	{"-", "", ""},
	{"a\nb", "", ""},
	{"a\rb", "", ""},
	{"\x1b]0;pwned\x07", "", ""},
	{"a\tb", "", ""},
	{strings.Repeat("A", long60k), "", ""},
	{"../../etc/passwd", "../../etc/passwd", ""},
	{"/etc/passwd", "/etc/passwd", ""},
	{"/tmp/../etc/shadow", "/tmp/../etc/shadow", ""},
	{"./a.c", "./a.c", "/tmp/a.c"},
	{"\u2010\u2010output=/etc/passwd", "\u2010\u2010output=/etc/passwd", "/tmp/\u2010\u2010output=/etc/passwd"},
	{"\uff0do", "\uff0do", "/tmp/\uff0do"},
	{"\u2215etc\u2215passwd", "\u2215etc\u2215passwd", "/tmp/\u2215etc\u2215passwd"},
	{"a\u202eb", "", ""},
	{"\u200bx", "", ""},
	{"*", "*", "/tmp/*"},
	{"[a-z]*.c", "[a-z]*.c", "/tmp/[a-z]*.c"},
	{"~root", "~root", "/tmp/~root"},
	{"{a,b}", "{a,b}", "/tmp/{a,b}"},
	{"a b", "a b", "/tmp/a b"},
	{"'\"\\", "'\"\\", "/tmp/'\"\\"},
	{"%s%n", "%s%n", "/tmp/%s%n"},
	{"\xff\xfe", "", ""},
}

// Template parameters: a word, a path and an int placeholder, alone and inside a longer argument.
func TestInjectionTemplateParams(t *testing.T) {
	requirePrivileged(t)
	probe := probeDir(t)
	pol := probePolicy(t, probe, `"command": {
    "template": ["/probe/argvprobe", "{w}", "--name={w}", "{p}", "{n}"],
    "params": {"w": {"type": "word"}, "p": {"type": "path", "under": "/tmp"}, "n": {"type": "int"}}}`)
	for _, tc := range injectionCorpus {
		// The word and path are checked one at a time so that a refusal of one does not hide the other.
		t.Run("word "+strconv.QuoteToASCII(shortName(tc.v)), func(t *testing.T) {
			r := jailrun(t, []string{"--policy", pol, "--param", "w=" + tc.v, "--param", "p=a.c", "--param", "n=1"})
			if tc.word == "" {
				refused(t, r, `parameter "w"`)
				return
			}
			if got, want := probeArgv(t, r), []string{"/probe/argvprobe", tc.word, "--name=" + tc.word, "/tmp/a.c", "1"}; r.code != 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("argv %q, want %q (%s)", got, want, short(r.String()))
			}
		})
		t.Run("path "+strconv.QuoteToASCII(shortName(tc.v)), func(t *testing.T) {
			r := jailrun(t, []string{"--policy", pol, "--param", "w=x", "--param", "p=" + tc.v, "--param", "n=1"})
			if tc.path == "" {
				refused(t, r, `parameter "p"`)
				return
			}
			if got, want := probeArgv(t, r), []string{"/probe/argvprobe", "x", "--name=x", tc.path, "1"}; r.code != 0 || !reflect.DeepEqual(got, want) {
				t.Fatalf("argv %q, want %q (%s)", got, want, short(r.String()))
			}
		})
	}
	for _, n := range []string{"1;id", "-1", "0x10", "1e3", "01", " 1", "$(id)", "99999999999999999999"} {
		refused(t, jailrun(t, []string{"--policy", pol, "--param", "w=x", "--param", "p=a", "--param", "n=" + n}), `parameter "n"`)
	}
	// Misuse of --param is refused the same way.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--param", "w=x", "--param", "p=a"}, `parameter "n": is missing`},
		{[]string{"--param", "w=x", "--param", "p=a", "--param", "n=1", "--param", "evil=1"}, `parameter "evil": is not declared`},
		{[]string{"--param", "w=x", "--param", "w=y", "--param", "p=a", "--param", "n=1"}, `"w": given twice`},
		{[]string{"--param", "w"}, "want NAME=VALUE"},
		{[]string{"--param", "w=x", "--param", "p=a", "--param", "n=1", "--", "/bin/sh"}, "fixes the command with a template"},
		{[]string{"--param", "w=x", "--param", "p=a", "--param", "n=1", "--cmd", "/bin/sh"}, "fixes the command with a template"},
		{[]string{"--param", "w=x", "--param", "p=a", "--param", "n=1", "--shell", "id"}, "fixes the command with a template"},
	} {
		refused(t, jailrun(t, append([]string{"--policy", pol}, tc.args...)), tc.want)
	}
	// A comma is part of the value, not a separator between two.
	r := jailrun(t, []string{"--policy", pol, "--param", "w=a,b", "--param", "p=x,y", "--param", "n=1"})
	if got := probeArgv(t, r); !reflect.DeepEqual(got, []string{"/probe/argvprobe", "a,b", "--name=a,b", "/tmp/x,y", "1"}) {
		t.Fatalf("commas: %q", got)
	}
	// Without a template there is nothing for --param to fill.
	refused(t, jailrun(t, []string{"--param", "w=x", "--", "/bin/true"}), "has no command template")
}

func shortName(v string) string {
	if len(v) > 24 {
		return fmt.Sprintf("%.24s...%d", v, len(v))
	}
	return v
}

// -- COMMAND ARGS: the arguments are passed exactly as given, whatever they contain.
func TestInjectionDirectArgv(t *testing.T) {
	requirePrivileged(t)
	probe := probeDir(t)
	pol := probePolicy(t, probe, "")
	args := []string{"/probe/argvprobe"}
	for _, tc := range injectionCorpus {
		args = append(args, tc.v)
	}
	args = args[:len(args)-1] // JSON cannot carry invalid UTF-8 byte for byte; the probe copies it raw
	r := jailrun(t, append([]string{"--policy", pol, "--"}, args...))
	if got := probeArgv(t, r); r.code != 0 || !reflect.DeepEqual(got, args) {
		t.Fatalf("argv differs from what was given (%d vs %d elements)\n%s", len(got), len(args), short(r.String()))
	}
}

// --cmd splits with shell-like quoting but no shell: nothing is expanded, substituted or globbed.
func TestInjectionCmdString(t *testing.T) {
	requirePrivileged(t)
	probe := probeDir(t)
	pol := probePolicy(t, probe, "")
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{`/probe/argvprobe "$(id)" '$HOME' ` + "`id`" + ` *.c ~ {a,b} a;b "x y"`,
			[]string{"/probe/argvprobe", "$(id)", "$HOME", "`id`", "*.c", "~", "{a,b}", "a;b", "x y"}},
		{"/probe/argvprobe ; rm -rf / && id | cat > /tmp/x", []string{"/probe/argvprobe", ";", "rm", "-rf", "/", "&&", "id", "|", "cat", ">", "/tmp/x"}},
		{"/probe/argvprobe 'a\nb' \"\" e\\ f", []string{"/probe/argvprobe", "a\nb", "", "e f"}},
	} {
		r := jailrun(t, []string{"--policy", pol, "--cmd", tc.cmd})
		if got := probeArgv(t, r); r.code != 0 || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("--cmd %q: argv %q, want %q", tc.cmd, got, tc.want)
		}
	}
	for _, tc := range []struct{ cmd, want string }{
		{"/probe/argvprobe a # b", "unquoted '#'"},
		{`/probe/argvprobe "unclosed`, "closing quote"},
		{"", "is empty"},
		{"/probe/argvprobe \xff", "not valid UTF-8"},
	} {
		refused(t, jailrun(t, []string{"--policy", pol, "--cmd", tc.cmd}), tc.want)
	}
	refused(t, jailrun(t, []string{"--policy", pol, "--cmd", "/bin/true", "--", "/bin/true"}), "cannot be used together")
	refused(t, jailrun(t, []string{"--policy", pol, "--cmd", "/bin/true", "--shell", "true"}), "cannot be used together")
}

// --shell: the script is argv[2] of /bin/sh verbatim, and the arguments after -- reach it as "$1"...
// without being parsed as shell code.
func TestInjectionShell(t *testing.T) {
	requirePrivileged(t)
	probe := probeDir(t)
	pol := probePolicy(t, probe, "")
	script := `tr '\0' '\n' < /proc/$$/cmdline; echo "[$1]"` // the shell's own argv, one per line
	r := jailrun(t, []string{"--policy", pol, "--shell", script, "--", "$(id); rm -rf /"})
	want := "/bin/sh\n-c\n" + script + "\nsh\n$(id); rm -rf /\n[$(id); rm -rf /]\n"
	if r.code != 0 || r.stdout != want {
		t.Fatalf("--shell: got %q, want %q (%s)", r.stdout, want, short(r.String()))
	}
	var values []string
	for _, tc := range injectionCorpus[:len(injectionCorpus)-1] {
		values = append(values, tc.v)
	}
	r = jailrun(t, append([]string{"--policy", pol, "--shell", `exec /probe/argvprobe "$@"`, "--"}, values...))
	if got := probeArgv(t, r); r.code != 0 || !reflect.DeepEqual(got, append([]string{"/probe/argvprobe"}, values...)) {
		t.Fatalf("values through \"$@\" changed\n%s", short(r.String()))
	}
	refused(t, jailrun(t, []string{"--policy", pol, "--shell", ""}), "the script is empty")
}

// allowed_commands: only the listed executables, resolved inside the sandbox (its PATH, never the host's),
// may be the first program. The comparison is by exact path.
func TestAllowedCommands(t *testing.T) {
	requirePrivileged(t)
	probe := probeDir(t)
	pol := probePolicy(t, probe, `"process": {"env": {"set": {"PATH": "/probe:/usr/bin:/bin"}}},
  "command": {"allowed_commands": ["/probe/argvprobe"]}`)
	ok := []struct {
		args []string
		want []string
	}{
		{[]string{"--", "/probe/argvprobe", "x"}, []string{"/probe/argvprobe", "x"}},
		{[]string{"--", "argvprobe", "x"}, []string{"argvprobe", "x"}}, // found in the sandbox's PATH
		{[]string{"--cmd", "argvprobe 'a b'"}, []string{"argvprobe", "a b"}},
	}
	for _, tc := range ok {
		r := jailrun(t, append([]string{"--policy", pol}, tc.args...))
		if got := probeArgv(t, r); r.code != 0 || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%q: argv %q (%s)", tc.args, got, short(r.String()))
		}
	}
	for _, args := range [][]string{
		{"--", "/bin/sh", "-c", "echo escaped"},
		{"--", "sh", "-c", "echo escaped"},
		{"--shell", "echo escaped"},
		{"--", "/probe/../probe/argvprobe"}, // not the listed spelling: refused, not normalised
		{"--", "/probe//argvprobe"},
		{"--", "/probe/./argvprobe"},
	} {
		r := jailrun(t, append([]string{"--policy", pol}, args...))
		if r.code != 120 || r.stdout != "" || !strings.Contains(r.stderr, "allowed_commands") {
			t.Errorf("%q: want exit 120 naming allowed_commands, got %s", args, short(r.String()))
		}
	}
	// A template whose program is not allowed is refused when the policy is loaded.
	bad := probePolicy(t, probe, `"command": {"template": ["/bin/sh"], "allowed_commands": ["/probe/argvprobe"]}`)
	if r := jailrun(t, []string{"--policy", bad}); r.code != 120 || !strings.Contains(r.stderr, "allowed_commands") {
		t.Errorf("template outside allowed_commands: %s", short(r.String()))
	}
}

// A program the sandbox wrote (say, the compile step's output) is listed in allowed_commands; the sandbox
// can replace it with a symlink to any other binary, or a script whose #! line names one.
func TestAllowedCommandsSymlinkAndScript(t *testing.T) {
	requirePrivileged(t)
	box, err := os.MkdirTemp("", "jailrun-box-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(box) })
	if err := os.Chmod(box, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/bin/sh", filepath.Join(box, "prog")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(box, "script"), []byte("#!/bin/sh\necho escaped\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	pol := filepath.Join(t.TempDir(), "policy.json")
	body := fmt.Sprintf(`{"version": 1, "name": "allowed", "extends": "strict",
  "filesystem": {"mounts": [{"type": "bind", "src": %q, "dst": "/box", "readonly": true}]},
  "command": {"allowed_commands": ["/box/prog", "/box/script"]}}`, box)
	if err := os.WriteFile(pol, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"--", "/box/prog", "-c", "echo escaped"}, {"--", "/box/script"}} {
		r := jailrun(t, append([]string{"--policy", pol}, args...))
		if strings.Contains(r.stdout, "escaped") || r.code != 120 {
			t.Errorf("%q ran a program outside allowed_commands: %s", args, short(r.String()))
		}
	}
}

// A policy's command template holds through every entry point, not only `jailrun run`: pipe and interact
// (library calls underneath) and `jailrun serve` refuse an argv for such a policy, so a caller can neither
// run another program nor append options to the allowed one; the service takes the template's params.
func TestTemplateEnforcedEverywhere(t *testing.T) {
	requirePrivileged(t)
	probe := probeDir(t)
	pol := probePolicy(t, probe, `"command": {"template": ["/probe/argvprobe", "{w}"], "params": {"w": {"type": "word"}},
    "allowed_commands": ["/probe/argvprobe"]}`)
	t.Run("cli", func(t *testing.T) {
		for _, args := range [][]string{
			{"--policy", pol, "--", "/bin/sh", "-c", "id"},
			{"pipe", "--policy", pol, "--", "/bin/sh", "-c", "id", "--", "/bin/cat"},
			{"pipe", "--policy", pol, "--", "/probe/argvprobe", "--evil", "--", "/bin/cat"},
			{"interact", "--policy", pol, "--", "/bin/sh", "-c", "id", "--", "/bin/cat"},
		} {
			r := jailrun(t, args)
			if r.code != 2 || strings.Contains(r.stdout, "uid=") || strings.Contains(r.stdout, "--evil") || !strings.Contains(r.stderr, "fixes the command with a template") {
				t.Errorf("%q: want a refusal (exit 2) naming the template, got %s", args, short(r.String()))
			}
		}
	})
	t.Run("serve", func(t *testing.T) {
		s := startServe(t, fmt.Sprintf(`{"tenants": [{"name": "t", "uids": [%d], "policies": [%q]}]}`, os.Getuid(), pol))
		ctx := context.Background()
		for _, argv := range [][]string{{"/bin/sh", "-c", "id"}, {"/probe/argvprobe", "--evil"}} {
			a := s.run(ctx, "", map[string]any{"policy": pol, "argv": argv})
			if a.code != 422 || a.body.Error == nil || a.body.Error.Kind != "argument" || !strings.Contains(a.body.Error.Message, "template") || a.body.Result != nil {
				t.Errorf("argv %q: want 422 argument naming the template and no run, got %d %s", argv, a.code, short(a.raw))
			}
		}
		a := s.run(ctx, "", map[string]any{"policy": pol, "params": map[string]string{"w": "-rf"}})
		if a.code != 422 || a.body.Error == nil || !strings.Contains(a.body.Error.Message, `parameter "w"`) {
			t.Errorf("a dash value: want 422 naming the parameter, got %d %s", a.code, short(a.raw))
		}
		a = s.run(ctx, "", map[string]any{"policy": pol, "params": map[string]string{"w": "hello"}})
		if a.code != 200 || a.body.Result == nil || a.body.Result.Status != sandbox.StatusOK || strings.TrimSpace(a.body.Stdout) != `["/probe/argvprobe","hello"]` {
			t.Errorf("params: want the template's argv, got %d %s", a.code, short(a.raw))
		}
		a = s.run(ctx, "", map[string]any{"policy": "strict", "params": map[string]string{"w": "x"}})
		if a.code != 403 {
			t.Errorf("a policy the tenant lacks: %d %s", a.code, short(a.raw))
		}
	})
}
