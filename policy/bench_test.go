package policy

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// Compare these as ratios: a hostile file must cost about as much as a real one of the same size, not
// orders of magnitude more.
func BenchmarkParseStrict(b *testing.B) {
	data, err := os.ReadFile("../policies/strict.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := Parse(data, "strict.json"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCompileStrict(b *testing.B) {
	p, err := LoadPolicy("../policies/strict.json")
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		if _, err := Compile(p); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseUnknownSyscalls(b *testing.B) {
	var names []string
	for i := 0; i < 1024; i++ {
		names = append(names, fmt.Sprintf(`"rea%d"`, i))
	}
	data := []byte(`{"version": 1, "seccomp": {"default_action": "allow", "rules": [{"syscalls": [` + strings.Join(names, ",") + `], "action": "allow"}]}}`)
	b.SetBytes(int64(len(data)))
	for i := 0; i < b.N; i++ {
		if _, err := Parse(data, "x.json"); err == nil {
			b.Fatal("accepted")
		}
	}
}
