package sandbox

import (
	"encoding/json"
	"sync"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/seccomp"
)

// seccompCache keeps compiled filters by policy section: libseccomp costs a fraction of a millisecond per
// build, and a grading service runs the same few policies thousands of times.
var seccompCache sync.Map // string(JSON of policy.Seccomp) → *seccomp.Program

func buildSeccomp(s policy.Seccomp) (*seccomp.Program, error) {
	key, err := json.Marshal(s)
	if err != nil {
		return seccomp.Build(s)
	}
	if p, ok := seccompCache.Load(string(key)); ok {
		return p.(*seccomp.Program), nil
	}
	p, err := seccomp.Build(s)
	if err != nil {
		return nil, err
	}
	seccompCache.Store(string(key), p)
	return p, nil
}
