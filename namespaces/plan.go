// Package namespaces turns a compiled policy into what the launcher's child stage executes: clone flags, id
// maps and the ordered mount plan. It is pure Go and runs in the parent, ahead of the clone, so the child only
// performs system calls on a plan that was checked here.
package namespaces

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"github.com/jailrun/jailrun/internal/childabi"
	"github.com/jailrun/jailrun/policy"
)

// Mount flags (MS_*), spelled out so this package builds on every platform.
const (
	MsRdonly   = 0x1
	MsNosuid   = 0x2
	MsNodev    = 0x4
	MsNoexec   = 0x8
	MsRelatime = 0x200000
)

// Op is one step of the child's filesystem setup. Dst is relative to the new root ("usr/bin"), except for
// childabi.OpRoot where it is the host path the root tmpfs is mounted on.
type Op struct {
	Kind      childabi.OpKind
	Slot      int
	Optional  bool
	Src       string
	Dst       string
	Data      string
	Content   string
	Flags     uint64
	Mode      uint32
	Recursive bool
	// ParentFD, when > 0, is a detached copy of the source that the parent made (open_tree): childabi.OpOpenSrc uses
	// it instead of opening Src, childabi.OpBind moves it into place (a source behind a directory the sandbox's ids
	// cannot search; see sandbox/bindhint_linux.go).
	ParentFD int
	// What names the step in an error message: "mount /usr", "mask /proc/kcore".
	What string
}

// Plan is the child's whole filesystem setup.
type Plan struct {
	Ops   []Op
	Slots int
}

// TmpfsMounts counts the tmpfs mounts the plan makes, the root included: the child records each one's device
// (the only places it may create mount points), in a table of exactly this size.
func (p *Plan) TmpfsMounts() int {
	n := 0
	for _, op := range p.Ops {
		if op.Kind == childabi.OpRoot || op.Kind == childabi.OpTmpfs {
			n++
		}
	}
	return n
}

// rootStaging is where the empty root tmpfs is mounted inside the child's private mount namespace before
// pivot_root. Bind sources are opened before it is covered, so hiding the host's /tmp there costs nothing.
const rootStaging = "/tmp"

// devFiles are the device nodes of the minimal /dev: no tty, no block devices, nothing that reaches hardware.
var devFiles = []string{"null", "zero", "full", "random", "urandom"}

