package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jailrun/jailrun/policy"
)

// Overrides are per-run limits that may only tighten a compiled policy: a grader lowering the wall time for
// one test case, a service capping what a tenant may use. A zero field keeps the policy's value; a policy
// value of zero (or an absent rlimit) means unlimited, so any positive override tightens it.
type Overrides struct {
	// Memory is the cgroup memory limit of the whole sandbox, in bytes (limits.memory).
	Memory int64
	// Pids caps the number of tasks in the sandbox (limits.pids).
	Pids int64
	// CPU is a CPU bandwidth quota in cores (limits.cpu).
	CPU float64
	// CPUTime limits the sandbox's CPU time (limits.cpu_time). The RLIMIT_CPU backstop follows it.
	CPUTime time.Duration
	// WallTime limits the wall-clock time from exec to exit (limits.wall_time).
	WallTime time.Duration
	// Output caps the bytes the child may write to stdout, stderr and both together (limits.output).
	Output policy.OutputLimits
	// FileSize is RLIMIT_FSIZE, the largest file the child may write, in bytes (limits.file_size).
	FileSize int64
	// OpenFiles is RLIMIT_NOFILE (limits.open_files).
	OpenFiles int64
	// AddressSpace is RLIMIT_AS, in bytes (limits.address_space).
	AddressSpace int64
}

// IsZero reports whether o changes nothing.
func (o Overrides) IsZero() bool { return o == Overrides{} }

// OverrideError is one override that Tighten refused: negative, or looser than the policy. It matches
// ErrPolicy, so callers can branch on errors.Is(err, sandbox.ErrPolicy) and still name the field.
type OverrideError struct {
	// Field is the policy path of the limit, e.g. "limits.memory".
	Field string
	// Requested is the override's value and Limit the policy's, both in canonical units ("" for unlimited).
	Requested, Limit string
	// Negative is set when the override is negative; Reason, when the value is one a policy file could not
	// hold either, in the policy language's words ("1024 is below the minimum of 1M").
	Negative bool
	Reason   string
}

func (e *OverrideError) Error() string {
	if e.Reason != "" {
		return fmt.Sprintf("override %s: %s", e.Field, e.Reason)
	}
	if e.Negative {
		return fmt.Sprintf("override %s: %s is negative", e.Field, e.Requested)
	}
	return fmt.Sprintf("override %s: %s would loosen the policy's %s; overrides may only tighten", e.Field, e.Requested, e.Limit)
}

func (e *OverrideError) Is(target error) bool { return target == ErrPolicy }

// Tighten returns a copy of s with o applied. s itself is never modified, so one compiled policy can be
// shared by every run and tenant. Each override must be at most the policy's value; the first refusal of
// every field is reported (errors.Join of *OverrideError, all matching ErrPolicy) and nothing is applied.
//
// A tightened policy keeps its name and source, but when a limit actually changed its SHA256 becomes the
// digest of the base policy's digest and the limits in force, so that results of runs with different limits
// never claim the same policy.
func Tighten(s *policy.Settings, o Overrides) (*policy.Settings, error) {
	return tighten(s, o, false)
}

// Cap is Tighten for ceilings set by an operator rather than requested by a caller, such as a service
// tenant's maximum limits: each override that is tighter than s is applied, each that is looser is
// ignored (s already satisfies it). Negative values are still refused.
func Cap(s *policy.Settings, o Overrides) (*policy.Settings, error) {
	return tighten(s, o, true)
}

