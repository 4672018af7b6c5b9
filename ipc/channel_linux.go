//go:build linux

package ipc

import (
	"errors"
	"fmt"
	"io"
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
		if c.Kind == KindSeqpacket {
			if err := passCred(p[0]); err != nil {
				unix.Close(p[0])
				unix.Close(p[1])
				return nil, fmt.Errorf("socketpair: %w", err)
			}
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

// messageReader reads a SOCK_SEQPACKET connection one message at a time, telling a zero-length message
// from the end of the stream: a recv of 0 bytes is both, and Go's net package reads it as EOF. With
// SO_PASSCRED on the receiving socket (passCred, set before anything is sent) the kernel attaches the
// sender's credentials to every message and to none at the end: 0 bytes with credentials is a message.
type messageReader struct {
	conn *net.UnixConn
	raw  syscall.RawConn
	oob  []byte
}

// passCred makes the kernel attach credentials to every message fd receives (see messageReader).
func passCred(fd int) error {
	return unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_PASSCRED, 1)
}

func newMessageReader(c *net.UnixConn) io.Reader {
	raw, err := c.SyscallConn()
	if err != nil {
		return c
	}
	return &messageReader{conn: c, raw: raw, oob: make([]byte, unix.CmsgSpace(unix.SizeofUcred))}
}

// Read returns one message: (0, nil) for a zero-length one, (0, io.EOF) at the end.
func (m *messageReader) Read(p []byte) (int, error) {
	var n int
	var rerr error
	err := m.raw.Read(func(fd uintptr) bool {
		var oobn int
		n, oobn, _, _, rerr = unix.Recvmsg(int(fd), p, m.oob, unix.MSG_CMSG_CLOEXEC)
		if rerr == unix.EAGAIN {
			return false
		}
		if rerr == nil && n == 0 && oobn == 0 {
			rerr = io.EOF
		}
		return true
	})
	if err != nil {
		return 0, err
	}
	if rerr != nil {
		return n, rerr
	}
	return n, nil
}

// isMessageReader says whether a relay's (0, nil) read is a zero-length message to pass on.
func isMessageReader(r io.Reader) bool {
	_, ok := r.(*messageReader)
	return ok
}

func setPassCred(c *net.UnixConn) error {
	raw, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) { serr = passCred(int(fd)) }); err != nil {
		return err
	}
	return serr
}
