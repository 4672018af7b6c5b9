package ipc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jailrun/jailrun/internal/ident"
)

// Errors a caller can branch on with errors.Is.
var (
	// ErrChannel: a channel declaration is invalid (bad name, fd, kind or endpoint).
	ErrChannel = errors.New("invalid channel")
	// ErrEndpoint: the parent side of a channel (file, unix socket) could not be opened. The run must not
	// start (fail closed).
	ErrEndpoint = errors.New("channel endpoint unavailable")
)

// Kind is what the child gets at its fd.
type Kind string

const (
	// KindOut: the write end of a pipe; what the child writes goes to the endpoint.
	KindOut Kind = "out"
	// KindIn: the read end of a pipe; the endpoint's bytes are the child's input, then EOF.
	KindIn Kind = "in"
	// KindSocket: one end of a SOCK_STREAM unix socketpair, both directions.
	KindSocket Kind = "socket"
	// KindSeqpacket: one end of a SOCK_SEQPACKET unix socketpair: both directions, message boundaries
	// kept and messages counted.
	KindSeqpacket Kind = "seqpacket"
)

func (k Kind) fromChild() bool { return k == KindOut || k == KindSocket || k == KindSeqpacket }
func (k Kind) toChild() bool   { return k == KindIn || k == KindSocket || k == KindSeqpacket }

// MaxMessage is the largest datagram a seqpacket channel relays intact; bigger messages are cut by the
// kernel on read. It is above the default socket send buffer (net.core.wmem_default, 208 KiB), which bounds
// what a child can send as one message.
const MaxMessage = 256 << 10

// MaxCapture caps Channel.Capture.
const MaxCapture = 1 << 20

// DefaultGrace is how long Finish waits, after the child is gone, for the parent side to drain.
const DefaultGrace = 2 * time.Second

// Channel is one extra fd passed to the sandboxed child, beyond stdio. The child gets only its end of a
// fresh pipe or socketpair made by jailrun; the parent side is relayed to the endpoint the caller or the
// policy named. No host fd is ever passed to the child, and fds the child sends over a socket
// (SCM_RIGHTS) are dropped by the kernel because the relay reads without ancillary data.
//
// The endpoint is at most one of File, Socket, or Reader/Writer; with none, what the child writes is
// counted and discarded and the child reads EOF at once.
//
// Lifecycle (the launcher's calls): Prepare before the clone, CloseChildEnd after it, Start after exec,
// Finish after the sandbox is reaped. Finish is safe in every state and always releases everything, so a
// launch that fails half-way only calls Finish.
type Channel struct {
	Name string
	// FD is the child's fd number, 3 or more.
	FD   int
	Kind Kind

	// File: KindOut and the sockets write what the child sends to this host file (created or
	// truncated, mode 0600, never following a symlink); KindIn reads it as the child's input.
	File string
	// Socket is a unix socket path on the host that jailrun connects to before the run (SOCK_STREAM, or
	// SOCK_SEQPACKET for KindSeqpacket) and relays both ways.
	Socket string
	// Reader feeds the child (KindIn, sockets); Writer receives what the child sends (KindOut, sockets).
	// Library callers only. They must not block forever: Finish waits for them only Grace.
	Reader io.Reader
	Writer io.Writer

	// Limit caps the bytes the child may send (0 = unlimited). Going over calls the launcher's onLimit,
	// which ends the run with status output_limit.
	Limit int64
	// Capture keeps the first and last Capture bytes of each direction in the stats (and so in the audit
	// log). Off by default: the audit log holds no content unless the policy asks for it.
	Capture int
	// Grace bounds how long Finish waits for each of its two steps (default DefaultGrace).
	Grace time.Duration

	mu       sync.Mutex
	prepared bool
	started  bool
	finished bool
	child    *os.File       // the child's end, until CloseChildEnd
	pipe     *os.File       // parent end of a pipe (pollable)
	conn     *net.UnixConn  // parent end of a socketpair
	epFile   *os.File       // endpoint file
	epConn   *net.UnixConn  // endpoint socket
	from, to *Tap           // accounts; nil for a direction the kind does not have
	opened   time.Time      // Prepare
	closed   time.Time      // both directions done, or Finish
	fromDone chan struct{}  // closed when the child→parent copy ends
	toDone   chan struct{}  // closed when the parent→child copy ends
	stopCtx  chan struct{}  // ends the context watcher
	errs     []string       // problems worth reporting, in order
	live     sync.WaitGroup // the copies
}

