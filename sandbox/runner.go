package sandbox

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/jailrun/jailrun/ipc"
	"github.com/jailrun/jailrun/policy"
)

// Options configure a Runner.
type Options struct {
	// HostUID and HostGID, when set, are fixed unprivileged host ids every sandbox of a root Runner maps its
	// user to ("fixed" in the result): concurrent sandboxes then share the kernel's per-user budgets. Left
	// zero, a root Runner gives each live sandbox ids of its own from HostIDs ("allocated").
	HostUID, HostGID uint32
	// HostIDs is the range a root Runner allocates each sandbox's host uid and gid from (the same number for
	// both), one per live sandbox across every jailrun process on the host; default DefaultHostIDs. NewRunner
	// refuses a range that overlaps a uid in /etc/passwd, a gid in /etc/group or a range in /etc/subuid or
	// /etc/subgid.
	HostIDs IDRange
	// IDMapping chooses, for a Runner that is not root, which host ids the sandbox's user maps to. Root
	// uses HostIDs (or HostUID/HostGID when set).
	IDMapping IDMapping
	// CgroupParent is where run cgroups are created; default: a "jailrun" child of the caller's cgroup.
	CgroupParent string
	// Logf receives warnings jailrun must not keep to itself, such as a policy's unsafe opt-outs.
	Logf func(format string, args ...any)
}

// IDMapping is how an unprivileged Runner maps the sandbox's user and group onto host ids.
type IDMapping string

const (
	// IDMapAuto maps to the caller's first subordinate ids when /etc/subuid and /etc/subgid grant some and
	// newuidmap/newgidmap are installed, else to the caller's own ids.
	IDMapAuto IDMapping = ""
	// IDMapSubordinate requires subordinate ids: NewRunner fails with ErrUnsupported, saying what is
	// missing, when this host cannot provide them.
	IDMapSubordinate IDMapping = "subordinate"
	// IDMapCaller maps to the caller's own ids: the sandbox can then write what the caller can write in its
	// writable bind mounts, and keeps the caller's supplementary groups (setgroups is denied).
	IDMapCaller IDMapping = "caller"
)

// IDRange is an inclusive range of host ids, START-END.
type IDRange struct {
	Start uint32 `json:"start"`
	End   uint32 `json:"end"`
}

// DefaultHostIDs is 0x7FFF0000-0x7FFFFFFF: 65536 ids just below 2^31 (so software that keeps ids in a
// signed int still sees them positive), above systemd's foreign range (0x7FFE0000-0x7FFEFFFF) and below
// its dynamic user-namespace ranges (0x80000000 and up), far above the regular users and above what
// useradd hands out as subordinate ids (100000 + 65536*n, up to 600100000 by default).
var DefaultHostIDs = IDRange{Start: 0x7FFF0000, End: 0x7FFFFFFF}

// ParseIDRange accepts "START-END" (decimal, inclusive, 1 <= START <= END <= 4294967294).
func ParseIDRange(s string) (IDRange, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	x, err1 := strconv.ParseUint(a, 10, 32)
	y, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return IDRange{}, fmt.Errorf("host id range %q: want START-END, two decimal ids", s)
	}
	r := IDRange{Start: uint32(x), End: uint32(y)}
	switch {
	case r.Start == 0:
		return IDRange{}, fmt.Errorf("host id range %q: id 0 is root on the host", s)
	case r.End == 1<<32-1:
		return IDRange{}, fmt.Errorf("host id range %q: 4294967295 is the invalid id", s)
	case r.End < r.Start:
		return IDRange{}, fmt.Errorf("host id range %q: END is below START", s)
	}
	return r, nil
}

func (r IDRange) String() string { return fmt.Sprintf("%d-%d", r.Start, r.End) }

// Size is the number of ids in the range.
func (r IDRange) Size() uint64 { return uint64(r.End) - uint64(r.Start) + 1 }

// ParseIDMapping accepts "auto" (or ""), "subordinate" and "caller".
func ParseIDMapping(s string) (IDMapping, error) {
	switch s {
	case "", "auto":
		return IDMapAuto, nil
	case string(IDMapSubordinate), string(IDMapCaller):
		return IDMapping(s), nil
	}
	return "", fmt.Errorf("id mapping %q: want auto, subordinate or caller", s)
}

