//go:build linux && cgo

package sandbox

import (
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
// Without a user namespace they would be the host's, so nothing is written; a key this kernel lacks, or a
// read-only /proc/sys, leaves it out and the result's skipped says so.
func (l *launch) prepareKernelLimits(cfg *spawnConfig) {
	if !l.s.Namespaces.User {
		return
	}
	have, _ := kernelSysctls()
	for i, k := range policy.KernelLimits {
		if k.Sysctl == "" {
			continue
		}
		if !have[k.Name] {
			l.res.Skipped = append(l.res.Skipped, "limits.kernel."+k.Name)
			continue
		}
		cfg.sysctls = append(cfg.sysctls, [2]string{filepath.Join(procSysUser, k.Sysctl), strconv.FormatInt(l.s.Limits.Kernel[i], 10)})
	}
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
