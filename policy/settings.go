package policy

import "time"

// Settings is a compiled policy: the one typed value that the launcher, the cgroups package and the seccomp
// package consume. Nothing downstream of policy.Compile reads JSON.
//
// A Settings value is treated as immutable once Compile returns it; code that needs a variation (a per-run
// override that tightens a limit) copies it with Clone first.
type Settings struct {
	Name        string
	Description string
	// Source says where the policy came from: a file path, or "builtin:NAME".
	Source string
	// SHA256 is the hex digest of the canonical JSON of the effective policy (after extends and defaults),
	// so that two runs can be compared by the policy they really used.
	SHA256 string

	Namespaces Namespaces
	Network    Network
	Filesystem Filesystem
	Limits     Limits
	Rlimits    []Rlimit
	Seccomp    Seccomp
	Process    Process
	Command    Command
	Require    Require

	// Overrides lists the settings put on top of the policy for this run (ApplyOverrides), e.g.
	// "limits.memory=64M", "filesystem.mounts+=bind:/src:/box:rw"; SHA256 is then that of the policy with
	// them. Empty for a policy as written.
	Overrides []string

	// canonical is the canonical JSON of the effective policy this was compiled from (SHA256 is its
	// digest), so that ApplyOverrides can merge on top of it and notice a Settings changed since
	// (sandbox.Tighten changes the digest).
	canonical []byte
}

// Namespaces says which namespaces the child gets. A true field means "a fresh namespace of this kind".
type Namespaces struct {
	User, PID, Mount, Net, IPC, UTS, Cgroup, Time bool
}

// Network configures the sandbox's own network namespace.
type Network struct {
	// LoopbackUp brings the namespace's own lo interface up (it is down in a fresh net namespace).
	LoopbackUp bool
}

// MountKind is the type of one filesystem entry.
type MountKind string

const (
	MountBind  MountKind = "bind"
	MountTmpfs MountKind = "tmpfs"
	MountFile  MountKind = "file"
	MountProc  MountKind = "proc"
	MountDev   MountKind = "dev"
)

// Mount is one entry of the sandbox's filesystem, applied in order on top of an empty tmpfs root.
type Mount struct {
	Kind MountKind
	// Src is the host path of a bind mount (absolute, cleaned).
	Src string
	// Dst is the path inside the sandbox (absolute, cleaned, never "/").
	Dst      string
	ReadOnly bool
	// Optional skips a bind whose source does not exist instead of failing the run.
	Optional bool
	NoSuid   bool
	NoDev    bool
	NoExec   bool
	// Size and Inodes cap a tmpfs (bytes, count); 0 means the kernel default.
	Size   int64
	Inodes int64
	// Mode is the permission bits of a tmpfs root or a file mount.
	Mode uint32
	// NoLandlock leaves this bind out of the Landlock rules: it is mounted, but the Landlock layer grants
	// nothing beneath it (filesystem.mounts[].landlock false).
	NoLandlock bool
	// Pts (dev mounts) adds a private devpts instance at DST/pts and DST/ptmx: pseudo-terminals that only
	// this sandbox sees.
	Pts bool
	// Content is the inline content of a file mount.
	Content string
}

// Filesystem is the sandbox's view of files.
type Filesystem struct {
	Mounts []Mount
	// Workdir is the child's working directory inside the sandbox.
	Workdir string
	// MaskedPaths are hidden inside the sandbox (an empty read-only file or directory is mounted over them).
	MaskedPaths []string
	// Landlock says whether the launcher adds a Landlock layer derived from Mounts.
	Landlock LandlockMode
	// CgroupView mounts a read-only view of the run's own cgroup at /sys/fs/cgroup, so that runtimes (the
	// JVM, Go, Node, .NET) size their heaps and thread pools from the sandbox's limits.
	CgroupView bool
}

// LandlockMode is filesystem.landlock: whether a Landlock ruleset derived from the mounts restricts the
// command on top of the mount namespace.
type LandlockMode string

const (
	// LandlockAuto applies Landlock when the kernel has it and says in the result whether it did.
	LandlockAuto LandlockMode = "auto"
	// LandlockRequire refuses to run when the kernel lacks Landlock (fail closed).
	LandlockRequire LandlockMode = "require"
	// LandlockOff never applies it.
	LandlockOff LandlockMode = "off"
)

