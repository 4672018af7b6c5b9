//go:build !linux || !cgo

package sandbox

import (
	"context"
	"fmt"
	"runtime"
)

type platform struct{}

func (r *Runner) initPlatform() error {
	return fmt.Errorf("%w: jailrun needs Linux and a cgo build (this is %s/%s)", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// Run is not available on this platform.
func (r *Runner) Run(ctx context.Context, req Request) (*Result, error) {
	return nil, fmt.Errorf("%w: unsupported platform %s/%s", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}

// Close does nothing on this platform.
func (r *Runner) Close() error { return nil }
