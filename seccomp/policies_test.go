package seccomp

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/policy"
)

// Every shipped policy builds, and keeps strict's promises except where it says otherwise.
func TestShippedPolicies(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "policies", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no shipped policies: %v", err)
	}
	// Deliberate differences from strict, per policy.
	ioUring := map[string]policy.Action{"io_uring_setup": enosys, "io_uring_enter": enosys, "io_uring_register": enosys}
	loopback := map[string]policy.Action{"socket[2]": allow, "socket[10]": allow, "socket[4294967298]": allow /* AF_INET with junk above 32 bits */}
	both := map[string]policy.Action{}
	for _, m := range []map[string]policy.Action{ioUring, loopback} {
		for k, v := range m {
			both[k] = v
		}
	}
	overrides := map[string]map[string]policy.Action{
		"interpreter":      ioUring,
		"node":             ioUring, // extends interpreter
		"pypy":             ioUring, // extends interpreter
		"network-loopback": loopback,
		"ci":               both, // extends interpreter and network-loopback
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".json")
		t.Run(name, func(t *testing.T) {
			p := mustBuild(t, shippedPolicy(t, name))
			for _, tt := range strictBlockList {
				key := tt.syscall
				if tt.args != nil {
					key = tt.syscall + fmt.Sprint(tt.args)
				}
				want := tt.want
				if o, ok := overrides[name][key]; ok {
					want = o
				} else if o, ok := overrides[name][tt.syscall]; ok {
					want = o
				}
				if got := eval(t, p, tt.syscall, tt.args...); got != want {
					t.Errorf("%s: %s%v = %s, want %s", name, tt.syscall, tt.args, FormatAction(got), FormatAction(want))
				}
			}
			for _, s := range []string{"read", "write", "execve", "exit_group", "mmap", "futex", "clone"} {
				if got := eval(t, p, s); got != allow {
					t.Errorf("%s: %s = %s, want allow", name, s, FormatAction(got))
				}
			}
		})
	}
}
