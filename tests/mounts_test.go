package tests

import (
	"fmt"
	"path/filepath"
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

// A file mount is what its "readonly" says wherever it lies: read-only inside a writable tmpfs (it gets a
// read-only mount of its own), writable on the read-only root (a writable mount of its own). The shipped
// policies' files, on the root, are read-only as before.
func TestFileMountReadOnly(t *testing.T) {
	requirePrivileged(t)
	pol := policyFile(t, `"filesystem": {"mounts": [
		{"type": "file", "dst": "/tmp/cfg", "content": "original\n"},
		{"type": "file", "dst": "/etc/wfile", "content": "w\n", "readonly": false, "mode": "0666"}]}`)
	r := jailrun(t, []string{"--quiet", "--policy", pol, "--", "/bin/sh", "-c",
		`chmod u+w /tmp/cfg 2>/dev/null; echo tampered > /tmp/cfg 2>/dev/null; rm -f /tmp/cfg 2>/dev/null; cat /tmp/cfg
echo new > /etc/wfile && cat /etc/wfile
echo x > /etc/passwd 2>/dev/null || echo passwd read-only`})
	if r.code != 0 || r.stdout != "original\nnew\npasswd read-only\n" {
		t.Fatalf("want /tmp/cfg unchanged, /etc/wfile written, /etc/passwd read-only:\n%v", r)
	}
}

// doctor does not say a policy can run when every run of it would fail at a missing bind source.
func TestDoctorMissingBindSource(t *testing.T) {
	requirePrivileged(t)
	missing := filepath.Join(t.TempDir(), "no-such-dir")
	pol := policyFile(t, fmt.Sprintf(`"filesystem": {"mounts": [{"type": "bind", "src": %q, "dst": "/data", "readonly": true}]}`, missing))
	d := jailrun(t, []string{"doctor", "--policy", pol})
	if d.code != 121 || !strings.Contains(d.stdout, missing+" does not exist") {
		t.Fatalf("doctor with a missing bind source: want exit 121 naming it, got %s", d)
	}
	opt := policyFile(t, fmt.Sprintf(`"filesystem": {"mounts": [{"type": "bind", "src": %q, "dst": "/data", "readonly": true, "optional": true}]}`, missing))
	if d := jailrun(t, []string{"doctor", "--policy", opt}); d.code != 0 {
		t.Fatalf("doctor with an optional missing bind source: want exit 0, got %s", d)
	}
}
