package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Override is one setting an operator puts on top of a policy for one run: jailrun's --memory, --bind,
// --env ... flags, and the layer other front ends (an isolate-compatible command, a service) build on.
// Key is one of OverrideSpecs' keys; Value is written as on jailrun's command line (OverrideSpecs says how).
//
// Unlike sandbox.Tighten, an override may loosen the policy: it comes from whoever runs jailrun, who owns
// the host. Each value goes through the same decoder and the same whole-policy checks as a policy file, so
// a value a policy file could not hold is refused with the same message.
type Override struct {
	Key, Value string
	// Flag names the override in errors (e.g. "--memory"); "--" + Key when empty.
	Flag string
}

// OverrideSpec describes one override key: the one list that ApplyOverrides, jailrun run's flags and
// their help read.
type OverrideSpec struct {
	Key string
	// Arg is how the value is written ("SIZE", "SRC:DST[:ro]"); Usage is the flag's help.
	Arg, Usage string
	// CLI: jailrun run offers it as --KEY (the others are for front ends such as jailrun isolate).
	CLI bool
	// limit is the field under "limits" a limit override sets ("" for the others); number says a policy
	// writes it as a JSON number.
	limit  string
	number bool
}

// OverrideSpecs lists the keys ApplyOverrides accepts.
var OverrideSpecs = []OverrideSpec{
	{Key: "memory", Arg: "SIZE", CLI: true, limit: "memory", Usage: "memory limit of the whole sandbox, e.g. 256M (limits.memory)"},
	{Key: "cpu-time", Arg: "DURATION", CLI: true, limit: "cpu_time", Usage: "CPU time limit, e.g. 2s (limits.cpu_time)"},
	{Key: "wall-time", Arg: "DURATION", CLI: true, limit: "wall_time", Usage: "wall-clock limit, e.g. 10s (limits.wall_time)"},
	{Key: "extra-time", Arg: "DURATION", limit: "extra_time", Usage: "grace after the time limits before the kill (limits.extra_time)"},
	{Key: "pids", Arg: "N", CLI: true, limit: "pids", number: true, Usage: "maximum number of tasks in the sandbox (limits.pids)"},
	{Key: "open-files", Arg: "N", limit: "open_files", number: true, Usage: "maximum open files per process (limits.open_files)"},
	{Key: "file-size", Arg: "SIZE", limit: "file_size", Usage: "largest file the sandbox may write (limits.file_size)"},
	{Key: "stack", Arg: "SIZE", limit: "stack", Usage: "stack size limit (limits.stack)"},
	{Key: "bind", Arg: "SRC:DST[:ro]", CLI: true, Usage: "bind host SRC at DST inside, writable unless :ro (repeatable)"},
	{Key: "tmpfs", Arg: "DST[:SIZE]", CLI: true, Usage: "a writable tmpfs at DST, " + DefaultOverrideTmpfsSize + " unless SIZE (repeatable)"},
	{Key: "env", Arg: "NAME=VALUE", CLI: true, Usage: "set an environment variable inside (repeatable)"},
	{Key: "chdir", Arg: "DIR", CLI: true, Usage: "working directory inside the sandbox (filesystem.workdir)"},
}

// OverrideKeys lists the keys ApplyOverrides accepts (OverrideSpecs' keys).
var OverrideKeys = func() []string {
	keys := make([]string, len(OverrideSpecs))
	for i, o := range OverrideSpecs {
		keys[i] = o.Key
	}
	return keys
}()

func overrideSpec(key string) (OverrideSpec, bool) {
	for _, o := range OverrideSpecs {
		if o.Key == key {
			return o, true
		}
	}
	return OverrideSpec{}, false
}

// DefaultOverrideTmpfsSize is the size of a tmpfs override that names none.
const DefaultOverrideTmpfsSize = "64M"

