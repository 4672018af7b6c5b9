// Package policy reads, checks and compiles jailrun policies.
//
// A policy is a JSON file (docs/policy.md is the reference) that says what a sandboxed command may do:
// namespaces, mounts, cgroup limits, rlimits, the environment, seccomp rules, Landlock, an optional
// command template. The pipeline is:
//
//	bytes ──decode──▶ *Policy (the file as written, every field with its position for errors)
//	      ──merge───▶ the policy with its "extends" chain resolved (a built-in or a file)
//	      ──Compile─▶ *Settings (canonical values, defaults filled, invariants checked)
//
// Settings is what the launcher enforces and what `jailrun policy explain` prints; its SHA256 names the
// effective policy in every result. Errors are typed: *ReadError (ErrRead) when a file cannot be read,
// *InvalidError (ErrInvalid) with the JSON path of every problem when its content is wrong. The decoder
// is the attack surface of the service's configuration and of every CLI run, so it is fuzzed (fuzz/) and
// bounds every size (MaxFileSize, the Max* constants).
package policy
