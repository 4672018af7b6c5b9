package sandbox

import (
	"fmt"
	"strings"
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
