package sandbox

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Copy-in and copy-out move files between the host and a directory the sandbox could write to. Everything
// below that directory is the sandboxed program's to shape: it can plant a symbolic link to /etc/shadow, a
// FIFO that blocks a reader forever, a 10 GiB sparse file, or swap a file between a check and an open. So
// the host side, which runs with more privilege than the sandbox, never resolves a path by name in there:
//
//   - names are resolved by the kernel beneath an open directory fd with openat2(2) and RESOLVE_BENEATH |
//     RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV: no "..", no absolute path, no symbolic
//     link anywhere in the path, no crossing into another mount (the go-judge#176 and compiler-explorer#6026
//     escapes were symlinks followed by the host);
//   - a file is first opened with O_PATH, which has no side effects even on a FIFO or a device, and checked
//     with fstat: only a regular file with one link is copied. It is then reopened through /proc/self/fd, so
//     what is read is the very inode that was checked;
//   - the size cap is checked against fstat before reading (a sparse 10 GiB file costs nothing) and again
//     while copying, for a file that grows meanwhile;
//   - a copy-in creates its file with O_CREAT|O_EXCL|O_NOFOLLOW: it never follows a planted link and never
//     overwrites anything.
//
// Kernels older than 5.6 have no openat2; the same rules are then applied by walking the path one component
// at a time with O_NOFOLLOW and comparing each directory's device with the top directory's.

const resolveBeneath = unix.RESOLVE_BENEATH | unix.RESOLVE_NO_SYMLINKS | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_XDEV

// noOpenat2 is set once openat2 answered ENOSYS, and by tests to exercise the fallback.
var noOpenat2 atomic.Bool

// procSelfFD is where an O_PATH descriptor is reopened; a test points it elsewhere to exercise a host
// without procfs.
var procSelfFD = "/proc/self/fd/"

// CopyOut copies the regular file name, relative to the host directory dir, to dst. It refuses anything
// else with an *UnsafeFileError (ErrUnsafeFile), and a file larger than max bytes with a
// *FileTooLargeError (ErrFileTooLarge). max must be positive. It returns the number of bytes written to dst;
// when the file grows past max during the copy, dst has received max bytes and should be discarded.
//
// dir itself is trusted (the caller's own path); open it before the run and use CopyOutAt to also rule
// out the directory being replaced.
func CopyOut(dir, name string, dst io.Writer, max int64) (int64, error) {
	d, err := openDir(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return CopyOutAt(d, name, dst, max)
}

// CopyOutAt is CopyOut relative to an open directory.
func CopyOutAt(dir *os.File, name string, dst io.Writer, max int64) (int64, error) {
	clean, err := checkCopyName(name)
	if err != nil {
		return 0, err
	}
	if max <= 0 {
		return 0, fmt.Errorf("copy out %q: the size cap must be positive, got %d", name, max)
	}
	f, err := openRegular(dir, clean, name, max)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := io.Copy(dst, io.LimitReader(f, max))
	if err != nil {
		return n, fmt.Errorf("copy out %q: %w", name, err)
	}
	// The file may have grown after fstat; one more byte means it is over the cap.
	var one [1]byte
	if m, _ := f.Read(one[:]); m > 0 {
		return n, &FileTooLargeError{Name: name, Size: max + 1, Max: max}
	}
	return n, nil
}

// openRegular opens clean beneath dir for reading if it is a regular file with one link of at most max
// bytes.
func openRegular(dir *os.File, clean, name string, max int64) (*os.File, error) {
	pfd, err := openBeneath(int(dir.Fd()), clean, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, resolveError("copy out", name, err)
	}
	defer unix.Close(pfd)
	var st unix.Stat_t
	if err := unix.Fstat(pfd, &st); err != nil {
		return nil, fmt.Errorf("copy out %q: fstat: %w", name, err)
	}
	if err := checkRegular(name, &st); err != nil {
		return nil, err
	}
	if st.Size > max {
		return nil, &FileTooLargeError{Name: name, Size: st.Size, Max: max}
	}
	// Reopen the checked inode itself. O_NONBLOCK is harmless on a regular file and keeps the open from
	// ever blocking if something went wrong.
	fd, err := unix.Open(procSelfFD+strconv.Itoa(pfd), unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	if errors.Is(err, unix.ENOENT) {
		// No procfs on this host: open by name again and make sure it is the same inode.
		fd, err = openBeneath(int(dir.Fd()), clean, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY|unix.O_NONBLOCK, 0)
	}
	if err != nil {
		return nil, resolveError("copy out", name, err)
	}
	var st2 unix.Stat_t
	if err := unix.Fstat(fd, &st2); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("copy out %q: fstat: %w", name, err)
	}
	if st2.Dev != st.Dev || st2.Ino != st.Ino {
		unix.Close(fd)
		return nil, &UnsafeFileError{Name: name, Kind: "replaced while it was being opened"}
	}
	if err := checkRegular(name, &st2); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return os.NewFile(uintptr(fd), path.Join(dir.Name(), clean)), nil
}

// checkRegular refuses everything but a regular file with a single link. A second link could be a hard
// link to a file the sandbox could not read but the copying process can.
func checkRegular(name string, st *unix.Stat_t) error {
	if k := fileKind(st.Mode); k != "" {
		return &UnsafeFileError{Name: name, Kind: k}
	}
	if st.Nlink > 1 {
		return &UnsafeFileError{Name: name, Kind: fmt.Sprintf("a hard link (%d links)", st.Nlink)}
	}
	return nil
}

// fileKind names a file type that is not a regular file, or returns "" for a regular file.
func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return ""
	case unix.S_IFLNK:
		return "a symbolic link"
	case unix.S_IFIFO:
		return "a FIFO"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFSOCK:
		return "a socket"
	case unix.S_IFDIR:
		return "a directory"
	}
	return fmt.Sprintf("not a regular file (mode %#o)", mode&unix.S_IFMT)
}

