package tests

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jailrun/jailrun/sandbox"
)

// Copy-out after a hostile run: the sandboxed program shapes the writable directory however it likes, and
// the host side (running as root here, with far more access than the sandbox) must copy only plain regular
// files, never follow what the program planted, and never block or read gigabytes.

// writableBox makes a host directory the sandbox's user can write, and a policy binding it read-write at
// /box. As root each run maps to host ids of its own, allocated at launch, so the box is world-writable
// (inside a private temporary directory of the test's) rather than owned by one known uid.
func writableBox(t *testing.T) (dir, pol string) {
	t.Helper()
	dir, err := os.MkdirTemp("", "jailrun-box-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	pol = filepath.Join(t.TempDir(), "policy.json")
	body := fmt.Sprintf(`{"version": 1, "name": "copyout", "extends": "strict",
  "filesystem": {"mounts": [{"type": "bind", "src": %q, "dst": "/box", "readonly": false}]}}`, dir)
	if err := os.WriteFile(pol, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, pol
}

func TestCopyOutAfterHostileRun(t *testing.T) {
	requireRoot(t) // plants device nodes in its box
	dir, pol := writableBox(t)
	r := jailrun(t, []string{"--policy", pol, "--", "/bin/sh", "-c", `
		cd /box || exit 1
		echo hello > out.txt
		ln -s /etc/shadow shadow
		ln -s /etc etc-link
		mkfifo fifo
		echo two > h1 && ln h1 h2
		mkdir d
		mknod null c 1 3 2>/dev/null && echo "mknod worked"
		truncate -s 10G sparse 2>/dev/null || echo "no sparse"
		exit 0`})
	if r.code != 0 || strings.Contains(r.stdout, "mknod worked") {
		t.Fatalf("planting run: %v", r)
	}
	// The sandbox cannot make device nodes or (with the file size rlimit) a 10 GiB file; plant them as a
	// host-side accomplice or another tenant with more rights would.
	if err := syscall.Mknod(filepath.Join(dir, "null"), syscall.S_IFCHR|0o666, int(1<<8|3)); err != nil {
		t.Fatal(err)
	}
	sparse, err := os.OpenFile(filepath.Join(dir, "sparse"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	err = sparse.Truncate(10 << 30)
	sparse.Close()
	if err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		name string
		want string // content, or "" for a refusal
		is   error
		msg  string
	}{
		{"out.txt", "hello\n", nil, ""},
		{"shadow", "", sandbox.ErrUnsafeFile, "a symbolic link"},
		{"etc-link/shadow", "", sandbox.ErrUnsafeFile, "symbolic link"},
		{"etc-link/passwd", "", sandbox.ErrUnsafeFile, "symbolic link"},
		{"fifo", "", sandbox.ErrUnsafeFile, "a FIFO"},
		{"null", "", sandbox.ErrUnsafeFile, "a character device"},
		{"h1", "", sandbox.ErrUnsafeFile, "a hard link"},
		{"d", "", sandbox.ErrUnsafeFile, "a directory"},
		{"sparse", "", sandbox.ErrFileTooLarge, "10737418240 bytes, over the cap"},
		{"../../etc/shadow", "", sandbox.ErrArgument, "'..'"},
		{"missing", "", fs.ErrNotExist, ""},
	} {
		var buf bytes.Buffer
		start := time.Now()
		_, err := sandbox.CopyOut(dir, tc.name, &buf, 16<<20)
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("%s: the copy took %v", tc.name, d)
		}
		if tc.want != "" {
			if err != nil || buf.String() != tc.want {
				t.Errorf("%s: %v, %q; want %q", tc.name, err, buf.String(), tc.want)
			}
			continue
		}
		if !errors.Is(err, tc.is) || !strings.Contains(fmt.Sprint(err), tc.msg) || buf.Len() != 0 {
			t.Errorf("%s: got %v (%d bytes copied); want %v containing %q", tc.name, err, buf.Len(), tc.is, tc.msg)
		}
	}
}

// The sandbox swaps a regular file and a symlink to /etc/shadow as fast as it can while the host copies:
// whatever the interleaving, the host reads the regular file or refuses, never the link's target.
func TestCopyOutRaceWithSymlinkSwap(t *testing.T) {
	requireRoot(t) // plants device nodes in its box
	dir, pol := writableBox(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := jailrunCmd(ctx, "--policy", pol, "--", "/bin/sh", "-c", `
		cd /box || exit 1
		echo safe > race
		touch ready
		end=$(( $(date +%s) + 3 ))
		while [ "$(date +%s)" -lt "$end" ]; do
			for i in 1 2 3 4 5 6 7 8 9 10; do
				ln -sf /etc/shadow link.new && mv -f link.new race
				echo safe > file.new && mv -f file.new race
			done
		done`)
	var stderr bytes.Buffer
	c.Stderr = &stderr
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = c.Wait() }()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, err := os.Stat(filepath.Join(dir, "ready")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sandbox never started: %s", stderr.String())
		}
	}
	var ok, unsafe, missing int
	for end := time.Now().Add(2 * time.Second); time.Now().Before(end); {
		var buf bytes.Buffer
		_, err := sandbox.CopyOut(dir, "race", &buf, 1<<20)
		switch {
		case err == nil && buf.String() == "safe\n":
			ok++
		case err == nil:
			t.Fatalf("copy-out read %d bytes that are not the regular file: it followed the link", buf.Len())
		case errors.Is(err, sandbox.ErrUnsafeFile):
			unsafe++
		case errors.Is(err, fs.ErrNotExist):
			missing++ // between two renames? rename replaces atomically, but allow it
		default:
			t.Fatalf("copy-out failed: %v", err)
		}
	}
	t.Logf("copies: %d regular, %d refused, %d missing", ok, unsafe, missing)
	if unsafe == 0 || ok == 0 {
		t.Fatalf("the race never happened (%d regular, %d refused): the test proves nothing", ok, unsafe)
	}
	if err := c.Wait(); err != nil {
		t.Fatalf("sandbox: %v: %s", err, stderr.String())
	}
}

// Copy-in never writes through a link the sandbox planted, and the sandbox then sees what was copied.
func TestCopyInThenRun(t *testing.T) {
	requireRoot(t) // plants device nodes in its box
	dir, pol := writableBox(t)
	if r := jailrun(t, []string{"--policy", pol, "--", "/bin/sh", "-c", "ln -s /etc/passwd /box/planted && ln -s /nonexistent-jailrun /box/dangling"}); r.code != 0 {
		t.Fatalf("planting run: %v", r)
	}
	before, err := os.ReadFile("/etc/passwd")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"planted", "dangling"} {
		if _, err := sandbox.CopyIn(dir, name, strings.NewReader("owned\n"), 0o644, 1<<20); !errors.Is(err, fs.ErrExist) {
			t.Errorf("copy-in over the planted %s: %v", name, err)
		}
	}
	if after, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(before, after) {
		t.Fatal("/etc/passwd changed")
	}
	if _, err := os.Lstat("/nonexistent-jailrun"); !errors.Is(err, fs.ErrNotExist) {
		t.Fatal("a dangling symlink was followed on the host")
	}
	if _, err := sandbox.CopyIn(dir, "input.txt", strings.NewReader("data for the run\n"), 0o644, 1<<20); err != nil {
		t.Fatal(err)
	}
	if _, err := sandbox.CopyIn(dir, "big.txt", io.LimitReader(zeros{}, 2<<20), 0o644, 1<<20); !errors.Is(err, sandbox.ErrFileTooLarge) {
		t.Fatalf("copy-in over the cap: %v", err)
	}
	r := jailrun(t, []string{"--policy", pol, "--", "/bin/sh", "-c", "cat /box/input.txt; ls /box"})
	if r.code != 0 || r.stdout != "data for the run\ndangling\ninput.txt\nplanted\n" {
		t.Fatalf("the sandbox sees: %v", r)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
