package cgroups

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	cgroupsv3 "github.com/containerd/cgroups/v3"
	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/internal/procid"
	"github.com/jailrun/jailrun/internal/statedir"
	"github.com/jailrun/jailrun/policy"
)

// v1Controllers are the v1 controllers jailrun uses, in the order run cgroups are created.
var v1Controllers = []string{"freezer", "cpuacct", "memory", "pids", "cpu", "cpuset", "blkio"}

// Manager creates and accounts run cgroups. One per process is enough; it is safe for concurrent use.
type Manager struct {
	mode    Mode
	v2      bool
	owner   owner
	disable map[string]string
	account []string
	noSwap  bool   // test hook: Options.noSwapAccounting
	records string // Options.Registry

	// cgroup v2
	mount    string // the cgroup2 mount point
	origin   string // the caller's own cgroup (absolute dir), before any move into a leaf
	parent   string // where runs are created (absolute dir)
	writeTop string // the highest cgroup whose cgroup.subtree_control jailrun may write

	// cgroup v1 (and hybrid): controller -> hierarchy; co-mounted controllers share one.
	hier map[string]*hierarchy
}

type hierarchy struct {
	mount  string // mount point, e.g. /sys/fs/cgroup/memory
	parent string // where runs are created in this hierarchy (absolute dir)
	err    error  // why this hierarchy cannot be used
}

// proc is the state shared by every Manager of this process: what has been prepared under which parent (so
// that the fast path of Create is a map lookup), and on cgroup v2 whether this process moved itself into a
// leaf to be allowed to enable controllers in its own cgroup.
var proc struct {
	// mu is held for reading by Create while it relies on prepared parents, and for writing while preparing
	// and by Close, which may take a prepared parent apart.
	mu       sync.RWMutex
	prepared map[string]map[string]bool // parent dir -> controllers ready there (v1: the "" key: dir ready)
	created  []string                   // parent dirs jailrun created, outermost first (removed by Close)
	enabled  []enabledCtl               // controllers jailrun enabled in a subtree_control, in order
	leaf     string                     // v2: the leaf this process moved into ("" if it did not)
	leafFrom string                     // v2: the cgroup it came from
	recorded map[[2]string]bool         // {registry, parent dir} written to this process's registry records

	seq atomic.Uint64
}

type enabledCtl struct{ dir, ctrl string }

func self() (owner, error) {
	id, err := procid.Self()
	return owner(id), err
}

// NewManager detects the cgroup mode and where this process's cgroups are. It writes nothing: parents are
// prepared by the first Create that needs them.
func NewManager(o Options) (*Manager, error) {
	me, err := self()
	if err != nil {
		return nil, fmt.Errorf("cgroups: identify this process: %w", err)
	}
	m := &Manager{owner: me, disable: o.disable, account: o.account, noSwap: o.noSwapAccounting, records: o.Registry}
	m.mode = detectMode()
	if o.unified != "" {
		m.mode = ModeV2
	}
	mounts, err := readMountinfo()
	if err != nil {
		return nil, fmt.Errorf("cgroups: %w", err)
	}
	v1own, v2own, err := cgroupsv3.ParseCgroupFileUnified("/proc/self/cgroup")
	if err != nil {
		return nil, fmt.Errorf("cgroups: read /proc/self/cgroup: %w", err)
	}
	switch m.mode {
	case ModeV2:
		m.v2 = true
		m.mount = "/sys/fs/cgroup"
		if o.unified != "" {
			m.mount = o.unified
		}
		if err := m.initV2(mounts, v2own, o.Parent); err != nil {
			return nil, err
		}
	case ModeV1, ModeHybrid:
		m.initV1(mounts, v1own, o.Parent)
		if len(m.hier) == 0 {
			// /sys/fs/cgroup is there but no v1 hierarchy is mounted (a bare directory, a container without
			// cgroupfs): nothing to use.
			m.mode = ModeNone
		}
	}
	return m, nil
}

