//go:build linux && cgo

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"unsafe"

	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// A write past RLIMIT_FSIZE fails with EFBIG and raises SIGXFSZ; a program that ignores the signal (Python
// does at startup) or handles it carries on, and the kernel counts the event nowhere. The signal_generate
// tracepoint is the one place it shows. Each run under a file-size limit has a small BPF program on that raw
// tracepoint, attached once its pid 1 exists and before the sandbox runs anything of the command: it counts,
// in a one-element array map, SIGXFSZ generated without siginfo (how the kernel sends it for RLIMIT_FSIZE)
// by a task whose pid namespace is the sandbox's. The map and program are made before the clone (for a cold
// run, in the background while it is prepared); the namespace's device and inode are written into the map
// after it. The count is read once the sandbox is reaped.
//
// A perf event on the tracepoint did the same, but the close of the last perf event on a tracepoint waits
// for RCU grace periods, which every CLI run paid at exit (docs/performance.md); a raw tracepoint link
// detaches without waiting. Tasks in a pid namespace nested inside the sandbox are not counted.
//
// The first program attached to a tracepoint, and the detach of the last one, patch kernel text (0.4 ms
// each here), and an attach soon after the last detach waits for an RCU grace period. A process that counts
// holds one program that does nothing attached for its lifetime, attached in the background while the first
// run is prepared: each run's own attach and detach then take microseconds.

// BPF helper ids (include/uapi/linux/bpf.h); x/sys/unix does not define them.
const (
	bpfFuncMapLookupElem       = 1
	bpfFuncGetNsCurrentPidTgid = 120 // tracing programs, Linux 5.7
	sigxfsz                    = 25
)

// bpfInsn is struct bpf_insn.
type bpfInsn struct {
	code uint8
	regs uint8 // dst_reg in the low nibble, src_reg in the high one
	off  int16
	imm  int32
}

func insn(code uint8, dst, src uint8, off int16, imm int32) bpfInsn {
	return bpfInsn{code: code, regs: dst | src<<4, off: off, imm: imm}
}

// ldImm64 loads a 64-bit immediate (src 0) or, with src BPF_PSEUDO_MAP_FD, the map whose fd is v.
func ldImm64(dst, src uint8, v uint64) []bpfInsn {
	return []bpfInsn{insn(unix.BPF_LD|unix.BPF_IMM|unix.BPF_DW, dst, src, 0, int32(uint32(v))), {imm: int32(uint32(v >> 32))}}
}

// fsizeProgram is the counting program adding to the map mapFD, whose one value is {count, dev, ino}: it
// counts only tasks of the pid namespace (dev, ino), none while they are 0. ctx is the tracepoint's u64
// args[]: sig, struct kernel_siginfo *info, the target task, group, result.
func fsizeProgram(mapFD int) []bpfInsn {
	const (
		ldxDW  = unix.BPF_LDX | unix.BPF_MEM | unix.BPF_DW
		jneK   = unix.BPF_JMP | unix.BPF_JNE | unix.BPF_K
		jeqK   = unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K
		movK   = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_K
		movX   = unix.BPF_ALU64 | unix.BPF_MOV | unix.BPF_X
		addK   = unix.BPF_ALU64 | unix.BPF_ADD | unix.BPF_K
		call   = unix.BPF_JMP | unix.BPF_CALL
		stW    = unix.BPF_ST | unix.BPF_MEM | unix.BPF_W
		atomDW = unix.BPF_STX | unix.BPF_ATOMIC | unix.BPF_DW // BPF_XADD before Linux 5.12: the same encoding
		exit   = unix.BPF_JMP | unix.BPF_EXIT
	)
	var p []bpfInsn
	var toOut []int // jumps to the final "return 0", fixed up below
	jumpOut := func(code uint8, dst uint8, imm int32) {
		toOut = append(toOut, len(p))
		p = append(p, insn(code, dst, 0, 0, imm))
	}
	p = append(p, insn(ldxDW, 2, 1, 0, 0)) // r2 = args[0], sig
	jumpOut(jneK, 2, sigxfsz)
	p = append(p, insn(ldxDW, 2, 1, 8, 0)) // r2 = args[1], info: SEND_SIG_NOINFO (0) from send_sig(SIGXFSZ, current, 0);
	jumpOut(jneK, 2, 0)                    // kill(2), tgkill and sigqueue from userspace pass a real siginfo
	p = append(p, insn(stW, 10, 0, -4, 0)) // key 0 at fp-4
	p = append(p, ldImm64(1, unix.BPF_PSEUDO_MAP_FD, uint64(mapFD))...)
	p = append(p, insn(movX, 2, 10, 0, 0), insn(addK, 2, 0, 0, -4), insn(call, 0, 0, 0, bpfFuncMapLookupElem))
	jumpOut(jeqK, 0, 0)
	p = append(p,
		insn(movX, 6, 0, 0, 0),                            // r6 = the value, kept across the call
		insn(ldxDW, 1, 6, 8, 0),                           // r1 = dev
		insn(ldxDW, 2, 6, 16, 0),                          // r2 = ino
		insn(movX, 3, 10, 0, 0), insn(addK, 3, 0, 0, -16), // r3 = fp-16: struct bpf_pidns_info
		insn(movK, 4, 0, 0, 8),
		insn(call, 0, 0, 0, bpfFuncGetNsCurrentPidTgid)) // 0 only when current is in the pid namespace (dev, ino)
	jumpOut(jneK, 0, 0)
	p = append(p, insn(movK, 1, 0, 0, 1), insn(atomDW, 6, 1, 0, unix.BPF_ADD)) // lock *(u64 *)r6 += 1
	for _, i := range toOut {
		p[i].off = int16(len(p) - i - 1)
	}
	return append(p, insn(movK, 0, 0, 0, 0), insn(exit, 0, 0, 0, 0))
}

