package service

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/jailrun/jailrun/sandbox"
)

// POST /v1/exec runs one command with its stdin, stdout and stderr streamed over the connection, for
// clients that relay their own standard streams (`jailrun --server SOCKET -- CMD`). The request is
// ordinary HTTP/1.1 with a JSON body (ExecRequest) and the headers "Upgrade: jailrun-exec.v1" and
// "Connection: Upgrade". A refusal before the run (not a tenant, a policy it may not use, a bad request,
// quota) is an ordinary JSON answer with an ExecResponse body. An admitted run answers "101 Switching
// Protocols"; from then on both directions carry frames until the server's FrameResult, after which the
// server closes the connection. See docs/service.md for the whole exchange.

// ExecProtocol is the Upgrade token of POST /v1/exec.
const ExecProtocol = "jailrun-exec.v1"

// ExecWindowHeader, in the 101 answer, is how many bytes of stdin the client may send before the server
// grants more with FrameWindow: the stdin the server holds for a run never exceeds it.
const ExecWindowHeader = "Jailrun-Stdin-Window"

// ExecWindow is the stdin window the server grants.
const ExecWindow = 256 << 10

// MaxFramePayload bounds one frame's payload in either direction.
const MaxFramePayload = 1 << 20

// Frame types. Each frame is one type byte, the payload's length as a 4-byte big-endian unsigned integer,
// and the payload.
const (
	// Client to server.
	FrameStdin      byte = 'I' // payload: stdin bytes (1 to the window left)
	FrameStdinClose byte = 'C' // empty: stdin is at its end
	FrameSignal     byte = 'S' // 4 bytes, big-endian signal number: the client got it; stop the run
	FrameOutClosed  byte = 'P' // 1 byte, 1 (stdout) or 2 (stderr): the client's reader of that stream is gone
	// Server to client.
	FrameStdout byte = 'O' // payload: stdout bytes
	FrameStderr byte = 'E' // payload: stderr bytes
	FrameWindow byte = 'W' // 4 bytes, big-endian: this many more stdin bytes may be sent
	FrameResult byte = 'R' // an ExecResponse as JSON; the last frame
)

// ExecRequest is the body of POST /v1/exec: the fields of RunRequest that make sense when the streams
// are relayed rather than carried in the body.
type ExecRequest struct {
	Policy string            `json:"policy"`
	Argv   []string          `json:"argv,omitempty"`
	Params map[string]string `json:"params,omitempty"`
	Env    []string          `json:"env,omitempty"`
	// Overrides may only tighten the policy (and the tenant's caps).
	Overrides *Limits `json:"overrides,omitempty"`
	// TraceSetup records where the launch time went (Result.SetupTrace).
	TraceSetup bool `json:"trace_setup,omitempty"`
	// FilesIn and FilesOut as in RunRequest. The result frame is at most MaxFramePayload, so large files
	// out are asked for with "cache": true and fetched with GET /v1/files/{id}, as jailrun's client does.
	FilesIn  []FileInSpec  `json:"files_in,omitempty"`
	FilesOut []FileOutSpec `json:"files_out,omitempty"`
}

// ExecResponse is the body of a refusal before the run, and of the FrameResult that ends an admitted one.
type ExecResponse struct {
	// Result is the run's verdict, as in RunResponse: present whenever the sandbox was started.
	Result *sandbox.Result `json:"result,omitempty"`
	// Meta is Result as an isolate-compatible meta file; present with Result.
	Meta    string    `json:"meta,omitempty"`
	QueueMS float64   `json:"queue_ms"`
	Error   *APIError `json:"error,omitempty"`
	// FilesOut answers the request's files_out, in order, as in RunResponse.
	FilesOut []FileOutResult `json:"files_out,omitempty"`
}

// KindArgument is the error kind, on every endpoint, of a command refused as given: an argv for a policy
// with a command template, params for one without, a parameter value its type refuses (422). The client
// mode maps it to exit 2, as a local run's refused argument.
const KindArgument = "argument"

// KindCanceled is the error kind of an exec run the client stopped with FrameSignal; the Result is
// included.
const KindCanceled = "canceled"

// ErrFrame matches a malformed frame.
var ErrFrame = errors.New("malformed exec frame")

// WriteFrame writes one frame (a single writev on a net.Conn).
func WriteFrame(w io.Writer, typ byte, payload []byte) error {
	if len(payload) > MaxFramePayload {
		return fmt.Errorf("%w: payload of %d bytes", ErrFrame, len(payload))
	}
	var hdr [5]byte
	hdr[0] = typ
	binary.BigEndian.PutUint32(hdr[1:], uint32(len(payload)))
	if len(payload) == 0 {
		_, err := w.Write(hdr[:])
		return err
	}
	bufs := net.Buffers{hdr[:], payload}
	_, err := bufs.WriteTo(w)
	return err
}

// ReadFrame reads one frame into buf (grown as needed, up to MaxFramePayload) and returns its type and
// payload, which aliases buf. io.EOF means the peer closed the connection between frames.
func ReadFrame(r io.Reader, buf []byte) (byte, []byte, error) {
	var hdr [5]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("%w: truncated header", ErrFrame)
		}
		return 0, nil, err
	}
	n := binary.BigEndian.Uint32(hdr[1:])
	if n > MaxFramePayload {
		return 0, nil, fmt.Errorf("%w: payload of %d bytes (at most %d)", ErrFrame, n, MaxFramePayload)
	}
	if int(n) > cap(buf) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return 0, nil, fmt.Errorf("%w: truncated payload", ErrFrame)
		}
		return 0, nil, err
	}
	return hdr[0], buf, nil
}

// Uint32Payload encodes a FrameSignal or FrameWindow payload.
func Uint32Payload(v uint32) []byte {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], v)
	return b[:]
}

// PayloadUint32 decodes a 4-byte payload.
func PayloadUint32(p []byte) (uint32, error) {
	if len(p) != 4 {
		return 0, fmt.Errorf("%w: want a 4-byte payload, got %d bytes", ErrFrame, len(p))
	}
	return binary.BigEndian.Uint32(p), nil
}
