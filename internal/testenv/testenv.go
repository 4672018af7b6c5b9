// Package testenv is the one place tests decide whether to skip.
//
// There are two kinds of skip, and they must not be confused:
//
//   - A privilege skip (SkipOrFail): the test needs root, namespaces or cgroups that this process was not
//     given. CI sets JAILRUN_REQUIRE_PRIVILEGED=1, which turns such a skip into a failure, because CI is set
//     up to provide them and a skip there would hide a broken setup.
//   - A kernel-feature skip (SkipMissingFeature): the test needs something this kernel was built or booted
//     without (IA32 emulation, say). No amount of privilege provides it, so it stays a skip under
//     JAILRUN_REQUIRE_PRIVILEGED=1, and it names the feature so the reader knows what was not tested.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// RequirePrivileged says whether privilege skips are failures (JAILRUN_REQUIRE_PRIVILEGED=1, as in CI).
func RequirePrivileged() bool { return os.Getenv("JAILRUN_REQUIRE_PRIVILEGED") == "1" }

// SkipOrFail skips the test for lack of privilege, or fails it when privilege is required.
func SkipOrFail(t testing.TB, format string, a ...any) {
	t.Helper()
	if RequirePrivileged() {
		t.Fatalf("JAILRUN_REQUIRE_PRIVILEGED=1 but: "+format, a...)
	}
	t.Skipf(format, a...)
}

// SkipMissingFeature skips because the kernel lacks feature; detail says how that was found out.
func SkipMissingFeature(t testing.TB, feature, detail string) {
	t.Helper()
	t.Skipf("kernel feature missing: %s (%s); not a privilege skip", feature, detail)
}

// InVM reports whether the tests run in the cgroup v2 VM lane (tests/vm), an emulated machine that is an
// order of magnitude slower than the host and whose CPU time accounting is tick-sampled under emulation:
// tests skip or relax only what emulation distorts, never what the kernel enforces.
func InVM() bool { return os.Getenv("JAILRUN_VM") != "" }

// GoTool returns the go command for tests that build or type-check code. It skips under -short, in the VM
// lane (its guest has no module cache to build with; the host covers those tests) and without a go tool.
func GoTool(t testing.TB) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the go tool")
	}
	if InVM() {
		t.Skip("the VM lane's guest has no Go module cache to build with; covered on the host")
	}
	goTool, err := exec.LookPath("go") // go test puts its own GOROOT/bin first in PATH
	if err != nil {
		t.Skipf("no go tool: %v", err)
	}
	return goTool
}

// Golden compares got with the golden file path, or rewrites the file when update is set (the package's
// -update flag). what names the content in the failure ("the mount plan of strict"); rerun says how to
// regenerate the file.
func Golden(t testing.TB, path, got string, update bool, what, rerun string) {
	t.Helper()
	if update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (%s writes it)", err, rerun)
	}
	if got != string(want) {
		t.Errorf("%s changed; review the diff and rerun with -update if it is intended:\n--- want\n%s\n--- got\n%s", what, want, got)
	}
}

// SetHostLimit writes value to a host-wide /proc/sys file (a namespace limit, say) for the rest of the test
// and puts the old value back at its end. A file this host lacks, or a root that may not write it (no
// CAP_SYS_RESOURCE in its bounding set, as on this CI host; the v2 VM lane's root may), skips the test naming
// the missing feature. It returns a function that restores the old value at once.
func SetHostLimit(t testing.TB, path, value, feature string) (restore func()) {
	t.Helper()
	old, err := os.ReadFile(path)
	if err != nil {
		SkipMissingFeature(t, feature, err.Error())
	}
	if err := os.WriteFile(path, old, 0o644); err != nil {
		SkipMissingFeature(t, "CAP_SYS_RESOURCE for root (to set "+path+")", err.Error())
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		t.Fatal(err)
	}
	restore = func() {
		if err := os.WriteFile(path, old, 0o644); err != nil {
			t.Errorf("restore %s: %v", path, err)
		}
	}
	t.Cleanup(restore)
	return restore
}
