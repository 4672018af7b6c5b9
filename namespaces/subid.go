package namespaces

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// SubIDRange is a range of subordinate ids an unprivileged user may map into its user namespaces through the
// setuid helpers newuidmap/newgidmap (shadow's /etc/subuid and /etc/subgid).
type SubIDRange struct {
	Start, Count uint32
}

// The files and helpers, at fixed paths: jailrun never looks a setuid helper up in the caller's PATH.
const (
	SubUIDFile = "/etc/subuid"
	SubGIDFile = "/etc/subgid"
)

var helperDirs = []string{"/usr/bin", "/bin", "/usr/sbin", "/sbin"}

// ParseSubIDs returns the ranges that a subuid/subgid file grants to the user with this name or numeric id,
// in file order. Lines are "name-or-id:start:count"; blank lines and #-comments are skipped, as shadow does;
// a malformed line is an error naming it, because a silently skipped line could be the one the operator meant.
func ParseSubIDs(r io.Reader, name string, id uint32) ([]SubIDRange, error) {
	var out []SubIDRange
	sc := bufio.NewScanner(r)
	num := strconv.FormatUint(uint64(id), 10)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || s[0] == '#' {
			continue
		}
		f := strings.Split(s, ":")
		if len(f) != 3 {
			return nil, fmt.Errorf("line %d: want owner:start:count, got %q", line, s)
		}
		start, err1 := strconv.ParseUint(f[1], 10, 32)
		count, err2 := strconv.ParseUint(f[2], 10, 32)
		if err1 != nil || err2 != nil || f[0] == "" {
			return nil, fmt.Errorf("line %d: want owner:start:count with decimal numbers, got %q", line, s)
		}
		if f[0] != name && f[0] != num {
			continue
		}
		// A range that wraps past 2^32-1, or reaches the invalid id (uint32)(-1), cannot be mapped.
		if count == 0 || start+count > 1<<32-1 {
			continue
		}
		out = append(out, SubIDRange{Start: uint32(start), Count: uint32(count)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// LookupSubIDs reads file (SubUIDFile or SubGIDFile) for the user's first usable range. ok is false when the
// file is missing or grants the user nothing; err is set only for a file that exists and cannot be read or
// parsed.
func LookupSubIDs(file, name string, id uint32) (r SubIDRange, ok bool, err error) {
	f, err := os.Open(file)
	if os.IsNotExist(err) {
		return SubIDRange{}, false, nil
	}
	if err != nil {
		return SubIDRange{}, false, err
	}
	defer f.Close()
	rs, err := ParseSubIDs(f, name, id)
	if err != nil {
		return SubIDRange{}, false, fmt.Errorf("%s: %w", file, err)
	}
	for _, x := range rs {
		// Id 0 on the host is root; shadow never hands it out, and jailrun never maps anything to it.
		if x.Start == 0 {
			if x.Count == 1 {
				continue
			}
			x.Start, x.Count = 1, x.Count-1
		}
		return x, true, nil
	}
	return SubIDRange{}, false, nil
}

// FindHelper returns the path of a setuid id-map helper ("newuidmap" or "newgidmap") in the system
// directories, or "" if it is not installed there.
func FindHelper(name string) string {
	for _, d := range helperDirs {
		p := d + "/" + name
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

// HelperArgs is the argument list of newuidmap/newgidmap for a process and its maps: "PID inside host size...".
func HelperArgs(pid int, maps ...IDMap) []string {
	args := []string{strconv.Itoa(pid)}
	for _, m := range maps {
		args = append(args, strconv.FormatUint(uint64(m.Inside), 10), strconv.FormatUint(uint64(m.Host), 10),
			strconv.FormatUint(uint64(m.Size), 10))
	}
	return args
}
