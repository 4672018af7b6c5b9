//go:build !linux

package ipc

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"syscall"
)

const oNoFollow = 0

func (c *Channel) makePair() (*os.File, error) {
	return nil, fmt.Errorf("channels need Linux (this is %s)", runtime.GOOS)
}

func isPeerGone(err error) bool {
	return err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed))
}

func newMessageReader(c *net.UnixConn) io.Reader { return c }

func isMessageReader(io.Reader) bool { return false }

func setPassCred(*net.UnixConn) error { return nil }
