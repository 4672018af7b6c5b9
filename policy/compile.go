package policy

import (
	"crypto/sha256"
	"encoding/hex"
	"sort"
	"time"

	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// Compile resolves p's extends, applies defaults, checks the effective policy as a whole and returns the
// typed settings the launcher, cgroups and seccomp packages consume. The error is an *InvalidError listing
// every problem (matching ErrInvalid).
func Compile(p *Policy) (*Settings, error) {
	e, err := Effective(p)
	if err != nil {
		return nil, err
	}
	s, err := build(e)
	if err != nil {
		return nil, err
	}
	// Clone normalises empty slices, so that every Settings has the same shape whichever way it was
	// obtained (Builtin hands out clones of a cached value).
	return s.Clone(), nil
}

func digest(canon []byte) string {
	sum := sha256.Sum256(canon)
	return hex.EncodeToString(sum[:])
}

// build turns an effective policy into Settings. It never fails on a policy that passed validate.
func build(e *Policy) (*Settings, error) {
	canon, err := Format(e)
	if err != nil {
		return nil, err
	}
	s := &Settings{
		Name:        e.Name.Value,
		Description: e.Description.Value,
		Source:      e.Source,
		SHA256:      digest(canon),
		canonical:   canon,
	}
	for _, k := range NamespaceKinds {
		k.Set(&s.Namespaces, k.spec(&e.Namespaces).Value)
	}
	s.Network.LoopbackUp = e.Network.Loopback.Value

	for _, m := range e.Filesystem.Mounts {
		mnt := Mount{
			Kind: m.Type.Value, Src: m.Src.Value, Dst: m.Dst.Value,
			ReadOnly: m.ReadOnly.Value, Optional: m.Optional.Value,
			NoSuid: m.NoSuid.Value, NoDev: m.NoDev.Value, NoExec: m.NoExec.Value,
			Size: m.Size.Value, Inodes: m.Inodes.Value, Mode: m.Mode.Value, Content: m.Content.Value,
			NoLandlock: m.Landlock.Set && !m.Landlock.Value,
			Pts:        m.Pts.Value,
		}
		// The flags a policy cannot choose for these kinds, stated so the launcher applies them uniformly.
		switch m.Type.Value {
		case MountProc:
			mnt.NoSuid, mnt.NoDev, mnt.NoExec = true, true, true
		case MountDev:
			mnt.NoSuid, mnt.NoExec = true, true
		case MountFile:
			mnt.NoSuid, mnt.NoDev = true, true
		}
		s.Filesystem.Mounts = append(s.Filesystem.Mounts, mnt)
	}
	s.Filesystem.Workdir = e.Filesystem.Workdir.Value
	s.Filesystem.MaskedPaths = values(e.Filesystem.MaskedPaths)
	s.Filesystem.Landlock = e.Filesystem.Landlock.Value
	s.Filesystem.CgroupView = e.Filesystem.CgroupView.Value

	l := e.Limits
	s.Limits = Limits{
		WallTime: l.WallTime.Value, ExtraTime: l.ExtraTime.Value,
		KillGrace: DefaultKillGrace,
		Output:    OutputLimits{Stdout: l.Output.Stdout.Value, Stderr: l.Output.Stderr.Value, Total: l.Output.Total.Value},
	}
	for _, c := range CgroupLimits {
		c.compile(&s.Limits, l)
	}
	if l.KillGrace.Set {
		s.Limits.KillGrace = l.KillGrace.Value
	}
	s.Rlimits = rlimits(l)
	compileKernelLimits(s, l.Kernel)

	if sc := e.Seccomp; sc != nil {
		s.Seccomp = Seccomp{
			Enabled:         true,
			DefaultAction:   sc.DefaultAction.Value.Action,
			UnknownSyscalls: sc.UnknownSyscalls.Value.Action,
		}
		for _, r := range sc.Rules {
			rule := SeccompRule{Syscalls: expandSyscalls(r.Syscalls), Action: r.Action.Value.Action}
			for _, a := range r.Args {
				rule.Args = append(rule.Args, ArgCond{Index: uint(a.Index.Value), Op: a.Op.Value, Value: a.Value.Value.Value, Mask: a.Mask.Value.Value})
			}
			s.Seccomp.Rules = append(s.Seccomp.Rules, rule)
		}
	}

	pr := e.Process
	s.Process = Process{
		UID: uint32(pr.UID.Value), GID: uint32(pr.GID.Value),
		Hostname: pr.Hostname.Value, Umask: pr.Umask.Value,
		NoNewPrivs: pr.NoNewPrivs.Value, Unsafe: pr.Unsafe.Value,
	}
	for _, v := range pr.Env.Set {
		s.Process.Env = append(s.Process.Env, v.Name+"="+v.Value.Value)
	}
	sort.Strings(s.Process.Env)
	s.Process.EnvAllow = values(pr.Env.Allow)
	sort.Strings(s.Process.EnvAllow)

	if c := e.Command; c != nil {
		s.Command.Template = values(c.Template)
		s.Command.AllowedCommands = values(c.AllowedCommands)
		if len(c.Params) > 0 {
			s.Command.Params = make(map[string]Param, len(c.Params))
			for _, p := range c.Params {
				s.Command.Params[p.Name] = Param{Type: p.Type.Value, Under: p.Under.Value, AllowDash: p.AllowDash.Value, MaxLen: int(p.MaxLen.Value)}
			}
		}
	}
	s.Require.BestEffort = values(e.Require.BestEffort)
	sort.Strings(s.Require.BestEffort)
	return s, nil
}

func values(fs []Field[string]) []string {
	if len(fs) == 0 {
		return nil
	}
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Value
	}
	return out
}

// expandSyscalls replaces groups by their members, keeping the first appearance of each name.
func expandSyscalls(names []Field[string]) []string {
	var out []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	for _, n := range names {
		if members, ok := syscalls.Group(n.Value); ok {
			for _, m := range members {
				add(m)
			}
			continue
		}
		add(n.Value)
	}
	return out
}

// rlimits derives the setrlimit calls made in the child. RLIMIT_CPU is only a backstop for the cgroup's
// precise CPU accounting: the CPU time plus grace, rounded up to whole seconds, plus one second. RLIMIT_CORE
// is always set (0 unless the policy allows cores). NPROC is never set: it counts per host uid, across
// sandboxes; the pids cgroup is the limit.
func rlimits(l LimitsSpec) []Rlimit {
	var out []Rlimit
	add := func(r Resource, v uint64) { out = append(out, Rlimit{Resource: r, Soft: v, Hard: v}) }
	if l.CPUTime.Set {
		total := l.CPUTime.Value + l.ExtraTime.Value
		secs := uint64((total + time.Second - 1) / time.Second)
		add(RlimitCPU, secs+1)
	}
	if l.FileSize.Set {
		add(RlimitFsize, uint64(l.FileSize.Value))
	}
	if l.Stack.Set {
		add(RlimitStack, uint64(l.Stack.Value))
	}
	add(RlimitCore, uint64(l.Core.Value))
	if l.OpenFiles.Set {
		add(RlimitNofile, uint64(l.OpenFiles.Value))
	}
	if l.AddressSpace.Set {
		add(RlimitAS, uint64(l.AddressSpace.Value))
	}
	return out
}
