package sandbox_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/jailrun/jailrun/sandbox"
)

// Option values no host could make sense of are the caller's mistake, said as such before the host is
// looked at: an unknown IDMapping was ErrUnsupported (as if this host lacked something), a reversed
// HostIDs range was accepted.
func TestNewRunnerRefusesBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    sandbox.Options
		want error
		says string
	}{
		{"an unknown id mapping", sandbox.Options{IDMapping: "bogus"}, sandbox.ErrPolicy, "Options.IDMapping"},
		{"a reversed host id range", sandbox.Options{HostIDs: sandbox.IDRange{Start: 3000000005, End: 3000000001}}, sandbox.ErrHostIDs, "Options.HostIDs"},
		{"host id 0", sandbox.Options{HostIDs: sandbox.IDRange{Start: 0, End: 10}}, sandbox.ErrHostIDs, "Options.HostIDs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := sandbox.NewRunner(tc.o)
			if r != nil {
				r.Close()
			}
			if !errors.Is(err, tc.want) || errors.Is(err, sandbox.ErrUnsupported) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v; want %v naming %s", err, tc.want, tc.says)
			}
		})
	}
}

// A negative pool size is refused, not silently turned into the default.
func TestNewPoolRefusesNegativeSize(t *testing.T) {
	r, strict := needSandboxes(t)
	defer r.Close()
	p, err := r.NewPool(strict, sandbox.PoolOptions{Size: -3})
	if p != nil {
		p.Close()
	}
	if !errors.Is(err, sandbox.ErrPolicy) || !strings.Contains(err.Error(), "PoolOptions.Size") {
		t.Fatalf("NewPool with Size -3: %v; want ErrPolicy naming PoolOptions.Size", err)
	}
}
