package policy

import "testing"

// A kind the host will not create is dropped only when the launch can do without it and the policy says it
// may; the launcher (sandbox's cloneFailed) and doctor both ask this.
func TestNamespaceKindMayDrop(t *testing.T) {
	kind := func(name string) NamespaceKind {
		for _, k := range NamespaceKinds {
			if k.Name == name {
				return k
			}
		}
		t.Fatalf("no namespace kind %q", name)
		return NamespaceKind{}
	}
	for _, tc := range []struct {
		kind       string
		bestEffort []string
		want       bool
	}{
		{"time", []string{"namespaces.time"}, true},
		{"ipc", []string{"namespaces"}, true},
		{"time", nil, false},
		{"time", []string{"namespaces.ipc"}, false},
		{"uts", []string{"namespaces.uts"}, false},
		{"mount", []string{"namespaces"}, false},
		{"net", []string{"namespaces"}, false},
		{"pid", []string{"namespaces"}, false},
	} {
		if got := kind(tc.kind).MayDrop(Require{BestEffort: tc.bestEffort}); got != tc.want {
			t.Errorf("%s with best_effort %v: MayDrop %v, want %v", tc.kind, tc.bestEffort, got, tc.want)
		}
	}
}
