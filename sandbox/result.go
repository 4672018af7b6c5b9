package sandbox

import (
	"time"

	"github.com/jailrun/jailrun/ipc"
)

// ms expresses d in milliseconds with microsecond resolution, the unit of every *_ms field.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// SchemaVersion is the version of the Result JSON. It changes only when a field changes meaning or goes
// away; new fields may appear in any version, so readers must ignore what they do not know.
const SchemaVersion = 1

// Status is the verdict of a run, decided from the kernel's own counters.
type Status string

// The statuses of a run. Result.LimitsHit lists every limit that fired, whichever of them decided Status.
const (
	// StatusOK: the command exited with status 0 within every limit.
	StatusOK Status = "ok"
	// StatusNonzeroExit: the command exited with a non-zero status (ExitCode) within every limit.
	StatusNonzeroExit Status = "nonzero_exit"
	// StatusSignaled: the command was killed by a signal no limit explains (Signal, SignalName), or the
	// sandbox was killed because the run's context was cancelled (Limit.Name "context").
	StatusSignaled Status = "signaled"
	// StatusTimeLimit: the command used more CPU time than limits.cpu_time.
	StatusTimeLimit Status = "time_limit"
	// StatusWallTimeLimit: the command ran longer (wall-clock time, from exec) than limits.wall_time.
	StatusWallTimeLimit Status = "wall_time_limit"
	// StatusMemoryLimit: the sandbox reached limits.memory: an OOM kill, or a command that failed there.
	StatusMemoryLimit Status = "memory_limit"
	// StatusPidsLimit: the sandbox reached limits.pids (a fork failed) and the command then failed.
	StatusPidsLimit Status = "pids_limit"
	// StatusOutputLimit: the command wrote more than limits.output allows, or a file larger than
	// limits.file_size (SIGXFSZ).
	StatusOutputLimit Status = "output_limit"
	// StatusSeccompViolation: the command was killed for a syscall the policy's seccomp filter kills on.
	StatusSeccompViolation Status = "seccomp_violation"
	// StatusSetupError: the sandbox could not be built, so the command never ran; Run's error says why.
	StatusSetupError Status = "setup_error"
)

// CPUTime is CPU time in milliseconds.
type CPUTime struct {
	UserMS  float64 `json:"user"`
	SysMS   float64 `json:"sys"`
	TotalMS float64 `json:"total"`
	// Source says where the figures come from: "cgroup" (the whole sandbox, exact) or "rusage" (processes
	// that were reaped).
	Source string `json:"source"`
}

// LimitHit names a limit and its configured value: the limit that ended the run (Result.Limit), or one that
// fired during it (Result.LimitsHit).
type LimitHit struct {
	Name  string `json:"name"`  // policy path, e.g. "limits.memory"
	Value string `json:"value"` // as configured, canonical units
	// Counter is where jailrun learnt that the limit fired, e.g. "pids.events max=3", "memory.failcnt=12
	// oom_kill=1", "SIGXFSZ"; set in LimitsHit.
	Counter string `json:"counter,omitempty"`
}

// StreamStats describes what the child wrote to one output stream.
type StreamStats struct {
	Bytes     int64 `json:"bytes"`
	Truncated bool  `json:"truncated"`
	// byTotal: limits.output.total cut it, not the stream's own limit (limits_hit names the one that did).
	byTotal bool
}

// Violation is a syscall the seccomp filter stopped.
type Violation struct {
	Syscall string    `json:"syscall"`
	Nr      int       `json:"nr"`
	Arch    string    `json:"arch"`
	Args    [6]uint64 `json:"args"`
}

// DeniedSyscall is one syscall the seccomp filter answered with something else than allow, and how
// often. A syscall that the policy decides by its arguments (socket's family, ioctl's request) gets one
// entry per set of the values of those arguments.
type DeniedSyscall struct {
	Syscall string `json:"syscall"` // "" when the number is not in jailrun's table (or a foreign ABI)
	Nr      int    `json:"nr"`
	Arch    string `json:"arch"`
	// Action is the policy's answer as policies write it: "errno(EAFNOSUPPORT)", "kill_process", "trap",
	// "notify" (denied with EPERM), "log" (the call ran).
	Action string `json:"action"`
	Count  uint64 `json:"count"`
	// FirstArgs are the register values of the first such call.
	FirstArgs [6]uint64 `json:"first_args"`
	// Learned is true in learn mode (Request.LearnSeccomp) when the call was let run instead.
	Learned bool `json:"learned,omitempty"`
	// ArgsMerged is true when calls with different values of the tested arguments were counted here
	// because the run had already seen too many distinct ones.
	ArgsMerged bool `json:"args_merged,omitempty"`
}

