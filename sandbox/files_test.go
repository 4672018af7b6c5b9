//go:build linux

package sandbox

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/internal/testenv"
)

// withBothResolvers runs f with openat2 and with the component-walking fallback of older kernels.
func withBothResolvers(t *testing.T, f func(t *testing.T)) {
	t.Run("openat2", func(t *testing.T) {
		var how unix.OpenHow
		if _, err := unix.Openat2(unix.AT_FDCWD, ".", &how); errors.Is(err, unix.ENOSYS) {
			t.Skip("kernel has no openat2 (the fallback is tested below)")
		}
		f(t)
	})
	t.Run("fallback", func(t *testing.T) {
		noOpenat2.Store(true)
		defer noOpenat2.Store(false)
		f(t)
	})
}

func mustWrite(t *testing.T, p, content string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// box makes a directory laid out the way a hostile sandboxed program could leave it.
func box(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	outside := t.TempDir()
	mustWrite(t, filepath.Join(outside, "secret"), "host secret\n")
	mustWrite(t, filepath.Join(dir, "out.txt"), "hello\n")
	must(t, os.Mkdir(filepath.Join(dir, "sub"), 0o755))
	mustWrite(t, filepath.Join(dir, "sub", "nested.txt"), "nested\n")
	must(t, os.Symlink("/etc/shadow", filepath.Join(dir, "shadow")))
	must(t, os.Symlink(filepath.Join(outside, "secret"), filepath.Join(dir, "secret")))
	must(t, os.Symlink("out.txt", filepath.Join(dir, "relative-link")))
	must(t, os.Symlink(outside, filepath.Join(dir, "linkdir")))
	must(t, os.Symlink("/proc/self/root/etc", filepath.Join(dir, "magic")))
	must(t, unix.Mkfifo(filepath.Join(dir, "fifo"), 0o644))
	must(t, os.Mkdir(filepath.Join(dir, "adir"), 0o755))
	mustWrite(t, filepath.Join(dir, "linked.txt"), "two names\n")
	must(t, os.Link(filepath.Join(dir, "linked.txt"), filepath.Join(dir, "hardlink")))
	// 10 GiB that cost nothing: a sparse file.
	f, err := os.Create(filepath.Join(dir, "sparse"))
	must(t, err)
	must(t, f.Truncate(10<<30))
	f.Close()
	return dir
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestCopyOut(t *testing.T) {
	withBothResolvers(t, func(t *testing.T) {
		dir := box(t)
		tests := []struct {
			name   string
			file   string
			want   string
			isErr  error  // errors.Is target
			errSub string // and a part of the message
		}{
			{"regular file", "out.txt", "hello\n", nil, ""},
			{"nested file", "sub/nested.txt", "nested\n", nil, ""},
			{"cleaned name", "./sub//nested.txt", "nested\n", nil, ""},
			{"symlink to /etc/shadow", "shadow", "", ErrUnsafeFile, "a symbolic link"},
			{"symlink to a host file", "secret", "", ErrUnsafeFile, "a symbolic link"},
			{"even a harmless relative symlink", "relative-link", "", ErrUnsafeFile, "a symbolic link"},
			{"through a symlinked directory", "linkdir/secret", "", ErrUnsafeFile, "symbolic link"},
			{"magic link", "magic/shadow", "", ErrUnsafeFile, "symbolic link"},
			{"FIFO", "fifo", "", ErrUnsafeFile, "a FIFO"},
			{"directory", "adir", "", ErrUnsafeFile, "a directory"},
			{"hard link", "hardlink", "", ErrUnsafeFile, "a hard link (2 links)"},
			{"10 GiB sparse file", "sparse", "", ErrFileTooLarge, "10737418240 bytes, over the cap of 1048576"},
			{"missing", "nope", "", fs.ErrNotExist, ""},
			{"dotdot", "../x", "", ErrArgument, "'..' component"},
			{"absolute", "/etc/shadow", "", ErrArgument, "absolute"},
			{"the directory itself", ".", "", ErrArgument, "names the directory itself"},
			{"empty", "", "", ErrArgument, "is empty"},
			{"NUL", "out.txt\x00", "", ErrArgument, "NUL"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				var buf bytes.Buffer
				done := make(chan struct{})
				var n int64
				var err error
				go func() {
					defer close(done)
					n, err = CopyOut(dir, tc.file, &buf, 1<<20)
				}()
				select {
				case <-done:
				case <-time.After(5 * time.Second):
					t.Fatalf("CopyOut(%q) blocked", tc.file)
				}
				if tc.isErr == nil {
					if err != nil || buf.String() != tc.want || n != int64(len(tc.want)) {
						t.Fatalf("CopyOut(%q) = %d, %v, %q; want %q", tc.file, n, err, buf.String(), tc.want)
					}
					return
				}
				if !errors.Is(err, tc.isErr) || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("CopyOut(%q) = %v; want %v containing %q", tc.file, err, tc.isErr, tc.errSub)
				}
				if buf.Len() != 0 {
					t.Fatalf("CopyOut(%q) refused but wrote %q", tc.file, buf.String())
				}
			})
		}
	})
}