// CopyIn creates the file name, relative to the host directory dir, with permission bits mode (at most
// 0777: no setuid, setgid or sticky bit; the umask does not apply) and copies src into it, at most max
// bytes. It never follows a symbolic link and never replaces an existing file (fs.ErrExist); the parent
// directories must exist. If src has more than max bytes, or anything fails after the file was created,
// the file is removed and the error returned (*FileTooLargeError for the cap). The file is owned by the
// calling process; chown it for the sandbox's user if that user must write it.
func CopyIn(dir, name string, src io.Reader, mode os.FileMode, max int64) (int64, error) {
	d, err := openDir(dir)
	if err != nil {
		return 0, err
	}
	defer d.Close()
	return CopyInAt(d, name, src, mode, max)
}

// CopyInAt is CopyIn relative to an open directory.
func CopyInAt(dir *os.File, name string, src io.Reader, mode os.FileMode, max int64) (int64, error) {
	clean, err := checkCopyName(name)
	if err != nil {
		return 0, err
	}
	if max <= 0 {
		return 0, fmt.Errorf("copy in %q: the size cap must be positive, got %d", name, max)
	}
	if mode&^0o777 != 0 {
		return 0, fmt.Errorf("copy in %q: mode %v has bits beyond 0777", name, mode)
	}
	parent, base := path.Split(clean)
	pfd, err := openBeneath(int(dir.Fd()), strings.TrimSuffix(parent, "/"), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, resolveError("copy in", name, err)
	}
	defer unix.Close(pfd)
	// The last component is created in the parent we hold open: O_EXCL with O_CREAT never follows a link,
	// so a planted symlink gives EEXIST instead of a write to its target.
	fd, err := unix.Openat(pfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC|unix.O_NOCTTY, uint32(mode))
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return 0, fmt.Errorf("copy in %q: %w", name, fs.ErrExist)
		}
		return 0, fmt.Errorf("copy in %q: create: %w", name, err)
	}
	f := os.NewFile(uintptr(fd), path.Join(dir.Name(), clean))
	n, err := func() (int64, error) {
		if err := unix.Fchmod(fd, uint32(mode)); err != nil {
			return 0, fmt.Errorf("copy in %q: chmod: %w", name, err)
		}
		n, err := io.Copy(f, io.LimitReader(src, max))
		if err != nil {
			return n, fmt.Errorf("copy in %q: %w", name, err)
		}
		var one [1]byte
		for {
			m, err := src.Read(one[:])
			if m > 0 {
				return n, &FileTooLargeError{Name: name, Size: max + 1, Max: max}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return n, fmt.Errorf("copy in %q: %w", name, err)
			}
		}
		return n, nil
	}()
	if cerr := f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("copy in %q: %w", name, cerr)
	}
	if err != nil {
		// No leftovers: the half-written file goes.
		_ = unix.Unlinkat(pfd, base, 0)
		return n, err
	}
	return n, nil
}

