package cgroups

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/internal/statedir"
	"github.com/jailrun/jailrun/policy"
)

// Probe finds out what this host can enforce for lim (the policy's limits) and req: it creates trial cgroups
// under the same parent runs would use, one per limit kind, and removes them. Like the first run, it may
// enable controllers in this process's own cgroup (cgroup v2, moving the process into a leaf); it undoes that
// with Close before returning.
func Probe(o Options, lim policy.Limits, req policy.Require) *Report {
	r := &Report{Kernel: kernelRelease(), Mode: detectMode()}
	m, err := NewManager(o)
	if err != nil {
		r.Error = err.Error()
		return r
	}
	defer m.Close()
	r.Mode = m.Mode()
	r.Parent = m.parentDirs()
	inKernel := procCgroups()
	ctls := []string{"cpu", "cpuset", "io", "memory", "pids"}
	if !m.v2 {
		ctls = []string{"cpu", "cpuacct", "cpuset", "blkio", "freezer", "memory", "pids"}
	}
	for _, c := range ctls {
		st := ControllerStatus{Name: c, InKernel: inKernel[c]}
		if m.mode == ModeNone {
			st.Detail = "no cgroup filesystem is mounted"
		} else if p, bad := m.prepare([]string{c})[c]; bad {
			st.Detail = p.reason
			if p.hint != "" {
				st.Detail += "; " + p.hint
			}
		} else {
			st.Usable = true
		}
		r.Controllers = append(r.Controllers, st)
	}
	for _, k := range limitKinds(lim) {
		st := LimitStatus{Setting: k.setting, Requested: k.requested, BestEffort: req.Allows(k.setting)}
		c, err := m.Create("doctor", k.trial, policy.Require{})
		var ue *UnsupportedError
		var le *LimitError
		switch {
		case err == nil:
			st.Enforceable = true
			st.Detail = c.enforcedBy(k.setting)
			c.Destroy()
		case errors.As(err, &ue) && ue.Setting == k.setting:
			st.Detail = strings.TrimPrefix(ue.Error(), k.setting+" cannot be enforced: ")
		case errors.As(err, &ue):
			// The trial for memory_swap needs memory first.
			st.Detail = "needs " + ue.Setting + ": " + ue.Reason
		case errors.As(err, &le) && k.requested:
			st.Detail = "the kernel refuses the policy's value: " + strings.TrimPrefix(le.Error(), k.setting+": ")
		case errors.As(err, &le):
			st.Enforceable = true // the controller works; only the trial value was refused
			st.Detail = "controller works (trial value refused: " + le.Error() + ")"
		default:
			st.Detail = err.Error()
		}
		r.Limits = append(r.Limits, st)
	}
	r.Features = m.features()
	return r
}

// enforcedBy names the file that enforces setting in this cgroup, for the report.
func (c *Cgroup) enforcedBy(setting string) string {
	name := strings.TrimPrefix(setting, "limits.")
	if w := writers[name]; w.report != nil {
		return w.report(c, setting)
	}
	k, _ := policy.CgroupLimitByName(name)
	if c.m.v2 {
		return k.V2File
	}
	return k.V1File
}

// bfqDevices says which block devices an io weight can act on: a weight is enforced by the BFQ scheduler (and
// on v2 by io.cost), per device.
func bfqDevices() string {
	scheds, _ := filepath.Glob("/sys/block/*/queue/scheduler")
	bfq := bfqInUse()
	if len(bfq) == 0 {
		if ioCostEnabled() {
			return "takes effect through io.cost"
		}
		if len(scheds) == 0 {
			return "this host has no block devices: a policy with limits.io_weight is refused (121) unless require.best_effort lists it"
		}
		return fmt.Sprintf("none of the %d block devices uses the BFQ scheduler and io.cost is off: a policy with limits.io_weight is refused (121) unless require.best_effort lists it", len(scheds))
	}
	return "takes effect on " + strings.Join(bfq, ", ") + " (BFQ)"
}

