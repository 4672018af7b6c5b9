// Package procid names a process so that a later process can tell for sure whether it still runs: its pid
// namespace, pid and start time (a reused pid has another start time). The cgroup janitor and degraded mode's
// sweep of private directories judge their owners by it.
package procid

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/sys/unix"
)

// ID identifies a process across pid reuse.
type ID struct {
	PIDNS uint64 // inode of its pid namespace: pids mean something only within one
	PID   int
	Start uint64 // field 22 of /proc/<pid>/stat, clock ticks since boot
}

// String is "<pidns>.<pid>.<start>", the form Parse reads.
func (id ID) String() string {
	return strconv.FormatUint(id.PIDNS, 10) + "." + strconv.Itoa(id.PID) + "." + strconv.FormatUint(id.Start, 10)
}

// Parse reads the form String writes; ok is false for anything else.
func Parse(s string) (id ID, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) != 3 {
		return ID{}, false
	}
	var err error
	if id.PIDNS, err = strconv.ParseUint(parts[0], 10, 64); err != nil {
		return ID{}, false
	}
	pid, err := strconv.ParseUint(parts[1], 10, 31)
	if err != nil || pid == 0 {
		return ID{}, false
	}
	id.PID = int(pid)
	if id.Start, err = strconv.ParseUint(parts[2], 10, 64); err != nil {
		return ID{}, false
	}
	return id, true
}

var self struct {
	once sync.Once
	id   ID
	err  error
}

// Self is this process's ID (worked out once).
func Self() (ID, error) {
	self.once.Do(func() {
		id := ID{PID: os.Getpid()}
		if id.Start, self.err = start("self"); self.err != nil {
			return
		}
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/ns/pid", &st); err != nil {
			self.err = &fs.PathError{Op: "stat", Path: "/proc/self/ns/pid", Err: err}
			return
		}
		id.PIDNS = st.Ino
		self.id = id
	})
	return self.id, self.err
}

// Alive reports whether the process still runs (or is a zombie): the same pid with the same start time. Only
// meaningful for an ID of the caller's pid namespace. A pid that cannot be read for another reason than its
// absence (hidepid) counts as alive: never judge gone what cannot be checked.
func (id ID) Alive() bool {
	s, err := start(strconv.Itoa(id.PID))
	if err != nil {
		return !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ESRCH)
	}
	return s == id.Start
}

func start(pid string) (uint64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	return ParseStatStart(string(b))
}

// ParseStatStart returns field 22 (starttime) of a /proc/<pid>/stat line. The command name (field 2) is in
// parentheses and may itself contain spaces and parentheses, so fields are counted after the last ')'.
func ParseStatStart(stat string) (uint64, error) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, fmt.Errorf("malformed /proc stat line")
	}
	fields := strings.Fields(stat[i+1:])
	// fields[0] is field 3 (state), so field 22 is fields[19].
	if len(fields) < 20 {
		return 0, fmt.Errorf("malformed /proc stat line: %d fields after the name", len(fields))
	}
	return strconv.ParseUint(fields[19], 10, 64)
}
