//go:build linux && cgo

package sandbox

/*
#cgo CFLAGS: -O2 -Wall -Wno-unused-parameter
#include <stdlib.h>
#include <string.h>
#include "spawn_linux.h"
*/
import "C"

import (
	"fmt"
	"unsafe"

	"github.com/jailrun/jailrun/internal/childabi"
	"github.com/jailrun/jailrun/namespaces"
	"golang.org/x/sys/unix"
)

// spawnConfig is everything the child stage needs, in Go form. toC lays it out in C memory: the child is a
// fork of this process, so the parent frees that memory as soon as clone returns.
type spawnConfig struct {
	cloneFlags    uint64
	cgroupFD      int
	cgroupTasks   []int // cgroup v1: tasks files the child writes "0" to (see spawn_linux.c), at most childabi.MaxCgroupTasks
	cgroupPaths   []string
	syncFD        int
	errFD         int
	statusFD      int
	notifySyncFD  int
	parentFDs     [childabi.ParentFDs]int
	ctlFD         int      // pooled: the child's end of the control socket, else -1
	shared        []byte   // pooled: MAP_SHARED memory for struct jr_cmd
	fds           [][2]int // from, to
	plan          *namespaces.Plan
	rlimits       [][3]uint64 // resource, soft, hard
	userns        bool
	setGroups     bool
	uid, gid      uint32
	hostname      string
	loopbackUp    bool
	unshareCgroup bool
	umask         uint32
	noNewPrivs    bool
	workdir       string
	filter        []unix.SockFilter
	seccompFlags  uint
	path          string
	search        []string
	allowed       []string
	argv, envp    []string
	landlock      *landlockPlan // nil: no Landlock layer
	unprivileged  bool          // degraded mode: no capabilities to drop
	// listenerDumpable: the parent is not root and the sandbox runs as a subordinate host uid, so the
	// command must be dumpable for the parent's pidfd_getfd of its seccomp listener.
	listenerDumpable bool
	// owner: clone the user namespace with the calling thread's ids switched to ownerUID/ownerGID, so that
	// this uid, not root, owns it (root parent, allocated host ids only).
	owner              bool
	ownerUID, ownerGID uint32
	ownerErr           error // set by spawn when owner was asked for and root owns the namespace instead
	// sysctls are limits.kernel's /proc/sys/user files and values, written by the init inside the
	// sandbox's user namespace (never without one: they would be the host's).
	sysctls [][2]string
	// boxDir is the run's box inside the sandbox when files are copied in or out, else "".
	boxDir string
}

// arena owns the C allocations of one spawn.
type arena struct{ ptrs []unsafe.Pointer }

func (a *arena) alloc(n int) unsafe.Pointer {
	if n == 0 {
		n = 1
	}
	p := C.calloc(1, C.size_t(n))
	if p == nil {
		panic("jailrun: out of memory")
	}
	a.ptrs = append(a.ptrs, p)
	return p
}

func (a *arena) str(s string) *C.char {
	if s == "" {
		return nil
	}
	p := a.alloc(len(s) + 1)
	copy(unsafe.Slice((*byte)(p), len(s)), s)
	return (*C.char)(p)
}

// strOrEmpty never returns NULL: for fields where "" is a meaningful value.
func (a *arena) strOrEmpty(s string) *C.char {
	p := a.alloc(len(s) + 1)
	copy(unsafe.Slice((*byte)(p), len(s)), s)
	return (*C.char)(p)
}

func (a *arena) strv(ss []string) **C.char {
	p := a.alloc((len(ss) + 1) * int(unsafe.Sizeof(uintptr(0))))
	v := unsafe.Slice((**C.char)(p), len(ss)+1)
	for i, s := range ss {
		v[i] = a.strOrEmpty(s)
	}
	return (**C.char)(p)
}

// childAddresses are addresses of memory every cloned child uses besides what its caller prepared: the
// calling thread's C stack, which the child runs on, the C code's static data and the thread's TLS. The
// caller must have its OS thread locked, so that the clone runs on the thread measured here.
func childAddresses() []uintptr {
	var ca [3]C.uintptr_t
	C.jr_child_addresses(&ca[0])
	return []uintptr{uintptr(ca[0]), uintptr(ca[1]), uintptr(ca[2])}
}

func (a *arena) uintptrs() []uintptr {
	u := make([]uintptr, len(a.ptrs))
	for i, p := range a.ptrs {
		u[i] = uintptr(p)
	}
	return u
}

func (a *arena) free() {
	for _, p := range a.ptrs {
		C.free(p)
	}
	a.ptrs = nil
}

func b2i(b bool) C.int {
	if b {
		return 1
	}
	return 0
}

