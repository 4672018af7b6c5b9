package childabi

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// OpKind is the kind of one mount op of the child's plan (enum jr_op_kind).
type OpKind int

// The op kinds, in the order (and with the values) of OpKinds.
const (
	OpOpenSrc OpKind = iota + 1
	OpRoot
	OpBind
	OpTmpfs
	OpFile
	OpProc
	OpDir
	OpSymlink
	OpRemount
	OpMask
	OpPivot
	OpDevpts
)

// OpKinds describes every op kind: its C name (after JR_OP_) and what the child does with it.
var OpKinds = []struct {
	Kind OpKind
	C    string
	Doc  string
}{
	{OpOpenSrc, "OPEN_SRC", "open src O_PATH into slot; optional: a missing src marks the slot empty"},
	{OpRoot, "ROOT", "mount the root tmpfs at dst (an absolute host path) and open it as the root fd"},
	{OpBind, "BIND", "bind slot onto dst (inside the root), then apply flags"},
	{OpTmpfs, "TMPFS", "tmpfs at dst with data options"},
	{OpFile, "FILE", "create dst with content and mode; flags != 0: bind it onto itself with those flags"},
	{OpProc, "PROC", "fresh procfs at dst"},
	{OpDir, "DIR", "mkdir -p dst with mode"},
	{OpSymlink, "SYMLINK", "symlink src -> dst"},
	{OpRemount, "REMOUNT", "remount dst (a mount point) with flags"},
	{OpMask, "MASK", "hide dst if it exists: /dev/null over a file, an empty read-only tmpfs over a dir"},
	{OpPivot, "PIVOT", "pivot_root into the root fd and detach the old root"},
	{OpDevpts, "DEVPTS", "a new devpts instance at dst with data options"},
}

// Step is where the child failed: an index into the mount plan's ops (>= 0), or one of the codes below.
type Step int32

// The step codes the child reports (JR_STEP_*). Codes are never reused: a retired one stays a gap (-1, -24).
const (
	StepSetgroups     Step = -2
	StepSetgid        Step = -3
	StepSetuid        Step = -4
	StepUnshareCgroup Step = -5
	StepHostname      Step = -6
	StepLoopback      Step = -7
	StepMountPrivate  Step = -8
	StepChdir         Step = -9
	StepSetsid        Step = -10
	StepFork          Step = -11
	StepFDs           Step = -12
	StepRlimit        Step = -13
	StepCaps          Step = -14
	StepNoNewPrivs    Step = -15
	StepSeccomp       Step = -16
	StepExecNotFound  Step = -17
	StepExec          Step = -18
	StepNotAllowed    Step = -19
	StepKeepCaps      Step = -20
	StepSignals       Step = -21
	StepDumpable      Step = -22
	StepNotifyFD      Step = -23
	StepLandlock      Step = -25
	StepPoolCmd       Step = -26
	StepSysctl        Step = -27
	StepBoxFD         Step = -28
	StepBox           Step = -29
	StepJoinCgroup    Step = -30
	stepNone          Step = 0 // not a code: the op index 0
	_                      = stepNone
)

// StepInfo describes one step code.
type StepInfo struct {
	Code Step
	C    string // the C name after JR_STEP_
	// Handover marks the two codes that are not failures: the child hands the parent a descriptor (the
	// seccomp listener, the box) and goes on.
	Handover bool
	Doc      string // what detail carries, where it carries something
}

// Steps lists every step code.
var Steps = []StepInfo{
	{Code: StepSetgroups, C: "SETGROUPS"},
	{Code: StepSetgid, C: "SETGID"},
	{Code: StepSetuid, C: "SETUID"},
	{Code: StepUnshareCgroup, C: "UNSHARE_CGROUP"},
	{Code: StepHostname, C: "HOSTNAME"},
	{Code: StepLoopback, C: "LOOPBACK"},
	{Code: StepMountPrivate, C: "MOUNT_PRIVATE"},
	{Code: StepChdir, C: "CHDIR"},
	{Code: StepSetsid, C: "SETSID"},
	{Code: StepFork, C: "FORK"},
	{Code: StepFDs, C: "FDS", Doc: "detail: the fd"},
	{Code: StepRlimit, C: "RLIMIT", Doc: "detail: the resource"},
	{Code: StepCaps, C: "CAPS"},
	{Code: StepNoNewPrivs, C: "NO_NEW_PRIVS"},
	{Code: StepSeccomp, C: "SECCOMP"},
	{Code: StepExecNotFound, C: "EXEC_NOT_FOUND"},
	{Code: StepExec, C: "EXEC"},
	{Code: StepNotAllowed, C: "NOT_ALLOWED", Doc: "detail: 1 a symlink, 2 a #! script, 0 not listed"},
	{Code: StepKeepCaps, C: "KEEPCAPS"},
	{Code: StepSignals, C: "SIGNALS"},
	{Code: StepDumpable, C: "DUMPABLE"},
	{Code: StepNotifyFD, C: "NOTIFY_FD", Handover: true, Doc: "not an error: detail is the seccomp listener fd, for the parent to take"},
	{Code: StepLandlock, C: "LANDLOCK", Doc: "detail: the failing rule's index, -1 create, -2 restrict_self"},
	{Code: StepPoolCmd, C: "POOL_CMD"},
	{Code: StepSysctl, C: "SYSCTL", Doc: "detail: the index of the sysctl"},
	{Code: StepBoxFD, C: "BOX_FD", Handover: true, Doc: "not an error: detail is a descriptor of the box, for the parent to take"},
	{Code: StepBox, C: "BOX", Doc: "opening the box failed"},
	{Code: StepJoinCgroup, C: "JOIN_CGROUP", Doc: "detail: the index of the tasks file"},
}

