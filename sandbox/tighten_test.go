package sandbox

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/policy"
)

// basePolicy is normalised by Clone, as every compiled policy is.
func basePolicy() *policy.Settings {
	return (&policy.Settings{
		Name:   "base",
		SHA256: "00",
		Limits: policy.Limits{
			Memory: 256 << 20, Pids: 64, CPUTime: 10 * time.Second, WallTime: 30 * time.Second,
			ExtraTime: 500 * time.Millisecond,
			Output:    policy.OutputLimits{Stdout: 16 << 20, Stderr: 16 << 20, Total: 32 << 20},
		},
		Rlimits: []policy.Rlimit{
			{Resource: policy.RlimitCPU, Soft: 12, Hard: 12},
			{Resource: policy.RlimitFsize, Soft: 64 << 20, Hard: 64 << 20},
			{Resource: policy.RlimitCore, Soft: 0, Hard: 0},
			{Resource: policy.RlimitNofile, Soft: 256, Hard: 256},
		},
	}).Clone()
}

func unlimitedPolicy() *policy.Settings {
	return (&policy.Settings{Name: "open", SHA256: "11"}).Clone()
}

func rlimitOf(s *policy.Settings, r policy.Resource) (policy.Rlimit, bool) {
	for _, rl := range s.Rlimits {
		if rl.Resource == r {
			return rl, true
		}
	}
	return policy.Rlimit{}, false
}

