package sandbox

// PoolOptions configure a Pool.
type PoolOptions struct {
	// Size is how many sandboxes are kept prepared (default 4). Each holds a cgroup, a few processes' worth
	// of kernel memory and a little over 1 MiB of address space.
	Size int
}

// PoolStats are a pool's counters.
type PoolStats struct {
	Ready    int    `json:"ready"`    // prepared sandboxes waiting now
	Size     int    `json:"size"`     // the configured size
	Hits     uint64 `json:"hits"`     // runs that used a prepared sandbox
	Misses   uint64 `json:"misses"`   // runs of the pool's policy that found none ready and ran cold
	Bypassed uint64 `json:"bypassed"` // runs of another policy (or a tightened one), always cold
	Prepared uint64 `json:"prepared"` // sandboxes prepared so far
	Failed   uint64 `json:"failed"`   // preparations that failed (the last error: LastError)
	// LastError is the last preparation failure, if any; the pool retries with a growing pause, and runs
	// meanwhile go cold, where the same failure is reported as the run's own error.
	LastError string `json:"last_error,omitempty"`
}
