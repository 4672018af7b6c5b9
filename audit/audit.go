// Package audit writes jailrun's audit log: one JSON object per line per event (run.start, channel.open,
// channel.close, limit.hit, seccomp.violation, run.end), each carrying the hash of the record before it,
// so that an edited, removed or truncated record is found by Verify (`jailrun audit verify FILE`).
//
// A record is, with fields in this order:
//
//	{"v":1,"seq":N,"prev":"<hash of record N-1>","time":"<RFC 3339, UTC>","type":"run.start",
//	 "run_id":"...","pid":<jailrun's pid>,"data":{...},"hash":"<hash of this record>"}
//
// hash is the hex SHA-256 (or HMAC-SHA256 with Options.Key) of the record's bytes without the hash field
// (everything before `,"hash":` plus the closing brace). prev of the first record of a file is Genesis.
// See docs/audit.md for the schema of each event's data.
//
// The log holds no content of the child (its output, its channel data) unless content capture was asked
// for (ipc.Channel.Capture); argv and the policy are the caller's.
package audit

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"os"
	"strings"
	"sync"
	"time"
)

// SchemaVersion is the "v" of every record. It changes only when a field changes meaning or goes away;
// new fields and new event types may appear in any version, so readers must ignore what they do not know.
const SchemaVersion = 1

// Genesis is the prev of a file's first record.
const Genesis = "0000000000000000000000000000000000000000000000000000000000000000"

// Event types.
const (
	TypeRunStart         = "run.start"
	TypeRunEnd           = "run.end"
	TypeChannelOpen      = "channel.open"
	TypeChannelClose     = "channel.close"
	TypeLimitHit         = "limit.hit"
	TypeSeccompViolation = "seccomp.violation"
	TypeSeccompDenied    = "seccomp.denied"
)

// ErrSink: an audit sink could not be opened or written. A run must not start when its audit log fails,
// unless the logger is best-effort.
var ErrSink = errors.New("audit sink failed")

// Event is one thing to record. Data is marshalled as the record's "data" object: RunStartData,
// ChannelData, LimitHitData, SeccompViolationData, SeccompDeniedData, or the run's Result for run.end.
type Event struct {
	Type  string
	RunID string
	// Time defaults to now.
	Time time.Time
	Data any
}

// RunStartData is the data of a run.start record.
type RunStartData struct {
	CallerUID int               `json:"caller_uid"`
	CallerGID int               `json:"caller_gid"`
	Policy    PolicyRef         `json:"policy"`
	Argv      []string          `json:"argv"`
	Cwd       string            `json:"cwd"`
	Limits    map[string]string `json:"limits"`
	// Channels names the extra channels the child gets, with their fds and kinds.
	Channels []string `json:"channels,omitempty"`
}

// PolicyRef identifies a policy.
type PolicyRef struct {
	Name   string `json:"name"`
	Source string `json:"source,omitempty"`
	SHA256 string `json:"sha256"`
}

// LimitHitData is the data of a limit.hit record.
type LimitHitData struct {
	Name  string `json:"name"`  // policy path, e.g. "limits.output.stdout", "channels.log.limit"
	Value string `json:"value"` // as configured
}

// SeccompViolationData is the data of a seccomp.violation record.
type SeccompViolationData struct {
	Syscall string    `json:"syscall"`
	Nr      int       `json:"nr"`
	Arch    string    `json:"arch"`
	Args    [6]uint64 `json:"args"`
}

// SeccompDeniedData is the data of a seccomp.denied record: the run's Result.denied_syscalls (a list of
// {syscall, nr, arch, action, count, first_args}), written when the filter refused anything.
type SeccompDeniedData struct {
	DeniedSyscalls any `json:"denied_syscalls"`
}

// Options configure a Logger.
type Options struct {
	// BestEffort: a failing sink is reported to OnError and the run goes on. Off by default: Emit returns
	// the error and the launcher fails the run (fail closed).
	BestEffort bool
	// OnError receives the errors a best-effort logger swallows.
	OnError func(error)
	// Key, when set, makes each record's hash an HMAC-SHA256 under it: then only a holder of the key can
	// rewrite the chain consistently. Verify needs the same key.
	Key []byte
	// LockTimeout bounds the wait for another process's lock on a file sink (default 10s).
	LockTimeout time.Duration
}

// Logger writes events to its sinks. Safe for concurrent use; several processes may share one file sink.
type Logger struct {
	mu     sync.Mutex
	opts   Options
	sinks  []Sink
	closed bool
	pid    int
}