// features tries what jailrun relies on, in a trial cgroup.
func (m *Manager) features() []Feature {
	var fs []Feature
	c, err := m.Create("doctor", policy.Limits{Memory: 64 << 20, Pids: 64}, policy.Require{BestEffort: []string{"limits"}})
	if err != nil {
		return append(fs, Feature{Name: "cgroup", Detail: err.Error()})
	}
	defer c.Destroy()
	file := func(name, ctl, f, why string) {
		d := c.dirs[ctl]
		ok := d != "" && exists(filepath.Join(d, f))
		detail := why
		if !ok {
			detail = "missing: " + why
		}
		fs = append(fs, Feature{Name: name, OK: ok, Detail: detail})
	}
	if m.v2 {
		file("memory.peak", "memory", "memory.peak", "peak memory of the sandbox (Linux 5.19)")
		file("cgroup.kill", "", "cgroup.kill", "kills the whole cgroup at once (Linux 5.14); else freeze and kill")
		file("memory.oom.group", "memory", "memory.oom.group", "an OOM kill takes the whole sandbox (Linux 4.19)")
		file("pids.peak", "pids", "pids.peak", "peak number of tasks (Linux 6.1)")
		fs = append(fs, cloneIntoCgroup(c))
	} else {
		file("memory.max_usage_in_bytes", "memory", "memory.max_usage_in_bytes", "peak memory of the sandbox")
		file("memory.memsw", "memory", "memory.memsw.limit_in_bytes", "swap accounting (no swap beyond the limit)")
		file("freezer", "freezer", "freezer.state", "freeze before kill, so a fork bomb cannot race the kill")
		file("pids.peak", "pids", "pids.peak", "peak number of tasks (Linux 6.1)")
		fs = append(fs, Feature{Name: "clone_into_cgroup", OK: false, Detail: "cgroup v2 only; on v1 the launcher adds the child before it execs"})
	}
	if m.records != "" {
		fs = append(fs, m.recordsFeature())
	}
	return fs
}

// recordsFeature says whether this process could record where it makes runs (Options.Registry): without a
// record, the runs of a jailrun killed by SIGKILL are found only by a later one with the same parent.
func (m *Manager) recordsFeature() Feature {
	f := Feature{Name: "cgroup_records"}
	_, err := os.Stat(filepath.Join(m.records, m.owner.tag()))
	if err == nil {
		f.OK, f.Detail = true, "the runs of a jailrun killed by SIGKILL are removed by the next one, whatever its cgroup parent (records in "+m.records+")"
		return f
	}
	if cerr := statedir.Check(m.records); cerr != nil {
		err = cerr
	}
	f.Detail = fmt.Sprintf("cannot record where runs are made (%v): the runs of a jailrun killed by SIGKILL are removed only by a later one with the same cgroup parent", err)
	return f
}

// cloneIntoCgroup starts /bin/true directly inside c with clone3(CLONE_INTO_CGROUP) (Linux 5.7).
func cloneIntoCgroup(c *Cgroup) Feature {
	f := Feature{Name: "clone_into_cgroup"}
	fd, ok := c.CloneFD()
	if !ok {
		f.Detail = "no cgroup fd"
		return f
	}
	bin := ""
	for _, p := range []string{"/bin/true", "/usr/bin/true"} {
		if exists(p) {
			bin = p
			break
		}
	}
	if bin == "" {
		f.Detail = "not tried: no /bin/true"
		return f
	}
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{UseCgroupFD: true, CgroupFD: fd}
	if err := cmd.Run(); err != nil {
		f.Detail = fmt.Sprintf("clone3(CLONE_INTO_CGROUP): %v (Linux 5.7+); the launcher falls back to adding the child", err)
		return f
	}
	f.OK, f.Detail = true, "children start inside their cgroup (Linux 5.7)"
	return f
}

// procCgroups reads which controllers the kernel has enabled (/proc/cgroups).
func procCgroups() map[string]bool {
	out := map[string]bool{}
	b, err := readFile("/proc/cgroups")
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 4 && !strings.HasPrefix(f[0], "#") {
			out[f[0]] = f[3] == "1"
		}
	}
	return out
}

