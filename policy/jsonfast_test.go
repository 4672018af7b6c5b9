package policy

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// sameAsTokens checks fastTree against parseTokens on data: fastTree accepts exactly the inputs parseTokens
// finds no problem in, and then builds the same tree (kinds, values, positions, key order).
func sameAsTokens(t *testing.T, data []byte) {
	t.Helper()
	var pre problems
	lines := newLineIndex("p.json", data)
	// parseTree's own checks come first; fastTree is only reached past them.
	if parseTree(data, "p.json", &pre); !pre.empty() && len(pre.list) == 1 {
		switch m := pre.list[0].Msg; {
		case strings.Contains(m, "over the limit"), strings.Contains(m, "UTF-8"),
			strings.Contains(m, "byte order mark"), strings.Contains(m, "is empty"):
			return
		}
	}
	var errs problems
	slow := parseTokens(data, lines, &errs)
	fast := fastTree(data, lines)
	switch {
	case fast == nil && slow != nil && errs.empty():
		t.Fatalf("fastTree refused %q, which parseTokens parses without a problem", data)
	case fast != nil && !errs.empty():
		t.Fatalf("fastTree accepted %q; parseTokens reports %v", data, errs.list)
	case fast != nil && !reflect.DeepEqual(fast, slow):
		t.Fatalf("trees differ for %q:\nfast %+v\nslow %+v", data, fast, slow)
	}
}

func corpus(t testing.TB) [][]byte {
	var out [][]byte
	for _, glob := range []string{"../policies/*.json", "testdata/*/*.json", "testdata/*.json", "../fuzz/testdata/*/*.json"} {
		files, _ := filepath.Glob(glob)
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, b)
		}
	}
	if len(out) < 10 {
		t.Fatalf("only %d corpus files", len(out))
	}
	for _, s := range []string{
		`{}`, ` {"a":1} `, `{"a":1}x`, `{"a":1} {}`, `{"a":1,}`, `{"a":1,"a":2}`, `{"a":[1,2,]}`, `{"a":[]}`,
		`{"a":{}}`, `[]`, `1`, `"x"`, `{"a":01}`, `{"a":-0}`, `{"a":-}`, `{"a":1.}`, `{"a":1.5e+3}`,
		`{"a":1E-2}`, `{"a":.5}`, `{"a":+1}`, `{"a":1x}`, `{"a":truex}`, `{"a":true,"b":false,"c":null}`,
		`{"a":nul}`, `{"a":"\u00e9\n\"\\\/"}`, `{"a":"\ud83d\ude00"}`, `{"a":"\ud83d"}`, `{"a":"\x"}`,
		"{\"a\":\"tab\there\"}", `{"a\"b":1}`, `{"a":"é ☃"}`, "{\"a\":1}\n\t\r ", `{"a" 1}`, `{"a":1 "b":2}`,
		`{"a":[{"b":[{"c":[]}]}]}`, `{"a":"unterminated}`, `{"a":"ends in backslash\`, `{1:2}`, `{"a":1}/`,
		`{"a":1} // comment`, `{"a":[1 2]}`, `{"a":1}]`, "{\"a\":1}\u00a0",
		`{"a":[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}`,
	} {
		out = append(out, []byte(s))
	}
	return out
}

func TestFastTreeMatchesTokens(t *testing.T) {
	for _, data := range corpus(t) {
		sameAsTokens(t, data)
	}
	// The shipped policies all take the fast path.
	files, _ := filepath.Glob("../policies/*.json")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if fastTree(b, newLineIndex(f, b)) == nil {
			t.Errorf("%s does not take the fast path", f)
		}
	}
}

func FuzzFastTree(f *testing.F) {
	for _, data := range corpus(f) {
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		sameAsTokens(t, data)
	})
}
