//go:build linux && cgo

package seccomp

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// systemCacheDir holds root's cached programs. /run is a tmpfs: the cache starts empty after a reboot, and
// entries of replaced binaries do not pile up across boots. /run/jailrun is root's 0700 directory (host
// id locks live there too).
const systemCacheDir = "/run/jailrun/bpf"

// maxEntrySize bounds what is read: a program has at most maxInstructions instructions.
const maxEntrySize = 1 << 16

// maxEntries bounds the cache (at most maxEntries*maxEntrySize bytes of root's tmpfs, in practice a few
// KiB each): a store that finds more removes the least recently written down to half. Entries of an older
// jailrun build (another salt) are never read again and go this way too.
const maxEntries = 256

var entryMagic = [8]byte{'J', 'R', 'B', 'P', 'F', 0, 0, 1}

// diskCache is a directory of compiled programs trusted only while it and every directory above it belong
// to root (or owner) and cannot be written by anyone else; salt binds entries to one build of jailrun,
// one libseccomp and one architecture.
type diskCache struct {
	dir   string
	owner int
	salt  []byte
}

// systemDiskCache is root's cache, or nil (no cache) for other uids and for a binary without a Go build ID.
// A rootless cache would sit in a place the user, and so anything running as the user, can write: a
// tampered filter would then be loaded into the next sandbox. Rootless runs compile every time.
var systemDiskCache = sync.OnceValue(func() *diskCache {
	if os.Geteuid() != 0 {
		return nil
	}
	salt, ok := cacheSalt()
	if !ok {
		return nil
	}
	return &diskCache{dir: systemCacheDir, owner: 0, salt: salt}
})

// cacheSalt names what else decides the compiled program: the architecture, libseccomp's version (its
// code generator) and jailrun's own code (the plan, the prefix, the syscall table), by the executable's Go
// build ID, which changes with any input of the build.
func cacheSalt() ([]byte, bool) {
	id, ok := buildID()
	if !ok {
		return nil, false
	}
	maj, min, mic := libseccomp.GetLibraryVersion()
	return fmt.Appendf(nil, "%s\x00%s\x00libseccomp %d.%d.%d\x00%x", runtime.GOARCH, syscalls.Native, maj, min, mic, id), true
}

// buildID reads the Go build ID note (name "Go", type 4) of the running executable from its PT_NOTE
// segments. It parses the few ELF headers itself: debug/elf would add package init work (debug/dwarf,
// zstd) to every jailrun start.
func buildID() ([]byte, bool) {
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		return nil, false
	}
	defer f.Close()
	var eh [64]byte
	if _, err := f.ReadAt(eh[:], 0); err != nil || string(eh[:4]) != "\x7fELF" || eh[4] != 2 { // ELFCLASS64
		return nil, false
	}
	ne := binary.NativeEndian
	phoff, phentsize, phnum := ne.Uint64(eh[32:]), uint64(ne.Uint16(eh[54:])), uint64(ne.Uint16(eh[56:]))
	if phentsize < 56 || phnum == 0 || phnum > 256 {
		return nil, false
	}
	ph := make([]byte, phentsize*phnum)
	if _, err := f.ReadAt(ph, int64(phoff)); err != nil {
		return nil, false
	}
	for i := uint64(0); i < phnum; i++ {
		p := ph[i*phentsize:]
		if ne.Uint32(p) != 4 { // PT_NOTE
			continue
		}
		off, size := ne.Uint64(p[8:]), ne.Uint64(p[32:])
		if size > 1<<16 {
			continue
		}
		notes := make([]byte, size)
		if _, err := f.ReadAt(notes, int64(off)); err != nil {
			return nil, false
		}
		for len(notes) >= 12 {
			namesz, descsz, typ := uint64(ne.Uint32(notes)), uint64(ne.Uint32(notes[4:])), ne.Uint32(notes[8:])
			name, desc := align4(namesz), align4(descsz)
			if 12+name+desc > uint64(len(notes)) {
				break
			}
			if typ == 4 && strings.TrimRight(string(notes[12:12+namesz]), "\x00") == "Go" && descsz > 0 {
				return append([]byte(nil), notes[12+name:12+name+descsz]...), true
			}
			notes = notes[12+name+desc:]
		}
	}
	return nil, false
}

