package policy

import "fmt"

// validate checks the effective policy (after extends and defaults) as a whole: settings that contradict
// each other, and weakenings that need process.unsafe.
func validate(e *Policy, errs *problems) {
	at := func(p Pos) Pos {
		if p.Line == 0 {
			return e.Pos
		}
		return p
	}
	ns := e.Namespaces
	unsafe := e.Process.Unsafe.Value
	fs := e.Filesystem

	// Each file is capped when parsed; an extends chain could still add up past the caps.
	for _, c := range []struct {
		path     string
		n, limit int
	}{
		{"filesystem.mounts", len(fs.Mounts), MaxMounts},
		{"filesystem.masked_paths", len(fs.MaskedPaths), MaxMaskedPaths},
		{"process.env.set", len(e.Process.Env.Set), MaxEnv},
		{"process.env.allow", len(e.Process.Env.Allow), MaxEnv},
		{"seccomp.rules", seccompRules(e), MaxRules},
	} {
		if c.n > c.limit {
			errs.addAt(e.Pos, c.path, fmt.Sprintf("has %d entries after extends, over the limit of %d", c.n, c.limit))
		}
	}

	if !ns.Mount.Value {
		what := ""
		switch {
		case len(fs.Mounts) > 0:
			what = fmt.Sprintf("filesystem.mounts is not empty (the first at %s)", fs.Mounts[0].Pos)
		case len(fs.MaskedPaths) > 0:
			what = fmt.Sprintf("filesystem.masked_paths is not empty (the first at %s)", fs.MaskedPaths[0].Pos)
		}
		if what != "" {
			errs.addAt(at(ns.Mount.Pos), "namespaces.mount", "is false, but mounts need a mount namespace and "+what)
		}
	}
	if cv := fs.CgroupView; cv.Value && (!ns.Mount.Value || !ns.Cgroup.Value) {
		errs.addAt(at(cv.Pos), "filesystem.cgroup_view", "needs namespaces.mount and namespaces.cgroup (the view is a mount, and without a cgroup namespace it would show the host's cgroup paths)")
	}
	if e.Network.Loopback.Value && !ns.Net.Value {
		errs.addAt(at(e.Network.Loopback.Pos), "network.loopback", "needs namespaces.net (without it the sandbox shares the host's network)")
	}
	if h := e.Process.Hostname; h.Set && h.Pos.Line != 0 && !ns.UTS.Value {
		errs.addAt(h.Pos, "process.hostname", "needs namespaces.uts (without it the host's hostname would change)")
	}
	if !ns.User.Value && !unsafe {
		for _, id := range []struct {
			name string
			f    Field[int64]
		}{{"uid", e.Process.UID}, {"gid", e.Process.GID}} {
			if id.f.Value == 0 {
				errs.addAt(at(id.f.Pos), "process."+id.name, "is 0 without namespaces.user: that is the host's root (set process.unsafe to really mean it)")
			}
		}
	}
	if ll := fs.Landlock; ll.Value == LandlockRequire && !ns.Mount.Value {
		errs.addAt(at(ll.Pos), "filesystem.landlock", "\"require\" needs namespaces.mount (the Landlock rules are derived from the mounts)")
	}
	if ll := fs.Landlock; ll.Value == LandlockRequire && !e.Process.NoNewPrivs.Value {
		errs.addAt(at(ll.Pos), "filesystem.landlock", "\"require\" needs process.no_new_privs (the kernel lets an unprivileged process restrict itself only with it)")
	}
	switch {
	case !e.Process.NoNewPrivs.Value && e.Seccomp != nil:
		// The kernel loads a seccomp filter only for a task with no_new_privs or CAP_SYS_ADMIN, and the exec
		// stage has dropped every capability before it loads the filter: every run would fail at exec
		// ("load seccomp filter: permission denied"), unsafe or not. One line covers the unsafe case too,
		// since its fix (true) also satisfies that rule.
		errs.addAt(at(e.Process.NoNewPrivs.Pos), "process.no_new_privs", "is false, but the seccomp filter needs it (the kernel loads a filter only for a process with no_new_privs or CAP_SYS_ADMIN, and the command has no capabilities): set process.no_new_privs to true, or drop the seccomp section")
	case !e.Process.NoNewPrivs.Value && !unsafe:
		errs.addAt(at(e.Process.NoNewPrivs.Pos), "process.no_new_privs", "cannot be turned off unless process.unsafe is true")
	}

	for i, m := range fs.Mounts {
		path := m.path
		if m.Type.Value == MountProc && !ns.PID.Value && !unsafe {
			errs.addAt(m.Pos, path, "a proc mount without namespaces.pid would show the host's processes (set process.unsafe to really mean it)")
		}
		if m.Type.Value == MountBind {
			src := m.Src.Value
			switch {
			case under(src, "/proc"):
				// /proc/PID/root and friends lead straight out of any sandbox.
				errs.addAt(m.Src.Pos, path+".src", fmt.Sprintf("cannot bind %q from the host's /proc", src))
			case (under(src, "/sys") || under(src, "/dev")) && !unsafe:
				errs.addAt(m.Src.Pos, path+".src", fmt.Sprintf("binding %q exposes host devices or kernel knobs (set process.unsafe to really mean it)", src))
			}
		}
		for _, opt := range []struct {
			name string
			f    Field[bool]
		}{{"nosuid", m.NoSuid}, {"nodev", m.NoDev}} {
			if opt.f.Set && opt.f.Pos.Line != 0 && !opt.f.Value && !unsafe {
				errs.addAt(opt.f.Pos, path+"."+opt.name, "cannot be false unless process.unsafe is true")
			}
		}
		if m.Type.Value == MountTmpfs && !m.ReadOnly.Value && !m.Size.Set {
			errs.addAt(m.Pos, path+".size", "required for a writable tmpfs (e.g. \"64M\"); the kernel default is half the RAM")
		}
		// Landlock rights are inherited down the tree, across mount points: a bind left out of the rules
		// under a mount that has rules would get that mount's rights anyway.
		if m.Landlock.Set && !m.Landlock.Value {
			for _, o := range fs.Mounts {
				if o.Dst.Value != m.Dst.Value && under(m.Dst.Value, o.Dst.Value) && !(o.Landlock.Set && !o.Landlock.Value) {
					errs.addAt(m.Landlock.Pos, path+".landlock", fmt.Sprintf("false has no effect under the mount at %q, whose Landlock rights %q inherits", o.Dst.Value, m.Dst.Value))
					break
				}
			}
		}
		// A later mount at an ancestor of an earlier one hides it: the earlier one would silently not apply.
		for j := 0; j < i && len(fs.Mounts) <= MaxMounts; j++ {
			prev := fs.Mounts[j]
			if prev.Dst.Value != m.Dst.Value && under(prev.Dst.Value, m.Dst.Value) {
				errs.addAt(m.Dst.Pos, path+".dst", fmt.Sprintf("%q hides the earlier mount at %q (%s:%d); list the outer mount first", m.Dst.Value, prev.Dst.Value, prev.Pos.File, prev.Pos.Line))
			}
		}
	}

	l := e.Limits
	if l.MemorySwap.Set && !l.Memory.Set {
		errs.addAt(at(l.MemorySwap.Pos), "limits.memory_swap", "needs limits.memory (swap is allowed on top of the memory limit)")
	}
	if l.ExtraTime.Set && l.ExtraTime.Value > 0 && !l.CPUTime.Set && !l.WallTime.Set {
		errs.addAt(at(l.ExtraTime.Pos), "limits.extra_time", "needs limits.cpu_time or limits.wall_time (it is a grace period after them)")
	}

	if s := e.Seccomp; s != nil {
		if !s.DefaultAction.Set {
			errs.addAt(at(s.Pos), "seccomp.default_action", "required (e.g. \"errno(EPERM)\" for an allowlist, \"allow\" for a denylist)")
		}
		switch s.UnknownSyscalls.Value.Action.Kind {
		case ActAllow, ActLog:
			if !unsafe {
				errs.addAt(at(s.UnknownSyscalls.Pos), "seccomp.unknown_syscalls", fmt.Sprintf("%q would let syscalls newer than this build through unfiltered (set process.unsafe to really mean it)", s.UnknownSyscalls.Value.Text))
			}
		}
	}
}

func seccompRules(e *Policy) int {
	if e.Seccomp == nil {
		return 0
	}
	return len(e.Seccomp.Rules)
}
