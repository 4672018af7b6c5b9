//go:build linux && cgo

package sandbox

/*
#include <stdlib.h>
#include "landlock_linux.h"
*/
import "C"

import (
	"fmt"
	"sync"
	"unsafe"

	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// Landlock access rights (include/uapi/linux/landlock.h), spelled out so the build does not depend on the
// installed kernel headers; the ABI that introduced each is noted.
const (
	llExecute    uint64 = 1 << 0 // ABI 1
	llWriteFile  uint64 = 1 << 1
	llReadFile   uint64 = 1 << 2
	llReadDir    uint64 = 1 << 3
	llRemoveDir  uint64 = 1 << 4
	llRemoveFile uint64 = 1 << 5
	llMakeChar   uint64 = 1 << 6
	llMakeDir    uint64 = 1 << 7
	llMakeReg    uint64 = 1 << 8
	llMakeSock   uint64 = 1 << 9
	llMakeFifo   uint64 = 1 << 10
	llMakeBlock  uint64 = 1 << 11
	llMakeSym    uint64 = 1 << 12
	llRefer      uint64 = 1 << 13 // ABI 2
	llTruncate   uint64 = 1 << 14 // ABI 3
	llIoctlDev   uint64 = 1 << 15 // ABI 5

	llNetBindTCP    uint64 = 1 << 0 // ABI 4
	llNetConnectTCP uint64 = 1 << 1

	llScopeAbstractUnix uint64 = 1 << 0 // ABI 6
	llScopeSignal       uint64 = 1 << 1

	llCreateRulesetVersion = 1 << 0

	// What the derived rules grant: read-only mounts may be read and executed, writable ones also written,
	// the minimal /dev's device files read, written and ioctl'd.
	llRead  = llExecute | llReadFile | llReadDir
	llWrite = llRead | llWriteFile | llRemoveDir | llRemoveFile | llMakeDir | llMakeReg | llMakeSock |
		llMakeFifo | llMakeSym | llRefer | llTruncate
	llDevice = llReadFile | llWriteFile | llTruncate | llIoctlDev
)

// llHandledFS is every filesystem right the kernel's Landlock ABI knows: all of them are handled, so
// anything not granted by a rule is denied.
func llHandledFS(abi int) uint64 {
	h := uint64(1<<13 - 1)
	if abi >= 2 {
		h |= llRefer
	}
	if abi >= 3 {
		h |= llTruncate
	}
	if abi >= 5 {
		h |= llIoctlDev
	}
	return h
}

var landlockOnce struct {
	sync.Once
	abi int
	err error
}

// LandlockABI returns the kernel's Landlock ABI version (0 with the reason when Landlock is unavailable:
// not built in, not in the lsm= list, or blocked by an outer seccomp filter).
func LandlockABI() (int, error) {
	landlockOnce.Do(func() {
		r, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, llCreateRulesetVersion)
		switch {
		case e == unix.EOPNOTSUPP:
			landlockOnce.err = fmt.Errorf("the kernel has Landlock built in but disabled at boot (add landlock to the lsm= kernel parameter)")
		case e == unix.ENOSYS:
			landlockOnce.err = fmt.Errorf("the kernel has no Landlock (CONFIG_SECURITY_LANDLOCK), or a seccomp filter around jailrun hides it")
		case e != 0:
			landlockOnce.err = fmt.Errorf("landlock_create_ruleset: %w", e)
		default:
			landlockOnce.abi = int(r)
		}
	})
	return landlockOnce.abi, landlockOnce.err
}

// landlockPath is one rule: rights beneath a path of the sandbox's view.
type landlockPath struct {
	path     string
	access   uint64
	optional bool
}

// landlockPlan is the ruleset the exec stage applies.
type landlockPlan struct {
	abi        int
	handledFS  uint64
	handledNet uint64
	scoped     uint64
	paths      []landlockPath
}

// llView maps a policy mount to the path the command sees it at and whether it exists there. Inside a
// mount namespace that is its destination; in degraded mode (no mount namespace) it is the host path.
type llView func(m policy.Mount) (path string, ok bool)

func nsView(m policy.Mount) (string, bool) { return m.Dst, true }

// llOpts: denyTCP handles TCP bind/connect with no rule (a policy without network); hostView says the rules
// are on the host's own tree (degraded mode), where the root's listing and /dev/shm are the host's and are
// not granted.
type llOpts struct {
	denyTCP, hostView bool
}

