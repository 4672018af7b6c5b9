//go:build linux

package sandbox_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
	"golang.org/x/sys/unix"
)

// The init places every mount by a lookup beneath the sandbox's new root that follows no symbolic link: a
// link in a bound host tree (planted by an earlier run in a writable bind, or simply there) must never carry
// a mount somewhere else, here onto the host's /etc as the launcher sees it before pivot_root. Mount points
// that are real directories and files work, through the one-call lookup (openat2) and the walk alike.
func TestMountTargetsNeverFollowSymlinks(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	host, err := os.MkdirTemp("", "jailrun-walk-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(host)
	ok(t, os.Chmod(host, 0o755))
	ok(t, os.Mkdir(filepath.Join(host, "real"), 0o755))
	ok(t, os.WriteFile(filepath.Join(host, "real-file"), nil, 0o644))
	ok(t, os.Symlink("/etc", filepath.Join(host, "dirlink")))
	ok(t, os.Symlink("real", filepath.Join(host, "rel-dirlink")))
	ok(t, os.Symlink("/etc/hostname", filepath.Join(host, "filelink")))
	ok(t, os.Mkdir(filepath.Join(host, "real", "deeper"), 0o755))
	ok(t, os.Symlink("/etc", filepath.Join(host, "real", "deeper", "link")))

	withMount := func(m policy.Mount) *policy.Settings {
		s := strict.Clone()
		s.Filesystem.Mounts = append(s.Filesystem.Mounts,
			policy.Mount{Kind: policy.MountBind, Src: host, Dst: "/work", ReadOnly: true, NoSuid: true, NoDev: true}, m)
		return s
	}
	tmpfs := func(dst string) policy.Mount { return policy.Mount{Kind: policy.MountTmpfs, Dst: dst, Size: 1 << 20} }
	fileBind := func(dst string) policy.Mount {
		return policy.Mount{Kind: policy.MountBind, Src: "/etc/passwd", Dst: dst, ReadOnly: true, NoSuid: true, NoDev: true}
	}
	for _, tc := range []struct {
		name string
		m    policy.Mount
	}{
		{"a tmpfs on a symlink to /etc", tmpfs("/work/dirlink")},
		{"a tmpfs on a relative symlink", tmpfs("/work/rel-dirlink")},
		{"a tmpfs beneath a symlinked directory", tmpfs("/work/dirlink/x")},
		{"a tmpfs on a deeper symlink", tmpfs("/work/real/deeper/link")},
		{"a file bind on a symlink to a file", fileBind("/work/filelink")},
		{"a file bind beneath a symlinked directory", fileBind("/work/dirlink/hostname")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Run(context.Background(), sandbox.Request{Policy: withMount(tc.m), Argv: []string{"/bin/true"}})
			var se *sandbox.SetupError
			if !errors.As(err, &se) || se.Step != sandbox.StepMount {
				t.Fatalf("want a mount setup error, got %T %v (result %+v)", err, err, res)
			}
			if !errors.Is(err, unix.ELOOP) && !errors.Is(err, unix.ENOTDIR) {
				t.Errorf("want ELOOP or ENOTDIR, got %v", err)
			}
		})
	}
	for _, tc := range []struct {
		name, check string
		m           policy.Mount
	}{
		{"a tmpfs on a real directory", "grep -q ' /work/real tmpfs ' /proc/mounts", tmpfs("/work/real")},
		{"a tmpfs on a nested real directory", "grep -q ' /work/real/deeper tmpfs ' /proc/mounts", tmpfs("/work/real/deeper")},
		{"a file bind on a real file", "grep -q '^root:' /work/real-file", fileBind("/work/real-file")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := r.Run(context.Background(), shReq(withMount(tc.m), tc.check))
			if err != nil || res.Status != sandbox.StatusOK {
				t.Fatalf("%v, result %s %s", err, res.Status, res.Message)
			}
		})
	}
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Nothing in a sandbox holds a capability: the command has empty sets and an empty bounding set (so no
// execve can grant one), and its pid 1, the reaper, holds none either (it never execs, so its bounding set
// does not matter).
func TestNoCapabilitiesInside(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	// Through the Runner and through a Pool, whose pid 1 empties its bounding set while it waits.
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: 1})
	ok(t, err)
	defer p.Close()
	for deadline := time.Now().Add(10 * time.Second); p.Stats().Ready < 1 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	for _, way := range []struct {
		name string
		run  func(context.Context, sandbox.Request) (*sandbox.Result, error)
	}{{"runner", r.Run}, {"pool", p.Run}} {
		var self, pid1 bytes.Buffer
		req := shReq(strict, "grep -E '^Cap(Inh|Prm|Eff|Amb|Bnd):' /proc/self/status; grep -E '^Cap(Inh|Prm|Eff|Amb|Bnd):' /proc/1/status >&2")
		req.Stdout, req.Stderr = &self, &pid1
		res, err := way.run(context.Background(), req)
		if err != nil || res.Status != sandbox.StatusOK {
			t.Fatalf("%s: %v, result %s %s", way.name, err, res.Status, res.Message)
		}
		if way.name == "pool" && !res.Pooled {
			t.Fatal("the pool ran it cold: the pooled path was not seen")
		}
		lines := func(b *bytes.Buffer) []string { return strings.Split(strings.TrimSpace(b.String()), "\n") }
		if len(lines(&self)) != 5 || len(lines(&pid1)) != 5 {
			t.Fatalf("%s: unexpected output:\n%s\n%s", way.name, self.String(), pid1.String())
		}
		check := lines(&self)
		for _, line := range lines(&pid1) {
			// A cold pid 1 never execs, so its bounding set guards nothing; a pooled one empties it anyway.
			if way.name == "pool" || !strings.HasPrefix(line, "CapBnd") {
				check = append(check, "pid 1 "+line)
			}
		}
		for _, line := range check {
			if _, v, _ := strings.Cut(line, ":"); strings.Trim(strings.TrimSpace(v), "0") != "" {
				t.Errorf("%s: a capability inside: %s", way.name, line)
			}
		}
	}
}

