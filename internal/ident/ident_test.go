package ident

import (
	"regexp"
	"strings"
	"testing"
)

// Valid must accept exactly what the regexp it replaced accepted.
func TestValidMatchesTheRegexp(t *testing.T) {
	re := regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	for _, s := range []string{"", "a", "A-z_0.9", strings.Repeat("x", 64), strings.Repeat("x", 65), "a b", "é", "a\n", "a/b", "-", "..", "a\x00"} {
		if got, want := Valid(s), re.MatchString(s); got != want {
			t.Errorf("Valid(%q) = %v, the regexp says %v", s, got, want)
		}
	}
}

func FuzzValid(f *testing.F) {
	re := regexp.MustCompile(`^[A-Za-z0-9_.-]{1,64}$`)
	f.Add("abc")
	f.Fuzz(func(t *testing.T, s string) {
		if Valid(s) != re.MatchString(s) {
			t.Fatalf("%q", s)
		}
	})
}
