package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The extends rules (documented in docs/policy.md). The policies of the extends graph are applied one on
// top of the other in the order linearize gives (ancestors first, a list left to right, each policy once),
// each by these rules:
//   - a single value set in the child replaces the parent's;
//   - name and description are never inherited;
//   - filesystem.mounts: a child mount at the same dst as a parent mount replaces it in place, the others
//     are appended after the parent's, in order;
//   - filesystem.masked_paths, process.env.allow and require.best_effort are unions (parent's first);
//   - process.env.set is merged by name, the child winning;
//   - seccomp: default_action and unknown_syscalls as single values; the child's rules are placed before
//     the parent's, so for a syscall both mention the child decides (first match wins);
//   - command is replaced as a whole.

// maxExtendsPolicies caps how many distinct policies one extends graph may load.
const maxExtendsPolicies = 64

// linearize returns the policies of p's extends graph in the order they are applied: each parent's own
// ancestors before it, the parents in the order p lists them, each policy once (a policy reached twice, such
// as "strict" under both "compile" and "network-loopback", is applied where it is first reached), p last.
// Problems (unknown or unreadable parent, cycle, too deep, and every problem inside a parent) are recorded
// in errs and the result is nil.
func linearize(p *Policy, errs *problems) []*Policy {
	r := &linearizer{errs: errs, state: map[string]int{}, names: map[string]string{}}
	key := policyKey(p)
	r.names[key] = displayName(p)
	if !r.visit(p, key, 0) {
		return nil
	}
	return r.order
}

type linearizer struct {
	errs  *problems
	state map[string]int // key -> 1 while its ancestors are being visited, 2 once applied
	names map[string]string
	stack []string
	order []*Policy
}

func (r *linearizer) visit(p *Policy, key string, depth int) bool {
	r.state[key] = 1
	r.stack = append(r.stack, r.names[key])
	for _, ref := range p.Extends {
		if depth >= MaxExtendsDepth {
			r.errs.addAt(ref.Pos, "extends", fmt.Sprintf("extends chain is deeper than %d policies", MaxExtendsDepth))
			return false
		}
		pkey, load, msg := resolveExtends(p, ref.Value)
		if msg != "" {
			r.errs.addAt(ref.Pos, "extends", msg)
			return false
		}
		switch r.state[pkey] {
		case 1:
			r.errs.addAt(ref.Pos, "extends", fmt.Sprintf("cycle: %s -> %s", strings.Join(r.stack, " -> "), r.names[pkey]))
			return false
		case 2:
			continue // already applied before this policy: its settings are in, once
		}
		if len(r.names) >= maxExtendsPolicies {
			r.errs.addAt(ref.Pos, "extends", fmt.Sprintf("the extends graph names more than %d policies", maxExtendsPolicies))
			return false
		}
		parent, msg := load(r.errs)
		if msg != "" {
			r.errs.addAt(ref.Pos, "extends", msg)
			return false
		}
		if parent == nil {
			return false
		}
		if !r.errs.empty() {
			// The parent's own problems are reported in its file; say here why they matter.
			r.errs.addAt(ref.Pos, "extends", fmt.Sprintf("%q is not a valid policy (see its problems)", ref.Value))
			return false
		}
		r.names[pkey] = displayName(parent)
		if !r.visit(parent, pkey, depth+1) {
			return false
		}
	}
	r.stack = r.stack[:len(r.stack)-1]
	r.state[key] = 2
	r.order = append(r.order, p)
	return true
}

// resolveExtends finds what one extends entry of cur names: its key (to detect cycles and repeats before
// reading anything) and a loader. A reference that cannot name a policy is msg.
func resolveExtends(cur *Policy, ref string) (key string, load func(*problems) (*Policy, string), msg string) {
	builtin := func(name string) func(*problems) (*Policy, string) {
		return func(errs *problems) (*Policy, string) {
			data, _ := builtinData(name)
			p := parse(data, "builtin:"+name, errs)
			if p != nil {
				p.builtin = true
			}
			return p, ""
		}
	}
	switch {
	case isBuiltinRef(ref):
		if _, ok := builtinData(ref); !ok {
			return "", nil, unknownMsg("built-in policy", ref, BuiltinNames())
		}
		return "builtin:" + ref, builtin(ref), ""
	case cur.builtin:
		// A built-in may extend another by file name; it never reaches the host's files.
		name := strings.TrimSuffix(filepath.Base(ref), ".json")
		if _, ok := builtinData(name); !ok || filepath.Clean(ref) != name+".json" {
			return "", nil, fmt.Sprintf("%q is not a built-in policy", ref)
		}
		return "builtin:" + name, builtin(name), ""
	}
	file := filepath.Join(cur.dir, ref)
	abs, err := filepath.Abs(file)
	if err != nil {
		abs = file
	}
	return abs, func(errs *problems) (*Policy, string) {
		data, err := readPolicyFile(file)
		if err != nil {
			return nil, fmt.Sprintf("cannot read %q: %v", ref, unwrapRead(err))
		}
		return parse(data, file, errs), ""
	}, ""
}

