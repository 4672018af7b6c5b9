package policy

import (
	"errors"
	"fmt"
	"math/big"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Sizes are bytes. A policy writes them as a JSON integer (bytes) or a string with a binary suffix:
// "256M", "1.5G", "64KiB". Decimal suffixes ("MB") are refused rather than guessed at.

var sizeSuffixes = []struct {
	s     string
	shift uint
}{
	{"", 0}, {"K", 10}, {"M", 20}, {"G", 30}, {"T", 40},
	{"KiB", 10}, {"MiB", 20}, {"GiB", 30}, {"TiB", 40},
}

// maxSizeValue bounds every size before a field's own cap applies (1 PiB), so arithmetic never overflows.
const maxSizeValue = int64(1) << 50

var errSizeSyntax = errors.New("not a size")

// parseSizeString parses "256M", "1.5G", "4096", "64KiB".
func parseSizeString(s string) (int64, error) {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	intPart := s[:i]
	frac := ""
	if i < len(s) && s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		frac = s[i+1 : j]
		if frac == "" {
			return 0, errSizeSyntax
		}
		i = j
	}
	if intPart == "" || len(intPart)+len(frac) > 24 {
		return 0, errSizeSyntax
	}
	suffix := s[i:]
	shift := -1
	for _, sf := range sizeSuffixes {
		if sf.s == suffix {
			shift = int(sf.shift)
		}
	}
	if shift < 0 {
		return 0, errSizeSyntax
	}
	// Exact rational arithmetic: "1.5K" is 1536 bytes, "1.1K" is not a whole number of bytes.
	num, _ := new(big.Int).SetString(intPart+frac, 10)
	num.Lsh(num, uint(shift))
	den := new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(len(frac))), nil)
	q, r := new(big.Int).QuoRem(num, den, new(big.Int))
	if r.Sign() != 0 {
		return 0, fmt.Errorf("is not a whole number of bytes")
	}
	if !q.IsInt64() || q.Int64() > maxSizeValue {
		return 0, fmt.Errorf("is too large (at most 1P)")
	}
	return q.Int64(), nil
}

// formatSize is the canonical form of a size: the largest binary suffix that divides it exactly, or plain
// bytes as a JSON integer.
func formatSize(v int64) any {
	if v == 0 {
		return int64(0)
	}
	for _, sf := range []struct {
		s     string
		shift uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if v%(int64(1)<<sf.shift) == 0 {
			return strconv.FormatInt(v>>sf.shift, 10) + sf.s
		}
	}
	return v
}

// humanSize is for explanations: "256 MiB", "1.5 GiB", "100 bytes".
func humanSize(v int64) string {
	units := []string{"bytes", "KiB", "MiB", "GiB", "TiB", "PiB"}
	f := float64(v)
	u := 0
	for f >= 1024 && u < len(units)-1 {
		f /= 1024
		u++
	}
	if u == 0 {
		return fmt.Sprintf("%d bytes", v)
	}
	txt := strings.TrimRight(strings.TrimRight(strconv.FormatFloat(f, 'f', 2, 64), "0"), ".")
	return txt + " " + units[u]
}

// Durations are written as a JSON integer (milliseconds) or a Go duration string: "1.5s", "2000ms", "1m".
// Precision is one millisecond.

var errDurationSyntax = errors.New("not a duration")

func parseDurationString(s string) (time.Duration, error) {
	if s == "" || s[0] == '-' || s[0] == '+' {
		return 0, errDurationSyntax
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		if strings.Contains(err.Error(), "overflow") {
			return 0, fmt.Errorf("is too long")
		}
		return 0, errDurationSyntax
	}
	if d%time.Millisecond != 0 {
		return 0, fmt.Errorf("is not a whole number of milliseconds")
	}
	return d, nil
}

// FormatDuration writes d as policy files and results do ("1.5s", "2m", "300ms").
func FormatDuration(d time.Duration) string { return formatDuration(d) }

