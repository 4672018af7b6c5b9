//go:build !linux

package sandbox

import (
	"fmt"
	"io"
	"os"
	"runtime"
)

// The symlink-safe copies need openat2(2) or Linux's O_PATH semantics; elsewhere they fail closed.

// CopyOut is not available on this platform.
func CopyOut(dir, name string, dst io.Writer, max int64) (int64, error) {
	return 0, errCopyUnsupported()
}

// CopyOutAt is not available on this platform.
func CopyOutAt(dir *os.File, name string, dst io.Writer, max int64) (int64, error) {
	return 0, errCopyUnsupported()
}

// CopyIn is not available on this platform.
func CopyIn(dir, name string, src io.Reader, mode os.FileMode, max int64) (int64, error) {
	return 0, errCopyUnsupported()
}

// CopyInAt is not available on this platform.
func CopyInAt(dir *os.File, name string, src io.Reader, mode os.FileMode, max int64) (int64, error) {
	return 0, errCopyUnsupported()
}

func errCopyUnsupported() error {
	return fmt.Errorf("%w: symlink-safe file copies need Linux (this is %s/%s)", ErrUnsupported, runtime.GOOS, runtime.GOARCH)
}
