package policy

import (
	"os"
	"path/filepath"
	"testing"
)

// render differs from what it was before compactWithin only in how it asks whether a subtree's compact
// form fits the rest of the line. So the rendering (what every policy's SHA-256 is of) is unchanged when
// compactWithin answers exactly as the full compact form would, for every subtree of every shipped and
// test policy, as written and effective, at every width around its length.
func TestCompactWithinAnswersAsCompact(t *testing.T) {
	var files []string
	for _, g := range []string{"../policies/*.json", "testdata/*/*.json", "testdata/*.json"} {
		m, _ := filepath.Glob(g)
		files = append(files, m...)
	}
	var check func(v any)
	checked := 0
	check = func(v any) {
		full := compact(v)
		for _, w := range []int{-1, 0, len(full) - 1, len(full), len(full) + 1, formatWidth} {
			c, ok := compactWithin(v, w)
			if ok != (len(full) <= w) || (ok && c != full) {
				t.Fatalf("compactWithin(%s, %d) = %q %v", full, w, c, ok)
			}
		}
		checked++
		switch x := v.(type) {
		case jobj:
			for _, kv := range x {
				check(kv.v)
			}
		case jarr:
			for _, el := range x {
				check(el)
			}
		}
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		p, err := Parse(data, f)
		if err != nil {
			continue // an invalid policy has nothing to render
		}
		check(toJSON(p))
		if e, err := Effective(p); err == nil {
			check(toJSON(e))
		}
	}
	if checked < 1000 {
		t.Fatalf("only %d subtrees checked", checked)
	}
}
