//go:build linux && cgo

package sandbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"runtime"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// runBox is a run's file exchange: the box directory inside the sandbox and, once the child handed it over, a
// descriptor of it. The descriptor outlives the sandbox's mount namespace, so copy-out reads the tmpfs
// after every process of the run is gone, when nothing can change the files any more.
type runBox struct {
	dir string
	f   *os.File
}

// takeBox takes the child's descriptor of the box (it waits meanwhile) and copies the request's files in.
func (l *launch) takeBox(fd int) error {
	bfd, err := unix.PidfdGetfd(l.pidfd, fd, 0)
	if err != nil {
		return fmt.Errorf("pidfd_getfd: %w", err)
	}
	unix.CloseOnExec(bfd)
	l.box.f = os.NewFile(uintptr(bfd), l.box.dir)
	f := l.box.f
	l.cleanup = append(l.cleanup, func() { f.Close() })
	return l.copyIn()
}

// The box's tmpfs was mounted inside the sandbox's user namespace, and the kernel creates a file there only
// for an fsuid and fsgid that namespace maps (EOVERFLOW otherwise). A root parent therefore creates the files
// with the sandbox user's host ids as its fsuid/fsgid on this locked thread (the Go runtime starts new
// threads from a template thread, never from a locked one, so the change cannot spread): they then belong to
// the sandbox's user, who may change them. A parent running as the mapped id itself ("caller" mapping) needs
// nothing; one mapping subordinate ids cannot become them, and is refused up front.
func (l *launch) copyIn() error {
	caps := l.req.FileCaps.withDefaults()
	// Host sources are opened with the caller's own rights, before anything changes.
	srcs := make([]io.Reader, len(l.req.FilesIn))
	for i, f := range l.req.FilesIn {
		srcs[i] = bytes.NewReader(f.Content)
		if f.Src != "" {
			h, err := os.Open(f.Src)
			if err != nil {
				return &FileRequestError{Dir: "files_in", Index: i, Path: f.Path, Err: fmt.Errorf("host source: %w", err)}
			}
			defer h.Close()
			srcs[i] = h
		}
	}
	chownTo := [2]int{-1, -1}
	switch {
	case l.r.plat.root && l.s.Namespaces.User:
		runtime.LockOSThread()
		restore, err := setFSIDs(int(l.ids.HostUID), int(l.ids.HostGID))
		if err != nil {
			runtime.UnlockOSThread()
			return fmt.Errorf("copy in: %w", err)
		}
		defer func() {
			if restore() == nil {
				runtime.UnlockOSThread()
			} // else: the thread stays locked and ends with this goroutine
		}()
	case l.r.plat.root:
		chownTo = [2]int{int(l.s.Process.UID), int(l.s.Process.GID)}
	}
	st := &FilesInStats{}
	for i, f := range l.req.FilesIn {
		wrap := func(err error) error { return &FileRequestError{Dir: "files_in", Index: i, Path: f.Path, Err: err} }
		clean, err := checkCopyName(f.Path)
		if err != nil {
			return wrap(err)
		}
		if err := mkdirsBeneath(l.box.f, clean, chownTo); err != nil {
			return wrap(err)
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		// No sandbox may be cloned while the new file is open for writing (see spawn).
		syscall.ForkLock.RLock()
		n, err := CopyInAt(l.box.f, clean, srcs[i], mode, caps.FileBytes)
		syscall.ForkLock.RUnlock()
		if err != nil {
			if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EDQUOT) {
				err = fmt.Errorf("the box's tmpfs is full: %w (%w)", ErrFileTooLarge, err)
			}
			return wrap(err)
		}
		if chownTo[0] >= 0 {
			if err := chownBeneath(l.box.f, clean, chownTo); err != nil {
				return wrap(err)
			}
		}
		st.Count++
		st.Bytes += n
	}
	l.res.FilesIn = st
	return nil
}

