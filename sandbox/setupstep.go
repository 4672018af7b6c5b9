package sandbox

// SetupStep names a step of a launch, so that a caller can tell which one failed (errors.As to a
// *SetupError, then compare its Step). Steps of the C init stage come from the child's report (the codes of
// internal/childabi, mapped in spawn_linux.go); the others from the Go parent.
type SetupStep string

// The steps of a launch, by stage.
const (
	// prepare
	StepStdio         SetupStep = "stdio"
	StepPipe          SetupStep = "pipe"
	StepCreateCgroup  SetupStep = "create cgroup"
	StepTmpfsDir      SetupStep = "degraded mode: a private directory for tmpfs"
	StepControlSocket SetupStep = "control socket"
	StepSharedMemory  SetupStep = "shared memory"

	// clone
	StepClone        SetupStep = "clone3"
	StepIDMaps       SetupStep = "write id maps"
	StepJoinCgroup   SetupStep = "join cgroup" // also the C child's own v1 join
	StepReleaseChild SetupStep = "release child"

	// init: the C child, before the command
	StepMount          SetupStep = "mount" // an op of the mount plan; What names it ("bind /usr")
	StepSetgroups      SetupStep = "setgroups"
	StepSetgid         SetupStep = "setresgid"
	StepSetuid         SetupStep = "setresuid"
	StepKeepCaps       SetupStep = "keep capabilities"
	StepUnshareCgroup  SetupStep = "unshare cgroup namespace"
	StepHostname       SetupStep = "sethostname"
	StepLoopback       SetupStep = "bring up lo"
	StepMountPrivate   SetupStep = "make mounts private"
	StepKernelLimits   SetupStep = "write limits.kernel sysctls"
	StepChdir          SetupStep = "chdir"
	StepSetsid         SetupStep = "setsid"
	StepFork           SetupStep = "fork"
	StepSignals        SetupStep = "signal setup"
	StepBox            SetupStep = "open the box"
	StepCopyIn         SetupStep = "copy files in"
	StepReleaseBox     SetupStep = "release after copying files in"
	StepPoolCommand    SetupStep = "receive the command (pooled sandbox)"
	StepPoolSend       SetupStep = "pooled sandbox"
	StepPoolWait       SetupStep = "wait for pooled sandbox"
	StepSetupTimeout   SetupStep = "setup watchdog"
	StepReadChildState SetupStep = "read child status"

	// exec: the C child, last steps before execve
	StepFDs             SetupStep = "set up fd"
	StepRlimit          SetupStep = "setrlimit"
	StepCaps            SetupStep = "drop capabilities"
	StepNoNewPrivs      SetupStep = "set no_new_privs"
	StepLandlock        SetupStep = "landlock"
	StepSeccomp         SetupStep = "load seccomp filter"
	StepDumpable        SetupStep = "make dumpable for the seccomp listener hand-over"
	StepSeccompListener SetupStep = "take seccomp listener"
	StepReleaseCommand  SetupStep = "release command"
	StepAllowedCommands SetupStep = "command allowlist"
	StepExec            SetupStep = "execve"

	// wait
	StepWait     SetupStep = "wait4"
	StepCounters SetupStep = "read cgroup counters"
)