func tighten(s *policy.Settings, o Overrides, lenient bool) (*policy.Settings, error) {
	if s == nil {
		return nil, fmt.Errorf("%w: no policy", ErrPolicy)
	}
	c := s.Clone()
	if o.IsZero() {
		return c, nil
	}
	t := tightener{lenient: lenient}
	lim := &c.Limits
	lim.Memory = t.int64("limits.memory", lim.Memory, o.Memory, sizeString)
	lim.Pids = t.int64("limits.pids", lim.Pids, o.Pids, countString)
	lim.CPU = t.float("limits.cpu", lim.CPU, o.CPU)
	lim.CPUTime = t.duration("limits.cpu_time", lim.CPUTime, o.CPUTime)
	lim.WallTime = t.duration("limits.wall_time", lim.WallTime, o.WallTime)
	lim.Output.Stdout = t.int64("limits.output.stdout", lim.Output.Stdout, o.Output.Stdout, sizeString)
	lim.Output.Stderr = t.int64("limits.output.stderr", lim.Output.Stderr, o.Output.Stderr, sizeString)
	lim.Output.Total = t.int64("limits.output.total", lim.Output.Total, o.Output.Total, sizeString)
	if o.CPUTime > 0 && lim.CPUTime == o.CPUTime {
		// The same derivation as policy.Compile: the backstop is CPU time plus grace, rounded up to whole
		// seconds, plus one second. It can only fall, because the CPU time did.
		c.Rlimits = t.rlimit(c.Rlimits, "limits.cpu_time", policy.RlimitCPU, cpuRlimit(lim.CPUTime, lim.ExtraTime), false)
	}
	c.Rlimits = t.rlimit(c.Rlimits, "limits.file_size", policy.RlimitFsize, o.FileSize, true)
	c.Rlimits = t.rlimit(c.Rlimits, "limits.open_files", policy.RlimitNofile, o.OpenFiles, true)
	c.Rlimits = t.rlimit(c.Rlimits, "limits.address_space", policy.RlimitAS, o.AddressSpace, true)
	if len(t.errs) > 0 {
		return nil, errors.Join(t.errs...)
	}
	if !t.changed {
		return c, nil // overrides the policy already satisfies: the same policy, the same digest
	}
	c.SHA256 = limitsDigest(s.SHA256, c)
	c.Overrides = mergeOverrides(c.Overrides, t.applied)
	return c, nil
}

// mergeOverrides adds applied ("field=value") to list, the settings already on top of the policy. An entry
// for a field list already names (an earlier Tighten or ApplyOverrides) replaces that entry in place: only
// the value in force is worth listing, and a result listing limits.wall_time twice would make its reader
// guess which one won.
func mergeOverrides(list, applied []string) []string {
	for _, a := range applied {
		field, _, _ := strings.Cut(a, "=")
		out, replaced := list[:0], false
		for _, e := range list {
			if f, _, ok := strings.Cut(e, "="); ok && f == field {
				if replaced {
					continue // a field listed twice already: one entry is enough
				}
				e, replaced = a, true
			}
			out = append(out, e)
		}
		if !replaced {
			out = append(out, a)
		}
		list = out
	}
	return list
}

// cpuRlimit mirrors policy's rlimits(): RLIMIT_CPU is a backstop for the cgroup's exact CPU accounting.
func cpuRlimit(cpu, extra time.Duration) int64 {
	total := cpu + extra
	return int64((total+time.Second-1)/time.Second) + 1
}

// limitsDigest is the digest of a tightened policy: the base policy's digest and the limits in force.
func limitsDigest(base string, c *policy.Settings) string {
	// %+v of these plain structs is deterministic: same limits, same text.
	sum := sha256.Sum256(fmt.Appendf(nil, "%s\n%+v\n%+v", base, c.Limits, c.Rlimits))
	return hex.EncodeToString(sum[:])
}

// tightener applies overrides field by field and collects every refusal. lenient (Cap) skips looser values
// instead of refusing them; changed records whether any value was applied.
type tightener struct {
	errs    []error
	lenient bool
	changed bool
	applied []string // "limits.memory=64M" for each field that changed, for Settings.Overrides
}

func (t *tightener) apply(field, value string) {
	t.changed = true
	t.applied = append(t.applied, field+"="+value)
}