// ExtendsOrder lists the sources of the policies p's extends graph applies before p, in the order they are
// applied (see linearize), for `jailrun policy explain`.
func ExtendsOrder(p *Policy) ([]string, error) {
	errs := &problems{}
	order := linearize(p, errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	out := make([]string, 0, len(order)-1)
	for _, q := range order[:len(order)-1] {
		out = append(out, q.Source)
	}
	return out, nil
}

func policyKey(p *Policy) string {
	if p.builtin || strings.HasPrefix(p.Source, "builtin:") {
		return p.Source
	}
	if abs, err := filepath.Abs(p.Source); err == nil {
		return abs
	}
	return p.Source
}

func displayName(p *Policy) string { return p.Source }

func unwrapRead(err error) error {
	if re, ok := err.(*ReadError); ok {
		if pe, ok := re.Err.(*os.PathError); ok {
			return pe.Err
		}
		return re.Err
	}
	return err
}

// merge applies child on top of parent.
func merge(parent, child *Policy) *Policy {
	m := *child
	m.Extends = nil

	pn, cn := parent.Namespaces, child.Namespaces
	m.Namespaces = NamespacesSpec{}
	for _, k := range NamespaceKinds {
		*k.spec(&m.Namespaces) = over(*k.spec(&pn), *k.spec(&cn))
	}
	m.Network.Loopback = over(parent.Network.Loopback, child.Network.Loopback)

	mounts := append([]MountSpec(nil), parent.Filesystem.Mounts...)
	for _, cm := range child.Filesystem.Mounts {
		replaced := false
		for i := range mounts {
			if mounts[i].Dst.Value == cm.Dst.Value {
				mounts[i] = cm
				replaced = true
				break
			}
		}
		if !replaced {
			mounts = append(mounts, cm)
		}
	}
	m.Filesystem.Mounts = mounts
	m.Filesystem.Workdir = over(parent.Filesystem.Workdir, child.Filesystem.Workdir)
	m.Filesystem.MaskedPaths = union(parent.Filesystem.MaskedPaths, child.Filesystem.MaskedPaths)
	m.Filesystem.Landlock = over(parent.Filesystem.Landlock, child.Filesystem.Landlock)
	m.Filesystem.CgroupView = over(parent.Filesystem.CgroupView, child.Filesystem.CgroupView)

	pl, cl := parent.Limits, child.Limits
	m.Limits = LimitsSpec{
		WallTime: over(pl.WallTime, cl.WallTime), ExtraTime: over(pl.ExtraTime, cl.ExtraTime),
		KillGrace: over(pl.KillGrace, cl.KillGrace),
		Output: OutputSpec{
			Stdout: over(pl.Output.Stdout, cl.Output.Stdout),
			Stderr: over(pl.Output.Stderr, cl.Output.Stderr),
			Total:  over(pl.Output.Total, cl.Output.Total),
		},
		OpenFiles: over(pl.OpenFiles, cl.OpenFiles), FileSize: over(pl.FileSize, cl.FileSize),
		Stack: over(pl.Stack, cl.Stack), Core: over(pl.Core, cl.Core),
		AddressSpace: over(pl.AddressSpace, cl.AddressSpace),
		Kernel:       mergeKernelLimits(pl.Kernel, cl.Kernel),
	}
	for _, c := range CgroupLimits {
		c.merge(&m.Limits, pl, cl)
	}

	switch {
	case child.Seccomp == nil:
		m.Seccomp = parent.Seccomp
	case parent.Seccomp != nil:
		s := *child.Seccomp
		s.DefaultAction = over(parent.Seccomp.DefaultAction, s.DefaultAction)
		s.UnknownSyscalls = over(parent.Seccomp.UnknownSyscalls, s.UnknownSyscalls)
		s.Rules = append(append([]RuleSpec(nil), child.Seccomp.Rules...), parent.Seccomp.Rules...)
		m.Seccomp = &s
	}

	pp, cp := parent.Process, child.Process
	m.Process = ProcessSpec{
		UID: over(pp.UID, cp.UID), GID: over(pp.GID, cp.GID),
		Hostname: over(pp.Hostname, cp.Hostname), Umask: over(pp.Umask, cp.Umask),
		NoNewPrivs: over(pp.NoNewPrivs, cp.NoNewPrivs), Unsafe: over(pp.Unsafe, cp.Unsafe),
	}
	m.Process.Env.Allow = union(pp.Env.Allow, cp.Env.Allow)
	env := append([]EnvVar(nil), pp.Env.Set...)
	for _, cv := range cp.Env.Set {
		replaced := false
		for i := range env {
			if env[i].Name == cv.Name {
				env[i] = cv
				replaced = true
			}
		}
		if !replaced {
			env = append(env, cv)
		}
	}
	m.Process.Env.Set = env

	if child.Command == nil {
		m.Command = parent.Command
	}
	m.Require.BestEffort = union(parent.Require.BestEffort, child.Require.BestEffort)
	return &m
}

func union(a, b []Field[string]) []Field[string] {
	out := append([]Field[string](nil), a...)
	for _, x := range b {
		dup := false
		for _, y := range a {
			dup = dup || x.Value == y.Value
		}
		if !dup {
			out = append(out, x)
		}
	}
	return out
}

// Defaults for what a policy does not say. They are the safe choice: every namespace but time,
// no_new_privs, an unprivileged id, no core dumps.
const (
	defaultID       = 65534
	defaultHostname = "jailrun"
	defaultUmask    = 0o022
	defaultMaxLen   = 4096
)

// withDefaults fills every unset field that has a default, so that the effective policy states everything.
func withDefaults(p *Policy) *Policy {
	e := *p
	ns := &e.Namespaces
	for _, k := range NamespaceKinds {
		*k.spec(ns) = k.spec(ns).or(k.Default)
	}
	e.Network.Loopback = e.Network.Loopback.or(false)

	e.Filesystem.Mounts = make([]MountSpec, len(p.Filesystem.Mounts))
	for i, m := range p.Filesystem.Mounts {
		switch m.Type.Value {
		case MountBind:
			m.ReadOnly = m.ReadOnly.or(true)
			m.Optional = m.Optional.or(false)
			m.NoSuid, m.NoDev, m.NoExec = m.NoSuid.or(true), m.NoDev.or(true), m.NoExec.or(false)
		case MountTmpfs:
			m.ReadOnly = m.ReadOnly.or(false)
			m.NoSuid, m.NoDev, m.NoExec = m.NoSuid.or(true), m.NoDev.or(true), m.NoExec.or(false)
			m.Mode = m.Mode.or(0o1777)
		case MountFile:
			m.ReadOnly = m.ReadOnly.or(true)
			m.Mode = m.Mode.or(0o444)
		}
		e.Filesystem.Mounts[i] = m
	}
	e.Filesystem.Workdir = e.Filesystem.Workdir.or("/")
	e.Filesystem.Landlock = e.Filesystem.Landlock.or(LandlockAuto)
	e.Limits.Core = e.Limits.Core.or(0)

	if p.Seccomp != nil {
		s := *p.Seccomp
		s.UnknownSyscalls = s.UnknownSyscalls.or(ActionSpec{Text: "enosys", Action: Action{Kind: ActErrno, Errno: 38}})
		e.Seccomp = &s
	}

	pr := &e.Process
	pr.UID, pr.GID = pr.UID.or(defaultID), pr.GID.or(defaultID)
	if ns.UTS.Value {
		pr.Hostname = pr.Hostname.or(defaultHostname)
	}
	pr.Umask = pr.Umask.or(defaultUmask)
	pr.NoNewPrivs = pr.NoNewPrivs.or(true)
	pr.Unsafe = pr.Unsafe.or(false)

	if p.Command != nil {
		c := *p.Command
		c.Params = make([]ParamSpec, len(p.Command.Params))
		for i, pa := range p.Command.Params {
			pa.AllowDash = pa.AllowDash.or(false)
			pa.MaxLen = pa.MaxLen.or(defaultMaxLen)
			c.Params[i] = pa
		}
		e.Command = &c
	}
	return &e
}

// Effective resolves p's extends chain, merges it, fills defaults and checks the result as a whole. The
// returned policy states every setting; Format of it is the canonical form whose digest is Settings.SHA256.
func Effective(p *Policy) (*Policy, error) {
	errs := &problems{}
	e := effective(p, errs)
	if err := errs.err(); err != nil {
		return nil, err
	}
	return e, nil
}

func effective(p *Policy, errs *problems) *Policy {
	if p == nil {
		errs.addAt(Pos{}, "", "no policy")
		return nil
	}
	order := linearize(p, errs)
	if order == nil || !errs.empty() {
		return nil
	}
	m := order[0]
	for _, q := range order[1:] {
		m = merge(m, q)
	}
	m.Name = p.Name
	if !m.Name.Set {
		m.Name = set(defaultName(p.Source), Pos{})
	}
	m.Description = p.Description
	m.Version = set(int64(1), p.Version.Pos)
	m.Source = p.Source
	e := withDefaults(m)
	validate(e, errs)
	if !errs.empty() {
		return nil
	}
	return e
}

// defaultName names a policy that does not name itself after its file.
func defaultName(source string) string {
	n := strings.TrimSuffix(filepath.Base(strings.TrimPrefix(source, "builtin:")), ".json")
	if !validName(n) {
		return "unnamed"
	}
	return n
}
