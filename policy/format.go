package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"sort"
	"strconv"
	"strings"
)

// Format renders p as canonical JSON: keys in the documented order, units in canonical form (sizes with
// the largest exact binary suffix, durations with the largest exact unit, modes as 4-digit octal
// strings), unset fields omitted, and a short object or array on one line when it fits in 120 columns.
// Parse(Format(p)) formats to the same bytes: the form is a fixed point.
func Format(p *Policy) ([]byte, error) {
	if p == nil {
		return nil, errors.New("policy: Format of a nil policy")
	}
	var b bytes.Buffer
	render(&b, toJSON(p), 0, 0, true)
	b.WriteByte('\n')
	return b.Bytes(), nil
}

type jkv struct {
	k string
	v any
}

// jobj is an ordered object; jarr an array; jraw a number literal written as is. Other values are string,
// int64, bool.
type (
	jobj []jkv
	jarr []any
	jraw string
)

func (o *jobj) add(k string, v any) { *o = append(*o, jkv{k, v}) }

func addB(o *jobj, k string, f Field[bool]) {
	if f.Set {
		o.add(k, f.Value)
	}
}

func addS(o *jobj, k string, f Field[string]) {
	if f.Set {
		o.add(k, f.Value)
	}
}

func addI(o *jobj, k string, f Field[int64]) {
	if f.Set {
		o.add(k, f.Value)
	}
}

func addSize(o *jobj, k string, f Field[int64]) {
	if f.Set {
		o.add(k, formatSize(f.Value))
	}
}

func addObj(o *jobj, k string, v jobj) {
	if len(v) > 0 {
		o.add(k, v)
	}
}

func strs(fs []Field[string]) jarr {
	a := make(jarr, len(fs))
	for i, f := range fs {
		a[i] = f.Value
	}
	return a
}

func addList(o *jobj, k string, fs []Field[string]) {
	if len(fs) > 0 {
		o.add(k, strs(fs))
	}
}