// ApplyOverrides returns a copy of s with the overrides applied in order, as if they were a policy that
// extends s: a limit replaces the policy's, a mount at the same place as one of the policy's replaces it in
// place (others are added after the policy's), an env variable replaces the policy's value of that name.
// The result is checked as a whole like any policy (a bind over /proc, a mount hiding another, a value out
// of range: an *InvalidError naming the flag, matching ErrInvalid), its SHA256 is the digest of the new
// effective policy, and its Overrides list what was applied, for the run's result.
//
// s must come from Compile (Load, Builtin, Resolve, or an earlier ApplyOverrides) and not have been
// modified since: the overrides are merged into the effective policy s was compiled from.
func ApplyOverrides(s *Settings, list []Override) (*Settings, error) {
	if s == nil || len(s.canonical) == 0 || digest(s.canonical) != s.SHA256 {
		return nil, &InvalidError{Problems: []Problem{{Msg: "overrides need a policy as compiled by policy.Compile, Load or Builtin, unmodified (apply them before sandbox.Tighten)"}}}
	}
	if len(list) == 0 {
		return s.Clone(), nil
	}
	errs := &problems{}
	layer := &Policy{Source: s.Source}
	d := &decoder{errs: errs}
	var applied []string
	for _, o := range list {
		flag := o.Flag
		if flag == "" {
			flag = "--" + o.Key
		}
		pos := Pos{File: flag}
		str := func(v string) *node { return &node{kind: kindString, str: v, pos: pos} }
		if lim, ok := overrideSpec(o.Key); ok && lim.limit != "" {
			if decodeLimitOverride(d, lim, o.Value, pos, &layer.Limits) {
				applied = append(applied, fmt.Sprintf("limits.%s=%s", lim.limit, o.Value))
			}
			continue
		}
		switch o.Key {
		case "bind", "tmpfs":
			mn, desc, msg := mountNode(o.Key, o.Value, pos)
			if msg != "" {
				errs.addAt(pos, "filesystem.mounts", msg)
				continue
			}
			n := len(errs.list)
			m, ok := d.mount(mn, "filesystem.mounts")
			if !ok || len(errs.list) != n {
				continue
			}
			replaced := false
			for i := range layer.Filesystem.Mounts {
				if layer.Filesystem.Mounts[i].Dst.Value == m.Dst.Value {
					layer.Filesystem.Mounts[i], replaced = m, true
				}
			}
			if !replaced {
				layer.Filesystem.Mounts = append(layer.Filesystem.Mounts, m)
			}
			applied = append(applied, "filesystem.mounts+="+desc)
		case "env":
			name, value, ok := strings.Cut(o.Value, "=")
			if !ok {
				errs.addAt(pos, "process.env.set", fmt.Sprintf("%q: want NAME=VALUE", shortText(o.Value)))
				continue
			}
			var env EnvSpec
			n := len(errs.list)
			d.env(&node{kind: kindObject, pos: pos, obj: []member{{key: "set", keyPos: pos, val: &node{kind: kindObject, pos: pos,
				obj: []member{{key: name, keyPos: pos, val: str(value)}}}}}}, "process.env", &env)
			if len(errs.list) != n {
				continue
			}
			set := layer.Process.Env.Set[:0:0]
			for _, v := range layer.Process.Env.Set {
				if v.Name != name {
					set = append(set, v)
				}
			}
			layer.Process.Env.Set = append(set, env.Set...)
			// The value is not listed: an operator's token must not end up in every result file.
			applied = append(applied, "process.env.set."+name)
		case "chdir":
			var fs FilesystemSpec
			n := len(errs.list)
			d.filesystem(&node{kind: kindObject, pos: pos, obj: []member{{key: "workdir", keyPos: pos, val: str(o.Value)}}}, "filesystem", &fs)
			if len(errs.list) == n {
				layer.Filesystem.Workdir = fs.Workdir
				applied = append(applied, "filesystem.workdir="+o.Value)
			}
		default:
			errs.addAt(pos, "", unknownMsg("override", o.Key, OverrideKeys))
		}
	}
	if err := errs.err(); err != nil {
		return nil, err
	}

	base, err := Parse(s.canonical, s.Source)
	if err != nil {
		return nil, err
	}
	m := merge(base, layer)
	m.Name, m.Description, m.Version, m.Source, m.Pos = base.Name, base.Description, base.Version, base.Source, base.Pos
	// A variable the operator fixes is no longer taken from the caller's environment.
	for _, v := range layer.Process.Env.Set {
		allow := m.Process.Env.Allow[:0:0]
		for _, a := range m.Process.Env.Allow {
			if a.Value != v.Name {
				allow = append(allow, a)
			}
		}
		m.Process.Env.Allow = allow
	}
	e := withDefaults(m)
	validate(e, errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	out, err := build(e)
	if err != nil {
		return nil, err
	}
	out.Overrides = append(append([]string(nil), s.Overrides...), applied...)
	return out.Clone(), nil
}

// mountNode turns a --bind or --tmpfs value into the mount object a policy file would hold, and describes
// it for the result. A problem with the value's shape is returned as msg.
func mountNode(key, value string, pos Pos) (n *node, desc, msg string) {
	str := func(v string) *node { return &node{kind: kindString, str: v, pos: pos} }
	boolean := func(b bool) *node { return &node{kind: kindBool, b: b, pos: pos} }
	obj := &node{kind: kindObject, pos: pos}
	add := func(k string, v *node) { obj.obj = append(obj.obj, member{key: k, keyPos: pos, val: v}) }
	parts := strings.Split(value, ":")
	switch key {
	case "bind":
		ro := false
		if len(parts) == 3 {
			switch parts[2] {
			case "ro":
				ro = true
			case "rw":
			default:
				return nil, "", fmt.Sprintf("%q: the option after the second ':' must be ro or rw", shortText(value))
			}
			parts = parts[:2]
		}
		if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
			return nil, "", fmt.Sprintf("%q: want SRC:DST or SRC:DST:ro (host path, then the path inside)", shortText(value))
		}
		add("type", str("bind"))
		add("src", str(parts[0]))
		add("dst", str(parts[1]))
		add("readonly", boolean(ro))
		mode := "rw"
		if ro {
			mode = "ro"
		}
		return obj, fmt.Sprintf("bind:%s:%s:%s", parts[0], parts[1], mode), ""
	default: // tmpfs
		size := DefaultOverrideTmpfsSize
		switch {
		case len(parts) == 2 && parts[1] != "":
			size = parts[1]
		case len(parts) != 1 || parts[0] == "":
			return nil, "", fmt.Sprintf("%q: want DST or DST:SIZE (e.g. /work:256M)", shortText(value))
		}
		add("type", str("tmpfs"))
		add("dst", str(parts[0]))
		add("size", str(size))
		return obj, fmt.Sprintf("tmpfs:%s:%s", parts[0], size), ""
	}
}

