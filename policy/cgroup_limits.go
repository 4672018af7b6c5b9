package policy

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// CgroupLimit is one of the limits that only a cgroup enforces. CgroupLimits is the one list of them:
// decoding, merging, formatting, compiling, the invariants, policy explain, require.best_effort, the cgroups
// package (which controller to ask for, doctor's trial), the result's enforced.limits and the launcher's
// refusal without a cgroup all walk it. The kernel files are written by the cgroups package, which keeps one
// writer per Name (cgroups/limits_linux.go) and a test that every entry has one.
type CgroupLimit struct {
	// Name is the key under "limits"; the setting (require.best_effort, skipped, errors) is "limits."+Name.
	Name string
	// V2Ctrl and V1Ctrl are the controllers that enforce it on cgroup v2 and v1 ("" = none needed: cgroup
	// v2's core files).
	V2Ctrl, V1Ctrl string
	// V2File and V1File are the files that enforce it, as doctor names them.
	V2File, V1File string
	// With names the limit this one is enforced together with (memory_swap with memory): it is requested
	// whenever that one is, and needs no controller of its own.
	With string
	// On reports whether the settings ask for this limit.
	On func(Limits) bool
	// Value is the limit as the result's enforced.limits reports it.
	Value func(Limits) string
	// Part is the settings with only this limit (and what it needs) from l: what doctor tries when the
	// policy asks for it.
	Part func(l Limits) Limits
	// Trial is a representative value doctor tries when the policy does not set it.
	Trial Limits
	// Explain is the value and the kernel knob, for policy explain.
	Explain func(Limits) (value, knob string)

	decode  func(d *decoder, v *node, path string, l *LimitsSpec)
	merge   func(m *LimitsSpec, parent, child LimitsSpec)
	format  func(o *jobj, l LimitsSpec)
	compile func(s *Limits, l LimitsSpec)
	// check is the invariant every compiled value holds: "" or what is wrong.
	check func(Limits) string
}

// Setting is the limit's policy path, "limits."+Name.
func (c CgroupLimit) Setting() string { return "limits." + c.Name }

