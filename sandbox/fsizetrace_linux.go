//go:build linux && cgo

package sandbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"

	"github.com/jailrun/jailrun/cgroups"
	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// A write past RLIMIT_FSIZE fails with EFBIG and raises SIGXFSZ; a program that ignores the signal (Python
// does at startup) or handles it carries on, and the kernel counts the event nowhere. The signal_generate
// tracepoint is the one place it shows: each run under a file-size limit gets a tracefs instance of its own
// that records SIGXFSZ raised by the sandbox's processes (set_event_pid on its pid 1, options/event-fork for
// everything it forks), and limits_hit lists limits.file_size when it recorded any. Root only; without it,
// limits_unobserved says so.

const (
	tracefsMagic = 0x74726163 // TRACEFS_MAGIC
	initPidNSIno = 0xEFFFFFFC // PROC_PID_INIT_INO: set_event_pid takes pids of the initial pid namespace
	// The filter: SIGXFSZ sent the way the kernel sends it for RLIMIT_FSIZE (send_sig(SIGXFSZ, current, 0):
	// SI_USER). raise() and sigqueue() have other codes; a kill(2) of SIGXFSZ by the sandbox itself is
	// counted too (the trace cannot tell it from the kernel's).
	fsizeFilter = "sig == 25 && code == 0"
	// One page per CPU holds some 50 events; one is enough to tell the limit fired.
	fsizeBufferKB = "4"
)

var (
	tracefs struct {
		once sync.Once
		fd   int // the tracefs root (O_PATH), for the *at calls
		err  error
	}
	fsizeSeq atomic.Uint64
)

// tracefsRoot opens tracefs once per process: where the host mounted it, else as a detached mount that is in
// no mount table and goes away with this process. It also removes the instances that jailrun processes
// killed before their cleanup left behind.
func tracefsRoot() (int, error) {
	tracefs.once.Do(func() {
		tracefs.fd, tracefs.err = openTracefs()
		if tracefs.err == nil {
			sweepTraceInstances(tracefs.fd)
		}
	})
	return tracefs.fd, tracefs.err
}

func openTracefs() (int, error) {
	if os.Geteuid() != 0 {
		return -1, errors.New("jailrun is not root (tracefs instances need root)")
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/pid", &st); err != nil || st.Ino != initPidNSIno {
		return -1, errors.New("jailrun is not in the host's pid namespace (tracefs filters on host pids)")
	}
	for _, p := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var sfs unix.Statfs_t
		if unix.Fstatfs(fd, &sfs) == nil && sfs.Type == tracefsMagic {
			return fd, nil
		}
		unix.Close(fd)
	}
	fsfd, err := unix.Fsopen("tracefs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("tracefs is not mounted and cannot be: fsopen: %w", err)
	}
	defer unix.Close(fsfd)
	if err := unix.FsconfigCreate(fsfd); err != nil {
		return -1, fmt.Errorf("tracefs: fsconfig: %w", err)
	}
	fd, err := unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("tracefs: fsmount: %w", err)
	}
	return fd, nil
}

// sweepTraceInstances removes the instances of jailrun processes that are gone (SIGKILL leaves no chance to
// clean up): their ring buffers would stay allocated until reboot.
func sweepTraceInstances(root int) {
	fd, err := unix.Openat(root, "instances", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	dir := os.NewFile(uintptr(fd), "instances")
	names, _ := dir.Readdirnames(-1)
	dir.Close()
	for _, n := range names {
		if cgroups.StaleRunName(n) {
			_ = unix.Unlinkat(root, "instances/"+n, unix.AT_REMOVEDIR)
		}
	}
}

// fsizeTrace is one run's tracefs instance.
type fsizeTrace struct {
	root int
	dir  string // "instances/jr.<pidns>.<pid>.<start>.<seq>"
}

// fsizeLimited reports whether the policy sets a file-size limit.
func fsizeLimited(s *policy.Settings) bool {
	for _, rl := range s.Rlimits {
		if rl.Resource == policy.RlimitFsize && rl.Soft != policy.RlimInfinity {
			return true
		}
	}
	return false
}

// watchFileSize starts recording SIGXFSZ raised by the sandbox whose pid 1 is pid; it must run before the
// sandbox runs anything of the command. It never fails the run: this is reporting, not enforcement; when it
// cannot watch, the result's limits_unobserved says why.
func (l *launch) watchFileSize(pid int) {
	if !fsizeLimited(l.s) {
		return
	}
	t, err := startFsizeTrace(pid)
	if err != nil {
		l.res.LimitsUnobserved = append(l.res.LimitsUnobserved,
			"limits.file_size: a write past it is seen only when SIGXFSZ kills the writer, not when the program ignores or handles it: "+err.Error())
		return
	}
	l.fsize = t
	l.cleanup = append(l.cleanup, t.remove)
}

func startFsizeTrace(pid int) (*fsizeTrace, error) {
	root, err := tracefsRoot()
	if err != nil {
		return nil, err
	}
	name, err := cgroups.RunName(fsizeSeq.Add(1))
	if err != nil {
		return nil, err
	}
	t := &fsizeTrace{root: root, dir: "instances/" + name}
	if err := unix.Mkdirat(root, t.dir, 0o700); err != nil {
		return nil, fmt.Errorf("tracefs: mkdir %s: %w", t.dir, err)
	}
	// The pid set before the event is on: an instance with an empty set would record the whole host.
	for _, w := range [][2]string{
		{"buffer_size_kb", fsizeBufferKB},
		{"events/signal/signal_generate/filter", fsizeFilter},
		{"options/event-fork", "1"},
		{"set_event_pid", fmt.Sprint(pid)},
		{"events/signal/signal_generate/enable", "1"},
	} {
		if err := t.write(w[0], w[1]); err != nil {
			t.remove()
			return nil, err
		}
	}
	return t, nil
}

func (t *fsizeTrace) write(file, val string) error {
	fd, err := unix.Openat(t.root, t.dir+"/"+file, unix.O_WRONLY|unix.O_TRUNC|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("tracefs: open %s/%s: %w", t.dir, file, err)
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(val)); err != nil {
		return fmt.Errorf("tracefs: write %q to %s/%s: %w", val, t.dir, file, err)
	}
	return nil
}

// events counts the SIGXFSZ the instance recorded (at most what its buffer holds); call it once the sandbox
// is reaped.
func (t *fsizeTrace) events() (int, error) {
	fd, err := unix.Openat(t.root, t.dir+"/trace", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, err
	}
	f := os.NewFile(uintptr(fd), "trace")
	defer f.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(f); err != nil {
		return 0, err
	}
	n := 0
	for _, line := range bytes.Split(buf.Bytes(), []byte("\n")) {
		if bytes.Contains(line, []byte("signal_generate:")) {
			n++
		}
	}
	return n, nil
}

// remove deletes the instance, which frees its buffers and ends its recording.
func (t *fsizeTrace) remove() {
	_ = unix.Unlinkat(t.root, t.dir, unix.AT_REMOVEDIR)
}

// fsizeHit is what limits_hit says of SIGXFSZ the trace saw; "" when it saw none.
func (l *launch) fsizeHit() string {
	if l.fsize == nil {
		return ""
	}
	n, err := l.fsize.events()
	if err != nil {
		l.res.LimitsUnobserved = append(l.res.LimitsUnobserved, "limits.file_size: reading the trace: "+err.Error())
		return ""
	}
	if n == 0 {
		return ""
	}
	return fmt.Sprintf("SIGXFSZ (RLIMIT_FSIZE) tracefs signal_generate events=%d", n)
}
