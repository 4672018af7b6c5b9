//go:build linux && cgo

package seccomp

import (
	"bytes"
	"debug/elf"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/internal/testenv"
	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

var routedOptions = Options{ForeignABI: notify}

// testCache is a cache in a fresh directory owned by the test's uid (root in the privileged lane); /tmp
// above it is root's sticky directory, which the trust check accepts.
func testCache(t *testing.T) (*diskCache, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "jailrun", "bpf")
	return &diskCache{dir: dir, owner: os.Geteuid(), salt: []byte("test salt")}, dir
}

// counting compiles s and counts the compiles: a cache hit does not call it.
func counting(t *testing.T, s policy.Seccomp, n *int) func() (*Program, error) {
	return func() (*Program, error) {
		*n++
		return BuildWith(s, routedOptions)
	}
}

func sameProgram(t *testing.T, got, want *Program) {
	t.Helper()
	if !reflect.DeepEqual(got.Instructions(), want.Instructions()) || got.prefixLen != want.prefixLen ||
		got.notify != want.notify || got.arch != want.arch || !reflect.DeepEqual(got.actions, want.actions) {
		t.Fatalf("cached program differs: %d insns prefix %d notify %v actions %v; want %d insns prefix %d notify %v actions %v",
			got.Len(), got.prefixLen, got.notify, got.actions, want.Len(), want.prefixLen, want.notify, want.actions)
	}
}

// Every shipped policy's program comes back from the cache exactly as compiled, and the second load is a
// hit that does not compile.
func TestDiskCacheHitIsIdentical(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "policies", "*.json"))
	if len(files) == 0 {
		t.Fatal("no shipped policies")
	}
	c, _ := testCache(t)
	seen := map[[32]byte]bool{} // several policies share strict's filter
	for _, f := range files {
		name := filepath.Base(f)
		s := shippedPolicy(t, name[:len(name)-len(".json")])
		want, err := BuildWith(s, routedOptions)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := memoryKey(s, routedOptions)
		if seen[key] {
			continue
		}
		seen[key] = true
		compiles := 0
		if _, hit, err := c.loadOrBuild(key, counting(t, s, &compiles)); err != nil || hit {
			t.Fatalf("%s: first load: hit %v, err %v", name, hit, err)
		}
		got, hit, err := c.loadOrBuild(key, counting(t, s, &compiles))
		if err != nil || !hit || compiles != 1 {
			t.Fatalf("%s: second load: hit %v, err %v, %d compiles; want a hit after 1", name, hit, err, compiles)
		}
		sameProgram(t, got, want)
	}
}

// An entry is used only from a trusted place with the right content; anything else compiles, and a bad
// entry in a trusted directory is replaced.
func TestDiskCacheRefusesUntrusted(t *testing.T) {
	s := shippedPolicy(t, "strict")
	key, _ := memoryKey(s, routedOptions)
	other := shippedPolicy(t, "network-loopback")
	otherKey, _ := memoryKey(other, routedOptions)
	want, err := BuildWith(s, routedOptions)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		root    bool // needs root (chown to another uid)
		spoil   func(t *testing.T, c *diskCache, dir, entry string)
		rewrite bool // a trusted directory: the entry is replaced by a good one
	}{
		{name: "flipped byte", rewrite: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			b := readFile(t, entry)
			b[len(b)/2] ^= 0x01
			writeFile(t, entry, b, 0o600)
		}},
		{name: "truncated", rewrite: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			writeFile(t, entry, readFile(t, entry)[:100], 0o600)
		}},
		{name: "another policy's entry under this name", rewrite: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			n := 0
			if _, _, err := c.loadOrBuild(otherKey, counting(t, other, &n)); err != nil {
				t.Fatal(err)
			}
			ek := c.entryKey(otherKey)
			if err := os.Rename(filepath.Join(dir, hexName(ek)), entry); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "another build's entry (salt)", rewrite: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			foreign := &diskCache{dir: c.dir, owner: c.owner, salt: []byte("another build")}
			n := 0
			if _, _, err := foreign.loadOrBuild(key, counting(t, s, &n)); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(filepath.Join(dir, hexName(foreign.entryKey(key))), entry); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "world-writable entry", rewrite: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			chmod(t, entry, 0o666)
		}},
		{name: "group-writable entry", rewrite: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			chmod(t, entry, 0o620)
		}},
		{name: "symlink to a good entry", rewrite: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			elsewhere := filepath.Join(t.TempDir(), "good")
			writeFile(t, elsewhere, readFile(t, entry), 0o600)
			os.Remove(entry)
			if err := os.Symlink(elsewhere, entry); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "hard link", rewrite: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			if err := os.Link(entry, filepath.Join(dir, "second-name")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "foreign-owned entry", root: true, rewrite: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			if err := os.Chown(entry, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "world-writable cache directory", spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			chmod(t, dir, 0o777)
		}},
		{name: "group-writable parent directory", spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			chmod(t, filepath.Dir(dir), 0o770)
		}},
		{name: "foreign-owned cache directory", root: true, spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			if err := os.Chown(dir, 65534, 65534); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "cache directory is a symlink", spoil: func(t *testing.T, c *diskCache, dir, entry string) {
			moved := dir + ".real"
			if err := os.Rename(dir, moved); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink(moved, dir); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.root && os.Geteuid() != 0 {
				testenv.SkipOrFail(t, "needs root to chown to another uid")
			}
			c, dir := testCache(t)
			n := 0
			if _, _, err := c.loadOrBuild(key, counting(t, s, &n)); err != nil {
				t.Fatal(err)
			}
			entry := filepath.Join(dir, hexName(c.entryKey(key)))
			if _, err := c.load(c.entryKey(key)); err != nil {
				t.Fatalf("the good entry does not load: %v", err)
			}
			tc.spoil(t, c, dir, entry)
			got, hit, err := c.loadOrBuild(key, counting(t, s, &n))
			if err != nil || hit || n != 2 {
				t.Fatalf("spoiled entry: hit %v, err %v, %d compiles; want a compile", hit, err, n)
			}
			sameProgram(t, got, want)
			_, err = c.load(c.entryKey(key))
			if tc.rewrite && err != nil {
				t.Errorf("the entry was not replaced by a good one: %v", err)
			}
			if !tc.rewrite && err == nil {
				t.Errorf("an entry was used from an untrusted directory")
			}
		})
	}
}