// detectMode uses containerd's detection (statfs of /sys/fs/cgroup and /sys/fs/cgroup/unified), which is right
// on systemd and non-systemd hosts alike; verified on a hybrid host (memory, pids, cpu... on v1, hugetlb on v2).
func detectMode() Mode {
	switch cgroupsv3.Mode() {
	case cgroupsv3.Unified:
		return ModeV2
	case cgroupsv3.Hybrid:
		return ModeHybrid
	case cgroupsv3.Legacy:
		return ModeV1
	}
	return ModeNone
}

// Mode reports the host's cgroup mode.
func (m *Manager) Mode() Mode { return m.mode }

type mountEntry struct {
	root, point, fstype string
	superOpts           []string
}

// readMountinfo lists the cgroup and cgroup2 mounts. Unlike containerd's cgroup1.NestedPath, a controller
// listed in /proc/self/cgroup without a visible mount (another mount namespace, an unmounted hierarchy) makes
// only that controller unusable instead of failing every lookup ("cannot find cgroup mount destination").
func readMountinfo() ([]mountEntry, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []mountEntry
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		sep := -1
		for i, f := range fields {
			if f == "-" {
				sep = i
				break
			}
		}
		if sep < 5 || len(fields) < sep+4 {
			continue
		}
		fstype := fields[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		out = append(out, mountEntry{
			root: unescapeMount(fields[3]), point: unescapeMount(fields[4]), fstype: fstype,
			superOpts: strings.Split(fields[sep+3], ","),
		})
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+4 <= len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// relTo makes a cgroup path from /proc/self/cgroup relative to a mount's root (they differ when a container
// bind-mounts part of the hierarchy); ok is false if the cgroup is not visible under that mount.
func relTo(path, mountRoot string) (string, bool) {
	if mountRoot == "/" || mountRoot == "" {
		return path, true
	}
	if path == mountRoot {
		return "/", true
	}
	if rest, ok := strings.CutPrefix(path, mountRoot+"/"); ok {
		return "/" + rest, true
	}
	return "", false
}

func (m *Manager) initV2(mounts []mountEntry, own, parentOpt string) error {
	var mnt *mountEntry
	for i := range mounts {
		if mounts[i].fstype == "cgroup2" && mounts[i].point == m.mount {
			mnt = &mounts[i]
			break
		}
	}
	if mnt == nil {
		return fmt.Errorf("cgroups: no cgroup2 mount at %s in /proc/self/mountinfo", m.mount)
	}
	rel, ok := relTo(own, mnt.root)
	if !ok {
		return fmt.Errorf("cgroups: this process's cgroup %s is outside the cgroup2 mount at %s (root %s)", own, m.mount, mnt.root)
	}
	ownDir := filepath.Join(m.mount, rel)
	proc.mu.RLock()
	leaf, leafFrom := proc.leaf, proc.leafFrom
	proc.mu.RUnlock()
	// A process that lives in a jailrun leaf (this process after moving itself, or a child of a jailrun
	// process) treats the leaf's parent as its jailrun parent and the cgroup above that as its own: the leaf
	// holds processes, so nothing can be created under it with controllers.
	defaultParent := filepath.Join(ownDir, "jailrun")
	m.origin = ownDir
	if ownDir == leaf {
		defaultParent, m.origin = filepath.Dir(leaf), leafFrom
	} else if _, isLeaf, ok := parseName(filepath.Base(ownDir)); ok && isLeaf {
		defaultParent = filepath.Dir(ownDir)
		m.origin = filepath.Dir(defaultParent)
	}
	m.writeTop = m.origin
	switch {
	case parentOpt == "":
		m.parent = defaultParent
	case strings.HasPrefix(parentOpt, "/"):
		m.parent = filepath.Join(m.mount, filepath.Clean(parentOpt))
		if !within(m.parent, m.origin) {
			// An explicit parent outside our own cgroup: the operator chose that place, so jailrun may
			// enable controllers on the way down from the root.
			m.writeTop = m.mount
		}
	default:
		m.parent = filepath.Join(m.origin, filepath.Clean(parentOpt))
	}
	if !within(m.parent, m.mount) || m.parent == m.mount && parentOpt != "/" {
		return fmt.Errorf("cgroups: parent %q resolves outside the cgroup2 mount", parentOpt)
	}
	return nil
}

func within(dir, top string) bool {
	return dir == top || strings.HasPrefix(dir, strings.TrimSuffix(top, "/")+"/")
}

func (m *Manager) initV1(mounts []mountEntry, own map[string]string, parentOpt string) {
	m.hier = map[string]*hierarchy{}
	byMount := map[string]*hierarchy{}
	for _, ctrl := range v1Controllers {
		var mnt *mountEntry
		for i := range mounts {
			if mounts[i].fstype != "cgroup" {
				continue
			}
			for _, o := range mounts[i].superOpts {
				if o == ctrl {
					// Prefer the canonical place if a hierarchy is mounted twice.
					if mnt == nil || strings.HasPrefix(mounts[i].point, "/sys/fs/cgroup/") {
						mnt = &mounts[i]
					}
				}
			}
		}
		if mnt == nil {
			continue
		}
		if h := byMount[mnt.point]; h != nil {
			m.hier[ctrl] = h
			continue
		}
		h := &hierarchy{mount: mnt.point}
		byMount[mnt.point] = h
		m.hier[ctrl] = h
		ownPath, ok := own[ctrl]
		if !ok {
			h.err = fmt.Errorf("this process has no cgroup in the %s hierarchy (/proc/self/cgroup)", ctrl)
			continue
		}
		rel, ok := relTo(ownPath, mnt.root)
		if !ok {
			h.err = fmt.Errorf("this process's %s cgroup %s is outside the mount at %s", ctrl, ownPath, mnt.point)
			continue
		}
		switch {
		case parentOpt == "":
			h.parent = filepath.Join(mnt.point, rel, "jailrun")
		case strings.HasPrefix(parentOpt, "/"):
			h.parent = filepath.Join(mnt.point, filepath.Clean(parentOpt))
		default:
			h.parent = filepath.Join(mnt.point, rel, filepath.Clean(parentOpt))
		}
		if !within(h.parent, mnt.point) {
			h.err = fmt.Errorf("parent %q resolves outside the %s hierarchy", parentOpt, ctrl)
		}
	}
}

// ask is one limit of a policy and the controller that enforces it in this mode ("" = no controller needed).
type ask struct {
	setting, ctrl string
}

func (m *Manager) asks(lim policy.Limits) []ask {
	var out []ask
	for _, k := range policy.CgroupLimits {
		// A limit enforced with another (memory_swap) is asked for with it.
		if k.With == "" && k.On(lim) {
			out = append(out, ask{k.Setting(), m.limitCtrl(k)})
		}
	}
	return out
}

// accounting are the controllers every run gets when the host has them, for Stats and Kill. On v1 the freezer
// is for Kill alone, and a run whose processes all live in a pid namespace of their own does without it.
func (m *Manager) accounting(pidns bool) []string {
	var a []string
	switch {
	case m.v2:
		a = []string{"memory", "pids"}
	case pidns:
		a = []string{"cpuacct", "memory", "pids"}
	default:
		a = []string{"freezer", "cpuacct", "memory", "pids"}
	}
	return append(a, m.account...)
}

// problem is why a controller cannot be used, with a hint for the operator.
type problem struct {
	reason, hint string
}

// Create makes the run's cgroup and applies lim; see the package documentation for fail-closed rules.
// id is the caller's run id, kept (sanitized) in the cgroup's name for people reading the tree. extra names
// v1 controllers the run should also get a directory in when the host can give one (no limit is set in
// them): the cgroup view needs cpu and cpuset, which the JVM requires to find its limits.
func (m *Manager) Create(id string, lim policy.Limits, req policy.Require, extra ...string) (*Cgroup, error) {
	return m.CreateWith(id, lim, req, CreateOptions{Extra: extra})
}

// CreateWith is Create with options beyond the extra controllers.
func (m *Manager) CreateWith(id string, lim policy.Limits, req policy.Require, o CreateOptions) (*Cgroup, error) {
	extra := o.Extra
	if m.mode == ModeNone {
		for _, a := range m.asks(lim) {
			if !req.Allows(a.setting) {
				return nil, &UnsupportedError{Setting: a.setting, Controller: a.ctrl,
					Reason: "no cgroup filesystem is mounted on this host",
					Hint:   "mount cgroup2 on /sys/fs/cgroup (mount -t cgroup2 none /sys/fs/cgroup)"}
			}
		}
		return nil, ErrNoCgroup
	}
	asks := m.asks(lim)
	want := m.accounting(o.PIDNamespace)
	if !m.v2 {
		for _, c := range extra {
			if h := m.hier[c]; h != nil && h.err == nil && !contains(want, c) {
				want = append(want, c)
			}
		}
	}
	for _, a := range asks {
		if a.ctrl != "" && !contains(want, a.ctrl) {
			want = append(want, a.ctrl)
		}
	}
	for attempt := 0; ; attempt++ {
		c, err := m.create(id, lim, req, asks, want)
		// The parent disappeared under us (Close of another Manager of this process, or an operator): forget
		// what was prepared and try once more.
		if err != nil && attempt == 0 && errors.Is(err, errParentGone) {
			m.forget()
			continue
		}
		if err != nil && errors.Is(err, errParentGone) {
			// Still no parent to create in (a caller that may not create it, such as an unprivileged user
			// under a root-owned parent): no cgroup can be made here. The launcher then refuses every limit
			// the policy requires and runs only what it marked best effort.
			return nil, fmt.Errorf("%w: %w", ErrNoCgroup, err)
		}
		return c, err
	}
}

var errParentGone = errors.New("parent cgroup disappeared")

func (m *Manager) create(id string, lim policy.Limits, req policy.Require, asks []ask, want []string) (*Cgroup, error) {
	problems := m.prepare(want)
	proc.mu.RLock()
	defer proc.mu.RUnlock()
	var skipped []string
	for _, a := range asks {
		if a.ctrl == "" {
			continue
		}
		p, bad := problems[a.ctrl]
		if !bad {
			continue
		}
		if req.Allows(a.setting) {
			skipped = append(skipped, a.setting)
			continue
		}
		return nil, &UnsupportedError{Setting: a.setting, Controller: a.ctrl, Reason: p.reason, Hint: p.hint}
	}
	var use []string
	for _, c := range want {
		if _, bad := problems[c]; !bad {
			use = append(use, c)
		}
	}
	name := m.owner.runName(proc.seq.Add(1), id)
	c := &Cgroup{m: m, name: name, skipped: skipped, dirFD: -1, cpuFD: -1, dirs: map[string]string{}}
	if err := m.makeDirs(c, use); err != nil {
		c.remove()
		return nil, err
	}
	if err := m.apply(c, lim, req); err != nil {
		c.remove()
		return nil, err
	}
	if err := c.open(); err != nil {
		c.remove()
		return nil, err
	}
	return c, nil
}

func (m *Manager) makeDirs(c *Cgroup, use []string) error {
	if m.v2 {
		dir := filepath.Join(m.parent, c.name)
		if err := unix.Mkdir(dir, 0o755); err != nil {
			if err == unix.ENOENT {
				return fmt.Errorf("cgroups: mkdir %s: %w", dir, errParentGone)
			}
			return fmt.Errorf("cgroups: mkdir %s: %w", dir, err)
		}
		c.order = []string{dir}
		c.keepDir(dir)
		for _, ctl := range use {
			c.dirs[ctl] = dir
		}
		c.dirs[""] = dir
		return nil
	}
	if len(use) == 0 {
		return ErrNoCgroup
	}
	for _, ctl := range use {
		h := m.hier[ctl]
		dir := filepath.Join(h.parent, c.name)
		if !contains(c.order, dir) {
			if err := unix.Mkdir(dir, 0o755); err != nil {
				if err == unix.ENOENT {
					return fmt.Errorf("cgroups: mkdir %s: %w", dir, errParentGone)
				}
				return fmt.Errorf("cgroups: mkdir %s: %w", dir, err)
			}
			c.order = append(c.order, dir)
			c.keepDir(dir)
		}
		c.dirs[ctl] = dir
	}
	return nil
}

// prepare makes sure the parent exists and the wanted controllers can be used under it, and returns the ones
// that cannot, with why. The common case (all prepared before) takes the read lock and a map lookup.
func (m *Manager) prepare(want []string) map[string]problem {
	problems := map[string]problem{}
	var todo []string
	proc.mu.RLock()
	for _, c := range want {
		if r, off := m.disable[c]; off {
			problems[c] = problem{reason: r}
			continue
		}
		if !m.ready(c) {
			todo = append(todo, c)
		}
	}
	proc.mu.RUnlock()
	if len(todo) == 0 {
		return problems
	}
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if proc.prepared == nil {
		proc.prepared = map[string]map[string]bool{}
	}
	usable := false
	for _, c := range todo {
		if m.ready(c) {
			continue
		}
		var p *problem
		if m.v2 {
			p = m.prepareV2(c)
		} else {
			p = m.prepareV1(c)
		}
		if p != nil {
			problems[c] = *p
		} else {
			usable = true
		}
	}
	if usable {
		m.record()
	}
	return problems
}

// record appends this Manager's parent dirs to the process's registry record (Options.Registry), once per
// dir and process, under proc.mu and before any run is made there: from then on a SIGKILL leaves a record
// that the next Janitor follows. Best effort: a Janitor under the same parent finds the runs without it.
func (m *Manager) record() {
	if m.records == "" {
		return
	}
	var add []string
	for _, d := range m.parentDirs() {
		if !proc.recorded[[2]string{m.records, d}] {
			add = append(add, d)
		}
	}
	if len(add) == 0 {
		return
	}
	// Made on first use, so that a process that never makes a run leaves no directory behind.
	if statedir.Ensure(m.records) != nil {
		return
	}
	fd, err := unix.Open(filepath.Join(m.records, m.owner.tag()), unix.O_WRONLY|unix.O_APPEND|unix.O_CREAT|unix.O_CLOEXEC|unix.O_NOFOLLOW, 0o600)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(strings.Join(add, "\n")+"\n")); err != nil {
		return
	}
	if proc.recorded == nil {
		proc.recorded = map[[2]string]bool{}
	}
	for _, d := range add {
		proc.recorded[[2]string{m.records, d}] = true
	}
}

// ready reports (under proc.mu) whether controller c was prepared under this Manager's parent.
func (m *Manager) ready(c string) bool {
	if m.v2 {
		return proc.prepared[m.parent][c]
	}
	h := m.hier[c]
	return h != nil && h.err == nil && proc.prepared[h.parent][""]
}

// forget drops what was prepared for this Manager's parents.
func (m *Manager) forget() {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	if m.v2 {
		delete(proc.prepared, m.parent)
		return
	}
	for _, h := range m.hier {
		delete(proc.prepared, h.parent)
	}
}

func (m *Manager) markPrepared(dir, c string) {
	if proc.prepared[dir] == nil {
		proc.prepared[dir] = map[string]bool{}
	}
	proc.prepared[dir][c] = true
}

// ownMount is the hierarchy mount a v1 hierarchy dir belongs to; used to stop walks.
func (m *Manager) parentDirs() []string {
	if m.v2 {
		return []string{m.parent}
	}
	seen := map[string]bool{}
	var out []string
	for _, c := range v1Controllers {
		h := m.hier[c]
		if h == nil || h.err != nil || seen[h.parent] {
			continue
		}
		seen[h.parent] = true
		out = append(out, h.parent)
	}
	return out
}

// Close tidies up this process's parent cgroups once it is done with runs (CLI exit, end of a test binary).
// While any run cgroup (of this or another process) remains under them it does nothing. Otherwise it removes
// the parent cgroups jailrun created and, on cgroup v2, if this process
// had to move itself into a leaf to enable controllers in its own cgroup, moves it back and disables what it
// enabled, leaving the tree as it found it. A Create after Close prepares again. Optional for a long-running
// service; leftovers of a crash are the janitor's.
func (m *Manager) Close() error {
	proc.mu.Lock()
	defer proc.mu.Unlock()
	// Taking controllers away from a parent strips them from every cgroup under it, limits included: never
	// while a run (of any Manager or process) lives under what this process set up.
	if runsLeft() {
		return nil
	}
	proc.prepared = nil
	var errs []error
	if proc.leaf != "" {
		// Undo in reverse: controllers must be disabled bottom-up, the process must leave the leaf before it
		// can be removed, and it may only go back to a cgroup that no longer distributes controllers.
		busy := false
		for i := len(proc.enabled) - 1; i >= 0; i-- {
			e := proc.enabled[i]
			if err := writeFile(filepath.Join(e.dir, "cgroup.subtree_control"), "-"+e.ctrl); err != nil {
				busy = true // a run still uses it, or someone else enabled it below
				break
			}
			proc.enabled = proc.enabled[:i]
		}
		if !busy {
			if err := writeFile(filepath.Join(proc.leafFrom, "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
				errs = append(errs, fmt.Errorf("cgroups: move back to %s: %w", proc.leafFrom, err))
			} else {
				if err := unix.Rmdir(proc.leaf); err != nil && err != unix.ENOENT {
					errs = append(errs, fmt.Errorf("cgroups: rmdir %s: %w", proc.leaf, err))
				}
				proc.leaf, proc.leafFrom = "", ""
			}
		}
	} else {
		// Controllers enabled without a move (our cgroup was the root, or an explicit parent): disable them
		// where possible, ignoring cgroups that are still in use.
		for i := len(proc.enabled) - 1; i >= 0; i-- {
			e := proc.enabled[i]
			_ = writeFile(filepath.Join(e.dir, "cgroup.subtree_control"), "-"+e.ctrl)
		}
		proc.enabled = nil
	}
	var kept []string
	for i := len(proc.created) - 1; i >= 0; i-- {
		d := proc.created[i]
		if err := unix.Rmdir(d); err != nil && err != unix.ENOENT {
			kept = append([]string{d}, kept...) // runs of others or of a live Manager remain
		}
	}
	proc.created = kept
	m.unrecord()
	return errors.Join(errs...)
}

// unrecord removes this process's registry record once no run of it is left under a recorded dir (under
// proc.mu): a process that cleaned up after itself leaves nothing for a Janitor to follow.
func (m *Manager) unrecord() {
	if m.records == "" {
		return
	}
	var dirs []string
	for k := range proc.recorded {
		if k[0] == m.records {
			dirs = append(dirs, k[1])
		}
	}
	if len(dirs) == 0 {
		return
	}
	prefix := m.owner.tag() + "."
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), prefix) {
				return // a run of this process (or its leaf) still lives there
			}
		}
	}
	if err := unix.Unlink(filepath.Join(m.records, m.owner.tag())); err == nil || err == unix.ENOENT {
		for _, d := range dirs {
			delete(proc.recorded, [2]string{m.records, d})
		}
	}
}

