package policy

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jailrun/jailrun/seccomp/syscalls"
)

func mustParse(t *testing.T, src string) *Policy {
	t.Helper()
	p, err := Parse([]byte(src), "test.json")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return p
}

func mustCompile(t *testing.T, src string) *Settings {
	t.Helper()
	s, err := Compile(mustParse(t, src))
	if err != nil {
		t.Fatalf("Compile: %v", err)
	}
	return s
}

func shippedPolicies(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../policies/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped policies: %v", err)
	}
	return files
}

// Every shipped policy parses and compiles; its canonical form is a fixed point; and its effective form
// (after extends and defaults) is itself a policy that compiles to the same settings.
func TestShippedPolicies(t *testing.T) {
	for _, f := range shippedPolicies(t) {
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := Load(f)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			p, err := LoadPolicy(f)
			if err != nil {
				t.Fatal(err)
			}
			assertFixedPoint(t, p)

			e, err := Effective(p)
			if err != nil {
				t.Fatal(err)
			}
			canon, err := Format(e)
			if err != nil {
				t.Fatal(err)
			}
			again, err := Parse(canon, f)
			if err != nil {
				t.Fatalf("the effective form does not parse: %v\n%s", err, canon)
			}
			s2, err := Compile(again)
			if err != nil {
				t.Fatalf("the effective form does not compile: %v", err)
			}
			if !reflect.DeepEqual(s, s2) {
				t.Errorf("the effective form compiles differently:\n%+v\n%+v", s, s2)
			}
			if s.Description == "" {
				t.Errorf("%s has no description", f)
			}
			checkInvariants(t, s)
		})
	}
}

func assertFixedPoint(t *testing.T, p *Policy) {
	t.Helper()
	one, err := Format(p)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := Parse(one, p.Source)
	if err != nil {
		t.Fatalf("canonical form does not parse: %v\n%s", err, one)
	}
	two, err := Format(p2)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one, two) {
		t.Fatalf("Format is not a fixed point:\n%s\n---\n%s", one, two)
	}
}

// checkInvariants holds for every compiled policy; the fuzzer checks the same.
func checkInvariants(t *testing.T, s *Settings) {
	t.Helper()
	if err := CheckInvariants(s); err != nil {
		t.Error(err)
	}
}

func TestDefaults(t *testing.T) {
	s := mustCompile(t, `{"version": 1}`)
	want := Namespaces{User: true, PID: true, Mount: true, Net: true, IPC: true, UTS: true, Cgroup: true}
	if s.Namespaces != want {
		t.Errorf("namespaces = %+v; want %+v", s.Namespaces, want)
	}
	if s.Name != "test" || s.Source != "test.json" {
		t.Errorf("name/source = %q %q", s.Name, s.Source)
	}
	p := s.Process
	if p.UID != 65534 || p.GID != 65534 || !p.NoNewPrivs || p.Unsafe || p.Umask != 0o022 || p.Hostname != "jailrun" {
		t.Errorf("process = %+v", p)
	}
	if s.Filesystem.Workdir != "/" || len(s.Filesystem.Mounts) != 0 {
		t.Errorf("filesystem = %+v", s.Filesystem)
	}
	if s.Seccomp.Enabled {
		t.Error("seccomp enabled without a seccomp section")
	}
	if !reflect.DeepEqual(s.Rlimits, []Rlimit{{Resource: RlimitCore}, {RlimitSigpending, 4096, 4096}, {RlimitMsgqueue, 819200, 819200}}) {
		t.Errorf("rlimits = %+v; want only RLIMIT_CORE 0 and limits.kernel's defaults", s.Rlimits)
	}
	if s.Limits != (Limits{KillGrace: DefaultKillGrace, Kernel: defaultKernel()}) {
		t.Errorf("limits = %+v; want none but the default kill_grace and limits.kernel's defaults", s.Limits)
	}
	if len(s.SHA256) != 64 {
		t.Errorf("SHA256 = %q", s.SHA256)
	}
}

