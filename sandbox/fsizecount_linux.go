//go:build linux && cgo

package sandbox

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// A write past RLIMIT_FSIZE fails with EFBIG and raises SIGXFSZ; a program that ignores the signal (Python
// does at startup) or handles it carries on, and the kernel counts the event nowhere. The signal_generate
// tracepoint is the one place it shows. Each run under a file-size limit opens a perf event counting that
// tracepoint, filtered to SIGXFSZ, on the sandbox's pid 1 before it runs anything of the command, inherited
// by everything it forks; the count is read once the sandbox is reaped, and the event goes with its fd.
//
// A tracefs instance per run (set_event_pid, event-fork) does the same, but its set_event_pid and rmdir
// wait for RCU grace periods: 68 ms a run against 0.3 ms here (docs/performance.md).

const (
	tracefsMagic = 0x74726163 // TRACEFS_MAGIC
	// SIGXFSZ sent the way the kernel sends it for RLIMIT_FSIZE (send_sig(SIGXFSZ, current, 0): SI_USER).
	// raise() and sigqueue() have other codes; a kill(2) of SIGXFSZ inside the sandbox is counted too (the
	// tracepoint cannot tell it from the kernel's).
	fsizeFilter = "sig == 25 && code == 0"
)

var fsizePerf struct {
	once sync.Once
	id   uint64 // the signal_generate tracepoint's id
	err  error
}

// fsizeTracepoint finds the tracepoint's id (in tracefs: where the host mounted it, else in a detached mount
// that is in no mount table) and opens, for the life of this process, a disabled event on it: the first perf
// event on a tracepoint registers a probe and the last one's close waits for an RCU grace period, which
// the runs of a long-lived Runner then never pay.
func fsizeTracepoint() (uint64, error) {
	fsizePerf.once.Do(func() {
		if os.Geteuid() != 0 {
			fsizePerf.err = errors.New("jailrun is not root (tracepoints need root)")
			return
		}
		if fsizePerf.id, fsizePerf.err = signalGenerateID(); fsizePerf.err != nil {
			return
		}
		if _, err := openSignalEvent(fsizePerf.id, 0, false); err != nil {
			fsizePerf.err = err
		}
	})
	return fsizePerf.id, fsizePerf.err
}

// warmFileSizeCount finds the tracepoint and registers its probe in the background while the run is being
// prepared, when the run will count SIGXFSZ: the first registration in a process (each CLI run) patches
// kernel text and takes milliseconds.
func warmFileSizeCount(s *policy.Settings) {
	if s != nil && fsizeLimited(s) && os.Geteuid() == 0 {
		go fsizeTracepoint()
	}
}

func signalGenerateID() (uint64, error) {
	root := -1
	for _, p := range []string{"/sys/kernel/tracing", "/sys/kernel/debug/tracing"} {
		fd, err := unix.Open(p, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var sfs unix.Statfs_t
		if unix.Fstatfs(fd, &sfs) == nil && sfs.Type == tracefsMagic {
			root = fd
			break
		}
		unix.Close(fd)
	}
	if root < 0 {
		fsfd, err := unix.Fsopen("tracefs", unix.FSOPEN_CLOEXEC)
		if err != nil {
			return 0, fmt.Errorf("tracefs is not mounted and cannot be: fsopen: %w", err)
		}
		defer unix.Close(fsfd)
		if err := unix.FsconfigCreate(fsfd); err != nil {
			return 0, fmt.Errorf("tracefs: fsconfig: %w", err)
		}
		if root, err = unix.Fsmount(fsfd, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC); err != nil {
			return 0, fmt.Errorf("tracefs: fsmount: %w", err)
		}
	}
	defer unix.Close(root)
	const idFile = "events/signal/signal_generate/id"
	fd, err := unix.Openat(root, idFile, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, fmt.Errorf("tracefs: %s: %w", idFile, err)
	}
	defer unix.Close(fd)
	var b [32]byte
	n, err := unix.Read(fd, b[:])
	if err != nil {
		return 0, fmt.Errorf("tracefs: %s: %w", idFile, err)
	}
	id, err := strconv.ParseUint(strings.TrimSpace(string(b[:max(n, 0)])), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("tracefs: %s: %w", idFile, err)
	}
	return id, nil
}

// openSignalEvent opens a counting perf event on signal_generate, filtered to SIGXFSZ: on pid and,
// with inherit, on every task it forks from then on; disabled when pid is 0 (this process's anchor).
func openSignalEvent(id uint64, pid int, inherit bool) (int, error) {
	attr := unix.PerfEventAttr{Type: unix.PERF_TYPE_TRACEPOINT, Config: id, Size: uint32(unsafe.Sizeof(unix.PerfEventAttr{}))}
	if inherit {
		attr.Bits |= unix.PerfBitInherit
	}
	if pid == 0 {
		attr.Bits |= unix.PerfBitDisabled
	}
	fd, err := unix.PerfEventOpen(&attr, pid, -1, -1, unix.PERF_FLAG_FD_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("perf_event_open signal:signal_generate: %w", err)
	}
	filter, _ := unix.BytePtrFromString(fsizeFilter)
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.PERF_EVENT_IOC_SET_FILTER, uintptr(unsafe.Pointer(filter))); e != 0 {
		unix.Close(fd)
		return -1, fmt.Errorf("perf event filter %q: %w", fsizeFilter, e)
	}
	return fd, nil
}

// fsizeCount is a run's perf event counting SIGXFSZ.
type fsizeCount struct{ fd int }

// fsizeLimited reports whether the policy sets a file-size limit.
func fsizeLimited(s *policy.Settings) bool {
	for _, rl := range s.Rlimits {
		if rl.Resource == policy.RlimitFsize && rl.Soft != policy.RlimInfinity {
			return true
		}
	}
	return false
}

// watchFileSize starts counting SIGXFSZ raised in the sandbox whose pid 1 is pid; it must run before the
// sandbox runs anything of the command. It never fails the run: this is reporting, not enforcement; when it
// cannot count, the result's limits_unobserved says why.
func (l *launch) watchFileSize(pid int) {
	if !fsizeLimited(l.s) {
		return
	}
	fd := -1
	id, err := fsizeTracepoint()
	if err == nil {
		fd, err = openSignalEvent(id, pid, true)
	}
	if err != nil {
		l.res.LimitsUnobserved = append(l.res.LimitsUnobserved,
			"limits.file_size: a write past it is seen only when SIGXFSZ kills the writer, not when the program ignores or handles it: "+err.Error())
		return
	}
	l.fsize = &fsizeCount{fd: fd}
	l.cleanup = append(l.cleanup, func() { unix.Close(fd) })
	l.phase("fsize trace")
}

// fsizeHit is what limits_hit says of SIGXFSZ raised in the sandbox; "" when none was. Call it once the
// sandbox is reaped: an inherited event adds its count to the run's when its task exits.
func (l *launch) fsizeHit() string {
	if l.fsize == nil {
		return ""
	}
	var b [8]byte
	if n, err := unix.Read(l.fsize.fd, b[:]); err != nil || n != len(b) {
		l.res.LimitsUnobserved = append(l.res.LimitsUnobserved, fmt.Sprintf("limits.file_size: reading the SIGXFSZ count: %d bytes, %v", n, err))
		return ""
	}
	if n := binary.NativeEndian.Uint64(b[:]); n > 0 {
		return fmt.Sprintf("SIGXFSZ (RLIMIT_FSIZE) perf signal:signal_generate count=%d", n)
	}
	return ""
}
