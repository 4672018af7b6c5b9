//go:build !linux || !cgo

package seccomp

import (
	"github.com/jailrun/jailrun/policy"
)

// Build fails closed: without cgo and libseccomp on Linux there is no filter to load, and running the
// command without the filter the policy asks for would be silently weaker.
func Build(s policy.Seccomp) (*Program, error) { return BuildWith(s, Options{}) }

// BuildWith fails closed like Build.
func BuildWith(s policy.Seccomp, o Options) (*Program, error) {
	if _, err := makePlan(s, "amd64"); err != nil {
		return nil, err
	}
	if _, err := o.foreignRet(); err != nil {
		return nil, err
	}
	return nil, ErrUnsupported
}
