//go:build linux

package cgroups

// RunName returns "jr.<pidns>.<pid>.<start>.<seq>" for a host object other than a cgroup that this process
// makes per run (a tracefs instance), so that StaleRunName can tell later whether its owner is gone.
func RunName(seq uint64) (string, error) {
	o, err := self()
	if err != nil {
		return "", err
	}
	return o.runName(seq, ""), nil
}

// StaleRunName reports whether name is a RunName (or run cgroup name) of a jailrun process of this pid
// namespace that is gone. Names of live owners, of other pid namespaces and names jailrun did not make are
// never stale: only what can be judged for sure is removed.
func StaleRunName(name string) bool {
	me, err := self()
	if err != nil {
		return false
	}
	o, _, ok := parseName(name)
	return ok && o.pidns == me.pidns && o != me && !o.alive()
}