// The Landlock layer holds in pooled runs exactly as in cold ones (a directory bound without rules cannot be
// read, one with rules can), through the Pool and through the Runner alike.
func TestLandlockHoldsInPooledRuns(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	var abi uintptr
	if v, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION); e == 0 {
		abi = v
	}
	if abi == 0 {
		t.Skip("this kernel has no Landlock")
	}
	dirs := make([]string, 2)
	for i := range dirs {
		d, err := os.MkdirTemp("", "jailrun-ll-pool-")
		ok(t, err)
		defer os.RemoveAll(d)
		ok(t, os.Chmod(d, 0o755))
		ok(t, os.WriteFile(filepath.Join(d, "secret"), []byte("s3cret\n"), 0o644))
		dirs[i] = d
	}
	s := strict.Clone()
	s.Filesystem.Mounts = append(s.Filesystem.Mounts,
		policy.Mount{Kind: policy.MountBind, Src: dirs[0], Dst: "/ruled", ReadOnly: true, NoSuid: true, NoDev: true},
		policy.Mount{Kind: policy.MountBind, Src: dirs[1], Dst: "/unruled", ReadOnly: true, NoSuid: true, NoDev: true, NoLandlock: true})
	const script = "cat /ruled/secret; cat /unruled/secret 2>/dev/null || echo denied"
	p, err := r.NewPool(s, sandbox.PoolOptions{Size: 1})
	ok(t, err)
	defer p.Close()
	pooled := 0
	for i := 0; i < 6; i++ {
		var out bytes.Buffer
		req := shReq(s, script)
		req.Stdout = &out
		run := p.Run
		if i%3 == 2 {
			run = r.Run
		}
		res, err := run(context.Background(), req)
		if err != nil || res.Status != sandbox.StatusOK {
			t.Fatalf("run %d: %v, result %s %s", i, err, res.Status, res.Message)
		}
		if out.String() != "s3cret\ndenied\n" {
			t.Fatalf("run %d (pooled %v): %q, want the ruled file read and the unruled one denied", i, res.Pooled, out.String())
		}
		if res.Pooled {
			pooled++
		}
		time.Sleep(20 * time.Millisecond) // let the pool prepare the next one
	}
	if pooled == 0 {
		t.Fatal("no run was pooled: the test did not see the pooled path")
	}
}
