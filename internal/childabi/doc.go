// Package childabi is the contract between the Go parent (package sandbox) and the C init stage it clones
// (sandbox/spawn_linux.c): the mount op kinds, the step codes the child reports failures with, the size of
// its error record and its fixed table sizes. It is defined here once; sandbox/abi_linux.h is generated
// from it (go test ./internal/childabi -update) and a test fails when the two differ. The structs the parent
// fills (struct jr_config and friends in sandbox/spawn_linux.h) are read by cgo, which checks their layout
// at compile time.
//
// The protocol of one launch, over the pipes the parent makes before the clone (the child closes the
// parent's ends first, so a parent that dies gives it EOF or POLLERR):
//
//	parent (Go, sandbox.launch)                      child (C, jr_spawn → child_main)
//	──────────────────────────                      ───────────────────────────────
//	clone3(CLONE_NEW*, CLONE_INTO_CGROUP?) ───────▶ blocks reading sync_fd
//	write uid_map/gid_map, join v1 cgroup
//	sync_fd: 1 byte ──────────────────────────────▶ (v1: writes "0" to each tasks file)
//	                                                 mount ops in order; a failing op i reports step i
//	                                                 setgroups/setresgid/setresuid, hostname, lo,
//	                                                 limits.kernel sysctls, chdir, setsid, fork (reaper)
//	                  ◀──────────────────────────── err_fd: Error{StepBoxFD, detail = box fd}   (files in/out)
//	pidfd_getfd the box, copy files in
//	                                                 fds (dup2), rlimits, capabilities, no_new_privs,
//	                                                 Landlock, seccomp (last)
//	                  ◀──────────────────────────── err_fd: Error{StepNotifyFD, detail = listener fd}
//	pidfd_getfd the listener, start supervisor
//	notify_sync_fd: 1 byte ───────────────────────▶ execve(command)
//	err_fd reads EOF (close-on-exec) ◀───────────── exec happened: the command runs
//	   or an Error{step < 0 or op index, errno, detail}: the failed step, never an exec
//	status_fd: wait status ◀─────────────────────── the reaper (pid 1) reports the command's end
//	KillSignal to pid 1 ──────────────────────────▶ (a limit) the reaper kills the rest of its pid namespace
//	                                                 and reaps the command: the end is reported as above
//
// A pooled sandbox (ctl_fd >= 0) stops after setsid, writes one byte on the control socket and waits there:
// the command's fds arrive with a message (SCM_RIGHTS) and the command itself in shared memory (struct
// jr_cmd, at most PoolMaxFDs fds); from there the protocol goes on as above.
package childabi
