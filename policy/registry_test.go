package policy

import (
	"fmt"
	"strings"
	"testing"
)

// Every cgroup limit goes through the whole policy path: written in a policy, it decodes, survives extends,
// formats back to the same key, compiles to a value that On sees, Part keeps and enforced reports, and may
// be listed in require.best_effort.
func TestCgroupLimitsTable(t *testing.T) {
	values := map[string]string{
		"memory": `"64M"`, "memory_swap": `"16M"`, "pids": `7`, "cpu": `0.5`, "cpuset": `"0"`,
		"io_weight": `300`, "cpu_time": `"1.5s"`,
	}
	seen := map[string]bool{}
	for _, c := range CgroupLimits {
		if seen[c.Name] {
			t.Fatalf("%s listed twice", c.Name)
		}
		seen[c.Name] = true
		if c.On == nil || c.Value == nil || c.Part == nil || c.Explain == nil || c.decode == nil || c.merge == nil ||
			c.format == nil || c.compile == nil || c.check == nil {
			t.Fatalf("%s: an entry needs every function", c.Name)
		}
		if !c.On(c.Trial) || !c.On(c.Part(c.Trial)) {
			t.Errorf("%s: the trial value does not ask for the limit", c.Name)
		}
		if c.With == "" && c.V1Ctrl == "" && c.V2Ctrl == "" {
			t.Errorf("%s: no controller and not part of another limit", c.Name)
		}
		v, ok := values[c.Name]
		if !ok {
			t.Fatalf("%s: add a sample value to this test", c.Name)
		}
		limits := fmt.Sprintf(`"%s": %s`, c.Name, v)
		if c.With != "" {
			limits = fmt.Sprintf(`"%s": %s, %s`, c.With, values[c.With], limits)
		}
		child := mustParse(t, fmt.Sprintf(`{"version": 1, "extends": "strict", "limits": {%s}, "require": {"best_effort": [%q]}}`, limits, c.Setting()))
		s, err := Compile(child)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		checkInvariants(t, s)
		if !c.On(s.Limits) || c.Value(s.Limits) == "" {
			t.Errorf("%s: compiled limits %+v do not carry it", c.Name, s.Limits)
		}
		if c.Part(s.Limits) != c.Part(c.Part(s.Limits)) || !c.On(c.Part(s.Limits)) {
			t.Errorf("%s: Part loses the limit", c.Name)
		}
		if !strings.Contains(string(s.canonical), fmt.Sprintf(`"%s":`, c.Name)) {
			t.Errorf("%s: missing from the canonical policy %s", c.Name, s.canonical)
		}
		if value, _ := c.Explain(s.Limits); !strings.Contains(Explain(s), fmt.Sprintf("  %-12s %-16s", c.Name, value)) {
			t.Errorf("%s: explain does not list %q", c.Name, value)
		}
		if _, ok := CgroupLimitByName(c.Name); !ok {
			t.Errorf("%s: not found by name", c.Name)
		}
	}
}

func TestNamespaceKindsTable(t *testing.T) {
	var flags uint64
	for _, k := range NamespaceKinds {
		if k.Clone == 0 || flags&k.Clone != 0 {
			t.Errorf("%s: clone flag %#x missing or shared", k.Name, k.Clone)
		}
		flags |= k.Clone
		if !strings.HasPrefix(k.Missing, k.Name+": ") || k.Fresh == "" {
			t.Errorf("%s: explain texts", k.Name)
		}
		// Each kind is its own field: turning it off in a policy turns off that one alone.
		s := mustCompile(t, fmt.Sprintf(`{"version": 1, "namespaces": {%q: %v}, "process": {"unsafe": true}}`, k.Name, !k.Default))
		var want Namespaces
		for _, o := range NamespaceKinds {
			o.Set(&want, o.Default)
		}
		k.Set(&want, !k.Default)
		if s.Namespaces != want {
			t.Errorf("%s: compiled %+v, want %+v", k.Name, s.Namespaces, want)
		}
		if !bestEffortPaths[k.Setting()] {
			t.Errorf("%s may not be listed in require.best_effort", k.Setting())
		}
	}
}
