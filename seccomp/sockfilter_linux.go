//go:build linux

package seccomp

import "golang.org/x/sys/unix"

// SockFilter is one classic BPF instruction (struct sock_filter); on Linux it is x/sys's own type so that
// Instructions can go straight into unix.SockFprog.
type SockFilter = unix.SockFilter
