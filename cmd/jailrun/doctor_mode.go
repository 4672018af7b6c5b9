package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// modeReport is which kind of sandbox this host can give the policy, and why.
type modeReport struct {
	// Mode: "namespaces" (full isolation), "namespaces-without-user" (root on a host that refuses user
	// namespaces, allowed by the policy), "degraded" (no namespaces, allowed by the policy), or "refused".
	Mode        string               `json:"mode"`
	Why         string               `json:"why"`
	Userns      sandbox.UsernsStatus `json:"user_namespaces"`
	LandlockABI int                  `json:"landlock_abi"`
	Landlock    string               `json:"landlock"`
	Container   sandbox.Container    `json:"container"`
	// IDs is what the sandbox's user and group map to on the host; IDsErr is set instead when
	// $JAILRUN_ID_MAP asks for a mapping this host cannot provide.
	IDs    *sandbox.IDMappingInfo `json:"id_mapping,omitempty"`
	IDsErr string                 `json:"id_mapping_error,omitempty"`
	// Namespaces: each kind the policy asks for, tried in a throw-away child (in namespaces modes).
	Namespaces []sandbox.NamespaceStatus `json:"namespaces,omitempty"`
}

// sandboxMode probes this host and reports the launcher's own decision (sandbox.DecideMode) without running
// anything.
func sandboxMode(s *policy.Settings) (*modeReport, []string) {
	var problems []string
	r := &modeReport{Userns: sandbox.ProbeUserns(), Container: sandbox.DetectContainer()}
	abi, llErr := sandbox.LandlockABI()
	r.LandlockABI = abi
	if ids, err := sandbox.ResolveIDMapping(sandbox.Options{IDMapping: envIDMapping(), HostIDs: envHostIDs()}); err != nil {
		r.IDsErr = err.Error()
		problems = append(problems, "id mapping: "+err.Error())
	} else {
		r.IDs = &ids
	}
	switch {
	case llErr != nil:
		r.Landlock = "unavailable: " + llErr.Error()
		if s.Filesystem.Landlock == policy.LandlockRequire {
			problems = append(problems, "filesystem.landlock: \"require\", but "+llErr.Error())
		}
	case s.Filesystem.Landlock == policy.LandlockOff:
		r.Landlock = fmt.Sprintf("ABI %d; not used (filesystem.landlock \"off\")", abi)
	default:
		r.Landlock = fmt.Sprintf("ABI %d; applied (filesystem.landlock %q)", abi, s.Filesystem.Landlock)
	}
	d := sandbox.DecideMode(s, sandbox.HostFacts{UID: os.Geteuid(), Root: os.Geteuid() == 0, Userns: r.Userns, Landlock: llErr})
	r.Mode, r.Why = d.Mode, d.Why
	if d.Mode == sandbox.ModeRefused {
		problems = append(problems, d.Why)
	}
	if d.Mode == sandbox.ModeNamespaces || d.Mode == sandbox.ModeWithoutUser {
		// The launcher asks the same question only when a clone fails, and skips what the status says it skips.
		r.Namespaces = sandbox.ProbeNamespaces(s)
		for _, ns := range r.Namespaces {
			if !ns.Available && !ns.Skipped {
				problems = append(problems, ns.Setting+": "+ns.Err)
			}
		}
	}
	return r, problems
}

func printMode(w io.Writer, r *modeReport) {
	fmt.Fprintf(w, "\nsandbox mode\t%s\n", r.Mode)
	fmt.Fprintf(w, "  why\t%s\n", r.Why)
	if r.Userns.Available {
		fmt.Fprintf(w, "  user namespaces\tyes\n")
	} else {
		fmt.Fprintf(w, "  user namespaces\tno: %s\n", r.Userns.Err)
		for _, b := range r.Userns.Blockers {
			fmt.Fprintf(w, "    blocked by\t%s %s\n", b.Knob, b.What)
			fmt.Fprintf(w, "    fix\t%s\n", b.Fix)
		}
	}
	switch {
	case r.IDs == nil:
		fmt.Fprintf(w, "  id mapping\t%s\n", r.IDsErr)
	case r.IDs.Kind == "fixed":
		fmt.Fprintf(w, "  id mapping\tthe sandbox's user is host uid %d, gid %d (jailrun is root)\n", r.IDs.HostUID, r.IDs.HostGID)
	case r.IDs.Kind == "allocated":
		fmt.Fprintf(w, "  id mapping\teach live sandbox gets its own host uid and gid from %s, which owns its user namespace (jailrun is root)\n", r.IDs.Range)
	case r.IDs.Kind == "subordinate" && r.IDs.Range != nil && r.IDs.Range.Size() > 1:
		fmt.Fprintf(w, "  id mapping\tyour subordinate ids, one pair per live sandbox: host uid %d-%d, gid from %d (newuidmap/newgidmap)\n", r.IDs.Range.Start, r.IDs.Range.End, r.IDs.HostGID)
	case r.IDs.Kind == "subordinate":
		fmt.Fprintf(w, "  id mapping\tyour subordinate ids: host uid %d, gid %d (newuidmap/newgidmap)\n", r.IDs.HostUID, r.IDs.HostGID)
	default:
		fmt.Fprintf(w, "  id mapping\tyour own uid %d, gid %d: the sandbox can write what you can write in its writable bind mounts\n", r.IDs.HostUID, r.IDs.HostGID)
		if r.IDs.Why != "" {
			fmt.Fprintf(w, "    subordinate ids\tnot used: %s\n", r.IDs.Why)
		}
	}
	for _, ns := range r.Namespaces {
		if ns.Available {
			fmt.Fprintf(w, "  %s\tyes\n", ns.Setting)
		} else if ns.Skipped {
			fmt.Fprintf(w, "  %s\tno, skipped (require.best_effort): %s\n", ns.Setting, ns.Err)
		} else {
			fmt.Fprintf(w, "  %s\tno: %s\n", ns.Setting, ns.Err)
		}
	}
	fmt.Fprintf(w, "  landlock\t%s\n", r.Landlock)
	c := r.Container
	in := "no"
	if c.Inside {
		in = "yes: " + strings.Join(c.Signs, ", ")
	}
	fmt.Fprintf(w, "  in a container\t%s\n", in)
	fmt.Fprintf(w, "  seccomp mode of jailrun\t%s (0 none, 2 a filter around jailrun)\n", c.Seccomp)
	fmt.Fprintf(w, "  CAP_SYS_ADMIN\t%s\n", yesNo(c.CapSysAdmin))
}
