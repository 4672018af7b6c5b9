//go:build linux && cgo

package sandbox

/*
#include "probe_linux.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

// errUsernsNoCaps: a user namespace can be created but gives no capabilities inside.
var errUsernsNoCaps = fmt.Errorf("a user namespace can be created but grants no capabilities inside (kernel.apparmor_restrict_unprivileged_userns)")

// probeUserns reports whether this process can create a user namespace and use capabilities in it.
func probeUserns() error {
	switch r := probeNS(unix.CLONE_NEWUSER, unix.CLONE_NEWNS); {
	case r == 0:
		return nil
	case r > 0:
		return errUsernsNoCaps
	default:
		return unix.Errno(-r)
	}
}

// probeNS runs jr_probe_ns: a throw-away child, cloned without the memory it never touches (it runs C only).
func probeNS(outer, inner uint64) int {
	var r C.int
	cloneLean(nil, func() { r = C.jr_probe_ns(C.ulong(outer), C.ulong(inner)) })
	return int(r)
}

// probeKind reports whether this process can create a namespace of kind k the way a sandbox does: inside a
// new user namespace unless the policy runs without one (root only).
func probeKind(k policy.NamespaceKind, withUser bool) error {
	if k.Name == "user" {
		return probeUserns()
	}
	outer := uint64(0)
	if withUser {
		outer = unix.CLONE_NEWUSER
	}
	switch r := probeNS(outer, k.Clone); {
	case r == 0:
		return nil
	case r > 0 && r < 255:
		return unix.Errno(r)
	case r < 0:
		return unix.Errno(-r) // the user namespace itself: ProbeUserns explains that
	default:
		return errors.New("the probe died")
	}
}

// ProbeNamespaces tries, in throw-away children, each namespace kind s asks for besides the user namespace
// (ProbeUserns's question, which DecideMode settles), and says which this host cannot create, why, and
// whether a run would go on without it. jailrun doctor prints it; a launch whose clone fails asks the same
// question (cloneRefused) to name the kind.
func ProbeNamespaces(s *policy.Settings) []NamespaceStatus {
	var out []NamespaceStatus
	for _, k := range policy.NamespaceKinds {
		if k.Name == "user" || !k.On(s.Namespaces) {
			continue
		}
		st := NamespaceStatus{Setting: k.Setting(), Available: true}
		if err := probeKind(k, s.Namespaces.User); err != nil {
			st.Available, st.Err, st.Skipped = false, namespaceProblem(k, err), k.MayDrop(s.Require)
		}
		out = append(out, st)
	}
	return out
}

// namespaceProblem says why a namespace of kind k could not be made, with the fix, in one line.
func namespaceProblem(k policy.NamespaceKind, err error) string {
	if errors.Is(err, errUsernsNoCaps) {
		return "a user namespace can be created but grants no capabilities inside (see jailrun doctor's user namespaces)"
	}
	orSkip := ""
	if k.Droppable {
		orSkip = ", or list " + k.Setting() + " in require.best_effort to run without it"
	}
	switch {
	case errors.Is(err, unix.EINVAL):
		return fmt.Sprintf("%v: this kernel cannot create %s namespaces (built without them?); remove %s from the policy%s", err, k.Name, k.Setting(), orSkip)
	case errors.Is(err, unix.ENOSPC), errors.Is(err, unix.EUSERS):
		// /proc/sys/user names the mount namespace's limit "mnt".
		limit := procSysUser + "/max_" + strings.Replace(k.Name, "mount", "mnt", 1) + "_namespaces"
		if b, rerr := os.ReadFile(limit); rerr == nil {
			limit += " is " + strings.TrimSpace(string(b))
		}
		return fmt.Sprintf("%v: the limit on %s namespaces is reached (%s); raise it%s", err, k.Name, limit, orSkip)
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		return fmt.Sprintf("%v: creating %s namespaces is refused here (a seccomp filter or LSM around jailrun, or a container runtime's profile); allow it%s", err, k.Name, orSkip)
	}
	return fmt.Sprintf("%v: %s namespaces cannot be created here", err, k.Name)
}

// cloneRefused runs after clone3 failed: it probes the namespace kinds the clone asked for (not the user
// namespace, which DecideMode settled before) and returns those this host cannot create, with why.
func cloneRefused(s *policy.Settings, flags uint64) (missing []policy.NamespaceKind, why []string) {
	for _, k := range policy.NamespaceKinds {
		if k.Name == "user" || flags&k.Clone == 0 {
			continue
		}
		if err := probeKind(k, s.Namespaces.User); err != nil {
			missing = append(missing, k)
			why = append(why, k.Setting()+": "+namespaceProblem(k, err))
		}
	}
	return missing, why
}
