package isolate

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jailrun/jailrun/policy"
)

// BoxDir is where the box lives inside the sandbox, as in isolate.
const BoxDir = "/box"

// DefaultPolicy is the base policy when --policy is not given.
const DefaultPolicy = "default"

// DefaultOpenFiles is isolate's default --open-files.
const DefaultOpenFiles = 64

// defaultTmpSize sizes a tmp rule's tmpfs when the base policy has no /tmp tmpfs to copy it from.
const defaultTmpSize = 256 << 20

// ErrUnsupported marks an isolate option or rule jailrun cannot honour; the run is refused (fail closed)
// rather than run without it.
var ErrUnsupported = errors.New("not supported by jailrun")

func unsupported(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrUnsupported, fmt.Sprintf(format, a...))
}

// Box is what the translation needs to know of the host: the box directory and the caller.
type Box struct {
	// Dir is the host path of the box directory (<root>/<id>/box); it is bound read-write at /box.
	Dir string
	// CallerDir resolves relative outside paths of -d rules (isolate resolves them in its own cwd).
	CallerDir string
	// CallerEnv is the caller's environment, for --full-env and -E VAR.
	CallerEnv []string
}

// Refused reports the first option of o that jailrun does not support; nil if it supports all of them.
func (o *Options) Refused() error {
	switch {
	case o.Quota != "":
		return unsupported("--quota: disk quotas need an ext filesystem with quota support; bind a sized tmpfs instead (-d /box:tmp) or use --fsize")
	case o.InheritFDs:
		return unsupported("--inherit-fds: only stdin, stdout and stderr reach a jailrun sandbox (use jailrun --channel for more)")
	case o.TTYHack:
		return unsupported("--tty-hack: the sandbox never gets a controlling terminal (TIOCSTI is blocked)")
	case o.PrintCGRoot:
		return unsupported("--print-cg-root: jailrun creates one cgroup per run under $JAILRUN_CGROUP_PARENT (see jailrun doctor)")
	case o.AsUID != nil || o.AsGID != nil:
		return unsupported("--as-uid/--as-gid: jailrun is not setuid; run it as the user the box belongs to")
	}
	for _, d := range o.Dirs {
		if d.Dev && d.In != "/dev" {
			return unsupported("-d %s:dev: device access is available only as jailrun's minimal /dev (null, zero, full, random, urandom)", d.In)
		}
		if d.FS && d.Out != "proc" && d.Out != "tmpfs" {
			return unsupported("-d %s=%s:fs: only proc and tmpfs can be mounted", d.In, d.Out)
		}
		if d.FS && d.Out == "proc" && d.In != "/proc" {
			return unsupported("-d %s=proc:fs: proc can be mounted only at /proc", d.In)
		}
	}
	return nil
}

// Translate builds the settings of one --run from the base policy and o. Where isolate has an explicit
// option, its value replaces the base policy's (raising or lowering it: the command line is the grader's,
// not the submission's); where isolate's default is "no limit" the base policy's limit stays (see
// docs/isolate.md). The result passes policy.CheckInvariants, or Translate fails.
func Translate(o *Options, base *policy.Settings, b Box) (*policy.Settings, error) {
	if err := o.Refused(); err != nil {
		return nil, err
	}
	s := base.Clone()
	s.Name = base.Name + "+isolate"
	s.Source = "isolate:" + base.Source
	// isolate runs exactly the command line it is given: never a policy's template.
	s.Command = policy.Command{}

	mounts, err := o.mounts(base, b)
	if err != nil {
		return nil, err
	}
	s.Filesystem.Mounts = mounts
	s.Filesystem.Workdir = o.workdir()

	o.limits(s)
	s.Rlimits = o.rlimits(base, s.Limits)
	s.Process.Env, s.Process.EnvAllow = o.env(b.CallerEnv)

	if o.ShareNet {
		s.Namespaces.Net = false
		s.Network.LoopbackUp = false
		s.Seccomp.Rules = append(inetSockets(), s.Seccomp.Rules...)
	}
	if err := policy.CheckInvariants(s); err != nil {
		// A safety net: the options above are meant never to produce this.
		return nil, unsupported("these options give a sandbox jailrun's safety checks refuse (%v)", err)
	}
	s.SHA256 = digest(base.SHA256, s)
	return s, nil
}

