// Package fuzz holds jailrun's native Go fuzz targets for the policy language. It has no code of its own;
// the targets are in the _test files:
//
//	FuzzParse      Parse never panics and returns a policy or an error with positioned problems.
//	FuzzRoundTrip  Format is a fixed point: Format(Parse(Format(p))) == Format(p), also for the effective form.
//	FuzzCompile    every parsed policy compiles or is refused as invalid, and compiled settings satisfy
//	               policy.CheckInvariants.
//
// The seed corpus is every shipped policy and every malformed policy of policy/testdata/invalid, plus
// anything under testdata/fuzz. `go test ./fuzz` runs all of it; a long run is
//
//	go test ./fuzz -run '^$' -fuzz '^FuzzCompile$' -fuzztime 10m
//
// and a crasher it finds is written to testdata/fuzz/FuzzCompile/ to be committed with the fix.
//
// One target needs the parser's internals and so lives in package policy: FuzzFastTree holds the parser's
// fast path (a hand-written scanner for well-formed files) to its careful one (encoding/json's tokens):
// the fast path accepts exactly the files the careful one finds no problem in, and builds the same tree.
// `make fuzz` runs the targets of both packages.
package fuzz