func bpf(cmd int, attr unsafe.Pointer, size uintptr) (int, error) {
	r, _, e := unix.Syscall(unix.SYS_BPF, uintptr(cmd), uintptr(attr), size)
	if e != 0 {
		return -1, e
	}
	return int(r), nil
}

// bpfName is a map's or program's name as bpftool shows it.
func bpfName() (n [16]byte) {
	copy(n[:], "jailrun_fsize")
	return n
}

// fsizeValue is the map's one value.
type fsizeValue struct{ count, dev, ino uint64 }

// fsizeMap creates the run's counter: an array of one fsizeValue. BPF fds are always close-on-exec.
func fsizeMap() (int, error) {
	attr := struct {
		mapType, keySize, valueSize, maxEntries, flags, innerMapFD, numaNode uint32
		name                                                                 [16]byte
	}{mapType: unix.BPF_MAP_TYPE_ARRAY, keySize: 4, valueSize: uint32(unsafe.Sizeof(fsizeValue{})), maxEntries: 1, name: bpfName()}
	fd, err := bpf(unix.BPF_MAP_CREATE, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, fmt.Errorf("bpf map create: %w", err)
	}
	return fd, nil
}

// loadFsizeProgram loads prog as a raw tracepoint program; with a verifier log on failure when log is set.
func loadFsizeProgram(prog []bpfInsn, log bool) (int, error) {
	license := []byte("GPL\x00") // the helpers used are not GPL-only; a tracing program declares one anyway
	var buf []byte
	attr := struct {
		progType, insnCnt  uint32
		insns, license     uint64
		logLevel, logSize  uint32
		logBuf             uint64
		kernVersion, flags uint32
		name               [16]byte
	}{progType: unix.BPF_PROG_TYPE_RAW_TRACEPOINT, insnCnt: uint32(len(prog)),
		insns: uint64(uintptr(unsafe.Pointer(&prog[0]))), license: uint64(uintptr(unsafe.Pointer(&license[0]))), name: bpfName()}
	if log {
		buf = make([]byte, 1<<16)
		attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(buf)), uint64(uintptr(unsafe.Pointer(&buf[0])))
	}
	fd, err := bpf(unix.BPF_PROG_LOAD, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		if n := indexNUL(buf); n > 0 {
			return -1, fmt.Errorf("bpf prog load: %w: %s", err, buf[:n])
		}
		return -1, fmt.Errorf("bpf prog load: %w", err)
	}
	return fd, nil
}

func indexNUL(b []byte) int {
	for i, c := range b {
		if c == 0 {
			return i
		}
	}
	return len(b)
}

var (
	fsizeAnchor        sync.Once
	fsizeAnchorStarted atomic.Bool
)

// warmFileSizeCount attaches, in the background and once per process, the program that keeps the
// tracepoint's probe registered, when the run will count SIGXFSZ. Its failure is the runs' to report.
func warmFileSizeCount(s *policy.Settings) {
	if s != nil && fsizeLimited(s) && s.Namespaces.PID && os.Geteuid() == 0 {
		// One goroutine per process, not one per call: every run passes here, some twice.
		if fsizeAnchorStarted.CompareAndSwap(false, true) {
			go fsizeAnchor.Do(anchorSignalGenerate)
		}
	}
}

