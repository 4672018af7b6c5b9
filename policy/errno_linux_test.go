//go:build linux

package policy

import (
	"testing"

	"golang.org/x/sys/unix"
)

// The errno table is hand-kept so that policies mean the same on every system; check it against x/sys,
// which is generated from the kernel's headers: every name x/sys knows is in it, with x/sys's value.
func TestErrnoTableMatchesXSys(t *testing.T) {
	for v := 1; v <= maxErrno; v++ {
		name := unix.ErrnoName(unix.Errno(v))
		if name == "" {
			if errnoName(uint16(v)) != "" {
				t.Errorf("errno %d: table says %s, x/sys knows no name", v, errnoName(uint16(v)))
			}
			continue
		}
		if got, ok := errnoByName(name); !ok || int(got) != v {
			t.Errorf("%s: table has %d, %v; x/sys %d", name, got, ok, v)
		}
		if errnoName(uint16(v)) == "" {
			t.Errorf("errno %d (%s) has no name in the table", v, name)
		}
	}
	for name, v := range map[string]unix.Errno{"EWOULDBLOCK": unix.EWOULDBLOCK, "EDEADLOCK": unix.EDEADLOCK,
		"ENOTSUP": unix.ENOTSUP, "EOPNOTSUPP": unix.EOPNOTSUPP, "EUCLEAN": unix.EUCLEAN, "EFSCORRUPTED": unix.EFSCORRUPTED} {
		if got, ok := errnoByName(name); !ok || got != uint16(v) {
			t.Errorf("%s = %d, %v; x/sys %d", name, got, ok, v)
		}
	}
}
