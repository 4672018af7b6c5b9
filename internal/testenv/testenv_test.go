package testenv

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// The two skips differ exactly in how they treat JAILRUN_REQUIRE_PRIVILEGED: run each in a child test
// process with the variable set, and read its verdict.
func TestSkipKinds(t *testing.T) {
	if name := os.Getenv("TESTENV_CHILD"); name != "" {
		switch name {
		case "privilege":
			SkipOrFail(t, "needs root")
		case "feature":
			SkipMissingFeature(t, "IA32 emulation", "probe")
		}
		return
	}
	for _, tc := range []struct{ kind, want string }{
		{"privilege", "--- FAIL"},
		{"feature", "--- SKIP"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSkipKinds$", "-test.v")
		cmd.Env = append(os.Environ(), "TESTENV_CHILD="+tc.kind, "JAILRUN_REQUIRE_PRIVILEGED=1")
		out, _ := cmd.CombinedOutput()
		if !strings.Contains(string(out), tc.want) {
			t.Errorf("%s skip under JAILRUN_REQUIRE_PRIVILEGED=1: want %q in\n%s", tc.kind, tc.want, out)
		}
	}
}
