// Package ipc carries bytes between the sandboxed child and the caller: stdio and extra channels, each
// counted and capped so that a child flooding its output costs the host bounded memory and time.
//
// Every relay in this package holds at most one fixed-size buffer per direction, never blocks forever on
// its own (a dead peer ends every copy with EOF or EPIPE; Finish bounds the rest), and accounts for what it
// passed on: bytes, messages, SHA-256 and, only when asked, the first and last bytes.
package ipc

import (
	"io"
	"sync"
	"sync/atomic"
)

// DefaultBufSize is the relay buffer: the default Linux pipe capacity, so one read drains a full pipe.
const DefaultBufSize = 64 << 10

// Budget is a byte allowance shared by several streams (the total output limit). A nil Budget is unlimited.
type Budget struct {
	left atomic.Int64
}

// NewBudget returns a budget of n bytes; n <= 0 means unlimited (nil).
func NewBudget(n int64) *Budget {
	if n <= 0 {
		return nil
	}
	b := &Budget{}
	b.left.Store(n)
	return b
}

// Left returns the bytes still allowed; -1 for an unlimited (nil) budget.
func (b *Budget) Left() int64 {
	if b == nil {
		return -1
	}
	return max(b.left.Load(), 0)
}

// take reserves up to n bytes and returns how many were granted.
func (b *Budget) take(n int64) int64 {
	if b == nil {
		return n
	}
	for {
		left := b.left.Load()
		if left <= 0 {
			return 0
		}
		g := min(n, left)
		if b.left.CompareAndSwap(left, left-g) {
			return g
		}
	}
}

func (b *Budget) giveBack(n int64) {
	if b != nil && n > 0 {
		b.left.Add(n)
	}
}

// grant decides how many of n bytes just read may pass: the stream's own budget first, then the shared
// total for exactly what the own budget allowed. Asking the shared budget only for what can really be used
// matters: reserving more and giving it back later would let a sibling stream see a transiently empty
// total and be cut although the sum of both streams fits.
//
// byTotal reports that the total granted less than the own budget allowed: when the bytes are cut, the
// total is what cut them.
func grant(own, total *Budget, n int64) (g int64, byTotal bool) {
	a := own.take(n)
	if a == 0 {
		return 0, false
	}
	g = total.take(a)
	own.giveBack(a - g)
	return g, g < a
}

// StreamResult is what a relay saw.
type StreamResult struct {
	Bytes     int64 // bytes the child wrote (up to the point the relay stopped reading)
	Truncated bool  // a limit cut the stream
	// ByTotal: the shared total budget cut it, not the stream's own limit (which allowed more).
	ByTotal bool
	Err     error // writing to the destination failed
}

// Relay copies src to dst until EOF. At most limit bytes (0 = unlimited) and what total allows are passed on;
// the first byte over either calls onLimit once and the relay stops reading, so the child blocks or gets
// EPIPE and jailrun's memory stays bounded by one buffer.
//
// When writing to dst fails (the reader of jailrun's stdout went away, a disk is full), the relay stops,
// records the error and closes src if it is an io.Closer: the child's next write then fails with EPIPE
// (SIGPIPE), as in a shell pipeline, instead of filling a pipe nobody reads or having its output silently
// discarded while it runs on.
func Relay(dst io.Writer, src io.Reader, limit int64, total *Budget, onLimit func()) StreamResult {
	return relay(dst, src, limit, total, onLimit, DefaultBufSize)
}

// bufPool recycles relay buffers: a service running many short sandboxes would otherwise allocate two
// 64 KiB buffers per run for the garbage collector.
var bufPool = sync.Pool{New: func() any { b := make([]byte, DefaultBufSize); return &b }}

// relay is Relay with a buffer size. Datagram channels need a buffer as large as the largest message: a
// SOCK_SEQPACKET read into a smaller buffer drops the rest of the message.
func relay(dst io.Writer, src io.Reader, limit int64, total *Budget, onLimit func(), bufSize int) StreamResult {
	var res StreamResult
	var buf []byte
	if bufSize == DefaultBufSize {
		bp := bufPool.Get().(*[]byte)
		defer bufPool.Put(bp)
		buf = *bp
	} else {
		buf = make([]byte, bufSize)
	}
	own := NewBudget(limit)
	messages := isMessageReader(src)
	for {
		n, err := src.Read(buf)
		if n == 0 && err == nil && messages {
			// A zero-length message: passed on as one (message boundaries are kept, and counted).
			if _, werr := dst.Write(buf[:0]); werr != nil {
				res.Err = werr
				if c, ok := src.(io.Closer); ok {
					_ = c.Close()
				}
				return res
			}
			continue
		}
		if n > 0 {
			g, byTotal := grant(own, total, int64(n))
			if g > 0 {
				if _, werr := dst.Write(buf[:g]); werr != nil {
					res.Err = werr
					res.Bytes += g
					if c, ok := src.(io.Closer); ok {
						_ = c.Close()
					}
					return res
				}
			}
			res.Bytes += int64(n)
			if g < int64(n) {
				res.Truncated, res.ByTotal = true, byTotal
				if onLimit != nil {
					onLimit()
				}
				return res
			}
		}
		if err != nil {
			return res
		}
	}
}
