//go:build !linux

package service

import (
	"net"
)

// peerCred: only Linux is supported; elsewhere unix-socket callers are never identified by their ids
// (they can still present a token).
func peerCred(c net.Conn) (*Peer, error) { return nil, nil }