func toJSON(p *Policy) jobj {
	var o jobj
	addI(&o, "version", p.Version)
	addS(&o, "name", p.Name)
	addS(&o, "description", p.Description)
	switch len(p.Extends) {
	case 0:
	case 1:
		addS(&o, "extends", p.Extends[0])
	default:
		addList(&o, "extends", p.Extends)
	}

	var ns jobj
	n := p.Namespaces
	for _, k := range NamespaceKinds {
		addB(&ns, k.Name, *k.spec(&n))
	}
	addObj(&o, "namespaces", ns)

	var net jobj
	addB(&net, "loopback", p.Network.Loopback)
	addObj(&o, "network", net)

	var fs jobj
	if len(p.Filesystem.Mounts) > 0 {
		mounts := make(jarr, len(p.Filesystem.Mounts))
		for i, m := range p.Filesystem.Mounts {
			mounts[i] = mountJSON(m)
		}
		fs.add("mounts", mounts)
	}
	addS(&fs, "workdir", p.Filesystem.Workdir)
	addList(&fs, "masked_paths", p.Filesystem.MaskedPaths)
	if l := p.Filesystem.Landlock; l.Set {
		fs.add("landlock", string(l.Value))
	}
	addB(&fs, "cgroup_view", p.Filesystem.CgroupView)
	addObj(&o, "filesystem", fs)

	var lim jobj
	l := p.Limits
	for _, c := range CgroupLimits {
		c.format(&lim, l)
	}
	if l.WallTime.Set {
		lim.add("wall_time", formatDuration(l.WallTime.Value))
	}
	if l.ExtraTime.Set {
		lim.add("extra_time", formatDuration(l.ExtraTime.Value))
	}
	if l.KillGrace.Set {
		lim.add("kill_grace", formatDuration(l.KillGrace.Value))
	}
	var out jobj
	addSize(&out, "stdout", l.Output.Stdout)
	addSize(&out, "stderr", l.Output.Stderr)
	addSize(&out, "total", l.Output.Total)
	addObj(&lim, "output", out)
	addI(&lim, "open_files", l.OpenFiles)
	addSize(&lim, "file_size", l.FileSize)
	addSize(&lim, "stack", l.Stack)
	addSize(&lim, "core", l.Core)
	addSize(&lim, "address_space", l.AddressSpace)
	formatKernelLimits(&lim, l.Kernel)
	addObj(&o, "limits", lim)

	if s := p.Seccomp; s != nil {
		var sc jobj
		if s.DefaultAction.Set {
			sc.add("default_action", s.DefaultAction.Value.Text)
		}
		if s.UnknownSyscalls.Set {
			sc.add("unknown_syscalls", s.UnknownSyscalls.Value.Text)
		}
		if len(s.Rules) > 0 {
			rules := make(jarr, len(s.Rules))
			for i, r := range s.Rules {
				rules[i] = ruleJSON(r)
			}
			sc.add("rules", rules)
		}
		o.add("seccomp", sc)
	}

	var pr jobj
	ps := p.Process
	addI(&pr, "uid", ps.UID)
	addI(&pr, "gid", ps.GID)
	var env jobj
	addList(&env, "allow", ps.Env.Allow)
	if len(ps.Env.Set) > 0 {
		vars := append([]EnvVar(nil), ps.Env.Set...)
		sort.Slice(vars, func(i, j int) bool { return vars[i].Name < vars[j].Name })
		var set jobj
		for _, v := range vars {
			set.add(v.Name, v.Value.Value)
		}
		env.add("set", set)
	}
	addObj(&pr, "env", env)
	addS(&pr, "hostname", ps.Hostname)
	if ps.Umask.Set {
		pr.add("umask", formatOctal(ps.Umask.Value))
	}
	addB(&pr, "no_new_privs", ps.NoNewPrivs)
	addB(&pr, "unsafe", ps.Unsafe)
	addObj(&o, "process", pr)

	if c := p.Command; c != nil {
		var cmd jobj
		addList(&cmd, "template", c.Template)
		if len(c.Params) > 0 {
			params := append([]ParamSpec(nil), c.Params...)
			sort.Slice(params, func(i, j int) bool { return params[i].Name < params[j].Name })
			var po jobj
			for _, pa := range params {
				var one jobj
				if pa.Type.Set {
					one.add("type", string(pa.Type.Value))
				}
				addS(&one, "under", pa.Under)
				addB(&one, "allow_dash", pa.AllowDash)
				addI(&one, "max_len", pa.MaxLen)
				po.add(pa.Name, one)
			}
			cmd.add("params", po)
		}
		addList(&cmd, "allowed_commands", c.AllowedCommands)
		o.add("command", cmd)
	}

	var req jobj
	addList(&req, "best_effort", p.Require.BestEffort)
	addObj(&o, "require", req)
	return o
}

func mountJSON(m MountSpec) jobj {
	var o jobj
	addS(&o, "comment", m.Comment)
	if m.Type.Set {
		o.add("type", string(m.Type.Value))
	}
	addS(&o, "src", m.Src)
	addS(&o, "dst", m.Dst)
	addB(&o, "readonly", m.ReadOnly)
	addB(&o, "optional", m.Optional)
	addB(&o, "nosuid", m.NoSuid)
	addB(&o, "nodev", m.NoDev)
	addB(&o, "noexec", m.NoExec)
	addB(&o, "landlock", m.Landlock)
	addB(&o, "pts", m.Pts)
	addSize(&o, "size", m.Size)
	addI(&o, "inodes", m.Inodes)
	if m.Mode.Set {
		o.add("mode", formatOctal(m.Mode.Value))
	}
	addS(&o, "content", m.Content)
	return o
}

