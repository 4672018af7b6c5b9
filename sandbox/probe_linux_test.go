//go:build linux && cgo

package sandbox

import (
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

func kind(t *testing.T, name string) policy.NamespaceKind {
	t.Helper()
	for _, k := range policy.NamespaceKinds {
		if k.Name == name {
			return k
		}
	}
	t.Fatalf("no namespace kind %q", name)
	return policy.NamespaceKind{}
}

// The refusal's words: the errno, what it means and the fix, offering best_effort only where it can help.
func TestNamespaceProblem(t *testing.T) {
	for _, tc := range []struct {
		kind string
		err  error
		want []string
		not  string
	}{
		{"time", unix.EINVAL, []string{"cannot create time namespaces", "list namespaces.time in require.best_effort"}, ""},
		{"time", unix.ENOSPC, []string{"limit on time namespaces is reached", "/proc/sys/user/max_time_namespaces"}, ""},
		{"mount", unix.ENOSPC, []string{"limit on mount namespaces is reached", "/proc/sys/user/max_mnt_namespaces"}, "best_effort"},
		{"uts", unix.EPERM, []string{"refused here", "allow it"}, "best_effort"},
		{"user", errUsernsNoCaps, []string{"grants no capabilities"}, ""},
	} {
		got := namespaceProblem(kind(t, tc.kind), tc.err)
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%s/%v: %q lacks %q", tc.kind, tc.err, got, w)
			}
		}
		if tc.not != "" && strings.Contains(got, tc.not) {
			t.Errorf("%s/%v: %q offers %q, which cannot help", tc.kind, tc.err, got, tc.not)
		}
	}
}

// The probe itself, against this kernel: every kind strict asks for but the user namespace (ProbeUserns's)
// is probed, and can be made here (the sandboxes of every other test are made of them).
func TestProbeNamespaces(t *testing.T) {
	s, err := policy.Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	got := ProbeNamespaces(s)
	if len(got) != len(s.Namespaces.Names())-1 {
		t.Fatalf("probed %v, strict asks for %v", got, s.Namespaces.Names())
	}
	for _, ns := range got {
		if ns.Setting == "namespaces.user" || !ns.Available || ns.Skipped {
			t.Errorf("%+v: want every kind but user, available", ns)
		}
	}
}