// buildLandlock derives the ruleset from the policy's mounts: read-only mounts get read/execute rights,
// writable ones read/write, /proc read, the minimal /dev its five device files and /dev/shm, the root itself
// only the listing of its directories. Masked paths and binds marked "landlock": false get nothing; nothing
// else is reachable. Every right is masked by what the kernel's ABI knows.
func buildLandlock(s *policy.Settings, abi int, view llView, o llOpts) *landlockPlan {
	p := &landlockPlan{abi: abi, handledFS: llHandledFS(abi)}
	if abi >= 4 && o.denyTCP {
		p.handledNet = llNetBindTCP | llNetConnectTCP
	}
	if abi >= 6 {
		p.scoped = llScopeAbstractUnix | llScopeSignal
	}
	add := func(path string, access uint64, optional bool) {
		if access &= p.handledFS; access != 0 {
			p.paths = append(p.paths, landlockPath{path: path, access: access, optional: optional})
		}
	}
	if !o.hostView {
		add("/", llReadDir, false)
	}
	for _, m := range s.Filesystem.Mounts {
		at, ok := view(m)
		if !ok {
			continue
		}
		switch m.Kind {
		case policy.MountBind:
			if m.NoLandlock {
				continue
			}
			acc := llWrite
			if m.ReadOnly {
				acc = llRead
			}
			add(at, acc, m.Optional)
		case policy.MountTmpfs:
			acc := llWrite
			if m.ReadOnly {
				acc = llRead
			}
			add(at, acc, false)
		case policy.MountFile:
			acc := llReadFile | llExecute
			if !m.ReadOnly {
				acc |= llWriteFile | llTruncate // "readonly": false: the policy lets the command write it
			}
			add(at, acc, false)
		case policy.MountProc:
			add(at, llReadFile|llReadDir, false)
		case policy.MountDev:
			add(at, llReadDir, false)
			for _, d := range []string{"null", "zero", "full", "random", "urandom"} {
				add(at+"/"+d, llDevice, false)
			}
			if !o.hostView {
				add(at+"/shm", llWrite, true)
			}
			if m.Pts && !o.hostView {
				add(at+"/pts", llDevice|llReadDir, false)
			}
		}
	}
	return p
}

func (p *landlockPlan) info() *LandlockInfo {
	in := &LandlockInfo{ABI: p.abi, Paths: len(p.paths), TCP: "not restricted"}
	if p.handledNet != 0 {
		in.TCP = "denied"
	}
	if p.scoped&llScopeAbstractUnix != 0 {
		in.Scoped = append(in.Scoped, "abstract_unix_sockets")
	}
	if p.scoped&llScopeSignal != 0 {
		in.Scoped = append(in.Scoped, "signals")
	}
	return in
}

// describe names the step of a Landlock failure reported by the child (detail: jr_landlock_apply's *at).
func (p *landlockPlan) describe(at int32) string {
	switch {
	case p == nil:
		return "landlock"
	case at == -1:
		return "landlock: create ruleset"
	case at == -2:
		return "landlock: restrict_self"
	case at >= 0 && int(at) < len(p.paths):
		return "landlock: rule for " + p.paths[at].path
	}
	return "landlock"
}

func (p *landlockPlan) toC(a *arena) *C.struct_jr_landlock {
	if p == nil {
		return nil
	}
	c := (*C.struct_jr_landlock)(a.alloc(int(unsafe.Sizeof(C.struct_jr_landlock{}))))
	c.handled_fs = C.uint64_t(p.handledFS)
	c.handled_net = C.uint64_t(p.handledNet)
	c.scoped = C.uint64_t(p.scoped)
	// The struct grew with the ABI: pass the size this kernel knows, so an older one does not see fields it
	// would refuse.
	switch {
	case p.abi >= 6:
		c.attr_size = 24
	case p.abi >= 4:
		c.attr_size = 16
	default:
		c.attr_size = 8
	}
	if n := len(p.paths); n > 0 {
		ps := unsafe.Slice((*C.struct_jr_landlock_path)(a.alloc(n*int(unsafe.Sizeof(C.struct_jr_landlock_path{})))), n)
		for i, lp := range p.paths {
			ps[i].path = a.strOrEmpty(lp.path)
			ps[i].access = C.uint64_t(lp.access)
			ps[i].optional = b2i(lp.optional)
		}
		c.paths, c.npaths = &ps[0], C.int(n)
	}
	return c
}

// prepareLandlock decides the Landlock layer of this run from filesystem.landlock: "off" never, "auto"
// when the kernel has it (else the result's skipped names filesystem.landlock), "require" or refuse.
func (l *launch) prepareLandlock(cfg *spawnConfig, view llView, denyTCP bool) error {
	s := l.s
	hostView := false
	if l.dg != nil {
		if err := l.dg.adjust(l, cfg); err != nil {
			return err
		}
		view, hostView = l.dg.view, true
		denyTCP = l.dg.orig.Namespaces.Net && !l.dg.orig.Network.LoopbackUp
	}
	mode := s.Filesystem.Landlock
	if mode == policy.LandlockOff {
		return nil
	}
	if !s.Namespaces.Mount && l.dg == nil {
		// The host's tree, by the policy's choice: there are no mounts to derive rules from, and a ruleset
		// without them would deny everything. Policy validation refuses "require" here.
		return nil
	}
	abi, err := LandlockABI()
	if err == nil && !s.Process.NoNewPrivs {
		err = fmt.Errorf("process.no_new_privs is off, and an unprivileged process may restrict itself only with it")
	}
	if err != nil {
		if mode == policy.LandlockRequire {
			return fmt.Errorf("%w: filesystem.landlock is \"require\", but %w (set it to \"auto\" to run without the Landlock layer)", ErrUnsupported, err)
		}
		l.res.Skipped = append(l.res.Skipped, "filesystem.landlock")
		return nil
	}
	cfg.landlock = buildLandlock(s, abi, view, llOpts{denyTCP: denyTCP, hostView: hostView})
	return nil
}
