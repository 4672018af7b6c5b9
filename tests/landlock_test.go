package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// kernelLandlockABI is the running kernel's Landlock ABI, 0 without Landlock.
func kernelLandlockABI() int {
	abi, _, e := unix.Syscall(unix.SYS_LANDLOCK_CREATE_RULESET, 0, 0, unix.LANDLOCK_CREATE_RULESET_VERSION)
	if e != 0 {
		return 0
	}
	return int(abi)
}

// worldDir makes a directory the sandbox's unprivileged host user can open as a bind source (t.TempDir is
// 0700), holding one readable file.
func worldDir(t *testing.T, file, content string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "jailrun-ll-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, file), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// The Landlock layer stands on its own: a host directory bound into the sandbox (so the mount namespace
// exposes it) but left out of the Landlock rules cannot be read, while the same directory bound with rules
// can; with filesystem.landlock "off" the mount layer alone lets both through, which shows the denial
// comes from Landlock.
func TestLandlockDeniesWhatTheMountsExpose(t *testing.T) {
	requireUserns(t)
	// Two directories: Landlock rules attach to the directory itself, not to the path it is mounted at, so
	// one directory bound twice would get the rights of either mount.
	ruled, unruled := worldDir(t, "secret", "s3cret\n"), worldDir(t, "secret", "s3cret\n")
	mounts := `{"type": "bind", "src": "` + ruled + `", "dst": "/ruled"},
		{"type": "bind", "src": "` + unruled + `", "dst": "/unruled", "landlock": false}`
	script := `cat /ruled/secret; cat /unruled/secret 2>&1; ls /unruled >/dev/null 2>&1 && echo listed; echo x > /tmp/w && echo wrote`
	for _, tc := range []struct {
		mode, want string
		landlock   bool
	}{
		{"auto", "s3cret\ncat: /unruled/secret: Permission denied\nlisted\nwrote\n", true},
		{"require", "s3cret\ncat: /unruled/secret: Permission denied\nlisted\nwrote\n", true},
		{"off", "s3cret\ns3cret\nlisted\nwrote\n", false},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			pol := policyFile(t, `"filesystem": {"landlock": "`+tc.mode+`", "mounts": [`+mounts+`]},
				"require": {"best_effort": ["limits"]}`)
			r := jailrun(t, []string{"--policy", pol, "--", "/bin/sh", "-c", script})
			if kernelLandlockABI() == 0 && tc.landlock {
				// A kernel without Landlock: "auto" runs and says it skipped it, "require" refuses.
				if tc.mode == "require" {
					if r.code != 121 || !strings.Contains(r.stderr, "filesystem.landlock") {
						t.Fatalf("want a refusal naming filesystem.landlock, got %v", r)
					}
					return
				}
				if !strings.Contains(strings.Join(toStrings(r.result["skipped"]), " "), "filesystem.landlock") {
					t.Fatalf("skipped must name filesystem.landlock on a kernel without it: %v", r.result["skipped"])
				}
				return
			}
			if r.stdout != tc.want {
				t.Fatalf("want %q, got %v", tc.want, r)
			}
			enf, _ := r.result["enforced"].(map[string]any)
			ll, has := enf["landlock"].(map[string]any)
			if has != tc.landlock {
				t.Fatalf("enforced.landlock present=%v, want %v: %v", has, tc.landlock, enf)
			}
			// TCP is handled from ABI 4 on (a 6.1 kernel has ABI 2 or 3).
			wantTCP := "denied"
			if kernelLandlockABI() < 4 {
				wantTCP = "not restricted"
			}
			if has && (ll["abi"].(float64) < 1 || ll["tcp"] != wantTCP) {
				t.Fatalf("enforced.landlock: %v", ll)
			}
			for _, sk := range toStrings(r.result["skipped"]) {
				if !strings.HasPrefix(sk, "limits.") { // a rootless caller may have no delegated cgroup
					t.Fatalf("skipped: %v", sk)
				}
			}
		})
	}
}

// A policy without a mount namespace sees the host's tree: there are no mounts to derive Landlock rules
// from, so "auto" must not apply a ruleset that would deny everything.
func TestLandlockNotAppliedWithoutMountNamespace(t *testing.T) {
	requirePrivileged(t)
	p := filepath.Join(t.TempDir(), "nomount.json")
	if err := os.WriteFile(p, []byte(`{"version": 1, "name": "nomount", "namespaces": {"mount": false}, "process": {"uid": 1000, "gid": 1000}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	r := jailrun(t, []string{"--policy", p, "--", "/bin/echo", "hi"})
	if r.code != 0 || r.stdout != "hi\n" {
		t.Fatalf("want hi, got %v", r)
	}
	if enf, _ := r.result["enforced"].(map[string]any); enf["landlock"] != nil {
		t.Fatalf("no Landlock layer expected without a mount namespace: %v", enf["landlock"])
	}
}
