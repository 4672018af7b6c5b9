package fuzz

import (
	"path"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// FuzzTemplate fuzzes the expansion of policy command templates: the template arguments (literal text and
// {placeholders}), the declaration of the parameters and the untrusted values. Whatever they are, the
// expansion must never panic, never add or drop an argument, never let a value carry a NUL, a line break
// or a leading '-' it was not allowed, and never put a path outside its directory.
func FuzzTemplate(f *testing.F) {
	f.Add("{a}", "--out={b}", uint8(0), "/box", false, uint16(0), "src/main.c", "c11")
	f.Add("-o{a}", "{b}{a}", uint8(0), "/", true, uint16(8), "-rf", "--x")
	f.Add("{a}", "{{b}}", uint8(1), "", false, uint16(0), "; rm -rf /", "$(id)")
	f.Add("x{a}y", "{b}", uint8(2), "", true, uint16(20), "-9223372036854775808", "`id`")
	f.Add("{a}", "{b", uint8(0), "/box/", false, uint16(0), "../../etc/shadow", "a\nb")
	f.Add("{a}", "{c}", uint8(0), "relative", false, uint16(0), "a\x00b", "\u202e")
	f.Add("{a}", "}", uint8(0), "/box", false, uint16(4096), "/box/../etc", "\xff")
	f.Fuzz(func(t *testing.T, tmpl0, tmpl1 string, typ uint8, under string, allowDash bool, maxLen uint16, a, b string) {
		types := []policy.ParamType{policy.ParamPath, policy.ParamWord, policy.ParamInt}
		pa := policy.Param{Type: types[int(typ)%len(types)], AllowDash: allowDash, MaxLen: int(maxLen)}
		if pa.Type == policy.ParamPath {
			pa.Under = under
		}
		pb := policy.Param{Type: policy.ParamWord}
		c := policy.Command{
			Template: []string{"/probe", tmpl0, tmpl1},
			Params:   map[string]policy.Param{"a": pa, "b": pb},
		}
		values := map[string]string{"a": a, "b": b}
		argv, err := sandbox.ExpandTemplate(c, values)
		if err != nil {
			if strings.ContainsAny(err.Error(), "\n\r\x00") {
				t.Fatalf("error is not one line: %q", err)
			}
			return
		}
		if len(argv) != len(c.Template) {
			t.Fatalf("%q expanded to %d arguments: %q", c.Template, len(argv), argv)
		}
		again, err := sandbox.ExpandTemplate(c, values)
		if err != nil || !reflect.DeepEqual(again, argv) {
			t.Fatalf("expansion is not deterministic: %q then %q, %v", argv, again, err)
		}
		for i, arg := range c.Template {
			parts, err := policy.ParseTemplateArg(arg)
			if err != nil {
				t.Fatalf("template argument %q does not parse (%v) yet expanded", arg, err)
			}
			// Rebuild the argument from its parts: literal text is kept, each placeholder is its value's
			// checked form, which must satisfy the kind's rules on its own.
			var want strings.Builder
			for _, part := range parts {
				if part.Param == "" {
					want.WriteString(part.Literal)
					continue
				}
				p, ok := c.Params[part.Param]
				if !ok {
					t.Fatalf("undeclared {%s} expanded", part.Param)
				}
				got, err := sandbox.CheckValue("v", p, values[part.Param])
				if err != nil {
					t.Fatalf("{%s}=%q was refused by CheckValue but expanded", part.Param, values[part.Param])
				}
				checkValue(t, p, values[part.Param], got)
				want.WriteString(got)
			}
			if argv[i] != want.String() {
				t.Fatalf("argument %d is %q, want %q", i, argv[i], want.String())
			}
		}
	})
}

// checkValue states the rules of a checked value without the code that enforces them.
func checkValue(t *testing.T, p policy.Param, in, out string) {
	t.Helper()
	if in == "" || !utf8.ValidString(in) || strings.ContainsAny(in, "\x00\n\r\t\x1b\u202e\u200b") {
		t.Fatalf("%q accepted", in)
	}
	if in[0] == '-' && !p.AllowDash {
		t.Fatalf("%q accepted with a leading '-'", in)
	}
	max := p.MaxLen
	if max == 0 {
		max = map[policy.ParamType]int{policy.ParamPath: 4096, policy.ParamWord: 256, policy.ParamInt: 20}[p.Type]
	}
	if len(in) > max {
		t.Fatalf("%d bytes accepted over the cap of %d", len(in), max)
	}
	switch p.Type {
	case policy.ParamWord:
		if out != in {
			t.Fatalf("word %q became %q", in, out)
		}
	case policy.ParamInt:
		n, err := strconv.ParseInt(in, 10, 64)
		if err != nil || strconv.FormatInt(n, 10) != in || out != in {
			t.Fatalf("int %q became %q", in, out)
		}
	case policy.ParamPath:
		for _, c := range strings.Split(in, "/") {
			if c == ".." {
				t.Fatalf("path %q with '..' accepted", in)
			}
		}
		if out != path.Clean(out) {
			t.Fatalf("path %q became %q, which is not clean", in, out)
		}
		if p.Under == "" {
			if out != path.Clean(in) {
				t.Fatalf("path %q became %q", in, out)
			}
			return
		}
		dir := path.Clean(p.Under)
		if !path.IsAbs(dir) || !path.IsAbs(out) || (dir != "/" && out != dir && !strings.HasPrefix(out, dir+"/")) {
			t.Fatalf("path %q under %q became %q, outside it", in, p.Under, out)
		}
	}
}

// FuzzSplitCommand fuzzes the --cmd splitter: it must never panic, and whatever it returns must survive a
// round trip through single quoting, which is how a shell would have to quote the same argv.
func FuzzSplitCommand(f *testing.F) {
	for _, s := range []string{`gcc -O2 "a b.c" -o 'x y'`, `echo "$(id)" \` + "`id`", "a # b", `"unclosed`, `x\`, "a\nb\tc", "'' \"\"", "\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		argv, err := sandbox.SplitCommand(s)
		if err != nil {
			return
		}
		if len(argv) == 0 || argv[0] == "" {
			t.Fatalf("%q split into %q", s, argv)
		}
		quoted := make([]string, len(argv))
		for i, a := range argv {
			if strings.IndexByte(a, 0) >= 0 {
				t.Fatalf("%q split into an argument with NUL", s)
			}
			quoted[i] = "'" + strings.ReplaceAll(a, "'", `'"'"'`) + "'"
		}
		back, err := sandbox.SplitCommand(strings.Join(quoted, " "))
		if err != nil || !reflect.DeepEqual(back, argv) {
			t.Fatalf("%q split into %q; quoted again it splits into %q (%v)", s, argv, back, err)
		}
	})
}