func ruleJSON(r RuleSpec) jobj {
	var o jobj
	addS(&o, "comment", r.Comment)
	o.add("syscalls", strs(r.Syscalls))
	if r.Action.Set {
		o.add("action", r.Action.Value.Text)
	}
	if len(r.Args) > 0 {
		args := make(jarr, len(r.Args))
		for i, a := range r.Args {
			var ao jobj
			addI(&ao, "index", a.Index)
			if a.Op.Set {
				ao.add("op", string(a.Op.Value))
			}
			if a.Value.Set {
				ao.add("value", argJSON(a.Value.Value))
			}
			if a.Mask.Set {
				ao.add("mask", argJSON(a.Mask.Value))
			}
			args[i] = ao
		}
		o.add("args", args)
	}
	return o
}

func argJSON(v ArgValue) any {
	if v.IsString {
		return v.Text
	}
	return jraw(v.Text)
}

const formatWidth = 120

// render writes v at the given indent level. col is the column where v starts; top forces the outer
// object onto several lines.
func render(b *bytes.Buffer, v any, level, col int, top bool) {
	if !top {
		// Only as much of the compact form as could fit is built: building all of it at every level made
		// rendering quadratic in the depth of the tree (a tenth of a cold CLI run's policy load).
		if c, ok := compactWithin(v, formatWidth-col-1); ok {
			b.WriteString(c)
			return
		}
	}
	indent := strings.Repeat("  ", level+1)
	switch x := v.(type) {
	case jobj:
		if len(x) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		for i, kv := range x {
			b.WriteString(indent)
			k := quote(kv.k) + ": "
			b.WriteString(k)
			render(b, kv.v, level+1, len(indent)+len(k), false)
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent[2:])
		b.WriteByte('}')
	case jarr:
		if len(x) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, el := range x {
			b.WriteString(indent)
			render(b, el, level+1, len(indent), false)
			if i < len(x)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent[2:])
		b.WriteByte(']')
	default:
		b.WriteString(compact(v))
	}
}

// compactWithin is compact(v) when that is at most max bytes long; ok is false otherwise, and then the
// work stops soon after max bytes.
func compactWithin(v any, max int) (string, bool) {
	if max < 0 {
		return "", false
	}
	b, ok := appendCompact(make([]byte, 0, 64), v, max)
	if !ok || len(b) > max {
		return "", false
	}
	return string(b), true
}

// appendCompact appends compact(v) to b, giving up (false) once b is longer than max.
func appendCompact(b []byte, v any, max int) ([]byte, bool) {
	switch x := v.(type) {
	case jobj:
		b = append(b, '{')
		for i, kv := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, quote(kv.k)...)
			b = append(b, ": "...)
			var ok bool
			if b, ok = appendCompact(b, kv.v, max); !ok {
				return b, false
			}
		}
		b = append(b, '}')
	case jarr:
		b = append(b, '[')
		for i, el := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			var ok bool
			if b, ok = appendCompact(b, el, max); !ok {
				return b, false
			}
		}
		b = append(b, ']')
	default:
		b = append(b, compact(v)...)
	}
	return b, len(b) <= max
}

func compact(v any) string {
	switch x := v.(type) {
	case jobj:
		parts := make([]string, len(x))
		for i, kv := range x {
			parts[i] = quote(kv.k) + ": " + compact(kv.v)
		}
		return "{" + strings.Join(parts, ", ") + "}"
	case jarr:
		parts := make([]string, len(x))
		for i, el := range x {
			parts[i] = compact(el)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case string:
		return quote(x)
	case jraw:
		return string(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case bool:
		return strconv.FormatBool(x)
	}
	return "null"
}

// quote is JSON string quoting without encoding/json's HTML escaping, so that "<" stays readable.
func quote(s string) string {
	// Most strings of a policy (syscall names, paths, keys) are plain printable ASCII, which JSON writes
	// as is: skip the encoder for them (it was a fifth of loading a policy, on every CLI run).
	plain := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return `"` + s + `"`
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}