func align4(n uint64) uint64 { return (n + 3) &^ 3 }

// entryKey names an entry (its file name, in hex) and is stored in it: the hash of the salt and the policy's key, so that a file copied
// from another build, another libseccomp or another policy is a different name or fails the key check.
func (c *diskCache) entryKey(key [32]byte) [32]byte {
	h := sha256.New()
	h.Write(entryMagic[:])
	h.Write(c.salt)
	h.Write([]byte{0})
	h.Write(key[:])
	var k [32]byte
	h.Sum(k[:0])
	return k
}

func (c *diskCache) loadOrBuild(key [32]byte, build func() (*Program, error)) (*Program, bool, error) {
	if c == nil {
		p, err := build()
		return p, false, err
	}
	ek := c.entryKey(key)
	if p, err := c.load(ek); err == nil {
		return p, true, nil
	}
	p, err := build()
	if err != nil {
		return nil, false, err
	}
	_ = c.store(ek, p) // a cache that cannot be written only costs the next run a compile
	return p, false, nil
}

var errUntrusted = errors.New("seccomp cache: untrusted")

func (c *diskCache) load(ek [32]byte) (*Program, error) {
	dir, err := c.openDir(false)
	if err != nil {
		return nil, err
	}
	defer unix.Close(dir)
	fd, err := unix.Openat(dir, hex.EncodeToString(ek[:]), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	f := os.NewFile(uintptr(fd), "seccomp cache entry")
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, err
	}
	// One link only: a hard link made elsewhere would let its owner rewrite the entry.
	if st.Mode&unix.S_IFMT != unix.S_IFREG || int(st.Uid) != c.owner || st.Mode&0o022 != 0 || st.Nlink != 1 || st.Size > maxEntrySize {
		return nil, fmt.Errorf("%w: entry mode %o uid %d links %d size %d", errUntrusted, st.Mode, st.Uid, st.Nlink, st.Size)
	}
	buf, err := io.ReadAll(io.LimitReader(f, maxEntrySize+1))
	if err != nil {
		return nil, err
	}
	if len(buf) > maxEntrySize {
		return nil, fmt.Errorf("%w: entry grew while read", errUntrusted)
	}
	return decodeEntry(ek, buf)
}

func (c *diskCache) store(ek [32]byte, p *Program) error {
	data, err := encodeEntry(ek, p)
	if err != nil {
		return err
	}
	dir, err := c.openDir(true)
	if err != nil {
		return err
	}
	defer unix.Close(dir)
	name := hex.EncodeToString(ek[:])
	sweepTemps(dir)
	err = storeUnnamed(dir, name, data)
	if errors.Is(err, errNoTmpfile) {
		err = storeNamed(dir, name, data)
	}
	if err != nil {
		return err
	}
	prune(dir, maxEntries)
	return nil
}

// errNoTmpfile: the cache's filesystem or kernel has no O_TMPFILE, or the unnamed file cannot be linked.
var errNoTmpfile = errors.New("no O_TMPFILE")

// storeUnnamed writes the entry as an unnamed file (O_TMPFILE) and links it in under its name once it is
// complete: a jailrun killed while writing leaves nothing behind, not even a temporary name.
func storeUnnamed(dir int, name string, data []byte) error {
	fd, err := unix.Openat(dir, ".", unix.O_WRONLY|unix.O_TMPFILE|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return fmt.Errorf("%w: %w", errNoTmpfile, err)
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	if _, err := f.Write(data); err != nil {
		return err
	}
	link := func() error {
		// AT_EMPTY_PATH needs CAP_DAC_READ_SEARCH (root's cache has it); /proc's link to the descriptor
		// does not.
		err := unix.Linkat(fd, "", dir, name, unix.AT_EMPTY_PATH)
		if err != nil && !errors.Is(err, unix.EEXIST) {
			err = unix.Linkat(unix.AT_FDCWD, "/proc/self/fd/"+strconv.Itoa(fd), dir, name, unix.AT_SYMLINK_FOLLOW)
		}
		return err
	}
	err = link()
	if errors.Is(err, unix.EEXIST) {
		// A rejected entry (foreign, corrupt) under the same name: replace it. Another process storing the
		// same entry at the same time stores the same bytes.
		_ = unix.Unlinkat(dir, name, 0)
		err = link()
		if errors.Is(err, unix.EEXIST) {
			err = nil
		}
	}
	if err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("%w: link: %w", errNoTmpfile, err)
	}
	return nil
}

