package atomicfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

func createUnnamed(dir string, perm os.FileMode) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, uint32(perm.Perm()))
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), dir+"/(unnamed)"), nil
}

// unnamedUnsupported: the kernel or the file system has no O_TMPFILE (EISDIR from kernels before 3.11,
// EOPNOTSUPP from file systems without it); everything else — a missing or unwritable directory — is the
// caller's error and is reported, not papered over by the fallback.
func unnamedUnsupported(err error) bool {
	return errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL)
}

// linkUnnamed names f: at path itself when nothing is there (returns ""), else at a temporary name next to
// it that the caller renames over path (the only moment a SIGKILL can leave a name behind is between those
// two calls). The link goes through /proc/self/fd, which needs no privilege; AT_EMPTY_PATH is the fallback
// without /proc (it needs CAP_DAC_READ_SEARCH).
func linkUnnamed(f *os.File, path string) (string, error) {
	err := link(f, path)
	if err == nil {
		return "", nil
	}
	if !errors.Is(err, unix.EEXIST) {
		return "", &os.LinkError{Op: "link", Old: f.Name(), New: path, Err: err}
	}
	for range 16 {
		tmp := filepath.Join(filepath.Dir(path), ".jailrun-tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		err = link(f, tmp)
		if err == nil {
			return tmp, nil
		}
		if !errors.Is(err, unix.EEXIST) {
			return "", &os.LinkError{Op: "link", Old: f.Name(), New: tmp, Err: err}
		}
	}
	return "", fmt.Errorf("link %s: no free temporary name", path)
}

func link(f *os.File, path string) error {
	fd := int(f.Fd())
	err := unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), unix.AT_FDCWD, path, unix.AT_SYMLINK_FOLLOW)
	if errors.Is(err, unix.ENOENT) {
		if _, serr := os.Stat("/proc/self/fd"); serr != nil {
			err = unix.Linkat(fd, "", unix.AT_FDCWD, path, unix.AT_EMPTY_PATH)
		}
	}
	return err
}
