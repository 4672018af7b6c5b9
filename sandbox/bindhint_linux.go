//go:build linux && cgo

package sandbox

import (
	"fmt"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jailrun/jailrun/internal/childabi"
	"github.com/jailrun/jailrun/namespaces"
	"golang.org/x/sys/unix"
)

// bindSourceHint explains why the sandbox's host user (uid, gid) cannot open the bind source src: the first
// directory on the way that it may not search, with its mode and owner and the fix, in one line. "" when no
// such directory is found (the source itself, or something else, is the problem).
//
// Bind sources are opened by the sandbox's init stage, as that user, on purpose: a bind gives the sandbox
// only what its own ids could reach on the host anyway, and a path component an unprivileged user controls
// cannot redirect the open to a file only root could read.
func bindSourceHint(src string, uid, gid uint32) string {
	return searchHint(src, uid, gid, "bind sources are opened as that user", "or bind a directory outside it")
}

// searchHint finds the first directory on the way to path that the host user (uid, gid) may not search,
// and says so with why the user needs it and the fix; "" when there is none.
func searchHint(path string, uid, gid uint32, why, alternative string) string {
	dir := "/"
	parts := strings.Split(strings.Trim(filepath.Clean(path), "/"), "/")
	for i := 0; i < len(parts); i++ {
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			return ""
		}
		if st.Mode&unix.S_IFMT == unix.S_IFDIR && !searchable(&st, uid, gid) {
			return fmt.Sprintf("%s is mode %04o owned by %s:%s, which the sandbox's host user %d cannot search "+
				"(%s); fix: chmod o+x %s (%s)",
				dir, st.Mode&0o7777, userName(st.Uid), groupName(st.Gid), uid, why, dir, alternative)
		}
		dir = filepath.Join(dir, parts[i])
	}
	return ""
}

func searchable(st *unix.Stat_t, uid, gid uint32) bool {
	switch {
	case st.Uid == uid:
		return st.Mode&0o100 != 0
	case st.Gid == gid:
		return st.Mode&0o010 != 0
	}
	return st.Mode&0o001 != 0
}

func userName(id uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(id), 10)); err == nil {
		return u.Username
	}
	return strconv.FormatUint(uint64(id), 10)
}

func groupName(id uint32) string {
	if g, err := user.LookupGroupId(strconv.FormatUint(uint64(id), 10)); err == nil {
		return g.Name
	}
	return strconv.FormatUint(uint64(id), 10)
}

// openForSandbox opens, in the parent, bind sources the sandbox's host user cannot reach because a
// directory on the way is closed to it (a grader's 0700 temporary directory owned by root), when that is
// safe; the child binds the fd instead of opening the path. Safe means: jailrun runs as root (it can reach
// it; the operator who named the path owns the host), no component of the path is a symlink (openat2
// RESOLVE_NO_SYMLINKS, so nothing can redirect the open), and every directory from the first closed one
// down to the source is owned by root or by jailrun's user and writable by nobody else, so no other user
// can have arranged what lies below it. The sandbox then gets exactly the tree the policy names, and
// nothing of the closed directory around it.
func (l *launch) openForSandbox(plan *namespaces.Plan) error {
	if plan == nil || !l.r.plat.root {
		return nil
	}
	ids := l.ids // this run's host ids (allocateIDs ran before)
	for i := range plan.Ops {
		op := &plan.Ops[i]
		if op.Kind != childabi.OpOpenSrc || !strings.HasPrefix(op.What, "open bind source ") || !closedBelow(op.Src, ids.HostUID, ids.HostGID) {
			continue
		}
		fd, err := unix.Openat2(unix.AT_FDCWD, op.Src, &unix.OpenHow{
			Flags: unix.O_PATH | unix.O_CLOEXEC, Resolve: unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS})
		if err != nil {
			continue // the child's own open reports it, with the hint
		}
		// A mount of the host's namespace cannot be bound into the child's: hand it a detached copy.
		tree, err := unix.OpenTree(fd, "", unix.OPEN_TREE_CLONE|unix.OPEN_TREE_CLOEXEC|unix.AT_EMPTY_PATH)
		unix.Close(fd)
		if err != nil {
			continue
		}
		fd = tree
		op.ParentFD = fd
		for j := range plan.Ops {
			if plan.Ops[j].Kind == childabi.OpBind && plan.Ops[j].Slot == op.Slot {
				plan.Ops[j].ParentFD = fd
			}
		}
		l.cleanup = append(l.cleanup, func() { unix.Close(fd) })
	}
	return nil
}

// closedBelow reports whether the path has a directory uid/gid cannot search and, from the first such one
// down, only directories owned by root or this process's user and writable by nobody else, and no symlink.
func closedBelow(src string, uid, gid uint32) bool {
	self := uint32(unix.Geteuid())
	dir, closed := "/", false
	parts := strings.Split(strings.Trim(filepath.Clean(src), "/"), "/")
	for i := 0; i <= len(parts); i++ {
		var st unix.Stat_t
		if err := unix.Lstat(dir, &st); err != nil || st.Mode&unix.S_IFMT == unix.S_IFLNK {
			return false
		}
		if i == len(parts) {
			break // the source itself: its own mode is what the sandbox gets
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return false
		}
		if !closed && !searchable(&st, uid, gid) {
			closed = true
		}
		if closed && ((st.Uid != 0 && st.Uid != self) || st.Mode&0o022 != 0) {
			return false
		}
		dir = filepath.Join(dir, parts[i])
	}
	return closed
}
