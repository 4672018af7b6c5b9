package policy

import (
	"fmt"
	"time"
)

// CheckInvariants checks properties every compiled Settings must have, independently of how the compiler
// reached them: the safety defaults hold unless Unsafe, limits are within their caps, paths are clean. The
// fuzzers call it on every policy the compiler accepts; a failure is a compiler bug.
func CheckInvariants(s *Settings) error {
	fail := func(format string, a ...any) error { return fmt.Errorf("invariant violated: "+format, a...) }
	p := s.Process
	if !p.NoNewPrivs && !p.Unsafe {
		return fail("no_new_privs is off without unsafe")
	}
	if !s.Namespaces.User && !p.Unsafe && (p.UID == 0 || p.GID == 0) {
		return fail("host root (uid %d gid %d) without a user namespace", p.UID, p.GID)
	}
	if s.Network.LoopbackUp && !s.Namespaces.Net {
		return fail("loopback up in the host's network namespace")
	}
	if !s.Namespaces.Mount && (len(s.Filesystem.Mounts) > 0 || len(s.Filesystem.MaskedPaths) > 0) {
		return fail("mounts without a mount namespace")
	}
	if len(s.Filesystem.Mounts) > MaxMounts {
		return fail("%d mounts", len(s.Filesystem.Mounts))
	}
	for _, m := range s.Filesystem.Mounts {
		if msg := checkSandboxPath(m.Dst); msg != "" || m.Dst == "/" {
			return fail("mount dst %q: %s", m.Dst, msg)
		}
		switch m.Kind {
		case MountProc:
			if m.Dst != "/proc" || !m.NoSuid || !m.NoDev || !m.NoExec {
				return fail("proc mount %+v", m)
			}
			if !s.Namespaces.PID && !p.Unsafe {
				return fail("proc without a pid namespace")
			}
		case MountDev:
			if m.Dst != "/dev" {
				return fail("dev mount at %q", m.Dst)
			}
		case MountBind:
			if msg := checkSandboxPath(m.Src); msg != "" {
				return fail("bind src %q: %s", m.Src, msg)
			}
			if under(m.Src, "/proc") {
				return fail("bind from host /proc")
			}
			if (!m.NoSuid || !m.NoDev || under(m.Src, "/sys") || under(m.Src, "/dev")) && !p.Unsafe {
				return fail("weak bind %+v without unsafe", m)
			}
			fallthrough
		case MountTmpfs, MountFile:
			if under(m.Dst, "/proc") || under(m.Dst, "/sys") {
				return fail("%s mount at %q", m.Kind, m.Dst)
			}
			if m.Kind == MountTmpfs && !m.ReadOnly && m.Size <= 0 {
				return fail("writable tmpfs without a size")
			}
		default:
			return fail("mount kind %q", m.Kind)
		}
		if m.Size < 0 || m.Size > maxLimit || m.Mode > 0o7777 {
			return fail("mount %+v out of range", m)
		}
	}
	l := s.Limits
	for _, c := range CgroupLimits {
		if msg := c.check(l); msg != "" {
			return fail("%s", msg)
		}
	}
	switch {
	case l.CPUTime < 0 || l.CPUTime > maxDuration || l.WallTime < 0 || l.WallTime > maxDuration || l.ExtraTime < 0 || l.ExtraTime > maxDuration:
		return fail("times %v %v %v", l.CPUTime, l.WallTime, l.ExtraTime)
	case l.KillGrace < 0 || l.KillGrace > MaxKillGrace:
		return fail("kill_grace %v", l.KillGrace)
	case l.Output.Stdout < 0 || l.Output.Stderr < 0 || l.Output.Total < 0:
		return fail("output %+v", l.Output)
	}
	core := false
	for _, r := range s.Rlimits {
		if r.Soft != r.Hard {
			return fail("rlimit %v soft %d != hard %d", r.Resource, r.Soft, r.Hard)
		}
		switch r.Resource {
		case RlimitCore:
			core = true
		case RlimitCPU:
			if l.CPUTime == 0 || time.Duration(r.Hard)*time.Second <= l.CPUTime+l.ExtraTime {
				return fail("RLIMIT_CPU %d s is not a backstop above cpu_time %v", r.Hard, l.CPUTime)
			}
		case RlimitNproc:
			return fail("RLIMIT_NPROC is set")
		}
	}
	if !core {
		return fail("RLIMIT_CORE not set")
	}
	sc := s.Seccomp
	if sc.Enabled {
		if sc.DefaultAction.Kind == "" || sc.UnknownSyscalls.Kind == "" {
			return fail("seccomp without a default or unknown-syscall action")
		}
		if (sc.UnknownSyscalls.Kind == ActAllow || sc.UnknownSyscalls.Kind == ActLog) && !p.Unsafe {
			return fail("unknown syscalls allowed without unsafe")
		}
		if len(sc.Rules) > MaxRules {
			return fail("%d rules", len(sc.Rules))
		}
		for _, r := range sc.Rules {
			if len(r.Syscalls) == 0 || len(r.Args) > MaxArgs || r.Action.Errno > maxErrno {
				return fail("seccomp rule %+v", r)
			}
			for _, n := range r.Syscalls {
				if n == "" || n[0] == '@' {
					return fail("unexpanded syscall name %q", n)
				}
			}
			for _, a := range r.Args {
				if a.Index > 5 || (a.Op == OpMaskedEq && a.Value&^a.Mask != 0) {
					return fail("argument condition %+v", a)
				}
			}
		}
	} else if len(sc.Rules) > 0 {
		return fail("seccomp rules while disabled")
	}
	return nil
}
