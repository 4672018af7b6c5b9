package policy

import (
	"runtime"
	"strings"
	"testing"
)

// A hostile file at the size cap must not make the parser allocate far beyond its own size.
func TestParseAllocationIsBounded(t *testing.T) {
	worst := []string{
		`{"version": 1, "x": [` + strings.Repeat("0,", MaxFileSize/2-20) + `0]}`,
		`{"version": 1, "x": [` + strings.Repeat("{},", MaxFileSize/3-20) + `{}]}`,
		`{"version": 1, "x": [` + strings.Repeat(`"",`, MaxFileSize/3-20) + `""]}`,
		`{"version": 1, "limits": {` + strings.Repeat(`"a":0,`, MaxFileSize/6-20) + `"b":0}}`,
	}
	for i, src := range worst {
		if len(src) > MaxFileSize {
			t.Fatalf("case %d is %d bytes", i, len(src))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, err := Parse([]byte(src), "w.json")
		runtime.ReadMemStats(&after)
		if err == nil {
			t.Fatalf("case %d accepted", i)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("case %d: %d bytes in, %d bytes allocated (%.0fx)", i, len(src), alloc, float64(alloc)/float64(len(src)))
		if alloc > 64*uint64(MaxFileSize) {
			t.Errorf("case %d: %d bytes allocated for a %d-byte input", i, alloc, len(src))
		}
	}
}
