package fuzz

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/jailrun/jailrun/policy"
)

// FuzzCompileFields fuzzes the values of a structurally valid policy, which byte-level mutation of whole
// files rarely reaches: unit strings, numbers, paths, modes, seccomp operands. Every combination must be
// either refused as invalid or compile to settings that satisfy the invariants and round-trip.
func FuzzCompileFields(f *testing.F) {
	f.Add("256M", "64", "0.5", "1.5s", "/tmp", "1777", "0022", "read", "==", "AF_UNIX", "0x7", "errno(EPERM)", false)
	f.Add("1.5G", "1", "1024", "2000", "/a/b", "0", "18", "@basic-io", "&=", "0x10", "0x30", "allow", true)
	f.Add("0", "-1", "1e-3", "1m", "/proc", "777", "22", "opne", "<", "-1", "x", "kill_process", false)
	f.Add("1T", "4194304", "0.0001", "168h", "/sys/x", "07777", "0777", "@nope", ">=", "18446744073709551615", "", "errno(4096)", true)
	f.Fuzz(func(t *testing.T, size, pids, cpu, dur, dst, mode, umask, syscall, op, value, mask, action string, unsafe bool) {
		str := func(s string) string { b, _ := json.Marshal(s); return string(b) }
		maskField := ""
		if mask != "" {
			maskField = `, "mask": ` + str(mask)
		}
		src := fmt.Sprintf(`{
  "version": 1,
  "filesystem": {"mounts": [{"type": "tmpfs", "dst": %s, "size": %s, "mode": %s}]},
  "limits": {"memory": %s, "pids": %s, "cpu": %s, "cpu_time": %s, "wall_time": %s, "kill_grace": %s, "stack": %s},
  "seccomp": {"default_action": %s, "rules": [{"syscalls": [%s], "action": %s, "args": [{"index": 1, "op": %s, "value": %s%s}]}]},
  "process": {"umask": %s, "no_new_privs": %v, "unsafe": %v}
}`, str(dst), str(size), str(mode), str(size), raw(pids), raw(cpu), str(dur), raw(dur), raw(dur), str(size),
			str(action), str(syscall), str(action), str(op), str(value), maskField, str(umask), !unsafe, unsafe)
		p, err := policy.Parse([]byte(src), source)
		if err != nil {
			checkError(t, []byte(src), err)
			return
		}
		one := format(t, p)
		if two := format(t, reparse(t, one)); string(one) != string(two) {
			t.Fatalf("Format is not a fixed point:\n%s\n---\n%s", one, two)
		}
		s, err := policy.Compile(p)
		if err != nil {
			checkError(t, []byte(src), err)
			return
		}
		if err := policy.CheckInvariants(s); err != nil {
			t.Fatalf("%v\npolicy:\n%s", err, src)
		}
	})
}

// raw puts s into the JSON as a number if it looks like one, else as a string, so both paths are fuzzed.
func raw(s string) string {
	var n json.Number
	if err := json.Unmarshal([]byte(s), &n); err == nil && s != "" && s[0] != '"' {
		return s
	}
	b, _ := json.Marshal(s)
	return string(b)
}
