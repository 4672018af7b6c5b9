package policy

import (
	"fmt"
	"strings"
)

// KernelLimit is one of limits.kernel's ceilings: a per-user budget the kernel keeps (in ucounts, at every
// level of the user namespace hierarchy) that the sandbox gets a low share of. The sysctl ones are written
// by the sandbox's init, inside its own user namespace, to /proc/sys/user/<Sysctl> (the namespace's own
// copy: the host's value and other sandboxes' are untouched); the rlimit ones are set with setrlimit before
// exec. This table is the one list of them: decoding, merging, formatting, explaining and enforcing all
// walk it.
type KernelLimit struct {
	Name    string   // key under limits.kernel
	Sysctl  string   // file under /proc/sys/user, or ""
	Rlimit  Resource // when Sysctl is ""
	Size    bool     // a byte size ("800K"), else a count
	Default int64
	Max     int64
	Doc     string
}

// RLIMIT_SIGPENDING and RLIMIT_MSGQUEUE.
const (
	RlimitSigpending Resource = 11
	RlimitMsgqueue   Resource = 12
)

// KernelLimits lists limits.kernel's keys with their defaults (what a policy that says nothing gets).
var KernelLimits = [...]KernelLimit{
	{Name: "inotify_instances", Sysctl: "max_inotify_instances", Default: 128, Max: 1 << 20, Doc: "inotify_init calls"},
	{Name: "inotify_watches", Sysctl: "max_inotify_watches", Default: 8192, Max: 1 << 24, Doc: "inotify watches"},
	{Name: "fanotify_groups", Sysctl: "max_fanotify_groups", Default: 16, Max: 1 << 20, Doc: "fanotify_init calls"},
	{Name: "fanotify_marks", Sysctl: "max_fanotify_marks", Default: 8192, Max: 1 << 24, Doc: "fanotify marks"},
	{Name: "user_namespaces", Sysctl: "max_user_namespaces", Default: 0, Max: 1 << 20, Doc: "nested user namespaces"},
	{Name: "mnt_namespaces", Sysctl: "max_mnt_namespaces", Default: 0, Max: 1 << 20, Doc: "nested mount namespaces"},
	{Name: "ipc_namespaces", Sysctl: "max_ipc_namespaces", Default: 0, Max: 1 << 20, Doc: "nested ipc namespaces"},
	{Name: "net_namespaces", Sysctl: "max_net_namespaces", Default: 0, Max: 1 << 20, Doc: "nested network namespaces"},
	{Name: "pid_namespaces", Sysctl: "max_pid_namespaces", Default: 0, Max: 1 << 20, Doc: "nested pid namespaces"},
	{Name: "uts_namespaces", Sysctl: "max_uts_namespaces", Default: 0, Max: 1 << 20, Doc: "nested uts namespaces"},
	{Name: "cgroup_namespaces", Sysctl: "max_cgroup_namespaces", Default: 0, Max: 1 << 20, Doc: "nested cgroup namespaces"},
	{Name: "time_namespaces", Sysctl: "max_time_namespaces", Default: 0, Max: 1 << 20, Doc: "nested time namespaces"},
	{Name: "sigpending", Rlimit: RlimitSigpending, Default: 4096, Max: 1 << 24, Doc: "queued signals"},
	{Name: "msgqueue", Rlimit: RlimitMsgqueue, Size: true, Default: 819200, Max: 1 << 30, Doc: "POSIX message queue bytes"},
}

// KernelValues are limits.kernel's resolved values, in KernelLimits' order (an array, so that Settings
// stay comparable); the rlimit entries are 0 here, their values are in Settings.Rlimits.
type KernelValues [len(KernelLimits)]int64

// Get returns the value of the key name.
func (v KernelValues) Get(name string) (int64, bool) {
	for i, k := range KernelLimits {
		if k.Name == name {
			return v[i], true
		}
	}
	return 0, false
}

// KernelLimitsSpec is limits.kernel as written: key -> value.
type KernelLimitsSpec map[string]Field[int64]

func (d *decoder) kernelLimits(n *node, path string, dst *KernelLimitsSpec) {
	var fields []field
	for _, k := range KernelLimits {
		fields = append(fields, field{k.Name, func(v *node, path string) {
			if *dst == nil {
				*dst = KernelLimitsSpec{}
			}
			if k.Size {
				(*dst)[k.Name] = d.size(v, path, 0, k.Max, "")
			} else {
				(*dst)[k.Name] = d.integer(v, path, 0, k.Max)
			}
		}})
	}
	d.obj(n, path, fields)
}

func mergeKernelLimits(parent, child KernelLimitsSpec) KernelLimitsSpec {
	if parent == nil && child == nil {
		return nil
	}
	out := KernelLimitsSpec{}
	for _, k := range KernelLimits {
		if f := over(parent[k.Name], child[k.Name]); f.Set {
			out[k.Name] = f
		}
	}
	return out
}

func formatKernelLimits(lim *jobj, spec KernelLimitsSpec) {
	var o jobj
	for _, k := range KernelLimits {
		if k.Size {
			addSize(&o, k.Name, spec[k.Name])
		} else {
			addI(&o, k.Name, spec[k.Name])
		}
	}
	addObj(lim, "kernel", o)
}

// compileKernelLimits resolves every key (the policy's value or the default): the sysctls go to
// Limits.Kernel, the rlimits to s.Rlimits.
func compileKernelLimits(s *Settings, spec KernelLimitsSpec) {
	for i, k := range KernelLimits {
		v := spec[k.Name].or(k.Default).Value
		if k.Sysctl != "" {
			s.Limits.Kernel[i] = v
			if spec[k.Name].Set {
				s.Limits.KernelSet |= 1 << i
			}
			continue
		}
		s.Rlimits = append(s.Rlimits, Rlimit{Resource: k.Rlimit, Soft: uint64(v), Hard: uint64(v)})
	}
}

func explainKernelLimits(w func(string, ...any), l Limits) {
	var parts []string
	for i, k := range KernelLimits {
		if k.Sysctl != "" {
			parts = append(parts, fmt.Sprintf("%s %d", k.Name, l.Kernel[i]))
		}
	}
	w("\nkernel (per-user budgets, written to /proc/sys/user inside the sandbox's own user namespace; sigpending and msgqueue are rlimits)\n")
	for i := 0; i < len(parts); i += 4 {
		w("  %s\n", strings.Join(parts[i:min(i+4, len(parts))], ", "))
	}
}
