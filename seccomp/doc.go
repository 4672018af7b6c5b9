// Package seccomp turns a policy's syscall rules into a seccomp BPF program and supervises what it stops.
//
// Building (plan.go, program.go, assemble.go): the ordered rules ("the first rule whose conditions match
// decides") become an exact program: a prefix that kills foreign architectures and the x32 ABI, the main
// filter (libseccomp's binary tree of syscall numbers), and a block of argument tests per syscall with
// conditions. Syscalls the syscall table cannot name are answered ENOSYS, so a policy never silently
// allows a syscall newer than its table. BuildCached keeps built programs in a process-wide cache keyed by the
// seccomp section's content.
//
// Running (supervise_linux.go, violation.go): actions that need jailrun's attention (notify, and the
// foreign-ABI calls routed to it) reach a user-notification listener the launcher hands to a supervisor,
// which names each stopped syscall in the run's result and audit record.
//
// Off Linux, and without cgo, the building and explaining parts still compile (explain works on a Mac);
// loading a filter reports ErrUnsupported.
package seccomp
