package policy

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/invalid/*.err from the current output (review the diff!)")

// Every file in testdata/invalid must be refused with exactly the problems in its sibling .err file: the
// messages are the interface operators read, so a change to any of them is a reviewed change.
func TestInvalidCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.json")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 60 {
		t.Fatalf("only %d malformed policies in testdata/invalid; the corpus must keep at least 60", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			_, err := Load(f)
			if err == nil {
				t.Fatalf("%s was accepted", f)
			}
			if !errors.Is(err, ErrInvalid) || errors.Is(err, ErrRead) {
				t.Fatalf("%s: error is not ErrInvalid: %v", f, err)
			}
			var inv *InvalidError
			if !errors.As(err, &inv) || len(inv.Problems) == 0 {
				t.Fatalf("%s: not an *InvalidError with problems: %v", f, err)
			}
			for _, p := range inv.Problems {
				if p.File == "" || p.Line == 0 || p.Col == 0 {
					t.Errorf("problem without a position: %+v", p)
				}
			}
			got := strings.ReplaceAll(err.Error(), "testdata/invalid/", "") + "\n"
			errFile := strings.TrimSuffix(f, ".json") + ".err"
			if *update {
				if err := os.WriteFile(errFile, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(errFile)
			if err != nil {
				t.Fatalf("missing expected error file: %v", err)
			}
			if got != string(want) {
				t.Errorf("%s:\ngot:\n%s\nwant:\n%s", f, got, want)
			}
		})
	}
	// An .err file without its policy is a test that silently stopped running.
	errs, _ := filepath.Glob("testdata/invalid/*.err")
	for _, e := range errs {
		if _, err := os.Stat(strings.TrimSuffix(e, ".err") + ".json"); err != nil {
			t.Errorf("%s has no policy file", e)
		}
	}
}
