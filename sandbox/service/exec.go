package service

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
)

// errClientGone cancels an exec run whose client hung up, broke the protocol or stopped reading.
var errClientGone = errors.New("the exec client went away")

// execStopped is the cancellation cause of a run its client stopped with FrameSignal. It wraps a
// *sandbox.StopSignal, so the launcher forwards the signal and waits the policy's limits.kill_grace, as it
// does for a local run that receives it.
type execStopped struct {
	sig  uint32
	stop *sandbox.StopSignal
}

func (e *execStopped) Unwrap() error { return e.stop }

func (e *execStopped) Error() string {
	return fmt.Sprintf("stopped: the client received signal %d", e.sig)
}

func (s *Server) handleExec(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	resp := &ExecResponse{}
	if herr := s.serveExec(w, r, start, resp); herr != nil {
		s.reply(w, herr, resp, &resp.Error)
	}
	s.metrics.observe(s.metrics.request, time.Since(start).Seconds())
}

// serveExec handles POST /v1/exec. It goes through the same identification, policy allowlist,
// admission and accounting as /v1/run; only the streams differ. It returns an error for a refusal before
// the connection is taken over, nil once the run's answer went (or could not go) over the frames.
func (s *Server) serveExec(w http.ResponseWriter, r *http.Request, start time.Time, resp *ExecResponse) *httpError {
	t, herr := s.identify(r)
	if herr != nil {
		return s.reject(nil, herr)
	}
	if !upgradeTo(r.Header, ExecProtocol) {
		return s.reject(t, errorf(http.StatusBadRequest, KindBadRequest, `POST /%s/exec needs the headers "Connection: Upgrade" and "Upgrade: %s" (see docs/service.md)`, APIVersion, ExecProtocol))
	}
	var req ExecRequest
	if herr := s.decode(w, r, &req); herr != nil {
		return s.reject(t, herr)
	}
	pol, herr := t.policy(req.Policy, req.Argv, req.Params, req.Overrides, "")
	if herr != nil {
		return s.reject(t, herr)
	}
	files, herr := s.runFiles(t, pol, req.FilesIn, req.FilesOut)
	if herr != nil {
		return s.reject(t, herr)
	}
	ctx, leave, herr := s.admit(r, t, 1, start, &resp.QueueMS)
	if herr != nil {
		return herr
	}
	defer leave()
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return errorf(http.StatusInternalServerError, KindInternal, "cannot take over the connection: %v", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	x := newExecSession(conn, brw.Reader, cancel, pol)
	// The run's slot is free once its answer went; a client slow to hang up only keeps its connection.
	defer func() { go x.close() }()
	stopDeadline := context.AfterFunc(ctx, x.hurry)
	defer stopDeadline()
	go x.readLoop(func(err error) { s.logf("tenant %s: exec: %v", t.name, err) })

	if err := x.writeRaw("HTTP/1.1 101 Switching Protocols\r\nUpgrade: " + ExecProtocol + "\r\nConnection: Upgrade\r\n" +
		ExecWindowHeader + ": " + strconv.Itoa(ExecWindow) + "\r\n\r\n"); err != nil {
		// Nobody to run for: the slot goes back without a run.
		s.countCanceled(t)
		return nil
	}

	sreq := sandbox.Request{Policy: pol, Argv: req.Argv, Params: req.Params, Env: req.Env, TraceSetup: req.TraceSetup, Audit: s.audit,
		Stdin: x.in, Stdout: &execOut{x: x, typ: FrameStdout}, Stderr: &execOut{x: x, typ: FrameStderr, idx: 1}}
	files.apply(&sreq)
	res, err := s.runner.Run(ctx, sreq)
	x.in.abort() // the launch's stdin copy may still wait for bytes that will never be needed
	resp.FilesOut = s.collectFiles(t, files, res, err != nil || ctx.Err() != nil)
	herr = s.outcome(ctx, t, err, res)
	var stopped *execStopped
	if herr != nil && herr.code == 499 && errors.As(context.Cause(ctx), &stopped) {
		// The client asked for the stop and waits for the verdict, as a local run would report it.
		herr = &httpError{code: 499, kind: KindCanceled, msg: stopped.Error()}
	}
	s.access(t, "exec", req.Policy, herr, start, res)
	if herr != nil && herr.kind == "client_gone" {
		return nil
	}
	resp.Result = res
	if res != nil {
		resp.Meta = res.MetaText()
	}
	if herr != nil {
		resp.Error = &APIError{Kind: herr.kind, Message: herr.msg}
	}
	b, err := json.Marshal(resp)
	if err == nil {
		_ = x.writeFrame(FrameResult, b, true)
	}
	return nil
}

// upgradeTo reports whether the request asks to switch to protocol proto.
func upgradeTo(h http.Header, proto string) bool {
	hasToken := func(name, tok string) bool {
		for _, v := range h.Values(name) {
			for _, f := range strings.Split(v, ",") {
				if strings.EqualFold(strings.TrimSpace(f), tok) {
					return true
				}
			}
		}
		return false
	}
	return hasToken("Connection", "upgrade") && hasToken("Upgrade", proto)
}

// execSession is the server's end of one admitted exec: a reader of the client's frames, writers of
// output frames, and the stdin the run reads.
type execSession struct {
	conn   net.Conn
	rd     *bufio.Reader
	cancel context.CancelCauseFunc
	// stall bounds one output write: a client that takes in nothing for longer than the policy's wall
	// time (plus a margin) is not coming back, and its run must not hold a slot forever.
	stall time.Duration

	wmu    sync.Mutex // one frame at a time
	broken error      // guarded by wmu: a write failed, the stream is unusable

	dmu     sync.Mutex // orders deadline changes between writeFrame and hurry
	hurried bool

	in         *stdinQueue
	outClosed  [2]atomic.Bool
	readerDone chan struct{}
}

func newExecSession(conn net.Conn, buffered *bufio.Reader, cancel context.CancelCauseFunc, pol *policy.Settings) *execSession {
	_ = conn.SetDeadline(time.Time{})
	// Bytes the HTTP server already buffered past the request come first (a client should wait for the
	// 101, but the protocol does not depend on it).
	var src io.Reader = conn
	if n := buffered.Buffered(); n > 0 {
		head, _ := buffered.Peek(n)
		src = io.MultiReader(bytes.NewReader(append([]byte(nil), head...)), conn)
	}
	x := &execSession{conn: conn, rd: bufio.NewReaderSize(src, 64<<10), cancel: cancel, readerDone: make(chan struct{})}
	if wt := pol.Limits.WallTime; wt > 0 {
		x.stall = wt + pol.Limits.ExtraTime + 5*time.Second
	}
	x.in = newStdinQueue(ExecWindow, func(n int) {
		_ = x.writeFrame(FrameWindow, Uint32Payload(uint32(n)), false)
	})
	return x
}

// readLoop takes the client's frames until the connection ends. A hang-up or a protocol violation ends
// the run: nobody would take its output.
func (x *execSession) readLoop(logf func(error)) {
	defer close(x.readerDone)
	buf := make([]byte, 64<<10)
	for {
		typ, p, err := ReadFrame(x.rd, buf)
		if err == nil {
			err = x.handle(typ, p)
		}
		if err != nil {
			if errors.Is(err, ErrFrame) {
				logf(err)
			}
			x.in.abort()
			x.cancel(fmt.Errorf("%w: %w", errClientGone, err))
			return
		}
		if cap(p) > cap(buf) {
			buf = p[:cap(p)]
		}
	}
}

func (x *execSession) handle(typ byte, p []byte) error {
	switch typ {
	case FrameStdin:
		return x.in.push(p)
	case FrameStdinClose:
		x.in.closeWrite()
	case FrameSignal:
		sig, err := PayloadUint32(p)
		if err != nil {
			return err
		}
		if sig == 0 || sig > 64 {
			return fmt.Errorf("%w: signal %d", ErrFrame, sig)
		}
		x.cancel(&execStopped{sig: sig, stop: &sandbox.StopSignal{Signal: syscall.Signal(sig)}})
	case FrameOutClosed:
		if len(p) != 1 || p[0] < 1 || p[0] > 2 {
			return fmt.Errorf("%w: stream closed: want 1 or 2", ErrFrame)
		}
		x.outClosed[p[0]-1].Store(true)
	default:
		return fmt.Errorf("%w: unknown frame type %q", ErrFrame, typ)
	}
	return nil
}

// writeRaw writes bytes outside the framing (the 101 answer).
func (x *execSession) writeRaw(s string) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	_ = x.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	_, err := io.WriteString(x.conn, s)
	if err != nil {
		x.broken = err
	}
	return err
}

