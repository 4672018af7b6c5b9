package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Explain describes compiled settings for a human reviewer: every namespace, each mount in order, each
// limit with the kernel knob that enforces it, the rlimits and the seccomp rules. It is what jailrun
// policy explain prints.
func Explain(s *Settings) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }

	w("policy %s (%s)\n", s.Name, s.Source)
	if s.Description != "" {
		w("  %s\n", s.Description)
	}
	w("  sha256 %s\n", s.SHA256)
	for _, o := range s.Overrides {
		w("  override %s\n", o)
	}

	w("\nnamespaces (on = a fresh namespace of this kind)\n")
	ns := s.Namespaces
	for _, k := range NamespaceKinds {
		if k.On(ns) {
			w("  %-7s on    %s\n", k.Name, k.Fresh)
		} else {
			w("  %-7s off   shares the host's\n", k.Name)
		}
	}

	w("\nnetwork\n")
	switch {
	case !ns.Net:
		w("  the host's network (no net namespace)\n")
	case s.Network.LoopbackUp:
		w("  own namespace, loopback (lo) up: 127.0.0.1 and ::1 reach only the sandbox itself\n")
	default:
		w("  own namespace, no interface up: no network at all\n")
	}

	w("\nfilesystem (applied in order on an empty root)\n")
	if !ns.Mount {
		w("  the host's filesystem (no mount namespace)\n")
	}
	for i, m := range s.Filesystem.Mounts {
		w("  %2d. %s\n", i+1, explainMount(m))
	}
	w("  workdir %s\n", s.Filesystem.Workdir)
	switch s.Filesystem.Landlock {
	case LandlockOff:
		w("  landlock off: only the mount namespace confines file access\n")
	case LandlockRequire:
		w("  landlock required: the mounts above are also a Landlock ruleset (read-only: read/execute; writable: read/write; nothing else); refused on a kernel without Landlock\n")
	default:
		w("  landlock auto: the mounts above are also a Landlock ruleset when the kernel has Landlock (the result says)\n")
	}
	if s.Filesystem.CgroupView {
		w("  cgroup view: the run's own cgroup read-only at /sys/fs/cgroup (v1: memory, cpu, cpuacct, cpuset, pids), so runtimes size themselves to its limits\n")
	}
	if len(s.Filesystem.MaskedPaths) > 0 {
		w("  masked (hidden under an empty read-only mount): %s\n", strings.Join(s.Filesystem.MaskedPaths, " "))
	}

	w("\nlimits (knob: cgroup v2 / cgroup v1)\n")
	l := s.Limits
	lim := func(name, value, knob string) { w("  %-12s %-16s %s\n", name, value, knob) }
	for _, c := range CgroupLimits {
		value, knob := c.Explain(l)
		lim(c.Name, value, knob)
	}
	lim("wall_time", durOr(l.WallTime), "timer from exec, enforced by jailrun")
	if l.ExtraTime > 0 {
		lim("extra_time", formatDuration(l.ExtraTime), "grace after cpu_time/wall_time before the kill; still a verdict")
	}
	if l.KillGrace > 0 {
		lim("kill_grace", formatDuration(l.KillGrace), "on SIGTERM/SIGINT/SIGHUP to jailrun: the signal goes to the command, then SIGKILL to the sandbox after this")
	} else {
		lim("kill_grace", "0", "on SIGTERM/SIGINT/SIGHUP to jailrun: SIGKILL to the sandbox at once, nothing forwarded")
	}
	lim("output", fmt.Sprintf("stdout %s, stderr %s, total %s", sizeOr(l.Output.Stdout, "unlimited"), sizeOr(l.Output.Stderr, "unlimited"), sizeOr(l.Output.Total, "unlimited")), "counted on the pipes by jailrun")

	explainKernelLimits(w, l)

	w("\nrlimits (setrlimit in the child just before exec; soft = hard)\n")
	for _, r := range s.Rlimits {
		w("  %-14s %s\n", rlimitName(r.Resource), rlimitValue(r))
	}

	w("\nseccomp\n")
	explainSeccomp(&b, s.Seccomp)

	w("\nprocess\n")
	p := s.Process
	idNote := "host ids"
	if ns.User {
		idNote = "inside the user namespace"
	}
	w("  uid %d gid %d (%s)\n", p.UID, p.GID, idNote)
	if len(p.Env) == 0 {
		w("  env (empty)\n")
	}
	for _, e := range p.Env {
		w("  env %s\n", strconv.Quote(e))
	}
	if len(p.EnvAllow) > 0 {
		w("  env copied from the caller when set: %s\n", strings.Join(p.EnvAllow, " "))
	}
	if p.Hostname != "" {
		w("  hostname %s\n", p.Hostname)
	}
	w("  umask %s\n", formatOctal(p.Umask))
	w("  no_new_privs %s\n", onOff(p.NoNewPrivs))
	if p.Unsafe {
		w("  UNSAFE: the policy opts out of a safety default; every run logs it\n")
	}

	if c := s.Command; len(c.Template) > 0 || len(c.AllowedCommands) > 0 {
		w("\ncommand\n")
		if len(c.Template) > 0 {
			quoted := make([]string, len(c.Template))
			for i, a := range c.Template {
				quoted[i] = strconv.Quote(a)
			}
			w("  template %s\n", strings.Join(quoted, " "))
			for _, name := range sortedKeys(c.Params) {
				pa := c.Params[name]
				extra := ""
				if pa.Under != "" {
					extra += " under " + pa.Under
				}
				if pa.AllowDash {
					extra += ", may start with '-'"
				}
				w("  {%s} %s%s, at most %d bytes\n", name, pa.Type, extra, pa.MaxLen)
			}
		}
		if len(c.AllowedCommands) > 0 {
			w("  allowed commands: %s\n", strings.Join(c.AllowedCommands, " "))
		}
	}

	w("\nrequire\n")
	if len(s.Require.BestEffort) == 0 {
		w("  everything above is enforced or the run is refused\n")
	} else {
		w("  everything above is enforced or the run is refused, except (skipped and reported when this host cannot enforce them): %s\n", strings.Join(s.Require.BestEffort, " "))
	}
	return b.String()
}

