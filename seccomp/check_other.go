//go:build !linux

package seccomp

// CheckKernel fails closed off Linux.
func (p *Program) CheckKernel() error { return ErrUnsupported }