func TestCopyOutSizeCap(t *testing.T) {
	dir := t.TempDir()
	mustWrite(t, filepath.Join(dir, "f"), "12345")
	var buf bytes.Buffer
	if n, err := CopyOut(dir, "f", &buf, 5); err != nil || n != 5 {
		t.Fatalf("file at the cap: %d, %v", n, err)
	}
	var tl *FileTooLargeError
	if _, err := CopyOut(dir, "f", io.Discard, 4); !errors.As(err, &tl) || tl.Size != 5 || tl.Max != 4 {
		t.Fatalf("file over the cap: %v", err)
	}
	if _, err := CopyOut(dir, "f", io.Discard, 0); err == nil || !strings.Contains(err.Error(), "must be positive") {
		t.Fatalf("no cap: %v", err)
	}
}

// growWriter appends to the file being copied each time it receives data, like a sandboxed program that
// keeps writing after the size was checked.
type growWriter struct{ f *os.File }

func (g growWriter) Write(p []byte) (int, error) {
	_, err := g.f.Write(bytes.Repeat([]byte("x"), 100))
	return len(p), err
}

func TestCopyOutFileGrowsDuringCopy(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "grows")
	mustWrite(t, p, strings.Repeat("a", 100))
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	must(t, err)
	defer f.Close()
	n, err := CopyOut(dir, "grows", growWriter{f}, 150)
	if !errors.Is(err, ErrFileTooLarge) || n > 150 {
		t.Fatalf("copy of a growing file: %d, %v", n, err)
	}
}

