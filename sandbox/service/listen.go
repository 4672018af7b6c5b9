package service

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"
)

// Peer is who is at the other end of a unix-socket connection, as the kernel recorded at connect time.
type Peer struct {
	UID, GID uint32
	PID      int32
}

type peerKey struct{}

// PeerFrom returns the unix-socket peer of a request's connection, or nil (TCP, or not served by Serve).
func PeerFrom(ctx context.Context) *Peer {
	p, _ := ctx.Value(peerKey{}).(*Peer)
	return p
}

// WithPeer returns ctx carrying p, for handlers mounted in another server that identifies peers itself.
func WithPeer(ctx context.Context, p *Peer) context.Context {
	return context.WithValue(ctx, peerKey{}, p)
}

// ListenUnix creates the service's unix socket at path with permission bits mode and, when gid >= 0, that
// group. The socket is bound in a private directory next to path, given its mode and group there and then
// renamed into place, so there is no moment at which it is more accessible than asked. A stale socket
// left by a crashed server is replaced; a live one (another server answers) or any other kind of file at
// path is an error. Closing the listener removes the socket, unless another server has replaced it since.
func ListenUnix(path string, mode os.FileMode, gid int) (net.Listener, error) {
	if err := checkStale(path); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp(filepath.Dir(path), ".jailrun-sock-")
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	defer os.RemoveAll(dir)
	tmp := filepath.Join(dir, "s")
	l, err := net.Listen("unix", tmp)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", path, err)
	}
	ul := l.(*net.UnixListener)
	ul.SetUnlinkOnClose(false) // the bound name is tmp; path is removed by unixListener.Close
	fail := func(step string, err error) (net.Listener, error) {
		l.Close()
		return nil, fmt.Errorf("listen %s: %s: %w", path, step, err)
	}
	if gid >= 0 {
		if err := os.Chown(tmp, -1, gid); err != nil {
			return fail("chown", err)
		}
	}
	if err := os.Chmod(tmp, mode.Perm()); err != nil {
		return fail("chmod", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fail("rename into place", err)
	}
	st, err := os.Lstat(path)
	if err != nil {
		return fail("stat", err)
	}
	return &unixListener{UnixListener: ul, path: path, id: st}, nil
}

// checkStale removes a socket at path that nobody answers on, and refuses anything else that is there.
func checkStale(path string) error {
	st, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("listen %s: %w", path, err)
	}
	if st.Mode().Type() != os.ModeSocket {
		return fmt.Errorf("listen %s: the path exists and is not a socket; refusing to replace it", path)
	}
	c, err := net.DialTimeout("unix", path, time.Second)
	if err == nil {
		c.Close()
		return fmt.Errorf("listen %s: another server is listening on it", path)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		return fmt.Errorf("listen %s: cannot tell whether the existing socket is in use: %w", path, err)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("listen %s: removing the stale socket: %w", path, err)
	}
	return nil
}

type unixListener struct {
	*net.UnixListener
	path string
	id   os.FileInfo // the socket file as created, to recognise it at Close
	once sync.Once
}

// Addr is the socket's public path, not the private name it was bound under.
func (l *unixListener) Addr() net.Addr { return &net.UnixAddr{Name: l.path, Net: "unix"} }

func (l *unixListener) Close() error {
	err := l.UnixListener.Close()
	l.once.Do(func() {
		if st, serr := os.Lstat(l.path); serr == nil && os.SameFile(st, l.id) {
			os.Remove(l.path)
		}
	})
	return err
}

// ListenTCP listens on addr, which must be a loopback address unless allowRemote: the service speaks plain
// HTTP with bearer tokens, so anything beyond loopback needs a network the operator trusts (a cluster
// NetworkPolicy, a service mesh with mTLS).
func ListenTCP(addr string, allowRemote bool) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("listen tcp %s: %w", addr, err)
	}
	if !allowRemote {
		ip := net.ParseIP(host)
		if host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			return nil, fmt.Errorf("listen tcp %s: not a loopback address (127.0.0.1, ::1, localhost); remote listening needs --allow-remote", addr)
		}
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen tcp %s: %w", addr, err)
	}
	return l, nil
}

// connLimiter caps the connections open across all of a server's listeners.
type connLimiter struct{ sem chan struct{} }

// limitedListener accepts only while the limiter has room and records each unix peer's credentials.
type limitedListener struct {
	net.Listener
	lim    *connLimiter
	done   chan struct{}
	closed sync.Once
}

func (l *limitedListener) Accept() (net.Conn, error) {
	select {
	case l.lim.sem <- struct{}{}:
	case <-l.done:
		return nil, net.ErrClosed
	}
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.lim.sem
			return nil, err
		}
		peer, err := peerCred(c)
		if err != nil {
			// A connection whose credentials cannot be read is dropped rather than served anonymously.
			c.Close()
			continue
		}
		return &peerConn{Conn: c, peer: peer, release: func() { <-l.lim.sem }}, nil
	}
}

func (l *limitedListener) Close() error {
	l.closed.Do(func() { close(l.done) })
	return l.Listener.Close()
}

type peerConn struct {
	net.Conn
	peer    *Peer
	release func()
	once    sync.Once
}

func (c *peerConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}