// IDMappingInfo is what a Runner maps the sandbox's user and group to on the host.
type IDMappingInfo struct {
	// Kind is "allocated" (root: one id per live sandbox from Range), "fixed" (root: Options.HostUID/HostGID),
	// "subordinate" or "caller"; see Enforced.IDMap. For "allocated", HostUID and HostGID are the range's
	// start: each run reports its own ids in its result.
	Kind    string `json:"kind"`
	HostUID uint32 `json:"host_uid"`
	HostGID uint32 `json:"host_gid"`
	// Range is where "allocated" (and "subordinate", when more than one id is granted) take each run's ids.
	Range *IDRange `json:"range,omitempty"`
	// Why says, for "caller" under IDMapAuto, why subordinate ids are not used and how to set them up.
	Why string `json:"why,omitempty"`

	newuidmap, newgidmap string
}

// withDefaults fills what the caller left zero: the host id range, a silent Logf. One of HostUID and
// HostGID set alone fixes the other to 65534 (nobody), as before ranges existed.
func (o Options) withDefaults() Options {
	if o.HostIDs == (IDRange{}) {
		o.HostIDs = DefaultHostIDs
	}
	if o.HostUID != 0 || o.HostGID != 0 {
		if o.HostUID == 0 {
			o.HostUID = 65534
		}
		if o.HostGID == 0 {
			o.HostGID = 65534
		}
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	return o
}

// Runner launches sandboxes. It is safe for concurrent use; create one per process, reuse it, and Close it
// when it is no longer needed.
type Runner struct {
	opts Options
	plat platform

	// Close must not pull the cgroup parent from under a run, nor let a run start after it cleaned up: mu
	// orders closed against the start of every run, runs counts the runs in progress, pools are the
	// pools made by NewPool and not closed yet (their prepared sandboxes live in the Runner's cgroups).
	mu     sync.Mutex
	closed bool
	runs   sync.WaitGroup
	pools  map[*Pool]struct{}
}

// NewRunner checks that this host can run sandboxes at all and prepares what runs share. Options that are
// not valid values are refused before anything is touched: an unknown IDMapping with ErrPolicy, a HostIDs
// range that is not a valid range with ErrHostIDs.
func NewRunner(o Options) (*Runner, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	r := &Runner{opts: o.withDefaults()}
	if err := r.initPlatform(); err != nil {
		return nil, err
	}
	return r, nil
}

// validate refuses option values no host could make sense of. It runs before the platform's checks, which
// would otherwise report a typo as something this host cannot do (ErrUnsupported).
func (o Options) validate() error {
	if _, err := ParseIDMapping(string(o.IDMapping)); err != nil {
		return fmt.Errorf("%w: Options.IDMapping %q: want %q (auto), %q or %q", ErrPolicy, string(o.IDMapping),
			string(IDMapAuto), string(IDMapSubordinate), string(IDMapCaller))
	}
	if r := o.HostIDs; r != (IDRange{}) {
		// The same rules as ParseIDRange, for a range built in code rather than parsed.
		if _, err := ParseIDRange(r.String()); err != nil {
			return fmt.Errorf("%w: Options.HostIDs: %w", ErrHostIDs, err)
		}
	}
	return nil
}

// errRunnerClosed is what a Runner refuses work with once Close has begun.
var errRunnerClosed = fmt.Errorf("the Runner is %w", ErrClosed)

// enter registers a run about to use what the Runner shares, or fails with ErrClosed once Close has begun.
// The run calls exit when it has released everything it took (its cgroup, its host ids): Close waits for
// that before it removes the cgroup parent.
func (r *Runner) enter() (exit func(), err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errRunnerClosed
	}
	r.runs.Add(1)
	return r.runs.Done, nil
}