func (s *spawnConfig) toC(a *arena) *C.struct_jr_config {
	c := (*C.struct_jr_config)(a.alloc(int(unsafe.Sizeof(C.struct_jr_config{}))))
	c.clone_flags = C.uint64_t(s.cloneFlags)
	c.cgroup_fd = C.int(s.cgroupFD)
	for i, fd := range s.cgroupTasks {
		c.cgroup_tasks_fds[i] = C.int(fd)
	}
	c.ncgroup_tasks = C.int(len(s.cgroupTasks))
	c.sync_fd = C.int(s.syncFD)
	c.err_fd = C.int(s.errFD)
	c.status_fd = C.int(s.statusFD)
	c.notify_sync_fd = C.int(s.notifySyncFD)
	for i, fd := range s.parentFDs {
		c.parent_fds[i] = C.int(fd)
	}
	c.pdeathsig = C.int(unix.SIGKILL)

	if n := len(s.fds); n > 0 {
		m := unsafe.Slice((*C.struct_jr_fdmap)(a.alloc(n*int(unsafe.Sizeof(C.struct_jr_fdmap{})))), n)
		for i, f := range s.fds {
			m[i].from, m[i].to = C.int(f[0]), C.int(f[1])
		}
		c.fds, c.nfds = &m[0], C.int(n)
	}
	if s.plan != nil && len(s.plan.Ops) > 0 {
		n := len(s.plan.Ops)
		ops := unsafe.Slice((*C.struct_jr_op)(a.alloc(n*int(unsafe.Sizeof(C.struct_jr_op{})))), n)
		for i, op := range s.plan.Ops {
			o := &ops[i]
			o.kind = C.int(op.Kind)
			o.slot = C.int(op.Slot)
			o.optional = b2i(op.Optional)
			o.src = a.str(op.Src)
			o.dst = a.strOrEmpty(op.Dst)
			o.data = a.str(op.Data)
			o.content = a.str(op.Content)
			o.content_len = C.uint64_t(len(op.Content))
			o.flags = C.uint64_t(op.Flags)
			o.mode = C.uint32_t(op.Mode)
			o.recursive = b2i(op.Recursive)
			o.parent_fd = C.int(op.ParentFD)
		}
		c.ops, c.nops = &ops[0], C.int(n)
		c.nslots = C.int(s.plan.Slots)
		c.slots = (*C.int)(a.alloc((s.plan.Slots + 1) * int(unsafe.Sizeof(C.int(0)))))
		n = s.plan.TmpfsMounts()
		c.own_devs = (*C.uint64_t)(a.alloc((n + 1) * int(unsafe.Sizeof(C.uint64_t(0)))))
		c.own_cap = C.int(n)
	}
	if n := len(s.rlimits); n > 0 {
		r := unsafe.Slice((*C.struct_jr_rlimit)(a.alloc(n*int(unsafe.Sizeof(C.struct_jr_rlimit{})))), n)
		for i, l := range s.rlimits {
			r[i].resource, r[i].soft, r[i].hard = C.int(l[0]), C.uint64_t(l[1]), C.uint64_t(l[2])
		}
		c.rlimits, c.nrlimits = &r[0], C.int(n)
	}
	c.userns = b2i(s.userns)
	c.set_groups = b2i(s.setGroups)
	c.uid, c.gid = C.uint32_t(s.uid), C.uint32_t(s.gid)
	c.hostname = a.str(s.hostname)
	c.loopback_up = b2i(s.loopbackUp)
	c.unshare_cgroup = b2i(s.unshareCgroup)
	c.reaper = 1
	c.umask = C.int(s.umask)
	c.no_new_privs = b2i(s.noNewPrivs)
	c.workdir = a.str(s.workdir)
	if n := len(s.filter); n > 0 {
		f := unsafe.Slice((*C.struct_sock_filter)(a.alloc(n*int(unsafe.Sizeof(C.struct_sock_filter{})))), n)
		for i, ins := range s.filter {
			f[i].code, f[i].jt, f[i].jf, f[i].k = C.__u16(ins.Code), C.__u8(ins.Jt), C.__u8(ins.Jf), C.__u32(ins.K)
		}
		c.filter, c.filter_len = &f[0], C.int(n)
		c.seccomp_flags = C.uint(s.seccompFlags)
	}
	c.path = a.strOrEmpty(s.path)
	c.search = (**C.char)(unsafe.Pointer(a.strv(s.search)))
	c.nsearch = C.int(len(s.search))
	c.allowed = (**C.char)(unsafe.Pointer(a.strv(s.allowed)))
	c.nallowed = C.int(len(s.allowed))
	c.argv = a.strv(s.argv)
	c.envp = a.strv(s.envp)
	c.ctl_fd = C.int(s.ctlFD)
	if len(s.shared) > 0 {
		c.cmd = (*C.struct_jr_cmd)(unsafe.Pointer(&s.shared[0]))
	}
	c.landlock = s.landlock.toC(a)
	c.unprivileged = b2i(s.unprivileged)
	c.listener_dumpable = b2i(s.listenerDumpable)
	c.own_userns = b2i(s.owner)
	c.owner_uid, c.owner_gid = C.uint32_t(s.ownerUID), C.uint32_t(s.ownerGID)
	if n := len(s.sysctls); n > 0 {
		paths, vals := make([]string, n), make([]string, n)
		for i, kv := range s.sysctls {
			paths[i], vals[i] = kv[0], kv[1]
		}
		c.sysctl_paths = (**C.char)(unsafe.Pointer(a.strv(paths)))
		c.sysctl_values = (**C.char)(unsafe.Pointer(a.strv(vals)))
		c.nsysctl = C.int(n)
	}
	c.box_dir = a.str(s.boxDir)
	return c
}

