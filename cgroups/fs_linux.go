package cgroups

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/internal/procid"
)

// Cgroup interface files are read and written with raw syscalls rather than os.ReadFile/os.WriteFile: these are
// small kernfs files on the hot path of every run, and os.File adds an fstat, a poller registration attempt and
// an allocation per file for nothing here.

func openFile(path string, flags int) (int, error) {
	return openIn(unix.AT_FDCWD, path, path, flags)
}

// openIn opens name beneath the directory dirfd (AT_FDCWD: name is a path); errors name path.
func openIn(dirfd int, name, path string, flags int) (int, error) {
	for {
		fd, err := unix.Openat(dirfd, name, flags|unix.O_CLOEXEC, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1, &fs.PathError{Op: "open", Path: path, Err: err}
		}
		return fd, nil
	}
}

// readFile reads a whole (small) cgroup file.
func readFile(path string) ([]byte, error) {
	fd, err := openFile(path, unix.O_RDONLY)
	if err != nil {
		return nil, err
	}
	defer unix.Close(fd)
	return readFD(fd, path)
}

// readFD reads from offset 0 to EOF; kernfs regenerates the content on every read from offset 0, so an fd kept
// open (cpu.stat, cpuacct.usage) is re-read with pread instead of being reopened.
func readFD(fd int, path string) ([]byte, error) {
	buf := make([]byte, 512)
	n := 0
	for {
		if n == len(buf) {
			buf = append(buf, make([]byte, len(buf))...)
		}
		m, err := unix.Pread(fd, buf[n:], int64(n))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: path, Err: err}
		}
		if m == 0 {
			return buf[:n], nil
		}
		n += m
	}
}

func readString(path string) (string, error) {
	b, err := readFile(path)
	return string(bytes.TrimSpace(b)), err
}

// parseInt parses a counter or limit read from path ("max" is -1).
func parseInt(path, s string) (int64, error) {
	if s == "max" {
		return -1, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, &fs.PathError{Op: "parse", Path: path, Err: err}
	}
	return n, nil
}

// writeFile writes value in one write(2), as cgroup files require.
func writeFile(path, value string) error {
	fd, err := openFile(path, unix.O_WRONLY)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	return writeFD(fd, path, value)
}

// writeFD writes value to fd (opened from path) in one write(2).
func writeFD(fd int, path, value string) error {
	for {
		_, err := unix.Write(fd, []byte(value))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return &fs.PathError{Op: "write", Path: path, Err: err}
		}
		return nil
	}
}

func exists(path string) bool {
	return unix.Access(path, unix.F_OK) == nil
}

// words reports whether the space-separated list (cgroup.controllers, cgroup.subtree_control) contains w.
func hasWord(list, w string) bool {
	for _, f := range strings.Fields(list) {
		if f == w {
			return true
		}
	}
	return false
}

// readPids lists the pids in a cgroup.procs file.
func readPids(path string) ([]int, error) {
	b, err := readFile(path)
	if err != nil {
		return nil, err
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if p, err := strconv.Atoi(f); err == nil && p > 0 {
			pids = append(pids, p)
		}
	}
	return pids, nil
}

func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }

func errnoOf(err error) unix.Errno {
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return 0
}

// mkdirAll creates dir and its missing parents and returns the ones it created, outermost first, so that
// Close can remove exactly those.
func mkdirAll(dir string) ([]string, error) {
	if exists(dir) {
		return nil, nil
	}
	var missing []string
	for d := dir; d != "/" && d != "." && !exists(d); d = parentDir(d) {
		missing = append([]string{d}, missing...)
	}
	var created []string
	for _, d := range missing {
		if err := unix.Mkdir(d, 0o755); err != nil && err != unix.EEXIST {
			return created, &fs.PathError{Op: "mkdir", Path: d, Err: err}
		} else if err == nil {
			created = append(created, d)
		}
	}
	return created, nil
}

func parentDir(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// writable checks that this process may create cgroups in dir (the parent may exist already, made by root or
// another user), so that a run is refused with a reason instead of failing on mkdir.
func writable(dir string) *problem {
	if err := unix.Faccessat(unix.AT_FDCWD, dir, unix.W_OK|unix.X_OK, unix.AT_EACCESS); err != nil {
		return &problem{reason: fmt.Sprintf("cannot create cgroups in %s: %v", dir, err),
			hint: "run jailrun as root, or in a cgroup delegated to its user (v2), or give the user that directory (v1, chown)"}
	}
	return nil
}

// alive reports whether the process o still exists (same pid, same start time).
func (o owner) alive() bool {
	return procid.ID(o).Alive()
}