func TestMountDefaults(t *testing.T) {
	s := mustCompile(t, `{"version": 1, "filesystem": {"mounts": [
		{"type": "bind", "src": "/usr", "dst": "/usr"},
		{"type": "bind", "src": "/srv/out", "dst": "/out", "readonly": false, "noexec": true},
		{"type": "tmpfs", "dst": "/tmp", "size": "16M"},
		{"type": "file", "dst": "/etc/motd", "content": "hi"},
		{"type": "proc", "dst": "/proc"},
		{"type": "dev", "dst": "/dev"}]}}`)
	want := []Mount{
		{Kind: MountBind, Src: "/usr", Dst: "/usr", ReadOnly: true, NoSuid: true, NoDev: true},
		{Kind: MountBind, Src: "/srv/out", Dst: "/out", NoSuid: true, NoDev: true, NoExec: true},
		{Kind: MountTmpfs, Dst: "/tmp", NoSuid: true, NoDev: true, Size: 16 << 20, Mode: 0o1777},
		{Kind: MountFile, Dst: "/etc/motd", ReadOnly: true, NoSuid: true, NoDev: true, Mode: 0o444, Content: "hi"},
		{Kind: MountProc, Dst: "/proc", NoSuid: true, NoDev: true, NoExec: true},
		{Kind: MountDev, Dst: "/dev", NoSuid: true, NoExec: true},
	}
	if !reflect.DeepEqual(s.Filesystem.Mounts, want) {
		t.Errorf("mounts:\n got %+v\nwant %+v", s.Filesystem.Mounts, want)
	}
}

func TestLimitsAndRlimits(t *testing.T) {
	s := mustCompile(t, `{"version": 1, "limits": {
		"memory": "1.5G", "memory_swap": 0, "pids": 10, "cpu": 0.5, "cpuset": "1,0", "io_weight": 100,
		"cpu_time": "1500ms", "wall_time": 5000, "extra_time": "0.2s", "kill_grace": "2s",
		"output": {"stdout": 1024, "stderr": "1K", "total": "2KiB"},
		"open_files": 64, "file_size": 0, "stack": "8M", "core": "1M", "address_space": "4G",
		"kernel": {"inotify_instances": 4, "user_namespaces": 2, "sigpending": 100, "msgqueue": "1K"}}}`)
	kernel := defaultKernel()
	kernel[0], kernel[4] = 4, 2 // inotify_instances, user_namespaces
	wantL := Limits{
		Memory: 3 << 29, Pids: 10, CPU: 0.5, Cpuset: "0-1", IOWeight: 100,
		CPUTime: 1500 * time.Millisecond, WallTime: 5 * time.Second, ExtraTime: 200 * time.Millisecond,
		KillGrace: 2 * time.Second, Output: OutputLimits{Stdout: 1024, Stderr: 1024, Total: 2048}, Kernel: kernel,
		KernelSet: 1<<0 | 1<<4, // the sysctl keys the policy gave itself
	}
	if s.Limits != wantL {
		t.Errorf("limits:\n got %+v\nwant %+v", s.Limits, wantL)
	}
	wantR := []Rlimit{
		{RlimitCPU, 3, 3}, // 1.5 s + 0.2 s rounds up to 2 s, plus 1 s backstop
		{RlimitFsize, 0, 0},
		{RlimitStack, 8 << 20, 8 << 20},
		{RlimitCore, 1 << 20, 1 << 20},
		{RlimitNofile, 64, 64},
		{RlimitAS, 4 << 30, 4 << 30},
		{RlimitSigpending, 100, 100},
		{RlimitMsgqueue, 1024, 1024},
	}
	if !reflect.DeepEqual(s.Rlimits, wantR) {
		t.Errorf("rlimits:\n got %+v\nwant %+v", s.Rlimits, wantR)
	}
}

func TestRlimitCPURounding(t *testing.T) {
	for _, tt := range []struct {
		cpu, extra string
		want       uint64
	}{
		{"1s", "0s", 2}, {"1001ms", "0s", 3}, {"1ms", "0s", 2}, {"10s", "1s", 12}, {"2.5s", "0.5s", 4},
	} {
		s := mustCompile(t, fmt.Sprintf(`{"version": 1, "limits": {"cpu_time": %q, "extra_time": %q}}`, tt.cpu, tt.extra))
		if s.Rlimits[0] != (Rlimit{RlimitCPU, tt.want, tt.want}) {
			t.Errorf("cpu_time %s + %s: RLIMIT_CPU = %+v; want %d", tt.cpu, tt.extra, s.Rlimits[0], tt.want)
		}
	}
}