// sharedSize is the memory a pooled sandbox's command arrives in: struct jr_cmd, then argv, environment and
// PATH. Only the pages written cost memory.
const sharedSize = 1 << 20

// errCommandTooLarge: the command does not fit a pooled sandbox's shared memory or its fd table; it runs
// cold instead.
var errCommandTooLarge = fmt.Errorf("command and environment exceed %d bytes", sharedSize)

// fillCommand writes the command part of s (fds' targets, path, PATH, argv, environment) into its pooled
// sandbox's shared memory as a struct jr_cmd whose pointers are valid in the child: the mapping is at the
// same address in both.
func fillCommand(s *spawnConfig) error {
	mem := s.shared
	if len(s.fds) > childabi.PoolMaxFDs {
		return fmt.Errorf("%d fds exceed a pooled sandbox's %d", len(s.fds), childabi.PoolMaxFDs)
	}
	off := int(C.sizeof_struct_jr_cmd)
	alloc := func(n int) (int, error) {
		off = (off + 7) &^ 7
		if off+n > len(mem) {
			return 0, errCommandTooLarge
		}
		o := off
		off += n
		return o, nil
	}
	str := func(v string) (*C.char, error) {
		o, err := alloc(len(v) + 1)
		if err != nil {
			return nil, err
		}
		copy(mem[o:], v)
		mem[o+len(v)] = 0
		return (*C.char)(unsafe.Pointer(&mem[o])), nil
	}
	vec := func(ss []string) (**C.char, error) {
		o, err := alloc((len(ss) + 1) * int(unsafe.Sizeof(uintptr(0))))
		if err != nil {
			return nil, err
		}
		v := unsafe.Slice((**C.char)(unsafe.Pointer(&mem[o])), len(ss)+1)
		for i, x := range ss {
			if v[i], err = str(x); err != nil {
				return nil, err
			}
		}
		v[len(ss)] = nil
		return (**C.char)(unsafe.Pointer(&mem[o])), nil
	}
	cmd := (*C.struct_jr_cmd)(unsafe.Pointer(&mem[0]))
	cmd.nfds = C.int32_t(len(s.fds))
	for i, f := range s.fds {
		cmd.to[i] = C.int32_t(f[1])
	}
	var err error
	if cmd.path, err = str(s.path); err != nil {
		return err
	}
	search, err := vec(s.search)
	if err != nil {
		return err
	}
	cmd.search = (**C.char)(unsafe.Pointer(search))
	cmd.nsearch = C.int32_t(len(s.search))
	if cmd.argv, err = vec(s.argv); err != nil {
		return err
	}
	if cmd.envp, err = vec(s.envp); err != nil {
		return err
	}
	return nil
}

// spawn clones the child. The caller must hold the OS thread locked until the child is reaped: the child's
// parent-death signal fires when the thread that cloned it exits.
func spawn(s *spawnConfig) (pid, pidfd int, err error) {
	var a arena
	defer a.free()
	c := s.toC(&a)
	var fd C.int = -1
	// A clone copies every descriptor jailrun has open, and the child keeps them until its execve: hence
	// ForkLock, which cloneLean holds. Everything the child reads must stay in its copy: the arena
	// and the pooled command's shared memory.
	used := a.uintptrs()
	if len(s.shared) > 0 {
		used = append(used, uintptr(unsafe.Pointer(&s.shared[0])))
	}
	var r C.int
	cloneLean(used, func() { r = C.jr_spawn(c, &fd) })
	if c.owner_err != 0 {
		s.ownerErr = unix.Errno(c.owner_err)
	}
	if c.cgroup_fd < 0 && s.cgroupFD >= 0 {
		// clone3 was refused (ENOSYS) and plain clone made the child outside its cgroup: the parent places it.
		s.cgroupFD = -1
	}
	if r < 0 {
		return 0, -1, unix.Errno(-r)
	}
	return int(r), int(fd), nil
}

