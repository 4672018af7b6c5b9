package policy

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestApplyOverrides(t *testing.T) {
	base, err := Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	mountAt := func(s *Settings, dst string) *Mount {
		for i := range s.Filesystem.Mounts {
			if s.Filesystem.Mounts[i].Dst == dst {
				return &s.Filesystem.Mounts[i]
			}
		}
		return nil
	}
	for _, tc := range []struct {
		name    string
		list    []Override
		check   func(t *testing.T, s *Settings)
		wantErr string
	}{
		{name: "memory loosens", list: []Override{{Key: "memory", Value: "1G"}}, check: func(t *testing.T, s *Settings) {
			if s.Limits.Memory != 1<<30 {
				t.Errorf("memory %d", s.Limits.Memory)
			}
		}},
		{name: "times and pids", list: []Override{{Key: "cpu-time", Value: "1.5s"}, {Key: "wall-time", Value: "1m"}, {Key: "pids", Value: "7"}}, check: func(t *testing.T, s *Settings) {
			if s.Limits.CPUTime != 1500*time.Millisecond || s.Limits.WallTime != time.Minute || s.Limits.Pids != 7 {
				t.Errorf("limits %+v", s.Limits)
			}
			for _, r := range s.Rlimits {
				if r.Resource == RlimitCPU && r.Hard != 3 {
					t.Errorf("RLIMIT_CPU backstop %d, want 3 (1.5 s rounded up, plus 1)", r.Hard)
				}
			}
		}},
		{name: "last of a key wins", list: []Override{{Key: "memory", Value: "64M"}, {Key: "memory", Value: "128M"}}, check: func(t *testing.T, s *Settings) {
			if s.Limits.Memory != 128<<20 {
				t.Errorf("memory %d", s.Limits.Memory)
			}
		}},
		{name: "bind appended, writable unless ro", list: []Override{{Key: "bind", Value: "/srv/a:/a"}, {Key: "bind", Value: "/srv/b:/b:ro"}}, check: func(t *testing.T, s *Settings) {
			a, b := mountAt(s, "/a"), mountAt(s, "/b")
			if a == nil || b == nil || a.ReadOnly || !b.ReadOnly || a.Src != "/srv/a" || !a.NoSuid || !a.NoDev {
				t.Errorf("mounts %+v %+v", a, b)
			}
			if last := s.Filesystem.Mounts[len(s.Filesystem.Mounts)-1]; last.Dst != "/b" {
				t.Errorf("overrides are not mounted after the policy's: last is %s", last.Dst)
			}
		}},
		{name: "tmpfs replaces the policy's mount in place", list: []Override{{Key: "tmpfs", Value: "/tmp:128M"}}, check: func(t *testing.T, s *Settings) {
			m := mountAt(s, "/tmp")
			if m == nil || m.Kind != MountTmpfs || m.Size != 128<<20 || len(s.Filesystem.Mounts) != len(base.Filesystem.Mounts) {
				t.Errorf("tmp %+v, %d mounts", m, len(s.Filesystem.Mounts))
			}
		}},
		{name: "tmpfs default size", list: []Override{{Key: "tmpfs", Value: "/work"}}, check: func(t *testing.T, s *Settings) {
			if m := mountAt(s, "/work"); m == nil || m.Size != 64<<20 || m.ReadOnly {
				t.Errorf("work %+v", m)
			}
		}},
		{name: "env replaces by name", list: []Override{{Key: "env", Value: "HOME=/work"}, {Key: "env", Value: "X=a=b"}}, check: func(t *testing.T, s *Settings) {
			env := strings.Join(s.Process.Env, " ")
			if !strings.Contains(env, "HOME=/work") || strings.Contains(env, "HOME=/tmp") || !strings.Contains(env, "X=a=b") {
				t.Errorf("env %v", s.Process.Env)
			}
		}},
		{name: "chdir", list: []Override{{Key: "chdir", Value: "/box"}}, check: func(t *testing.T, s *Settings) {
			if s.Filesystem.Workdir != "/box" {
				t.Errorf("workdir %q", s.Filesystem.Workdir)
			}
		}},
		{name: "bad size", list: []Override{{Key: "memory", Value: "12Q"}}, wantErr: `--memory: limits.memory: "12Q" is not a size`},
		{name: "below minimum", list: []Override{{Key: "memory", Value: "100K", Flag: "--mem"}}, wantErr: "--mem: limits.memory: \"100K\" is below the minimum of 1M"},
		{name: "pids not integer", list: []Override{{Key: "pids", Value: "1.5"}}, wantErr: "is not an integer"},
		{name: "bind over sys", list: []Override{{Key: "bind", Value: "/etc:/sys/x"}}, wantErr: "cannot put a bind mount at or under /sys"},
		{name: "bind of host sys", list: []Override{{Key: "bind", Value: "/sys:/s"}}, wantErr: "exposes host devices or kernel knobs"},
		{name: "bind relative", list: []Override{{Key: "bind", Value: "etc:/e"}}, wantErr: "an absolute host path"},
		{name: "mount hides the policy's", list: []Override{{Key: "tmpfs", Value: "/etc"}}, wantErr: `"/etc" hides the earlier mount`},
		{name: "env name", list: []Override{{Key: "env", Value: "A-B=1"}}, wantErr: "not a valid variable name"},
		{name: "env NUL", list: []Override{{Key: "env", Value: "A=\x00"}}, wantErr: "NUL"},
		{name: "unknown key", list: []Override{{Key: "memroy", Value: "1G"}}, wantErr: `unknown override "memroy" (did you mean "memory"?)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ApplyOverrides(base, tc.list)
			if tc.wantErr != "" {
				if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want ErrInvalid containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.SHA256 == base.SHA256 || s.SHA256 != digest(s.Canonical()) {
				t.Errorf("sha256 %s is not the digest of the effective policy with the overrides", s.SHA256)
			}
			if len(s.Overrides) == 0 {
				t.Errorf("no overrides listed")
			}
			if err := CheckInvariants(s); err != nil {
				t.Error(err)
			}
			tc.check(t, s)
			// The canonical form with the overrides compiles to the same settings.
			p, err := Parse(s.Canonical(), s.Source)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Compile(p)
			if err != nil || again.SHA256 != s.SHA256 {
				t.Errorf("the canonical form compiles to %v, %v", again, err)
			}
		})
	}
	if base.Limits.Memory != 256<<20 || len(base.Overrides) != 0 {
		t.Errorf("the base policy was modified")
	}
}

func TestApplyOverridesAccumulates(t *testing.T) {
	s, _ := Builtin("strict")
	s1, err := ApplyOverrides(s, []Override{{Key: "memory", Value: "64M"}})
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ApplyOverrides(s1, []Override{{Key: "pids", Value: "9"}})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Limits.Memory != 64<<20 || s2.Limits.Pids != 9 || strings.Join(s2.Overrides, ",") != "limits.memory=64M,limits.pids=9" {
		t.Errorf("%+v %v", s2.Limits, s2.Overrides)
	}
}

// A Settings changed after Compile (sandbox.Tighten, or built by hand) no longer matches its effective
// policy: overrides are refused rather than silently undoing the change.
func TestApplyOverridesNeedsCompiledPolicy(t *testing.T) {
	s, _ := Builtin("strict")
	s.SHA256 = "changed"
	if _, err := ApplyOverrides(s, []Override{{Key: "memory", Value: "64M"}}); err == nil || !errors.Is(err, ErrInvalid) {
		t.Errorf("err %v", err)
	}
	if _, err := ApplyOverrides(&Settings{}, nil); err == nil {
		t.Errorf("a hand-made Settings was accepted")
	}
}

// LimitValue decodes every limit override of OverrideSpecs (a new one must be added to its switch), and
// refuses what ApplyOverrides refuses, with the same message.
func TestLimitValue(t *testing.T) {
	sample := map[string]string{"SIZE": "64M", "DURATION": "1500ms", "N": "5"}
	want := map[string]any{"SIZE": int64(64 << 20), "DURATION": 1500 * time.Millisecond, "N": int64(5)}
	for _, o := range OverrideSpecs {
		if o.limit == "" {
			if _, _, err := LimitValue(Override{Key: o.Key, Value: "x"}); err == nil {
				t.Errorf("%s: not a limit, but LimitValue took it", o.Key)
			}
			continue
		}
		field, v, err := LimitValue(Override{Key: o.Key, Value: sample[o.Arg]})
		if err != nil || field != o.limit || v != want[o.Arg] {
			t.Errorf("%s %s: got %s %v (%T), %v; want %s %v", o.Key, sample[o.Arg], field, v, v, err, o.limit, want[o.Arg])
		}
	}
	_, _, err := LimitValue(Override{Key: "memory", Value: "1K", Flag: "--memory"})
	_, aerr := ApplyOverrides(mustCompile(t, `{"version": 1}`), []Override{{Key: "memory", Value: "1K", Flag: "--memory"}})
	if err == nil || aerr == nil || err.Error() != aerr.Error() {
		t.Errorf("LimitValue refused 1K with %v, ApplyOverrides with %v: want the same error", err, aerr)
	}
}
