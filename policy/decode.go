package policy

import (
	"fmt"
	"math"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Caps on list lengths. They are far above what a real policy needs and keep a hostile file from making
// the compiler or the launcher do unbounded work.
const (
	MaxMounts       = 256
	MaxMaskedPaths  = 256
	MaxRules        = 1024
	MaxRuleNames    = 1024
	MaxArgs         = 6
	MaxEnv          = 256
	MaxParams       = 64
	MaxTemplate     = 256
	MaxAllowedCmds  = 256
	MaxExtendsDepth = 8
	maxStringLen    = 4096
	maxContentLen   = 256 << 10
)

// Caps on values.
const (
	minMemory   = int64(1) << 20
	maxLimit    = int64(1) << 40 // 1 TiB, the largest memory/disk figure a policy may name
	maxPids     = 4194304        // the kernel's PID_MAX_LIMIT
	maxCPU      = 1024.0
	maxDuration = 7 * 24 * time.Hour
	maxNofile   = 1 << 20 // the kernel's default fs.nr_open
	minStack    = int64(16) << 10
	maxID       = int64(math.MaxUint32 - 1) // (uid_t)-1 means "no change" to the kernel
	maxErrno    = 4095
	maxArgLen   = 1 << 16
)

// decoder turns the syntax tree of one file into a Policy, recording every problem it finds.
type decoder struct {
	errs *problems
}

// field is one key an object accepts and what to do with its value.
type field struct {
	key string
	fn  func(v *node, path string)
}

// obj checks that n is an object and dispatches its members to fields; unknown keys are problems that list
// what is allowed. It returns false if n is not an object.
func (d *decoder) obj(n *node, path string, fields []field) bool {
	if n.kind != kindObject {
		d.errs.add(n, path, fmt.Sprintf("expected an object, got %s", n.kind))
		return false
	}
	for _, m := range n.obj {
		found := false
		for _, f := range fields {
			if f.key == m.key {
				f.fn(m.val, keyPath(path, m.key))
				found = true
				break
			}
		}
		if !found {
			keys := make([]string, len(fields))
			for i, f := range fields {
				keys[i] = f.key
			}
			d.errs.addAt(m.keyPos, keyPath(path, m.key), unknownMsg("field", m.key, keys))
		}
	}
	return true
}

// unknownMsg says a name is not allowed, suggests the closest allowed one, and lists them when few (limits has 18 fields).
func unknownMsg(what, got string, allowed []string) string {
	msg := fmt.Sprintf("unknown %s %s", what, strconv.Quote(got))
	if s := closest(got, allowed); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else if len(allowed) <= 24 {
		msg += " (allowed: " + strings.Join(allowed, ", ") + ")"
	}
	return msg
}

// closest returns the candidate within edit distance 2 of s (or differing only in case), if any.
func closest(s string, candidates []string) string {
	if len(s) > 64 {
		return ""
	}
	best, bestD := "", 3
	ls := strings.ToLower(s)
	for _, c := range candidates {
		// The edit distance is at least the difference in length: skip the computation when that alone
		// rules a candidate out, which keeps a file of thousands of unknown names cheap.
		if diff := len(c) - len(s); diff > 2 || diff < -2 {
			continue
		}
		d := editDistance(ls, strings.ToLower(c))
		if d < bestD {
			best, bestD = c, d
		}
	}
	if len(s) <= 2 && bestD > 0 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func (d *decoder) boolean(n *node, path string) Field[bool] {
	if n.kind != kindBool {
		d.errs.add(n, path, fmt.Sprintf("expected true or false, got %s", describe(n)))
		return Field[bool]{}
	}
	return set(n.b, n.pos)
}

func (d *decoder) str(n *node, path string, maxLen int) (Field[string], bool) {
	if n.kind != kindString {
		d.errs.add(n, path, fmt.Sprintf("expected a string, got %s", describe(n)))
		return Field[string]{}, false
	}
	if len(n.str) > maxLen {
		d.errs.add(n, path, fmt.Sprintf("is %d bytes long, over the limit of %d", len(n.str), maxLen))
		return Field[string]{}, false
	}
	if strings.ContainsRune(n.str, 0) {
		d.errs.add(n, path, "contains a NUL byte")
		return Field[string]{}, false
	}
	return set(n.str, n.pos), true
}

// describe names a value in an error: strings and numbers are quoted as written, so the author sees exactly
// what was rejected.
func describe(n *node) string {
	switch n.kind {
	case kindString:
		s := n.str
		if len(s) > 40 {
			s = s[:40] + "..."
		}
		return strconv.Quote(s)
	case kindNumber:
		return n.str
	case kindBool:
		return strconv.FormatBool(n.b)
	}
	return n.kind.String()
}

// intLiteral parses a JSON number that must be a plain integer ("1e3" and "1.0" are not).
func intLiteral(s string) (int64, bool) {
	if strings.ContainsAny(s, ".eE") {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil
}

func (d *decoder) integer(n *node, path string, lo, hi int64) Field[int64] {
	if n.kind != kindNumber {
		d.errs.add(n, path, fmt.Sprintf("expected an integer, got %s", describe(n)))
		return Field[int64]{}
	}
	v, ok := intLiteral(n.str)
	if !ok {
		d.errs.add(n, path, fmt.Sprintf("%s is not an integer in %d..%d", n.str, lo, hi))
		return Field[int64]{}
	}
	if v < lo || v > hi {
		d.errs.add(n, path, fmt.Sprintf("%s is out of range (allowed: %d..%d)", n.str, lo, hi))
		return Field[int64]{}
	}
	return set(v, n.pos)
}

// size reads a size within [lo, hi] bytes. why explains the lower bound in the error.
func (d *decoder) size(n *node, path string, lo, hi int64, why string) Field[int64] {
	var v int64
	switch n.kind {
	case kindNumber:
		iv, ok := intLiteral(n.str)
		if !ok || iv < 0 {
			d.errs.add(n, path, fmt.Sprintf("%s is not a size (use bytes as a non-negative integer, or e.g. \"256M\")", n.str))
			return Field[int64]{}
		}
		v = iv
	case kindString:
		sv, err := parseSizeString(n.str)
		if err == errSizeSyntax {
			d.errs.add(n, path, fmt.Sprintf("%s is not a size (use e.g. \"256M\"; units: K, M, G, T or KiB, MiB, GiB, TiB, all powers of 1024)", describe(n)))
			return Field[int64]{}
		}
		if err != nil {
			d.errs.add(n, path, fmt.Sprintf("%s %v", describe(n), err))
			return Field[int64]{}
		}
		v = sv
	default:
		d.errs.add(n, path, fmt.Sprintf("expected a size such as \"256M\" or an integer number of bytes, got %s", describe(n)))
		return Field[int64]{}
	}
	if v < lo {
		msg := fmt.Sprintf("%s is below the minimum of %s", describe(n), sizeText(lo))
		if why != "" {
			msg += " (" + why + ")"
		}
		d.errs.add(n, path, msg)
		return Field[int64]{}
	}
	if v > hi {
		d.errs.add(n, path, fmt.Sprintf("%s is above the maximum of %s", describe(n), sizeText(hi)))
		return Field[int64]{}
	}
	return set(v, n.pos)
}

func sizeText(v int64) string {
	if s, ok := formatSize(v).(string); ok {
		return s
	}
	return strconv.FormatInt(v, 10)
}

func (d *decoder) duration(n *node, path string, lo, hi time.Duration) Field[time.Duration] {
	var v time.Duration
	switch n.kind {
	case kindNumber:
		ms, ok := intLiteral(n.str)
		if !ok || ms < 0 || ms > int64(hi/time.Millisecond) {
			if ok && ms > 0 {
				d.errs.add(n, path, fmt.Sprintf("%s ms is above the maximum of %s", n.str, formatDuration(hi)))
			} else {
				d.errs.add(n, path, fmt.Sprintf("%s is not a duration (use milliseconds as a non-negative integer, or e.g. \"1.5s\")", n.str))
			}
			return Field[time.Duration]{}
		}
		v = time.Duration(ms) * time.Millisecond
	case kindString:
		dv, err := parseDurationString(n.str)
		if err == errDurationSyntax {
			d.errs.add(n, path, fmt.Sprintf("%s is not a duration (use e.g. \"1.5s\", \"2000ms\", \"1m\")", describe(n)))
			return Field[time.Duration]{}
		}
		if err != nil {
			d.errs.add(n, path, fmt.Sprintf("%s %v", describe(n), err))
			return Field[time.Duration]{}
		}
		v = dv
	default:
		d.errs.add(n, path, fmt.Sprintf("expected a duration such as \"1.5s\" or an integer number of milliseconds, got %s", describe(n)))
		return Field[time.Duration]{}
	}
	if v < lo {
		d.errs.add(n, path, fmt.Sprintf("%s is below the minimum of %s (omit the field for no limit)", describe(n), formatDuration(lo)))
		return Field[time.Duration]{}
	}
	if v > hi {
		d.errs.add(n, path, fmt.Sprintf("%s is above the maximum of %s", describe(n), formatDuration(hi)))
		return Field[time.Duration]{}
	}
	return set(v, n.pos)
}

// octal reads permission bits: an octal string ("0022") or an integer. An integer whose decimal digits
// are all octal digits (22, 755) is refused: the author almost certainly meant octal and would get
// something else.
func (d *decoder) octal(n *node, path string, hi uint32) Field[uint32] {
	var v uint32
	switch n.kind {
	case kindString:
		o, ok := parseOctalString(n.str)
		if !ok {
			d.errs.add(n, path, fmt.Sprintf("%s is not an octal mode (use e.g. \"%04o\")", describe(n), hi&0o755))
			return Field[uint32]{}
		}
		v = o
	case kindNumber:
		iv, ok := intLiteral(n.str)
		if !ok || iv < 0 || iv > 0o7777 {
			d.errs.add(n, path, fmt.Sprintf("%s is not a mode (use an octal string such as \"%04o\")", n.str, hi&0o755))
			return Field[uint32]{}
		}
		if iv >= 8 && strings.Trim(n.str, "01234567") == "" {
			d.errs.add(n, path, fmt.Sprintf("%s is ambiguous: as an integer it is octal %04o; write the octal string \"%04s\" if that is what you mean", n.str, iv, n.str))
			return Field[uint32]{}
		}
		v = uint32(iv)
	default:
		d.errs.add(n, path, fmt.Sprintf("expected an octal string such as \"%04o\", got %s", hi&0o755, describe(n)))
		return Field[uint32]{}
	}
	if v > hi {
		d.errs.add(n, path, fmt.Sprintf("%s is above the maximum of %04o", describe(n), hi))
		return Field[uint32]{}
	}
	return set(v, n.pos)
}

// array checks that n is an array of at most max elements and calls fn for each.
func (d *decoder) array(n *node, path string, max int, fn func(el *node, path string)) {
	if n.kind != kindArray {
		d.errs.add(n, path, fmt.Sprintf("expected an array, got %s", describe(n)))
		return
	}
	if len(n.arr) > max {
		d.errs.add(n, path, fmt.Sprintf("has %d entries, over the limit of %d", len(n.arr), max))
		return
	}
	for i, el := range n.arr {
		fn(el, indexPath(path, i))
	}
}

// uniqueStrings reads an array of strings, checking each with check (which returns a problem or "") and
// refusing duplicates.
func (d *decoder) uniqueStrings(n *node, path string, max, maxLen int, check func(string) string) []Field[string] {
	var out []Field[string]
	seen := map[string]Pos{}
	d.array(n, path, max, func(el *node, p string) {
		s, ok := d.str(el, p, maxLen)
		if !ok {
			return
		}
		// Once the report is full the policy is refused anyway; skip the checks (and their suggestions).
		if check != nil && d.errs.full() {
			d.errs.skip()
		} else if check != nil {
			if msg := check(s.Value); msg != "" {
				d.errs.add(el, p, msg)
				return
			}
		}
		if first, dup := seen[s.Value]; dup {
			d.errs.add(el, p, fmt.Sprintf("%q is listed twice (first at line %d:%d)", s.Value, first.Line, first.Col))
			return
		}
		seen[s.Value] = s.Pos
		out = append(out, s)
	})
	return out
}

// Parse parses one policy file. source names it in errors (a path or "builtin:NAME"); relative extends
// paths are later resolved against its directory. Parse checks syntax, types, units and ranges and
// everything that can be judged from this file alone; Compile resolves extends and checks the effective
// policy as a whole. The error is an *InvalidError listing every problem.
func Parse(data []byte, source string) (*Policy, error) {
	errs := &problems{}
	p := parse(data, source, errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return p, nil
}

func parse(data []byte, source string, errs *problems) *Policy {
	root := parseTree(data, source, errs)
	if root == nil {
		return nil
	}
	d := &decoder{errs: errs}
	p := &Policy{Source: source, Pos: root.pos, dir: filepath.Dir(source)}
	d.obj(root, "", []field{
		{"version", func(v *node, path string) {
			if v.kind != kindNumber {
				d.errs.add(v, path, fmt.Sprintf("expected an integer, got %s", describe(v)))
				return
			}
			// Any other number, 1.0 and 1e0 included, is answered with what is allowed: the integer range of
			// a generic integer would not help.
			if n, ok := intLiteral(v.str); !ok || n != 1 {
				d.errs.add(v, path, fmt.Sprintf("%s is not supported (this jailrun reads version 1)", v.str))
				return
			}
			p.Version = set(int64(1), v.pos)
		}},
		{"name", func(v *node, path string) {
			if f, ok := d.str(v, path, 64); ok {
				if !validName(f.Value) {
					d.errs.add(v, path, fmt.Sprintf("%s is not a valid name (letters, digits, '.', '_', '-'; at most 64)", describe(v)))
					return
				}
				p.Name = f
			}
		}},
		{"description", func(v *node, path string) {
			if f, ok := d.str(v, path, maxStringLen); ok {
				p.Description = f
			}
		}},
		{"extends", func(v *node, path string) {
			if v.kind == kindArray {
				if len(v.arr) == 0 {
					d.errs.add(v, path, "is an empty list (name at least one policy, or leave extends out)")
					return
				}
				p.Extends = d.uniqueStrings(v, path, MaxExtendsDepth, maxStringLen, checkExtends)
				return
			}
			if v.kind != kindString {
				d.errs.add(v, path, fmt.Sprintf("expected a policy name or file, or a list of them, got %s", describe(v)))
				return
			}
			if f, ok := d.str(v, path, maxStringLen); ok {
				if msg := checkExtends(f.Value); msg != "" {
					d.errs.add(v, path, msg)
					return
				}
				p.Extends = []Field[string]{f}
			}
		}},
		{"namespaces", func(v *node, path string) { d.namespaces(v, path, &p.Namespaces) }},
		{"network", func(v *node, path string) {
			d.obj(v, path, []field{
				{"loopback", func(v *node, path string) { p.Network.Loopback = d.boolean(v, path) }},
			})
		}},
		{"filesystem", func(v *node, path string) { d.filesystem(v, path, &p.Filesystem) }},
		{"limits", func(v *node, path string) { d.limits(v, path, &p.Limits) }},
		{"seccomp", func(v *node, path string) { p.Seccomp = d.seccomp(v, path) }},
		{"process", func(v *node, path string) { d.process(v, path, &p.Process) }},
		{"command", func(v *node, path string) { p.Command = d.command(v, path) }},
		{"require", func(v *node, path string) {
			d.obj(v, path, []field{
				{"best_effort", func(v *node, path string) {
					p.Require.BestEffort = d.uniqueStrings(v, path, 64, 64, func(s string) string {
						if !bestEffortPaths[s] {
							msg := fmt.Sprintf("%q is not a setting that may be skipped (allowed: %s)", s, bestEffortHelp())
							if c := closest(s, bestEffortList()); c != "" {
								msg = fmt.Sprintf("%q is not a setting that may be skipped (did you mean %q?)", s, c)
							}
							return msg
						}
						return ""
					})
				}},
			})
		}},
	})
	if root.member("version") == nil {
		d.errs.addAt(root.pos, "version", "required (write \"version\": 1)")
	}
	return p
}

func validName(s string) bool {
	if s == "" || len(s) > 64 || s[0] == '.' || s[0] == '-' {
		return false
	}
	for _, c := range s {
		if !(c == '.' || c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// isBuiltinRef reports whether an extends or --policy value names a built-in policy rather than a file.
func isBuiltinRef(s string) bool {
	return !strings.Contains(s, "/") && !strings.HasSuffix(s, ".json")
}

func checkExtends(s string) string {
	switch {
	case s == "":
		return "is empty (name a built-in policy such as \"strict\" or a file relative to this one)"
	case isBuiltinRef(s):
		if !validName(s) {
			return fmt.Sprintf("%q is not a built-in policy name", s)
		}
	case filepath.IsAbs(s):
		return fmt.Sprintf("%q is absolute; use a built-in name or a path relative to this file, so that the policy means the same on every host", s)
	}
	return ""
}

// bestEffortPaths are the settings an operator may allow to be skipped when the host cannot enforce them:
// every namespace kind, every cgroup limit and every sysctl ceiling of limits.kernel (see init below).
// Everything else a policy asks for is always required.
var bestEffortPaths = map[string]bool{
	"namespaces": true, "network.loopback": true, "limits": true, "seccomp": true, "limits.kernel": true,
}

func init() {
	for _, k := range NamespaceKinds {
		bestEffortPaths[k.Setting()] = true
	}
	for _, c := range CgroupLimits {
		bestEffortPaths[c.Setting()] = true
	}
	for _, k := range KernelLimits {
		if k.Sysctl != "" {
			bestEffortPaths["limits.kernel."+k.Name] = true
		}
	}
}

// bestEffortHelp is the allowed list as the refusal of an unknown entry spells it.
func bestEffortHelp() string {
	names := make([]string, 0, len(CgroupLimits)+2)
	for _, c := range CgroupLimits {
		names = append(names, c.Name)
	}
	names = append(names, "kernel", "kernel.NAME")
	return "namespaces, namespaces.KIND, network.loopback, limits, limits.{" + strings.Join(names, ",") + "}, seccomp"
}

func bestEffortList() []string {
	out := make([]string, 0, len(bestEffortPaths))
	for k := range bestEffortPaths {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (d *decoder) namespaces(n *node, path string, ns *NamespacesSpec) {
	fields := make([]field, 0, len(NamespaceKinds))
	for _, k := range NamespaceKinds {
		fields = append(fields, field{k.Name, func(v *node, path string) { *k.spec(ns) = d.boolean(v, path) }})
	}
	d.obj(n, path, fields)
}

func (d *decoder) filesystem(n *node, path string, fs *FilesystemSpec) {
	d.obj(n, path, []field{
		{"mounts", func(v *node, path string) {
			d.array(v, path, MaxMounts, func(el *node, p string) {
				if m, ok := d.mount(el, p); ok {
					fs.Mounts = append(fs.Mounts, m)
				}
			})
			// Two mounts at the same place in one file: the first would be hidden by the second.
			seen := map[string]Pos{}
			for _, m := range fs.Mounts {
				if first, dup := seen[m.Dst.Value]; dup && m.Dst.Set {
					d.errs.addAt(m.Dst.Pos, m.path+".dst", fmt.Sprintf("two mounts at %q (first at line %d:%d); the first would be hidden", m.Dst.Value, first.Line, first.Col))
				}
				seen[m.Dst.Value] = m.Dst.Pos
			}
		}},
		{"workdir", func(v *node, path string) {
			if f, ok := d.str(v, path, maxStringLen); ok {
				if msg := checkSandboxPath(f.Value); msg != "" {
					d.errs.add(v, path, msg)
					return
				}
				fs.Workdir = f
			}
		}},
		{"landlock", func(v *node, path string) {
			if f, ok := d.str(v, path, 16); ok {
				switch m := LandlockMode(f.Value); m {
				case LandlockAuto, LandlockRequire, LandlockOff:
					fs.Landlock = set(m, f.Pos)
				default:
					d.errs.add(v, path, unknownMsg("landlock mode", f.Value, landlockModes))
				}
			}
		}},
		{"cgroup_view", func(v *node, path string) { fs.CgroupView = d.boolean(v, path) }},
		{"masked_paths", func(v *node, path string) {
			fs.MaskedPaths = d.uniqueStrings(v, path, MaxMaskedPaths, maxStringLen, func(s string) string {
				if msg := checkSandboxPath(s); msg != "" {
					return msg
				}
				if s == "/" {
					return "cannot mask \"/\""
				}
				return ""
			})
		}},
	})
}

var mountKinds = []string{"bind", "tmpfs", "file", "proc", "dev"}

var landlockModes = []string{"auto", "require", "off"}

func (d *decoder) mount(n *node, path string) (MountSpec, bool) {
	m := MountSpec{Pos: n.pos, path: path}
	if n.kind != kindObject {
		d.errs.add(n, path, fmt.Sprintf("expected a mount object such as {\"type\": \"bind\", ...}, got %s", describe(n)))
		return m, false
	}
	tn := n.member("type")
	if tn == nil {
		d.errs.add(n, path+".type", "required (one of: "+strings.Join(mountKinds, ", ")+")")
		return m, false
	}
	tf, ok := d.str(tn, path+".type", 16)
	if !ok {
		return m, false
	}
	kind := MountKind(tf.Value)
	switch kind {
	case MountBind, MountTmpfs, MountFile, MountProc, MountDev:
	default:
		d.errs.add(tn, path+".type", unknownMsg("mount type", tf.Value, mountKinds))
		return m, false
	}
	m.Type = set(kind, tf.Pos)
	b := func(dst *Field[bool]) field {
		return field{"", func(v *node, path string) { *dst = d.boolean(v, path) }}
	}
	named := func(key string, f field) field { f.key = key; return f }
	fields := []field{
		{"type", func(*node, string) {}},
		{"dst", func(v *node, path string) {
			if f, ok := d.str(v, path, maxStringLen); ok {
				if msg := checkSandboxPath(f.Value); msg != "" {
					d.errs.add(v, path, msg)
					return
				}
				if f.Value == "/" {
					d.errs.add(v, path, "cannot mount over \"/\" (the root is jailrun's own empty tmpfs)")
					return
				}
				m.Dst = f
			}
		}},
		{"comment", func(v *node, path string) {
			if f, ok := d.str(v, path, maxStringLen); ok {
				m.Comment = f
			}
		}},
	}
	switch kind {
	case MountBind:
		fields = append(fields,
			field{"src", func(v *node, path string) {
				if f, ok := d.str(v, path, maxStringLen); ok {
					if msg := checkSandboxPath(f.Value); msg != "" {
						d.errs.add(v, path, strings.Replace(msg, "absolute (it must start with /)", "an absolute host path", 1))
						return
					}
					m.Src = f
				}
			}},
			named("readonly", b(&m.ReadOnly)), named("optional", b(&m.Optional)),
			named("nosuid", b(&m.NoSuid)), named("nodev", b(&m.NoDev)), named("noexec", b(&m.NoExec)),
			named("landlock", b(&m.Landlock)))
	case MountTmpfs:
		fields = append(fields,
			field{"size", func(v *node, path string) {
				m.Size = d.size(v, path, 4096, maxLimit, "one page; a size of 0 would mean the kernel default of half the RAM")
			}},
			field{"inodes", func(v *node, path string) { m.Inodes = d.integer(v, path, 1, math.MaxUint32) }},
			field{"mode", func(v *node, path string) { m.Mode = d.octal(v, path, 0o7777) }},
			named("readonly", b(&m.ReadOnly)),
			named("nosuid", b(&m.NoSuid)), named("nodev", b(&m.NoDev)), named("noexec", b(&m.NoExec)))
	case MountFile:
		fields = append(fields,
			field{"content", func(v *node, path string) {
				if f, ok := d.str(v, path, maxContentLen); ok {
					m.Content = f
				}
			}},
			field{"mode", func(v *node, path string) { m.Mode = d.octal(v, path, 0o7777) }},
			named("readonly", b(&m.ReadOnly)))
	case MountDev:
		fields = append(fields, named("pts", b(&m.Pts)))
	}
	d.obj(n, path, fields)

	required := map[MountKind][]string{
		MountBind: {"src", "dst"}, MountTmpfs: {"dst"}, MountFile: {"dst", "content"},
		MountProc: {"dst"}, MountDev: {"dst"},
	}
	for _, k := range required[kind] {
		if n.member(k) == nil {
			d.errs.add(n, path+"."+k, fmt.Sprintf("required for a %s mount", kind))
		}
	}
	if !m.Dst.Set {
		return m, false
	}
	dst := m.Dst.Value
	switch kind {
	case MountProc:
		if dst != "/proc" {
			d.errs.addAt(m.Dst.Pos, path+".dst", "a proc mount must be at \"/proc\"")
		}
	case MountDev:
		if dst != "/dev" {
			d.errs.addAt(m.Dst.Pos, path+".dst", "a dev mount must be at \"/dev\"")
		}
	default:
		// Anything over /proc or /sys could hide masked paths or expose kernel knobs.
		for _, k := range []string{"/proc", "/sys"} {
			if under(dst, k) {
				d.errs.addAt(m.Dst.Pos, path+".dst", fmt.Sprintf("cannot put a %s mount at or under %s (%q)", kind, k, dst))
			}
		}
	}
	return m, true
}

func (d *decoder) limits(n *node, path string, l *LimitsSpec) {
	sz := func(dst *Field[int64], lo, hi int64, why string) func(*node, string) {
		return func(v *node, path string) { *dst = d.size(v, path, lo, hi, why) }
	}
	dur := func(dst *Field[time.Duration], lo time.Duration) func(*node, string) {
		return func(v *node, path string) { *dst = d.duration(v, path, lo, maxDuration) }
	}
	d.obj(n, path, append(d.cgroupLimitFields(l), []field{
		{"wall_time", dur(&l.WallTime, time.Millisecond)},
		{"extra_time", dur(&l.ExtraTime, 0)},
		{"kill_grace", func(v *node, path string) { l.KillGrace = d.duration(v, path, 0, MaxKillGrace) }},
		{"output", func(v *node, path string) {
			o := &l.Output
			d.obj(v, path, []field{
				{"stdout", sz(&o.Stdout, 1, maxLimit, "omit it for no limit")},
				{"stderr", sz(&o.Stderr, 1, maxLimit, "omit it for no limit")},
				{"total", sz(&o.Total, 1, maxLimit, "omit it for no limit")},
			})
		}},
		{"open_files", func(v *node, path string) { l.OpenFiles = d.integer(v, path, 1, maxNofile) }},
		{"file_size", sz(&l.FileSize, 0, maxSizeValue, "")},
		{"stack", sz(&l.Stack, minStack, maxLimit, "")},
		{"core", sz(&l.Core, 0, maxLimit, "")},
		{"address_space", sz(&l.AddressSpace, minMemory, maxSizeValue, "")},
		{"kernel", func(v *node, path string) { d.kernelLimits(v, path, &l.Kernel) }},
	}...))
}

func (d *decoder) process(n *node, path string, pr *ProcessSpec) {
	d.obj(n, path, []field{
		{"uid", func(v *node, path string) { pr.UID = d.integer(v, path, 0, maxID) }},
		{"gid", func(v *node, path string) { pr.GID = d.integer(v, path, 0, maxID) }},
		{"env", func(v *node, path string) { d.env(v, path, &pr.Env) }},
		{"hostname", func(v *node, path string) {
			if f, ok := d.str(v, path, 256); ok {
				if !validHostname(f.Value) {
					d.errs.add(v, path, fmt.Sprintf("%s is not a valid hostname (letters, digits, '-' and '.', at most 64)", describe(v)))
					return
				}
				pr.Hostname = f
			}
		}},
		{"umask", func(v *node, path string) { pr.Umask = d.octal(v, path, 0o777) }},
		{"no_new_privs", func(v *node, path string) { pr.NoNewPrivs = d.boolean(v, path) }},
		{"unsafe", func(v *node, path string) { pr.Unsafe = d.boolean(v, path) }},
	})
}

func (d *decoder) env(n *node, path string, e *EnvSpec) {
	checkName := func(s string) string {
		if !validEnvName(s) {
			return fmt.Sprintf("%q is not a valid variable name (letters, digits and '_', not starting with a digit)", s)
		}
		return ""
	}
	d.obj(n, path, []field{
		{"allow", func(v *node, path string) { e.Allow = d.uniqueStrings(v, path, MaxEnv, 256, checkName) }},
		{"set", func(v *node, path string) {
			if v.kind != kindObject {
				d.errs.add(v, path, fmt.Sprintf("expected an object of NAME: value, got %s", describe(v)))
				return
			}
			if len(v.obj) > MaxEnv {
				d.errs.add(v, path, fmt.Sprintf("has %d entries, over the limit of %d", len(v.obj), MaxEnv))
				return
			}
			for _, m := range v.obj {
				p := keyPath(path, m.key)
				if msg := checkName(m.key); msg != "" {
					d.errs.addAt(m.keyPos, p, msg)
					continue
				}
				if f, ok := d.str(m.val, p, 32<<10); ok {
					e.Set = append(e.Set, EnvVar{Name: m.key, NamePos: m.keyPos, Value: f})
				}
			}
		}},
	})
	for _, a := range e.Allow {
		for _, s := range e.Set {
			if a.Value == s.Name {
				d.errs.addAt(a.Pos, path+".allow", fmt.Sprintf("%q is both allowed from the caller and set to a fixed value (line %d:%d); choose one", a.Value, s.NamePos.Line, s.NamePos.Col))
			}
		}
	}
}
