package sandbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
)

// DecideMode is the one decision the launcher applies and jailrun doctor reports: every branch, from host
// facts given here rather than probed.
func TestDecideMode(t *testing.T) {
	compile := func(src string) *policy.Settings {
		t.Helper()
		p, err := policy.Parse([]byte(src), "test.json")
		if err != nil {
			t.Fatal(err)
		}
		s, err := policy.Compile(p)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	strict := compile(`{"version": 1, "extends": "strict"}`)
	noUser := compile(`{"version": 1, "extends": "strict", "namespaces": {"user": false}, "process": {"uid": 1000, "gid": 1000}}`)
	skipUser := compile(`{"version": 1, "extends": "strict", "require": {"best_effort": ["namespaces.user"]}}`)
	deg := compile(`{"version": 1, "extends": "strict", "require": {"best_effort": ["namespaces"]}}`)
	degNoLandlock := compile(`{"version": 1, "extends": "strict", "filesystem": {"landlock": "off"}, "require": {"best_effort": ["namespaces"]}}`)
	// No seccomp filter (it needs no_new_privs, so a policy extending strict could not turn it off).
	degNoNNP := compile(`{"version": 1, "process": {"no_new_privs": false, "unsafe": true}, "require": {"best_effort": ["namespaces"]}}`)

	blocked := UsernsStatus{Err: "clone(CLONE_NEWUSER): operation not permitted",
		Blockers: []Blocker{{Knob: "kernel.unprivileged_userns_clone", What: "is 0", Fix: "sysctl -w kernel.unprivileged_userns_clone=1"}}}
	works := UsernsStatus{Available: true}
	noLandlock := errors.New("the kernel has no Landlock")
	user := HostFacts{UID: 1000, Userns: works}
	root := HostFacts{UID: 0, Root: true, Userns: works}
	userBlocked := HostFacts{UID: 1000, Userns: blocked}
	rootBlocked := HostFacts{UID: 0, Root: true, Userns: blocked}
	userBlockedNoLL := HostFacts{UID: 1000, Userns: blocked, Landlock: noLandlock}

	for _, tc := range []struct {
		name string
		s    *policy.Settings
		h    HostFacts
		mode string
		why  []string // substrings of Why
	}{
		{"user namespaces work", strict, user, ModeNamespaces, []string{"uid 1000"}},
		{"policy without userns, caller not root", noUser, user, ModeRefused, []string{"namespaces.user is off, which needs root", "uid 1000"}},
		{"policy without userns, root", noUser, root, ModeWithoutUser, []string{"turns the user namespace off"}},
		{"root refused userns, policy requires it", strict, rootBlocked, ModeRefused, []string{"even to root", "sysctl -w kernel.unprivileged_userns_clone=1", "require.best_effort"}},
		{"root refused userns, policy skips it", skipUser, rootBlocked, ModeWithoutUser, []string{"namespaces.user to be skipped"}},
		{"no userns, policy requires namespaces", strict, userBlocked, ModeRefused, []string{"uid 1000", "sysctl -w kernel.unprivileged_userns_clone=1", "namespaces.pid", "namespaces.net"}},
		{"no userns, only namespaces.user skippable", skipUser, userBlocked, ModeRefused, []string{"not allowed now: namespaces.pid"}},
		{"degraded, landlock off in the policy", degNoLandlock, userBlocked, ModeRefused, []string{`filesystem.landlock is "off"`}},
		{"degraded, no landlock in the kernel", deg, userBlockedNoLL, ModeRefused, []string{"needs Landlock", "the kernel has no Landlock"}},
		{"degraded, no_new_privs off", degNoNNP, userBlocked, ModeRefused, []string{"process.no_new_privs"}},
		{"degraded", deg, userBlocked, ModeDegraded, []string{"operation not permitted", "no pid, mount or network isolation"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := DecideMode(tc.s, tc.h)
			if d.Mode != tc.mode {
				t.Fatalf("mode %q, want %q (%s)", d.Mode, tc.mode, d.Why)
			}
			for _, w := range tc.why {
				if !strings.Contains(d.Why, w) {
					t.Errorf("why lacks %q: %s", w, d.Why)
				}
			}
			if refused := tc.mode == ModeRefused; refused != (d.Err != nil) || (refused && !errors.Is(d.Err, ErrUnsupported)) {
				t.Errorf("err %v for mode %s", d.Err, d.Mode)
			}
			if d.Err != nil && d.Err.Error() != ErrUnsupported.Error()+": "+d.Why {
				t.Errorf("doctor's why and the launcher's refusal differ:\n%s\n%s", d.Why, d.Err)
			}
			if tc.h.Landlock != nil && d.Err != nil && !errors.Is(d.Err, tc.h.Landlock) {
				t.Errorf("the Landlock error is not wrapped: %v", d.Err)
			}
		})
	}
}