// storeNamed writes the entry under a temporary name and renames it into place: for filesystems without
// O_TMPFILE. A leftover of a killed writer is removed by the next store (sweepTemps).
func storeNamed(dir int, name string, data []byte) error {
	tmp := "." + name + "." + strconv.Itoa(os.Getpid()) + ".tmp"
	fd, err := unix.Openat(dir, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), tmp)
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = unix.Renameat(dir, tmp, dir, name)
	}
	if err != nil {
		_ = unix.Unlinkat(dir, tmp, 0)
	}
	return err
}

// sweepTemps removes the temporary files of writers that are gone (".<name>.<pid>.tmp" whose pid no
// longer exists): storeNamed's leftovers when jailrun was killed between create and rename.
func sweepTemps(dir int) {
	rd, err := unix.Openat(dir, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(rd), systemCacheDir)
	names, _ := f.Readdirnames(-1)
	f.Close()
	for _, n := range names {
		rest, ok := strings.CutSuffix(n, ".tmp")
		if !ok || !strings.HasPrefix(n, ".") {
			continue
		}
		pid, err := strconv.Atoi(rest[strings.LastIndexByte(rest, '.')+1:])
		if err != nil || pid <= 0 || pid == os.Getpid() {
			continue
		}
		if unix.Kill(pid, 0) == unix.ESRCH {
			_ = unix.Unlinkat(dir, n, 0)
		}
	}
}

