//go:build linux

package ipc

import (
	"errors"
	"fmt"
	"net"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const oNoFollow = unix.O_NOFOLLOW

// makePair makes the pipe or socketpair. The parent's end is non-blocking so that Go's poller owns it:
// Close then wakes a copy blocked on it, which is how Finish and context cancellation end relays. The
// child's end stays blocking, as programs expect of their fds.
func (c *Channel) makePair() (*os.File, error) {
	switch c.Kind {
	case KindOut, KindIn:
		var p [2]int
		if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
			return nil, fmt.Errorf("pipe2: %w", err)
		}
		parentFD, childFD := p[0], p[1] // child writes
		if c.Kind == KindIn {
			parentFD, childFD = p[1], p[0]
		}
		if err := unix.SetNonblock(parentFD, true); err != nil {
			unix.Close(p[0])
			unix.Close(p[1])
			return nil, fmt.Errorf("pipe: %w", err)
		}
		c.pipe = os.NewFile(uintptr(parentFD), "channel:"+c.Name)
		return os.NewFile(uintptr(childFD), "channel-child:"+c.Name), nil
	default:
		typ := unix.SOCK_STREAM
		if c.Kind == KindSeqpacket {
			typ = unix.SOCK_SEQPACKET
		}
		p, err := unix.Socketpair(unix.AF_UNIX, typ|unix.SOCK_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("socketpair: %w", err)
		}
		f := os.NewFile(uintptr(p[0]), "channel:"+c.Name)
		fc, err := net.FileConn(f) // dups the fd; f is closed below either way
		f.Close()
		if err != nil {
			unix.Close(p[1])
			return nil, fmt.Errorf("socketpair: %w", err)
		}
		c.conn = fc.(*net.UnixConn)
		return os.NewFile(uintptr(p[1]), "channel-child:"+c.Name), nil
	}
}

// isPeerGone reports errors that mean the other side closed its end, which ends a copy normally.
func isPeerGone(err error) bool {
	return err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, os.ErrClosed) || errors.Is(err, net.ErrClosed))
}