// No cache outside root: a user's own directory can be written by anything the user runs.
func TestSystemDiskCacheRootOnly(t *testing.T) {
	c := systemDiskCache()
	if os.Geteuid() != 0 {
		if c != nil {
			t.Fatal("a non-root process got a disk cache")
		}
		return
	}
	if c == nil {
		t.Fatal("root has no disk cache: no Go build ID in the test binary?")
	}
	if c.dir != systemCacheDir || c.owner != 0 {
		t.Fatalf("system cache %s owner %d", c.dir, c.owner)
	}
}

func hexName(k [32]byte) string {
	return hex.EncodeToString(k[:])
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
}

func chmod(t *testing.T, p string, mode os.FileMode) {
	t.Helper()
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
}

func BenchmarkDiskCacheLoad(b *testing.B) {
	s := shippedPolicy(b, "strict")
	dir := filepath.Join(b.TempDir(), "bpf")
	c := &diskCache{dir: dir, owner: os.Geteuid(), salt: []byte("bench")}
	key, _ := memoryKey(s, routedOptions)
	if _, _, err := c.loadOrBuild(key, func() (*Program, error) { return BuildWith(s, routedOptions) }); err != nil {
		b.Fatal(err)
	}
	ek := c.entryKey(key)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := c.load(ek); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkBuildRouted(b *testing.B) {
	s := shippedPolicy(b, "strict")
	for i := 0; i < b.N; i++ {
		if _, err := BuildWith(s, routedOptions); err != nil {
			b.Fatal(err)
		}
	}
}

// buildID parses the ELF notes itself; debug/elf (test-only here) must find the same ID.
func TestBuildIDMatchesELF(t *testing.T) {
	id, ok := buildID()
	if !ok || len(id) < 16 {
		t.Fatalf("no Go build ID read from /proc/self/exe: %q", id)
	}
	f, err := elf.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sec := f.Section(".note.go.buildid")
	if sec == nil {
		t.Fatal("the test binary has no .note.go.buildid")
	}
	d, err := sec.Data()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(bytes.TrimRight(d, "\x00"), id) {
		t.Fatalf("buildID %q is not the note's description (%q)", id, d)
	}
}

// The cache stays bounded: past the limit, a store removes the oldest entries down to half of it, and keeps
// the newest (the one just stored among them).
func TestDiskCachePrunes(t *testing.T) {
	c, dir := testCache(t)
	fd, err := c.openDir(true)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	base := time.Now().Add(-time.Hour)
	for i := 0; i < 10; i++ {
		p := filepath.Join(dir, fmt.Sprintf("%064x", i))
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		mt := base.Add(time.Duration(i) * time.Minute)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	prune(fd, 8)
	left, _ := filepath.Glob(filepath.Join(dir, "*"))
	if len(left) != 4 {
		t.Fatalf("%d entries left, want 4 (half of 8)", len(left))
	}
	for _, p := range left {
		var i int
		if _, err := fmt.Sscanf(filepath.Base(p), "%x", &i); err != nil || i < 6 {
			t.Errorf("%s survived: want only the 4 newest (6..9)", filepath.Base(p))
		}
	}
	prune(fd, 8) // under the limit: nothing goes
	if again, _ := filepath.Glob(filepath.Join(dir, "*")); len(again) != 4 {
		t.Fatalf("%d entries after a prune under the limit, want 4", len(again))
	}
}

// A store leaves no temporary file behind (the entry is written unnamed and linked in when complete), and
// it removes the temporary file of a writer that was killed between create and rename (the fallback for
// filesystems without O_TMPFILE) but not one whose writer still runs.
func TestDiskCacheLeavesNoTemporaryFiles(t *testing.T) {
	c, dir := testCache(t)
	fd, err := c.openDir(true)
	if err != nil {
		t.Fatal(err)
	}
	unix.Close(fd)
	gone := exec.Command("/bin/true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	dead := filepath.Join(dir, fmt.Sprintf(".%064x.%d.tmp", 1, gone.Process.Pid))
	live := filepath.Join(dir, fmt.Sprintf(".%064x.%d.tmp", 2, 1)) // pid 1 always runs
	for _, p := range []string{dead, live} {
		if err := os.WriteFile(p, []byte("partial"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s := shippedPolicy(t, "strict")
	key, _ := memoryKey(s, routedOptions)
	n := 0
	if _, _, err := c.loadOrBuild(key, counting(t, s, &n)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dead); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the killed writer's temporary file is still there: %v", err)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("a running writer's temporary file was removed: %v", err)
	}
	os.Remove(live)
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || strings.HasPrefix(ents[0].Name(), ".") {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("the cache holds %q, want one entry and nothing else", names)
	}
	// The entry is whole and trusted: the next load is a hit.
	if _, hit, err := c.loadOrBuild(key, counting(t, s, &n)); err != nil || !hit {
		t.Errorf("second load: hit %v, err %v", hit, err)
	}
}
