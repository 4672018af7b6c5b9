//go:build linux && cgo

package sandbox

import (
	"fmt"

	"github.com/jailrun/jailrun/namespaces"
	"github.com/jailrun/jailrun/policy"
)

// hostFacts is what a launch plan depends on besides the policy and the command, settled before planning
// (by Runner.initPlatform and launch.allocateIDs), so that planning itself reads nothing of the host.
type hostFacts struct {
	// Root: jailrun runs as root. IDKind is how the Runner maps the sandbox's ids (IDMappingInfo.Kind).
	Root   bool
	IDKind string
	// RunIDs are this run's host ids: its own allocated ones, or the Runner's.
	RunIDs IDMappingInfo
}

// planSpawn is the launch's plan stage: the child's configuration as policy s and the command decide it on
// a host with facts h. It is pure: no file, process or kernel object is created or read, so that its
// output can be compared with golden files (plan_linux_test.go) and the benchmarks launch exactly what
// production launches. argv nil plans a pooled sandbox, whose command arrives later; env is the caller's
// environment, of which only the policy's process.env_allow crosses.
//
// What the plan does not hold is added by prepare from the host: the seccomp program, the Landlock layer,
// the kernel-limit sysctls this kernel has, the cgroup fd, the control pipes and the box.
func planSpawn(s *policy.Settings, h hostFacts, argv, env []string) (*spawnConfig, error) {
	plan, err := namespaces.BuildPlan(s.Filesystem)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrPolicy, err)
	}
	ids := h.RunIDs
	cfg := &spawnConfig{
		cloneFlags: namespaces.CloneFlags(s.Namespaces),
		cgroupFD:   -1,
		ctlFD:      -1,
		plan:       plan,
		userns:     s.Namespaces.User,
		setGroups:  h.Root || h.IDKind == "subordinate",
		// See spawn_linux.c: with a subordinate uid, the command is not dumpable when the parent takes its
		// seccomp listener.
		listenerDumpable: !h.Root && h.IDKind == "subordinate",
		uid:              s.Process.UID,
		gid:              s.Process.GID,
		hostname:         s.Process.Hostname,
		loopbackUp:       s.Network.LoopbackUp,
		umask:            s.Process.Umask,
		noNewPrivs:       s.Process.NoNewPrivs,
		workdir:          s.Filesystem.Workdir,
		allowed:          s.Command.AllowedCommands,
		// The user namespace belongs to the run's host uid (its own allocated one, or the fixed one a library
		// caller such as jailrun isolate chose), so that the kernel's per-user budgets at the host level are
		// charged to it and never to root (see hostids_linux.go).
		owner:    h.Root && s.Namespaces.User && (ids.Kind == "allocated" || ids.Kind == "fixed") && ids.HostUID != 0,
		ownerUID: ids.HostUID,
		ownerGID: ids.HostGID,
	}
	if !s.Namespaces.Mount {
		cfg.plan = nil
	}
	if !s.Namespaces.UTS {
		cfg.hostname = ""
	}
	if s.Namespaces.Cgroup {
		cfg.unshareCgroup = true
	}
	for _, rl := range s.Rlimits {
		cfg.rlimits = append(cfg.rlimits, [3]uint64{uint64(rl.Resource), rl.Soft, rl.Hard})
	}
	if argv != nil {
		cfg.path, cfg.search, cfg.argv, cfg.envp = planCommand(s, argv, env)
	}
	return cfg, nil
}

// planCommand is the request's part of the child's configuration: the program, its PATH, argv and
// environment.
func planCommand(s *policy.Settings, argv, env []string) (path string, search, args, envp []string) {
	envp = buildEnv(&s.Process, env)
	return argv[0], searchPath(envp), argv, envp
}
