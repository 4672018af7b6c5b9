//go:build linux && cgo

package sandbox

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/internal/procid"
	"github.com/jailrun/jailrun/policy"
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

// chooseMode applies DecideMode's decision before anything is created: a refusal, a run without the user
// namespace, or degraded mode.
func (l *launch) chooseMode() error {
	s := l.s
	l.res.Mode = ModeNamespaces
	h := HostFacts{UID: os.Geteuid(), Root: l.r.plat.root, Userns: UsernsStatus{Available: true}}
	if s.Namespaces.User && !usernsOK.Load() {
		h.Userns = ProbeUserns()
		if h.Userns.Available {
			// Remembered: a host that later blocks them makes the clone fail, which refuses the run anyway.
			// A refusal is not remembered, so lifting the restriction takes effect at once.
			usernsOK.Store(true)
		}
	}
	if !h.Userns.Available {
		_, h.Landlock = LandlockABI()
	}
	d := DecideMode(s, h)
	switch {
	case d.Mode == ModeRefused:
		return d.Err
	case d.Mode == ModeWithoutUser && s.Namespaces.User:
		c := s.Clone()
		c.Namespaces.User = false
		l.s = c
		l.res.Skipped = append(l.res.Skipped, "namespaces.user")
		l.res.MissingIsolation = append(l.res.MissingIsolation, "user: no user namespace: process.uid and process.gid are host ids")
		return nil
	case d.Mode != ModeDegraded:
		return nil
	}
	st := h.Userns
	var asked []string
	for _, k := range policy.NamespaceKinds {
		if k.On(s.Namespaces) {
			asked = append(asked, k.Name)
		}
	}
	c := s.Clone()
	c.Namespaces = policy.Namespaces{}
	c.Network.LoopbackUp = false
	c.Process.Hostname = ""
	c.Process.UID, c.Process.GID = uint32(os.Getuid()), uint32(os.Getgid())
	l.s = c
	l.dg = &degraded{orig: s, dirs: map[string]string{}}
	l.res.Mode = ModeDegraded
	for _, k := range policy.NamespaceKinds {
		if k.On(s.Namespaces) {
			l.res.Skipped = append(l.res.Skipped, k.Setting())
			l.res.MissingIsolation = append(l.res.MissingIsolation, k.Missing)
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
	me, err := procid.Self()
	if err != nil {
		return &SetupError{Stage: "prepare", Step: StepTmpfsDir, Err: err}
	}
	sweepPrivateDirs(base, me)
	for _, m := range d.orig.Filesystem.Mounts {
		if m.Kind != policy.MountTmpfs || m.ReadOnly {
			continue
		}
		// Named after this process, so that if it is killed before its cleanup, a later one removes them.
		dir, err := os.MkdirTemp(base, privateDirPrefix+me.String()+"-"+l.res.RunID+"-")
		if err != nil {
			return &SetupError{Stage: "prepare", Step: StepTmpfsDir, What: string(StepTmpfsDir) + " " + m.Dst, Err: err}
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

// privateDirPrefix starts the name of a degraded run's private directory: "jailrun-<owner>-<run id>-<random>",
// where owner is the jailrun process's procid.
const privateDirPrefix = "jailrun-"

var sweptDirs sync.Map // base directories this process has swept

// sweepPrivateDirs removes, once per process and base directory, the private directories that killed jailrun
// processes left in base (a SIGKILL leaves no chance for the run's cleanup): those named after an owner of
// this pid namespace that is gone, owned by this user, and real directories (never a link). Anything else
// named jailrun-… is not touched.
func sweepPrivateDirs(base string, me procid.ID) {
	if _, done := sweptDirs.LoadOrStore(base, true); done {
		return
	}
	ents, err := os.ReadDir(base)
	if err != nil {
		return
	}
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), privateDirPrefix)
		if !ok || !e.IsDir() {
			continue
		}
		tag, _, _ := strings.Cut(rest, "-")
		owner, ok := procid.Parse(tag)
		if !ok || owner.PIDNS != me.PIDNS || owner == me || owner.Alive() {
			continue
		}
		path := filepath.Join(base, e.Name())
		var st unix.Stat_t
		if unix.Lstat(path, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || st.Uid != uint32(os.Geteuid()) {
			continue
		}
		_ = os.RemoveAll(path)
	}
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

// spawned: without a pid namespace the kernel kills nothing when the reaper exits. The reaper itself kills
// and reaps the command's whole tree before it exits, also when jailrun died (kill_descendants in
// spawn_linux.c); this is the second line: the reaper made the run's process group (setsid), and as soon as
// the reaper exits (its pidfd turns readable) the whole group is killed. A pgid stays reserved while any
// member lives, so this reaches no one else.
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