// MaxFD is the highest child fd a channel may use. The policy's open_files rlimit must be above it too.
const MaxFD = 1023

// Validate checks one channel declaration.
func (c *Channel) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %q: %s", ErrChannel, c.Name, fmt.Sprintf(format, a...))
	}
	if !ident.Valid(c.Name) {
		return fmt.Errorf("%w: name %q must be 1-64 letters, digits, '_', '.' or '-'", ErrChannel, c.Name)
	}
	if c.FD < 3 || c.FD > MaxFD {
		return bad("fd %d: must be 3..%d (0-2 are stdio)", c.FD, MaxFD)
	}
	switch c.Kind {
	case KindOut, KindIn, KindSocket, KindSeqpacket:
	default:
		return bad("kind %q: want out, in, socket or seqpacket", c.Kind)
	}
	n := 0
	for _, set := range []bool{c.File != "", c.Socket != "", c.Reader != nil || c.Writer != nil} {
		if set {
			n++
		}
	}
	if n > 1 {
		return bad("name at most one endpoint: a file, a socket, or a reader/writer")
	}
	if c.Reader != nil && !c.Kind.toChild() {
		return bad("a Reader feeds the child, which a %q channel cannot read", c.Kind)
	}
	if c.Writer != nil && !c.Kind.fromChild() {
		return bad("a Writer receives from the child, which a %q channel cannot write", c.Kind)
	}
	if c.Limit < 0 {
		return bad("negative limit")
	}
	if c.Capture < 0 || c.Capture > MaxCapture {
		return bad("capture must be 0..%d bytes", MaxCapture)
	}
	return nil
}

// ValidateAll checks every channel and that no two share a name or an fd.
func ValidateAll(chs []*Channel) error {
	names, fds := map[string]bool{}, map[int]string{}
	for _, c := range chs {
		if c == nil {
			return fmt.Errorf("%w: nil channel", ErrChannel)
		}
		if err := c.Validate(); err != nil {
			return err
		}
		if names[c.Name] {
			return fmt.Errorf("%w: two channels are named %q", ErrChannel, c.Name)
		}
		if other, ok := fds[c.FD]; ok {
			return fmt.Errorf("%w: channels %q and %q both use fd %d", ErrChannel, other, c.Name, c.FD)
		}
		names[c.Name], fds[c.FD] = true, c.Name
	}
	return nil
}

// Endpoint describes the parent side: "file:PATH", "socket:PATH", "caller" or "none".
func (c *Channel) Endpoint() string {
	switch {
	case c.File != "":
		return "file:" + c.File
	case c.Socket != "":
		return "socket:" + c.Socket
	case c.Reader != nil || c.Writer != nil:
		return "caller"
	}
	return "none"
}

// ChannelStats is the account of one channel, for the Result and the audit log.
type ChannelStats struct {
	Name     string    `json:"name"`
	FD       int       `json:"fd"`
	Kind     Kind      `json:"kind"`
	Endpoint string    `json:"endpoint"`
	OpenedAt time.Time `json:"opened_at"`
	ClosedAt time.Time `json:"closed_at,omitzero"`
	// FromChild and ToChild are nil for a direction the kind does not have.
	FromChild *DirStats `json:"from_child,omitempty"`
	ToChild   *DirStats `json:"to_child,omitempty"`
	// Error lists what went wrong on the parent side (endpoint write failed, a caller's reader hung).
	Error string `json:"error,omitempty"`
}

