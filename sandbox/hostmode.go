package sandbox

import (
	"fmt"
	"strings"

	"github.com/jailrun/jailrun/policy"
)

// UsernsStatus says whether this process can create user namespaces and, when it cannot, why and how to
// lift the restriction. `jailrun doctor` prints it; the launcher puts it in its refusal.
type UsernsStatus struct {
	Available bool `json:"available"`
	// Err is what the probe saw: the clone's errno, or that the namespace grants no capabilities.
	Err string `json:"error,omitempty"`
	// Blockers name the knobs or environment that explain it, each with its fix.
	Blockers []Blocker `json:"blockers,omitempty"`
}

// NamespaceStatus says whether this host can create one kind of namespace a policy asks for
// (ProbeNamespaces); Err says why not, with the fix, and Skipped that a run goes on without it
// (policy.NamespaceKind.MayDrop) instead of being refused.
type NamespaceStatus struct {
	Setting   string `json:"setting"`
	Available bool   `json:"available"`
	Err       string `json:"error,omitempty"`
	Skipped   bool   `json:"skipped,omitempty"`
}

// Blocker is one reason user namespaces are unavailable and how to lift it.
type Blocker struct {
	Knob string `json:"knob"`
	What string `json:"what"`
	Fix  string `json:"fix"`
}

// Container says whether jailrun itself runs inside a container, and which signs tell.
type Container struct {
	Inside bool     `json:"inside"`
	Signs  []string `json:"signs,omitempty"`
	// Seccomp is the Seccomp mode of this process from /proc/self/status: 0 none, 1 strict, 2 filter.
	Seccomp string `json:"seccomp"`
	// CapSysAdmin: this process has CAP_SYS_ADMIN in its effective set.
	CapSysAdmin bool `json:"cap_sys_admin"`
}

// Explain is one line: the error, then each blocker with its fix.
func (s UsernsStatus) Explain() string {
	var parts []string
	for _, b := range s.Blockers {
		parts = append(parts, fmt.Sprintf("%s %s (fix: %s)", b.Knob, b.What, b.Fix))
	}
	return s.Err + "; " + strings.Join(parts, "; ")
}

// The kinds of sandbox a host can give a policy. A result's mode is ModeNamespaces or ModeDegraded (a run
// without the user namespace only is ModeNamespaces, with namespaces.user in skipped); jailrun doctor also
// names ModeWithoutUser and ModeRefused.
const (
	ModeNamespaces  = "namespaces"
	ModeDegraded    = "degraded"
	ModeWithoutUser = "namespaces-without-user"
	ModeRefused     = "refused"
)

// HostFacts are what DecideMode needs to know about the host: the caller probes them (ProbeUserns,
// LandlockABI), DecideMode only reasons.
type HostFacts struct {
	// UID is jailrun's effective uid; Root says it is 0.
	UID  int
	Root bool
	// Userns is whether this process can create a user namespace.
	Userns UsernsStatus
	// Landlock is why Landlock is unavailable, nil when the kernel has it.
	Landlock error
}

// ModeDecision is the kind of sandbox a policy gets on a host, and why.
type ModeDecision struct {
	Mode string
	// Why is one line: why this mode, or for ModeRefused the refusal with its fix (Err's text without the
	// ErrUnsupported prefix).
	Why string
	// Err is the launcher's refusal when Mode is ModeRefused (matching ErrUnsupported).
	Err error
}

// DecideMode decides between a normal run, a run without the user namespace (root on a host that refuses
// them, allowed by the policy), degraded mode (no namespaces, allowed by the policy) and a refusal. The
// launcher makes this decision before anything is created, and jailrun doctor reports it: one function, so
// that what doctor says is what a run does.
func DecideMode(s *policy.Settings, h HostFacts) ModeDecision {
	refuse := func(err error) ModeDecision {
		return ModeDecision{Mode: ModeRefused, Why: strings.TrimPrefix(err.Error(), ErrUnsupported.Error()+": "), Err: err}
	}
	st := h.Userns
	switch {
	case !s.Namespaces.User && !h.Root:
		return refuse(fmt.Errorf("%w: namespaces.user is off, which needs root; jailrun runs as uid %d", ErrUnsupported, h.UID))
	case !s.Namespaces.User:
		return ModeDecision{Mode: ModeWithoutUser, Why: "the policy turns the user namespace off; jailrun is root"}
	case st.Available:
		return ModeDecision{Mode: ModeNamespaces, Why: fmt.Sprintf("user namespaces work as uid %d: every namespace the policy asks for", h.UID)}
	case h.Root:
		// Root needs no user namespace for the others: only that one is missing.
		if !s.Require.Allows("namespaces.user") {
			return refuse(fmt.Errorf("%w: namespaces.user: this host refuses user namespaces even to root: %s (or list namespaces.user in require.best_effort to run without one; process.uid is then a host id)", ErrUnsupported, st.Explain()))
		}
		return ModeDecision{Mode: ModeWithoutUser, Why: "user namespaces are refused even to root; the policy allows namespaces.user to be skipped"}
	}
	var refused []string
	for _, k := range policy.NamespaceKinds {
		if k.On(s.Namespaces) && !s.Require.Allows(k.Setting()) {
			refused = append(refused, k.Setting())
		}
	}
	switch {
	case len(refused) > 0:
		return refuse(fmt.Errorf("%w: namespaces.user: jailrun runs as uid %d and this host does not let it create a user namespace: %s. Without one no namespace can be made, so the run is refused; to run in degraded mode instead (seccomp, Landlock, rlimits, no_new_privs, but no pid, mount or network isolation), the policy must list \"namespaces\" in require.best_effort (not allowed now: %s)",
			ErrUnsupported, h.UID, st.Explain(), strings.Join(refused, ", ")))
	// Landlock is the only filesystem isolation left: without it the command would see the whole host.
	case s.Filesystem.Landlock == policy.LandlockOff:
		return refuse(fmt.Errorf("%w: degraded mode (no user namespaces here: %s) needs the Landlock layer, and filesystem.landlock is \"off\"", ErrUnsupported, st.Err))
	case h.Landlock != nil:
		return refuse(fmt.Errorf("%w: degraded mode (no user namespaces here: %s) needs Landlock for filesystem isolation, and %w", ErrUnsupported, st.Err, h.Landlock))
	case !s.Process.NoNewPrivs:
		return refuse(fmt.Errorf("%w: degraded mode needs process.no_new_privs (Landlock and seccomp without privileges)", ErrUnsupported))
	}
	return ModeDecision{Mode: ModeDegraded, Why: "no user namespaces (" + st.Err + "); the policy allows running without them: seccomp, Landlock, rlimits and no_new_privs, but no pid, mount or network isolation"}
}
