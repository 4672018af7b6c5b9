//go:build !linux

package main

import (
	"fmt"
	"os"
)

// isolateMain: isolate's boxes need Linux namespaces and cgroups.
func isolateMain(args []string) int {
	fmt.Fprintln(os.Stderr, "jailrun isolate needs Linux")
	return isoExitError
}