// writeFrame sends one frame. A failed write leaves the stream unusable and ends the run.
func (x *execSession) writeFrame(typ byte, p []byte, final bool) error {
	x.wmu.Lock()
	defer x.wmu.Unlock()
	if x.broken != nil {
		return x.broken
	}
	x.dmu.Lock()
	var d time.Time
	switch {
	case final:
		d = time.Now().Add(10 * time.Second)
	case x.hurried:
		d = time.Now().Add(time.Second)
	case x.stall > 0:
		d = time.Now().Add(x.stall)
	}
	_ = x.conn.SetWriteDeadline(d)
	x.dmu.Unlock()
	if err := WriteFrame(x.conn, typ, p); err != nil {
		x.broken = err
		x.cancel(fmt.Errorf("%w: %w", errClientGone, err))
		return err
	}
	return nil
}

// hurry runs when the run's context ends (the client stopped it, the server shuts down, the client went
// away): output still in flight gets a second to reach the client, so a client that stopped reading
// cannot keep the run, and the server's shutdown, waiting.
func (x *execSession) hurry() {
	x.dmu.Lock()
	defer x.dmu.Unlock()
	x.hurried = true
	_ = x.conn.SetWriteDeadline(time.Now().Add(time.Second))
}

// close ends the exchange: the server's side first, so the client reads everything up to the result,
// then, once the client has hung up (or after a few seconds), the connection.
func (x *execSession) close() {
	x.in.abort()
	c := x.conn
	if pc, ok := c.(*peerConn); ok {
		c = pc.Conn
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		select {
		case <-x.readerDone:
		case <-time.After(5 * time.Second):
		}
	}
	x.conn.Close()
	<-x.readerDone
}