func TestSeccompCompile(t *testing.T) {
	groups := syscalls.GroupNames()
	if len(groups) == 0 {
		t.Skip("the syscall table has no groups yet")
	}
	group := groups[0]
	members, _ := syscalls.Group(group)
	s := mustCompile(t, fmt.Sprintf(`{"version": 1, "seccomp": {
		"default_action": "errno(EPERM)",
		"rules": [
			{"syscalls": [%q, "read"], "action": "allow"},
			{"syscalls": ["socket"], "action": "allow", "args": [{"index": 0, "op": "==", "value": "AF_UNIX"}]},
			{"syscalls": ["clone"], "action": "allow", "args": [{"index": 0, "op": "&=", "value": 0, "mask": "0x7e020000"}]},
			{"syscalls": ["ioctl"], "action": "errno(13)", "args": [{"index": 1, "op": ">=", "value": -1}]},
			{"syscalls": ["ptrace"], "action": "kill_process"},
			{"syscalls": ["getpid"], "action": "log"},
			{"syscalls": ["kill"], "action": "notify"},
			{"syscalls": ["tkill"], "action": "trap"},
			{"syscalls": ["tgkill"], "action": "kill_thread"}
		]}}`, group))
	sc := s.Seccomp
	if !sc.Enabled || sc.DefaultAction != (Action{Kind: ActErrno, Errno: 1}) || sc.UnknownSyscalls != (Action{Kind: ActErrno, Errno: 38}) {
		t.Errorf("seccomp header = %+v", sc)
	}
	if len(sc.Rules) != 9 {
		t.Fatalf("rules = %d", len(sc.Rules))
	}
	first := sc.Rules[0].Syscalls
	for _, m := range members {
		if !contains(first, m) {
			t.Errorf("group %s member %s missing from %v", group, m, first)
		}
	}
	if !contains(first, "read") || strings.HasPrefix(strings.Join(first, ","), "@") {
		t.Errorf("rule 0 syscalls = %v", first)
	}
	seen := map[string]bool{}
	for _, n := range first {
		if seen[n] {
			t.Errorf("rule 0 lists %s twice", n)
		}
		seen[n] = true
	}
	if got := sc.Rules[1].Args; !reflect.DeepEqual(got, []ArgCond{{Index: 0, Op: OpEq, Value: 1}}) {
		t.Errorf("socket args = %+v", got)
	}
	if got := sc.Rules[2].Args; !reflect.DeepEqual(got, []ArgCond{{Index: 0, Op: OpMaskedEq, Value: 0, Mask: 0x7e020000}}) {
		t.Errorf("clone args = %+v", got)
	}
	if got := sc.Rules[3]; got.Action != (Action{Kind: ActErrno, Errno: 13}) || got.Args[0].Value != ^uint64(0) {
		t.Errorf("ioctl rule = %+v", got)
	}
	for i, k := range []ActionKind{ActKillProcess, ActLog, ActNotify, ActTrap, ActKillThread} {
		if sc.Rules[4+i].Action.Kind != k {
			t.Errorf("rule %d action = %v; want %v", 4+i, sc.Rules[4+i].Action, k)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestProcessAndCommand(t *testing.T) {
	s := mustCompile(t, `{"version": 1,
		"namespaces": {"uts": true},
		"process": {"uid": 1000, "gid": 1001, "hostname": "box", "umask": 18,
			"env": {"allow": ["TERM", "LANG"], "set": {"PATH": "/bin", "HOME": "/tmp"}}},
		"command": {"template": ["/usr/bin/gcc", "-O2", "{src}", "-o{out}"],
			"params": {"src": {"type": "path", "under": "/box", "max_len": 100}, "out": {"type": "word", "allow_dash": true}},
			"allowed_commands": ["/usr/bin/gcc"]}}`)
	wantP := Process{UID: 1000, GID: 1001, Env: []string{"HOME=/tmp", "PATH=/bin"}, EnvAllow: []string{"LANG", "TERM"},
		Hostname: "box", Umask: 0o022, NoNewPrivs: true}
	if !reflect.DeepEqual(s.Process, wantP) {
		t.Errorf("process:\n got %+v\nwant %+v", s.Process, wantP)
	}
	wantC := Command{
		Template: []string{"/usr/bin/gcc", "-O2", "{src}", "-o{out}"},
		Params: map[string]Param{
			"src": {Type: ParamPath, Under: "/box", MaxLen: 100},
			"out": {Type: ParamWord, AllowDash: true, MaxLen: 4096},
		},
		AllowedCommands: []string{"/usr/bin/gcc"},
	}
	if !reflect.DeepEqual(s.Command, wantC) {
		t.Errorf("command:\n got %+v\nwant %+v", s.Command, wantC)
	}
}

func TestUnsafeIsTheOnlyWayToWeaken(t *testing.T) {
	base := `{"version": 1, "namespaces": {"user": false, "pid": false}, "process": {"uid": 0, "no_new_privs": false %s},
		"filesystem": {"mounts": [{"type": "proc", "dst": "/proc"}, {"type": "bind", "src": "/sys/fs", "dst": "/sysfs", "nodev": false}]}}`
	if _, err := Compile(mustParse(t, fmt.Sprintf(base, ""))); err == nil {
		t.Fatal("weakened policy accepted without unsafe")
	} else if n := len(err.(*InvalidError).Problems); n != 5 {
		t.Errorf("want 5 problems (uid, no_new_privs, proc, /sys bind, nodev), got %d:\n%v", n, err)
	}
	s := mustCompile(t, fmt.Sprintf(base, `, "unsafe": true`))
	if s.Process.NoNewPrivs || !s.Process.Unsafe {
		t.Errorf("process = %+v", s.Process)
	}
}

func TestExtends(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("base/parent.json", `{"version": 1, "name": "parent", "description": "the parent",
		"namespaces": {"net": false},
		"filesystem": {"mounts": [
			{"type": "bind", "src": "/usr", "dst": "/usr"},
			{"type": "tmpfs", "dst": "/tmp", "size": "16M"},
			{"type": "proc", "dst": "/proc"}],
			"masked_paths": ["/proc/kcore"], "workdir": "/tmp"},
		"limits": {"memory": "256M", "pids": 10, "output": {"stdout": "1M", "total": "2M"}},
		"seccomp": {"default_action": "errno(EPERM)", "rules": [{"syscalls": ["ptrace"], "action": "kill_process"}, {"syscalls": ["read"], "action": "allow"}]},
		"process": {"uid": 1000, "env": {"allow": ["TERM"], "set": {"A": "1", "B": "2"}}},
		"command": {"allowed_commands": ["/bin/true"]},
		"require": {"best_effort": ["limits.io_weight"]}}`)
	child := write("child.json", `{"version": 1,
		"extends": "base/parent.json",
		"namespaces": {"net": true},
		"network": {"loopback": true},
		"filesystem": {"mounts": [
			{"type": "tmpfs", "dst": "/tmp", "size": "512M"},
			{"type": "bind", "src": "/srv/out", "dst": "/out", "readonly": false}],
			"masked_paths": ["/proc/keys", "/proc/kcore"]},
		"limits": {"pids": 100, "output": {"stderr": "1M"}},
		"seccomp": {"rules": [{"syscalls": ["ptrace"], "action": "errno(EPERM)"}]},
		"process": {"env": {"allow": ["LANG"], "set": {"B": "3", "C": "4"}}},
		"require": {"best_effort": ["limits.cpu"]}}`)
	s, err := Load(child)
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "child" || s.Description != "" {
		t.Errorf("name/description inherited: %q %q", s.Name, s.Description)
	}
	if !s.Namespaces.Net || !s.Network.LoopbackUp {
		t.Errorf("namespaces/network = %+v %+v", s.Namespaces, s.Network)
	}
	var dsts []string
	for _, m := range s.Filesystem.Mounts {
		dsts = append(dsts, fmt.Sprintf("%s:%s:%d", m.Kind, m.Dst, m.Size))
	}
	if got, want := strings.Join(dsts, " "), "bind:/usr:0 tmpfs:/tmp:536870912 proc:/proc:0 bind:/out:0"; got != want {
		t.Errorf("mounts = %s; want %s (same dst replaced in place, others appended)", got, want)
	}
	if !reflect.DeepEqual(s.Filesystem.MaskedPaths, []string{"/proc/kcore", "/proc/keys"}) || s.Filesystem.Workdir != "/tmp" {
		t.Errorf("filesystem = %+v", s.Filesystem)
	}
	if s.Limits.Memory != 256<<20 || s.Limits.Pids != 100 || s.Limits.Output != (OutputLimits{Stdout: 1 << 20, Stderr: 1 << 20, Total: 2 << 20}) {
		t.Errorf("limits = %+v", s.Limits)
	}
	rules := s.Seccomp.Rules
	if len(rules) != 3 || rules[0].Action.Kind != ActErrno || rules[1].Action.Kind != ActKillProcess || s.Seccomp.DefaultAction.Errno != 1 {
		t.Errorf("seccomp = %+v; want the child's rules first, then the parent's", s.Seccomp)
	}
	if !reflect.DeepEqual(s.Process.Env, []string{"A=1", "B=3", "C=4"}) || !reflect.DeepEqual(s.Process.EnvAllow, []string{"LANG", "TERM"}) || s.Process.UID != 1000 {
		t.Errorf("process = %+v", s.Process)
	}
	if !reflect.DeepEqual(s.Command.AllowedCommands, []string{"/bin/true"}) {
		t.Errorf("command = %+v", s.Command)
	}
	if !reflect.DeepEqual(s.Require.BestEffort, []string{"limits.cpu", "limits.io_weight"}) {
		t.Errorf("require = %+v", s.Require)
	}

	// Extending a built-in by name.
	b := write("fromstrict.json", `{"version": 1, "extends": "strict", "limits": {"pids": 5}}`)
	s, err = Load(b)
	if err != nil {
		t.Fatal(err)
	}
	strict, _ := Builtin("strict")
	if s.Limits.Pids != 5 || s.Limits.Memory != strict.Limits.Memory || len(s.Filesystem.Mounts) != len(strict.Filesystem.Mounts) {
		t.Errorf("extends strict: %+v", s.Limits)
	}
}

func TestExtendsDepthCap(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i <= MaxExtendsDepth+1; i++ {
		content := `{"version": 1}`
		if i <= MaxExtendsDepth {
			content = fmt.Sprintf(`{"version": 1, "extends": "p%d.json"}`, i+1)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("p%d.json", i)), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := Load(filepath.Join(dir, "p0.json"))
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "extends chain is deeper than") {
		t.Fatalf("deep extends chain: %v", err)
	}
	// One less is fine.
	if _, err := Load(filepath.Join(dir, "p1.json")); err != nil {
		t.Fatalf("chain of %d: %v", MaxExtendsDepth, err)
	}
}

func TestHardCaps(t *testing.T) {
	big := []byte(`{"version": 1, "description": "` + strings.Repeat("x", MaxFileSize) + `"}`)
	if _, err := Parse(big, "big.json"); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "over the limit") {
		t.Errorf("oversized input: %v", err)
	}
	f := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(f, big, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(f); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "larger than the limit") {
		t.Errorf("oversized file: %v", err)
	}

	var rules []string
	for i := 0; i <= MaxRules; i++ {
		rules = append(rules, `{"syscalls": ["read"], "action": "allow"}`)
	}
	_, err := Parse([]byte(`{"version": 1, "seccomp": {"default_action": "allow", "rules": [`+strings.Join(rules, ",")+`]}}`), "r.json")
	if err == nil || !strings.Contains(err.Error(), "over the limit of 1024") {
		t.Errorf("too many rules: %v", err)
	}
	var mounts []string
	for i := 0; i <= MaxMounts; i++ {
		mounts = append(mounts, fmt.Sprintf(`{"type": "tmpfs", "dst": "/t%d", "size": "1M"}`, i))
	}
	_, err = Parse([]byte(`{"version": 1, "filesystem": {"mounts": [`+strings.Join(mounts, ",")+`]}}`), "m.json")
	if err == nil || !strings.Contains(err.Error(), "over the limit of 256") {
		t.Errorf("too many mounts: %v", err)
	}

	// A file with thousands of problems reports a bounded number of them.
	var keys []string
	for i := 0; i < 5000; i++ {
		keys = append(keys, fmt.Sprintf(`"k%d": 1`, i))
	}
	_, err = Parse([]byte(`{"version": 1, `+strings.Join(keys, ",")+`}`), "many.json")
	var inv *InvalidError
	if !errors.As(err, &inv) || len(inv.Problems) != maxProblems+1 || !strings.Contains(err.Error(), "too many problems") {
		t.Errorf("problem cap: %d problems", len(inv.Problems))
	}

	deep := `{"version": 1, "x": ` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
	if _, err := Parse([]byte(deep), "deep.json"); err == nil || !strings.Contains(err.Error(), "nesting deeper") {
		t.Errorf("deep nesting: %v", err)
	}
}

func TestReadErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		name string
		path string
	}{
		{"missing", filepath.Join(dir, "nope.json")},
		{"directory", dir},
		{"device", "/dev/null"},
	} {
		_, err := Load(tt.path)
		var re *ReadError
		if !errors.Is(err, ErrRead) || errors.Is(err, ErrInvalid) || !errors.As(err, &re) || re.Path != tt.path {
			t.Errorf("%s: Load(%s) = %v; want a *ReadError", tt.name, tt.path, err)
		}
	}
	if _, err := Builtin("nosuch"); !errors.Is(err, ErrRead) || !strings.Contains(err.Error(), "strict") {
		t.Errorf("Builtin(nosuch) = %v", err)
	}
	if _, err := Resolve("nosuch"); !errors.Is(err, ErrRead) {
		t.Errorf("Resolve(nosuch) = %v", err)
	}
	if _, err := Resolve(filepath.Join(dir, "x.json")); !errors.Is(err, ErrRead) {
		t.Errorf("Resolve(file) = %v", err)
	}
}

func TestResolveChoosesBuiltinOrFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "strict.json")
	if err := os.WriteFile(f, []byte(`{"version": 1, "name": "mine"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(dir)
	for ref, want := range map[string]string{"strict": "strict", "strict.json": "mine", "./strict.json": "mine", f: "mine"} {
		s, err := Resolve(ref)
		if err != nil || s.Name != want {
			t.Errorf("Resolve(%q) = %v, %v; want name %q", ref, s, err, want)
		}
	}
}

func TestErrorFormat(t *testing.T) {
	_, err := Parse([]byte("{\n  \"version\": 1,\n  \"limits\": {\"memory\": \"256Q\", \"pids\": 0}\n}"), "p.json")
	want := "p.json:3:24: limits.memory: \"256Q\" is not a size (use e.g. \"256M\"; units: K, M, G, T or KiB, MiB, GiB, TiB, all powers of 1024)\n" +
		"p.json:3:40: limits.pids: 0 is out of range (allowed: 1..4194304)"
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestSettingsSHA256(t *testing.T) {
	a := mustCompile(t, `{"version": 1, "limits": {"memory": "256M"}}`)
	b := mustCompile(t, `{"limits": {"memory": 268435456}, "version": 1}`)
	c := mustCompile(t, `{"version": 1, "limits": {"memory": "257M"}}`)
	if a.SHA256 != b.SHA256 {
		t.Error("the same effective policy written differently has different digests")
	}
	if a.SHA256 == c.SHA256 {
		t.Error("different policies have the same digest")
	}
}

func TestExplain(t *testing.T) {
	s, err := Builtin("strict")
	if err != nil {
		t.Fatal(err)
	}
	out := Explain(s)
	for _, want := range []string{"policy strict", "memory.max", "memory.limit_in_bytes", "pids.max", "RLIMIT_NOFILE", "RLIMIT_CORE", "tmpfs /tmp", "no_new_privs on", "net     on"} {
		if !strings.Contains(out, want) {
			t.Errorf("Explain lacks %q:\n%s", want, out)
		}
	}
}

func TestCapsApplyAfterExtends(t *testing.T) {
	dir := t.TempDir()
	var mounts []string
	for i := 0; i < 200; i++ {
		mounts = append(mounts, fmt.Sprintf(`{"type": "tmpfs", "dst": "/p%d", "size": "1M"}`, i))
	}
	if err := os.WriteFile(filepath.Join(dir, "parent.json"), []byte(`{"version": 1, "filesystem": {"mounts": [`+strings.Join(mounts, ",")+`]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := range mounts {
		mounts[i] = strings.Replace(mounts[i], "/p", "/c", 1)
	}
	child := filepath.Join(dir, "child.json")
	if err := os.WriteFile(child, []byte(`{"version": 1, "extends": "parent.json", "filesystem": {"mounts": [`+strings.Join(mounts, ",")+`]}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(child)
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "filesystem.mounts: has 400 entries after extends, over the limit of 256") {
		t.Errorf("merged mounts over the cap: %v", err)
	}
}

func TestLandlockSettings(t *testing.T) {
	for _, tc := range []struct {
		name, fs string
		want     LandlockMode
		noLL     []bool // per mount: NoLandlock
		problem  string // substring of the error; "" = valid
	}{
		{"default is auto", `{}`, LandlockAuto, nil, ""},
		{"require", `{"landlock": "require"}`, LandlockRequire, nil, ""},
		{"off", `{"landlock": "off"}`, LandlockOff, nil, ""},
		{"unknown mode", `{"landlock": "on"}`, "", nil, "filesystem.landlock"},
		{"bind left out", `{"mounts": [{"type": "bind", "src": "/srv", "dst": "/srv", "landlock": false},
			{"type": "bind", "src": "/usr", "dst": "/usr", "landlock": true}]}`, LandlockAuto, []bool{true, false}, ""},
		{"left out under a ruled mount", `{"mounts": [{"type": "tmpfs", "dst": "/box", "size": "1M"},
			{"type": "bind", "src": "/srv", "dst": "/box/srv", "landlock": false}]}`, "", nil, "filesystem.mounts[1].landlock"},
		{"only binds take it", `{"mounts": [{"type": "tmpfs", "dst": "/box", "size": "1M", "landlock": false}]}`, "", nil, "landlock"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte(`{"version": 1, "filesystem": `+tc.fs+`}`), "test.json")
			var s *Settings
			if err == nil {
				s, err = Compile(p)
			}
			if tc.problem != "" {
				if err == nil || !strings.Contains(err.Error(), tc.problem) {
					t.Fatalf("want a problem with %q, got %v", tc.problem, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if s.Filesystem.Landlock != tc.want {
				t.Errorf("landlock = %q, want %q", s.Filesystem.Landlock, tc.want)
			}
			for i, want := range tc.noLL {
				if s.Filesystem.Mounts[i].NoLandlock != want {
					t.Errorf("mount %d NoLandlock = %v", i, s.Filesystem.Mounts[i].NoLandlock)
				}
			}
		})
	}
	// "require" cannot work without a mount namespace (no mounts to derive rules from) or without
	// no_new_privs: refused when the policy is compiled, not at run time.
	if _, err := Compile(mustParse(t, `{"version": 1, "namespaces": {"mount": false}, "filesystem": {"landlock": "require"}}`)); err == nil || !strings.Contains(err.Error(), "namespaces.mount") {
		t.Fatalf("want filesystem.landlock require refused without namespaces.mount, got %v", err)
	}
	_, err := Compile(mustParse(t, `{"version": 1, "filesystem": {"landlock": "require"}, "process": {"no_new_privs": false, "unsafe": true}}`))
	if err == nil || !strings.Contains(err.Error(), "filesystem.landlock") {
		t.Fatalf("want filesystem.landlock refused without no_new_privs, got %v", err)
	}
}

// defaultKernel is limits.kernel's sysctl defaults, as Settings hold them.
func defaultKernel() KernelValues {
	var v KernelValues
	for i, k := range KernelLimits {
		if k.Sysctl != "" {
			v[i] = k.Default
		}
	}
	return v
}

// extends as a list: the parents are applied left to right, each policy of the graph once, the child last.
func TestExtendsList(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	write("base.json", `{"version": 1, "limits": {"memory": "64M", "pids": 5},
		"filesystem": {"mounts": [{"type": "tmpfs", "dst": "/tmp", "size": "8M"}, {"type": "tmpfs", "dst": "/a", "size": "8M"}]},
		"seccomp": {"default_action": "errno(EPERM)", "rules": [{"syscalls": ["read"], "action": "allow"}]}}`)
	write("big.json", `{"version": 1, "extends": "base.json", "limits": {"memory": "128M"},
		"filesystem": {"mounts": [{"type": "tmpfs", "dst": "/tmp", "size": "16M"}]},
		"seccomp": {"rules": [{"syscalls": ["write"], "action": "allow"}]}}`)
	write("many.json", `{"version": 1, "extends": "base.json", "limits": {"pids": 50},
		"filesystem": {"mounts": [{"type": "tmpfs", "dst": "/tmp", "size": "32M"}]},
		"seccomp": {"rules": [{"syscalls": ["write"], "action": "kill_process"}]}}`)
	write("plain.json", `{"version": 1, "limits": {"pids": 7}}`)
	for _, tc := range []struct {
		name, extends, own string
		memory, pids       int64
		tmp                int64
		rules              string // syscall:action in filter order
		order              string
	}{
		{name: "diamond left to right", extends: `["big.json", "many.json"]`, memory: 128 << 20, pids: 50, tmp: 32 << 20,
			rules: "write:kill_process write:allow read:allow", order: "base big many"},
		{name: "diamond right to left", extends: `["many.json", "big.json"]`, memory: 128 << 20, pids: 50, tmp: 16 << 20,
			rules: "write:allow write:kill_process read:allow", order: "base many big"},
		{name: "the child wins", extends: `["big.json", "many.json"]`, own: `, "limits": {"pids": 9}`, memory: 128 << 20, pids: 9, tmp: 32 << 20,
			rules: "write:kill_process write:allow read:allow", order: "base big many"},
		{name: "a later unrelated parent wins", extends: `["many.json", "plain.json"]`, memory: 64 << 20, pids: 7, tmp: 32 << 20,
			rules: "write:kill_process read:allow", order: "base many plain"},
		{name: "a one-element list is a string", extends: `["big.json"]`, memory: 128 << 20, pids: 5, tmp: 16 << 20,
			rules: "write:allow read:allow", order: "base big"},
		{name: "a parent already applied through another", extends: `["big.json", "base.json"]`, memory: 128 << 20, pids: 5, tmp: 16 << 20,
			rules: "write:allow read:allow", order: "base big"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write("child.json", `{"version": 1, "extends": `+tc.extends+tc.own+`}`)
			s, err := Load(p)
			if err != nil {
				t.Fatal(err)
			}
			if s.Limits.Memory != tc.memory || s.Limits.Pids != tc.pids {
				t.Errorf("memory %d pids %d, want %d %d", s.Limits.Memory, s.Limits.Pids, tc.memory, tc.pids)
			}
			var dsts []string
			for _, m := range s.Filesystem.Mounts {
				dsts = append(dsts, m.Dst)
				if m.Dst == "/tmp" && m.Size != tc.tmp {
					t.Errorf("/tmp size %d, want %d", m.Size, tc.tmp)
				}
			}
			if strings.Join(dsts, " ") != "/tmp /a" {
				t.Errorf("mounts %v: a mount at the same dst is replaced in place", dsts)
			}
			var rules []string
			for _, r := range s.Seccomp.Rules {
				rules = append(rules, r.Syscalls[0]+":"+string(r.Action.Kind))
			}
			if got := strings.Join(rules, " "); got != tc.rules {
				t.Errorf("rules %s, want %s (each policy's rules once, the later policy's first)", got, tc.rules)
			}
			pol, _ := LoadPolicy(p)
			order, err := ExtendsOrder(pol)
			if err != nil {
				t.Fatal(err)
			}
			for i, o := range order {
				order[i] = strings.TrimSuffix(filepath.Base(o), ".json")
			}
			if got := strings.Join(order, " "); got != tc.order {
				t.Errorf("order %s, want %s", got, tc.order)
			}
		})
	}
}

// The built-ins combine without copying rules: strict's seccomp rules appear once.
func TestExtendsListBuiltins(t *testing.T) {
	s, err := Compile(mustParse(t, `{"version": 1, "extends": ["compile", "network-loopback"]}`))
	if err != nil {
		t.Fatal(err)
	}
	compile, _ := Builtin("compile")
	loop, _ := Builtin("network-loopback")
	strict, _ := Builtin("strict")
	if !s.Network.LoopbackUp || s.Limits.Memory != compile.Limits.Memory || s.Filesystem.Workdir != "/box" {
		t.Errorf("not both: loopback %v memory %d workdir %s", s.Network.LoopbackUp, s.Limits.Memory, s.Filesystem.Workdir)
	}
	if want := len(loop.Seccomp.Rules) + len(compile.Seccomp.Rules) - len(strict.Seccomp.Rules); len(s.Seccomp.Rules) != want {
		t.Errorf("%d seccomp rules, want %d (strict's once)", len(s.Seccomp.Rules), want)
	}
}
