package tests

import (
	"fmt"
	"strings"
	"testing"
)

// A policy may have up to 256 mounts. Each tmpfs mount is a place where the child may create the mount points
// of later mounts; the child once recorded only 64 of them, so the mounts nested in the later ones failed.
// Here 100 tmpfs mounts, each inside the previous one, must all be there, and the innermost writable.
func TestHundredNestedTmpfsMounts(t *testing.T) {
	requirePrivileged(t)
	const n = 100
	var mounts []string
	dst := "/t"
	for i := 0; i < n; i++ {
		if i > 0 {
			dst += "/d"
		}
		mounts = append(mounts, fmt.Sprintf(`{"type": "tmpfs", "dst": %q, "size": "64K"}`, dst))
	}
	pol := policyFile(t, `"filesystem": {"mounts": [`+strings.Join(mounts, ", ")+`]}`)
	// mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT ... - FSTYPE ...
	script := fmt.Sprintf(`grep -cE '^[0-9]+ [0-9]+ [0-9]+:[0-9]+ / /t(/d)* .* - tmpfs ' /proc/self/mountinfo
echo hi > %s/file && cat %s/file`, dst, dst)
	r := jailrun(t, []string{"--policy", pol, "--", "/bin/sh", "-c", script})
	if r.code != 0 || r.stdout != fmt.Sprintf("%d\nhi\n", n) {
		t.Fatalf("want %d tmpfs mounts under /t and the innermost writable, got %s", n, short(r.String()))
	}
}
