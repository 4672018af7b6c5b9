//go:build linux && cgo

package sandbox

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/jailrun/jailrun/namespaces"
	"github.com/jailrun/jailrun/policy"
)

// ResolveIDMapping settles what a Runner with these options would map the sandbox's ids to, as NewRunner
// does: `jailrun doctor` prints it. With IDMapSubordinate on a host that cannot provide subordinate ids the
// error wraps ErrUnsupported and says what is missing.
func ResolveIDMapping(o Options) (IDMappingInfo, error) {
	m, err := ParseIDMapping(string(o.IDMapping))
	if err != nil {
		return IDMappingInfo{}, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	o.IDMapping = m
	if os.Geteuid() == 0 {
		o = o.withDefaults()
		if o.HostUID != 0 {
			// 65534 (nobody) is the historical shared id, in /etc/passwd by design; any other fixed id must be
			// nobody's on this host.
			for _, id := range []uint32{o.HostUID, o.HostGID} {
				if id == 65534 {
					continue
				}
				if err := CheckHostIDRange(IDRange{Start: id, End: id}); err != nil {
					return IDMappingInfo{}, fmt.Errorf("fixed host id %d (Options.HostUID/HostGID): %w", id, err)
				}
			}
			return IDMappingInfo{Kind: "fixed", HostUID: o.HostUID, HostGID: o.HostGID}, nil
		}
		if err := checkHostIDRange(o.HostIDs); err != nil {
			return IDMappingInfo{}, err
		}
		rg := o.HostIDs
		return IDMappingInfo{Kind: "allocated", HostUID: rg.Start, HostGID: rg.Start, Range: &rg}, nil
	}
	caller := IDMappingInfo{Kind: "caller", HostUID: uint32(os.Getuid()), HostGID: uint32(os.Getgid())}
	if o.IDMapping == IDMapCaller {
		return caller, nil
	}
	sub, why := subordinateIDs()
	if why == "" {
		return sub, nil
	}
	if o.IDMapping == IDMapSubordinate {
		return IDMappingInfo{}, fmt.Errorf("%w: subordinate id mapping: %s", ErrUnsupported, why)
	}
	caller.Why = why
	return caller, nil
}

// subordinateIDs finds the caller's first subordinate uid and gid and the setuid helpers that may map them;
// why is non-empty, with the fix, when something is missing.
func subordinateIDs() (info IDMappingInfo, why string) {
	uid := uint32(os.Getuid())
	name := strconv.FormatUint(uint64(uid), 10)
	if u, err := user.LookupId(name); err == nil {
		name = u.Username
	}
	info = IDMappingInfo{Kind: "subordinate", newuidmap: namespaces.FindHelper("newuidmap"), newgidmap: namespaces.FindHelper("newgidmap")}
	if info.newuidmap == "" || info.newgidmap == "" {
		return info, "newuidmap/newgidmap are not installed (Debian, Ubuntu: apt-get install uidmap; Fedora: shadow-utils)"
	}
	count := uint32(0)
	for _, f := range []struct {
		file, flag string
		dst        *uint32
	}{{namespaces.SubUIDFile, "--add-subuids", &info.HostUID}, {namespaces.SubGIDFile, "--add-subgids", &info.HostGID}} {
		r, ok, err := namespaces.LookupSubIDs(f.file, name, uid)
		if err != nil {
			return info, err.Error()
		}
		if !ok {
			return info, fmt.Sprintf("%s grants user %s no range (as root: usermod %s 100000-165535 %s)", f.file, name, f.flag, name)
		}
		*f.dst = r.Start
		if count == 0 || r.Count < count {
			count = r.Count
		}
	}
	// Each live sandbox takes its own index into both ranges (see hostids_linux.go).
	info.Range = &IDRange{Start: info.HostUID, End: info.HostUID + count - 1}
	return info, ""
}

// writeIDMaps maps the sandbox's one user and group to the Runner's host ids. A privileged parent writes the
// maps itself and leaves setgroups allowed so the child can clear its supplementary groups. An unprivileged
// one either has newuidmap/newgidmap map subordinate ids (which leaves setgroups allowed too), or maps its own
// ids, and then must deny setgroups before it may write a gid map (the groups it had stay, shown as nogroup
// inside).
func writeIDMaps(pid int, p policy.Process, ids *IDMappingInfo) error {
	um := namespaces.IDMap{Inside: p.UID, Host: ids.HostUID, Size: 1}
	gm := namespaces.IDMap{Inside: p.GID, Host: ids.HostGID, Size: 1}
	if ids.Kind == "subordinate" {
		// The two helpers write different files and are the whole cost of this mapping: run them side by side.
		gerr := make(chan error, 1)
		go func() { gerr <- runIDHelper(ids.newgidmap, pid, gm) }()
		uerr := runIDHelper(ids.newuidmap, pid, um)
		if err := <-gerr; uerr == nil {
			return err
		}
		return uerr
	}
	base := "/proc/" + strconv.Itoa(pid)
	if err := os.WriteFile(base+"/uid_map", []byte(um.String()), 0); err != nil {
		return fmt.Errorf("uid_map: %w", err)
	}
	if ids.Kind == "caller" {
		if err := os.WriteFile(base+"/setgroups", []byte("deny"), 0); err != nil {
			return fmt.Errorf("setgroups: %w", err)
		}
	}
	if err := os.WriteFile(base+"/gid_map", []byte(gm.String()), 0); err != nil {
		return fmt.Errorf("gid_map: %w", err)
	}
	return nil
}

// runIDHelper runs newuidmap or newgidmap with an empty environment: it is setuid root, and nothing of the
// caller's needs to reach it.
func runIDHelper(path string, pid int, m namespaces.IDMap) error {
	cmd := exec.Command(path, namespaces.HelperArgs(pid, m)...)
	cmd.Env = []string{}
	out, err := cmd.CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("%s %d %d %d: %s", filepath.Base(path), m.Inside, m.Host, m.Size, msg)
	}
	return nil
}