// CgroupLimits lists the cgroup limits in the order the policy language, explain and doctor list them.
var CgroupLimits = [...]CgroupLimit{
	{
		Name: "memory", V2Ctrl: "memory", V1Ctrl: "memory", V2File: "memory.max", V1File: "memory.limit_in_bytes",
		On:    func(l Limits) bool { return l.Memory > 0 },
		Value: func(l Limits) string { return strconv.FormatInt(l.Memory, 10) },
		Part:  func(l Limits) Limits { return Limits{Memory: l.Memory} },
		Trial: Limits{Memory: 256 << 20},
		Explain: func(l Limits) (string, string) {
			return sizeOr(l.Memory, "unlimited"), "memory.max / memory.limit_in_bytes"
		},
		decode: func(d *decoder, v *node, path string, l *LimitsSpec) {
			l.Memory = d.size(v, path, minMemory, maxLimit, "")
		},
		merge:   func(m *LimitsSpec, p, c LimitsSpec) { m.Memory = over(p.Memory, c.Memory) },
		format:  func(o *jobj, l LimitsSpec) { addSize(o, "memory", l.Memory) },
		compile: func(s *Limits, l LimitsSpec) { s.Memory = l.Memory.Value },
		check: func(l Limits) string {
			return failIf(l.Memory != 0 && (l.Memory < minMemory || l.Memory > maxLimit), "memory %d", l.Memory)
		},
	},
	{
		// Swap is part of the memory limit: v2 caps it on its own (memory.swap.max), v1 caps memory+swap
		// (memsw). A policy with a memory limit and no memory_swap gets no swap at all.
		Name: "memory_swap", With: "memory", V2File: "memory.swap.max", V1File: "memory.memsw.limit_in_bytes",
		On:    func(l Limits) bool { return l.Memory > 0 },
		Value: func(l Limits) string { return strconv.FormatInt(l.MemorySwap, 10) },
		Part:  func(l Limits) Limits { return Limits{Memory: l.Memory, MemorySwap: l.MemorySwap} },
		Trial: Limits{Memory: 256 << 20},
		Explain: func(l Limits) (string, string) {
			switch {
			case l.Memory == 0:
				return "unlimited", "(no memory limit)"
			case l.MemorySwap == 0:
				return "none", "memory.swap.max=0 / memory.memsw.limit_in_bytes=memory"
			}
			return humanSize(l.MemorySwap), "memory.swap.max / memory.memsw.limit_in_bytes=memory+swap"
		},
		decode: func(d *decoder, v *node, path string, l *LimitsSpec) {
			l.MemorySwap = d.size(v, path, 0, maxLimit, "")
		},
		merge:   func(m *LimitsSpec, p, c LimitsSpec) { m.MemorySwap = over(p.MemorySwap, c.MemorySwap) },
		format:  func(o *jobj, l LimitsSpec) { addSize(o, "memory_swap", l.MemorySwap) },
		compile: func(s *Limits, l LimitsSpec) { s.MemorySwap = l.MemorySwap.Value },
		check: func(l Limits) string {
			return failIf(l.MemorySwap < 0 || l.MemorySwap > maxLimit || (l.MemorySwap > 0 && l.Memory == 0), "memory_swap %d", l.MemorySwap)
		},
	},
	{
		Name: "pids", V2Ctrl: "pids", V1Ctrl: "pids", V2File: "pids.max", V1File: "pids.max",
		On:    func(l Limits) bool { return l.Pids > 0 },
		Value: func(l Limits) string { return strconv.FormatInt(l.Pids, 10) },
		Part:  func(l Limits) Limits { return Limits{Pids: l.Pids} },
		Trial: Limits{Pids: 64},
		Explain: func(l Limits) (string, string) {
			if l.Pids == 0 {
				return "unlimited", "pids.max / pids.max"
			}
			// The cgroup also holds jailrun's own pid 1 (the sandbox's reaper): pids counts the command's tasks.
			return strconv.FormatInt(l.Pids, 10), fmt.Sprintf("pids.max=%d / pids.max=%d (the command's tasks + jailrun's pid 1)", l.Pids+1, l.Pids+1)
		},
		decode: func(d *decoder, v *node, path string, l *LimitsSpec) {
			l.Pids = d.integer(v, path, 1, maxPids)
		},
		merge:   func(m *LimitsSpec, p, c LimitsSpec) { m.Pids = over(p.Pids, c.Pids) },
		format:  func(o *jobj, l LimitsSpec) { addI(o, "pids", l.Pids) },
		compile: func(s *Limits, l LimitsSpec) { s.Pids = l.Pids.Value },
		check:   func(l Limits) string { return failIf(l.Pids < 0 || l.Pids > maxPids, "pids %d", l.Pids) },
	},
	{
		Name: "cpu", V2Ctrl: "cpu", V1Ctrl: "cpu", V2File: "cpu.max", V1File: "cpu.cfs_quota_us",
		On:    func(l Limits) bool { return l.CPU > 0 },
		Value: func(l Limits) string { return strconv.FormatFloat(l.CPU, 'f', -1, 64) },
		Part:  func(l Limits) Limits { return Limits{CPU: l.CPU} },
		Trial: Limits{CPU: 1},
		Explain: func(l Limits) (string, string) {
			if l.CPU == 0 {
				return "unlimited", "cpu.max / cpu.cfs_quota_us"
			}
			q := int64(l.CPU * 100000)
			return strconv.FormatFloat(l.CPU, 'f', -1, 64) + " cores", fmt.Sprintf("cpu.max \"%d 100000\" / cpu.cfs_quota_us=%d", q, q)
		},
		decode:  decodeCPU,
		merge:   func(m *LimitsSpec, p, c LimitsSpec) { m.CPU = over(p.CPU, c.CPU) },
		format:  func(o *jobj, l LimitsSpec) { addFloat(o, "cpu", l.CPU) },
		compile: func(s *Limits, l LimitsSpec) { s.CPU = l.CPU.Value },
		check: func(l Limits) string {
			return failIf(l.CPU < 0 || l.CPU > maxCPU || (l.CPU != 0 && l.CPU < 0.001), "cpu %g", l.CPU)
		},
	},
	{
		Name: "cpuset", V2Ctrl: "cpuset", V1Ctrl: "cpuset", V2File: "cpuset.cpus", V1File: "cpuset.cpus",
		On:      func(l Limits) bool { return l.Cpuset != "" },
		Value:   func(l Limits) string { return l.Cpuset },
		Part:    func(l Limits) Limits { return Limits{Cpuset: l.Cpuset} },
		Trial:   Limits{Cpuset: "0"},
		Explain: func(l Limits) (string, string) { return orText(l.Cpuset, "all"), "cpuset.cpus / cpuset.cpus" },
		decode: func(d *decoder, v *node, path string, l *LimitsSpec) {
			if f, ok := d.str(v, path, 1024); ok {
				c, err := parseCpuset(f.Value)
				if err != nil {
					msg := fmt.Sprintf("%s %v", describe(v), err)
					if n, ok := cpuOverBound(f.Value); ok {
						// parseCpuset says only "not a CPU list"; a well-formed number past the bound needs the bound.
						msg = fmt.Sprintf("%s names CPU %d: CPU numbers are 0..%d (use e.g. \"0-3,6\")", describe(v), n, maxCPUs-1)
					}
					d.errs.add(v, path, msg)
					return
				}
				l.Cpuset = set(c, f.Pos)
			}
		},
		merge:   func(m *LimitsSpec, p, c LimitsSpec) { m.Cpuset = over(p.Cpuset, c.Cpuset) },
		format:  func(o *jobj, l LimitsSpec) { addS(o, "cpuset", l.Cpuset) },
		compile: func(s *Limits, l LimitsSpec) { s.Cpuset = l.Cpuset.Value },
		check:   func(Limits) string { return "" },
	},
	{
		Name: "io_weight", V2Ctrl: "io", V1Ctrl: "blkio", V2File: "io.weight", V1File: "blkio.bfq.weight",
		On:    func(l Limits) bool { return l.IOWeight > 0 },
		Value: func(l Limits) string { return strconv.Itoa(int(l.IOWeight)) },
		Part:  func(l Limits) Limits { return Limits{IOWeight: l.IOWeight} },
		Trial: Limits{IOWeight: 100},
		Explain: func(l Limits) (string, string) {
			return intOr(int64(l.IOWeight), "default"), "io.weight / blkio.bfq.weight (blkio.weight on CFQ)"
		},
		decode: func(d *decoder, v *node, path string, l *LimitsSpec) {
			l.IOWeight = d.integer(v, path, 1, 10000)
		},
		merge:   func(m *LimitsSpec, p, c LimitsSpec) { m.IOWeight = over(p.IOWeight, c.IOWeight) },
		format:  func(o *jobj, l LimitsSpec) { addI(o, "io_weight", l.IOWeight) },
		compile: func(s *Limits, l LimitsSpec) { s.IOWeight = uint16(l.IOWeight.Value) },
		check:   func(l Limits) string { return failIf(l.IOWeight > 10000, "io_weight %d", l.IOWeight) },
	},
	{
		// CPU time is measured from the cgroup (v2's cpu.stat needs no controller, v1 needs cpuacct) and
		// enforced by the launcher's watch; nothing is written.
		Name: "cpu_time", V1Ctrl: "cpuacct", V2File: "cpu.stat usage_usec", V1File: "cpuacct.usage",
		On:    func(l Limits) bool { return l.CPUTime > 0 },
		Value: func(l Limits) string { return l.CPUTime.String() },
		Part:  func(Limits) Limits { return Limits{CPUTime: time.Second} },
		Trial: Limits{CPUTime: time.Second},
		Explain: func(l Limits) (string, string) {
			return durOr(l.CPUTime), "cpu.stat usage_usec / cpuacct.usage, watched by jailrun; RLIMIT_CPU backstop"
		},
		decode: func(d *decoder, v *node, path string, l *LimitsSpec) {
			l.CPUTime = d.duration(v, path, time.Millisecond, maxDuration)
		},
		merge: func(m *LimitsSpec, p, c LimitsSpec) { m.CPUTime = over(p.CPUTime, c.CPUTime) },
		format: func(o *jobj, l LimitsSpec) {
			if l.CPUTime.Set {
				o.add("cpu_time", formatDuration(l.CPUTime.Value))
			}
		},
		compile: func(s *Limits, l LimitsSpec) { s.CPUTime = l.CPUTime.Value },
		// Checked with the other times in CheckInvariants (extra_time adds to it).
		check: func(Limits) string { return "" },
	},
}

