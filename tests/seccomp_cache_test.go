package tests

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// bpfCacheDir is where a root jailrun keeps compiled seccomp filters (seccomp/diskcache_linux.go).
const bpfCacheDir = "/run/jailrun/bpf"

// TestSeccompDiskCache: a root run stores its compiled filter in /run/jailrun/bpf; the next run loads it
// and the filter still bites; an entry that is not the policy's own (another policy's program copied over
// it) or that others could have written (mode 0666) is not used, and is replaced by a good one.
func TestSeccompDiskCache(t *testing.T) {
	requireRoot(t)
	// A policy of this test's own, so that its entry is new: setuid traps, and getpriority is allowed for one
	// random argument value, whose comparison instruction marks the entry (other runs may add entries
	// meanwhile; every refusal is routed to the supervisor, so a distinct errno would not show in the filter).
	val := 1_000_000 + rand.Uint32N(1_000_000_000)
	strictPol := probePolicyWith(t, fmt.Sprintf(`{"syscalls": ["setuid"], "action": "trap"},
		{"syscalls": ["getpriority"], "action": "allow", "args": [{"index": 0, "op": "==", "value": %d}]}`, val))
	marker := binary.NativeEndian.AppendUint32(nil, val)
	// Each policy leaves two entries: the filter loaded into the kernel, which routes every refusal to the
	// supervisor (SECCOMP_RET_USER_NOTIF), and the policy as written, which the supervisor evaluates. The
	// tampering below is aimed at the loaded one.
	notify := binary.NativeEndian.AppendUint32(nil, 0x7fc00000)
	// The same with setuid allowed: its cached program is what an attacker would like loaded instead.
	loosePol := filepath.Join(filepath.Dir(strictPol), "loose.json")
	os.WriteFile(loosePol, []byte(`{"version": 1, "name": "loose", "extends": "rules.json", "seccomp": {"rules": [{"syscalls": ["setuid"], "action": "allow"}]}}`), 0o644)

	setuidTraps := func(what string) {
		t.Helper()
		r := jailrun(t, []string{"--quiet", "--policy", strictPol, "--", "/probe/syscall_probe", "setuid"})
		v, _ := r.result["seccomp_violation"].(map[string]any)
		if r.status() != "seccomp_violation" || v == nil || v["syscall"] != "setuid" {
			t.Fatalf("%s: want a seccomp_violation naming setuid, got status %s violation %v\n%v", what, r.status(), v, r)
		}
	}
	// entriesWith lists the entries holding the marker (and, when loaded, the notify action), other than except.
	entriesWith := func(except string, loaded bool) []string {
		t.Helper()
		des, err := os.ReadDir(bpfCacheDir)
		if err != nil {
			t.Fatalf("no cache directory after a root run: %v", err)
		}
		var found []string
		for _, de := range des {
			p := filepath.Join(bpfCacheDir, de.Name())
			if b, err := os.ReadFile(p); err == nil && p != except && bytes.Contains(b, marker) &&
				(!loaded || bytes.Contains(b, notify)) {
				found = append(found, p)
			}
		}
		return found
	}
	// entryWith finds the one loaded entry holding the marker, other than except.
	entryWith := func(except string) string {
		t.Helper()
		found := entriesWith(except, true)
		if len(found) != 1 {
			t.Fatalf("%d loaded entries in %s hold this test's filter, want 1: %v", len(found), bpfCacheDir, found)
		}
		return found[0]
	}

	setuidTraps("cold")
	entry := entryWith("")
	both := entriesWith("", false)
	if len(both) != 2 {
		t.Fatalf("%d entries hold this test's policy, want 2 (loaded and as written): %v", len(both), both)
	}
	defer func() { // every entry of this test's policies, loaded and as written
		for _, p := range entriesWith("", false) {
			os.Remove(p)
		}
	}()
	setuidTraps("warm")

	// The loose policy's entry copied over this policy's: the key inside it does not match.
	if r := jailrun(t, []string{"--quiet", "--policy", loosePol, "--", "/probe/syscall_probe", "setuid"}); r.status() != "ok" {
		t.Fatalf("the loose policy should allow setuid: %v", r)
	}
	loose := entryWith(entry)
	b, err := os.ReadFile(loose)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(entry, b, 0o600); err != nil {
		t.Fatal(err)
	}
	setuidTraps("another policy's entry")

	// A world-writable entry is not used, and is replaced (a new file, mode 0600).
	if err := os.Chmod(entry, 0o666); err != nil {
		t.Fatal(err)
	}
	st0 := inode(t, entry)
	setuidTraps("world-writable entry")
	fi, err := os.Lstat(entry)
	if err != nil {
		t.Fatal(err)
	}
	if inode(t, entry) == st0 || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the world-writable entry was not replaced: mode %v", fi.Mode())
	}
}

func inode(t *testing.T, p string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Lstat(p, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