func (t *tightener) refuse(field, req, lim string, negative bool) {
	if t.lenient && !negative {
		return
	}
	t.errs = append(t.errs, &OverrideError{Field: field, Requested: req, Limit: lim, Negative: negative})
}

// invalid refuses a value the policy language refuses for field (also in Cap: a ceiling must be a limit).
func (t *tightener) invalid(field string, v any) bool {
	msg := policy.CheckLimit(strings.TrimPrefix(field, "limits."), v)
	if msg == "" {
		return false
	}
	t.errs = append(t.errs, &OverrideError{Field: field, Requested: fmt.Sprint(v), Reason: msg})
	return true
}

func (t *tightener) int64(field string, cur, o int64, format func(int64) string) int64 {
	switch {
	case o == 0:
		return cur
	case o < 0:
		t.refuse(field, strconv.FormatInt(o, 10), "", true)
		return cur
	case t.invalid(field, o):
		return cur
	case cur > 0 && o > cur:
		t.refuse(field, format(o), format(cur), false)
		return cur
	}
	if o != cur {
		t.apply(field, format(o))
	}
	return o
}

func (t *tightener) float(field string, cur, o float64) float64 {
	f := func(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }
	switch {
	case o == 0:
		return cur
	case o < 0 || o != o: // NaN is neither tighter nor looser: refuse it
		t.refuse(field, f(o), "", true)
		return cur
	case t.invalid(field, o):
		return cur
	case cur > 0 && o > cur:
		t.refuse(field, f(o), f(cur), false)
		return cur
	}
	if o != cur {
		t.apply(field, f(o))
	}
	return o
}

func (t *tightener) duration(field string, cur, o time.Duration) time.Duration {
	switch {
	case o == 0:
		return cur
	case o < 0:
		t.refuse(field, o.String(), "", true)
		return cur
	case t.invalid(field, o):
		return cur
	case cur > 0 && o > cur:
		t.refuse(field, o.String(), cur.String(), false)
		return cur
	}
	if o != cur {
		t.apply(field, policy.FormatDuration(o))
	}
	return o
}

// rlimit lowers (or adds) one rlimit to v. checked says v came from the caller and must be validated; a
// derived value (the CPU backstop) is only ever applied when lower.
func (t *tightener) rlimit(rls []policy.Rlimit, field string, res policy.Resource, v int64, checked bool) []policy.Rlimit {
	if v == 0 {
		return rls
	}
	if v < 0 {
		t.refuse(field, strconv.FormatInt(v, 10), "", true)
		return rls
	}
	if checked && t.invalid(field, v) {
		return rls
	}
	nv := uint64(v)
	for i, rl := range rls {
		if rl.Resource != res {
			continue
		}
		if rl.Hard != policy.RlimInfinity && nv > rl.Hard {
			if checked {
				t.refuse(field, strconv.FormatInt(v, 10), strconv.FormatUint(rl.Hard, 10), false)
			}
			return rls
		}
		rls[i].Hard = nv
		rls[i].Soft = min(rl.Soft, nv)
		if rls[i] != rl {
			t.changed = true
			if checked {
				t.applied = append(t.applied, field+"="+strconv.FormatInt(v, 10))
			}
		}
		return rls
	}
	if checked {
		t.apply(field, strconv.FormatInt(v, 10))
	} else {
		t.changed = true
	}
	return append(rls, policy.Rlimit{Resource: res, Soft: nv, Hard: nv})
}

// sizeString writes a size as policy files do: the largest binary suffix that divides it, else bytes.
func sizeString(v int64) string {
	for _, u := range []struct {
		s     string
		shift uint
	}{{"T", 40}, {"G", 30}, {"M", 20}, {"K", 10}} {
		if v != 0 && v%(int64(1)<<u.shift) == 0 {
			return strconv.FormatInt(v>>u.shift, 10) + u.s
		}
	}
	return strconv.FormatInt(v, 10)
}
func countString(v int64) string { return strconv.FormatInt(v, 10) }