func TestTightenAccepts(t *testing.T) {
	for _, tc := range []struct {
		name  string
		base  func() *policy.Settings
		o     Overrides
		check func(t *testing.T, s *policy.Settings)
	}{
		{"zero changes nothing", basePolicy, Overrides{}, func(t *testing.T, s *policy.Settings) {
			if !reflect.DeepEqual(s, basePolicy()) {
				t.Fatalf("zero overrides changed the policy: %+v", s)
			}
		}},
		{"lower memory and pids", basePolicy, Overrides{Memory: 64 << 20, Pids: 8}, func(t *testing.T, s *policy.Settings) {
			if s.Limits.Memory != 64<<20 || s.Limits.Pids != 8 {
				t.Fatalf("limits %+v", s.Limits)
			}
		}},
		{"equal is not looser", basePolicy, Overrides{Memory: 256 << 20, WallTime: 30 * time.Second}, func(t *testing.T, s *policy.Settings) {
			if s.Limits.Memory != 256<<20 || s.Limits.WallTime != 30*time.Second {
				t.Fatalf("limits %+v", s.Limits)
			}
		}},
		{"cpu time lowers the rlimit backstop", basePolicy, Overrides{CPUTime: 1500 * time.Millisecond}, func(t *testing.T, s *policy.Settings) {
			rl, _ := rlimitOf(s, policy.RlimitCPU)
			// 1.5 s + 0.5 s grace = 2 s, plus one second.
			if s.Limits.CPUTime != 1500*time.Millisecond || rl.Soft != 3 || rl.Hard != 3 {
				t.Fatalf("cpu_time %v, rlimit %+v", s.Limits.CPUTime, rl)
			}
		}},
		{"unlimited policy takes any positive value", unlimitedPolicy, Overrides{Memory: 1 << 20, CPUTime: time.Second, WallTime: time.Second, Output: policy.OutputLimits{Total: 10}, FileSize: 4096, OpenFiles: 16, AddressSpace: 1 << 30, CPU: 0.5},
			func(t *testing.T, s *policy.Settings) {
				if s.Limits.Memory != 1<<20 || s.Limits.WallTime != time.Second || s.Limits.Output.Total != 10 || s.Limits.CPU != 0.5 {
					t.Fatalf("limits %+v", s.Limits)
				}
				for res, want := range map[policy.Resource]uint64{policy.RlimitCPU: 2, policy.RlimitFsize: 4096, policy.RlimitNofile: 16, policy.RlimitAS: 1 << 30} {
					if rl, ok := rlimitOf(s, res); !ok || rl.Hard != want || rl.Soft != want {
						t.Errorf("rlimit %d = %+v (present %v), want %d", res, rl, ok, want)
					}
				}
			}},
		{"file size and open files lower the rlimits", basePolicy, Overrides{FileSize: 1 << 20, OpenFiles: 32}, func(t *testing.T, s *policy.Settings) {
			fs, _ := rlimitOf(s, policy.RlimitFsize)
			nf, _ := rlimitOf(s, policy.RlimitNofile)
			if fs.Hard != 1<<20 || fs.Soft != 1<<20 || nf.Hard != 32 || nf.Soft != 32 {
				t.Fatalf("fsize %+v nofile %+v", fs, nf)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := tc.base()
			before := base.Clone()
			got, err := Tighten(base, tc.o)
			if err != nil {
				t.Fatalf("Tighten: %v", err)
			}
			if !reflect.DeepEqual(base, before) {
				t.Fatal("Tighten modified the shared policy")
			}
			tc.check(t, got)
			same := reflect.DeepEqual(got.Limits, base.Limits) && reflect.DeepEqual(got.Rlimits, base.Rlimits)
			if same != (got.SHA256 == base.SHA256) {
				t.Errorf("digest %q vs base %q: a tightened policy must have its own digest, an unchanged one the same", got.SHA256, base.SHA256)
			}
		})
	}
}

func TestTightenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		o      Overrides
		fields []string
	}{
		{"higher memory", Overrides{Memory: 512 << 20}, []string{"limits.memory"}},
		{"higher wall time", Overrides{WallTime: time.Minute}, []string{"limits.wall_time"}},
		{"higher cpu time", Overrides{CPUTime: 11 * time.Second}, []string{"limits.cpu_time"}},
		{"higher output", Overrides{Output: policy.OutputLimits{Stdout: 17 << 20}}, []string{"limits.output.stdout"}},
		{"higher file size", Overrides{FileSize: 65 << 20}, []string{"limits.file_size"}},
		{"higher open files", Overrides{OpenFiles: 1024}, []string{"limits.open_files"}},
		{"negative pids", Overrides{Pids: -1}, []string{"limits.pids"}},
		{"negative address space", Overrides{AddressSpace: -5}, []string{"limits.address_space"}},
		// Values a policy file could not hold either, refused in the policy language's words.
		{"memory below the policy minimum", Overrides{Memory: 1024}, []string{"limits.memory: 1024 is below the minimum of 1M"}},
		{"sub-millisecond cpu time", Overrides{CPUTime: 500 * time.Microsecond}, []string{"limits.cpu_time: \"500µs\" is not a whole number of milliseconds"}},
		{"open files above the kernel's", Overrides{OpenFiles: 1 << 30}, []string{"limits.open_files"}},
		{"cpu above the maximum", Overrides{CPU: 5000}, []string{"limits.cpu: 5000 is out of range"}},
		{"every bad field is named", Overrides{Memory: 1 << 40, Pids: 1000, WallTime: time.Hour, Output: policy.OutputLimits{Total: 1 << 30}},
			[]string{"limits.memory", "limits.pids", "limits.wall_time", "limits.output.total"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := basePolicy()
			before := base.Clone()
			got, err := Tighten(base, tc.o)
			if err == nil || got != nil {
				t.Fatalf("want a refusal, got %+v, %v", got, err)
			}
			if !errors.Is(err, ErrPolicy) {
				t.Fatalf("error %v does not match ErrPolicy", err)
			}
			var oe *OverrideError
			if !errors.As(err, &oe) {
				t.Fatalf("error %v is not an *OverrideError", err)
			}
			for _, f := range tc.fields {
				if !strings.Contains(err.Error(), f) {
					t.Errorf("error %q does not name %s", err, f)
				}
			}
			if n := strings.Count(err.Error(), "override "); n != len(tc.fields) {
				t.Errorf("error names %d fields, want %d: %q", n, len(tc.fields), err)
			}
			if !reflect.DeepEqual(base, before) {
				t.Fatal("a refused Tighten modified the shared policy")
			}
		})
	}
}

