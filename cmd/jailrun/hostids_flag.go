package main

import (
	"os"

	"github.com/jailrun/jailrun/sandbox"
	"github.com/spf13/pflag"
)

// hostIDs is --host-id-range of the command being run (run, interact, pipe, serve): one command per process.
var hostIDs string

// addHostIDsFlag declares --host-id-range, defaulting to $JAILRUN_HOST_IDS.
func addHostIDsFlag(fl *pflag.FlagSet) {
	fl.StringVar(&hostIDs, "host-id-range", os.Getenv("JAILRUN_HOST_IDS"),
		"as root, give each live sandbox its own host uid and gid from `START-END` (default 2147418112-2147483647, or $JAILRUN_HOST_IDS); must not overlap /etc/passwd, /etc/group, /etc/subuid or /etc/subgid")
}

// parseHostIDs turns --host-id-range into sandbox.Options.HostIDs; "" is the default range.
func parseHostIDs() (sandbox.IDRange, error) {
	if hostIDs == "" {
		return sandbox.IDRange{}, nil
	}
	r, err := sandbox.ParseIDRange(hostIDs)
	if err != nil {
		return r, fail(exitUsage, "--host-id-range: %v", err)
	}
	return r, nil
}

// envHostIDs is $JAILRUN_HOST_IDS for `jailrun doctor`; an invalid value is the default there (the commands
// that run sandboxes refuse it).
func envHostIDs() sandbox.IDRange {
	r, _ := sandbox.ParseIDRange(os.Getenv("JAILRUN_HOST_IDS"))
	return r
}
