package cgroups

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/policy"
)

// These tests use the real kernel. They are mode-aware: they pass on this project's hybrid CI hosts (v1
// controllers) and in the pure cgroup v2 VM lane (tests/vm), as root and in a delegated cgroup, asserting in
// each place what the kernel offers there (a controller that is not offered must give an UnsupportedError).

const mib = 1 << 20

// peakSlack is how far a memory high-water mark may pass the limit: by the charge that failed (seen: one
// page on v1).
const peakSlack = 1 * mib

// lanes are the Managers a mode-independent test runs against: the host's own mode, and on a hybrid host also
// the v2 code path on its cgroup2 mount (no controllers there, but cgroup.kill, CLONE_INTO_CGROUP, cpu.stat).
func lanes(t *testing.T) []struct {
	name string
	opts Options
} {
	l := []struct {
		name string
		opts Options
	}{{"host", Options{}}}
	if detectMode() == ModeHybrid && exists("/sys/fs/cgroup/unified/cgroup.procs") {
		l = append(l, struct {
			name string
			opts Options
		}{"hybrid-unified-as-v2", Options{unified: "/sys/fs/cgroup/unified"}})
	}
	return l
}

func TestModeDetection(t *testing.T) {
	m, err := NewManager(Options{})
	if err != nil {
		t.Fatal(err)
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs("/sys/fs/cgroup", &st); err != nil {
		if m.Mode() != ModeNone {
			t.Fatalf("no /sys/fs/cgroup but mode %s", m.Mode())
		}
		return
	}
	const cgroup2Magic = 0x63677270
	want := ModeV1
	switch {
	case st.Type == cgroup2Magic:
		want = ModeV2
	case syscall.Statfs("/sys/fs/cgroup/unified", &st) == nil && st.Type == cgroup2Magic:
		want = ModeHybrid
	}
	if m.Mode() != want {
		t.Fatalf("Mode() = %s, want %s", m.Mode(), want)
	}
	t.Logf("mode %s", m.Mode())
	if want != ModeV2 {
		// Path resolution: every v1 hierarchy's parent is under this process's own cgroup there.
		own, _ := os.ReadFile("/proc/self/cgroup")
		for ctl, h := range m.hier {
			if h.err != nil {
				t.Logf("%s: %v", ctl, h.err)
				continue
			}
			for _, line := range strings.Split(string(own), "\n") {
				f := strings.SplitN(line, ":", 3)
				if len(f) == 3 && hasWord(strings.ReplaceAll(f[1], ",", " "), ctl) {
					if want := filepath.Join(h.mount, f[2], "jailrun"); h.parent != want {
						t.Errorf("%s parent %s, want %s", ctl, h.parent, want)
					}
				}
			}
		}
	}
}

func TestCreateDestroyLeavesNothing(t *testing.T) {
	for _, lane := range lanes(t) {
		for _, tc := range []struct {
			name string
			lim  policy.Limits
		}{
			{"no-limits", policy.Limits{}},
			{"strict", policy.Limits{Memory: 256 * mib, Pids: 64, CPUTime: 10 * time.Second}},
		} {
			t.Run(lane.name+"/"+tc.name, func(t *testing.T) {
				m := requireCgroups(t, lane.opts)
				fds := openFDs(t)
				c, err := m.Create("leaves-nothing", tc.lim, policy.Require{BestEffort: []string{"limits"}})
				if err != nil {
					t.Fatal(err)
				}
				// The cgroup keeps a descriptor of each of its directories (its files are opened through
				// them) until Destroy.
				if n := openFDs(t); n <= fds {
					t.Errorf("%d descriptors open with the cgroup, %d before: its directories are not kept", n, fds)
				}
				if len(c.Paths()) == 0 {
					t.Fatal("no directories")
				}
				for _, d := range c.Paths() {
					if _, err := os.Stat(d); err != nil {
						t.Fatalf("cgroup dir missing: %v", err)
					}
					if !strings.Contains(d, "/jr.") || !strings.HasSuffix(d, "-leaves-nothing") {
						t.Errorf("unexpected name %s", d)
					}
				}
				if _, err := c.Stats(); err != nil {
					t.Fatal(err)
				}
				if err := c.Destroy(); err != nil {
					t.Fatal(err)
				}
				for _, d := range c.Paths() {
					if _, err := os.Stat(d); !os.IsNotExist(err) {
						t.Errorf("%s left behind (%v)", d, err)
					}
				}
				if n := openFDs(t); n != fds {
					t.Errorf("%d descriptors open after Destroy, %d before the cgroup", n, fds)
				}
				if err := c.Destroy(); err != nil {
					t.Errorf("second Destroy: %v", err)
				}
				if _, err := c.Stats(); err == nil {
					t.Error("Stats after Destroy succeeded")
				}
				if _, err := c.CPUUsage(); err == nil {
					t.Error("CPUUsage after Destroy succeeded")
				}
				if fd, ok := c.CloneFD(); ok || fd != -1 {
					t.Error("CloneFD after Destroy")
				}
			})
		}
	}
}

// TestLimitsWritten checks every limit kind against the kernel's interface files, or, where this host does
// not offer the controller, that Create fails closed naming it.
func TestLimitsWritten(t *testing.T) {
	m := requireCgroups(t, Options{})
	q, p := cpuQuota(0.5)
	type file struct{ v2, v1, want string }
	for _, tc := range []struct {
		setting    string
		v2c, v1c   string
		lim        policy.Limits
		files      []file
		v2onlyFile bool
	}{
		{"limits.memory", "memory", "memory", policy.Limits{Memory: 64 * mib}, []file{
			{"memory.max", "memory.limit_in_bytes", strconv.Itoa(64 * mib)},
		}, false},
		{"limits.pids", "pids", "pids", policy.Limits{Pids: 17}, []file{{"pids.max", "pids.max", "17"}}, false},
		{"limits.cpu", "cpu", "cpu", policy.Limits{CPU: 0.5}, []file{
			{"cpu.max", "cpu.cfs_quota_us", fmt.Sprintf("%d %d", q, p)},
		}, false},
		{"limits.cpuset", "cpuset", "cpuset", policy.Limits{Cpuset: "0"}, []file{{"cpuset.cpus", "cpuset.cpus", "0"}}, false},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			ctl := tc.v1c
			if m.v2 {
				ctl = tc.v2c
			}
			c, err := m.Create("limits", tc.lim, policy.Require{})
			if !hostOffers(m, ctl) {
				var ue *UnsupportedError
				if !errors.As(err, &ue) || ue.Setting != tc.setting || ue.Controller != ctl {
					t.Fatalf("controller %s not offered here: want UnsupportedError for %s, got %v", ctl, tc.setting, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { c.Destroy() })
			for _, f := range tc.files {
				name, want := f.v1, f.want
				if m.v2 {
					name = f.v2
				} else if name == "cpu.cfs_quota_us" {
					want = strconv.FormatUint(q, 10)
				}
				got, err := readString(filepath.Join(c.dirs[ctl], name))
				if err != nil {
					t.Fatal(err)
				}
				if got != want {
					t.Errorf("%s = %q, want %q", name, got, want)
				}
			}
		})
	}
	t.Run("swap forbidden", func(t *testing.T) {
		if !hostOffers(m, "memory") {
			skipOrFail(t, "no memory controller offered here (limits.memory above asserts the error)")
		}
		c := create(t, m, policy.Limits{Memory: 64 * mib}, policy.Require{})
		dir := c.dirs["memory"]
		if m.v2 {
			if exists(filepath.Join(dir, "memory.swap.max")) {
				if got, _ := readString(filepath.Join(dir, "memory.swap.max")); got != "0" {
					t.Errorf("memory.swap.max = %s, want 0", got)
				}
			}
			if got, _ := readString(filepath.Join(dir, "memory.oom.group")); got != "1" {
				t.Errorf("memory.oom.group = %s, want 1", got)
			}
		} else if exists(filepath.Join(dir, "memory.memsw.limit_in_bytes")) {
			if got, _ := readString(filepath.Join(dir, "memory.memsw.limit_in_bytes")); got != strconv.Itoa(64*mib) {
				t.Errorf("memsw = %s, want %d (no swap on top)", got, 64*mib)
			}
		}
	})
	t.Run("swap allowed", func(t *testing.T) {
		if !hostOffers(m, "memory") {
			skipOrFail(t, "no memory controller offered here (limits.memory above asserts the error)")
		}
		c := create(t, m, policy.Limits{Memory: 64 * mib, MemorySwap: 32 * mib}, policy.Require{})
		dir := c.dirs["memory"]
		file, want := "memory.memsw.limit_in_bytes", strconv.Itoa(96*mib)
		if m.v2 {
			file, want = "memory.swap.max", strconv.Itoa(32*mib)
		}
		if exists(filepath.Join(dir, file)) {
			if got, _ := readString(filepath.Join(dir, file)); got != want {
				t.Errorf("%s = %s, want %s", file, got, want)
			}
		}
	})
}

func TestMemoryHogIsOOMKilled(t *testing.T) {
	m := requireCgroups(t, Options{})
	if !hostOffers(m, "memory") {
		skipOrFail(t, "no memory controller offered here")
	}
	for _, useClone := range []bool{true, false} {
		t.Run(fmt.Sprintf("clone-into-cgroup=%v", useClone), func(t *testing.T) {
			const limit = 256 * mib
			c := create(t, m, policy.Limits{Memory: limit}, policy.Require{})
			h := startHelper(t, c, "hog", []string{"HOG_MIB=1024"}, useClone)
			<-h.exited
			if sig := h.signal(); sig != syscall.SIGKILL {
				t.Fatalf("the 1 GiB hog under 256 MiB ended with %v, want SIGKILL by the OOM killer", h.cmd.ProcessState)
			}
			s, err := c.Stats()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("stats: %+v", s)
			if s.OOMKills < 1 || !s.MemoryLimitHit {
				t.Errorf("OOMKills=%d MemoryLimitHit=%v, want >=1 and true", s.OOMKills, s.MemoryLimitHit)
			}
			// The kernel's high-water mark may pass the limit by the charge that failed (a page or a batch).
			if s.MemoryPeak > limit+peakSlack || s.MemoryPeak < limit/2 {
				t.Errorf("MemoryPeak %d (%s) outside (limit/2, limit+%d]", s.MemoryPeak, s.MemoryPeakSource, peakSlack)
			}
		})
	}
}

// TestWholeCgroupIsLimited: 4 processes of 192 MiB under one 256 MiB limit cannot all hold their memory (a
// per-process limit such as RLIMIT_AS would let them).
func TestWholeCgroupIsLimited(t *testing.T) {
	m := requireCgroups(t, Options{})
	if !hostOffers(m, "memory") {
		skipOrFail(t, "no memory controller offered here")
	}
	const limit = 256 * mib
	c := create(t, m, policy.Limits{Memory: limit}, policy.Require{})
	var hs []*helper
	done := make([]chan bool, 4)
	for i := range done {
		h := startHelper(t, c, "hog", []string{"HOG_MIB=192"}, i%2 == 0)
		hs = append(hs, h)
		done[i] = make(chan bool, 1)
		go func(h *helper, ch chan bool) {
			line, _ := h.stdout.ReadString('\n')
			ch <- line == "done\n"
		}(h, done[i])
	}
	// Each helper either finishes allocating (and then holds its memory, blocked on stdin) or is killed.
	held := 0
	for i, h := range hs {
		if <-done[i] {
			held++ // it may still be killed by a later OOM kill
		} else {
			<-h.exited
		}
	}
	alive := 0
	for _, h := range hs {
		select {
		case <-h.exited:
		default:
			alive++
		}
	}
	s, err := c.Stats()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("finished allocating: %d, alive at the end: %d, stats %+v", held, alive, s)
	if alive > 1 {
		t.Errorf("%d processes hold 192 MiB each under a 256 MiB limit", alive)
	}
	if s.OOMKills < 1 || !s.MemoryLimitHit {
		t.Errorf("OOMKills=%d MemoryLimitHit=%v", s.OOMKills, s.MemoryLimitHit)
	}
	if s.MemoryPeak > limit+peakSlack {
		t.Errorf("MemoryPeak %d above the limit", s.MemoryPeak)
	}
}

// TestForkBomb: a fork bomb under pids.max=32 hits the limit, and Kill empties the cgroup while it runs, on
// both kill paths: cgroup.kill (v2) or freezer + signals (v1), and the freeze loop explicitly.
func TestForkBomb(t *testing.T) {
	m := requireCgroups(t, Options{})
	if !hostOffers(m, "pids") {
		skipOrFail(t, "no pids controller offered here")
	}
	for _, path := range []string{"Kill", "killLoop"} {
		t.Run(path, func(t *testing.T) {
			c := create(t, m, policy.Limits{Pids: 32}, policy.Require{})
			startHelper(t, c, "bomb", nil, true)
			waitFor(t, "pids.events max > 0", func() bool {
				s, err := c.Stats()
				return err == nil && s.PidsLimitHit
			})
			var err error
			if path == "Kill" {
				err = c.Kill()
			} else {
				err = c.killLoop(time.Now().Add(killTimeout))
			}
			if err != nil {
				t.Fatal(err)
			}
			pids, err := c.procs()
			if err != nil || len(pids) > 0 {
				t.Fatalf("after Kill: %d tasks left (%v)", len(pids), err)
			}
			s, err := c.Stats()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("stats: %+v", s)
			if !s.PidsLimitHit {
				t.Error("PidsLimitHit false")
			}
			peakFile := filepath.Join(c.dirs["pids"], "pids.peak")
			if exists(peakFile) && s.PidsPeak != 32 {
				t.Errorf("PidsPeak = %d, want 32", s.PidsPeak)
			} else if !exists(peakFile) && s.PidsPeak != -1 {
				t.Errorf("no pids.peak but PidsPeak = %d, want -1", s.PidsPeak)
			}
		})
	}
}

func TestCPUUsageFollowsBusyLoop(t *testing.T) {
	for _, lane := range lanes(t) {
		t.Run(lane.name, func(t *testing.T) {
			m := requireCgroups(t, lane.opts)
			c := create(t, m, policy.Limits{CPUTime: time.Second}, policy.Require{})
			before, err := c.CPUUsage()
			if err != nil {
				t.Fatal(err)
			}
			h := startHelper(t, c, "spin", nil, true)
			waitFor(t, "300ms of CPU", func() bool {
				u, err := c.CPUUsage()
				return err == nil && u >= 300*time.Millisecond
			})
			if err := c.Kill(); err != nil {
				t.Fatal(err)
			}
			<-h.exited
			s, err := c.Stats()
			if err != nil {
				t.Fatal(err)
			}
			after, err := c.CPUUsage()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("before %v, after %v, stats %+v", before, after, s)
			if before > 50*time.Millisecond {
				t.Errorf("an empty cgroup used %v", before)
			}
			if d := after - s.CPUTotal; d < -2*time.Millisecond || d > 2*time.Millisecond {
				t.Errorf("CPUUsage %v and Stats.CPUTotal %v differ by %v", after, s.CPUTotal, d)
			}
			if s.CPUTotal < 300*time.Millisecond {
				t.Errorf("CPUTotal %v < 300ms", s.CPUTotal)
			}
			sum := s.CPUUser + s.CPUSystem
			if diff := sum - s.CPUTotal; diff < -s.CPUTotal/10 || diff > s.CPUTotal/10 {
				t.Errorf("user %v + system %v = %v, total %v", s.CPUUser, s.CPUSystem, sum, s.CPUTotal)
			}
			// Under the VM lane's emulation the user/system split is tick-sampled and most ticks land in the
			// emulated kernel (351 ms total showed 98 ms user there); the total above still bites.
			if s.CPUUser < s.CPUTotal/2 && !testenv.InVM() {
				t.Errorf("a busy loop in user space shows user %v of %v", s.CPUUser, s.CPUTotal)
			}
		})
	}
}

// TestCPUQuotaThrottles checks the kernel's throttling counter, not elapsed time.
func TestCPUQuotaThrottles(t *testing.T) {
	m := requireCgroups(t, Options{})
	ctl := "cpu"
	c, err := m.Create("quota", policy.Limits{CPU: 0.1}, policy.Require{})
	if !hostOffers(m, ctl) {
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("cpu not offered: want ErrUnsupported, got %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy() })
	startHelper(t, c, "spin", nil, true)
	// A busy loop under a 0.1-core quota must be throttled: wait for the kernel's counter to say so (the
	// deadline only guards against hanging when the quota does not work).
	var stat []byte
	waitFor(t, "cpu.stat nr_throttled > 0 under a 0.1 CPU quota", func() bool {
		stat, _ = readFile(filepath.Join(c.dirs["cpu"], "cpu.stat"))
		n, _ := parseKeyed(stat, "nr_throttled")
		return n > 0
	})
	used, _ := c.CPUUsage()
	t.Logf("throttled after %v of CPU:\n%s", used, stat)
}

func TestCpusetPinsTheSandbox(t *testing.T) {
	m := requireCgroups(t, Options{})
	c, err := m.Create("cpuset", policy.Limits{Cpuset: "0"}, policy.Require{})
	if !hostOffers(m, "cpuset") {
		if !errors.Is(err, ErrUnsupported) {
			t.Fatalf("cpuset not offered: want ErrUnsupported, got %v", err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Destroy() })
	h := startHelper(t, c, "affinity", nil, true)
	line, err := h.stdout.ReadString('\n')
	if strings.TrimSpace(line) != "0" {
		<-h.exited
		t.Fatalf("the sandbox may run on CPUs %q, want 0 (%v, helper: %v)", line, err, h.cmd.ProcessState)
	}
	// A CPU the host does not have is refused as unsupported here (not silently widened), naming the CPUs
	// that are available; as best effort it is skipped and the sandbox keeps the parent's CPUs.
	_, err = m.Create("cpuset-bad", policy.Limits{Cpuset: "4095"}, policy.Require{})
	var ue *UnsupportedError
	if !errors.As(err, &ue) || ue.Setting != "limits.cpuset" || !strings.Contains(err.Error(), "list only CPUs among") {
		t.Fatalf("cpuset 4095: want UnsupportedError for limits.cpuset with the CPUs to use, got %v", err)
	}
	t.Log(err)
	c2, err := m.Create("cpuset-skip", policy.Limits{Cpuset: "4095"}, policy.Require{BestEffort: []string{"limits.cpuset"}})
	if err != nil {
		t.Fatalf("cpuset 4095 best effort: %v", err)
	}
	defer c2.Destroy()
	if got := c2.Skipped(); len(got) != 1 || got[0] != "limits.cpuset" {
		t.Fatalf("cpuset 4095 best effort: skipped %v, want [limits.cpuset]", got)
	}
}

func TestIOWeight(t *testing.T) {
	m := requireCgroups(t, Options{})
	ctl := "blkio"
	if m.v2 {
		ctl = "io"
	}
	c, err := m.Create("io", policy.Limits{IOWeight: 500}, policy.Require{})
	if !hostOffers(m, ctl) {
		var ue *UnsupportedError
		if !errors.As(err, &ue) || ue.Setting != "limits.io_weight" {
			t.Fatalf("%s not offered: want UnsupportedError, got %v", ctl, err)
		}
		return
	}
	dir := ""
	if err == nil {
		dir = c.dirs[ctl]
		t.Cleanup(func() { c.Destroy() })
	}
	var files []string
	if m.v2 {
		files = []string{"io.weight", "io.bfq.weight"}
	} else {
		files = []string{"blkio.bfq.weight", "blkio.weight"}
	}
	// Which knob the kernel has, judged from the parent (same files as a child).
	parent := m.parent
	if !m.v2 {
		parent = m.hier[ctl].parent
	}
	var have string
	for _, f := range files {
		if exists(filepath.Join(parent, f)) {
			have = f
			break
		}
	}
	if have == "" || (len(bfqInUse()) == 0 && !(m.v2 && ioCostEnabled())) {
		// No knob, or a knob nothing enforces (no device on BFQ, no io.cost): refused, never reported as
		// enforced.
		var ue *UnsupportedError
		if !errors.As(err, &ue) || ue.Setting != "limits.io_weight" {
			t.Fatalf("no io weight in force here (file %q, BFQ devices %v): want UnsupportedError, got %v", have, bfqInUse(), err)
		}
		t.Log(err)
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	got, _ := readString(filepath.Join(dir, have))
	want := map[string]string{"io.weight": "default 500", "io.bfq.weight": "default " + strconv.FormatUint(bfqWeight(500), 10),
		"blkio.bfq.weight": "default " + strconv.FormatUint(bfqWeight(500), 10), "blkio.weight": strconv.FormatUint(cfqWeight(500), 10)}[have]
	if got != want && "default "+got != want {
		t.Errorf("%s = %q, want %q", have, got, want)
	}
}

// TestFailClosed: a controller that is missing makes Create fail naming the setting and controller, unless the
// policy marks the setting best-effort; then it is skipped and listed. Nothing is left behind either way.
func TestFailClosed(t *testing.T) {
	probe := requireCgroups(t, Options{})
	for _, tc := range []struct {
		setting    string
		v2c, v1c   string
		lim        policy.Limits
		bestEffort string // what the policy lists ("limits" covers every limit)
	}{
		{"limits.memory", "memory", "memory", policy.Limits{Memory: 64 * mib}, "limits.memory"},
		{"limits.pids", "pids", "pids", policy.Limits{Pids: 10}, "limits"},
		{"limits.cpu", "cpu", "cpu", policy.Limits{CPU: 1}, "limits.cpu"},
		{"limits.cpuset", "cpuset", "cpuset", policy.Limits{Cpuset: "0"}, "limits.cpuset"},
		{"limits.io_weight", "io", "blkio", policy.Limits{IOWeight: 100}, "limits.io_weight"},
	} {
		t.Run(tc.setting, func(t *testing.T) {
			ctl := tc.v1c
			if probe.v2 {
				ctl = tc.v2c
			}
			m := requireCgroups(t, Options{disable: map[string]string{ctl: "disabled by the test"}})
			lim := tc.lim
			_, err := m.Create("fail-closed", lim, policy.Require{})
			var ue *UnsupportedError
			if !errors.As(err, &ue) || !errors.Is(err, ErrUnsupported) {
				t.Fatalf("want *UnsupportedError, got %v", err)
			}
			if ue.Setting != tc.setting || ue.Controller != ctl || !strings.Contains(err.Error(), "disabled by the test") || strings.Contains(err.Error(), "\n") {
				t.Errorf("error %q: want setting %s, controller %s, one line", err, tc.setting, ctl)
			}
			if left := ownRuns(m); len(left) > 0 {
				t.Errorf("left behind: %v", left)
			}
			c, err := m.Create("best-effort", lim, policy.Require{BestEffort: []string{tc.bestEffort}})
			if err != nil {
				t.Fatalf("best-effort: %v", err)
			}
			defer c.Destroy()
			if got := c.Skipped(); len(got) != 1 || got[0] != tc.setting {
				t.Errorf("Skipped() = %v, want [%s]", got, tc.setting)
			}
			if c.dirs[ctl] != "" && !m.v2 {
				t.Errorf("a %s cgroup was made for a skipped setting", ctl)
			}
		})
	}
}

// TestSwapWithoutAccounting: with swap on and no per-cgroup swap accounting, "no swap" cannot be promised.
func TestSwapWithoutAccounting(t *testing.T) {
	m := requireCgroups(t, Options{})
	if !hostOffers(m, "memory") {
		skipOrFail(t, "no memory controller offered here")
	}
	for _, swapOn := range []bool{false, true} {
		t.Run(fmt.Sprintf("swap-on=%v", swapOn), func(t *testing.T) {
			saved := swapTotalHook
			t.Cleanup(func() { swapTotalHook = saved })
			swapTotalHook = func() (int64, error) {
				if swapOn {
					return 1 << 30, nil
				}
				return 0, nil
			}
			m2 := requireCgroups(t, Options{noSwapAccounting: true})
			c, err := m2.Create("swap", policy.Limits{Memory: 64 * mib}, policy.Require{})
			if !swapOn {
				if err != nil {
					t.Fatalf("swap off: %v", err)
				}
				c.Destroy()
				return
			}
			var ue *UnsupportedError
			if !errors.As(err, &ue) || ue.Setting != "limits.memory_swap" {
				t.Fatalf("swap on without accounting: want UnsupportedError for limits.memory_swap, got %v", err)
			}
			t.Log(err)
			c, err = m2.Create("swap", policy.Limits{Memory: 64 * mib}, policy.Require{BestEffort: []string{"limits.memory_swap"}})
			if err != nil {
				t.Fatal(err)
			}
			defer c.Destroy()
			if got := c.Skipped(); len(got) != 1 || got[0] != "limits.memory_swap" {
				t.Errorf("Skipped() = %v", got)
			}
		})
	}
}

func TestCloneFDAndAdd(t *testing.T) {
	for _, lane := range lanes(t) {
		t.Run(lane.name, func(t *testing.T) {
			m := requireCgroups(t, lane.opts)
			c := create(t, m, policy.Limits{}, policy.Require{})
			fd, ok := c.CloneFD()
			if ok != m.v2 || (ok && fd < 0) {
				t.Fatalf("CloneFD() = %d, %v on %s", fd, ok, m.Mode())
			}
			for _, useClone := range []bool{true, false} {
				h := startHelper(t, c, "sleep", nil, useClone)
				own, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", h.cmd.Process.Pid))
				if err != nil {
					t.Fatal(err)
				}
				// Every hierarchy of the run (v1: one line per hierarchy) must show it.
				n := strings.Count(string(own), "/"+c.name+"\n")
				want := 1
				if !m.v2 {
					want = len(c.Paths())
				}
				if n != want {
					t.Errorf("useClone=%v: in %d of %d hierarchies:\n%s", useClone, n, want, own)
				}
			}
			if err := c.Kill(); err != nil {
				t.Fatal(err)
			}
			if busy, _ := c.populated(); busy {
				t.Fatal("populated after Kill")
			}
		})
	}
}

func TestDestroyKillsWhatIsInside(t *testing.T) {
	for _, lane := range lanes(t) {
		t.Run(lane.name, func(t *testing.T) {
			m := requireCgroups(t, lane.opts)
			c, err := m.Create("busy", policy.Limits{}, policy.Require{})
			if err != nil {
				t.Fatal(err)
			}
			h := startHelper(t, c, "sleep", nil, true)
			if err := c.Destroy(); err != nil {
				t.Fatal(err)
			}
			<-h.exited
			if h.signal() != syscall.SIGKILL {
				t.Errorf("helper ended with %v", h.cmd.ProcessState)
			}
			for _, d := range c.Paths() {
				if exists(d) {
					t.Errorf("%s left", d)
				}
			}
		})
	}
}

// TestJanitor fakes the leftovers of dead owners next to live ones.
func TestJanitor(t *testing.T) {
	for _, lane := range lanes(t) {
		t.Run(lane.name, func(t *testing.T) {
			m := requireCgroups(t, lane.opts)
			live := create(t, m, policy.Limits{}, policy.Require{})

			dead := exec.Command("/bin/true")
			if err := dead.Run(); err != nil {
				t.Fatal(err)
			}
			deadOwner := owner{PIDNS: m.owner.PIDNS, PID: dead.Process.Pid, Start: 1}
			reused := owner{PIDNS: m.owner.PIDNS, PID: os.Getpid(), Start: m.owner.Start + 1} // our pid, another process
			otherNS := owner{PIDNS: m.owner.PIDNS + 1, PID: dead.Process.Pid, Start: 1}
			mk := func(name string) []string {
				var dirs []string
				for _, p := range m.parentDirs() {
					if !exists(p) {
						continue // a hierarchy no run of this test needed (cpu): not prepared when run alone
					}
					d := filepath.Join(p, name)
					if err := os.Mkdir(d, 0o755); err != nil {
						t.Fatal(err)
					}
					for _, f := range []string{"cpuset.cpus", "cpuset.mems"} { // v1 cpuset starts empty
						if v, err := readString(filepath.Join(p, f)); err == nil && !m.v2 {
							writeFile(filepath.Join(d, f), v)
						}
					}
					dirs = append(dirs, d)
				}
				t.Cleanup(func() {
					c := &Cgroup{m: m, name: name, order: dirs, dirs: map[string]string{}, dirFD: -1, cpuFD: -1}
					m.fillDirs(c)
					if err := c.Destroy(); err != nil {
						t.Error(err)
					}
				})
				return dirs
			}
			staleRun := mk(deadOwner.runName(7, "x"))
			reusedRun := mk(reused.runName(1, ""))
			otherRun := mk(otherNS.runName(1, ""))
			foreign := mk("not-jailrun")
			staleLeafEmpty := mk(deadOwner.selfName())
			// Something still running in the stale run: the janitor must kill it.
			stale := &Cgroup{m: m, name: deadOwner.runName(7, "x"), order: staleRun, dirs: map[string]string{}, dirFD: -1, cpuFD: -1}
			m.fillDirs(stale)
			h := startHelper(t, stale, "sleep", nil, false)

			removed, err := m.Janitor()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("removed %v", removed)
			<-h.exited
			for _, d := range append(append(staleRun, reusedRun...), staleLeafEmpty...) {
				if exists(d) {
					t.Errorf("stale %s kept", d)
				}
				if !contains(removed, d) {
					t.Errorf("%s not reported", d)
				}
			}
			for _, d := range append(append(append([]string{}, live.Paths()...), otherRun...), foreign...) {
				if !exists(d) {
					t.Errorf("%s removed", d)
				}
			}
		})
	}
}

// TestJanitorAfterCrash: a jailrun process dies with a run (and a process in it) still there; the next one's
// janitor kills and removes it.
func TestJanitorAfterCrash(t *testing.T) {
	m := requireCgroups(t, Options{})
	path, orphan := crashOwner(t)
	sweepCrashed(t, m, path, orphan)
}

// TestJanitorFollowsRecords: a jailrun killed with a run under a parent of its own (another --cgroup-parent,
// another shell's cgroup) is cleaned up by a later one whose parent differs, through the registry record the
// dead one left; without the record that run would stay forever.
func TestJanitorFollowsRecords(t *testing.T) {
	requireCgroups(t, Options{})
	registry := t.TempDir()
	path, orphan := crashOwner(t, "CRASH_PARENT="+fmt.Sprintf("jailrun-records-%d", os.Getpid()), "CRASH_REGISTRY="+registry)
	recs, _ := os.ReadDir(registry)
	if len(recs) != 1 {
		t.Fatalf("registry holds %v, want the crashed owner's one record", recs)
	}
	rec, _ := os.ReadFile(filepath.Join(registry, recs[0].Name()))
	parents := strings.Fields(string(rec))
	t.Cleanup(func() {
		for i := len(parents) - 1; i >= 0; i-- {
			if err := unix.Rmdir(parents[i]); err != nil && err != unix.ENOENT {
				t.Errorf("remove the crashed owner's parent %s: %v", parents[i], err)
			}
		}
	})
	if !strings.Contains(string(rec), filepath.Dir(path)+"\n") {
		t.Fatalf("record %q does not name the parent of %s", rec, path)
	}
	// A janitor of another parent without the records cannot see the run.
	blind := requireCgroups(t, Options{})
	if _, err := blind.Janitor(); err != nil {
		t.Fatal(err)
	}
	if !exists(path) {
		t.Fatalf("%s removed without the records: the test proves nothing", path)
	}
	sweepCrashed(t, requireCgroups(t, Options{Registry: registry}), path, orphan)
	if left, _ := os.ReadDir(registry); len(left) != 0 {
		t.Errorf("records left after the sweep: %v", left)
	}
}

// crashOwner runs a helper that makes a run cgroup with a process in it and dies by SIGKILL; it returns the
// run's path and the orphaned process, both checked to be there still.
func crashOwner(t *testing.T, env ...string) (path string, orphan int) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"=crash-owner"), env...)
	// Not nil: Output would then capture stderr through a pipe that the orphan inherits and keeps open.
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if ws := cmd.ProcessState.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("crash-owner did not die by SIGKILL: %v %v: %s", cmd.ProcessState, err, out)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		t.Fatalf("crash-owner: %q", out)
	}
	path = f[0]
	orphan, _ = strconv.Atoi(f[1])
	if !exists(path) {
		t.Fatalf("%s does not exist after the crash", path)
	}
	pidfd, err := unix.PidfdOpen(orphan, 0)
	if err != nil {
		t.Fatalf("the orphaned sandbox process %d is already gone: %v", orphan, err)
	}
	// Should the test fail before the janitor ran, the orphan must not outlive it.
	t.Cleanup(func() {
		_ = unix.PidfdSendSignal(pidfd, unix.SIGKILL, nil, 0)
		unix.Close(pidfd)
	})
	return path, orphan
}

// sweepCrashed runs m's janitor and checks that it removed the crashed owner's run and killed its orphan.
func sweepCrashed(t *testing.T, m *Manager, path string, orphan int) {
	removed, err := m.Janitor()
	if err != nil {
		t.Fatal(err)
	}
	if exists(path) || !contains(removed, path) {
		t.Fatalf("janitor removed %v, not %s", removed, path)
	}
	waitFor(t, "the orphan to die", func() bool {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", orphan))
		return err != nil || strings.Contains(string(b), ") Z ")
	})
}

// TestRecordLifecycle: the record is written before the first run and removed by a Close that leaves no run;
// lines that are not cgroup directories are never acted on.
func TestRecordLifecycle(t *testing.T) {
	requireCgroups(t, Options{})
	registry := t.TempDir()
	m := requireCgroups(t, Options{Parent: fmt.Sprintf("jailrun-record-%d", os.Getpid()), Registry: registry})
	c, err := m.Create("rec", policy.Limits{Pids: 8}, policy.Require{})
	if err != nil {
		t.Fatal(err)
	}
	rec, err := os.ReadFile(filepath.Join(registry, m.owner.tag()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Fields(string(rec)), m.parentDirs(); strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("record lists %v, want %v", got, want)
	}
	if err := c.Destroy(); err != nil {
		t.Fatal(err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if left, _ := os.ReadDir(registry); len(left) != 0 {
		t.Errorf("records left after a clean Close: %v", left)
	}
	// A dead owner's record naming a plain directory: the janitor removes the record, not the directory.
	plain, gone := t.TempDir(), deadOwnerFor(t, m)
	victim := filepath.Join(plain, gone.runName(1, ""))
	if err := os.Mkdir(victim, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(registry, gone.tag()), []byte(plain+"\n../etc\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Janitor(); err != nil {
		t.Fatal(err)
	}
	if !exists(victim) {
		t.Errorf("%s (not a cgroup) removed", victim)
	}
	if left, _ := os.ReadDir(registry); len(left) != 0 {
		t.Errorf("dead owner's record kept: %v", left)
	}
}

// deadOwnerFor is an owner of m's pid namespace that no longer runs.
func deadOwnerFor(t *testing.T, m *Manager) owner {
	dead := exec.Command("/bin/true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	return owner{PIDNS: m.owner.PIDNS, PID: dead.Process.Pid, Start: 1}
}

// TestSelfMoveIntoLeaf: a process alone in its own cgroup (a Delegate=yes service, the VM lane's test binary)
// cannot enable controllers there while it lives in it (cgroup v2's no-internal-processes rule): Create moves
// it into a leaf under the jailrun parent, Close moves it back and removes everything it made. Run in a
// helper process placed alone in a fresh cgroup, on every cgroup2 lane of this host.
func TestSelfMoveIntoLeaf(t *testing.T) {
	ran := false
	for _, lane := range lanes(t) {
		probe, err := NewManager(lane.opts)
		if err != nil || !probe.v2 {
			continue
		}
		ran = true
		t.Run(lane.name, func(t *testing.T) {
			ctl := "memory"
			if lane.opts.unified != "" {
				// The hybrid host's cgroup2 side has only hugetlb, and its root passes nothing down: enable it
				// at the root for the test (the root is exempt from the rule), and disable it again last.
				ctl = "hugetlb"
				root := filepath.Join(lane.opts.unified, "cgroup.subtree_control")
				if sc, _ := readString(root); !hasWord(sc, ctl) {
					if err := writeFile(root, "+"+ctl); err != nil {
						skipOrFail(t, "cannot enable %s at the cgroup2 root: %v", ctl, err)
					}
					t.Cleanup(func() {
						if err := writeFile(root, "-"+ctl); err != nil {
							t.Errorf("restore %s: %v", root, err)
						}
					})
				}
			}
			o := lane.opts
			o.account = []string{ctl}
			m := requireCgroups(t, o)
			// Take apart what this process prepared (before the root's controller is disabled above).
			t.Cleanup(func() {
				if err := m.Close(); err != nil {
					t.Error(err)
				}
			})
			if !hostOffers(m, ctl) && lane.opts.unified == "" {
				skipOrFail(t, "%s is not delegated here", ctl)
			}
			// The parent now passes ctl down; the helper's own cgroup is a child of it.
			box := filepath.Join(m.parent, fmt.Sprintf("selfmove-%d", os.Getpid()))
			if err := os.Mkdir(box, 0o755); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := os.Remove(box); err != nil {
					t.Errorf("remove %s: %v", box, err)
				}
			})
			boxCg := &Cgroup{m: m, name: filepath.Base(box), order: []string{box}, dirs: map[string]string{"": box}, dirFD: -1, cpuFD: -1}
			h := startHelper(t, boxCg, "selfmove", []string{"SELFMOVE_UNIFIED=" + lane.opts.unified, "SELFMOVE_CTL=" + ctl}, false)
			out, _ := io.ReadAll(h.stdout)
			<-h.exited
			rel := box[len(m.mount):]
			want := fmt.Sprintf("moved %s/jailrun/jr.%d.%d.", rel, m.owner.PIDNS, h.cmd.Process.Pid)
			lines := strings.Split(strings.TrimSpace(string(out)), "\n")
			if len(lines) != 2 || !strings.HasPrefix(lines[0], want) || !strings.HasSuffix(lines[0], ".self") || lines[1] != "back "+rel {
				t.Fatalf("helper (%v) said:\n%s\nwant %q...self, then back %s", h.cmd.ProcessState, out, want, rel)
			}
			if sc, _ := readString(filepath.Join(box, "cgroup.subtree_control")); sc != "" {
				t.Errorf("%s/cgroup.subtree_control still %q after Close", box, sc)
			}
			if ents, _ := os.ReadDir(box); len(ents) > 0 {
				for _, e := range ents {
					if e.IsDir() {
						t.Errorf("left in %s: %s", box, e.Name())
					}
				}
			}
		})
	}
	if !ran {
		t.Log("no cgroup2 hierarchy on this host")
	}
}

func TestConcurrentCreateDestroy(t *testing.T) {
	m := requireCgroups(t, Options{})
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	seen := sync.Map{}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				c, err := m.Create("", policy.Limits{Memory: 64 * mib, Pids: 8}, policy.Require{BestEffort: []string{"limits"}})
				if err != nil {
					errs <- err
					return
				}
				if _, dup := seen.LoadOrStore(c.Path(), true); dup {
					errs <- fmt.Errorf("name reused: %s", c.Path())
				}
				if _, err := c.CPUUsage(); err != nil {
					errs <- err
				}
				if err := c.Destroy(); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestCloseAndRecreate: Close takes the parents apart; the next Create prepares again.
func TestCloseAndRecreate(t *testing.T) {
	m := requireCgroups(t, Options{})
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	c := create(t, m, policy.Limits{Memory: 64 * mib, Pids: 8}, policy.Require{BestEffort: []string{"limits"}})
	if len(c.Paths()) == 0 {
		t.Fatal("no dirs")
	}
}

// TestCloseKeepsLiveRuns: Close while a run exists must not take its controllers (and limits) away.
func TestCloseKeepsLiveRuns(t *testing.T) {
	for _, lane := range lanes(t) {
		t.Run(lane.name, func(t *testing.T) {
			m := requireCgroups(t, lane.opts)
			c := create(t, m, policy.Limits{Memory: 64 * mib, Pids: 9}, policy.Require{BestEffort: []string{"limits"}})
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			for _, f := range []struct{ ctl, file, want string }{{"memory", "memory.max", strconv.Itoa(64 * mib)}, {"pids", "pids.max", "9"}} {
				d := c.dirs[f.ctl]
				if d == "" {
					continue // not offered here (best effort)
				}
				file := f.file
				if !m.v2 && f.ctl == "memory" {
					file = "memory.limit_in_bytes"
				}
				if got, err := readString(filepath.Join(d, file)); err != nil || got != f.want {
					t.Errorf("after Close: %s = %q, %v; want %s", file, got, err, f.want)
				}
			}
			for _, d := range c.Paths() {
				if !exists(d) {
					t.Errorf("%s removed by Close", d)
				}
			}
		})
	}
}

func TestUnsupportedErrorMessage(t *testing.T) {
	e := &UnsupportedError{Setting: "limits.memory", Controller: "memory", Reason: "it is not delegated to /sys/fs/cgroup/x",
		Hint: "enable it in the parent"}
	want := "limits.memory cannot be enforced: the memory controller: it is not delegated to /sys/fs/cgroup/x; enable it in the parent (or mark limits.memory best-effort in the policy's require section)"
	if e.Error() != want {
		t.Errorf("got  %s\nwant %s", e.Error(), want)
	}
	if !errors.Is(fmt.Errorf("wrapped: %w", e), ErrUnsupported) {
		t.Error("not ErrUnsupported")
	}
}

// TestProbe: the doctor's report agrees with what the host offers, and leaves nothing behind.
func TestProbe(t *testing.T) {
	m := requireCgroups(t, Options{})
	r := Probe(Options{}, strictLimits, policy.Require{})
	if r.Error != "" || r.Mode != m.Mode() {
		t.Fatalf("report: mode %s, error %q", r.Mode, r.Error)
	}
	ctlOf := map[string][2]string{ // setting -> {v2, v1} controller
		"limits.memory": {"memory", "memory"}, "limits.pids": {"pids", "pids"}, "limits.cpu": {"cpu", "cpu"},
		"limits.cpuset": {"cpuset", "cpuset"}, "limits.io_weight": {"io", "blkio"}, "limits.cpu_time": {"", "cpuacct"},
	}
	for _, l := range r.Limits {
		t.Logf("%-18s requested=%-5v enforceable=%-5v %s", l.Setting, l.Requested, l.Enforceable, l.Detail)
		c, ok := ctlOf[l.Setting]
		if !ok {
			continue
		}
		ctl := c[1]
		if m.v2 {
			ctl = c[0]
		}
		if want := ctl == "" || hostOffers(m, ctl); l.Enforceable != want && l.Setting != "limits.io_weight" {
			t.Errorf("%s: enforceable=%v, but the host offers %q: %v", l.Setting, l.Enforceable, ctl, want)
		}
	}
	if p := r.Problems(); len(p) > 0 && hostOffers(m, "memory") && hostOffers(m, "pids") {
		t.Errorf("strict's limits should be enforceable here: %v", p)
	}
	feats := map[string]Feature{}
	for _, f := range append(r.Features, HostFeatures()...) {
		feats[f.Name] = f
		t.Logf("%-26s %-5v %s", f.Name, f.OK, f.Detail)
	}
	if m.v2 {
		// Both kernels this project tests on (6.1 in the VM lane, 6.18 on CI hosts) have these.
		for _, name := range []string{"cgroup.kill", "memory.peak", "clone_into_cgroup"} {
			if !feats[name].OK {
				t.Errorf("%s: %s", name, feats[name].Detail)
			}
		}
	}
	if !feats["seccomp"].OK {
		t.Errorf("seccomp: %s", feats["seccomp"].Detail)
	}
	if left := ownRuns(m); len(left) > 0 {
		t.Errorf("Probe left %v", left)
	}
}

// TestLimitBelowUsage: lowering the memory limit under what a run already holds. v1 refuses (EBUSY) and
// jailrun says why; v2 accepts and the OOM killer acts.
func TestLimitBelowUsage(t *testing.T) {
	m := requireCgroups(t, Options{})
	if !hostOffers(m, "memory") {
		skipOrFail(t, "no memory controller offered here")
	}
	c := create(t, m, policy.Limits{Memory: 256 * mib}, policy.Require{})
	h := startHelper(t, c, "hog", []string{"HOG_MIB=64"}, true)
	if line, _ := h.stdout.ReadString('\n'); line != "done\n" {
		t.Fatalf("hog: %q", line)
	}
	file := "memory.max"
	if !m.v2 {
		file = "memory.limit_in_bytes"
	}
	err := c.set("limits.memory", c.dirs["memory"], file, strconv.Itoa(8*mib))
	if m.v2 {
		if err != nil {
			t.Fatalf("v2 refused: %v", err)
		}
		<-h.exited
		if s, _ := c.Stats(); s.OOMKills < 1 {
			t.Errorf("no OOM kill after lowering memory.max below usage: %+v", s)
		}
		return
	}
	var le *LimitError
	if !errors.As(err, &le) || !strings.Contains(le.Error(), "already uses more memory") {
		t.Fatalf("v1: want a LimitError saying the cgroup already uses more, got %v", err)
	}
	t.Log(err)
}

// openFDs counts this process's open descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents) - 1 // the directory read itself
}

// A run whose processes all live in their own pid namespace gets no v1 freezer directory (its kill goes
// through the namespace's init), and still one in every other accounting hierarchy; other runs keep it.
// Kill still empties such a cgroup (signal loop).
func TestPIDNamespaceRunHasNoFreezer(t *testing.T) {
	m := requireCgroups(t, Options{})
	if m.v2 {
		t.Skip("cgroup v2 has no freezer hierarchy (cgroup.freeze is in every cgroup)")
	}
	if !hostOffers(m, "freezer") {
		skipOrFail(t, "no freezer controller offered here")
	}
	for _, pidns := range []bool{false, true} {
		c, err := m.CreateWith("freezer", policy.Limits{Pids: 16}, policy.Require{}, CreateOptions{PIDNamespace: pidns})
		if err != nil {
			t.Fatal(err)
		}
		if got := c.dirs["freezer"] != ""; got == pidns {
			t.Errorf("PIDNamespace %v: freezer directory %q", pidns, c.dirs["freezer"])
		}
		for _, ctl := range []string{"cpuacct", "memory", "pids"} {
			if hostOffers(m, ctl) && c.dirs[ctl] == "" {
				t.Errorf("PIDNamespace %v: no %s directory", pidns, ctl)
			}
		}
		startHelper(t, c, "bomb", nil, true)
		if err := c.Kill(); err != nil {
			t.Fatal(err)
		}
		if pids, err := c.procs(); err != nil || len(pids) > 0 {
			t.Fatalf("PIDNamespace %v: %d tasks left after Kill (%v)", pidns, len(pids), err)
		}
		if err := c.Destroy(); err != nil {
			t.Fatal(err)
		}
	}
}

// The doctor's cgroup_records line: yes once a record is written; no, naming why, when the directory is open
// to others (and then nothing is recorded there).
func TestRecordsFeature(t *testing.T) {
	requireCgroups(t, Options{})
	good := t.TempDir()
	open := t.TempDir()
	if err := os.Chmod(open, 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		ok   bool
		want string
	}{{good, true, "removed by the next one"}, {open, false, "nobody else can write"}} {
		m := requireCgroups(t, Options{Parent: fmt.Sprintf("jailrun-recfeat-%d", os.Getpid()), Registry: tc.dir})
		c, err := m.Create("rec", policy.Limits{Pids: 8}, policy.Require{})
		if err != nil {
			t.Fatal(err)
		}
		f := m.recordsFeature()
		if f.OK != tc.ok || !strings.Contains(f.Detail, tc.want) {
			t.Errorf("registry %s: %+v, want ok=%v and %q", tc.dir, f, tc.ok, tc.want)
		}
		if err := c.Destroy(); err != nil {
			t.Fatal(err)
		}
		if err := m.Close(); err != nil {
			t.Fatal(err)
		}
		if left, _ := os.ReadDir(tc.dir); len(left) != 0 {
			t.Errorf("registry %s: %v left", tc.dir, left)
		}
	}
}
