package syscalls

import "sort"

// groups maps a group name ("@basic-io") to its members, in the spirit of systemd's SystemCallFilter= sets.
// A member may itself be a group. Members that do not exist on an architecture are skipped there.
var groups = map[string][]string{
	// Filled in by the seccomp work; see docs/seccomp.md for what each group is for.
}

// Group expands a group name into syscall names (recursively, de-duplicated, sorted).
func Group(name string) ([]string, bool) {
	if _, ok := groups[name]; !ok {
		return nil, false
	}
	seen := map[string]bool{}
	var walk func(string)
	walk = func(g string) {
		for _, m := range groups[g] {
			if _, isGroup := groups[m]; isGroup {
				walk(m)
			} else {
				seen[m] = true
			}
		}
	}
	walk(name)
	out := make([]string, 0, len(seen))
	for m := range seen {
		out = append(out, m)
	}
	sort.Strings(out)
	return out, true
}

// GroupNames lists the known groups, sorted.
func GroupNames() []string {
	out := make([]string, 0, len(groups))
	for g := range groups {
		out = append(out, g)
	}
	sort.Strings(out)
	return out
}

// constants are named values a policy may use in argument conditions and errno actions.
var constants = map[string]uint64{
	"AF_UNIX": 1, "AF_INET": 2, "AF_INET6": 10, "AF_NETLINK": 16, "AF_PACKET": 17,
	"TIOCSTI": 0x5412,
	"EPERM":   1, "ENOENT": 2, "EACCES": 13, "EAFNOSUPPORT": 97, "ENOSYS": 38,
}

// Constant returns the value of a named constant (AF_UNIX, TIOCSTI, CLONE_NEWUSER, EPERM, ...).
func Constant(name string) (uint64, bool) {
	v, ok := constants[name]
	return v, ok
}
