package sandbox

import (
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/policy"
)

// hostile is the corpus of values an attacker would put in a file name or an option. Every entry point
// must turn each into one inert argument or refuse it. tests/injection_test.go runs the same kinds of
// values through the real binary.
var hostile = []string{
	"; rm -rf /", "$(id)", "`id`", "| cat /etc/shadow", "&& id", "> /etc/passwd", "$HOME", "${IFS}id",
	"--output=/etc/passwd", "-fplugin=/tmp/evil.so", "-o", "-", "--", "-rf",
	"a\nb", "a\rb", "\n", "a\x00b", "\x1b[31mred", "a\tb",
	strings.Repeat("A", 1<<20),
	"../../etc/passwd", "..", "a/../../b", "/etc/passwd", "/box/../etc/shadow", "./", ".",
	"\u2010\u2010output=/etc/passwd", "\uff0do", "\u2215etc\u2215passwd", "a\u202eb", "\u200bx", "\ufeffx",
	"*", "?", "[a-z]*", "~", "~root", "{a,b}", "a b", "'", `"`, `\`, "#", "%s%n", "é", "\xff\xfe",
}

func TestCheckValue(t *testing.T) {
	word := policy.Param{Type: policy.ParamWord}
	box := policy.Param{Type: policy.ParamPath, Under: "/box"}
	free := policy.Param{Type: policy.ParamPath}
	num := policy.Param{Type: policy.ParamInt}
	tests := []struct {
		name string
		p    policy.Param
		in   string
		want string // "" means an error containing err
		err  string
	}{
		{"word plain", word, "c++17", "c++17", ""},
		{"word shell metacharacters stay text", word, "; rm -rf /", "; rm -rf /", ""},
		{"word command substitution stays text", word, "$(id)", "$(id)", ""},
		{"word glob stays text", word, "*.c", "*.c", ""},
		{"word unicode look-alike dash is not a dash", word, "\u2010\u2010output", "\u2010\u2010output", ""},
		{"word empty", word, "", "", "is empty"},
		{"word option", word, "--output=/etc/passwd", "", "starts with '-'"},
		{"word option allowed", policy.Param{Type: policy.ParamWord, AllowDash: true}, "-O2", "-O2", ""},
		{"word NUL", word, "a\x00b", "", "NUL"},
		{"word newline", word, "a\nb", "", "line break"},
		{"word CR", word, "a\rb", "", "line break"},
		{"word tab", word, "a\tb", "", "control character U+0009"},
		{"word escape", word, "\x1b[2J", "", "control character U+001B"},
		{"word C1 control", word, "a\u0085b", "", "control character U+0085"},
		{"word bidi override", word, "a\u202eb", "", "formatting character U+202E"},
		{"word zero width", word, "\u200bx", "", "formatting character U+200B"},
		{"word invalid utf8", word, "\xff", "", "not valid UTF-8"},
		{"word default cap", word, strings.Repeat("a", DefaultWordMaxLen), strings.Repeat("a", DefaultWordMaxLen), ""},
		{"word over default cap", word, strings.Repeat("a", DefaultWordMaxLen+1), "", "over the limit of 256"},
		{"word own cap", policy.Param{Type: policy.ParamWord, MaxLen: 3}, "abcd", "", "over the limit of 3"},

		{"path relative", box, "a.c", "/box/a.c", ""},
		{"path nested", box, "src/main.c", "/box/src/main.c", ""},
		{"path cleaned", box, "./src//main.c/", "/box/src/main.c", ""},
		{"path absolute inside", box, "/box/a.c", "/box/a.c", ""},
		{"path the directory itself", box, ".", "/box", ""},
		{"path leading dash becomes harmless", box, "-rf", "", "starts with '-'"},
		{"path leading dash allowed is absolute", policy.Param{Type: policy.ParamPath, Under: "/box", AllowDash: true}, "-rf", "/box/-rf", ""},
		{"path dotdot", box, "../../etc/passwd", "", "'..' component"},
		{"path dotdot inside", box, "a/../b", "", "'..' component"},
		{"path absolute outside", box, "/etc/passwd", "", "is not under /box"},
		{"path prefix sibling", box, "/boxer/a", "", "is not under /box"},
		{"path dotdot after absolute", box, "/box/../etc/shadow", "", "'..' component"},
		{"path newline", box, "a\nb.c", "", "line break"},
		{"path NUL", box, "a\x00b", "", "NUL"},
		{"path long component", box, strings.Repeat("n", 256), "", "component of 256 bytes"},
		{"path too long", box, strings.Repeat("d/", 2049), "", "over the limit of 4096"},
		{"path glob stays text", box, "*.c", "/box/*.c", ""},
		{"path look-alike slash is a name", box, "\u2215etc\u2215passwd", "/box/\u2215etc\u2215passwd", ""},
		{"path relative directory", policy.Param{Type: policy.ParamPath, Under: "relative"}, "a", "", "not a plain absolute path"},
		{"path directory with a newline", policy.Param{Type: policy.ParamPath, Under: "/box\n"}, "a", "", `directory "/box\n" is not a plain`},
		{"path unconfined relative", free, "src/a.c", "src/a.c", ""},
		{"path unconfined absolute", free, "/etc/passwd", "/etc/passwd", ""},
		{"path unconfined dotdot", free, "../a", "", "'..' component"},
		{"path unconfined dash", free, "-x", "", "starts with '-'"},
		{"path under root", policy.Param{Type: policy.ParamPath, Under: "/"}, "etc/x", "/etc/x", ""},

		{"int", num, "42", "42", ""},
		{"int zero", num, "0", "0", ""},
		{"int max", num, "9223372036854775807", "9223372036854775807", ""},
		{"int overflow", num, "9223372036854775808", "", "out of the 64-bit"},
		{"int negative refused", num, "-1", "", "starts with '-'"},
		{"int negative allowed", policy.Param{Type: policy.ParamInt, AllowDash: true}, "-1", "-1", ""},
		{"int minus zero", policy.Param{Type: policy.ParamInt, AllowDash: true}, "-0", "", "not a decimal integer"},
		{"int leading zero", num, "010", "", "not a decimal integer"},
		{"int plus", num, "+1", "", "not a decimal integer"},
		{"int hex", num, "0x10", "", "not a decimal integer"},
		{"int space", num, "1 ", "", "not a decimal integer"},
		{"int injection", num, "1;id", "", "not a decimal integer"},
		{"int too long", num, strings.Repeat("1", 21), "", "over the limit of 20"},
		{"unknown type", policy.Param{Type: "glob"}, "x", "", "unknown parameter type"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := CheckValue(`parameter "x"`, tc.p, tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("CheckValue(%s) = %s, %v; want an error containing %q", quoteShort(tc.in), quoteShort(got), err, tc.err)
				}
				if !errors.Is(err, ErrArgument) {
					t.Fatalf("error %v is not ErrArgument", err)
				}
				if strings.ContainsAny(err.Error(), "\n\r\x00") || len(err.Error()) > 400 {
					t.Fatalf("error is not one short line: %q", err.Error())
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("CheckValue(%s) = %s, %v; want %s", quoteShort(tc.in), quoteShort(got), err, quoteShort(tc.want))
			}
		})
	}
}

// Every hostile value, for every kind, is refused or becomes exactly the checked value: a word as given, a
// path under its directory.
func TestCheckValueHostileCorpus(t *testing.T) {
	kinds := []policy.Param{
		{Type: policy.ParamWord}, {Type: policy.ParamWord, AllowDash: true, MaxLen: 1 << 16},
		{Type: policy.ParamPath, Under: "/box"}, {Type: policy.ParamPath}, {Type: policy.ParamInt},
	}
	for _, p := range kinds {
		for _, v := range hostile {
			got, err := CheckValue("v", p, v)
			if err != nil {
				continue
			}
			switch p.Type {
			case policy.ParamWord:
				if got != v {
					t.Errorf("%+v: %s became %s", p, quoteShort(v), quoteShort(got))
				}
			case policy.ParamPath:
				if p.Under != "" && !within(got, "/box") || got != path.Clean(v) && got != path.Join("/box", v) {
					t.Errorf("%+v: %s became %s", p, quoteShort(v), quoteShort(got))
				}
			case policy.ParamInt:
				t.Errorf("%+v: %s accepted as an int", p, quoteShort(v))
			}
			if strings.HasPrefix(got, "-") && !p.AllowDash {
				t.Errorf("%+v: %s became an option %s", p, quoteShort(v), quoteShort(got))
			}
		}
	}
}

func TestExpandTemplate(t *testing.T) {
	compile := policy.Command{
		Template: []string{"/usr/bin/gcc", "-O2", "-std={std}", "{source}", "-o", "{binary}", "{{literal}}"},
		Params: map[string]policy.Param{
			"source": {Type: policy.ParamPath, Under: "/box"},
			"binary": {Type: policy.ParamPath, Under: "/box"},
			"std":    {Type: policy.ParamWord, MaxLen: 16},
		},
	}
	tests := []struct {
		name   string
		c      policy.Command
		params map[string]string
		want   []string
		err    string
	}{
		{"compile", compile, map[string]string{"source": "a.c", "binary": "a.out", "std": "c11"},
			[]string{"/usr/bin/gcc", "-O2", "-std=c11", "/box/a.c", "-o", "/box/a.out", "{literal}"}, ""},
		{"value with spaces stays one argument", compile, map[string]string{"source": "my file.c", "binary": "a.out", "std": "c11 -fplugin=x"},
			[]string{"/usr/bin/gcc", "-O2", "-std=c11 -fplugin=x", "/box/my file.c", "-o", "/box/a.out", "{literal}"}, ""},
		{"embedded value cannot start an option either", compile, map[string]string{"source": "a.c", "binary": "a.out", "std": "-x"},
			nil, `parameter "std": "-x" starts with '-'`},
		{"missing", compile, map[string]string{"source": "a.c", "std": "c11"}, nil, `parameter "binary": is missing`},
		{"unknown", compile, map[string]string{"source": "a.c", "binary": "b", "std": "c11", "evil": "x"}, nil,
			`parameter "evil": is not declared by the policy (declared: binary, source, std)`},
		{"escape", compile, map[string]string{"source": "../../etc/shadow", "binary": "b", "std": "c11"}, nil,
			`parameter "source": "../../etc/shadow" has a '..' component`},
		{"no template", policy.Command{}, nil, nil, "the policy has none"},
		{"undeclared placeholder", policy.Command{Template: []string{"/bin/echo", "{x}"}}, nil, nil, "placeholder {x}: is not declared"},
		{"bad template", policy.Command{Template: []string{"/bin/echo", "{x"}}, nil, nil, "unclosed '{'"},
		{"program from a parameter", policy.Command{Template: []string{"{prog}"}, Params: map[string]policy.Param{"prog": {Type: policy.ParamPath, Under: "/usr/bin"}}},
			map[string]string{"prog": "python3"}, []string{"/usr/bin/python3"}, ""},
		{"no params at all", policy.Command{Template: []string{"/bin/true"}}, map[string]string{"x": "1"}, nil, "it declares no parameters"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ExpandTemplate(tc.c, tc.params)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrArgument) {
					t.Fatalf("got %q, %v; want an ErrArgument containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// A placeholder never adds arguments: whatever the values, the argv has as many elements as the template.
func TestExpandTemplateNeverAddsArguments(t *testing.T) {
	c := policy.Command{
		Template: []string{"/probe", "{w}", "{p}", "x{w}y"},
		Params: map[string]policy.Param{
			"w": {Type: policy.ParamWord, MaxLen: 1 << 16},
			"p": {Type: policy.ParamPath, Under: "/box"},
		},
	}
	for _, v := range hostile {
		got, err := ExpandTemplate(c, map[string]string{"w": v, "p": v})
		if err != nil {
			continue
		}
		if len(got) != 4 || got[1] != v || got[3] != "x"+v+"y" || !within(got[2], "/box") {
			t.Errorf("%s expanded to %d elements", quoteShort(v), len(got))
		}
	}
}

func TestSplitCommand(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  string
	}{
		{"gcc -O2 a.c", []string{"gcc", "-O2", "a.c"}, ""},
		{`echo "$(id)" '$HOME' ` + "`id`", []string{"echo", "$(id)", "$HOME", "`id`"}, ""},
		{"ls *.c ~ {a,b}", []string{"ls", "*.c", "~", "{a,b}"}, ""},
		{"echo a; rm -rf / && id | cat > x", []string{"echo", "a;", "rm", "-rf", "/", "&&", "id", "|", "cat", ">", "x"}, ""},
		{`echo "a b" 'c d' e\ f ''`, []string{"echo", "a b", "c d", "e f", ""}, ""},
		{"echo a\nb", []string{"echo", "a", "b"}, ""},
		{`echo "#" a\#b`, []string{"echo", "#", "a#b"}, ""},
		{"echo a # comment", nil, "unquoted '#'"},
		{`echo "unclosed`, nil, "closing quote"},
		{`echo x\`, nil, "escape character"},
		{"", nil, "is empty"},
		{"   ", nil, "is empty"},
		{"'' x", nil, "empty program name"},
		{"echo a\x00b", nil, "NUL"},
		{"echo \xff", nil, "not valid UTF-8"},
	}
	for _, tc := range tests {
		got, err := SplitCommand(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrArgument) {
				t.Errorf("SplitCommand(%q) = %q, %v; want an error containing %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("SplitCommand(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestShell(t *testing.T) {
	if got := Shell("echo $1; id"); !reflect.DeepEqual(got, []string{"/bin/sh", "-c", "echo $1; id"}) {
		t.Fatalf("Shell = %q", got)
	}
	if got := Shell(`printf %s "$1"`, "$(id); rm -rf /"); !reflect.DeepEqual(got, []string{"/bin/sh", "-c", `printf %s "$1"`, "sh", "$(id); rm -rf /"}) {
		t.Fatalf("Shell with args = %q", got)
	}
	// The values really are data to the shell: run it on the host's /bin/sh, outside any sandbox.
	if _, err := os.Stat("/bin/sh"); err == nil {
		for _, v := range hostile {
			if strings.IndexByte(v, 0) >= 0 || len(v) > 100<<10 {
				continue // execve cannot carry these at all (NUL ends a C string; MAX_ARG_STRLEN is 128 KiB)
			}
			argv := Shell(`printf %s "$1"`, v)
			out, err := exec.Command(argv[0], argv[1:]...).Output()
			if err != nil || string(out) != v {
				t.Errorf("sh printed %s for %s (%v)", quoteShort(string(out)), quoteShort(v), err)
			}
		}
	}
}

func TestCmd(t *testing.T) {
	tests := []struct {
		name string
		c    *Cmd
		want []string
		err  string
	}{
		{"compile", Command("/usr/bin/gcc").Lit("-O2", "-Wall").Under("/box").Path("a.c").Lit("-o").Path("a.out"),
			[]string{"/usr/bin/gcc", "-O2", "-Wall", "/box/a.c", "-o", "/box/a.out"}, ""},
		{"word and int", Command("head").Lit("-n").Int(10).Word("; id"), []string{"head", "-n", "10", "; id"}, ""},
		{"negative int", Command("head").Lit("-n").Int(-1), nil, `argument 2: "-1" starts with '-'`},
		{"value with dash allowed", Command("printf").Lit("%s").Value(policy.Param{Type: policy.ParamWord, AllowDash: true}, "-x"), []string{"printf", "%s", "-x"}, ""},
		{"path needs Under", Command("cat").Path("a"), nil, "no directory was declared with Under"},
		{"Under relative", Command("cat").Under("box"), nil, "not an absolute path"},
		{"escape", Command("cat").Under("/box").Path("../etc/shadow"), nil, `argument 1: "../etc/shadow" has a '..' component`},
		{"option injection", Command("cat").Word("--output=/etc/passwd"), nil, "starts with '-'"},
		{"first error kept", Command("cat").Word("-x").Word("fine").Lit("y"), nil, `argument 1: "-x"`},
		{"separator", Command("/bin/cat").WithSeparator().Lit("-n").Under("/box").Path("a").Path("b"),
			[]string{"/bin/cat", "-n", "--", "/box/a", "/box/b"}, ""},
		{"separator not inserted without untrusted values", Command("/bin/cat").WithSeparator().Lit("-n"), []string{"/bin/cat", "-n"}, ""},
		{"option after separator", Command("/bin/cat").WithSeparator().Under("/box").Path("a").Lit("-n"), nil, "comes after the '--' separator"},
		{"separator too late", Command("/bin/cat").Under("/box").Path("a").WithSeparator(), nil, "before the first untrusted value"},
		{"no separator unless declared", Command("/usr/bin/gcc").Under("/box").Path("a.c").Lit("-o").Path("a"), []string{"/usr/bin/gcc", "/box/a.c", "-o", "/box/a"}, ""},
		{"trusted program", TrustedCommand("/opt/" + "cc").Trusted("-I/opt/inc"), []string{"/opt/cc", "-I/opt/inc"}, ""},
		{"trusted NUL", TrustedCommand("cc").Trusted("a\x00b"), nil, "NUL"},
		{"empty program", TrustedCommand(""), nil, "program: is empty"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.c.Argv()
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.Is(err, ErrArgument) {
					t.Fatalf("got %q, %v; want an ErrArgument containing %q", got, err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// The fixed parts of a Cmd accept only constants: passing a user's string variable where a literal belongs
// must not compile. This builds two tiny programs against this package with go build -overlay, which adds
// their sources without touching the tree.
func TestLitRejectsVariablesAtCompileTime(t *testing.T) {
	goTool := testenv.GoTool(t)
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Dir(wd) // the module root: this test runs in sandbox/
	build := func(body string) (string, error) {
		dir := t.TempDir()
		src := filepath.Join(dir, "main.go")
		prog := "package main\n\nimport \"github.com/jailrun/jailrun/sandbox\"\n\nfunc main() {\n" + body + "\n}\n"
		if err := os.WriteFile(src, []byte(prog), 0o644); err != nil {
			t.Fatal(err)
		}
		virtual := filepath.Join(root, "internal", "zz_litcheck_"+filepath.Base(dir), "main.go")
		ov, _ := json.Marshal(map[string]any{"Replace": map[string]string{virtual: src}})
		ovFile := filepath.Join(dir, "overlay.json")
		if err := os.WriteFile(ovFile, ov, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(goTool, "build", "-overlay", ovFile, "-o", os.DevNull, "./"+filepath.ToSlash(filepath.Dir(virtual)[len(root)+1:]))
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := build(`_, _ = sandbox.Command("/bin/echo").Lit("-n", "x").Argv()`); err != nil {
		t.Fatalf("literals do not compile: %v\n%s", err, out)
	}
	for _, body := range []string{
		`user := "x"; _, _ = sandbox.Command("/bin/echo").Lit(user).Argv()`,
		`user := "x"; _, _ = sandbox.Command(user).Argv()`,
		`args := []string{"x"}; _, _ = sandbox.Command("/bin/echo").Lit(args...).Argv()`,
	} {
		out, err := build(body)
		if err == nil || !strings.Contains(out, "cannot use") {
			t.Errorf("%s compiled (want a type error): %v\n%s", body, err, out)
		}
	}
}