// Prepare validates the channel, opens its endpoint and makes the pipe or socketpair. It returns the
// child's end, which the launcher maps to FD in the child. ctx bounds connecting to a Socket endpoint.
// An endpoint that cannot be opened is an ErrEndpoint: the run must not start.
func (c *Channel) Prepare(ctx context.Context) (*os.File, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.prepared || c.finished {
		return nil, fmt.Errorf("%w %q: prepared twice", ErrChannel, c.Name)
	}
	c.opened = time.Now()
	if err := c.openEndpoint(ctx); err != nil {
		c.closeAllLocked()
		return nil, err
	}
	child, err := c.makePair()
	if err != nil {
		c.closeAllLocked()
		return nil, fmt.Errorf("channel %q: %w", c.Name, err)
	}
	c.child = child
	c.prepared = true
	capture := c.Capture
	if c.Kind.fromChild() {
		c.from = NewTap(c.fromDst(), capture)
	}
	if c.Kind.toChild() {
		c.to = NewTap(c.toDst(), capture)
	}
	return child, nil
}

func (c *Channel) openEndpoint(ctx context.Context) error {
	switch {
	case c.File != "" && c.Kind == KindIn:
		f, err := os.OpenFile(c.File, os.O_RDONLY|oNoFollow, 0)
		if err != nil {
			return fmt.Errorf("%w: channel %q: %w", ErrEndpoint, c.Name, err)
		}
		c.epFile = f
	case c.File != "":
		f, err := os.OpenFile(c.File, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|oNoFollow, 0o600)
		if err != nil {
			return fmt.Errorf("%w: channel %q: %w", ErrEndpoint, c.Name, err)
		}
		c.epFile = f
	case c.Socket != "":
		network := "unix"
		if c.Kind == KindSeqpacket {
			network = "unixpacket"
		}
		d := net.Dialer{Timeout: 5 * time.Second}
		conn, err := d.DialContext(ctx, network, c.Socket)
		if err != nil {
			return fmt.Errorf("%w: channel %q: %w", ErrEndpoint, c.Name, err)
		}
		c.epConn = conn.(*net.UnixConn)
		if c.Kind == KindSeqpacket {
			// Before the endpoint sends anything, so that a zero-length message of its is told from its end.
			if err := setPassCred(c.epConn); err != nil {
				c.epConn.Close()
				return fmt.Errorf("%w: channel %q: %w", ErrEndpoint, c.Name, err)
			}
		}
	}
	return nil
}

// fromDst is where the child's bytes go.
func (c *Channel) fromDst() io.Writer {
	switch {
	case c.epFile != nil:
		return c.epFile
	case c.epConn != nil:
		return c.epConn
	case c.Writer != nil:
		return c.Writer
	}
	return io.Discard
}

// toDst is the parent's end towards the child.
func (c *Channel) toDst() io.Writer {
	if c.conn != nil {
		return c.conn
	}
	return c.pipe
}

// toSrc is where the child's input comes from; nil means none (EOF at once).
func (c *Channel) toSrc() io.Reader {
	switch {
	case c.epFile != nil && c.Kind == KindIn:
		return c.epFile
	case c.epConn != nil && c.Kind == KindSeqpacket:
		return newMessageReader(c.epConn)
	case c.epConn != nil:
		return c.epConn
	case c.Reader != nil:
		// Hide any Close method: the relay closes its source on a write error, and the caller's reader is
		// not jailrun's to close.
		return struct{ io.Reader }{c.Reader}
	}
	return nil
}

// fromSrc is the parent's end the child's bytes arrive on.
func (c *Channel) fromSrc() io.Reader {
	if c.conn != nil {
		if c.Kind == KindSeqpacket {
			return newMessageReader(c.conn)
		}
		return c.conn
	}
	return c.pipe
}

// CloseChildEnd closes the parent's copy of the child's end. The launcher calls it once the child has its
// copy (after the clone): while the parent holds it, the child's exit would never produce EOF.
func (c *Channel) CloseChildEnd() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.child != nil {
		c.child.Close()
		c.child = nil
	}
}