// Fixed sizes of the child's tables.
const (
	// MaxCgroupTasks is how many v1 hierarchies' tasks files the child can write itself (cgroup_tasks_fds).
	MaxCgroupTasks = 16
	// PoolMaxFDs is how many fds a pooled sandbox can receive with its command (struct jr_cmd).
	PoolMaxFDs = 64
	// ParentFDs is how many of the parent's pipe ends the child closes first (parent_fds).
	ParentFDs = 5
	// ErrorSize is the size of the record the child writes on err_fd (struct jr_error).
	ErrorSize = 16
	// KillSignal (SIGUSR1), sent by the parent to the reaper (pid 1 of its own pid namespace), asks it to end
	// the run: it kills every other process of the namespace and reaps the command as after any end, so
	// that the command's rusage reaches the parent's wait4. Taken only from outside the namespace.
	KillSignal = 10
)

// Error is the record the child writes on err_fd (struct jr_error): a failed step, or a hand-over.
type Error struct {
	Step   Step
	Errno  int32
	Detail int32
}

// DecodeError reads a record of ErrorSize bytes.
func DecodeError(b []byte) Error {
	return Error{
		Step:   Step(int32(binary.NativeEndian.Uint32(b[0:]))),
		Errno:  int32(binary.NativeEndian.Uint32(b[4:])),
		Detail: int32(binary.NativeEndian.Uint32(b[8:])),
	}
}

// Info returns the description of a step code, and false for an op index or an unknown code.
func (s Step) Info() (StepInfo, bool) {
	for _, i := range Steps {
		if i.Code == s {
			return i, true
		}
	}
	return StepInfo{}, false
}

func (s Step) String() string {
	if s >= 0 {
		return fmt.Sprintf("op %d", int32(s))
	}
	if i, ok := s.Info(); ok {
		return "JR_STEP_" + i.C
	}
	return fmt.Sprintf("step %d", int32(s))
}

// CHeader renders sandbox/abi_linux.h, the C side of this contract.
func CHeader() string {
	var b strings.Builder
	b.WriteString("// Code generated by internal/childabi (go test ./internal/childabi -update). DO NOT EDIT.\n")
	b.WriteString("// The Go↔C contract of the launcher: see internal/childabi/doc.go for the protocol.\n")
	b.WriteString("#ifndef JAILRUN_ABI_H\n#define JAILRUN_ABI_H\n\n")
	fmt.Fprintf(&b, "#define JR_MAX_CGROUP_TASKS %d\n", MaxCgroupTasks)
	fmt.Fprintf(&b, "#define JR_POOL_MAX_FDS %d\n", PoolMaxFDs)
	fmt.Fprintf(&b, "#define JR_PARENT_FDS %d\n", ParentFDs)
	fmt.Fprintf(&b, "#define JR_ERROR_SIZE %d\n", ErrorSize)
	fmt.Fprintf(&b, "#define JR_KILL_SIGNAL %d\n\n", KillSignal)
	b.WriteString("enum jr_op_kind {\n")
	for _, k := range OpKinds {
		fmt.Fprintf(&b, "\tJR_OP_%s = %d, // %s\n", k.C, k.Kind, k.Doc)
	}
	b.WriteString("};\n\n// Where the child failed: struct jr_error's step is an op index (>= 0) or one of these.\nenum jr_step {\n")
	for _, s := range Steps {
		if s.Doc != "" {
			fmt.Fprintf(&b, "\tJR_STEP_%s = %d, // %s\n", s.C, s.Code, s.Doc)
		} else {
			fmt.Fprintf(&b, "\tJR_STEP_%s = %d,\n", s.C, s.Code)
		}
	}
	b.WriteString("};\n\n#endif\n")
	return b.String()
}
