//go:build !linux || !cgo

package seccomp

// Without cgo on Linux nothing compiles a filter, so there is nothing to cache.
type diskCache struct{}

func systemDiskCache() *diskCache { return nil }

func (*diskCache) loadOrBuild(_ [32]byte, build func() (*Program, error)) (*Program, bool, error) {
	p, err := build()
	return p, false, err
}
