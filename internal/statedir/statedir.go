// Package statedir places the host state a jailrun process leaves for later ones (host id locks, cgroup
// records) where nobody but the caller can write it: a lock file someone else could unlink or pre-create
// would let two sandboxes share an id, and a record someone else could write would have a janitor act on
// what it names.
package statedir

import (
	"fmt"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// Dir is the directory for state of kind sub: under /run/jailrun as root, else in the caller's runtime
// directory ($XDG_RUNTIME_DIR/jailrun, or jailrun-<uid> in the temporary directory).
func Dir(sub string) string {
	if os.Geteuid() == 0 {
		return filepath.Join("/run/jailrun", sub)
	}
	if rt := os.Getenv("XDG_RUNTIME_DIR"); filepath.IsAbs(rt) {
		return filepath.Join(rt, "jailrun", sub)
	}
	return filepath.Join(os.TempDir(), fmt.Sprintf("jailrun-%d", os.Geteuid()), sub)
}

// Ensure creates dir (mode 0700) if it is missing and then does what Check does.
func Ensure(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return Check(dir)
}

// Check verifies that dir and every directory above it are owned by the caller or root and writable by
// nobody else (a sticky directory such as /tmp is fine above dir).
func Check(dir string) error {
	for d := dir; ; d = filepath.Dir(d) {
		var st unix.Stat_t
		if err := unix.Lstat(d, &st); err != nil {
			return err
		}
		mine := st.Uid == uint32(os.Geteuid()) || st.Uid == 0
		sticky := st.Mode&unix.S_ISVTX != 0 && d != dir
		if st.Mode&unix.S_IFMT != unix.S_IFDIR || !mine || (st.Mode&0o022 != 0 && !sticky) {
			return fmt.Errorf("%s must be a directory owned by uid %d (or root) that nobody else can write", d, os.Geteuid())
		}
		if d == "/" || d == "." {
			return nil
		}
	}
}