// execOut is the run's stdout or stderr: each write becomes frames, so the child blocks while the client
// does not take its output (backpressure through the socket), and a client whose reader went away makes
// the child's next write fail as a closed pipe would.
type execOut struct {
	x   *execSession
	typ byte
	idx int
}

var errOutClosed = errors.New("the client's reader of this stream went away")

const maxOutFrame = 64 << 10

func (o *execOut) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		if o.x.outClosed[o.idx].Load() {
			return n, errOutClosed
		}
		c := min(len(p), maxOutFrame)
		if err := o.x.writeFrame(o.typ, p[:c], false); err != nil {
			return n, err
		}
		n += c
		p = p[c:]
	}
	return n, nil
}

// stdinQueue is the run's stdin: the client's FrameStdin payloads, at most window bytes of them held at
// once. Each read grants the client as many bytes again.
type stdinQueue struct {
	mu      sync.Mutex
	cond    sync.Cond
	chunks  [][]byte
	held    int
	window  int
	eof     bool
	aborted bool
	credit  func(int)
}

func newStdinQueue(window int, credit func(int)) *stdinQueue {
	q := &stdinQueue{window: window, credit: credit}
	q.cond.L = &q.mu
	return q
}

func (q *stdinQueue) push(p []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	switch {
	case len(p) == 0:
		return fmt.Errorf("%w: empty stdin frame", ErrFrame)
	case q.eof:
		return fmt.Errorf("%w: stdin after its end", ErrFrame)
	case q.held+len(p) > q.window:
		return fmt.Errorf("%w: %d bytes of stdin beyond the window of %d", ErrFrame, q.held+len(p)-q.window, q.window)
	case q.aborted:
		return nil
	}
	q.chunks = append(q.chunks, append([]byte(nil), p...))
	q.held += len(p)
	q.cond.Broadcast()
	return nil
}

func (q *stdinQueue) closeWrite() {
	q.mu.Lock()
	q.eof = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

// abort ends the stdin: a pending read returns EOF, later data is dropped.
func (q *stdinQueue) abort() {
	q.mu.Lock()
	q.aborted = true
	q.chunks, q.held = nil, 0
	q.cond.Broadcast()
	q.mu.Unlock()
}

func (q *stdinQueue) Read(b []byte) (int, error) {
	q.mu.Lock()
	for len(q.chunks) == 0 && !q.eof && !q.aborted {
		q.cond.Wait()
	}
	if len(q.chunks) == 0 || q.aborted {
		q.mu.Unlock()
		return 0, io.EOF
	}
	n := copy(b, q.chunks[0])
	if q.chunks[0] = q.chunks[0][n:]; len(q.chunks[0]) == 0 {
		q.chunks[0] = nil
		q.chunks = q.chunks[1:]
	}
	q.held -= n
	q.mu.Unlock()
	q.credit(n)
	return n, nil
}

// waitRuns waits for every run, also those of hijacked connections net/http no longer tracks.
func (s *Server) waitRuns(ctx context.Context) error {
	done := make(chan struct{})
	go func() { s.runs.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