// Limits are the sandbox-wide resource limits. A zero value means "not limited" unless noted.
type Limits struct {
	// Memory is the cgroup memory limit for the whole sandbox, in bytes.
	Memory int64
	// MemorySwap is how much swap the sandbox may use on top of Memory, in bytes; 0 forbids swap.
	MemorySwap int64
	// Pids caps the number of tasks in the sandbox's cgroup.
	Pids int64
	// CPU is a CPU bandwidth quota in cores (0.5 = half a core).
	CPU float64
	// Cpuset restricts the CPUs the sandbox may run on ("0-1", "0,2").
	Cpuset string
	// IOWeight is the cgroup io weight, 1..10000 (0 = not set).
	IOWeight uint16
	// CPUTime limits the CPU time (user+sys) of the whole sandbox, measured by the cgroup.
	CPUTime time.Duration
	// WallTime limits the wall-clock time from exec to exit.
	WallTime time.Duration
	// ExtraTime is a grace period after CPUTime/WallTime before the sandbox is killed; the verdict still
	// says the limit was exceeded (isolate's --extra-time).
	ExtraTime time.Duration
	// KillGrace is how long a command that was asked to stop (jailrun got SIGTERM, SIGINT or SIGHUP, or the
	// library caller cancelled with a StopSignal cause) has to exit after the signal was forwarded to it,
	// before the whole sandbox is killed. 0: killed at once, nothing forwarded. Default DefaultKillGrace.
	KillGrace time.Duration
	Output    OutputLimits
	// Kernel holds limits.kernel's sysctl ceilings, every key of KernelLimits with a Sysctl (the policy's
	// value or the default); its rlimits are in Settings.Rlimits.
	Kernel KernelValues
	// KernelSet has bit i set when the policy itself gave KernelLimits[i] (not its default): a ceiling the
	// policy asked for is refused on a host that cannot set it, a default one is only reported as skipped.
	KernelSet uint64
}

// DefaultKillGrace is limits.kill_grace when a policy does not set it: enough for a handler to flush a file
// and exit, short enough that a stop is still prompt.
const DefaultKillGrace = 300 * time.Millisecond

// MaxKillGrace bounds limits.kill_grace: a stop that may take longer than this is not a stop.
const MaxKillGrace = time.Minute

// OutputLimits caps what the child may write to its stdout and stderr, in bytes (0 = unlimited).
type OutputLimits struct {
	Stdout, Stderr, Total int64
}

// Resource names an rlimit. The values are Linux's RLIMIT_* numbers.
type Resource int

const (
	RlimitCPU     Resource = 0
	RlimitFsize   Resource = 1
	RlimitData    Resource = 2
	RlimitStack   Resource = 3
	RlimitCore    Resource = 4
	RlimitNproc   Resource = 6
	RlimitNofile  Resource = 7
	RlimitMemlock Resource = 8
	RlimitAS      Resource = 9
)

// RlimInfinity is RLIM_INFINITY.
const RlimInfinity = ^uint64(0)

// Rlimit is one setrlimit(2) call made in the child just before exec.
type Rlimit struct {
	Resource   Resource
	Soft, Hard uint64
}

// ActionKind is what a seccomp rule does to a matching syscall.
type ActionKind string

const (
	ActAllow       ActionKind = "allow"
	ActErrno       ActionKind = "errno"
	ActKillProcess ActionKind = "kill_process"
	ActKillThread  ActionKind = "kill_thread"
	ActTrap        ActionKind = "trap"
	ActLog         ActionKind = "log"
	ActNotify      ActionKind = "notify"
)

// Action is a seccomp action; Errno is used only with ActErrno.
type Action struct {
	Kind  ActionKind
	Errno uint16
}

// CmpOp compares one syscall argument.
type CmpOp string

const (
	OpEq       CmpOp = "=="
	OpNe       CmpOp = "!="
	OpLt       CmpOp = "<"
	OpLe       CmpOp = "<="
	OpGt       CmpOp = ">"
	OpGe       CmpOp = ">="
	OpMaskedEq CmpOp = "&=" // (arg & Mask) == Value
)

// ArgCond is one condition on argument Index (0..5). All conditions of a rule must hold.
type ArgCond struct {
	Index uint
	Op    CmpOp
	Value uint64
	Mask  uint64
}

