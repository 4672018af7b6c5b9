package cgroups

import (
	"errors"
	"strings"
	"testing"
)

func TestNameRoundTrip(t *testing.T) {
	o := owner{PIDNS: 4026531836, PID: 4242, Start: 987654}
	for _, tc := range []struct {
		name     string
		wantSelf bool
	}{
		{o.runName(1, ""), false},
		{o.runName(77, "run-42_x"), false},
		{o.runName(3, "a.b/c d"), false}, // sanitized: no dots or slashes survive
		{o.selfName(), true},
	} {
		got, self, ok := parseName(tc.name)
		if !ok || got != o || self != tc.wantSelf {
			t.Errorf("parseName(%q) = %+v, %v, %v", tc.name, got, self, ok)
		}
		if strings.ContainsAny(tc.name, "/ ") {
			t.Errorf("name %q has a separator", tc.name)
		}
	}
	if got := o.runName(3, "a.b/c d"); got != "jr.4026531836.4242.987654.3-a_b_c_d" {
		t.Errorf("runName = %q", got)
	}
	if n := o.runName(1, strings.Repeat("x", 500)); len(n) > 255 {
		t.Errorf("name longer than NAME_MAX: %d", len(n))
	}
}

func TestParseNameRejectsForeignNames(t *testing.T) {
	for _, name := range []string{
		"", "jailrun", "jr.", "jr.1.2.3", "jr.1.2.3.4.5", "jr.x.2.3.4", "jr.1.0.3.4", "jr.1.-2.3.4",
		"jr.1.2.3.x", "jr.1.2.3.self-x", "JR.1.2.3.4", "docker-abc.scope", "jr.1.99999999999.3.4",
	} {
		if o, _, ok := parseName(name); ok {
			t.Errorf("parseName(%q) accepted: %+v", name, o)
		}
	}
}

func TestWeights(t *testing.T) {
	for _, tc := range []struct {
		w        uint16
		bfq, cfq uint64
	}{
		{1, 1, 10}, {100, 100, 500}, {10000, 1000, 1000}, {50, 50, 253}, {5050, 550, 750},
	} {
		if got := bfqWeight(tc.w); got != tc.bfq {
			t.Errorf("bfqWeight(%d) = %d, want %d", tc.w, got, tc.bfq)
		}
		if got := cfqWeight(tc.w); got != tc.cfq {
			t.Errorf("cfqWeight(%d) = %d, want %d", tc.w, got, tc.cfq)
		}
	}
}

func TestCPUQuota(t *testing.T) {
	for _, tc := range []struct {
		cores         float64
		quota, period uint64
	}{
		{1, 100000, 100000}, {0.5, 50000, 100000}, {2.5, 250000, 100000},
		{0.01, 1000, 100000}, {0.005, 1000, 200000}, {0.001, 1000, 1000000},
	} {
		q, p := cpuQuota(tc.cores)
		if q != tc.quota || p != tc.period {
			t.Errorf("cpuQuota(%v) = %d/%d, want %d/%d", tc.cores, q, p, tc.quota, tc.period)
		}
	}
}

func TestCPUList(t *testing.T) {
	got, err := parseCPUList("0-2,5, 7-7\n")
	if err != nil || len(got) != 5 || !got[0] || !got[2] || !got[5] || !got[7] || got[3] {
		t.Errorf("got %v, %v", got, err)
	}
	for _, bad := range []string{"a", "3-1", "-1", "1-", "0-99999999"} {
		if _, err := parseCPUList(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	for _, tc := range []struct {
		req, eff string
		ok       bool
	}{
		{"0", "0", true}, {"0-3", "1", true}, {"0", "0-1", false}, {"5", "", false}, {"0", "1", false},
	} {
		if err := checkCpuset(tc.req, tc.eff); (err == nil) != tc.ok {
			t.Errorf("checkCpuset(%q, %q) = %v", tc.req, tc.eff, err)
		}
	}
}

func TestParseKeyed(t *testing.T) {
	data := []byte("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_throttled 0\n")
	for key, want := range map[string]int64{"usage_usec": 1500, "user_usec": 1000, "system_usec": 500} {
		if got, ok := parseKeyed(data, key); !ok || got != want {
			t.Errorf("%s = %d, %v", key, got, ok)
		}
	}
	if _, ok := parseKeyed(data, "usage"); ok {
		t.Error("prefix matched")
	}
	if got, ok := parseKeyed([]byte("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n"), "oom_kill"); !ok || got != 3 {
		t.Errorf("oom_kill = %d", got)
	}
}

func TestErrors(t *testing.T) {
	e := &UnsupportedError{Setting: "limits.memory_swap", Controller: "memory", File: "memory.swap.max", Reason: "r", Hint: "h"}
	if !errors.Is(e, ErrUnsupported) || !errors.Is(ErrNoCgroup, ErrUnsupported) {
		t.Error("not ErrUnsupported")
	}
	if got := e.Error(); !strings.HasPrefix(got, "limits.memory_swap cannot be enforced: memory.swap.max (memory controller): r; h") {
		t.Errorf("message %q", got)
	}
	le := &LimitError{Setting: "limits.cpuset", File: "cpuset.cpus", Value: "9", Reason: "CPUs outside", Err: errors.New("invalid argument")}
	if got := le.Error(); got != "limits.cpuset: the kernel refused cpuset.cpus=9: CPUs outside" {
		t.Errorf("message %q", got)
	}
	if errors.Is(le, ErrUnsupported) {
		t.Error("a refused value is not a missing feature")
	}
}