// openDir opens a trusted host directory for CopyIn and CopyOut.
func openDir(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, &os.PathError{Op: "open directory", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir), nil
}

// resolveError turns a resolution failure into the error a caller branches on.
func resolveError(op, name string, err error) error {
	switch {
	case errors.Is(err, unix.ELOOP):
		return &UnsafeFileError{Name: name, Kind: "a symbolic link, or a path through one"}
	case errors.Is(err, unix.EXDEV):
		return &UnsafeFileError{Name: name, Kind: "outside the directory or on another mount"}
	case errors.Is(err, unix.ENXIO), errors.Is(err, unix.ENODEV):
		return &UnsafeFileError{Name: name, Kind: "not a regular file"}
	case errors.Is(err, unix.ENOENT):
		return fmt.Errorf("%s %q: %w", op, name, fs.ErrNotExist)
	case errors.Is(err, unix.ENOTDIR):
		return fmt.Errorf("%s %q: a parent is not a directory: %w", op, name, fs.ErrNotExist)
	}
	return fmt.Errorf("%s %q: %w", op, name, err)
}

// openBeneath opens name (cleaned, relative, without "..") beneath dirfd without following any symbolic
// link or crossing a mount. "" opens dirfd itself again.
func openBeneath(dirfd int, name string, flags int, mode uint32) (int, error) {
	if name == "" {
		name = "."
	}
	if !noOpenat2.Load() {
		how := unix.OpenHow{Flags: uint64(flags), Mode: uint64(mode), Resolve: resolveBeneath}
		for {
			fd, err := unix.Openat2(dirfd, name, &how)
			switch {
			case err == nil:
				return fd, nil
			case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
				// EAGAIN: a concurrent rename made the kernel's beneath check unsure; try again.
				continue
			case errors.Is(err, unix.ENOSYS):
				noOpenat2.Store(true)
			default:
				return -1, err
			}
			break
		}
	}
	return walkBeneath(dirfd, name, flags, mode)
}

// walkBeneath is openBeneath without openat2: one component at a time, each opened with O_NOFOLLOW relative
// to the previous one, refusing symlinks and other devices.
func walkBeneath(dirfd int, name string, flags int, mode uint32) (int, error) {
	var top unix.Stat_t
	if err := unix.Fstat(dirfd, &top); err != nil {
		return -1, err
	}
	cur, err := unix.Openat(dirfd, ".", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	comps := strings.Split(name, "/")
	for _, c := range comps[:len(comps)-1] {
		next, err := openComponent(cur, c, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0, uint64(top.Dev))
		unix.Close(cur)
		if err != nil {
			return -1, err
		}
		cur = next
	}
	defer unix.Close(cur)
	return openComponent(cur, comps[len(comps)-1], flags|unix.O_NOFOLLOW, mode, uint64(top.Dev))
}

func openComponent(dirfd int, c string, flags int, mode uint32, dev uint64) (int, error) {
	if c == ".." || strings.Contains(c, "/") || c == "" {
		return -1, unix.EXDEV
	}
	fd, err := unix.Openat(dirfd, c, flags, mode)
	if err != nil {
		// O_DIRECTORY|O_NOFOLLOW on a symlink says ENOTDIR; say what it really is.
		if errors.Is(err, unix.ENOTDIR) {
			var st unix.Stat_t
			if unix.Fstatat(dirfd, c, &st, unix.AT_SYMLINK_NOFOLLOW) == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
				return -1, unix.ELOOP
			}
		}
		return -1, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return -1, err
	}
	if uint64(st.Dev) != dev {
		unix.Close(fd)
		return -1, unix.EXDEV
	}
	if st.Mode&unix.S_IFMT == unix.S_IFLNK && flags&unix.O_PATH != 0 && flags&unix.O_DIRECTORY != 0 {
		unix.Close(fd)
		return -1, unix.ELOOP
	}
	return fd, nil
}
