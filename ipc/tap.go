package ipc

import (
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"io"
	"sync"
)

// DirStats is the account of one direction of a channel: what was passed on to the other side.
type DirStats struct {
	// Bytes passed on (what SHA256 covers).
	Bytes int64 `json:"bytes"`
	// Messages is the number of datagrams, for message-oriented channels (seqpacket); 0 otherwise.
	Messages int64 `json:"messages,omitempty"`
	// SHA256 is the hex digest of the bytes passed on, in order.
	SHA256 string `json:"sha256"`
	// Truncated: a limit cut this direction (the sender had more to send).
	Truncated bool `json:"truncated,omitempty"`
	// Head and Tail are the first and last bytes passed on, only when content capture was asked for
	// (Channel.Capture); they may overlap when fewer than 2×Capture bytes crossed. Base64 in JSON.
	Head []byte `json:"head,omitempty"`
	Tail []byte `json:"tail,omitempty"`
	// Error is the first error writing to the receiving side, if any.
	Error string `json:"error,omitempty"`
}

// Tap is an io.Writer that forwards to W and accounts for what W accepted: bytes, write calls (messages),
// SHA-256, and optionally the first and last capture bytes. Content is kept only when capture > 0, so an
// audit record built from a Tap never holds the child's data unless that was asked for. Safe for
// concurrent use.
type Tap struct {
	mu        sync.Mutex
	w         io.Writer
	h         hash.Hash
	n, msgs   int64
	capture   int
	head      []byte
	tail      []byte // ring of the last capture bytes
	tailPos   int
	tailFull  bool
	truncated bool
	err       error
}

// NewTap returns a Tap forwarding to w (nil discards) that keeps capture bytes of head and tail.
func NewTap(w io.Writer, capture int) *Tap {
	if w == nil {
		w = io.Discard
	}
	t := &Tap{w: w, h: sha256.New(), capture: max(capture, 0)}
	if t.capture > 0 {
		t.tail = make([]byte, t.capture)
	}
	return t
}

// Write forwards p and accounts for the part that was written.
func (t *Tap) Write(p []byte) (int, error) {
	n, err := t.w.Write(p)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.account(p[:n])
	if err != nil && t.err == nil {
		t.err = err
	}
	return n, err
}

func (t *Tap) account(p []byte) {
	t.msgs++ // a zero-length write is a zero-length message on a seqpacket channel (counted only there)
	if len(p) == 0 {
		return
	}
	t.n += int64(len(p))
	t.h.Write(p)
	if t.capture == 0 {
		return
	}
	if room := t.capture - len(t.head); room > 0 {
		t.head = append(t.head, p[:min(room, len(p))]...)
	}
	if len(p) >= t.capture {
		copy(t.tail, p[len(p)-t.capture:])
		t.tailPos, t.tailFull = 0, true
		return
	}
	for _, c := range p {
		t.tail[t.tailPos] = c
		t.tailPos++
		if t.tailPos == t.capture {
			t.tailPos, t.tailFull = 0, true
		}
	}
}

// Err returns the first error writing to the receiving side.
func (t *Tap) Err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// MarkTruncated records that a limit cut this direction.
func (t *Tap) MarkTruncated() {
	t.mu.Lock()
	t.truncated = true
	t.mu.Unlock()
}

// Stats returns the account so far. messages says whether to report the message count.
func (t *Tap) Stats(messages bool) DirStats {
	t.mu.Lock()
	defer t.mu.Unlock()
	d := DirStats{Bytes: t.n, SHA256: hex.EncodeToString(t.h.Sum(nil)), Truncated: t.truncated}
	if messages {
		d.Messages = t.msgs
	}
	if t.err != nil {
		d.Error = t.err.Error()
	}
	if t.capture > 0 && t.n > 0 {
		d.Head = append([]byte(nil), t.head...)
		if t.tailFull {
			d.Tail = append(append([]byte(nil), t.tail[t.tailPos:]...), t.tail[:t.tailPos]...)
		} else {
			d.Tail = append([]byte(nil), t.tail[:t.tailPos]...)
		}
	}
	return d
}
