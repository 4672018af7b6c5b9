// Package cgroups gives every sandboxed run a cgroup of its own: it creates it under a parent that stays inside
// the caller's own cgroup, applies the policy's resource limits, accounts CPU, memory and pids from the kernel's
// counters, kills everything inside at once, removes it, and sweeps up cgroups left by jailrun processes that
// died (the janitor). It works on pure cgroup v2, on legacy v1 and on hybrid hosts (v1 controllers, v2 without
// them), where it uses the v1 hierarchies.
//
// Fail closed: a limit whose controller is missing or not delegated makes Create fail with an *UnsupportedError
// naming the setting, the controller, why, and how to enable it, unless the policy marks the setting best
// effort; then the setting is skipped and listed in Cgroup.Skipped. See docs/cgroups.md.
package cgroups

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jailrun/jailrun/internal/procid"
)

// Mode is how this host mounts cgroups.
type Mode string

const (
	// ModeV2 is the unified hierarchy only (/sys/fs/cgroup is cgroup2).
	ModeV2 Mode = "v2"
	// ModeV1 is legacy: one cgroup v1 hierarchy per controller (or group of controllers).
	ModeV1 Mode = "v1"
	// ModeHybrid has v1 hierarchies for the controllers and a cgroup2 mount (usually /sys/fs/cgroup/unified)
	// that holds few or none. jailrun uses the v1 hierarchies there.
	ModeHybrid Mode = "hybrid"
	// ModeNone means no cgroup filesystem is mounted.
	ModeNone Mode = "none"
)

// CreateOptions are what a run needs of its cgroup beyond its limits (Manager.CreateWith).
type CreateOptions struct {
	// Extra names v1 controllers the run should also get a directory in when the host has them (no limit is
	// set in them): the cgroup view needs cpu and cpuset, which the JVM requires to find its limits.
	Extra []string
	// PIDNamespace says that every process of the run lives in a pid namespace of its own, whose init the
	// caller kills to end the run: the kernel then kills the rest and lets none of them fork. On v1 the
	// freezer hierarchy, there only so that Kill can stop a fork bomb outrunning it, is then not created
	// (one hierarchy in four: a mkdir, a tasks file and an rmdir fewer per run). Kill still works without it,
	// with its signal loop.
	PIDNamespace bool
}

// Options configure a Manager.
type Options struct {
	// Parent is the cgroup under which runs are created. An absolute path ("/jailrun") is taken from the root
	// of the hierarchy (of every v1 hierarchy); a relative one ("jailrun-ci") from the calling process's own
	// cgroup. Default: "jailrun", a child of the caller's own cgroup (per v1 hierarchy), so that the caller's
	// own limits (Docker, a systemd slice, a CI job's cgroup) still contain the sandboxes.
	Parent string

	// Registry is a directory only the caller can write (jailrun uses /run/jailrun/cgroups as root, its
	// per-user runtime directory otherwise; made on first use, refused if others can write it or a parent
	// directory) where each process records the parent directories it makes runs
	// under, before the first one. Janitor follows the records of dead processes, so the runs of a jailrun
	// killed by SIGKILL are removed even by a later jailrun whose parent differs (another shell's or
	// service's cgroup, another --cgroup-parent). "" keeps no records: Janitor then sees its own parent only.
	Registry string

	// Test hooks (unexported so that only this package's tests can set them).

	// disable marks controllers unavailable, with the reason to report, to exercise fail-closed paths.
	disable map[string]string
	// unified forces cgroup v2 on this cgroup2 mount point (the hybrid host's /sys/fs/cgroup/unified).
	unified string
	// noSwapAccounting pretends the memory controller has no swap accounting file.
	noSwapAccounting bool
	// account adds controllers to the ones every run gets for accounting (v2: enabled in the parent).
	account []string
}

