// Package policies holds jailrun's built-in policies. They are embedded in the binary so that a run never
// depends on files next to it; package policy parses and compiles them.
package policies

import "embed"

// FS holds every built-in policy as NAME.json at its root.
//
//go:embed *.json
var FS embed.FS
