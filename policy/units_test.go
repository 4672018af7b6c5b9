package policy

import (
	"math/rand"
	"testing"
	"time"
)

func TestParseSizeString(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"4096", 4096, true},
		{"1K", 1 << 10, true},
		{"256M", 256 << 20, true},
		{"2G", 2 << 30, true},
		{"1T", 1 << 40, true},
		{"64KiB", 64 << 10, true},
		{"1MiB", 1 << 20, true},
		{"3GiB", 3 << 30, true},
		{"1TiB", 1 << 40, true},
		{"1.5G", 3 << 29, true},
		{"0.5K", 512, true},
		{"1.25M", 5 << 18, true},
		{"007M", 7 << 20, true},
		{"1.1K", 0, false}, // 1126.4 bytes
		{"256Q", 0, false},
		{"256MB", 0, false},
		{"256m", 0, false},
		{"256 M", 0, false},
		{" 256M", 0, false},
		{"M", 0, false},
		{"", 0, false},
		{".5M", 0, false},
		{"1.M", 0, false},
		{"-1M", 0, false},
		{"+1M", 0, false},
		{"1e3", 0, false},
		{"1024P", 0, false},
		{"99999999999999999999999", 0, false},
		{"1048576T", 0, false}, // 2^60, over the 1 PiB ceiling
	}
	for _, tt := range tests {
		got, err := parseSizeString(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseSizeString(%q) = %d, %v; want %d, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// Property: every size formats to a form that parses back to itself, and that form uses the largest exact
// suffix.
func TestSizeRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	check := func(v int64) {
		t.Helper()
		var back int64
		switch f := formatSize(v).(type) {
		case string:
			var err error
			back, err = parseSizeString(f)
			if err != nil {
				t.Fatalf("formatSize(%d) = %q does not parse: %v", v, f, err)
			}
			if v%1024 != 0 {
				t.Fatalf("formatSize(%d) = %q; want plain bytes", v, f)
			}
			if last := f[len(f)-1]; last != 'T' && v%(1<<(10*(1+indexOf("KMGT", last)))) != 0 {
				t.Fatalf("formatSize(%d) = %q is not exact", v, f)
			}
		case int64:
			back = f
			if v != 0 && v%1024 == 0 {
				t.Fatalf("formatSize(%d) = %d; want a suffix", v, f)
			}
		}
		if back != v {
			t.Fatalf("size %d -> %v -> %d", v, formatSize(v), back)
		}
	}
	for i := 0; i < 20000; i++ {
		shift := uint(r.Intn(41))
		v := r.Int63n(maxSizeValue>>shift+1) << shift
		if v > maxSizeValue {
			continue
		}
		check(v)
		check(r.Int63n(1 << 20))
	}
	check(maxSizeValue)
}

func indexOf(s string, c byte) int {
	for i := range s {
		if s[i] == c {
			return i
		}
	}
	return -1
}

func TestParseDurationString(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1.5s", 1500 * time.Millisecond, true},
		{"2000ms", 2 * time.Second, true},
		{"1m", time.Minute, true},
		{"1h30m", 90 * time.Minute, true},
		{"0s", 0, true},
		{"10", 0, false},
		{"1.5ms", 0, false},
		{"100us", 0, false},
		{"-1s", 0, false},
		{"+1s", 0, false},
		{"1d", 0, false},
		{"", 0, false},
		{"9999999999h", 0, false},
	}
	for _, tt := range tests {
		got, err := parseDurationString(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseDurationString(%q) = %v, %v; want %v, ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"},
		{time.Millisecond, "1ms"},
		{999 * time.Millisecond, "999ms"},
		{1500 * time.Millisecond, "1.5s"},
		{1001 * time.Millisecond, "1.001s"},
		{2 * time.Second, "2s"},
		{90 * time.Second, "90s"},
		{2 * time.Minute, "2m"},
		{61500 * time.Millisecond, "61.5s"},
		{3 * time.Hour, "3h"},
		{90 * time.Minute, "90m"},
	}
	for _, tt := range tests {
		if got := formatDuration(tt.in); got != tt.want {
			t.Errorf("formatDuration(%v) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

// Property: every whole-millisecond duration up to the cap formats to a string that parses back to it.
func TestDurationRoundTripProperty(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 20000; i++ {
		var d time.Duration
		switch i % 3 {
		case 0:
			d = time.Duration(r.Int63n(int64(maxDuration/time.Millisecond)+1)) * time.Millisecond
		case 1:
			d = time.Duration(r.Int63n(100000)) * time.Millisecond
		case 2:
			d = time.Duration(r.Int63n(200)) * time.Minute
		}
		s := formatDuration(d)
		back, err := parseDurationString(s)
		if err != nil || back != d {
			t.Fatalf("duration %v -> %q -> %v, %v", d, s, back, err)
		}
	}
}

func TestOctal(t *testing.T) {
	for v := uint32(0); v <= 0o7777; v++ {
		got, ok := parseOctalString(formatOctal(v))
		if !ok || got != v {
			t.Fatalf("octal %o -> %q -> %o, %v", v, formatOctal(v), got, ok)
		}
	}
	for _, bad := range []string{"", "8", "0999", "017777", "-1", "+7", "0x1ff", "777777", " 022"} {
		if _, ok := parseOctalString(bad); ok {
			t.Errorf("parseOctalString(%q) accepted", bad)
		}
	}
}

func TestCpuset(t *testing.T) {
	tests := []struct{ in, want string }{
		{"0", "0"},
		{"0-3", "0-3"},
		{"3,2,1,0", "0-3"},
		{"0,2,4", "0,2,4"},
		{"0-1,1-2,7", "0-2,7"},
		{"5,5", "5"},
		{"8191", "8191"},
	}
	for _, tt := range tests {
		got, err := parseCpuset(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseCpuset(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		again, err := parseCpuset(got)
		if err != nil || again != got {
			t.Errorf("cpuset canonical form %q is not a fixed point: %q, %v", got, again, err)
		}
	}
	for _, bad := range []string{"", "3-1", "a", "0,", ",0", "0--1", "8192", "01", "-1", "0-", "1 ,2"} {
		if _, err := parseCpuset(bad); err == nil {
			t.Errorf("parseCpuset(%q) accepted", bad)
		}
	}
}

func TestCheckSandboxPath(t *testing.T) {
	good := []string{"/", "/tmp", "/usr/lib/x86_64-linux-gnu", "/a b"}
	bad := []string{"", "tmp", "/tmp/", "/a//b", "/a/./b", "/a/../b", "/..", "/a/..", "/a\x00b"}
	for _, p := range good {
		if msg := checkSandboxPath(p); msg != "" {
			t.Errorf("checkSandboxPath(%q) = %q", p, msg)
		}
	}
	for _, p := range bad {
		if msg := checkSandboxPath(p); msg == "" {
			t.Errorf("checkSandboxPath(%q) accepted", p)
		}
	}
}

func TestParseTemplateArg(t *testing.T) {
	tests := []struct {
		in   string
		want []TemplatePart
		ok   bool
	}{
		{"gcc", []TemplatePart{{Literal: "gcc"}}, true},
		{"", []TemplatePart{{Literal: ""}}, true},
		{"{src}", []TemplatePart{{Param: "src"}}, true},
		{"-o{out}.bin", []TemplatePart{{Literal: "-o"}, {Param: "out"}, {Literal: ".bin"}}, true},
		{"{{x}}", []TemplatePart{{Literal: "{x}"}}, true},
		{"{a}{b}", []TemplatePart{{Param: "a"}, {Param: "b"}}, true},
		{"{", nil, false},
		{"}", nil, false},
		{"{}", nil, false},
		{"{A}", nil, false},
		{"{a b}", nil, false},
	}
	for _, tt := range tests {
		got, err := ParseTemplateArg(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("ParseTemplateArg(%q) error = %v; want ok=%v", tt.in, err, tt.ok)
			continue
		}
		if tt.ok && len(got) != len(tt.want) {
			t.Errorf("ParseTemplateArg(%q) = %+v; want %+v", tt.in, got, tt.want)
			continue
		}
		for i := range got {
			if tt.ok && got[i] != tt.want[i] {
				t.Errorf("ParseTemplateArg(%q) = %+v; want %+v", tt.in, got, tt.want)
				break
			}
		}
	}
}