// BuildPlan compiles fs into the ordered list of steps the child runs: open every bind source on the host's
// view first, mount an empty tmpfs root, build the tree in policy order, hide masked paths, make the root
// read-only and pivot into it.
func BuildPlan(fs policy.Filesystem) (*Plan, error) {
	p := &Plan{}
	slot := func() int { p.Slots++; return p.Slots - 1 }
	rel := func(dst string) (string, error) {
		c := path.Clean(dst)
		if !path.IsAbs(dst) || c != dst || c == "/" {
			return "", fmt.Errorf("mount destination %q must be an absolute, clean path other than /", dst)
		}
		return strings.TrimPrefix(c, "/"), nil
	}

	// Sources first: after the root tmpfs covers rootStaging, paths under it would no longer resolve.
	srcSlot := make([]int, len(fs.Mounts))
	needNull := len(fs.MaskedPaths) > 0
	for i, m := range fs.Mounts {
		srcSlot[i] = -1
		switch m.Kind {
		case policy.MountBind:
			if _, ok := mirrorSymlink(m); ok {
				continue
			}
			srcSlot[i] = slot()
			p.Ops = append(p.Ops, Op{Kind: childabi.OpOpenSrc, Slot: srcSlot[i], Src: m.Src, Optional: m.Optional, What: "open bind source " + m.Src})
		case policy.MountDev:
			needNull = true
		}
	}
	devSlots := map[string]int{}
	hasDev := false
	for _, m := range fs.Mounts {
		if m.Kind == policy.MountDev {
			hasDev = true
		}
	}
	if hasDev || needNull {
		for _, d := range devFiles {
			if d != "null" && !hasDev {
				continue
			}
			devSlots[d] = slot()
			p.Ops = append(p.Ops, Op{Kind: childabi.OpOpenSrc, Slot: devSlots[d], Src: "/dev/" + d, What: "open /dev/" + d})
		}
	}

	rootSize := int64(1 << 20)
	for _, m := range fs.Mounts {
		rootSize += int64(len(m.Content))
	}
	p.Ops = append(p.Ops, Op{Kind: childabi.OpRoot, Dst: rootStaging,
		Data: "mode=0755,size=" + strconv.FormatInt(rootSize, 10) + ",nr_inodes=16384", What: "mount root tmpfs"})

	for i, m := range fs.Mounts {
		dst, err := rel(m.Dst)
		if err != nil {
			return nil, err
		}
		switch m.Kind {
		case policy.MountBind:
			if target, ok := mirrorSymlink(m); ok {
				p.Ops = append(p.Ops, Op{Kind: childabi.OpSymlink, Src: target, Dst: dst, What: "symlink " + m.Dst})
				continue
			}
			var fl uint64
			if m.ReadOnly {
				fl |= MsRdonly
			}
			if m.NoSuid {
				fl |= MsNosuid
			}
			if m.NoDev {
				fl |= MsNodev
			}
			if m.NoExec {
				fl |= MsNoexec
			}
			p.Ops = append(p.Ops, Op{Kind: childabi.OpBind, Slot: srcSlot[i], Dst: dst, Flags: fl, Optional: m.Optional, What: "mount " + m.Dst})
		case policy.MountTmpfs:
			fl := uint64(MsNosuid | MsNodev)
			if m.NoExec {
				fl |= MsNoexec
			}
			if m.ReadOnly {
				fl |= MsRdonly
			}
			p.Ops = append(p.Ops, Op{Kind: childabi.OpTmpfs, Dst: dst, Flags: fl, Data: tmpfsData(m), What: "mount tmpfs " + m.Dst})
		case policy.MountFile:
			mode := m.Mode
			if mode == 0 {
				mode = 0o644
			}
			var fl uint64
			if m.ReadOnly != containerReadOnly(fs.Mounts[:i], m.Dst) {
				// The file needs a mount of its own to be what the policy says (see OpFile).
				fl = MsNosuid | MsNodev | MsNoexec
				if m.ReadOnly {
					fl |= MsRdonly
				}
			}
			p.Ops = append(p.Ops, Op{Kind: childabi.OpFile, Dst: dst, Content: m.Content, Mode: mode, Flags: fl, What: "write file " + m.Dst})
		case policy.MountProc:
			p.Ops = append(p.Ops, Op{Kind: childabi.OpProc, Dst: dst, Flags: MsRdonly | MsNosuid | MsNodev | MsNoexec, What: "mount proc " + m.Dst})
		case policy.MountDev:
			p.Ops = append(p.Ops, Op{Kind: childabi.OpTmpfs, Dst: dst, Flags: MsNosuid | MsNoexec, Data: "mode=0755,size=65536,nr_inodes=64", What: "mount dev tmpfs " + m.Dst})
			for _, d := range devFiles {
				p.Ops = append(p.Ops, Op{Kind: childabi.OpBind, Slot: devSlots[d], Dst: dst + "/" + d, What: "mount " + m.Dst + "/" + d})
			}
			for _, l := range [][2]string{{"/proc/self/fd", "fd"}, {"/proc/self/fd/0", "stdin"}, {"/proc/self/fd/1", "stdout"}, {"/proc/self/fd/2", "stderr"}} {
				p.Ops = append(p.Ops, Op{Kind: childabi.OpSymlink, Src: l[0], Dst: dst + "/" + l[1], What: "symlink " + m.Dst + "/" + l[1]})
			}
			if m.Pts {
				// A new devpts instance: ptys numbered from 0 that no other sandbox and not the host sees.
				p.Ops = append(p.Ops,
					Op{Kind: childabi.OpDevpts, Dst: dst + "/pts", Flags: MsNosuid | MsNoexec, Data: "newinstance,ptmxmode=0666,mode=0620", What: "mount devpts " + m.Dst + "/pts"},
					Op{Kind: childabi.OpSymlink, Src: "pts/ptmx", Dst: dst + "/ptmx", What: "symlink " + m.Dst + "/ptmx"})
			}
			p.Ops = append(p.Ops,
				Op{Kind: childabi.OpDir, Dst: dst + "/shm", Mode: 0o755, What: "mkdir " + m.Dst + "/shm"},
				Op{Kind: childabi.OpRemount, Dst: dst, Flags: MsRdonly | MsNosuid | MsNoexec, What: "remount " + m.Dst + " read-only"},
				Op{Kind: childabi.OpTmpfs, Dst: dst + "/shm", Flags: MsNosuid | MsNodev | MsNoexec, Data: "mode=1777,size=16777216,nr_inodes=1024", What: "mount tmpfs " + m.Dst + "/shm"})
		default:
			return nil, fmt.Errorf("mount %s: unknown type %q", m.Dst, m.Kind)
		}
	}
	for _, mp := range fs.MaskedPaths {
		dst, err := rel(mp)
		if err != nil {
			return nil, err
		}
		p.Ops = append(p.Ops, Op{Kind: childabi.OpMask, Slot: devSlots["null"], Dst: dst, What: "mask " + mp})
	}
	p.Ops = append(p.Ops,
		Op{Kind: childabi.OpRemount, Dst: "", Flags: MsRdonly | MsNosuid | MsNodev, What: "remount / read-only"},
		Op{Kind: childabi.OpPivot, What: "pivot_root"})
	return p, nil
}

