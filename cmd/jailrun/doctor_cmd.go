package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/jailrun/jailrun/cgroups"
	"github.com/jailrun/jailrun/internal/statedir"
	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp"
)

// `jailrun doctor`: can this host run a policy (the built-in strict one by default)? Every answer comes from
// trying: trial cgroups with each limit, a clone into a cgroup, a user namespace, the policy's own seccomp
// program checked against the kernel.

type doctorFlags struct {
	policy string
	parent string
	json   bool
}

func addDoctorCmd() {
	var f doctorFlags
	c := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this host can enforce a policy (cgroups, namespaces, seccomp) and say what is missing",
		Long: `Check what this host can enforce: the cgroup mode, which controllers are available and delegated to
jailrun, whether each limit kind can be enforced (by creating a trial cgroup with it), kernel features
(memory.peak, cgroup.kill, pids.peak, CLONE_INTO_CGROUP, user namespaces, seccomp, Landlock), swap and
transparent huge pages, and whether the policy can run here. The "sandbox mode" section says which mode the
policy gets (namespaces, or degraded when user namespaces are blocked and the policy allows it), which knob
blocks user namespaces (kernel.unprivileged_userns_clone, user.max_user_namespaces,
kernel.apparmor_restrict_unprivileged_userns, a seccomp filter or container profile) and how to lift it.

Exits 0 when the policy can run, 121 when it cannot (a limit or feature it requires is missing and not marked
best-effort in its require section).`,
		Example: `  jailrun doctor
  jailrun doctor --json
  jailrun doctor --policy policies/compile.json`,
		Args: cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error { return runDoctor(c.OutOrStdout(), &f) },
	}
	fl := c.Flags()
	fl.StringVarP(&f.policy, "policy", "p", "strict", "policy file, or the name of a built-in policy")
	fl.StringVar(&f.parent, "cgroup-parent", os.Getenv("JAILRUN_CGROUP_PARENT"), "cgroup under which runs are created, as jailrun run's --cgroup-parent (default: a \"jailrun\" child of this process's cgroup, or $JAILRUN_CGROUP_PARENT)")
	fl.BoolVar(&f.json, "json", false, "print the report as JSON")
	rootCmd.AddCommand(c)
}

// doctorReport is the --json output.
type doctorReport struct {
	Policy   string            `json:"policy"`
	CanRun   bool              `json:"can_run"`
	Problems []string          `json:"problems"`
	Cgroups  *cgroups.Report   `json:"cgroups"`
	Host     []cgroups.Feature `json:"host"`
	Seccomp  *cgroups.Feature  `json:"seccomp_program,omitempty"`
	Sandbox  *modeReport       `json:"sandbox"`
}

func runDoctor(out io.Writer, f *doctorFlags) error {
	s, err := loadPolicy(f.policy)
	if err != nil {
		return err
	}
	rep := doctorReport{Policy: s.Name, Cgroups: cgroups.Probe(cgroups.Options{Parent: f.parent, Registry: statedir.Dir("cgroups")}, s.Limits, s.Require)}
	rep.Host = cgroups.HostFeatures()
	rep.Problems = rep.Cgroups.Problems()
	if rep.Cgroups.Error != "" && len(rep.Problems) == 0 {
		for _, l := range rep.Cgroups.Limits {
			if l.Requested && !l.BestEffort {
				rep.Problems = append(rep.Problems, l.Setting+": "+rep.Cgroups.Error)
			}
		}
	}
	// User namespaces, degraded mode and Landlock: the same decision the launcher makes.
	var modeProblems []string
	rep.Sandbox, modeProblems = sandboxMode(s)
	rep.Problems = append(rep.Problems, modeProblems...)
	if s.Seccomp.Enabled {
		rep.Seccomp = seccompCheck(s)
		if !rep.Seccomp.OK && !s.Require.Allows("seccomp") {
			rep.Problems = append(rep.Problems, "seccomp: "+rep.Seccomp.Detail)
		}
	}
	rep.Problems = append(rep.Problems, bindSourceProblems(s)...)
	rep.CanRun = len(rep.Problems) == 0
	if rep.Problems == nil {
		rep.Problems = []string{}
	}
	if f.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			return err
		}
	} else if err := printDoctor(out, &rep); err != nil {
		return err
	}
	if !rep.CanRun {
		return fail(exitUnsupported, "policy %s cannot run on this host: %s", s.Name, strings.Join(rep.Problems, "; "))
	}
	return nil
}

