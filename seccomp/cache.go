package seccomp

import (
	"crypto/sha256"
	"encoding/json"
	"sync"

	"github.com/jailrun/jailrun/policy"
)

// cacheSize bounds the cache: a service runs a handful of policies, and a caller that builds endless
// distinct filters must not grow memory without bound.
const cacheSize = 128

var cache = struct {
	sync.Mutex
	m     map[[32]byte]*Program
	order [][32]byte // insertion order, for eviction
}{m: map[[32]byte]*Program{}}

// BuildCached is Build with a process-wide cache keyed by the seccomp section's content. A Program is
// immutable and its accessors return copies, so one cached Program can serve concurrent launches. Errors
// are not cached.
func BuildCached(s policy.Seccomp) (*Program, error) {
	return BuildCachedWith(s, Options{})
}

// BuildCachedWith is BuildCached with Options (part of the cache key).
func BuildCachedWith(s policy.Seccomp, o Options) (*Program, error) {
	key, ok := memoryKey(s, o)
	if !ok {
		return BuildWith(s, o)
	}
	if p := memoryGet(key); p != nil {
		return p, nil
	}
	p, err := BuildWith(s, o)
	if err != nil {
		return nil, err
	}
	return memoryPut(key, p), nil
}

// memoryKey hashes the seccomp section and the options: the key of both caches.
func memoryKey(s policy.Seccomp, o Options) ([32]byte, bool) {
	raw, err := json.Marshal(struct {
		S policy.Seccomp
		O Options
	}{s, o})
	if err != nil {
		return [32]byte{}, false
	}
	return sha256.Sum256(raw), true
}

func memoryGet(key [32]byte) *Program {
	cache.Lock()
	defer cache.Unlock()
	return cache.m[key]
}

// memoryPut stores p unless another goroutine stored one meanwhile, and returns the one kept.
func memoryPut(key [32]byte, p *Program) *Program {
	cache.Lock()
	defer cache.Unlock()
	if old, ok := cache.m[key]; ok {
		return old
	}
	if len(cache.order) >= cacheSize {
		delete(cache.m, cache.order[0])
		cache.order = cache.order[1:]
	}
	cache.m[key] = p
	cache.order = append(cache.order, key)
	return p
}

// checked remembers the sections CheckCached found valid, under the same key and bound as cache.
var checked = struct {
	sync.Mutex
	m     map[[32]byte]struct{}
	order [][32]byte
}{m: map[[32]byte]struct{}{}}

// CheckCached is Check with a process-wide memory of the sections that passed: a pool validates its
// policy's section as written for every sandbox it prepares, and the check costs as much as a compile's
// plan. Errors are not remembered.
func CheckCached(s policy.Seccomp) error {
	key, ok := memoryKey(s, Options{})
	if !ok {
		return Check(s)
	}
	checked.Lock()
	_, hit := checked.m[key]
	checked.Unlock()
	if hit {
		return nil
	}
	if err := Check(s); err != nil {
		return err
	}
	checked.Lock()
	defer checked.Unlock()
	if _, ok := checked.m[key]; !ok {
		if len(checked.order) >= cacheSize {
			delete(checked.m, checked.order[0])
			checked.order = checked.order[1:]
		}
		checked.m[key] = struct{}{}
		checked.order = append(checked.order, key)
	}
	return nil
}
