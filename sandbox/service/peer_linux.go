//go:build linux

package service

import (
	"fmt"
	"net"

	"golang.org/x/sys/unix"
)

// peerCred reads the credentials the kernel recorded for the process that connected to a unix socket
// (SO_PEERCRED: taken at connect time, so the peer cannot change them afterwards by changing its ids).
func peerCred(c net.Conn) (*Peer, error) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return nil, nil
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, fmt.Errorf("peer credentials: %w", err)
	}
	if cerr != nil {
		return nil, fmt.Errorf("peer credentials: SO_PEERCRED: %w", cerr)
	}
	return &Peer{UID: cred.Uid, GID: cred.Gid, PID: cred.Pid}, nil
}