// setFSIDs sets this thread's fsuid and fsgid and returns how to put them back.
func setFSIDs(uid, gid int) (restore func() error, err error) {
	oldGID, _ := unix.SetfsgidRetGid(gid)
	oldUID, _ := unix.SetfsuidRetUid(uid)
	restore = func() error {
		unix.Setfsuid(oldUID)
		unix.Setfsgid(oldGID)
		if u, _ := unix.SetfsuidRetUid(-1); u != oldUID {
			return fmt.Errorf("restoring fsuid %d: still %d", oldUID, u)
		}
		if g, _ := unix.SetfsgidRetGid(-1); g != oldGID {
			return fmt.Errorf("restoring fsgid %d: still %d", oldGID, g)
		}
		return nil
	}
	if u, _ := unix.SetfsuidRetUid(-1); u != uid {
		_ = restore()
		return nil, fmt.Errorf("setfsuid %d: still %d", uid, u)
	}
	if g, _ := unix.SetfsgidRetGid(-1); g != gid {
		_ = restore()
		return nil, fmt.Errorf("setfsgid %d: still %d", gid, g)
	}
	return restore, nil
}

// mkdirsBeneath creates the parent directories of name beneath dir, never following a symbolic link.
func mkdirsBeneath(dir *os.File, name string, chownTo [2]int) error {
	comps := strings.Split(name, "/")
	if len(comps) == 1 {
		return nil
	}
	for i := 1; i < len(comps); i++ {
		parent, base := strings.Join(comps[:i-1], "/"), comps[i-1]
		pfd, err := openBeneath(int(dir.Fd()), parent, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return resolveError("copy in", name, err)
		}
		err = unix.Mkdirat(pfd, base, 0o755)
		if err == nil && chownTo[0] >= 0 {
			err = unix.Fchownat(pfd, base, chownTo[0], chownTo[1], unix.AT_SYMLINK_NOFOLLOW)
		}
		unix.Close(pfd)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("copy in %q: mkdir %s: %w", name, strings.Join(comps[:i], "/"), err)
		}
	}
	return nil
}

func chownBeneath(dir *os.File, name string, chownTo [2]int) error {
	fd, err := openBeneath(int(dir.Fd()), name, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return resolveError("copy in", name, err)
	}
	defer unix.Close(fd)
	if err := unix.Fchownat(fd, "", chownTo[0], chownTo[1], unix.AT_EMPTY_PATH); err != nil {
		return fmt.Errorf("copy in %q: chown: %w", name, err)
	}
	return nil
}

// copyOut copies Request.FilesOut from the box into the Result. A file the program did not leave, or left
// as something unsafe, gets its Error; the run itself is unaffected.
func (l *launch) copyOut() {
	if len(l.req.FilesOut) == 0 {
		return
	}
	caps := l.req.FileCaps.withDefaults()
	left := caps.TotalBytes
	out := make([]FileOut, len(l.req.FilesOut))
	for i, p := range l.req.FilesOut {
		o := &out[i]
		o.Path = p
		max := min(caps.FileBytes, left)
		var err error
		var buf bytes.Buffer
		switch {
		case l.box.f == nil:
			err = errors.New("the box was never set up")
		case max <= 0:
			err = &FileTooLargeError{Name: p, Size: 1, Max: 0}
		default:
			_, err = CopyOutAt(l.box.f, p, &buf, max)
		}
		if err != nil {
			o.Err = err
			o.Error = err.Error()
			if errors.Is(err, fs.ErrNotExist) {
				o.Error = "not found"
			}
			continue
		}
		o.Mode = 0o644
		if fd, err := openBeneath(int(l.box.f.Fd()), p, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0); err == nil {
			var st unix.Stat_t
			if unix.Fstat(fd, &st) == nil {
				o.Mode = os.FileMode(st.Mode & 0o777)
			}
			unix.Close(fd)
		}
		o.Content = buf.Bytes()
		o.Size = int64(len(o.Content))
		sum := sha256.Sum256(o.Content)
		o.SHA256 = hex.EncodeToString(sum[:])
		left -= o.Size
	}
	l.res.FilesOut = out
}