func TestCopyOutDevicesAndSockets(t *testing.T) {
	dir := t.TempDir()
	if err := unix.Mknod(filepath.Join(dir, "null"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		if os.Geteuid() != 0 {
			testenv.SkipOrFail(t, "mknod needs root: %v", err)
		}
		t.Fatalf("mknod: %v", err)
	}
	// A block device node: loop0's numbers; it is never opened, so it need not exist.
	must(t, unix.Mknod(filepath.Join(dir, "blk"), unix.S_IFBLK|0o600, int(unix.Mkdev(7, 0))))
	sock, err := unix.Socket(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	must(t, err)
	defer unix.Close(sock)
	must(t, unix.Bind(sock, &unix.SockaddrUnix{Name: filepath.Join(dir, "sock")}))
	for name, kind := range map[string]string{"null": "a character device", "blk": "a block device", "sock": "a socket"} {
		if _, err := CopyOut(dir, name, io.Discard, 1<<20); !errors.Is(err, ErrUnsafeFile) || !strings.Contains(err.Error(), kind) {
			t.Errorf("%s: %v, want %s refused", name, err, kind)
		}
	}
}

func TestCopyOutRefusesMountCrossing(t *testing.T) {
	if os.Geteuid() != 0 {
		testenv.SkipOrFail(t, "needs root to mount")
	}
	withBothResolvers(t, func(t *testing.T) {
		dir := t.TempDir()
		mnt := filepath.Join(dir, "mnt")
		must(t, os.Mkdir(mnt, 0o755))
		must(t, unix.Mount("tmpfs", mnt, "tmpfs", 0, "size=1m"))
		defer unix.Unmount(mnt, unix.MNT_DETACH)
		mustWrite(t, filepath.Join(mnt, "f"), "on another mount")
		if _, err := CopyOut(dir, "mnt/f", io.Discard, 1<<20); !errors.Is(err, ErrUnsafeFile) || !strings.Contains(err.Error(), "another mount") {
			t.Fatalf("copy across a mount: %v", err)
		}
	})
}

func TestCopyIn(t *testing.T) {
	withBothResolvers(t, func(t *testing.T) {
		dir := box(t)
		outside := filepath.Dir(mustReadlink(t, filepath.Join(dir, "secret")))
		tests := []struct {
			name    string
			file    string
			content string
			mode    os.FileMode
			max     int64
			isErr   error
			errSub  string
		}{
			{"new file", "in.txt", "data", 0o640, 1 << 20, nil, ""},
			{"new nested file", "sub/in.txt", "data", 0o600, 1 << 20, nil, ""},
			{"at the cap", "cap.txt", "12345", 0o644, 5, nil, ""},
			{"over the cap", "big.txt", "123456", 0o644, 5, ErrFileTooLarge, "larger than the cap of 5"},
			{"existing file", "out.txt", "x", 0o644, 1 << 20, fs.ErrExist, ""},
			{"planted symlink to /etc/shadow", "shadow", "owned", 0o644, 1 << 20, fs.ErrExist, ""},
			{"planted dangling symlink", "dangling", "owned", 0o644, 1 << 20, fs.ErrExist, ""},
			{"through a symlinked directory", "linkdir/new", "owned", 0o644, 1 << 20, ErrUnsafeFile, "symbolic link"},
			{"FIFO", "fifo", "x", 0o644, 1 << 20, fs.ErrExist, ""},
			{"missing parent", "nodir/x", "x", 0o644, 1 << 20, fs.ErrNotExist, ""},
			{"setuid mode", "suid", "x", 0o4755, 1 << 20, nil, "beyond 0777"},
			{"dotdot", "../x", "x", 0o644, 1 << 20, ErrArgument, "'..'"},
			{"absolute", "/tmp/x", "x", 0o644, 1 << 20, ErrArgument, "absolute"},
		}
		must(t, os.Symlink(filepath.Join(outside, "created-by-follow"), filepath.Join(dir, "dangling")))
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				n, err := CopyIn(dir, tc.file, strings.NewReader(tc.content), tc.mode, tc.max)
				if tc.isErr == nil && tc.errSub == "" {
					if err != nil || n != int64(len(tc.content)) {
						t.Fatalf("CopyIn(%q) = %d, %v", tc.file, n, err)
					}
					st, err := os.Lstat(filepath.Join(dir, tc.file))
					must(t, err)
					b, _ := os.ReadFile(filepath.Join(dir, tc.file))
					if string(b) != tc.content || st.Mode() != tc.mode {
						t.Fatalf("CopyIn(%q) wrote %q mode %v; want %q mode %v (whatever the umask)", tc.file, b, st.Mode(), tc.content, tc.mode)
					}
					return
				}
				if err == nil || (tc.isErr != nil && !errors.Is(err, tc.isErr)) || !strings.Contains(err.Error(), tc.errSub) {
					t.Fatalf("CopyIn(%q) = %v; want %v containing %q", tc.file, err, tc.isErr, tc.errSub)
				}
				if errors.Is(err, ErrFileTooLarge) {
					if _, serr := os.Lstat(filepath.Join(dir, tc.file)); !errors.Is(serr, fs.ErrNotExist) {
						t.Fatalf("CopyIn(%q) over the cap left the file behind: %v", tc.file, serr)
					}
				}
			})
		}
		// Nothing was written through a link, and nothing outside changed.
		if b, _ := os.ReadFile(filepath.Join(outside, "secret")); string(b) != "host secret\n" {
			t.Fatalf("the host file changed: %q", b)
		}
		if _, err := os.Lstat(filepath.Join(outside, "created-by-follow")); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("a dangling symlink was followed: %v", err)
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 1 {
			t.Fatalf("files appeared outside: %v", ents)
		}
	})
}

func mustReadlink(t *testing.T, p string) string {
	t.Helper()
	s, err := os.Readlink(p)
	must(t, err)
	return s
}

// errReader fails after some data: the half-written file must not stay.
type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, errors.New("source broke")
	}
	r.n--
	p[0] = 'x'
	return 1, nil
}

func TestCopyInRemovesPartialFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := CopyIn(dir, "f", &errReader{n: 3}, 0o644, 100); err == nil || !strings.Contains(err.Error(), "source broke") {
		t.Fatalf("CopyIn from a failing reader: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("left %v behind", ents)
	}
}

// Without procfs the checked file is opened by name a second time and must be the same inode.
func TestCopyOutWithoutProcfs(t *testing.T) {
	procSelfFD = "/nonexistent/jailrun/"
	defer func() { procSelfFD = "/proc/self/fd/" }()
	withBothResolvers(t, func(t *testing.T) {
		dir := box(t)
		var buf bytes.Buffer
		if _, err := CopyOut(dir, "sub/nested.txt", &buf, 100); err != nil || buf.String() != "nested\n" {
			t.Fatalf("copy without procfs: %v, %q", err, buf.String())
		}
		if _, err := CopyOut(dir, "fifo", &buf, 100); !errors.Is(err, ErrUnsafeFile) {
			t.Fatalf("FIFO without procfs: %v", err)
		}
	})
}

func TestCopyDirMustExist(t *testing.T) {
	if _, err := CopyOut(filepath.Join(t.TempDir(), "nope"), "f", io.Discard, 1); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing directory: %v", err)
	}
}
