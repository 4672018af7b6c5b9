//go:build !linux

package seccomp

import (
	"context"

	"github.com/jailrun/jailrun/policy"
)

// Supervise needs Linux's seccomp user notifications.
func Supervise(ctx context.Context, notifyFD int, decide func(Violation) policy.Action, report func(Violation)) error {
	return ErrUnsupported
}

// SuperviseInline needs Linux's seccomp user notifications.
func SuperviseInline(ctx context.Context, notifyFD int, decide func(Violation) policy.Action, report func(Violation)) error {
	return ErrUnsupported
}
