package tests

import (
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The /dev the docs describe is the /dev a sandbox gets: every entry docs/policy.md's `dev` row names in
// backticks (before "Nothing else") and README's description of it, no more and no fewer.
func TestDevIsWhatTheDocsSay(t *testing.T) {
	requirePrivileged(t)
	r := sh(t, `ls -A /dev`)
	if r.code != 0 {
		t.Fatalf("ls /dev: %s", short(r.String()))
	}
	got := strings.Fields(r.stdout)
	slices.Sort(got)

	backticked := regexp.MustCompile("`([a-z]+)`")
	names := func(text string) []string {
		var out []string
		for _, m := range backticked.FindAllStringSubmatch(text, -1) {
			if m[1] != "dev" && m[1] != "dst" {
				out = append(out, m[1])
			}
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	read := func(path string) string {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	row := regexp.MustCompile("(?m)^\\| `dev` \\| .*$").FindString(read("../docs/policy.md"))
	if cols := strings.Split(row, " | "); len(cols) > 2 {
		row = cols[2] // the description; the column before it names the mount's fields (dst, pts)
	}
	row, _, _ = strings.Cut(row, "Nothing else")
	if want := names(row); !slices.Equal(want, got) {
		t.Errorf("docs/policy.md's dev row names %v; the sandbox's /dev has %v", want, got)
	}
	readme := regexp.MustCompile("a minimal read-only `/dev` \\(([^)]*)\\)").FindStringSubmatch(read("../README.md"))
	if readme == nil {
		t.Fatal("README no longer describes the minimal /dev as \"a minimal read-only `/dev` (...)\"")
	}
	if want := names(readme[1]); !slices.Equal(want, got) {
		t.Errorf("README's /dev names %v; the sandbox's /dev has %v", want, got)
	}
	for _, absent := range []string{"tty", "pts", "ptmx", "console"} {
		if slices.Contains(got, absent) {
			t.Errorf("/dev has %s, which the docs say it has not", absent)
		}
	}
}
