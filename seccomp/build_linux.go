//go:build linux && cgo

package seccomp

import (
	"fmt"
	"io"
	"os"

	libseccomp "github.com/seccomp/libseccomp-golang"
	"golang.org/x/sys/unix"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp/syscalls"
)

// Build compiles s into a classic BPF program for the native architecture: jailrun's prefix (kill any
// other architecture and x32, answer syscall numbers newer than jailrun's table with s.UnknownSyscalls)
// followed by the libseccomp-generated rules. It refuses (PolicyError) anything it cannot compile
// faithfully; see plan.go for the rule semantics.
func Build(s policy.Seccomp) (*Program, error) {
	return BuildWith(s, Options{})
}

// BuildWith is Build with Options.
func BuildWith(s policy.Seccomp, o Options) (*Program, error) {
	return build(s, syscalls.Native, o)
}

func build(s policy.Seccomp, arch syscalls.Arch, o Options) (*Program, error) {
	if arch != syscalls.Native {
		return nil, fmt.Errorf("%w: libseccomp builds for the native architecture %s only, not %s", ErrUnsupported, syscalls.Native, arch)
	}
	p, err := makePlan(s, arch)
	if err != nil {
		return nil, err
	}
	body, err := libseccompBPF(p.def, p.rules)
	if err != nil {
		return nil, err
	}
	return assemble(p, body, o)
}

func lsAction(a policy.Action) (libseccomp.ScmpAction, error) {
	switch a.Kind {
	case policy.ActAllow:
		return libseccomp.ActAllow, nil
	case policy.ActErrno:
		return libseccomp.ActErrno.SetReturnCode(int16(a.Errno)), nil
	case policy.ActKillProcess:
		return libseccomp.ActKillProcess, nil
	case policy.ActKillThread:
		return libseccomp.ActKillThread, nil
	case policy.ActTrap:
		return libseccomp.ActTrap, nil
	case policy.ActLog:
		return libseccomp.ActLog, nil
	case policy.ActNotify:
		return libseccomp.ActNotify, nil
	}
	return libseccomp.ActInvalid, fmt.Errorf("unknown action %q", a.Kind)
}

// libseccompBPF has libseccomp generate the main filter (default action plus unconditional per-syscall
// actions) and returns its instructions.
func libseccompBPF(defAction policy.Action, rules []lsRule) ([]SockFilter, error) {
	def, err := lsAction(defAction)
	if err != nil {
		return nil, &PolicyError{Setting: "seccomp.default_action", Err: err}
	}
	f, err := libseccomp.NewFilter(def)
	if err != nil {
		return nil, fmt.Errorf("seccomp: libseccomp: new filter: %w", err)
	}
	defer f.Release()
	// Our prefix already kills foreign architectures; libseccomp's own check is a second line.
	if err := f.SetBadArchAction(libseccomp.ActKillProcess); err != nil {
		return nil, fmt.Errorf("seccomp: libseccomp: bad-arch action: %w", err)
	}
	// A binary tree of syscall numbers keeps the cost of a large allowlist logarithmic.
	if err := f.SetOptimize(2); err != nil {
		return nil, fmt.Errorf("seccomp: libseccomp: optimize: %w", err)
	}
	for _, r := range rules {
		act, err := lsAction(r.Action)
		if err != nil {
			return nil, err
		}
		// Numbers, not names: Debian's libseccomp cannot name syscalls added since Linux 6.8, but it
		// accepts any number for the native architecture (TestLibseccompAcceptsNewNumbers).
		if err := f.AddRuleExact(libseccomp.ScmpSyscall(r.Nr), act); err != nil {
			return nil, fmt.Errorf("seccomp: libseccomp: add rule %s for %s: %w", FormatAction(r.Action), r.Name, err)
		}
	}
	mem, err := unix.MemfdCreate("jailrun-seccomp", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("seccomp: memfd for libseccomp export: %w", err)
	}
	file := os.NewFile(uintptr(mem), "jailrun-seccomp")
	defer file.Close()
	if err := f.ExportBPF(file); err != nil {
		return nil, fmt.Errorf("seccomp: libseccomp: export BPF: %w", err)
	}
	if _, err := file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("seccomp: read back BPF: %w", err)
	}
	raw, err := io.ReadAll(file)
	if err != nil {
		return nil, fmt.Errorf("seccomp: read back BPF: %w", err)
	}
	return parseSockFilters(raw)
}