// CgroupLimitByName returns the entry for name ("memory", not "limits.memory").
func CgroupLimitByName(name string) (CgroupLimit, bool) {
	for _, c := range CgroupLimits {
		if c.Name == name {
			return c, true
		}
	}
	return CgroupLimit{}, false
}

func decodeCPU(d *decoder, v *node, path string, l *LimitsSpec) {
	if v.kind != kindNumber {
		d.errs.add(v, path, fmt.Sprintf("expected a number of cores such as 0.5, got %s", describe(v)))
		return
	}
	f, err := strconv.ParseFloat(v.str, 64)
	if err != nil || !(f > 0) || f > maxCPU {
		d.errs.add(v, path, fmt.Sprintf("%s is out of range (a number of cores above 0 and at most %g, e.g. 0.5)", v.str, maxCPU))
		return
	}
	// The kernel's quota granularity is 1 µs of a 100 ms period; below 0.001 cores rounds to nothing.
	if f < 0.001 {
		d.errs.add(v, path, fmt.Sprintf("%s is below the minimum of 0.001 cores", v.str))
		return
	}
	l.CPU = set(f, v.pos)
}

func addFloat(o *jobj, k string, f Field[float64]) {
	if f.Set {
		o.add(k, jraw(strconv.FormatFloat(f.Value, 'f', -1, 64)))
	}
}

func failIf(bad bool, format string, a ...any) string {
	if !bad {
		return ""
	}
	return fmt.Sprintf(format, a...)
}

// cgroupLimitFields are the decoder's fields for the cgroup limits, in table order.
func (d *decoder) cgroupLimitFields(l *LimitsSpec) []field {
	out := make([]field, 0, len(CgroupLimits))
	for _, c := range CgroupLimits {
		out = append(out, field{c.Name, func(v *node, path string) { c.decode(d, v, path, l) }})
	}
	return out
}

// cpuOverBound finds, in a cpu list parseCpuset refused, a plain CPU number that is at or above maxCPUs.
func cpuOverBound(list string) (int, bool) {
	for _, part := range strings.Split(list, ",") {
		lo, hi, _ := strings.Cut(part, "-")
		for _, n := range []string{lo, hi} {
			if n == "" || len(n) > 10 || (len(n) > 1 && n[0] == '0') || strings.Trim(n, "0123456789") != "" {
				continue
			}
			if v, err := strconv.Atoi(n); err == nil && v >= maxCPUs {
				return v, true
			}
		}
	}
	return 0, false
}