// Result is what a run produced. The CLI prints it with --json and writes it with --result; the library
// returns it; the service sends it. One schema for all three.
type Result struct {
	SchemaVersion int    `json:"schema_version"`
	RunID         string `json:"run_id"`
	Status        Status `json:"status"`
	// ExitCode is the command's exit code, or -1 when it did not exit normally.
	ExitCode int `json:"exit_code"`
	// Signal is the signal that killed the command, 0 if none.
	Signal     int    `json:"signal"`
	SignalName string `json:"signal_name,omitempty"`
	// Message explains a non-ok status in one line.
	Message string    `json:"message,omitempty"`
	Limit   *LimitHit `json:"limit,omitempty"`
	// LimitsHit lists every limit that fired during the run, whether or not it decided Status: a fork the
	// pids limit refused, memory that reached its limit, even when the program handled the failure and
	// exited 0. Empty when none did.
	LimitsHit []LimitHit `json:"limits_hit"`
	// LimitsUnobserved says, one line per limit, which limit of the policy could fire in this run without
	// LimitsHit listing it, and why: limits.file_size when jailrun cannot count SIGXFSZ (not root, or no
	// BPF tracing on this kernel, or no pid namespace).
	LimitsUnobserved []string `json:"limits_unobserved,omitempty"`
	// StoppedBy is set when the run was asked to stop (the CLI got SIGTERM/SIGINT/SIGHUP, or the context was
	// cancelled with a StopSignal): the signal, whether it reached the command, whether the sandbox then had
	// to be killed after limits.kill_grace.
	StoppedBy *StopInfo `json:"stopped_by,omitempty"`

	WallTimeMS  float64 `json:"wall_time_ms"`
	SetupTimeMS float64 `json:"setup_time_ms"`
	// Pooled is true when the run used a sandbox a Pool had prepared ahead of demand (SetupTimeMS then
	// counts only what the request itself waited for).
	Pooled    bool    `json:"pooled,omitempty"`
	CPUTimeMS CPUTime `json:"cpu_time_ms"`
	// PeakMemoryBytes is the sandbox's peak memory use from the cgroup; -1 when unknown.
	PeakMemoryBytes int64  `json:"peak_memory_bytes"`
	PeakMemorySrc   string `json:"peak_memory_source,omitempty"`
	MaxRSSBytes     int64  `json:"max_rss_bytes"`
	// VoluntaryCSW and ForcedCSW count context switches (rusage ru_nvcsw, ru_nivcsw) of the processes that
	// were reaped: the command, its reaped children and the sandbox's own init.
	VoluntaryCSW int64 `json:"csw_voluntary"`
	ForcedCSW    int64 `json:"csw_forced"`
	// PeakPids is the highest number of tasks in the sandbox; -1 when the kernel cannot tell.
	PeakPids int64 `json:"peak_pids"`
	OOMKills int64 `json:"oom_kills"`

	Stdout StreamStats `json:"stdout"`
	Stderr StreamStats `json:"stderr"`
	// Channels accounts for each extra channel (Request.Channels): bytes, messages and SHA-256 per
	// direction, open and close times.
	Channels []ipc.ChannelStats `json:"channels,omitempty"`
	// FilesIn is how many files and bytes were copied into the box (Request.FilesIn); FilesOut has one
	// entry per Request.FilesOut path, in order: its size and SHA-256, or why it was not copied.
	FilesIn  *FilesInStats `json:"files_in,omitempty"`
	FilesOut []FileOut     `json:"files_out,omitempty"`

	Violation *Violation `json:"seccomp_violation,omitempty"`
	// DeniedSyscalls counts every call the seccomp filter did not simply allow, whatever the policy's
	// action (errno, trap, kill, notify, log), in the order first seen: a run that failed with EPERM or
	// EAFNOSUPPORT says which syscall was refused. [] when the filter refused nothing; null when no filter
	// ran (seccomp off, or skipped best effort).
	DeniedSyscalls []DeniedSyscall `json:"denied_syscalls"`

	// Mode is "namespaces" (the sandbox had the namespaces in enforced.namespaces) or "degraded" (this host
	// refused user namespaces and the policy allowed running without any: see MissingIsolation).
	Mode string `json:"mode"`
	// MissingIsolation says, one line per isolation, what the run did not have and what that means.
	MissingIsolation []string `json:"missing_isolation,omitempty"`

	Policy   PolicyInfo `json:"policy"`
	Enforced Enforced   `json:"enforced"`
	// Skipped lists the settings the policy allowed to be skipped (require.best_effort) that this host could
	// not enforce. Empty on a fully enforced run.
	Skipped []string `json:"skipped"`

	// SetupTrace is filled when Request.TraceSetup is set (the CLI's --trace-setup): where the launch time
	// went.
	SetupTrace []Phase `json:"setup_trace,omitempty"`
}