// mounts applies the directory rules to the base policy's mounts: isolate's defaults are the base policy's
// system binds, /proc, /dev and /tmp plus the box at /box; a rule for the same inside path replaces the
// mount in place, a new one is appended, "in=" removes it; --no-default-dirs starts from nothing.
func (o *Options) mounts(base *policy.Settings, b Box) ([]policy.Mount, error) {
	var ms []policy.Mount
	if !o.NoDefaultDirs {
		ms = append(ms, base.Filesystem.Mounts...)
		ms = append(ms, policy.Mount{Kind: policy.MountBind, Src: filepath.Clean(b.Dir), Dst: BoxDir, NoSuid: true, NoDev: true})
	}
	tmpSize, tmpInodes := int64(defaultTmpSize), int64(0)
	for _, m := range base.Filesystem.Mounts {
		if m.Kind == policy.MountTmpfs && m.Dst == "/tmp" {
			tmpSize, tmpInodes = m.Size, m.Inodes
		}
	}
	find := func(dst string) int {
		for i, m := range ms {
			if m.Dst == dst {
				return i
			}
		}
		return -1
	}
	for _, d := range o.Dirs {
		i := find(d.In)
		if d.Remove {
			if i >= 0 {
				ms = append(ms[:i], ms[i+1:]...)
			}
			continue
		}
		var m policy.Mount
		switch {
		case d.Tmp || (d.FS && d.Out == "tmpfs"):
			m = policy.Mount{Kind: policy.MountTmpfs, Dst: d.In, Size: tmpSize, Inodes: tmpInodes, Mode: 0o1777,
				NoSuid: true, NoDev: true, NoExec: d.NoExec, ReadOnly: !d.RW && !d.Tmp}
		case d.FS: // proc at /proc, checked by Refused
			// The same proc as the default layout's: jailrun always mounts it read-only, nosuid, nodev and
			// noexec (policy.CheckInvariants requires the flags), so rw and noexec change nothing.
			m = procMount
			for _, bm := range base.Filesystem.Mounts {
				if bm.Kind == policy.MountProc {
					m = bm
				}
			}
		case d.In == "/dev" && (d.Dev || d.Out == "/dev"):
			m = policy.Mount{Kind: policy.MountDev, Dst: "/dev", NoSuid: true, NoExec: true}
		default:
			src := d.Out
			if !filepath.IsAbs(src) {
				src = filepath.Join(b.CallerDir, src)
			}
			m = policy.Mount{Kind: policy.MountBind, Src: filepath.Clean(src), Dst: d.In, ReadOnly: !d.RW,
				Optional: d.Maybe, NoSuid: true, NoDev: true, NoExec: d.NoExec}
		}
		if i >= 0 {
			ms[i] = m
		} else {
			ms = append(ms, m)
		}
	}
	return ms, nil
}

// procMount is the proc mount of a base policy that has none (every builtin policy has one like it).
var procMount = policy.Mount{Kind: policy.MountProc, Dst: "/proc", NoSuid: true, NoDev: true, NoExec: true}

// workdir is isolate's: /box, or --chdir (relative to /box when relative, as isolate chdirs from there).
func (o *Options) workdir() string {
	switch {
	case o.Chdir == "":
		return BoxDir
	case path.IsAbs(o.Chdir):
		return path.Clean(o.Chdir)
	}
	return path.Join(BoxDir, o.Chdir)
}

// limits sets the sandbox-wide limits isolate has options for.
func (o *Options) limits(s *policy.Settings) {
	l := &s.Limits
	if o.CGMem != nil {
		l.Memory, l.MemorySwap = *o.CGMem, 0
	}
	if o.Time != nil {
		l.CPUTime = *o.Time
	}
	if o.ExtraTime != nil {
		l.ExtraTime = *o.ExtraTime
	}
	if o.WallTime != nil {
		l.WallTime = *o.WallTime
	} else if l.CPUTime > 0 && l.WallTime > 0 {
		// isolate has no wall limit without -w: keep the base policy's as a backstop, but never below twice
		// the CPU time (plus grace), so it cannot end a run the CPU limit allows.
		l.WallTime = max(l.WallTime, 2*(l.CPUTime+l.ExtraTime)+time.Second)
	}
	switch {
	case o.Processes == nil:
		l.Pids = 1 // isolate's default: one process, no threads
	case *o.Processes > 0:
		l.Pids = *o.Processes
	} // -p without a count: the base policy's cap
	// isolate passes output straight to its files and caps them only with --fsize; no stream limits, so
	// that the child's stdout is the file itself and RLIMIT_FSIZE applies to it as in isolate.
	l.Output = policy.OutputLimits{}
}

