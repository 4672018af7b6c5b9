//go:build !unix

package audit

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

var stderr io.Writer = os.Stderr

// OpenFile is not available: shared append needs flock.
func OpenFile(path string, o Options) (Sink, error) {
	return nil, fmt.Errorf("%w: audit files need a Unix host (this is %s)", ErrSink, runtime.GOOS)
}

// SyslogSink is not available.
func SyslogSink(network, addr string) (Sink, error) {
	return nil, fmt.Errorf("%w: syslog needs a Unix host (this is %s)", ErrSink, runtime.GOOS)
}
