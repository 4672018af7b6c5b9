//go:build linux && cgo

package sandbox

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// bpfFDs counts this process's BPF map, program and link fds.
// bpfFDs counts this process's open BPF objects whose anon inode name starts with kind: "bpf" for all of
// them, "bpf_link" for attachments.
func bpfFDs(t *testing.T, kind string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if l, _ := os.Readlink("/proc/self/fd/" + e.Name()); strings.HasPrefix(l, "anon_inode:"+kind) {
			n++
		}
	}
	return n
}

// A program that ignores SIGXFSZ and writes past limits.file_size exits 0 with EFBIG; the library's result
// lists the limit all the same, cold and from a Pool; no run's link outlives it, and the maps and programs
// left are exactly the ones kept for the next runs (a kept counter starts from zero: "below" after "past").
func TestFileSizeSurvivedListed(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root (sandboxes, BPF tracing)")
	}
	skipWithoutFsizeCount(t)
	fsizeAnchor.Do(anchorSignalGenerate) // the process's one link, not a run's
	before, linksBefore := bpfFDs(t, "bpf"), bpfFDs(t, "bpf_link")
	if _, err := os.Stat("/usr/bin/python3"); err != nil {
		testenv.SkipOrFail(t, "needs /usr/bin/python3")
	}
	r, err := NewRunner(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	s, err := policy.Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	s = s.Clone()
	for i := range s.Rlimits {
		if s.Rlimits[i].Resource == policy.RlimitFsize {
			s.Rlimits[i].Soft, s.Rlimits[i].Hard = 1<<20, 1<<20
		}
	}
	p, err := r.NewPool(s, PoolOptions{Size: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	write := func(n int) Request {
		return Request{Policy: s, Argv: []string{"/usr/bin/python3", "-c", `import errno, sys
try:
    open("/tmp/f", "w").write("x" * int(sys.argv[1]))
    print("wrote")
except OSError as e:
    print(errno.errorcode[e.errno])`, strconv.Itoa(n)}}
	}
	for _, tc := range []struct {
		name   string
		pooled bool
		size   int
		stdout string
		listed bool
	}{
		{"cold past", false, 2 << 20, "EFBIG\n", true},
		{"cold below", false, 1 << 10, "wrote\n", false},
		{"pooled past", true, 2 << 20, "EFBIG\n", true},
		{"pooled below", true, 1 << 10, "wrote\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			req := write(tc.size)
			req.Stdout = &out
			run := r.Run
			if tc.pooled {
				deadline := time.Now().Add(10 * time.Second)
				for p.Stats().Ready == 0 && time.Now().Before(deadline) {
					time.Sleep(2 * time.Millisecond)
				}
				run = p.Run
			}
			res, err := run(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if res.Pooled != tc.pooled || res.Status != StatusOK || out.String() != tc.stdout {
				t.Fatalf("pooled %v status %s stdout %q, want pooled %v, ok and %q", res.Pooled, res.Status, out.String(), tc.pooled, tc.stdout)
			}
			var hit *LimitHit
			for i, h := range res.LimitsHit {
				if h.Name == "limits.file_size" {
					hit = &res.LimitsHit[i]
				}
			}
			if tc.listed != (hit != nil) || len(res.LimitsUnobserved) != 0 {
				t.Fatalf("limits_hit %+v, limits_unobserved %q: want limits.file_size listed %v", res.LimitsHit, res.LimitsUnobserved, tc.listed)
			}
			if hit != nil && (hit.Value != "1048576" || !strings.Contains(hit.Counter, "bpf raw_tp signal_generate count=")) {
				t.Errorf("limits_hit entry %+v", *hit)
			}
		})
	}
	// The check below must be able to fail: a prepared sandbox holds its counter while it waits.
	deadline := time.Now().Add(10 * time.Second)
	for p.Stats().Ready == 0 && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	if p.Stats().Ready > 0 && bpfFDs(t, "bpf_link") == linksBefore {
		t.Fatal("a sandbox is ready but holds no BPF counter: the leftover check cannot see them")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if n := bpfFDs(t, "bpf_link"); n != linksBefore {
		t.Errorf("%d BPF links after the runs, %d before: a run's counter is still attached", n, linksBefore)
	}
	fsizeFree.Lock()
	kept := len(fsizeFree.list)
	fsizeFree.Unlock()
	if n := bpfFDs(t, "bpf"); kept == 0 || n != before+2*kept {
		t.Errorf("%d BPF fds after the runs, %d before, %d counters kept for reuse (a map and a program each)", n, before, kept)
	}
}

// skipWithoutFsizeCount skips on a kernel without BPF, raw tracepoints or bpf_get_ns_current_pid_tgid
// (Linux 5.7); any other refusal of the counter fails the test.
func skipWithoutFsizeCount(t *testing.T) {
	t.Helper()
	c, err := startFsizeCount(os.Getpid())
	if err == nil {
		c.close()
		return
	}
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.ENOENT) || errors.Is(err, unix.EINVAL) && strings.Contains(err.Error(), "prog load") {
		testenv.SkipMissingFeature(t, "BPF raw tracepoint signal_generate with bpf_get_ns_current_pid_tgid", err.Error())
	}
	t.Fatal(err)
}

// The counter counts the SIGXFSZ the kernel raises for RLIMIT_FSIZE in the pid namespace it is aimed at
// (here the test's own), and not one sent with kill(2).
func TestFsizeCounterFilter(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root (BPF tracing)")
	}
	skipWithoutFsizeCount(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name, script string
		counted      bool
	}{
		{"write past RLIMIT_FSIZE", `trap "" XFSZ; ulimit -f 1; head -c 10000 /dev/zero > "$1"/f; true`, true},
		{"kill", `trap "" XFSZ; kill -s XFSZ $$`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := startFsizeCount(os.Getpid())
			if err != nil {
				t.Fatal(err)
			}
			defer c.close()
			if out, err := exec.Command("/bin/sh", "-c", tc.script, "sh", dir).CombinedOutput(); err != nil {
				t.Fatalf("%v: %s", err, out)
			}
			n, err := c.read()
			if err != nil {
				t.Fatal(err)
			}
			if (n > 0) != tc.counted {
				t.Fatalf("count %d, want counted %v", n, tc.counted)
			}
		})
	}
}