// New returns a logger writing to sinks, each of which keeps its own chain.
func New(o Options, sinks ...Sink) *Logger {
	if o.LockTimeout <= 0 {
		o.LockTimeout = 10 * time.Second
	}
	return &Logger{opts: o, sinks: sinks, pid: os.Getpid()}
}

// Open returns a logger appending to the file at path (see FileSink).
func Open(path string, o Options) (*Logger, error) {
	l := New(o)
	s, err := OpenFile(path, l.opts)
	if err != nil {
		return nil, err
	}
	l.sinks = []Sink{s}
	return l, nil
}

// record is the part of a line the hash covers, in its fixed field order.
type record struct {
	V     int             `json:"v"`
	Seq   uint64          `json:"seq"`
	Prev  string          `json:"prev"`
	Time  string          `json:"time"`
	Type  string          `json:"type"`
	RunID string          `json:"run_id,omitempty"`
	PID   int             `json:"pid"`
	Data  json.RawMessage `json:"data,omitempty"`
}

// maxRecord bounds one record: Emit refuses bigger ones, and readers need not look further back or buffer
// more than this.
const maxRecord = 16 << 20

// hashSuffix separates a record's body from its hash.
const hashSuffix = `,"hash":"`

// seal turns a record body (a JSON object) into a line: the body with its hash as the last field.
func seal(body []byte, key []byte) (line []byte, sum string) {
	sum = digest(body, key)
	line = make([]byte, 0, len(body)+len(hashSuffix)+66)
	line = append(line, body[:len(body)-1]...)
	line = append(line, hashSuffix...)
	line = append(line, sum...)
	line = append(line, `"}`...)
	return line, sum
}

func digest(body, key []byte) string {
	var h hash.Hash
	if key != nil {
		h = hmac.New(sha256.New, key)
	} else {
		h = sha256.New()
	}
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// unseal splits a line into its body and hash, or says why it cannot.
func unseal(line []byte) (body []byte, sum string, err error) {
	s := string(line)
	i := strings.LastIndex(s, hashSuffix)
	if i < 0 || !strings.HasSuffix(s, `"}`) || len(s)-i != len(hashSuffix)+64+2 {
		return nil, "", errors.New("no hash field at the end of the record")
	}
	sum = s[i+len(hashSuffix) : len(s)-2]
	if _, err := hex.DecodeString(sum); err != nil {
		return nil, "", errors.New("hash is not hex")
	}
	return append([]byte(s[:i]), '}'), sum, nil
}

// Emit records ev in every sink. A sink that fails makes Emit return an ErrSink error, unless the logger
// is best-effort. run.end records are flushed to stable storage (fsync) before Emit returns.
func (l *Logger) Emit(ev Event) error {
	if l == nil {
		return nil
	}
	if ev.Type == "" {
		return fmt.Errorf("%w: event without a type", ErrSink)
	}
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	var data json.RawMessage
	if ev.Data != nil {
		b, err := json.Marshal(ev.Data)
		if err != nil {
			return fmt.Errorf("%w: encode %s: %w", ErrSink, ev.Type, err)
		}
		data = b
	}
	rec := record{V: SchemaVersion, Time: ev.Time.UTC().Format(time.RFC3339Nano), Type: ev.Type, RunID: ev.RunID, PID: l.pid, Data: data}
	build := func(seq uint64, prev string) ([]byte, string, error) {
		rec.Seq, rec.Prev = seq, prev
		body, err := json.Marshal(&rec)
		if err != nil {
			return nil, "", err
		}
		if len(body) > maxRecord-100 {
			return nil, "", fmt.Errorf("%s record of %d bytes is too large", rec.Type, len(body))
		}
		line, sum := seal(body, l.opts.Key)
		return line, sum, nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return l.fail(fmt.Errorf("%w: logger is closed", ErrSink))
	}
	var errs []error
	for _, s := range l.sinks {
		if err := s.append(build, ev.Type == TypeRunEnd); err != nil {
			errs = append(errs, fmt.Errorf("%w: %s: %w", ErrSink, s, err))
		}
	}
	return l.fail(errors.Join(errs...))
}

func (l *Logger) fail(err error) error {
	if err == nil {
		return nil
	}
	if l.opts.BestEffort {
		if l.opts.OnError != nil {
			l.opts.OnError(err)
		}
		return nil
	}
	return err
}

// BestEffort reports whether the logger swallows sink failures.
func (l *Logger) BestEffort() bool { return l != nil && l.opts.BestEffort }

// Close closes every sink.
func (l *Logger) Close() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	l.closed = true
	var errs []error
	for _, s := range l.sinks {
		if err := s.Close(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s, err))
		}
	}
	return errors.Join(errs...)
}