// seccompCheck builds the policy's own filter and asks the kernel whether it supports every action in it.
func seccompCheck(s *policy.Settings) *cgroups.Feature {
	f := &cgroups.Feature{Name: "seccomp_program"}
	prog, err := seccomp.BuildCached(s.Seccomp)
	if err == nil {
		err = prog.CheckKernel()
	}
	if err != nil {
		f.Detail = err.Error()
		return f
	}
	f.OK, f.Detail = true, "the policy's filter builds and the kernel supports all its actions"
	return f
}

func printDoctor(out io.Writer, r *doctorReport) error {
	w := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	c := r.Cgroups
	mode := string(c.Mode)
	switch c.Mode {
	case cgroups.ModeHybrid:
		mode += " (v1 controllers; jailrun uses the v1 hierarchies)"
	case cgroups.ModeNone:
		mode += " (no cgroup filesystem mounted)"
	}
	fmt.Fprintf(w, "kernel\t%s\n", c.Kernel)
	fmt.Fprintf(w, "cgroup mode\t%s\n", mode)
	if len(c.Parent) > 0 {
		fmt.Fprintf(w, "run cgroups under\t%s\n", strings.Join(c.Parent, ", "))
	}
	if c.Error != "" {
		fmt.Fprintf(w, "cgroups\tunusable: %s\n", c.Error)
	}
	fmt.Fprintf(w, "\ncontrollers\tin kernel\tusable by jailrun\n")
	for _, ct := range c.Controllers {
		fmt.Fprintf(w, "  %s\t%s\t%s\n", ct.Name, yesNo(ct.InKernel), okOr(ct.Usable, ct.Detail))
	}
	fmt.Fprintf(w, "\nlimits (policy %s)\tpolicy\tenforceable here\n", r.Policy)
	for _, l := range c.Limits {
		asked := "-"
		if l.Requested {
			asked = "required"
			if l.BestEffort {
				asked = "best-effort"
			}
		}
		status := "no: " + l.Detail
		if l.Enforceable {
			status = "yes: " + l.Detail
		}
		fmt.Fprintf(w, "  %s\t%s\t%s\n", l.Setting, asked, status)
	}
	fmt.Fprintf(w, "\nkernel features\t\n")
	feats := append(append([]cgroups.Feature{}, c.Features...), r.Host...)
	if r.Seccomp != nil {
		feats = append(feats, *r.Seccomp)
	}
	for _, ft := range feats {
		fmt.Fprintf(w, "  %s\t%s\n", ft.Name, okOr(ft.OK, ft.Detail))
	}
	printMode(w, r.Sandbox)
	fmt.Fprintln(w)
	if r.CanRun {
		fmt.Fprintf(w, "policy %s can run here\n", r.Policy)
	} else {
		fmt.Fprintf(w, "policy %s CANNOT run here:\n", r.Policy)
		for _, p := range r.Problems {
			fmt.Fprintf(w, "  - %s\n", p)
		}
	}
	return w.Flush()
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func okOr(ok bool, detail string) string {
	s := "no"
	if ok {
		s = "yes"
	}
	if detail != "" {
		s += ": " + detail
	}
	return s
}

// bindSourceProblems lists the policy's required bind sources that do not exist on this host: every run
// would fail at the mount (exit 125), so the policy cannot run here. (Whether the sandbox's host user can
// open them is decided per run and named in that run's error.)
func bindSourceProblems(s *policy.Settings) []string {
	var out []string
	for i, m := range s.Filesystem.Mounts {
		if m.Kind != policy.MountBind || m.Optional {
			continue
		}
		if _, err := os.Stat(m.Src); errors.Is(err, fs.ErrNotExist) {
			out = append(out, fmt.Sprintf("filesystem.mounts[%d]: the bind source %s does not exist on this host (create it, or mark the mount \"optional\")", i, m.Src))
		}
	}
	return out
}
