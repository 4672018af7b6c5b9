//go:build !linux

package seccomp

// SockFilter is one classic BPF instruction (struct sock_filter). Off Linux, x/sys has no such type; this
// one has the same layout so that explain and Evaluate still work there.
type SockFilter struct {
	Code uint16
	Jt   uint8
	Jf   uint8
	K    uint32
}