// childSteps names each failure code of the C child: its stage, its typed step and what the message says
// (with the object the detail points to). TestContractSteps holds it to internal/childabi.Steps.
var childSteps = map[childabi.Step]struct {
	stage string
	step  SetupStep
	what  func(s *spawnConfig, detail int32) string
}{
	childabi.StepSetgroups:     {"init", StepSetgroups, nil},
	childabi.StepSetgid:        {"init", StepSetgid, func(s *spawnConfig, _ int32) string { return fmt.Sprintf("setresgid %d", s.gid) }},
	childabi.StepSetuid:        {"init", StepSetuid, func(s *spawnConfig, _ int32) string { return fmt.Sprintf("setresuid %d", s.uid) }},
	childabi.StepKeepCaps:      {"init", StepKeepCaps, nil},
	childabi.StepJoinCgroup:    {"init", StepJoinCgroup, func(s *spawnConfig, d int32) string { return "join cgroup " + at(s.cgroupPaths, d) }},
	childabi.StepUnshareCgroup: {"init", StepUnshareCgroup, nil},
	childabi.StepHostname:      {"init", StepHostname, func(s *spawnConfig, _ int32) string { return "sethostname " + s.hostname }},
	childabi.StepLoopback:      {"init", StepLoopback, nil},
	childabi.StepMountPrivate:  {"init", StepMountPrivate, nil},
	childabi.StepChdir:         {"init", StepChdir, func(s *spawnConfig, _ int32) string { return "chdir " + s.workdir }},
	childabi.StepSetsid:        {"init", StepSetsid, nil},
	childabi.StepFork:          {"init", StepFork, nil},
	childabi.StepSignals:       {"init", StepSignals, nil},
	childabi.StepSysctl: {"init", StepKernelLimits, func(s *spawnConfig, d int32) string {
		if int(d) >= 0 && int(d) < len(s.sysctls) {
			return "write " + s.sysctls[d][0] + " (limits.kernel)"
		}
		return ""
	}},
	childabi.StepBox:          {"init", StepBox, func(s *spawnConfig, _ int32) string { return "open the box " + s.boxDir }},
	childabi.StepPoolCmd:      {"init", StepPoolCommand, nil},
	childabi.StepFDs:          {"exec", StepFDs, func(_ *spawnConfig, d int32) string { return fmt.Sprintf("set up fd %d", d) }},
	childabi.StepRlimit:       {"exec", StepRlimit, func(_ *spawnConfig, d int32) string { return "setrlimit " + rlimitNames[d] }},
	childabi.StepCaps:         {"exec", StepCaps, nil},
	childabi.StepNoNewPrivs:   {"exec", StepNoNewPrivs, nil},
	childabi.StepLandlock:     {"exec", StepLandlock, func(s *spawnConfig, d int32) string { return s.landlock.describe(d) }},
	childabi.StepSeccomp:      {"exec", StepSeccomp, nil},
	childabi.StepDumpable:     {"exec", StepDumpable, nil},
	childabi.StepExecNotFound: {"exec", StepExec, func(s *spawnConfig, _ int32) string { return "execve " + s.path }},
	childabi.StepExec:         {"exec", StepExec, func(s *spawnConfig, _ int32) string { return "execve " + s.path }},
	childabi.StepNotAllowed:   {"exec", StepAllowedCommands, nil},
}

// at is ss[i], or "" when i is out of range (a child's detail is never trusted as an index).
func at(ss []string, i int32) string {
	if i >= 0 && int(i) < len(ss) {
		return ss[i]
	}
	return ""
}

var rlimitNames = map[int32]string{
	0: "CPU", 1: "FSIZE", 2: "DATA", 3: "STACK", 4: "CORE", 6: "NPROC", 7: "NOFILE", 8: "MEMLOCK", 9: "AS",
	11: "SIGPENDING", 12: "MSGQUEUE",
}

// describeChildError turns the child's report into the setup error it names (Err is the errno; the caller
// may replace it with one that explains).
func describeChildError(e childabi.Error, s *spawnConfig) *SetupError {
	se := &SetupError{Stage: "init", Err: unix.Errno(e.Errno)}
	if e.Step >= 0 {
		se.Step = StepMount
		if s.plan != nil && int(e.Step) < len(s.plan.Ops) {
			se.What = s.plan.Ops[e.Step].What
		}
		return se
	}
	d, ok := childSteps[e.Step]
	if !ok {
		se.What = e.Step.String()
		return se
	}
	se.Stage, se.Step = d.stage, d.step
	if d.what != nil {
		se.What = d.what(s, e.Detail)
	}
	return se
}

// For TestContractSizes (a _test file cannot use cgo).
func contractErrorSize() int { return int(unsafe.Sizeof(C.struct_jr_error{})) }
func contractParentFDs() int { return len(C.struct_jr_config{}.parent_fds) }