func anchorSignalGenerate() {
	prog := []bpfInsn{insn(unix.BPF_ALU64|unix.BPF_MOV|unix.BPF_K, 0, 0, 0, 0), insn(unix.BPF_JMP|unix.BPF_EXIT, 0, 0, 0, 0)}
	fd, err := loadFsizeProgram(prog, false)
	if err != nil {
		return
	}
	defer unix.Close(fd) // the link holds the program
	_, _ = attachSignalGenerate(fd)
}

// attachSignalGenerate attaches the raw tracepoint program prog to signal_generate; the link's fd detaches
// it when closed.
func attachSignalGenerate(prog int) (int, error) {
	name := []byte("signal_generate\x00")
	attr := struct {
		name   uint64
		progFD uint32
		_      uint32
	}{name: uint64(uintptr(unsafe.Pointer(&name[0]))), progFD: uint32(prog)}
	fd, err := bpf(unix.BPF_RAW_TRACEPOINT_OPEN, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	if err != nil {
		return -1, fmt.Errorf("bpf raw tracepoint signal_generate: %w", err)
	}
	return fd, nil
}

// fsizeCount is a run's SIGXFSZ counter: the map, the program, its tracepoint link and an fd of the pid
// namespace it watches, held so that the namespace's inode number is not reused by another while counting.
type fsizeCount struct{ mapFD, progFD, linkFD, nsFD int }

func (c *fsizeCount) close() {
	for _, fd := range []int{c.linkFD, c.progFD, c.mapFD, c.nsFD} {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// fsizeFree keeps the maps and programs of ended runs for the next ones: creating a map and loading a
// program cost a run about 1.2 ms (BenchmarkRunAblation), reaiming a kept one a map update.
var fsizeFree struct {
	sync.Mutex
	list []*fsizeCount
}

const fsizeFreeMax = 16

// recycle ends c's run and keeps its map and program for another: the link goes first, then the map is
// aimed at no namespace with a zero count. Nothing of the ended run can add to the count any more: every
// add happens in a writer's own system call, and the run's writers are all reaped before it ends.
func (c *fsizeCount) recycle() {
	for _, fd := range []*int{&c.linkFD, &c.nsFD} {
		if *fd >= 0 {
			unix.Close(*fd)
			*fd = -1
		}
	}
	var key uint32
	if c.mapElem(unix.BPF_MAP_UPDATE_ELEM, &key, &fsizeValue{}) != nil {
		c.close()
		return
	}
	fsizeFree.Lock()
	defer fsizeFree.Unlock()
	if len(fsizeFree.list) >= fsizeFreeMax {
		c.close()
		return
	}
	fsizeFree.list = append(fsizeFree.list, c)
}

// prepareFsizeCount takes a kept map and program, or creates the map and loads the program; it counts
// nothing until aimed.
func prepareFsizeCount() (c *fsizeCount, err error) {
	fsizeFree.Lock()
	if n := len(fsizeFree.list); n > 0 {
		c = fsizeFree.list[n-1]
		fsizeFree.list = fsizeFree.list[:n-1]
	}
	fsizeFree.Unlock()
	if c != nil {
		return c, nil
	}
	c = &fsizeCount{-1, -1, -1, -1}
	if c.mapFD, err = fsizeMap(); err != nil {
		return nil, err
	}
	if c.progFD, err = loadFsizeProgram(fsizeProgram(c.mapFD), false); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// aim makes c count SIGXFSZ raised by the tasks of pid's pid namespace and attaches it.
func (c *fsizeCount) aim(pid int) (err error) {
	if c.nsFD, err = unix.Open("/proc/"+strconv.Itoa(pid)+"/ns/pid", unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
		return fmt.Errorf("the sandbox's pid namespace: %w", err)
	}
	var st unix.Stat_t
	if err = unix.Fstat(c.nsFD, &st); err != nil {
		return fmt.Errorf("the sandbox's pid namespace: %w", err)
	}
	// st_dev is new_encode_dev(); the helper compares with the kernel's dev_t (MKDEV: major<<20 | minor).
	v := fsizeValue{dev: uint64(unix.Major(st.Dev))<<20 | uint64(unix.Minor(st.Dev)), ino: st.Ino}
	var key uint32
	if err := c.mapElem(unix.BPF_MAP_UPDATE_ELEM, &key, &v); err != nil {
		return fmt.Errorf("bpf map update: %w", err)
	}
	c.linkFD, err = attachSignalGenerate(c.progFD)
	return err
}

// startFsizeCount attaches a counter of SIGXFSZ raised by the tasks of pid's pid namespace.
func startFsizeCount(pid int) (*fsizeCount, error) {
	c, err := prepareFsizeCount()
	if err != nil {
		return nil, err
	}
	if err := c.aim(pid); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

func (c *fsizeCount) mapElem(cmd int, key *uint32, v *fsizeValue) error {
	attr := struct {
		mapFD, _   uint32
		key, value uint64
		flags      uint64
	}{mapFD: uint32(c.mapFD), key: uint64(uintptr(unsafe.Pointer(key))), value: uint64(uintptr(unsafe.Pointer(v)))}
	_, err := bpf(cmd, unsafe.Pointer(&attr), unsafe.Sizeof(attr))
	return err
}

// read returns the count so far.
func (c *fsizeCount) read() (uint64, error) {
	var key uint32
	var v fsizeValue
	if err := c.mapElem(unix.BPF_MAP_LOOKUP_ELEM, &key, &v); err != nil {
		return 0, fmt.Errorf("bpf map lookup: %w", err)
	}
	return v.count, nil
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

// fsizePrepared is a counter prepared in the background, or why it could not be.
type fsizePrepared struct {
	c   *fsizeCount
	err error
}

// prepareFileSize creates the run's counter in the background while the run is prepared, when it will count
// (a cold run; a pooled sandbox is prepared off the request path anyway); watchFileSize takes it.
func (l *launch) prepareFileSize() {
	warmFileSizeCount(l.s)
	if !fsizeLimited(l.s) || !l.s.Namespaces.PID || os.Geteuid() != 0 {
		return
	}
	ch := make(chan fsizePrepared, 1)
	go func() {
		c, err := prepareFsizeCount()
		ch <- fsizePrepared{c, err}
	}()
	l.fsizePrep = ch
	l.cleanup = append(l.cleanup, func() {
		// Not taken when the run ended before its clone.
		if l.fsizePrep != nil {
			if p := <-l.fsizePrep; p.c != nil {
				p.c.close()
			}
		}
	})
}

// watchFileSize starts counting SIGXFSZ raised in the sandbox whose pid 1 is pid; it must run before the
// sandbox runs anything of the command. It never fails the run: this is reporting, not enforcement; when it
// cannot count, the result's limits_unobserved says why.
func (l *launch) watchFileSize(pid int) {
	prep := l.fsizePrep
	l.fsizePrep = nil
	take := func() (*fsizeCount, error) { // the counter prepared in the background, else a new one
		if prep == nil {
			return prepareFsizeCount()
		}
		p := <-prep
		prep = nil
		return p.c, p.err
	}
	defer func() {
		if prep != nil { // prepared but not used: the run no longer counts (degraded mode)
			if c, _ := take(); c != nil {
				c.close()
			}
		}
	}()
	if !fsizeLimited(l.s) {
		return
	}
	warmFileSizeCount(l.s) // for pools and the service, whose runs do not go through Runner.Run
	var c *fsizeCount
	err := errors.New("jailrun is not root (BPF tracing needs root)")
	switch {
	case os.Geteuid() != 0:
	case !l.s.Namespaces.PID:
		err = errors.New("the run has no pid namespace (namespaces.pid) to tell the sandbox's writers by")
	default:
		if c, err = take(); err == nil {
			if err = c.aim(pid); err != nil {
				c.close()
				c = nil
			}
		}
	}
	if err != nil {
		l.res.LimitsUnobserved = append(l.res.LimitsUnobserved,
			"limits.file_size: a write past it is seen only when SIGXFSZ kills the writer, not when the program ignores or handles it: "+err.Error())
		return
	}
	l.fsize = c
	l.cleanup = append(l.cleanup, c.recycle)
	l.phase("fsize trace")
}

// fsizeHit is what limits_hit says of SIGXFSZ raised in the sandbox; "" when none was. Call it once the
// sandbox is reaped.
func (l *launch) fsizeHit() string {
	if l.fsize == nil {
		return ""
	}
	n, err := l.fsize.read()
	if err != nil {
		l.res.LimitsUnobserved = append(l.res.LimitsUnobserved, "limits.file_size: reading the SIGXFSZ count: "+err.Error())
		return ""
	}
	if n > 0 {
		return fmt.Sprintf("SIGXFSZ (RLIMIT_FSIZE) bpf raw_tp signal_generate count=%d", n)
	}
	return ""
}