func TestTightenDigestDependsOnOverrides(t *testing.T) {
	a, err := Tighten(basePolicy(), Overrides{Memory: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	b, err := Tighten(basePolicy(), Overrides{Memory: 2 << 20})
	if err != nil {
		t.Fatal(err)
	}
	a2, _ := Tighten(basePolicy(), Overrides{Memory: 1 << 20})
	if a.SHA256 == b.SHA256 || a.SHA256 != a2.SHA256 {
		t.Fatalf("digests: %s %s %s", a.SHA256, b.SHA256, a2.SHA256)
	}
}

func TestTightenNilPolicy(t *testing.T) {
	if _, err := Tighten(nil, Overrides{}); !errors.Is(err, ErrPolicy) {
		t.Fatalf("nil policy: %v", err)
	}
}

// The built-in strict policy must be tightenable the same way: this ties Tighten's CPU backstop to
// policy.Compile's derivation.
func TestTightenMatchesCompiledBackstop(t *testing.T) {
	s, err := policy.Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	rl, ok := rlimitOf(s, policy.RlimitCPU)
	if !ok {
		t.Skip("strict sets no cpu_time")
	}
	if want := cpuRlimit(s.Limits.CPUTime, s.Limits.ExtraTime); uint64(want) != rl.Hard {
		t.Fatalf("policy.Compile derived RLIMIT_CPU %d from cpu_time %v + %v; Tighten would derive %d", rl.Hard, s.Limits.CPUTime, s.Limits.ExtraTime, want)
	}
}

func TestCapIgnoresLooserCeilings(t *testing.T) {
	for _, tc := range []struct {
		name      string
		o         Overrides
		memory    int64
		wall      time.Duration
		nofile    uint64
		sameHash  bool
		wantError bool
	}{
		{"looser ceilings leave the policy alone", Overrides{Memory: 1 << 40, WallTime: time.Hour, OpenFiles: 1 << 20}, 256 << 20, 30 * time.Second, 256, true, false},
		{"tighter ceilings apply", Overrides{Memory: 64 << 20, WallTime: 5 * time.Second, OpenFiles: 64}, 64 << 20, 5 * time.Second, 64, false, false},
		{"mixed", Overrides{Memory: 1 << 40, WallTime: 5 * time.Second}, 256 << 20, 5 * time.Second, 256, false, false},
		{"negative is still refused", Overrides{Memory: -1}, 0, 0, 0, false, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base := basePolicy()
			got, err := Cap(base, tc.o)
			if tc.wantError {
				if !errors.Is(err, ErrPolicy) {
					t.Fatalf("want ErrPolicy, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			nf, _ := rlimitOf(got, policy.RlimitNofile)
			if got.Limits.Memory != tc.memory || got.Limits.WallTime != tc.wall || nf.Hard != tc.nofile {
				t.Fatalf("memory %d wall %v nofile %d", got.Limits.Memory, got.Limits.WallTime, nf.Hard)
			}
			if (got.SHA256 == base.SHA256) != tc.sameHash {
				t.Fatalf("digest changed=%v, want %v", got.SHA256 != base.SHA256, !tc.sameHash)
			}
		})
	}
}

// A tightened policy lists what changed, as a policy with jailrun run's overrides does, so that a result
// says which limits were not the policy's own.
func TestTightenListsOverrides(t *testing.T) {
	got, err := Tighten(basePolicy(), Overrides{Memory: 64 << 20, WallTime: 1500 * time.Millisecond, FileSize: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"limits.memory=64M", "limits.wall_time=1.5s", "limits.file_size=1048576"}
	if strings.Join(got.Overrides, " ") != strings.Join(want, " ") {
		t.Fatalf("Overrides %q, want %q", got.Overrides, want)
	}
	same, err := Tighten(basePolicy(), Overrides{Memory: basePolicy().Limits.Memory})
	if err != nil || len(same.Overrides) != 0 {
		t.Fatalf("an override equal to the policy's value is listed: %q, %v", same.Overrides, err)
	}
}