// formatDuration is the canonical form: the largest unit that divides exactly ("2h", "30s", "1500ms"
// becomes "1.5s"), milliseconds below one second.
func formatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	case d%time.Second == 0:
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	case d >= time.Second:
		ms := int64(d / time.Millisecond)
		return strings.TrimRight(fmt.Sprintf("%d.%03d", ms/1000, ms%1000), "0") + "s"
	default:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	}
}

// parseOctalString parses a permission mask written as an octal string: "0022", "1777", "755".
func parseOctalString(s string) (uint32, bool) {
	if len(s) == 0 || len(s) > 5 {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 8, 32)
	if err != nil || v > 0o7777 {
		return 0, false
	}
	return uint32(v), true
}

func formatOctal(v uint32) string { return fmt.Sprintf("%04o", v) }

// maxCPUs bounds cpuset indices (Linux's NR_CPUS default maximum is 8192).
const maxCPUs = 8192

// parseCpuset parses a cpu list "0-3,5" and returns its canonical form (sorted, merged ranges).
func parseCpuset(s string) (string, error) {
	if s == "" {
		return "", fmt.Errorf("is empty")
	}
	set := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err1 := parseCPU(lo)
		b := a
		var err2 error
		if isRange {
			b, err2 = parseCPU(hi)
		}
		if err1 != nil || err2 != nil {
			return "", fmt.Errorf("is not a CPU list (use e.g. \"0-3,6\")")
		}
		if a > b {
			return "", fmt.Errorf("has a descending range %q", part)
		}
		for c := a; c <= b; c++ {
			set[c] = true
		}
	}
	cpus := make([]int, 0, len(set))
	for c := range set {
		cpus = append(cpus, c)
	}
	sort.Ints(cpus)
	var out []string
	for i := 0; i < len(cpus); {
		j := i
		for j+1 < len(cpus) && cpus[j+1] == cpus[j]+1 {
			j++
		}
		if j == i {
			out = append(out, strconv.Itoa(cpus[i]))
		} else {
			out = append(out, strconv.Itoa(cpus[i])+"-"+strconv.Itoa(cpus[j]))
		}
		i = j + 1
	}
	return strings.Join(out, ","), nil
}

func parseCPU(s string) (int, error) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') {
		return 0, errors.New("bad cpu")
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, errors.New("bad cpu")
		}
	}
	n, _ := strconv.Atoi(s)
	if n >= maxCPUs {
		return 0, errors.New("bad cpu")
	}
	return n, nil
}

// checkSandboxPath checks a path inside the sandbox: absolute, already clean, no "..", bounded.
func checkSandboxPath(p string) string {
	switch {
	case p == "":
		return "is empty"
	case strings.ContainsRune(p, 0):
		return "contains a NUL byte"
	case len(p) > 4095:
		return "is longer than 4095 bytes"
	case p[0] != '/':
		return fmt.Sprintf("%q is not absolute (it must start with /)", p)
	case strings.Contains("/"+p+"/", "/../"):
		return fmt.Sprintf("%q contains \"..\"", p)
	case path.Clean(p) != p:
		return fmt.Sprintf("%q is not clean (write %q)", p, path.Clean(p))
	}
	for _, c := range strings.Split(p[1:], "/") {
		if len(c) > 255 {
			return "has a component longer than 255 bytes"
		}
	}
	return ""
}

// under reports whether p is dir or inside it.
func under(p, dir string) bool {
	if dir == "/" {
		return true
	}
	return strings.HasPrefix(p, dir) && (len(p) == len(dir) || p[len(dir)] == '/')
}

func validHostname(h string) bool {
	if h == "" || len(h) > 64 {
		return false
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range label {
			if !(c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

func validEnvName(n string) bool {
	if n == "" || len(n) > 255 {
		return false
	}
	for i, c := range n {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || i > 0 && c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}
