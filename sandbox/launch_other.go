//go:build !linux || !cgo

package sandbox

import (
	"context"
	"fmt"
	"runtime"

	"github.com/jailrun/jailrun/policy"
)

//lint:ignore U1000 the type of Runner.plat, which only the Linux build uses
type platform struct{}

func (r *Runner) initPlatform() error {
	return fmt.Errorf("%w: jailrun needs Linux and a cgo build (this is %s/%s)", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// Run is not available on this platform. (Kept a one-line stub, as staticcheck expects of one: a Runner
// cannot even be created here, so there is no closed one to refuse.)
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	return nil, fmt.Errorf("%w: unsupported platform %s/%s", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// Close marks the Runner closed; there is nothing else to release on this platform.
func (r *Runner) Close() error { return r.shutdown(func() error { return nil }) }

// Pool is not available on this platform.
type Pool struct{}

// NewPool is not available on this platform.
func (r *Runner) NewPool(s *policy.Settings, o PoolOptions) (*Pool, error) {
	return nil, fmt.Errorf("%w: unsupported platform %s/%s", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// Run is not available on this platform.
func (p *Pool) Run(ctx context.Context, req Request) (*Result, error) {
	return nil, fmt.Errorf("%w: unsupported platform %s/%s", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// Serves is always false on this platform.
func (p *Pool) Serves(s *policy.Settings) bool { return false }

// Stats returns zero counters on this platform.
func (p *Pool) Stats() PoolStats { return PoolStats{} }

// Close does nothing on this platform.
func (p *Pool) Close() error { return nil }

// CheckHostIDRange is not available on this platform.
func CheckHostIDRange(IDRange) error {
	return fmt.Errorf("%w: unsupported platform %s/%s", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// ResolveIDMapping is not available on this platform.
func ResolveIDMapping(Options) (IDMappingInfo, error) {
	return IDMappingInfo{}, fmt.Errorf("%w: unsupported platform %s/%s", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// ProbeUserns reports user namespaces as unavailable on this platform.
func ProbeUserns() UsernsStatus {
	return UsernsStatus{Err: fmt.Sprintf("unsupported platform %s/%s", runtime.GOOS, runtime.GOARCH)}
}

// ProbeNamespaces reports every kind (but the user namespace, ProbeUserns's) unavailable on this platform.
func ProbeNamespaces(s *policy.Settings) []NamespaceStatus {
	var out []NamespaceStatus
	for _, k := range policy.NamespaceKinds {
		if k.Name != "user" && k.On(s.Namespaces) {
			out = append(out, NamespaceStatus{Setting: k.Setting(), Err: fmt.Sprintf("unsupported platform %s/%s", runtime.GOOS, runtime.GOARCH)})
		}
	}
	return out
}

// DetectContainer finds nothing on this platform.
func DetectContainer() Container { return Container{} }

// LandlockABI is an error on this platform.
func LandlockABI() (int, error) {
	return 0, fmt.Errorf("%w: unsupported platform %s/%s", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}
