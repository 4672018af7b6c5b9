package seccomp

import (
	"encoding/binary"
	"errors"
	"sync"
	"testing"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

func TestParseAudit(t *testing.T) {
	if syscalls.Native != syscalls.AMD64 {
		t.Skip("sample records are x86_64")
	}
	tests := []struct {
		line    string
		ok      bool
		syscall string
		nr, pid int
		arch    string
	}{
		{`audit: type=1326 audit(1700000000.123:42): auid=4294967295 uid=1000 gid=1000 ses=4294967295 subj=unconfined pid=4242 comm="a.out" exe="/tmp/a.out" sig=31 arch=c000003e syscall=101 compat=0 ip=0x7f0000001234 code=0x80000000`, true, "ptrace", 101, 4242, "x86_64"},
		{`type=SECCOMP msg=audit(1700000000.5:7): auid=0 uid=0 gid=0 ses=1 pid=7 comm="x" exe="/x" sig=31 arch=40000003 syscall=20 compat=1 ip=0x1 code=0x80000000`, true, "", 20, 7, "i386"},
		{`audit: type=1400 apparmor="DENIED"`, false, "", 0, 0, ""},
		{`audit: type=1326 garbage`, false, "", 0, 0, ""},
	}
	for _, tt := range tests {
		v, pid, ok := ParseAudit(tt.line)
		if ok != tt.ok {
			t.Errorf("ParseAudit(%q) ok = %v", tt.line, ok)
			continue
		}
		if ok && (v.Syscall != tt.syscall || v.Nr != tt.nr || pid != tt.pid || v.Arch != tt.arch) {
			t.Errorf("ParseAudit(%q) = %+v pid %d", tt.line, v, pid)
		}
	}
}

func TestViolationFromSigsys(t *testing.T) {
	raw := make([]byte, 128)
	binary.NativeEndian.PutUint32(raw[0:], 31) // SIGSYS
	binary.NativeEndian.PutUint32(raw[8:], 1)  // SYS_SECCOMP
	getpid, _ := syscalls.Number(syscalls.Native, "getpid")
	binary.NativeEndian.PutUint32(raw[24:], uint32(getpid))
	binary.NativeEndian.PutUint32(raw[28:], nativeAudit(t))
	v, ok := ViolationFromSigsys(raw)
	if !ok || v.Syscall != "getpid" || v.Nr != getpid {
		t.Fatalf("ViolationFromSigsys = %+v, %v", v, ok)
	}
	binary.NativeEndian.PutUint32(raw[8:], 0) // SI_USER: someone ran kill -SYS
	if _, ok := ViolationFromSigsys(raw); ok {
		t.Error("a SIGSYS sent by kill(2) decoded as a seccomp violation")
	}
	if _, ok := ViolationFromSigsys(raw[:8]); ok {
		t.Error("a short siginfo decoded")
	}
}

func TestParseSyscallSpec(t *testing.T) {
	if syscalls.Native != syscalls.AMD64 {
		t.Skip("x86_64 numbers")
	}
	tests := []struct {
		spec string
		nr   int
		arch uint32
		args [6]uint64
		err  bool
	}{
		{"getpid", 39, auditArchX86_64, [6]uint64{}, false},
		{"ioctl 1 TIOCSTI", 16, auditArchX86_64, [6]uint64{1, 0x5412}, false},
		{"ioctl(1, 0x5412)", 16, auditArchX86_64, [6]uint64{1, 0x5412}, false},
		{"clone CLONE_NEWUSER|17", 56, auditArchX86_64, [6]uint64{0x10000011}, false},
		{"personality -1", 135, auditArchX86_64, [6]uint64{^uint64(0)}, false},
		{"1000", 1000, auditArchX86_64, [6]uint64{}, false},
		{"x32:getpid", 0x40000000 | 39, auditArchX86_64, [6]uint64{}, false},
		{"i386:20", 20, auditArchI386, [6]uint64{}, false},
		{"i386:getpid", 0, 0, [6]uint64{}, true},
		{"frob", 0, 0, [6]uint64{}, true},
		{"ioctl 1 NOPE", 0, 0, [6]uint64{}, true},
		{"read 1 2 3 4 5 6 7", 0, 0, [6]uint64{}, true},
		{"", 0, 0, [6]uint64{}, true},
	}
	for _, tt := range tests {
		s, err := ParseSyscallSpec(tt.spec)
		if (err != nil) != tt.err {
			t.Errorf("ParseSyscallSpec(%q): err %v", tt.spec, err)
			continue
		}
		if err == nil && (s.Nr != tt.nr || s.Arch != tt.arch || s.Args != tt.args) {
			t.Errorf("ParseSyscallSpec(%q) = %+v", tt.spec, s)
		}
	}
}

func TestBuildCached(t *testing.T) {
	s := allowlist(rule(allow, []string{"@default"}))
	a, err := BuildCached(s)
	if err != nil {
		mustBuild(t, s) // skips when this build cannot compile filters
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			b, err := BuildCached(s)
			if err != nil || b != a {
				t.Errorf("concurrent BuildCached: %p %v, want the cached %p", b, err, a)
			}
		}()
	}
	wg.Wait()
	other := allowlist(rule(allow, []string{"@default"}), rule(kill, []string{"ptrace"}))
	c, err := BuildCached(other)
	if err != nil || c == a {
		t.Fatalf("a different section must not hit the cache: %v", err)
	}
	if got := eval(t, c, "ptrace"); got != kill {
		t.Errorf("cached program for the other section: ptrace → %s", FormatAction(got))
	}
	if _, err := BuildCached(policy.Seccomp{Enabled: true}); err == nil {
		t.Error("an invalid section was built")
	}
}

