package policy

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// renderFull is render as it was before compactWithin: the whole compact form at every level. The
// rendering must not change (it is what every policy's SHA-256 is taken of).
func renderFull(b *bytes.Buffer, v any, level, col int, top bool) {
	if !top {
		if c := compact(v); col+len(c)+1 <= formatWidth {
			b.WriteString(c)
			return
		}
	}
	indent := strings.Repeat("  ", level+1)
	switch x := v.(type) {
	case jobj:
		if len(x) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		for i, kv := range x {
			b.WriteString(indent)
			k := quote(kv.k) + ": "
			b.WriteString(k)
			renderFull(b, kv.v, level+1, len(indent)+len(k), false)
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent[2:])
		b.WriteByte('}')
	case jarr:
		if len(x) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, el := range x {
			b.WriteString(indent)
			renderFull(b, el, level+1, len(indent), false)
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent[2:])
		b.WriteByte(']')
	default:
		b.WriteString(compact(v))
	}
}

// Every shipped and test policy, as written and in its effective form, renders byte for byte as the full
// compact check rendered it.
func TestRenderUnchangedByCompactWithin(t *testing.T) {
	var files []string
	for _, g := range []string{"../policies/*.json", "testdata/*/*.json", "testdata/*.json"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(data, f)
		if err != nil {
			continue // an invalid policy has nothing to render
		}
		forms := []*Policy{p}
		if e, err := Effective(p); err == nil {
			forms = append(forms, e)
		}
		for _, q := range forms {
			var got, want bytes.Buffer
			render(&got, toJSON(q), 0, 0, true)
			renderFull(&want, toJSON(q), 0, 0, true)
			if got.String() != want.String() {
				t.Errorf("%s renders differently:\n%s\nwant\n%s", f, got.String(), want.String())
			}
			n++
		}
	}
	if n < 10 {
		t.Fatalf("only %d policies rendered", n)
	}
	for _, w := range []int{-5, 0, 1, 3, 10, 200} {
		for _, v := range []any{jobj{{"a", jarr{int64(1), "x", true}}, {"b", jobj{}}}, jarr{}, "s", jraw("1.5")} {
			c, ok := compactWithin(v, w)
			full := compact(v)
			if ok != (len(full) <= w) || (ok && c != full) {
				t.Errorf("compactWithin(%v, %d) = %q %v; compact is %q", v, w, c, ok, full)
			}
		}
	}
}
