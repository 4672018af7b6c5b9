package namespaces

import (
	"fmt"

	"github.com/jailrun/jailrun/policy"
)

// Clone flags (CLONE_NEW*), spelled out so this package builds on every platform.
const (
	CloneNewTime   = 0x00000080
	CloneNewNS     = 0x00020000
	CloneNewCgroup = 0x02000000
	CloneNewUTS    = 0x04000000
	CloneNewIPC    = 0x08000000
	CloneNewUser   = 0x10000000
	CloneNewPID    = 0x20000000
	CloneNewNet    = 0x40000000
)

// CloneFlags returns the CLONE_NEW* flags for ns. The cgroup namespace is left out: it must be entered after
// the child has been placed in its cgroup (on cgroup v1 that happens after clone), so the launcher adds it
// itself when it can place the child at clone time.
func CloneFlags(ns policy.Namespaces) uint64 {
	var f uint64
	for _, k := range policy.NamespaceKinds {
		if k.On(ns) && k.Clone != CloneNewCgroup {
			f |= k.Clone
		}
	}
	return f
}

// IDMap is one line of /proc/PID/uid_map or gid_map: Size ids from Inside map to host ids from Host.
type IDMap struct {
	Inside, Host, Size uint32
}

func (m IDMap) String() string { return fmt.Sprintf("%d %d %d\n", m.Inside, m.Host, m.Size) }