// shutdown is Close in the only safe order: refuse new runs and pools, close the pools (which destroys
// their prepared sandboxes and waits for their runs), wait for the runs in progress, and only then release
// what the platform set up for them. It is safe to call more than once, even concurrently: a later call
// has nothing left to wait for and retries release, which does nothing while another Runner or process
// still has runs under the same cgroup parent.
func (r *Runner) shutdown(release func() error) error {
	r.mu.Lock()
	r.closed = true
	pools := make([]*Pool, 0, len(r.pools))
	for p := range r.pools {
		pools = append(pools, p)
	}
	r.mu.Unlock()
	for _, p := range pools {
		_ = p.Close()
	}
	r.runs.Wait()
	return release()
}

// addPool records a new pool, so that Close can close it; it fails with ErrClosed once Close has begun.
func (r *Runner) addPool(p *Pool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errRunnerClosed
	}
	if r.pools == nil {
		r.pools = map[*Pool]struct{}{}
	}
	r.pools[p] = struct{}{}
	return nil
}

// dropPool forgets a closed pool.
func (r *Runner) dropPool(p *Pool) {
	r.mu.Lock()
	delete(r.pools, p)
	r.mu.Unlock()
}

func newRunID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// buildEnv makes the child's whole environment: the policy's allowlisted variables taken from the caller,
// then its fixed values, which win. Nothing else of the caller's environment crosses.
func buildEnv(p *policy.Process, caller []string) []string {
	vals := map[string]string{}
	allow := map[string]bool{}
	for _, n := range p.EnvAllow {
		allow[n] = true
	}
	for _, kv := range caller {
		k, v, ok := strings.Cut(kv, "=")
		if ok && allow[k] {
			vals[k] = v
		}
	}
	for _, kv := range p.Env {
		k, v, _ := strings.Cut(kv, "=")
		vals[k] = v
	}
	out := make([]string, 0, len(vals))
	for k, v := range vals {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// searchPath returns the absolute directories of the child's PATH, for commands given without a slash. The
// lookup happens inside the sandbox's root, never on the host.
func searchPath(env []string) []string {
	p := "/usr/local/bin:/usr/bin:/bin"
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			p = v
		}
	}
	var dirs []string
	for _, d := range strings.Split(p, ":") {
		if path.IsAbs(d) {
			dirs = append(dirs, path.Clean(d))
		}
	}
	return dirs
}

func validateRequest(req *Request) error {
	if req.Policy == nil {
		return fmt.Errorf("%w: no policy", ErrPolicy)
	}
	if err := ipc.ValidateAll(req.Channels); err != nil {
		return fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	if err := commandFromTemplate(req); err != nil {
		return err
	}
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return fmt.Errorf("%w: no command", ErrPolicy)
	}
	for _, a := range req.Argv {
		if strings.IndexByte(a, 0) >= 0 {
			return fmt.Errorf("%w: argument contains a NUL byte", ErrPolicy)
		}
	}
	for _, kv := range req.Env {
		if strings.IndexByte(kv, 0) >= 0 {
			return fmt.Errorf("%w: environment contains a NUL byte", ErrPolicy)
		}
	}
	return nil
}

// commandFromTemplate enforces a policy's command template for every entry point: a policy that has one
// accepts only its parameters, never an argv of the caller's choosing (which could run any program, or
// append options to an allowed one). The expanded argv replaces req.Argv.
func commandFromTemplate(req *Request) error {
	if req.fromTemplate {
		return nil
	}
	c := req.Policy.Command
	if len(c.Template) == 0 {
		if len(req.Params) > 0 {
			return fmt.Errorf("%w: %w", ErrPolicy, &ArgError{What: "params",
				Reason: fmt.Sprintf("are refused: policy %s has no command template to fill in; give the command as argv", req.Policy.Name)})
		}
		return nil
	}
	if len(req.Argv) > 0 {
		return fmt.Errorf("%w: %w", ErrPolicy, &ArgError{What: "argv",
			Reason: fmt.Sprintf("is refused: policy %s fixes the command with a template; give only its parameters (%s)", req.Policy.Name, declared(c))})
	}
	argv, err := ExpandTemplate(c, req.Params)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	req.Argv, req.fromTemplate = argv, true
	return nil
}