// runsLeft reports whether any cgroup other than the ones this process made for its own set-up (parents, its
// leaf) exists under a cgroup whose subtree_control or existence Close would change. Under proc.mu.
func runsLeft() bool {
	ours := map[string]bool{proc.leaf: true}
	for _, d := range proc.created {
		ours[d] = true
	}
	for _, e := range proc.enabled {
		ours[e.dir] = true
	}
	for d := range ours {
		if d == "" || d == proc.leaf {
			continue
		}
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if e.IsDir() && !ours[filepath.Join(d, e.Name())] {
				return true
			}
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Janitor removes the run cgroups whose owner (a jailrun process) is gone, after killing anything still
// inside: those under this Manager's parent, and those under the parents that dead owners recorded in the
// registry (Options.Registry), wherever those are. Cgroups of live owners, of other pid namespaces (whose
// pids it cannot check) and names jailrun did not make are left alone. A dead owner's own leaf (v2) is
// removed only when empty: the processes there are not sandboxes. It returns the paths it removed.
func (m *Manager) Janitor() (removed []string, err error) {
	if m.mode == ModeNone {
		return nil, nil
	}
	alive := map[owner]bool{}
	dead := func(o owner) bool {
		if o.PIDNS != m.owner.PIDNS || o == m.owner {
			return false
		}
		live, checked := alive[o]
		if !checked {
			live = o.alive()
			alive[o] = live
		}
		return !live
	}
	removed, errs := m.sweep(m.parentDirs(), dead)
	more, errs2 := m.sweepRecords(dead)
	return append(removed, more...), errors.Join(append(errs, errs2...)...)
}

// sweep removes the run cgroups under parents whose owner is dead.
func (m *Manager) sweep(parents []string, dead func(owner) bool) (removed []string, errs []error) {
	// Gather names per parent dir; on v1 a run has one dir per hierarchy.
	dirs := map[string][]string{}
	var names []string
	for _, p := range parents {
		ents, err := os.ReadDir(p)
		if err != nil {
			if !isNotExist(err) {
				errs = append(errs, fmt.Errorf("cgroups: janitor: %w", err))
			}
			continue
		}
		for _, e := range ents {
			if !e.IsDir() {
				continue
			}
			name := e.Name()
			o, _, ok := parseName(name)
			if !ok || !dead(o) {
				continue
			}
			if dirs[name] == nil {
				names = append(names, name)
			}
			dirs[name] = append(dirs[name], filepath.Join(p, name))
		}
	}
	sort.Strings(names)
	for _, name := range names {
		_, isLeaf, _ := parseName(name)
		c := &Cgroup{m: m, name: name, dirFD: -1, cpuFD: -1, order: dirs[name], dirs: map[string]string{}}
		m.fillDirs(c)
		if isLeaf {
			if populated, _ := c.populated(); populated {
				continue
			}
			if err := c.remove(); err != nil {
				errs = append(errs, err)
				continue
			}
		} else if err := c.Destroy(); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, c.order...)
	}
	return removed, errs
}

// maxRecord bounds what the janitor reads of a registry record: a few parent paths.
const maxRecord = 64 << 10

// sweepRecords follows the registry records of dead owners: it sweeps the parents each one lists (only
// cgroup directories, only that owner's runs) and removes the record once nothing of it is left.
func (m *Manager) sweepRecords(dead func(owner) bool) (removed []string, errs []error) {
	if m.records == "" {
		return nil, nil
	}
	if err := statedir.Check(m.records); err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, []error{fmt.Errorf("cgroups: janitor: records not followed: %w", err)}
	}
	ents, err := os.ReadDir(m.records)
	if err != nil {
		if isNotExist(err) {
			return nil, nil
		}
		return nil, []error{fmt.Errorf("cgroups: janitor: %w", err)}
	}
	swept := map[string]bool{}
	for _, p := range m.parentDirs() {
		swept[p] = true // done by Janitor already, for every dead owner
	}
	for _, e := range ents {
		o, ok := parseTag(e.Name())
		if !ok || !dead(o) {
			continue
		}
		path := filepath.Join(m.records, e.Name())
		b, err := readRecord(path)
		if err != nil {
			errs = append(errs, fmt.Errorf("cgroups: janitor: %w", err))
			continue
		}
		var parents []string
		for _, d := range strings.Split(string(b), "\n") {
			if filepath.IsAbs(d) && filepath.Clean(d) == d && !swept[d] && isCgroupDir(d) {
				parents = append(parents, d)
			}
		}
		r, es := m.sweep(parents, func(x owner) bool { return x == o })
		removed = append(removed, r...)
		if len(es) > 0 {
			errs = append(errs, es...)
			continue // keep the record for the next Janitor
		}
		if err := unix.Unlink(path); err != nil && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("cgroups: janitor: remove %s: %w", path, err))
		}
	}
	return removed, errs
}

// readRecord reads a registry record without following a link.
func readRecord(path string) ([]byte, error) {
	fd, err := openFile(path, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), path)
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, maxRecord))
}

// isCgroupDir reports whether dir is a directory of a cgroup file system (v1 or v2): a record names nothing
// else the janitor would act on.
func isCgroupDir(dir string) bool {
	var st unix.Statfs_t
	if unix.Statfs(dir, &st) != nil {
		return false
	}
	return st.Type == unix.CGROUP_SUPER_MAGIC || st.Type == unix.CGROUP2_SUPER_MAGIC
}

// fillDirs maps controllers to the dirs of a cgroup found on disk (janitor).
func (m *Manager) fillDirs(c *Cgroup) {
	for _, d := range c.order {
		if m.v2 {
			c.dirs[""] = d
			for _, ctl := range []string{"memory", "pids", "cpu", "cpuset", "io"} {
				c.dirs[ctl] = d
			}
			continue
		}
		// By hierarchy mount, not by parent: a dead owner's parent (from the registry) may differ from ours.
		for ctl, h := range m.hier {
			if h.err == nil && strings.HasPrefix(d, h.mount+"/") {
				c.dirs[ctl] = d
			}
		}
	}
}