func explainMount(m Mount) string {
	var opts []string
	ro := "rw"
	if m.ReadOnly {
		ro = "ro"
	}
	flag := func(on bool, name string) {
		if on {
			opts = append(opts, name)
		}
	}
	var head string
	switch m.Kind {
	case MountBind:
		head = fmt.Sprintf("bind  %s <- host %s", m.Dst, m.Src)
		opts = append(opts, ro)
		flag(m.Optional, "optional (skipped if the host path is missing)")
		flag(m.NoLandlock, "no Landlock rights (mounted, but unreachable under Landlock)")
	case MountTmpfs:
		head = fmt.Sprintf("tmpfs %s", m.Dst)
		opts = append(opts, ro)
		if m.Size > 0 {
			opts = append(opts, "size "+humanSize(m.Size))
		}
		if m.Inodes > 0 {
			opts = append(opts, fmt.Sprintf("%d inodes", m.Inodes))
		}
		opts = append(opts, "mode "+formatOctal(m.Mode))
	case MountFile:
		head = fmt.Sprintf("file  %s", m.Dst)
		opts = append(opts, ro, "mode "+formatOctal(m.Mode), fmt.Sprintf("%d bytes", len(m.Content)))
	case MountProc:
		head = fmt.Sprintf("proc  %s", m.Dst)
		opts = append(opts, "the sandbox's own pids")
	case MountDev:
		head = fmt.Sprintf("dev   %s", m.Dst)
		opts = append(opts, "null zero full random urandom, shm")
		if m.Pts {
			opts = append(opts, "a private devpts at pts and ptmx")
		}
	}
	if m.Kind == MountBind || m.Kind == MountTmpfs {
		flag(m.NoSuid, "nosuid")
		flag(m.NoDev, "nodev")
		flag(m.NoExec, "noexec")
	}
	return head + "  (" + strings.Join(opts, ", ") + ")"
}

