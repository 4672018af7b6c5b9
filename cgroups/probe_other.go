//go:build !linux

package cgroups

import "github.com/jailrun/jailrun/policy"

// Probe reports that cgroups are unavailable on this platform.
func Probe(o Options, lim policy.Limits, req policy.Require) *Report {
	r := &Report{Mode: ModeNone, Error: errPlatform.Error()}
	for _, k := range limitKinds(lim) {
		r.Limits = append(r.Limits, LimitStatus{Setting: k.setting, Requested: k.requested, BestEffort: req.Allows(k.setting), Detail: errPlatform.Error()})
	}
	return r
}

// HostFeatures reports nothing on this platform.
func HostFeatures() []Feature { return nil }
