package sandbox

import "context"

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

// Pools routes each run to the warm Pool of its policy, when one serves it, and to the Runner otherwise
// (another policy, a policy tightened by overrides, a run with files). It is what `jailrun serve --pool`
// runs requests through; like Runner and Pool it is safe for concurrent use.
type Pools struct {
	r     *Runner
	pools []*Pool
}

// NewPools routes runs over pools, falling back to r. The Pools owns the pools: Close closes them.
func NewPools(r *Runner, pools ...*Pool) *Pools { return &Pools{r: r, pools: pools} }

// Add makes p one of the pools runs are routed to.
func (ps *Pools) Add(p *Pool) { ps.pools = append(ps.pools, p) }

// Run runs req in a prepared sandbox of the pool that serves req.Policy, else cold through the Runner.
func (ps *Pools) Run(ctx context.Context, req Request) (*Result, error) {
	for _, p := range ps.pools {
		if p.Serves(req.Policy) {
			return p.Run(ctx, req)
		}
	}
	return ps.r.Run(ctx, req)
}

// Ready is the number of prepared sandboxes waiting now, over all pools.
func (ps *Pools) Ready() int {
	n := 0
	for _, p := range ps.pools {
		n += p.Stats().Ready
	}
	return n
}

// Close closes every pool (not the Runner).
func (ps *Pools) Close() {
	for _, p := range ps.pools {
		p.Close()
	}
}
