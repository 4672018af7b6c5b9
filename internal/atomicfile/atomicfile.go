// Package atomicfile writes a file so that it is either absent, or its old self, or whole: never partial,
// and — where the kernel allows — never a leftover temporary name either, even when the writer is
// SIGKILLed in the middle. jailrun's outputs (--copy-out, --result, policy fmt -w) go through it.
//
// On Linux the data is written to an unnamed file (O_TMPFILE) in the destination's directory and given a
// name only once it is complete; a killed writer leaves nothing, because an unnamed file disappears with its
// last descriptor. Where O_TMPFILE is not supported (some network and FUSE file systems, other systems) it
// falls back to a named temporary file renamed into place, which a SIGKILL during the write can leave.
package atomicfile

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// File is a file being written; it appears at its path only at Commit.
type File struct {
	f    *os.File
	dir  string
	name string // the named temporary file of the fallback; "" while the file is unnamed
}

// Create starts a file that Commit will place in dir, with mode perm less the umask, as a new file of
// os.WriteFile would have (Chmod sets an exact mode).
func Create(dir string, perm os.FileMode) (*File, error) {
	if f, err := createUnnamed(dir, perm); err == nil {
		return &File{f: f, dir: dir}, nil
	} else if !unnamedUnsupported(err) {
		return nil, err
	}
	for range 16 {
		name := filepath.Join(dir, ".jailrun-tmp-"+strconv.FormatUint(rand.Uint64(), 36))
		f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
		if err == nil {
			return &File{f: f, dir: dir, name: name}, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return nil, err
		}
	}
	return nil, fmt.Errorf("create in %s: no free temporary name", dir)
}

// Write appends b.
func (t *File) Write(b []byte) (int, error) { return t.f.Write(b) }

// Chmod sets the mode the file will have, exactly (no umask).
func (t *File) Chmod(mode os.FileMode) error { return t.f.Chmod(mode) }

// Chown sets the owner and group the file will have, on its descriptor (never by name). It may clear
// set-id bits: Chmod after it.
func (t *File) Chown(uid, gid int) error { return t.f.Chown(uid, gid) }

// Commit puts the file at path (in Create's directory), replacing what was there. Abort must still be
// called (it is a no-op after a successful Commit).
func (t *File) Commit(path string) error {
	if filepath.Dir(path) != filepath.Clean(t.dir) {
		return fmt.Errorf("atomicfile: %s is not in %s", path, t.dir)
	}
	if t.name == "" {
		name, err := linkUnnamed(t.f, path)
		if err != nil {
			return err
		}
		t.name = name
		if name == "" { // linked at path itself: nothing to rename
			return t.close()
		}
	}
	if err := os.Rename(t.name, path); err != nil {
		return err
	}
	t.name = ""
	return t.close()
}

func (t *File) close() error {
	if t.f == nil {
		return nil
	}
	err := t.f.Close()
	t.f = nil
	return err
}

// Abort removes what Commit did not place: the named temporary file, if any, and the descriptor.
func (t *File) Abort() {
	if t.name != "" {
		os.Remove(t.name)
		t.name = ""
	}
	t.close()
}

// WriteFile is os.WriteFile made atomic as above: a new file gets perm less the umask, an existing regular
// file keeps its mode. Anything else already at path — a symbolic link, /dev/stdout, a FIFO — is written
// through by os.WriteFile itself, since replacing it would not be what the caller named.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	st, err := os.Lstat(path)
	if err == nil && !st.Mode().IsRegular() {
		return os.WriteFile(path, data, perm)
	}
	t, err := Create(filepath.Dir(path), perm)
	if err != nil {
		return err
	}
	defer t.Abort()
	if st != nil {
		if err := t.Chmod(st.Mode().Perm()); err != nil {
			return err
		}
	}
	if _, err := t.Write(data); err != nil {
		return err
	}
	return t.Commit(path)
}