func kernelRelease() string {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// HostFeatures reports the non-cgroup kernel features a sandbox relies on: user namespaces, seccomp, Landlock,
// and the memory settings that change what memory figures mean (swap, transparent huge pages).
func HostFeatures() []Feature {
	return []Feature{userNS(), seccompFeature(), landlockFeature(), swapFeature(), thpFeature()}
}

// userNS tries clone(CLONE_NEWUSER) in a child (exec of /bin/true) and reports the sysctls that restrict
// unprivileged users.
func userNS() Feature {
	f := Feature{Name: "user_namespaces"}
	var notes []string
	for _, s := range []struct{ file, what string }{
		{"/proc/sys/user/max_user_namespaces", "max_user_namespaces"},
		{"/proc/sys/kernel/unprivileged_userns_clone", "unprivileged_userns_clone"},
		{"/proc/sys/kernel/apparmor_restrict_unprivileged_userns", "apparmor_restrict_unprivileged_userns"},
	} {
		if v, err := readString(s.file); err == nil {
			notes = append(notes, s.what+"="+v)
		}
	}
	bin := "/bin/true"
	if !exists(bin) {
		bin = "/usr/bin/true"
	}
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWUSER}
	if err := cmd.Run(); err != nil {
		f.Detail = fmt.Sprintf("clone(CLONE_NEWUSER) as uid %d: %v", os.Geteuid(), err)
	} else {
		f.OK = true
		f.Detail = fmt.Sprintf("clone(CLONE_NEWUSER) works as uid %d", os.Geteuid())
	}
	if len(notes) > 0 {
		f.Detail += " (" + strings.Join(notes, ", ") + ")"
	}
	return f
}

func seccompFeature() Feature {
	f := Feature{Name: "seccomp"}
	mode, err := unix.PrctlRetInt(unix.PR_GET_SECCOMP, 0, 0, 0, 0)
	if err != nil {
		f.Detail = fmt.Sprintf("prctl(PR_GET_SECCOMP): %v: kernel without CONFIG_SECCOMP", err)
		return f
	}
	// With a NULL program, PR_SET_SECCOMP(SECCOMP_MODE_FILTER) fails with EFAULT (or EACCES without
	// no_new_privs) when filters are supported, EINVAL when they are not; it installs nothing either way.
	_, err = unix.PrctlRetInt(unix.PR_SET_SECCOMP, unix.SECCOMP_MODE_FILTER, 0, 0, 0)
	if err == unix.EINVAL {
		f.Detail = "seccomp without filter mode (CONFIG_SECCOMP_FILTER off)"
		return f
	}
	f.OK = true
	f.Detail = "filters supported"
	if mode != 0 {
		f.Detail += fmt.Sprintf("; this process already runs under seccomp mode %d", mode)
	}
	if a, err := readString("/proc/sys/kernel/seccomp/actions_avail"); err == nil {
		f.Detail += "; actions: " + a
	}
	return f
}

func landlockFeature() Feature {
	f := Feature{Name: "landlock"}
	abi, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	switch e {
	case 0:
		f.OK, f.Detail = true, fmt.Sprintf("ABI %d", abi)
	case unix.ENOSYS:
		f.Detail = "not built into this kernel (CONFIG_SECURITY_LANDLOCK)"
	case unix.EOPNOTSUPP:
		f.Detail = "built in but not enabled (add landlock to the lsm= boot parameter)"
	default:
		f.Detail = e.Error()
	}
	return f
}

func swapFeature() Feature {
	f := Feature{Name: "swap"}
	total, err := swapTotal()
	if err != nil {
		f.Detail = err.Error()
		return f
	}
	f.OK = true
	if total == 0 {
		f.Detail = "off: memory limits are RAM limits"
	} else {
		f.Detail = fmt.Sprintf("on (%d MiB): runs may swap only as far as limits.memory_swap allows, which needs swap accounting", total>>20)
	}
	return f
}

func thpFeature() Feature {
	f := Feature{Name: "transparent_hugepages"}
	s, err := readString("/sys/kernel/mm/transparent_hugepage/enabled")
	if err != nil {
		f.Detail = "not available"
		f.OK = true
		return f
	}
	mode := s
	if i := strings.IndexByte(s, '['); i >= 0 {
		if j := strings.IndexByte(s[i:], ']'); j > 0 {
			mode = s[i+1 : i+j]
		}
	}
	f.OK = true
	f.Detail = mode
	if mode == "always" {
		f.Detail += ": memory may be charged in 2 MiB pages, so peaks and OOM points move in 2 MiB steps"
	}
	return f
}
