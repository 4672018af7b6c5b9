//go:build !linux

package drift

type platform struct{}

func open(p string) error { return nil }
