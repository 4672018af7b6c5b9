//go:build linux && cgo

package sandbox

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

func readTrim(path string) (string, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}

// DetectContainer looks for the usual signs of running in a container.
func DetectContainer() Container {
	var c Container
	for _, f := range []string{"/.dockerenv", "/run/.containerenv"} {
		if _, err := os.Stat(f); err == nil {
			c.Signs = append(c.Signs, f+" exists")
		}
	}
	if v := os.Getenv("container"); v != "" {
		c.Signs = append(c.Signs, "container="+v+" in the environment")
	}
	if _, err := os.Stat("/var/run/secrets/kubernetes.io"); err == nil {
		c.Signs = append(c.Signs, "a Kubernetes service account is mounted")
	}
	if st, ok := readTrim("/proc/self/status"); ok {
		for _, line := range strings.Split(st, "\n") {
			if v, ok := strings.CutPrefix(line, "Seccomp:"); ok {
				c.Seccomp = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "CapEff:"); ok {
				var caps uint64
				fmt.Sscanf(strings.TrimSpace(v), "%x", &caps)
				c.CapSysAdmin = caps&(1<<unix.CAP_SYS_ADMIN) != 0
			}
		}
	}
	c.Inside = len(c.Signs) > 0
	return c
}

// ProbeUserns tries what a sandbox needs (a user namespace with capabilities inside it) and explains a
// failure from the host's knobs.
func ProbeUserns() UsernsStatus {
	err := probeUserns()
	if err == nil {
		return UsernsStatus{Available: true}
	}
	st := UsernsStatus{Err: err.Error()}
	if errors.Is(err, errUsernsNoCaps) {
		st.Err = "a user namespace can be created but grants no capabilities inside"
	} else {
		st.Err = "clone(CLONE_NEWUSER): " + err.Error()
	}
	root := os.Geteuid() == 0
	if v, ok := readTrim("/proc/sys/user/max_user_namespaces"); ok && v == "0" {
		st.Blockers = append(st.Blockers, Blocker{"user.max_user_namespaces", "is 0: no user namespaces at all, even for root",
			"sysctl -w user.max_user_namespaces=15000 (persist it in /etc/sysctl.d/)"})
	}
	if v, ok := readTrim("/proc/sys/kernel/unprivileged_userns_clone"); ok && v == "0" && !root {
		st.Blockers = append(st.Blockers, Blocker{"kernel.unprivileged_userns_clone", "is 0 (Debian/Ubuntu kernels): only root may create user namespaces",
			"sysctl -w kernel.unprivileged_userns_clone=1 (persist it in /etc/sysctl.d/)"})
	}
	if v, ok := readTrim("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" && !root {
		st.Blockers = append(st.Blockers, Blocker{"kernel.apparmor_restrict_unprivileged_userns", "is 1 (Ubuntu 23.10+): unconfined programs get user namespaces without capabilities",
			"give jailrun an AppArmor profile with the \"userns,\" rule (/etc/apparmor.d/jailrun: profile jailrun /usr/local/bin/jailrun flags=(unconfined) { userns, }), or sysctl -w kernel.apparmor_restrict_unprivileged_userns=0"})
	}
	c := DetectContainer()
	if c.Seccomp == "2" && len(st.Blockers) == 0 {
		fix := "run the container with a seccomp profile that allows unshare, clone and clone3 with namespace flags (docker run --security-opt seccomp=unconfined, or a custom profile); Kubernetes: securityContext.seccompProfile"
		what := "a seccomp filter around jailrun (its parent, a container runtime or a service manager) refuses namespace creation"
		if !c.Inside {
			fix = "run jailrun outside that filter (check the service manager's SystemCallFilter= or the parent process)"
		}
		st.Blockers = append(st.Blockers, Blocker{"seccomp filter (Seccomp: 2 in /proc/self/status)", what, fix})
	}
	if c.Inside && len(st.Blockers) == 0 {
		st.Blockers = append(st.Blockers, Blocker{"container (" + strings.Join(c.Signs, ", ") + ")",
			"the container runtime's profile (seccomp, AppArmor, or a user namespace already at its nesting limit) refuses it",
			"docker run --security-opt seccomp=unconfined --security-opt apparmor=unconfined, or Podman's --security-opt label=disable; see docs/rootless.md"})
	}
	if len(st.Blockers) == 0 {
		st.Blockers = append(st.Blockers, Blocker{"unknown", "no known knob explains it (an LSM policy, or the kernel lacks CONFIG_USER_NS)",
			"check dmesg and the LSM's logs; see docs/rootless.md"})
	}
	return st
}
