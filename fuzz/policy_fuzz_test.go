package fuzz

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
)

// source names fuzzed input. Its directory does not exist, so a relative extends can never reach real
// files and every run is deterministic; built-in names still resolve.
const source = "/nonexistent-jailrun-fuzz/f.json"

func addSeeds(f *testing.F) {
	f.Helper()
	var files []string
	for _, pattern := range []string{"../policies/*.json", "../policy/testdata/invalid/*.json", "../policy/testdata/parents/*.json"} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			f.Fatal(err)
		}
		files = append(files, m...)
	}
	if len(files) < 60 {
		f.Fatalf("only %d seed files; are the policies and the invalid corpus in place?", len(files))
	}
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		``, `{}`, `{"version": 1}`, `{"version": 1, "extends": "strict"}`, `null`,
		`{"version": 1, "extends": ["compile", "network-loopback"]}`, `{"version": 1, "extends": ["strict", "strict"]}`,
		`{"version": 1, "extends": []}`, `{"version": 1, "extends": ["interpreter", "compile", "interactive", "default"]}`, `[`, `{"version": 1}{`,
		`{"version": 1, "limits": {"memory": "1.5G", "cpu": 0.5, "cpuset": "0-3,1"}}`,
		`{"version": 1, "process": {"umask": 18}, "command": {"template": ["/bin/x", "{{a}}{b}"], "params": {"b": {"type": "int"}}}}`,
	} {
		f.Add([]byte(s))
	}
}

// checkError asserts that err is a well-formed *policy.InvalidError for data.
func checkError(t *testing.T, data []byte, err error) {
	t.Helper()
	if !errors.Is(err, policy.ErrInvalid) {
		t.Fatalf("error is not ErrInvalid: %v", err)
	}
	var inv *policy.InvalidError
	if !errors.As(err, &inv) || len(inv.Problems) == 0 {
		t.Fatalf("not an *InvalidError with problems: %v", err)
	}
	if len(inv.Problems) > 201 {
		t.Fatalf("%d problems: the report is not bounded", len(inv.Problems))
	}
	lines := bytes.Count(data, []byte("\n")) + 1
	for _, p := range inv.Problems {
		if p.Msg == "" || p.File == "" || strings.ContainsAny(p.Msg, "\n") {
			t.Fatalf("malformed problem %+v", p)
		}
		if p.File == source && (p.Line < 1 || p.Line > lines || p.Col < 1) {
			t.Fatalf("problem outside the input (%d lines): %+v", lines, p)
		}
	}
}

func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data, source)
		if (p == nil) == (err == nil) {
			t.Fatalf("Parse returned policy %v and error %v", p != nil, err)
		}
		if err != nil {
			checkError(t, data, err)
		}
	})
}

func FuzzRoundTrip(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data, source)
		if err != nil {
			return
		}
		one := format(t, p)
		two := format(t, reparse(t, one))
		if !bytes.Equal(one, two) {
			t.Fatalf("Format is not a fixed point:\n%s\n---\n%s", one, two)
		}
		e, err := policy.Effective(p)
		if err != nil {
			return
		}
		eff := format(t, e)
		if again := format(t, reparse(t, eff)); !bytes.Equal(eff, again) {
			t.Fatalf("the effective form is not a fixed point:\n%s\n---\n%s", eff, again)
		}
	})
}

func FuzzCompile(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := policy.Parse(data, source)
		if err != nil {
			return
		}
		s, err := policy.Compile(p)
		if err != nil {
			checkError(t, data, err)
			return
		}
		if err := policy.CheckInvariants(s); err != nil {
			t.Fatalf("%v\npolicy:\n%s", err, data)
		}
		if policy.Explain(s) == "" {
			t.Fatal("empty explanation")
		}
		// Compiling is deterministic, and the effective form compiles to the same settings.
		s2, err := policy.Compile(p)
		if err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("second Compile differs: %v", err)
		}
		e, err := policy.Effective(p)
		if err != nil {
			t.Fatalf("Compile accepted what Effective refuses: %v", err)
		}
		s3, err := policy.Compile(reparse(t, format(t, e)))
		if err != nil {
			t.Fatalf("the effective form does not compile: %v", err)
		}
		s3.Source = s.Source
		if !reflect.DeepEqual(s, s3) {
			t.Fatalf("the effective form compiles differently:\n%+v\n%+v", s, s3)
		}
	})
}

func format(t *testing.T, p *policy.Policy) []byte {
	t.Helper()
	b, err := policy.Format(p)
	if err != nil {
		t.Fatalf("Format: %v", err)
	}
	return b
}

func reparse(t *testing.T, canon []byte) *policy.Policy {
	t.Helper()
	p, err := policy.Parse(canon, source)
	if err != nil {
		t.Fatalf("the canonical form does not parse: %v\n%s", err, canon)
	}
	return p
}
