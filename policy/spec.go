package policy

import "time"

// Policy is one parsed policy file, before extends are resolved and defaults applied: exactly what the
// author wrote, typed and range-checked, with where each value was written. Compile turns it into Settings;
// Format turns it back into canonical JSON.
type Policy struct {
	// Source is the file the policy was parsed from, or "builtin:NAME".
	Source string
	// Pos is the policy object's opening brace.
	Pos Pos

	Version     Field[int64]
	Name        Field[string]
	Description Field[string]
	// Extends lists the parents, as written: one string or an array of them, applied left to right.
	Extends []Field[string]

	Namespaces NamespacesSpec
	Network    NetworkSpec
	Filesystem FilesystemSpec
	Limits     LimitsSpec
	// Seccomp is nil when the file has no "seccomp" object.
	Seccomp *SeccompSpec
	Process ProcessSpec
	// Command is nil when the file has no "command" object.
	Command *CommandSpec
	Require RequireSpec

	// dir is where relative extends paths are resolved; builtin says extends resolve among the built-ins.
	dir     string
	builtin bool
}

// Field is one optional setting and where it was written. Set is false when the file does not mention it.
type Field[T any] struct {
	Value T
	Set   bool
	Pos   Pos
}

func set[T any](v T, pos Pos) Field[T] { return Field[T]{Value: v, Set: true, Pos: pos} }

// or returns f if it is set, else the default d.
func (f Field[T]) or(d T) Field[T] {
	if f.Set {
		return f
	}
	return Field[T]{Value: d, Set: true}
}

// over returns child if it is set, else parent: the extends rule for single values.
func over[T any](parent, child Field[T]) Field[T] {
	if child.Set {
		return child
	}
	return parent
}

type NamespacesSpec struct {
	User, PID, Mount, Net, IPC, UTS, Cgroup, Time Field[bool]
}

type NetworkSpec struct {
	Loopback Field[bool]
}

type FilesystemSpec struct {
	Mounts      []MountSpec
	Workdir     Field[string]
	MaskedPaths []Field[string]
	Landlock    Field[LandlockMode]
	CgroupView  Field[bool]
}

// MountSpec is one entry of filesystem.mounts. Which fields may be set depends on Type.
type MountSpec struct {
	Pos     Pos
	path    string // JSON path in its own file, for errors found after extends are merged
	Type    Field[MountKind]
	Src     Field[string]
	Dst     Field[string]
	Content Field[string]
	Comment Field[string]

	ReadOnly, Optional, NoSuid, NoDev, NoExec Field[bool]
	// Landlock false leaves a bind out of the Landlock rules (bind mounts only).
	Landlock Field[bool]
	// Pts gives a dev mount a private devpts instance at pts and /dev/ptmx (dev mounts only).
	Pts Field[bool]

	Size, Inodes Field[int64]
	Mode         Field[uint32]
}

type LimitsSpec struct {
	Memory, MemorySwap, Pids Field[int64]
	CPU                      Field[float64]
	Cpuset                   Field[string]
	IOWeight                 Field[int64]

	CPUTime, WallTime, ExtraTime Field[time.Duration]
	KillGrace                    Field[time.Duration]

	Output OutputSpec

	OpenFiles, FileSize, Stack, Core, AddressSpace Field[int64]

	// Kernel is limits.kernel: see KernelLimits.
	Kernel KernelLimitsSpec
}

type OutputSpec struct {
	Stdout, Stderr, Total Field[int64]
}

// ActionSpec is a seccomp action as written ("errno(EPERM)") and as understood.
type ActionSpec struct {
	Text   string
	Action Action
}

type SeccompSpec struct {
	Pos             Pos
	DefaultAction   Field[ActionSpec]
	UnknownSyscalls Field[ActionSpec]
	Rules           []RuleSpec
}

type RuleSpec struct {
	Pos      Pos
	path     string
	Syscalls []Field[string]
	Action   Field[ActionSpec]
	Args     []ArgSpec
	Comment  Field[string]
}

// ArgValue is an argument-condition operand: the text as written (a JSON number literal, or a string that is
// a hex literal or a named constant) and its value.
type ArgValue struct {
	Text     string
	IsString bool
	Value    uint64
}

type ArgSpec struct {
	Pos   Pos
	Index Field[int64]
	Op    Field[CmpOp]
	Value Field[ArgValue]
	Mask  Field[ArgValue]
}

type ProcessSpec struct {
	UID, GID   Field[int64]
	Env        EnvSpec
	Hostname   Field[string]
	Umask      Field[uint32]
	NoNewPrivs Field[bool]
	Unsafe     Field[bool]
}

type EnvSpec struct {
	Allow []Field[string]
	// Set is in file order; Format sorts it.
	Set []EnvVar
}

type EnvVar struct {
	Name    string
	NamePos Pos
	Value   Field[string]
}

type CommandSpec struct {
	Pos             Pos
	Template        []Field[string]
	Params          []ParamSpec
	AllowedCommands []Field[string]
}

type ParamSpec struct {
	Name      string
	Pos       Pos
	Type      Field[ParamType]
	Under     Field[string]
	AllowDash Field[bool]
	MaxLen    Field[int64]
}

type RequireSpec struct {
	BestEffort []Field[string]
}
