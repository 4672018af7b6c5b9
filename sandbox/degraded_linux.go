//go:build linux && cgo

package sandbox

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"

	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// Degraded mode: when this host does not let jailrun create a user namespace (a non-root caller on a host
// that blocks them, or a container), no namespace can be made at all. A policy may opt in to running anyway
// with what an unprivileged process can still enforce on itself — the seccomp filter, a Landlock ruleset
// derived from the mounts (on the host's tree), rlimits, no_new_privs, a new session, the parent-death
// signal, closed fds and the environment allowlist — by allowing every namespace it asks for to be skipped
// (require.best_effort "namespaces"). Otherwise the run is refused with the host's reason and its fix.
// The result says mode "degraded", lists the namespaces in skipped, and spells out in missing_isolation
// what the run did not have.

// usernsOK remembers that a user namespace could be created, so the probe runs once per process.
var usernsOK atomic.Bool

// degraded is the state of a degraded run.
type degraded struct {
	orig *policy.Settings // the policy as written, namespaces and all
	// dirs maps each writable tmpfs destination to the private host directory that stands in for it.
	dirs map[string]string
}

var nsKinds = []struct {
	name    string
	on      func(policy.Namespaces) bool
	missing string
}{
	{"user", func(n policy.Namespaces) bool { return n.User }, "user: no user namespace: the command runs as the caller's own uid and gid on the host, not as a mapped id"},
	{"pid", func(n policy.Namespaces) bool { return n.PID }, "pid: no pid namespace: the host's processes are visible in /proc; what the command leaves in its process group is killed when it ends, but a process that starts its own session can outlive the run (and keep its output pipes open) unless a cgroup holds it"},
	{"mount", func(n policy.Namespaces) bool { return n.Mount }, "mount: no mount namespace: the command sees the host's tree, confined by Landlock to the bind sources (at their host paths), /proc and the /dev device files; file entries and masked_paths are not applied; each writable tmpfs is a private directory removed after the run"},
	{"net", func(n policy.Namespaces) bool { return n.Net }, "net: no network namespace: the host's network; only the seccomp filter and Landlock (TCP bind/connect denied) restrict it"},
	{"ipc", func(n policy.Namespaces) bool { return n.IPC }, "ipc: no ipc namespace: the host's System V IPC objects and POSIX message queues are reachable"},
	{"uts", func(n policy.Namespaces) bool { return n.UTS }, "uts: no uts namespace: the host's hostname (process.hostname not applied)"},
	{"cgroup", func(n policy.Namespaces) bool { return n.Cgroup }, "cgroup: no cgroup namespace: the host's cgroup paths are visible"},
	{"time", func(n policy.Namespaces) bool { return n.Time }, "time: no time namespace: the host's clocks"},
}

// chooseMode decides between a normal run and degraded mode, or refuses. It runs before anything is created.
func (l *launch) chooseMode() error {
	s := l.s
	l.res.Mode = ModeNamespaces
	if !s.Namespaces.User {
		return nil
	}
	if usernsOK.Load() {
		return nil
	}
	st := ProbeUserns()
	if st.Available {
		// Remembered: a host that later blocks them makes the clone fail, which refuses the run anyway.
		// A refusal is not remembered, so lifting the restriction takes effect at once.
		usernsOK.Store(true)
		return nil
	}
	if l.r.plat.root {
		// Root needs no user namespace for the others: only that one is missing.
		if !s.Require.Allows("namespaces.user") {
			return fmt.Errorf("%w: namespaces.user: this host refuses user namespaces even to root: %s (or list namespaces.user in require.best_effort to run without one; process.uid is then a host id)", ErrUnsupported, st.Explain())
		}
		c := s.Clone()
		c.Namespaces.User = false
		l.s = c
		l.res.Skipped = append(l.res.Skipped, "namespaces.user")
		l.res.MissingIsolation = append(l.res.MissingIsolation, "user: no user namespace: process.uid and process.gid are host ids")
		return nil
	}
	var asked, refused []string
	for _, k := range nsKinds {
		if k.on(s.Namespaces) {
			asked = append(asked, k.name)
			if !s.Require.Allows("namespaces." + k.name) {
				refused = append(refused, "namespaces."+k.name)
			}
		}
	}
	if len(refused) > 0 {
		return fmt.Errorf("%w: namespaces.user: jailrun runs as uid %d and this host does not let it create a user namespace: %s. Without one no namespace can be made, so the run is refused; to run in degraded mode instead (seccomp, Landlock, rlimits, no_new_privs, but no pid, mount or network isolation), the policy must list \"namespaces\" in require.best_effort (not allowed now: %s)",
			ErrUnsupported, os.Geteuid(), st.Explain(), strings.Join(refused, ", "))
	}
	// Landlock is the only filesystem isolation left: without it the command would see the whole host.
	if s.Filesystem.Landlock == policy.LandlockOff {
		return fmt.Errorf("%w: degraded mode (no user namespaces here: %s) needs the Landlock layer, and filesystem.landlock is \"off\"", ErrUnsupported, st.Err)
	}
	if _, err := LandlockABI(); err != nil {
		return fmt.Errorf("%w: degraded mode (no user namespaces here: %s) needs Landlock for filesystem isolation, and %w", ErrUnsupported, st.Err, err)
	}
	if !s.Process.NoNewPrivs {
		return fmt.Errorf("%w: degraded mode needs process.no_new_privs (Landlock and seccomp without privileges)", ErrUnsupported)
	}
	c := s.Clone()
	c.Namespaces = policy.Namespaces{}
	c.Network.LoopbackUp = false
	c.Process.Hostname = ""
	c.Process.UID, c.Process.GID = uint32(os.Getuid()), uint32(os.Getgid())
	l.s = c
	l.dg = &degraded{orig: s, dirs: map[string]string{}}
	l.res.Mode = ModeDegraded
	for _, k := range nsKinds {
		if k.on(s.Namespaces) {
			l.res.Skipped = append(l.res.Skipped, "namespaces."+k.name)
			l.res.MissingIsolation = append(l.res.MissingIsolation, k.missing)
		}
	}
	if s.Network.LoopbackUp {
		l.res.Skipped = append(l.res.Skipped, "network.loopback")
	}
	l.r.opts.Logf("degraded mode: %s; running without namespaces (%s) as the policy allows (require.best_effort); the result's missing_isolation lists what is missing", st.Err, strings.Join(asked, ", "))
	return nil
}