// prune removes the oldest entries (by modification time) of the cache directory dir when it holds more
// than limit, down to limit/2. It runs on a store, that is on a cache miss, never on the way to a hit. Errors
// leave the cache as it is: a cache a little too large costs nothing but space.
func prune(dir int, limit int) {
	rd, err := unix.Openat(dir, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	f := os.NewFile(uintptr(rd), systemCacheDir)
	names, err := f.Readdirnames(-1)
	f.Close()
	if err != nil || len(names) <= limit {
		return
	}
	type entry struct {
		name  string
		mtime int64
	}
	var es []entry
	for _, n := range names {
		var st unix.Stat_t
		if strings.HasPrefix(n, ".") || unix.Fstatat(dir, n, &st, unix.AT_SYMLINK_NOFOLLOW) != nil {
			continue
		}
		es = append(es, entry{n, st.Mtim.Nano()})
	}
	sort.Slice(es, func(i, j int) bool { return es[i].mtime < es[j].mtime })
	for _, e := range es[:max(len(es)-limit/2, 0)] {
		_ = unix.Unlinkat(dir, e.name, 0)
	}
}

// openDir opens c.dir component by component from /, never following a symlink, and checks each
// directory: owned by root or c.owner, writable by no one else (a root-owned sticky directory such as
// /tmp is fine above the cache: no one else may rename root's entries in it). The cache directory itself
// must be c.owner's and closed to group and others' writes. With create, missing directories are made
// 0700.
func (c *diskCache) openDir(create bool) (int, error) {
	if !strings.HasPrefix(c.dir, "/") {
		return -1, fmt.Errorf("%w: %s is not absolute", errUntrusted, c.dir)
	}
	fd, err := unix.Open("/", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	parts := strings.FieldsFunc(c.dir, func(r rune) bool { return r == '/' })
	for i, name := range parts {
		if name == "." || name == ".." {
			unix.Close(fd)
			return -1, fmt.Errorf("%w: %s has %s", errUntrusted, c.dir, name)
		}
		last := i == len(parts)-1
		next, err := unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if errors.Is(err, unix.ENOENT) && create {
			if err = unix.Mkdirat(fd, name, 0o700); err == nil || errors.Is(err, unix.EEXIST) {
				next, err = unix.Openat(fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			}
		}
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
		fd = next
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			return -1, err
		}
		uid, mode := int(st.Uid), st.Mode
		ok := st.Mode&unix.S_IFMT == unix.S_IFDIR && (uid == 0 || uid == c.owner) &&
			(mode&0o022 == 0 || (!last && uid == 0 && mode&unix.S_ISVTX != 0))
		if last {
			ok = ok && uid == c.owner && mode&0o022 == 0
		}
		if !ok {
			unix.Close(fd)
			return -1, fmt.Errorf("%w: /%s is mode %o, uid %d", errUntrusted, strings.Join(parts[:i+1], "/"), mode&0o7777, uid)
		}
	}
	return fd, nil
}

// An entry is: magic, entry key, audit arch, flags (1: needs notify), prefix length, the actions
// (SECCOMP_RET_* values), the instructions (struct sock_filter, native endian), then the SHA-256 of all of
// that. Every count is checked against the length, so a short or spliced file is refused.
func encodeEntry(ek [32]byte, p *Program) ([]byte, error) {
	audit, ok := AuditArch(p.arch)
	if !ok || p.arch != syscalls.Native {
		return nil, fmt.Errorf("seccomp cache: program for %s", p.arch)
	}
	b := append([]byte(nil), entryMagic[:]...)
	b = append(b, ek[:]...)
	var flags uint32
	if p.notify {
		flags = 1
	}
	ne := binary.NativeEndian
	b = ne.AppendUint32(b, audit)
	b = ne.AppendUint32(b, flags)
	b = ne.AppendUint32(b, uint32(p.prefixLen))
	b = ne.AppendUint32(b, uint32(len(p.actions)))
	for _, a := range p.actions {
		ret, err := EncodeAction(a)
		if err != nil {
			return nil, err
		}
		if back, err := DecodeRet(ret); err != nil || back != a {
			return nil, fmt.Errorf("seccomp cache: action %s does not round-trip", FormatAction(a))
		}
		b = ne.AppendUint32(b, ret)
	}
	b = ne.AppendUint32(b, uint32(len(p.insns)))
	b = append(b, p.Bytes()...)
	sum := sha256.Sum256(b)
	return append(b, sum[:]...), nil
}

func decodeEntry(ek [32]byte, b []byte) (*Program, error) {
	bad := func(what string) (*Program, error) {
		return nil, fmt.Errorf("%w: entry %s", errUntrusted, what)
	}
	const head = 8 + 32 + 4*4
	if len(b) < head+4+32 {
		return bad("too short")
	}
	body, sum := b[:len(b)-32], b[len(b)-32:]
	if want := sha256.Sum256(body); !bytes.Equal(sum, want[:]) {
		return bad("checksum")
	}
	if !bytes.Equal(body[:8], entryMagic[:]) || !bytes.Equal(body[8:40], ek[:]) {
		return bad("key")
	}
	ne := binary.NativeEndian
	audit, flags, prefixLen, nact := ne.Uint32(body[40:]), ne.Uint32(body[44:]), ne.Uint32(body[48:]), ne.Uint32(body[52:])
	if native, _ := AuditArch(syscalls.Native); audit != native || flags > 1 {
		return bad("architecture or flags")
	}
	rest := body[head:]
	if uint64(nact)*4+4 > uint64(len(rest)) {
		return bad("action count")
	}
	actions := make([]policy.Action, nact)
	for i := range actions {
		a, err := DecodeRet(ne.Uint32(rest[4*i:]))
		if err != nil {
			return bad("action")
		}
		actions[i] = a
	}
	rest = rest[4*nact:]
	ninsn := ne.Uint32(rest)
	rest = rest[4:]
	if ninsn == 0 || ninsn > maxInstructions || uint64(len(rest)) != 8*uint64(ninsn) || prefixLen > ninsn {
		return bad("instruction count")
	}
	insns, err := parseSockFilters(rest)
	if err != nil {
		return bad("instructions")
	}
	return &Program{insns: insns, arch: syscalls.Native, prefixLen: int(prefixLen), notify: flags == 1, actions: actions}, nil
}