// Stats are a run's resource figures, read from the kernel's cgroup counters after the run.
type Stats struct {
	// CPUTotal is the CPU time of every task that ever ran in the cgroup; CPUUser and CPUSystem split it.
	// v2: cpu.stat usage_usec/user_usec/system_usec; v1: cpuacct.usage, cpuacct.usage_user/_sys (ns).
	CPUUser, CPUSystem, CPUTotal time.Duration
	// MemoryPeak is the highest memory use of the cgroup as a whole (anonymous memory, page cache, kernel
	// memory charged to it), in bytes; -1 when the kernel does not record it (v2 before 5.19, or no memory
	// controller). MemoryPeakSource names the file: "memory.peak" (v2) or "memory.max_usage_in_bytes" (v1).
	MemoryPeak       int64
	MemoryPeakSource string
	// PidsPeak is the highest number of tasks at once (pids.peak, v2 and v1 since Linux 6.1); -1 if unknown.
	PidsPeak int64
	// OOMKills counts the tasks the OOM killer killed in the cgroup: memory.events oom_kill (v2),
	// memory.oom_control oom_kill (v1).
	OOMKills int64
	// MemoryLimitHit: OOMKills > 0, or the usage reached the limit at least once (v2 memory.events "max",
	// v1 memory.failcnt). Reaching the limit forces reclaim (page cache first) and does not by itself mean that
	// anything failed: an MLE verdict is OOMKills > 0, or MemoryLimitHit together with an abnormal end.
	MemoryLimitHit bool
	// PidsLimitHit: a fork or clone failed because of pids.max (pids.events "max" > 0).
	PidsLimitHit bool
	// MemoryLimitEvents counts the times the usage reached the limit: v2 memory.events "max", v1
	// memory.failcnt. PidsLimitEvents counts the forks pids.max refused: pids.events "max" (v2 and v1).
	MemoryLimitEvents, PidsLimitEvents int64
	// MemorySwapLimitEvents counts the times memory+swap reached its limit: v1 memory.memsw.failcnt (0 on v2,
	// where memory.events "max" counts both).
	MemorySwapLimitEvents int64
}

// ErrUnsupported is matched (errors.Is) by every error that says this host cannot enforce what was asked.
var ErrUnsupported = errors.New("not supported on this host")

// ErrNoCgroup: no cgroup hierarchy is usable at all, so a run cannot be tracked even without limits. It
// matches ErrUnsupported too.
var ErrNoCgroup = fmt.Errorf("no usable cgroup hierarchy: %w", ErrUnsupported)

// UnsupportedError says that a setting cannot be enforced here because its controller (or a kernel feature of
// it) is missing or not delegated. It matches ErrUnsupported.
type UnsupportedError struct {
	// Setting is the policy path, e.g. "limits.memory".
	Setting string
	// Controller is the cgroup controller it needs, e.g. "memory"; File names a missing interface file when
	// the controller is there but lacks the feature (e.g. "memory.swap.max").
	Controller string
	File       string
	// Reason says why, Hint how to enable it.
	Reason string
	Hint   string
}

