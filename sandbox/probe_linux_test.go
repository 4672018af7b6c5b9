//go:build linux && cgo

package sandbox

import (
	"errors"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
	"golang.org/x/sys/unix"
)

func kind(t *testing.T, name string) policy.NamespaceKind {
	t.Helper()
	k, ok := policy.NamespaceKindFor(name)
	if !ok {
		t.Fatalf("no namespace kind %q", name)
	}
	return k
}

// A kind the host will not create is dropped only when the launch can do without it and the policy says
// it may; anything else is refused (fail closed), naming every kind.
func TestMayDrop(t *testing.T) {
	for _, tc := range []struct {
		name       string
		bestEffort []string
		missing    []string
		drop       bool
	}{
		{"time, allowed", []string{"namespaces.time"}, []string{"time"}, true},
		{"ipc, allowed by the prefix", []string{"namespaces"}, []string{"ipc"}, true},
		{"time, not allowed", nil, []string{"time"}, false},
		{"uts, allowed but needed", []string{"namespaces.uts"}, []string{"uts"}, false},
		{"mount, allowed but needed", []string{"namespaces"}, []string{"mount"}, false},
		{"time allowed, net not", []string{"namespaces.time"}, []string{"time", "net"}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := policy.Builtin("strict")
			if err != nil {
				t.Fatal(err)
			}
			s = s.Clone()
			s.Require.BestEffort = tc.bestEffort
			var missing []policy.NamespaceKind
			var why []string
			for _, n := range tc.missing {
				missing = append(missing, kind(t, n))
				why = append(why, "namespaces."+n+": refused")
			}
			err = mayDrop(s, missing, why)
			if tc.drop != (err == nil) {
				t.Fatalf("mayDrop = %v, want drop %v", err, tc.drop)
			}
			if err != nil && (!errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), strings.Join(why, "; "))) {
				t.Errorf("refusal %q: want ErrUnsupported naming every kind", err)
			}
		})
	}
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

// The probe itself, against this kernel: every kind strict asks for can be made here (the sandboxes of
// every other test are made of them).
func TestProbeNamespaces(t *testing.T) {
	s, err := policy.Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	got := ProbeNamespaces(s)
	if len(got) != len(s.Namespaces.Names()) {
		t.Fatalf("probed %v, strict asks for %v", got, s.Namespaces.Names())
	}
	for _, ns := range got {
		if !ns.Available && ns.Setting != "namespaces.user" {
			t.Errorf("%s: %s", ns.Setting, ns.Err)
		}
	}
}
