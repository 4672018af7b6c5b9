//go:build linux && cgo

package sandbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

const procSysUser = "/proc/sys/user"

// kernelSysctls says, once per process, which of limits.kernel's /proc/sys/user files this kernel has, and
// why none can be written (/proc/sys mounted read-only in jailrun's mount namespace, as in many containers).
var kernelSysctls = sync.OnceValues(func() (map[string]bool, string) {
	have := map[string]bool{}
	var st unix.Statfs_t
	if err := unix.Statfs(procSysUser, &st); err != nil {
		return have, procSysUser + ": " + err.Error()
	}
	if st.Flags&unix.ST_RDONLY != 0 {
		return have, procSysUser + " is mounted read-only"
	}
	for _, k := range policy.KernelLimits {
		if k.Sysctl == "" {
			continue
		}
		if _, err := os.Stat(filepath.Join(procSysUser, k.Sysctl)); err == nil {
			have[k.Name] = true
		}
	}
	return have, ""
})

// prepareKernelLimits has the init write limits.kernel's ceilings into the sandbox's own user namespace.
// Without a user namespace they would be the host's, so nothing is written. A key this kernel lacks, or a
// read-only /proc/sys, leaves a default ceiling out (the result's skipped says so); a ceiling the policy
// itself set is refused there unless require.best_effort allows it (fail closed).
func (l *launch) prepareKernelLimits(cfg *spawnConfig) error {
	if !l.s.Namespaces.User {
		return nil
	}
	have, why := kernelSysctls()
	for i, k := range policy.KernelLimits {
		if k.Sysctl == "" {
			continue
		}
		if !have[k.Name] {
			setting := "limits.kernel." + k.Name
			if l.s.Limits.KernelSet&(1<<i) != 0 && !l.s.Require.Allows(setting) {
				if why == "" {
					why = "this kernel has no " + filepath.Join(procSysUser, k.Sysctl)
				}
				return fmt.Errorf("%w: %s: %s (give jailrun a writable /proc/sys, remove the setting, or list it in require.best_effort)", ErrUnsupported, setting, why)
			}
			l.res.Skipped = append(l.res.Skipped, setting)
			continue
		}
		cfg.sysctls = append(cfg.sysctls, [2]string{filepath.Join(procSysUser, k.Sysctl), strconv.FormatInt(l.s.Limits.Kernel[i], 10)})
	}
	return nil
}

// enforcedKernelLimits reports the ceilings the init wrote, as enforced.limits["kernel.NAME"].
func enforcedKernelLimits(e *Enforced, cfg *spawnConfig) {
	for _, kv := range cfg.sysctls {
		for _, k := range policy.KernelLimits {
			if k.Sysctl != "" && filepath.Base(kv[0]) == k.Sysctl {
				e.Limits["kernel."+k.Name] = kv[1]
			}
		}
	}
}