func (e *UnsupportedError) Error() string {
	var b strings.Builder
	b.WriteString(e.Setting)
	b.WriteString(" cannot be enforced: ")
	if e.File != "" {
		fmt.Fprintf(&b, "%s (%s controller): ", e.File, e.Controller)
	} else if e.Controller != "" {
		fmt.Fprintf(&b, "the %s controller: ", e.Controller)
	}
	b.WriteString(e.Reason)
	if e.Hint != "" {
		b.WriteString("; ")
		b.WriteString(e.Hint)
	}
	fmt.Fprintf(&b, " (or mark %s best-effort in the policy's require section)", e.Setting)
	return b.String()
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// LimitError says that the kernel refused a limit value (too small for what is already charged, CPUs outside
// the parent's cpuset, ...). It is a problem of the policy against this host, not a missing feature.
type LimitError struct {
	Setting string // "limits.memory"
	File    string // the interface file written, e.g. "memory.max"
	Value   string
	Reason  string // a plain explanation when the errno has a known meaning here
	Err     error
}

func (e *LimitError) Error() string {
	s := fmt.Sprintf("%s: the kernel refused %s=%s", e.Setting, e.File, e.Value)
	if e.Reason != "" {
		return s + ": " + e.Reason
	}
	return s + ": " + e.Err.Error()
}

func (e *LimitError) Unwrap() error { return e.Err }

// The name of a run cgroup is "jr.<pidns>.<pid>.<start>.<seq>[-<id>]": the owner's pid namespace inode, pid
// and start time (field 22 of /proc/<pid>/stat, in clock ticks since boot), so that a later jailrun can tell
// for sure whether the owner is gone (a reused pid has another start time), and a per-process sequence number.
// The optional id is the caller's run id, sanitized, for people reading the tree. The leaf a jailrun process
// moves itself into on cgroup v2 (see docs/cgroups.md) ends in ".self" instead of a sequence number.
const namePrefix = "jr."

// owner identifies a jailrun process across pid reuse (procid.ID, with the cgroup names made from it).
type owner procid.ID

func (o owner) tag() string {
	return namePrefix + procid.ID(o).String()
}

// runName is the name of run number seq; id is kept only as far as it is made of [A-Za-z0-9_-].
func (o owner) runName(seq uint64, id string) string {
	name := o.tag() + "." + strconv.FormatUint(seq, 10)
	if id = sanitizeID(id); id != "" {
		name += "-" + id
	}
	return name
}

func (o owner) selfName() string { return o.tag() + ".self" }

const maxIDLen = 64

func sanitizeID(id string) string {
	var b strings.Builder
	for _, r := range id {
		if b.Len() >= maxIDLen {
			break
		}
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '_', r == '-':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// parseTag is the owner a registry record is named after (owner.tag), ok false for any other name.
func parseTag(name string) (owner, bool) {
	rest, found := strings.CutPrefix(name, namePrefix)
	id, ok := procid.Parse(rest)
	return owner(id), found && ok
}

// parseName reports the owner of a jailrun cgroup name and whether it is a process's own leaf; ok is false for
// names jailrun did not make, which the janitor never touches.
func parseName(name string) (o owner, self bool, ok bool) {
	rest, found := strings.CutPrefix(name, namePrefix)
	if !found {
		return owner{}, false, false
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 4 {
		return owner{}, false, false
	}
	id, ok := procid.Parse(strings.Join(parts[:3], "."))
	if !ok {
		return owner{}, false, false
	}
	o = owner(id)
	last := parts[3]
	if last == "self" {
		return o, true, true
	}
	seq, _, _ := strings.Cut(last, "-")
	if _, err := strconv.ParseUint(seq, 10, 64); err != nil {
		return owner{}, false, false
	}
	return o, false, true
}

// bfqWeight maps an io weight (cgroup v2 io.weight scale: 1..10000, default 100) onto BFQ's 1..1000 (default
// 100) the way systemd does: linear on each side of the default, so that the default maps to the default.
func bfqWeight(w uint16) uint64 {
	const def, min, max = 100, 1, 10000
	const bdef, bmin, bmax = 100, 1, 1000
	x := uint64(w)
	if x <= def {
		return bdef - (def-x)*(bdef-bmin)/(def-min)
	}
	return bdef + (x-def)*(bmax-bdef)/(max-def)
}

// cfqWeight maps an io weight onto the old CFQ blkio.weight scale (10..1000, default 500), the same way.
func cfqWeight(w uint16) uint64 {
	const def, min, max = 100, 1, 10000
	const cdef, cmin, cmax = 500, 10, 1000
	x := uint64(w)
	if x <= def {
		return cdef - (def-x)*(cdef-cmin)/(def-min)
	}
	return cdef + (x-def)*(cmax-cdef)/(max-def)
}

// cpuQuota turns a number of cores into a CFS quota for the given period (µs). The kernel's minimum quota is
// 1 ms; smaller values are raised to it rather than refused (policy allows 0.001 cores at a 100 ms period =
// 100 µs, which the kernel rejects, so the period grows instead to keep the ratio).
func cpuQuota(cores float64) (quota, period uint64) {
	period = 100000
	q := cores * float64(period)
	if q < 1000 {
		// Keep the ratio: lengthen the period (up to the kernel's 1 s maximum).
		period = uint64(1000 / cores)
		if period > 1000000 {
			period = 1000000
		}
		q = cores * float64(period)
		if q < 1000 {
			q = 1000
		}
	}
	return uint64(q + 0.5), period
}

// parseCPUList parses a kernel cpu list ("0-3,8,10-11") into a set.
func parseCPUList(s string) (map[int]bool, error) {
	set := map[int]bool{}
	s = strings.TrimSpace(s)
	if s == "" {
		return set, nil
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return nil, fmt.Errorf("bad cpu list %q", s)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return nil, fmt.Errorf("bad cpu list %q", s)
			}
		}
		if b-a > 1<<16 {
			return nil, fmt.Errorf("bad cpu list %q", s)
		}
		for i := a; i <= b; i++ {
			set[i] = true
		}
	}
	return set, nil
}

// parseKeyed returns the value of key in a "key value" per line file (cpu.stat, memory.events, pids.events,
// memory.oom_control).
func parseKeyed(data []byte, key string) (int64, bool) {
	s := string(data)
	for len(s) > 0 {
		line, rest, _ := strings.Cut(s, "\n")
		s = rest
		k, v, ok := strings.Cut(line, " ")
		if ok && k == key {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n, err == nil
		}
	}
	return 0, false
}

// checkCpuset verifies that the effective CPUs are a non-empty subset of the requested ones.
func checkCpuset(requested, effective string) error {
	want, err := parseCPUList(requested)
	if err != nil {
		return err
	}
	got, err := parseCPUList(effective)
	if err != nil {
		return err
	}
	var extra []string
	for cpu := range got {
		if !want[cpu] {
			extra = append(extra, strconv.Itoa(cpu))
		}
	}
	if len(got) == 0 || len(extra) > 0 {
		sort.Strings(extra)
		return fmt.Errorf("none of the requested CPUs is available (the kernel would run the sandbox on %s instead)", strings.TrimSpace(effective))
	}
	return nil
}