// shortText keeps a hostile value from making a megabyte-long error line.
func shortText(s string) string {
	if len(s) <= 64 {
		return s
	}
	return fmt.Sprintf("%.64s... (%d bytes)", s, len(s))
}

// Canonical is the canonical JSON of the effective policy s was compiled from (after extends, defaults and
// overrides; SHA256 is its digest), for tools that print it; nil if s was not made by Compile.
func (s *Settings) Canonical() []byte { return append([]byte(nil), s.canonical...) }

// CheckLimit says why v cannot be the limit field ("memory", "cpu_time", "output.stdout", ...: a path
// under "limits") in a policy file, in the policy language's own words ("1024 is below the minimum of 1M"),
// or "" when it could be. It is how limits set outside a policy file — sandbox.Tighten's overrides, the
// service's — get the same ranges as a policy file, from the same decoder. v is an int64 (bytes or a
// count), a float64 (cores) or a time.Duration.
func CheckLimit(field string, v any) string {
	pos := Pos{File: "override"}
	var val *node
	switch x := v.(type) {
	case int64:
		val = &node{kind: kindNumber, str: strconv.FormatInt(x, 10), pos: pos}
	case float64:
		val = &node{kind: kindNumber, str: strconv.FormatFloat(x, 'g', -1, 64), pos: pos}
	case time.Duration:
		if x >= 0 && x%time.Millisecond == 0 {
			val = &node{kind: kindNumber, str: strconv.FormatInt(int64(x/time.Millisecond), 10), pos: pos}
		} else {
			val = &node{kind: kindString, str: x.String(), pos: pos}
		}
	default:
		return fmt.Sprintf("%v is not a limit value", v)
	}
	parts := strings.Split(field, ".")
	for i := len(parts) - 1; i >= 0; i-- {
		val = &node{kind: kindObject, pos: pos, obj: []member{{key: parts[i], keyPos: pos, val: val}}}
	}
	errs := &problems{}
	d := &decoder{errs: errs}
	d.limits(val, "limits", &LimitsSpec{})
	if len(errs.list) == 0 {
		return ""
	}
	return errs.list[0].Msg
}

// decodeLimitOverride decodes the value of a limit override into l as a policy file's limits would be,
// reporting whether it was accepted.
func decodeLimitOverride(d *decoder, lim OverrideSpec, value string, pos Pos, l *LimitsSpec) bool {
	v := &node{kind: kindString, str: value, pos: pos}
	if lim.number {
		v.kind = kindNumber
		if _, isInt := intLiteral(value); !isInt || strings.ContainsAny(value, "+ ") {
			d.errs.addAt(pos, "limits."+lim.limit, fmt.Sprintf("%q is not an integer", value))
			return false
		}
	}
	n := len(d.errs.list)
	d.limits(&node{kind: kindObject, pos: pos, obj: []member{{key: lim.limit, keyPos: pos, val: v}}}, "limits", l)
	return len(d.errs.list) == n
}

// LimitValue decodes a limit override (--memory 64M, --wall-time 2s: an OverrideSpecs key with a limit)
// exactly as ApplyOverrides would, without a policy to apply it to: it returns the field under "limits"
// and the value, an int64 (bytes or a count) or a time.Duration. A refusal is the *InvalidError
// ApplyOverrides would give. jailrun's client mode uses it to send the override to a server, whose policy
// it must then tighten.
func LimitValue(o Override) (field string, v any, err error) {
	lim, ok := overrideSpec(o.Key)
	if !ok || lim.limit == "" {
		return "", nil, fmt.Errorf("policy: %q is not a limit override", o.Key)
	}
	flag := o.Flag
	if flag == "" {
		flag = "--" + o.Key
	}
	errs := &problems{}
	var l LimitsSpec
	if !decodeLimitOverride(&decoder{errs: errs}, lim, o.Value, Pos{File: flag}, &l) {
		return "", nil, errs.err()
	}
	switch lim.limit {
	case "memory":
		v = l.Memory.Value
	case "pids":
		v = l.Pids.Value
	case "open_files":
		v = l.OpenFiles.Value
	case "file_size":
		v = l.FileSize.Value
	case "stack":
		v = l.Stack.Value
	case "cpu_time":
		v = l.CPUTime.Value
	case "wall_time":
		v = l.WallTime.Value
	case "extra_time":
		v = l.ExtraTime.Value
	default:
		return "", nil, fmt.Errorf("policy: no value for limit override %q", o.Key)
	}
	return lim.limit, v, nil
}
