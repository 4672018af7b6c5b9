package namespaces

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseSubIDs(t *testing.T) {
	for _, tc := range []struct {
		name, file string
		want       []SubIDRange
		err        string
	}{
		{"by name", "alice:100000:65536\nbob:165536:65536\n", []SubIDRange{{100000, 65536}}, ""},
		{"by uid", "1001:200000:10\n", []SubIDRange{{200000, 10}}, ""},
		{"both, in order", "1001:5:1\n# comment\n\nalice:7:2\n", []SubIDRange{{5, 1}, {7, 2}}, ""},
		{"other users only", "bob:1:2\n", nil, ""},
		{"zero count skipped", "alice:100:0\n", nil, ""},
		{"wraps past the invalid id", "alice:4294967290:10\n", nil, ""},
		{"malformed", "alice:1\n", nil, "line 1"},
		{"not a number", "bob:1:2\nalice:x:2\n", nil, "line 2"},
		{"empty owner", ":1:2\n", nil, "line 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseSubIDs(strings.NewReader(tc.file), "alice", 1001)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want one naming %q", err, tc.err)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

func TestLookupSubIDs(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, file string
		want       SubIDRange
		ok         bool
		err        bool
	}{
		{"first range", write("a", "alice:100000:65536\nalice:300000:5\n"), SubIDRange{100000, 65536}, true, false},
		// Host id 0 is root: never mapped, even if the file hands it out.
		{"root trimmed", write("b", "alice:0:10\n"), SubIDRange{1, 9}, true, false},
		{"only root", write("c", "alice:0:1\nalice:50:1\n"), SubIDRange{50, 1}, true, false},
		{"none", write("d", "bob:1:1\n"), SubIDRange{}, false, false},
		{"missing file", filepath.Join(dir, "nope"), SubIDRange{}, false, false},
		{"broken file", write("e", "alice\n"), SubIDRange{}, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok, err := LookupSubIDs(tc.file, "alice", 1001)
			if (err != nil) != tc.err || ok != tc.ok || got != tc.want {
				t.Fatalf("got %v %v %v; want %v %v err=%v", got, ok, err, tc.want, tc.ok, tc.err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.file) {
				t.Fatalf("error %v does not name the file", err)
			}
		})
	}
}

func TestHelperArgs(t *testing.T) {
	got := HelperArgs(42, IDMap{Inside: 1000, Host: 100000, Size: 1})
	if want := []string{"42", "1000", "100000", "1"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("got %v want %v", got, want)
	}
}