// CheckCached answers as Check does, the second time too: a valid section is remembered, an invalid one
// is refused every time.
func TestCheckCached(t *testing.T) {
	valid := allowlist(rule(allow, []string{"@default"}), rule(kill, []string{"ptrace"}))
	invalid := allowlist(rule(allow, []string{"no_such_syscall_anywhere"}))
	for round := range 2 {
		if err := CheckCached(valid); err != nil {
			t.Errorf("round %d: valid section: %v", round, err)
		}
		want := Check(invalid)
		if want == nil {
			t.Fatal("Check accepted the invalid section")
		}
		if err := CheckCached(invalid); err == nil || err.Error() != want.Error() {
			t.Errorf("round %d: invalid section: %v, want %v", round, err, want)
		}
	}
}

// CheckDiskCached answers as Check does, for root (through the disk cache: compiled once, then found) and
// for everyone else (CheckCached), and never hides a problem of the section.
func TestCheckDiskCached(t *testing.T) {
	valid := allowlist(rule(allow, []string{"@default"}), rule(kill, []string{"ptrace"}), rule(allow, []string{"getpid"}))
	invalid := allowlist(rule(allow, []string{"no_such_syscall_anywhere_either"}))
	want := Check(invalid)
	if want == nil {
		t.Fatal("Check accepted the invalid section")
	}
	for round := range 2 {
		if err := CheckDiskCached(valid); err != nil {
			t.Errorf("round %d: valid section: %v", round, err)
		}
		err := CheckDiskCached(invalid)
		var pe *PolicyError
		if err == nil || err.Error() != want.Error() || !errors.As(err, &pe) {
			t.Errorf("round %d: invalid section: %v (%T), want %v", round, err, err, want)
		}
	}
}

// One cached Program serves concurrent launches and explain calls: Evaluate must be safe to share.
func TestEvaluateConcurrent(t *testing.T) {
	p := mustBuild(t, shippedPolicy(t, "strict"))
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if got := eval(t, p, "ptrace"); got != kill {
					t.Errorf("ptrace = %s", FormatAction(got))
					return
				}
				if got := eval(t, p, "read"); got != allow {
					t.Errorf("read = %s", FormatAction(got))
					return
				}
			}
		}()
	}
	wg.Wait()
}
