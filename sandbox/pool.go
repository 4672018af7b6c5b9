package sandbox

import (
	"context"
	"errors"
	"fmt"
)

// PoolOptions configure a Pool.
type PoolOptions struct {
	// Size is how many sandboxes are kept prepared (0: the default, 4; negative: refused with ErrPolicy).
	// Each holds a cgroup, a few processes' worth of kernel memory and a little over 1 MiB of address
	// space.
	Size int
}

const defaultPoolSize = 4

// errPoolClosed is what a closed pool refuses every run with; Pools.Run tells it from the Runner's own.
var errPoolClosed = fmt.Errorf("the pool is %w", ErrClosed)

// validate refuses a negative size: it is a caller's mistake (a subtraction gone wrong), not a wish for
// the default, and a pool of a size the caller did not ask for would hide it.
func (o PoolOptions) validate() error {
	if o.Size < 0 {
		return fmt.Errorf("%w: PoolOptions.Size %d: want 0 (the default, %d) or more", ErrPolicy, o.Size, defaultPoolSize)
	}
	return nil
}

// PoolStats are a pool's counters.
type PoolStats struct {
	Ready  int    `json:"ready"`  // prepared sandboxes waiting now
	Size   int    `json:"size"`   // the configured size
	Hits   uint64 `json:"hits"`   // runs that used a prepared sandbox
	Misses uint64 `json:"misses"` // runs of the pool's policy that found none ready and ran cold
	// Bypassed counts the runs that went cold for what they are, not for want of a prepared sandbox: runs
	// of another policy (or a tightened one), runs with files (FilesIn, FilesOut: never pooled), and runs
	// whose command or channels are too large for a pooled sandbox.
	Bypassed uint64 `json:"bypassed"`
	Prepared uint64 `json:"prepared"` // sandboxes prepared so far
	Failed   uint64 `json:"failed"`   // preparations that failed (the last error: LastError)
	// LastError is the last preparation failure, if any; the pool retries with a growing pause, and runs
	// meanwhile go cold, where the same failure is reported as the run's own error.
	LastError string `json:"last_error,omitempty"`
}

// Pools routes each run to the warm Pool of its policy, when one serves it, and to the Runner otherwise
// (another policy, a policy tightened by overrides, a run with files, a pool that was closed). It is what
// `jailrun serve --pool` runs requests through; like Runner and Pool it is safe for concurrent use.
type Pools struct {
	r     *Runner
	pools []*Pool
}

// NewPools routes runs over pools, falling back to r. The Pools owns the pools: Close closes them.
func NewPools(r *Runner, pools ...*Pool) *Pools { return &Pools{r: r, pools: pools} }

// Add makes p one of the pools runs are routed to.
func (ps *Pools) Add(p *Pool) { ps.pools = append(ps.pools, p) }

// Run runs req in a prepared sandbox of the pool that serves req.Policy, else cold through the Runner. A
// pool that was closed (Pool.Close, Runner.Close) serves nothing: its runs go to the Runner, which refuses
// them with ErrClosed only if it is closed too.
func (ps *Pools) Run(ctx context.Context, req Request) (*Result, error) {
	for _, p := range ps.pools {
		if p.Serves(req.Policy) {
			res, err := p.Run(ctx, req)
			if errors.Is(err, errPoolClosed) {
				// Closed between Serves and Run: nothing was started, the Runner may still run it.
				break
			}
			return res, err
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