// Start begins relaying. onLimit is called once if the child goes over Limit. Cancelling ctx closes the
// channel at once (the relays end; the child sees EOF or EPIPE).
func (c *Channel) Start(ctx context.Context, onLimit func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.prepared || c.started || c.finished {
		return
	}
	c.started = true
	if c.child != nil {
		c.child.Close() // the launcher should have; never let it keep EOF away
		c.child = nil
	}
	c.fromDone, c.toDone, c.stopCtx = make(chan struct{}), make(chan struct{}), make(chan struct{})
	buf := DefaultBufSize
	if c.Kind == KindSeqpacket {
		buf = MaxMessage
	}
	if c.Kind.fromChild() {
		c.live.Add(1)
		go func() {
			defer c.live.Done()
			defer close(c.fromDone)
			res := relay(c.from, c.fromSrc(), c.Limit, nil, func() {
				c.from.MarkTruncated()
				if onLimit != nil {
					onLimit()
				}
			}, buf)
			if res.Err != nil {
				c.note("writing to %s: %v", c.Endpoint(), res.Err)
			}
			// The child is done sending: pass the EOF on to a socket endpoint.
			if c.epConn != nil {
				_ = c.epConn.CloseWrite()
			}
		}()
	} else {
		close(c.fromDone)
	}
	if src := c.toSrc(); c.Kind.toChild() && src != nil {
		c.live.Add(1)
		go func() {
			defer c.live.Done()
			defer close(c.toDone)
			res := relay(c.to, src, 0, nil, nil, buf)
			if res.Err != nil && !isPeerGone(res.Err) {
				c.note("writing to the child: %v", res.Err)
			}
			c.endToChild()
		}()
	} else {
		if c.Kind.toChild() {
			c.endToChildLocked() // nothing to send: the child reads EOF at once
		}
		close(c.toDone)
	}
	go func() {
		select {
		case <-ctx.Done():
			c.mu.Lock()
			c.closeParentLocked()
			c.mu.Unlock()
		case <-c.stopCtx:
		}
	}()
}

// endToChild tells the child there is no more input: EOF on a pipe, a half-close on a socket.
func (c *Channel) endToChild() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endToChildLocked()
}

func (c *Channel) endToChildLocked() {
	switch {
	case c.conn != nil:
		_ = c.conn.CloseWrite()
	case c.pipe != nil && c.Kind == KindIn:
		c.pipe.Close()
		c.pipe = nil
	}
}

func (c *Channel) note(format string, a ...any) {
	c.mu.Lock()
	c.errs = append(c.errs, fmt.Sprintf(format, a...))
	c.mu.Unlock()
}

// Finish ends the channel after the sandbox is reaped and returns its account. It first lets what the
// child sent drain to the endpoint (at most Grace: the child is gone, so EOF is immediate unless the
// endpoint is slow), then closes the parent side and the endpoint, which ends any copy still waiting on
// the endpoint, and waits at most Grace again. A caller's Reader or Writer that still does not return is
// reported and left behind; everything jailrun owns is closed.
func (c *Channel) Finish() ChannelStats {
	c.mu.Lock()
	if c.finished {
		st := c.statsLocked()
		c.mu.Unlock()
		return st
	}
	c.finished = true
	started := c.started
	c.mu.Unlock()
	grace := c.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}
	if started {
		t := time.NewTimer(grace)
		select {
		case <-c.fromDone:
		case <-t.C:
			c.note("the child's data did not drain within %v; cut", grace)
		}
		t.Stop()
		close(c.stopCtx)
	}
	c.mu.Lock()
	c.closeParentLocked()
	c.mu.Unlock()
	if started {
		done := make(chan struct{})
		go func() { c.live.Wait(); close(done) }()
		t := time.NewTimer(grace)
		select {
		case <-done:
		case <-t.C:
			c.note("the caller's reader or writer did not return within %v; abandoned", grace)
		}
		t.Stop()
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closeAllLocked()
	c.closed = time.Now()
	return c.statsLocked()
}

// Info is the channel's description before any data moved, for a channel.open audit record.
func (c *Channel) Info() ChannelStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return ChannelStats{Name: c.Name, FD: c.FD, Kind: c.Kind, Endpoint: c.Endpoint(), OpenedAt: c.opened}
}