// SeccompRule applies Action to every syscall in Syscalls whose arguments satisfy all of Args. Groups
// ("@basic-io") are already expanded to syscall names by Compile.
type SeccompRule struct {
	Syscalls []string
	Action   Action
	Args     []ArgCond
}

// Seccomp is the syscall filter. Rules are ordered: for a given syscall the first rule whose conditions
// match decides.
type Seccomp struct {
	Enabled       bool
	DefaultAction Action
	Rules         []SeccompRule
	// UnknownSyscalls is the action for syscall numbers jailrun's table does not know (newer than this
	// build); ENOSYS by default so that libc falls back instead of failing.
	UnknownSyscalls Action
}

// Process is how the child runs.
type Process struct {
	// UID and GID are the ids inside the sandbox. With a user namespace they map to an unprivileged host
	// id chosen by the launcher; without one they are host ids and are never 0.
	UID, GID uint32
	// Env is the child's whole environment: fixed "K=V" entries from the policy, in order.
	Env []string
	// EnvAllow names variables copied from the caller's environment when set there.
	EnvAllow []string
	Hostname string
	Umask    uint32
	// NoNewPrivs is always true unless Unsafe is set.
	NoNewPrivs bool
	// Unsafe records that the policy opted out of a safety default; the launcher logs it.
	Unsafe bool
}

// ParamType is the kind of value a command-template placeholder accepts.
type ParamType string

const (
	ParamPath ParamType = "path"
	ParamWord ParamType = "word"
	ParamInt  ParamType = "int"
)

// Param declares one typed placeholder of a command template.
type Param struct {
	Type ParamType
	// Under confines a path parameter to this directory inside the sandbox.
	Under string
	// AllowDash permits a leading '-' (off by default so a value cannot become an option).
	AllowDash bool
	// MaxLen caps the value's length in bytes.
	MaxLen int
}

// Command is the policy's optional argv template and its allowlist of executables.
type Command struct {
	Template []string
	Params   map[string]Param
	// AllowedCommands, when not empty, lists the only executables (paths inside the sandbox) that may be
	// launched as the first program.
	AllowedCommands []string
}

// Require says what must be enforced for a run to start. By default everything the policy asks for is
// required; BestEffort lists the settings (by policy path, e.g. "limits.memory", "namespaces.user") the
// operator allows to be skipped when this host cannot enforce them. A skipped setting is reported in the
// result.
type Require struct {
	BestEffort []string
}

// Allows reports whether setting may be skipped. A prefix entry such as "limits" covers "limits.memory".
func (r Require) Allows(setting string) bool {
	for _, b := range r.BestEffort {
		if b == setting || (len(setting) > len(b) && setting[:len(b)] == b && setting[len(b)] == '.') {
			return true
		}
	}
	return false
}

// Clone returns a deep copy that can be modified without touching s.
func (s *Settings) Clone() *Settings {
	c := *s
	c.Filesystem.Mounts = append([]Mount(nil), s.Filesystem.Mounts...)
	c.Filesystem.MaskedPaths = append([]string(nil), s.Filesystem.MaskedPaths...)
	c.Rlimits = append([]Rlimit(nil), s.Rlimits...)
	c.Seccomp.Rules = make([]SeccompRule, len(s.Seccomp.Rules))
	for i, r := range s.Seccomp.Rules {
		r.Syscalls = append([]string(nil), r.Syscalls...)
		r.Args = append([]ArgCond(nil), r.Args...)
		c.Seccomp.Rules[i] = r
	}
	c.Process.Env = append([]string(nil), s.Process.Env...)
	c.Process.EnvAllow = append([]string(nil), s.Process.EnvAllow...)
	c.Command.Template = append([]string(nil), s.Command.Template...)
	c.Command.AllowedCommands = append([]string(nil), s.Command.AllowedCommands...)
	if s.Command.Params != nil {
		c.Command.Params = make(map[string]Param, len(s.Command.Params))
		for k, v := range s.Command.Params {
			c.Command.Params[k] = v
		}
	}
	c.Require.BestEffort = append([]string(nil), s.Require.BestEffort...)
	c.Overrides = append([]string(nil), s.Overrides...)
	return &c
}
