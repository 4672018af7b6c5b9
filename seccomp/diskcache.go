package seccomp

import "github.com/jailrun/jailrun/policy"

// BuildDiskCached is BuildCachedWith backed by an on-disk cache of compiled programs, for processes that
// start cold (the CLI compiles one filter per process, about a millisecond of libseccomp). Only root uses
// the disk: entries live in /run/jailrun/bpf, keyed by a hash of s, o, the architecture, the libseccomp
// version and this binary's Go build ID, and are used only when the directory chain and the file are
// root's and writable by no one else, the file is regular, and its content carries the key and a
// checksum (diskcache_linux.go). Anything else — a miss, a foreign or corrupt entry, another uid — compiles
// as BuildWith does, and a root process then stores the result atomically (an unnamed file linked in when
// complete: nothing is left behind by a writer that is killed).
func BuildDiskCached(s policy.Seccomp, o Options) (*Program, error) {
	key, ok := memoryKey(s, o)
	if !ok {
		return BuildWith(s, o)
	}
	if p := memoryGet(key); p != nil {
		return p, nil
	}
	p, _, err := systemDiskCache().loadOrBuild(key, func() (*Program, error) { return BuildWith(s, o) })
	if err != nil {
		return nil, err
	}
	return memoryPut(key, p), nil
}

// CheckDiskCached is CheckCached for a launcher that can use root's disk cache: the section as written is
// compiled once and kept there, so a later process finds it compiled instead of checking it again (a
// fresh CLI process spent a quarter of a millisecond or more on the check). A section that passes Check but
// that libseccomp would not compile fails here, which is earlier than the supervisor's first refused call.
// Without the disk cache (rootless) it is CheckCached.
func CheckDiskCached(s policy.Seccomp) error {
	if systemDiskCache() == nil {
		return CheckCached(s)
	}
	_, err := BuildDiskCached(s, Options{})
	return err
}