// adjust fits the spawn to the host's tree: private directories for writable tmpfs mounts (the working
// directory and environment values that name one follow it), no id switch beyond the caller's own ids.
func (d *degraded) adjust(l *launch, cfg *spawnConfig) error {
	cfg.userns, cfg.setGroups = false, false
	cfg.unprivileged = noCapabilities()
	base := os.Getenv("XDG_RUNTIME_DIR")
	if fi, err := os.Stat(base); base == "" || err != nil || !fi.IsDir() {
		base = os.TempDir()
	}
	for _, m := range d.orig.Filesystem.Mounts {
		if m.Kind != policy.MountTmpfs || m.ReadOnly {
			continue
		}
		dir, err := os.MkdirTemp(base, "jailrun-"+l.res.RunID+"-")
		if err != nil {
			return &SetupError{Stage: "prepare", Step: "degraded mode: a private directory for tmpfs " + m.Dst, Err: err}
		}
		l.cleanup = append(l.cleanup, func() { os.RemoveAll(dir) })
		d.dirs[m.Dst] = dir
	}
	cfg.workdir = d.mapPath(cfg.workdir)
	env := make([]string, 0, len(cfg.envp)+1)
	hasTmpdir := false
	for _, kv := range cfg.envp {
		k, v, _ := strings.Cut(kv, "=")
		if k == "TMPDIR" {
			hasTmpdir = true
		}
		env = append(env, k+"="+d.mapPath(v))
	}
	if t, ok := d.dirs["/tmp"]; ok && !hasTmpdir {
		env = append(env, "TMPDIR="+t)
	}
	cfg.envp = env
	return nil
}

// mapPath rewrites a path at or under a writable tmpfs destination to its private directory.
func (d *degraded) mapPath(p string) string {
	for dst, dir := range d.dirs {
		if p == dst {
			return dir
		}
		if rest, ok := strings.CutPrefix(p, dst+"/"); ok {
			return dir + "/" + rest
		}
	}
	return p
}

// view is where a policy mount is on the host's tree, for the Landlock rules.
func (d *degraded) view(m policy.Mount) (string, bool) {
	switch m.Kind {
	case policy.MountBind:
		return m.Src, true
	case policy.MountTmpfs:
		dir, ok := d.dirs[m.Dst]
		return dir, ok
	case policy.MountProc:
		return "/proc", true
	case policy.MountDev:
		return "/dev", true
	}
	return "", false // file entries are not written on the host
}

// spawned: without a pid namespace nothing kills what the command leaves behind when the reaper exits, and
// a leftover holding the output pipes would keep the run open. The reaper made the run's process group
// (setsid); as soon as the reaper exits (its pidfd turns readable), the whole group is killed. A pgid stays
// reserved while any member lives, so this reaches no one else. A process that left the group (setsid
// again) escapes this; a cgroup, when there is one, still holds it.
func (l *launch) spawned(pid int) {
	if l.dg == nil {
		return
	}
	killGroup := func() { _ = unix.Kill(-pid, unix.SIGKILL) }
	if fd, err := unix.Dup(l.pidfd); err == nil {
		go func() {
			defer unix.Close(fd)
			pfd := []unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}
			for {
				if _, err := unix.Poll(pfd, -1); err != unix.EINTR {
					break
				}
			}
			killGroup()
		}()
	}
	l.cleanup = append(l.cleanup, killGroup)
}

// noCapabilities reports whether this process has no capabilities at all, so there is nothing for the exec
// stage to drop (and no CAP_SETPCAP to lock the securebits with).
func noCapabilities() bool {
	st, ok := readTrim("/proc/self/status")
	if !ok {
		return false
	}
	for _, line := range strings.Split(st, "\n") {
		for _, f := range []string{"CapInh:", "CapPrm:", "CapEff:", "CapAmb:"} {
			if v, ok := strings.CutPrefix(line, f); ok && strings.Trim(strings.TrimSpace(v), "0") != "" {
				return false
			}
		}
	}
	return true
}