func (c *Channel) statsLocked() ChannelStats {
	st := ChannelStats{Name: c.Name, FD: c.FD, Kind: c.Kind, Endpoint: c.Endpoint(), OpenedAt: c.opened, ClosedAt: c.closed}
	msgs := c.Kind == KindSeqpacket
	if c.from != nil {
		d := c.from.Stats(msgs)
		st.FromChild = &d
	}
	if c.to != nil {
		d := c.to.Stats(msgs)
		// A child that exits without reading its input makes the writes fail; that is its choice, not an
		// error of the channel.
		if isPeerGone(c.to.Err()) {
			d.Error = ""
		}
		st.ToChild = &d
	}
	st.Error = strings.Join(c.errs, "; ")
	return st
}

// closeParentLocked closes the parent's end and the endpoint socket, which ends every copy that waits on
// them. The endpoint file stays open until closeAllLocked: a copy may still be writing to it.
func (c *Channel) closeParentLocked() {
	if c.pipe != nil {
		c.pipe.Close()
		c.pipe = nil
	}
	if c.conn != nil {
		c.conn.Close()
	}
	if c.epConn != nil {
		c.epConn.Close()
	}
}

func (c *Channel) closeAllLocked() {
	c.closeParentLocked()
	if c.child != nil {
		c.child.Close()
		c.child = nil
	}
	if c.epFile != nil {
		c.epFile.Close()
	}
}

// ParseSpec parses a CLI channel declaration:
//
//	NAME=fd:N[:KIND][,file=PATH][,socket=PATH][,limit=SIZE][,capture=SIZE]
//
// KIND is out (default), in, socket or seqpacket; SIZE is bytes with an optional K, M or G suffix (powers
// of 1024). Examples: "log=fd:3,file=/tmp/log", "ctl=fd:4:socket,socket=/run/judge.sock,limit=1M".
func ParseSpec(spec string) (*Channel, error) {
	head, opts, _ := strings.Cut(spec, ",")
	name, where, ok := strings.Cut(head, "=")
	if !ok {
		return nil, fmt.Errorf("%w: %q: want NAME=fd:N[:KIND][,file=PATH|socket=PATH][,limit=SIZE][,capture=SIZE]", ErrChannel, spec)
	}
	parts := strings.Split(where, ":")
	if len(parts) < 2 || len(parts) > 3 || parts[0] != "fd" {
		return nil, fmt.Errorf("%w: %q: want fd:N or fd:N:KIND after %q", ErrChannel, spec, name+"=")
	}
	fd, err := strconv.Atoi(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: %q: fd %q is not a number", ErrChannel, spec, parts[1])
	}
	c := &Channel{Name: name, FD: fd, Kind: KindOut}
	if len(parts) == 3 {
		c.Kind = Kind(parts[2])
	}
	if opts != "" {
		for _, o := range strings.Split(opts, ",") {
			k, v, ok := strings.Cut(o, "=")
			if !ok || v == "" {
				return nil, fmt.Errorf("%w: %q: option %q needs a value", ErrChannel, spec, o)
			}
			switch k {
			case "file":
				c.File = v
			case "socket":
				c.Socket = v
			case "limit":
				if c.Limit, err = parseSize(v); err != nil {
					return nil, fmt.Errorf("%w: %q: limit: %w", ErrChannel, spec, err)
				}
			case "capture":
				n, err := parseSize(v)
				if err != nil || n > MaxCapture {
					return nil, fmt.Errorf("%w: %q: capture must be a size up to 1M", ErrChannel, spec)
				}
				c.Capture = int(n)
			default:
				return nil, fmt.Errorf("%w: %q: unknown option %q (file, socket, limit, capture)", ErrChannel, spec, k)
			}
		}
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"), strings.HasSuffix(s, "k"):
		mult = 1 << 10
	case strings.HasSuffix(s, "M"):
		mult = 1 << 20
	case strings.HasSuffix(s, "G"):
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return 0, fmt.Errorf("%q is not a size", s)
	}
	return n * mult, nil
}