func explainSeccomp(b *strings.Builder, sc Seccomp) {
	if !sc.Enabled {
		b.WriteString("  off (the policy has no seccomp section): every syscall the kernel allows\n")
		return
	}
	fmt.Fprintf(b, "  first matching rule decides; otherwise %s; syscalls unknown to this build: %s\n", ActionString(sc.DefaultAction), ActionString(sc.UnknownSyscalls))
	for i, r := range sc.Rules {
		fmt.Fprintf(b, "  %2d. %s  %d syscall(s)", i+1, ActionString(r.Action), len(r.Syscalls))
		for _, a := range r.Args {
			fmt.Fprintf(b, " if %s", CondString(a))
		}
		b.WriteString(":\n")
		line := "      "
		for _, name := range r.Syscalls {
			if len(line)+len(name)+1 > 100 {
				b.WriteString(strings.TrimRight(line, " ") + "\n")
				line = "      "
			}
			line += name + " "
		}
		b.WriteString(strings.TrimRight(line, " ") + "\n")
	}
}

// ActionString writes an action the way a policy does: "allow", "errno(EPERM)", "kill_process".
func ActionString(a Action) string {
	if a.Kind == ActErrno {
		if name := errnoName(a.Errno); name != "" {
			return "errno(" + name + ")"
		}
		return fmt.Sprintf("errno(%d)", a.Errno)
	}
	return string(a.Kind)
}

// CondString writes an argument condition: "arg0 == 0x1", "arg2 & 0x3 == 0x1".
func CondString(c ArgCond) string {
	if c.Op == OpMaskedEq {
		return fmt.Sprintf("arg%d & %#x == %#x", c.Index, c.Mask, c.Value)
	}
	return fmt.Sprintf("arg%d %s %#x", c.Index, c.Op, c.Value)
}

func rlimitName(r Resource) string {
	switch r {
	case RlimitCPU:
		return "RLIMIT_CPU"
	case RlimitFsize:
		return "RLIMIT_FSIZE"
	case RlimitData:
		return "RLIMIT_DATA"
	case RlimitStack:
		return "RLIMIT_STACK"
	case RlimitCore:
		return "RLIMIT_CORE"
	case RlimitNproc:
		return "RLIMIT_NPROC"
	case RlimitNofile:
		return "RLIMIT_NOFILE"
	case RlimitMemlock:
		return "RLIMIT_MEMLOCK"
	case RlimitAS:
		return "RLIMIT_AS"
	case RlimitSigpending:
		return "RLIMIT_SIGPENDING"
	case RlimitMsgqueue:
		return "RLIMIT_MSGQUEUE"
	}
	return fmt.Sprintf("RLIMIT_%d", int(r))
}

func rlimitValue(r Rlimit) string {
	if r.Hard == RlimInfinity {
		return "unlimited"
	}
	switch r.Resource {
	case RlimitCPU:
		return fmt.Sprintf("%d s", r.Hard)
	case RlimitNofile, RlimitNproc, RlimitSigpending:
		// Counts, not sizes: open files, processes, queued signals.
		return strconv.FormatUint(r.Hard, 10)
	}
	return humanSize(int64(r.Hard))
}

func sizeOr(v int64, none string) string {
	if v == 0 {
		return none
	}
	return humanSize(v)
}

func intOr(v int64, none string) string {
	if v == 0 {
		return none
	}
	return strconv.FormatInt(v, 10)
}

func orText(v, none string) string {
	if v == "" {
		return none
	}
	return v
}

func durOr(d time.Duration) string {
	if d == 0 {
		return "unlimited"
	}
	return formatDuration(d)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func sortedKeys(m map[string]Param) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j] < out[j-1]; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}
