// Package ipc carries bytes between the sandboxed child and the caller: stdio and extra channels, each
// counted and capped so that a child flooding its output costs the host bounded memory and time.
package ipc

import (
	"io"
	"sync/atomic"
)

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

// StreamResult is what a relay saw.
type StreamResult struct {
	Bytes     int64 // bytes the child wrote (up to the point the relay stopped reading)
	Truncated bool  // a limit cut the stream
	Err       error // writing to the destination failed
}

// Relay copies src to dst until EOF. At most limit bytes (0 = unlimited) and what total allows are passed on;
// the first byte over either calls onLimit once and the relay stops reading, so the child blocks or gets
// EPIPE and jailrun's memory stays bounded by one buffer.
func Relay(dst io.Writer, src io.Reader, limit int64, total *Budget, onLimit func()) StreamResult {
	var res StreamResult
	buf := make([]byte, 32<<10)
	own := NewBudget(limit)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			a, b := own.take(int64(n)), total.take(int64(n))
			g := min(a, b)
			// Give back what one budget granted but the other refused, so a sibling stream sharing the
			// total budget keeps its exact allowance.
			if own != nil {
				own.left.Add(a - g)
			}
			if total != nil {
				total.left.Add(b - g)
			}
			if g > 0 && res.Err == nil {
				if _, werr := dst.Write(buf[:g]); werr != nil {
					res.Err = werr
				}
			}
			res.Bytes += g
			if g < int64(n) {
				res.Bytes = res.Bytes + (int64(n) - g)
				res.Truncated = true
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