// PolicyInfo identifies the policy a run used.
type PolicyInfo struct {
	Name   string `json:"name"`
	Source string `json:"source"`
	SHA256 string `json:"sha256"`
	// Overrides lists the settings put on top of the policy for this run (CLI --memory, --bind, ...: see
	// policy.ApplyOverrides); SHA256 is then that of the policy with them.
	Overrides []string `json:"overrides,omitempty"`
}

// Enforced is what the run actually had in force, as opposed to what was asked for.
type Enforced struct {
	Namespaces []string          `json:"namespaces"`
	Cgroup     string            `json:"cgroup,omitempty"` // "v1", "v2" or "" when none was used
	Limits     map[string]string `json:"limits"`
	Rlimits    map[string]string `json:"rlimits"`
	Seccomp    bool              `json:"seccomp"`
	NoNewPrivs bool              `json:"no_new_privs"`
	// Landlock is the Landlock layer that was in force; absent when none was (filesystem.landlock "off", or
	// "auto" on a kernel without it: then skipped names filesystem.landlock).
	Landlock *LandlockInfo `json:"landlock,omitempty"`
	UID      uint32        `json:"uid"`
	GID      uint32        `json:"gid"`
	HostUID  uint32        `json:"host_uid"`
	HostGID  uint32        `json:"host_gid"`
	// IDMap says where host_uid/host_gid come from: "allocated" (jailrun is root: ids of this sandbox's own
	// from the host id range, also the owner of its user namespace), "fixed" (jailrun is root and
	// Options.HostUID/HostGID are set), "subordinate" (the caller's /etc/subuid and /etc/subgid ids, one pair
	// per live sandbox, mapped by newuidmap/newgidmap), "caller" (the caller's own ids) or "none" (no user
	// namespace: the ids are the process's own on the host).
	IDMap string `json:"id_map"`
	// IDNote is set when the sandbox's host ids may be shared with other live sandboxes, and says why (fixed
	// ids, the caller's own ids, a single subordinate id, no place for the id locks). Otherwise every live
	// sandbox has host ids of its own ("allocated", or "subordinate" with more than one id granted).
	IDNote string `json:"id_note,omitempty"`
}

// LandlockInfo is what the result reports of the Landlock layer that was in force.
type LandlockInfo struct {
	ABI int `json:"abi"`
	// Paths is the number of path rules; everything outside them is unreachable.
	Paths int `json:"paths"`
	// TCP is "denied" when TCP bind and connect are denied outright (a policy without network), else
	// "not restricted".
	TCP string `json:"tcp"`
	// Scoped lists what the sandbox cannot reach outside itself: "abstract_unix_sockets", "signals".
	Scoped []string `json:"scoped,omitempty"`
}

// Phase is one timed step of a launch.
type Phase struct {
	Name string  `json:"name"`
	MS   float64 `json:"ms"`
}

// FilesInStats accounts for Request.FilesIn.
type FilesInStats struct {
	Count int   `json:"count"`
	Bytes int64 `json:"bytes"`
}