// mirrorSymlink reports whether bind m should be a symlink instead: on merged-/usr systems /bin, /lib and
// /lib64 are relative symlinks into /usr, and reproducing the link keeps the sandbox's view identical to the
// host's (a bind would follow the link and show the same tree twice). Only a relative link that is bound
// onto its own path qualifies, so the link resolves the same way inside.
func mirrorSymlink(m policy.Mount) (string, bool) {
	if m.Src != m.Dst {
		return "", false
	}
	fi, err := os.Lstat(m.Src)
	if err != nil || fi.Mode()&os.ModeSymlink == 0 {
		return "", false
	}
	target, err := os.Readlink(m.Src)
	if err != nil || path.IsAbs(target) || strings.Contains(target, "..") {
		return "", false
	}
	return target, true
}

func tmpfsData(m policy.Mount) string {
	mode := m.Mode
	if mode == 0 {
		mode = 0o755
	}
	d := "mode=" + strconv.FormatUint(uint64(mode), 8)
	if m.Size > 0 {
		d += ",size=" + strconv.FormatInt(m.Size, 10)
	}
	if m.Inodes > 0 {
		d += ",nr_inodes=" + strconv.FormatInt(m.Inodes, 10)
	}
	return d
}

// containerReadOnly says whether the file at dst ends up read-only through the mount that holds it: the
// last of the earlier mounts that is a directory above dst, or the root, which is always remounted
// read-only at the end.
func containerReadOnly(earlier []policy.Mount, dst string) bool {
	ro := true // the root
	for _, m := range earlier {
		if !strings.HasPrefix(dst, strings.TrimSuffix(m.Dst, "/")+"/") {
			continue
		}
		switch m.Kind {
		case policy.MountBind, policy.MountTmpfs:
			if _, link := mirrorSymlink(m); !link {
				ro = m.ReadOnly
			}
		case policy.MountProc:
			ro = true
		case policy.MountDev:
			// /dev is remounted read-only; /dev/shm is a writable tmpfs.
			ro = !strings.HasPrefix(dst, strings.TrimSuffix(m.Dst, "/")+"/shm/")
		}
	}
	return ro
}
