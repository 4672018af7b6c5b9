// Package selftest holds the tests that prove the cgroup v2 VM lane (make test-cgroup2) runs where it claims:
// a pure cgroup v2 hierarchy with the memory and pids controllers, a delegated cgroup, working OOM kills and
// CLONE_INTO_CGROUP, and the host's programs. They skip outside the VM (JAILRUN_VM unset).
package selftest