// rlimits derives the rlimits: isolate's values where it has an option or a default of its own
// (--open-files 64, unlimited stack), the base policy's otherwise.
func (o *Options) rlimits(base *policy.Settings, l policy.Limits) []policy.Rlimit {
	rl := map[policy.Resource]uint64{}
	for _, r := range base.Rlimits {
		rl[r.Resource] = r.Hard
	}
	delete(rl, policy.RlimitCPU)
	if l.CPUTime > 0 {
		// The backstop policy.Compile derives: CPU time plus grace, rounded up to seconds, plus one.
		rl[policy.RlimitCPU] = uint64((l.CPUTime+l.ExtraTime+time.Second-1)/time.Second) + 1
	}
	setOr := func(res policy.Resource, v *int64, def uint64, zeroMeans uint64, drop bool) {
		switch {
		case v == nil:
			rl[res] = def
		case *v == 0 && drop:
			delete(rl, res)
		case *v == 0:
			rl[res] = zeroMeans
		default:
			rl[res] = uint64(*v)
		}
	}
	if o.FSize != nil {
		setOr(policy.RlimitFsize, o.FSize, 0, policy.RlimInfinity, false)
	}
	setOr(policy.RlimitStack, o.Stack, policy.RlimInfinity, policy.RlimInfinity, false)
	setOr(policy.RlimitCore, o.Core, 0, 0, false)
	// --open-files 0 is "unlimited": the child keeps jailrun's own limit (the kernel caps it anyway).
	setOr(policy.RlimitNofile, o.OpenFiles, DefaultOpenFiles, 0, true)
	if o.Mem != nil {
		setOr(policy.RlimitAS, o.Mem, 0, 0, true)
	} else {
		delete(rl, policy.RlimitAS)
	}
	out := make([]policy.Rlimit, 0, len(rl))
	for r, v := range rl {
		out = append(out, policy.Rlimit{Resource: r, Soft: v, Hard: v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Resource < out[j].Resource })
	return out
}

// env is isolate's environment: nothing but LIBC_FATAL_STDERR_=1 and the -E rules in order, after
// --full-env (which is applied first). It returns the fixed values and the names inherited from the caller.
func (o *Options) env(caller []string) (set, allow []string) {
	type state struct {
		inherit bool
		value   string
	}
	vars := map[string]*state{}
	if o.FullEnv {
		for _, kv := range caller {
			if k, _, ok := strings.Cut(kv, "="); ok && k != "" {
				vars[k] = &state{inherit: true}
			}
		}
	}
	rules := append([]EnvRule{{Name: "LIBC_FATAL_STDERR_", Value: "1"}}, o.Env...)
	for _, r := range rules {
		switch {
		case r.Inherit:
			vars[r.Name] = &state{inherit: true}
		case r.Value == "":
			delete(vars, r.Name)
		default:
			vars[r.Name] = &state{value: r.Value}
		}
	}
	for k, st := range vars {
		if st.inherit {
			allow = append(allow, k)
		} else {
			set = append(set, k+"="+st.value)
		}
	}
	sort.Strings(set)
	sort.Strings(allow)
	return set, allow
}

// inetSockets lets --share-net programs open IPv4 and IPv6 sockets (the base filter allows only AF_UNIX):
// with the host's network namespace they reach the host's network, as in isolate.
func inetSockets() []policy.SeccompRule {
	rule := func(family uint64) policy.SeccompRule {
		return policy.SeccompRule{Syscalls: []string{"socket"}, Action: policy.Action{Kind: policy.ActAllow},
			Args: []policy.ArgCond{{Index: 0, Op: policy.OpMaskedEq, Mask: 0xffffffff, Value: family}}}
	}
	return []policy.SeccompRule{rule(2), rule(10)} // AF_INET, AF_INET6
}

// digest names the translated settings: the base policy's digest and everything isolate changed, so that
// two runs with different isolate options never claim the same policy.
func digest(base string, s *policy.Settings) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\n%+v\n%+v\n%+v\n%+v\n%+v\n%+v", base, s.Namespaces,
		s.Filesystem, s.Limits, s.Rlimits, s.Process, s.Seccomp.Rules))
	return hex.EncodeToString(sum[:])
}

// Command returns the argv of --run: argv[0] as isolate's execve sees it, a path relative to the working
// directory unless absolute (isolate never searches PATH). A relative path with a '/' ("./sol", "bin/sol")
// is passed unchanged, as isolate passes it: the sandbox executes it from the working directory and the
// program sees the argv[0] it was given. A bare name ("sol") must become a path, or the sandbox would look
// it up in PATH: it is made "./sol", the nearest to isolate's execve("sol").
func (o *Options) Command() []string {
	argv := append([]string(nil), o.Argv...)
	if !strings.Contains(argv[0], "/") {
		argv[0] = "./" + argv[0]
	}
	return argv
}

// HostFile maps a --stdin/--stdout/--stderr path (inside the sandbox; relative paths are relative to /box,
// where isolate opens them) to the host directory of the bind mount that holds it and the path below it.
// An output file must be in a writable bind. Files on a tmpfs inside the sandbox cannot be redirected.
func HostFile(s *policy.Settings, inner string, write bool) (dir, rel string, err error) {
	p := inner
	if !path.IsAbs(p) {
		p = path.Join(BoxDir, p)
	}
	p = path.Clean(p)
	best := -1
	for i, m := range s.Filesystem.Mounts {
		if m.Dst == p || strings.HasPrefix(p, strings.TrimSuffix(m.Dst, "/")+"/") {
			if best < 0 || len(m.Dst) >= len(s.Filesystem.Mounts[best].Dst) {
				best = i
			}
		}
	}
	if best < 0 || s.Filesystem.Mounts[best].Kind != policy.MountBind || s.Filesystem.Mounts[best].Dst == p {
		return "", "", unsupported("%s: redirected files must be inside a directory bound from the host, such as /box", inner)
	}
	m := s.Filesystem.Mounts[best]
	if write && m.ReadOnly {
		return "", "", fmt.Errorf("%s: %s is read-only inside the sandbox", inner, m.Dst)
	}
	return m.Src, strings.TrimPrefix(p, m.Dst+"/"), nil
}
