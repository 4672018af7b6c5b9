package audit

import (
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
)

// Sink is where records go. Each sink keeps its own hash chain: a file continues the chain already in it
// (across processes), a stream or syslog starts from Genesis when opened.
type Sink interface {
	// append builds a record with the sink's next seq and prev and writes it; sync asks for stable storage.
	append(build func(seq uint64, prev string) (line []byte, sum string, err error), sync bool) error
	Close() error
	String() string
}

// chain is an in-memory chain for sinks that cannot be read back.
type chain struct {
	seq  uint64
	prev string
}

func (c *chain) next(build func(uint64, string) ([]byte, string, error), write func([]byte) error) error {
	prev := c.prev
	if prev == "" {
		prev = Genesis
	}
	line, sum, err := build(c.seq+1, prev)
	if err != nil {
		return err
	}
	if err := write(line); err != nil {
		return err
	}
	c.seq++
	c.prev = sum
	return nil
}

// writerSink writes lines to an io.Writer (stderr).
type writerSink struct {
	mu   sync.Mutex
	name string
	w    io.Writer
	c    chain
}

// WriterSink writes one line per record to w, chained from Genesis. Each line is one Write call.
func WriterSink(w io.Writer, name string) Sink { return &writerSink{w: w, name: name} }

func (s *writerSink) append(build func(uint64, string) ([]byte, string, error), _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.next(build, func(line []byte) error {
		_, err := s.w.Write(append(line, '\n'))
		return err
	})
}
func (s *writerSink) Close() error   { return nil }
func (s *writerSink) String() string { return s.name }

// journaldSink speaks journald's native protocol, so records keep their fields and are not cut at syslog's
// line length.
type journaldSink struct {
	mu   sync.Mutex
	conn *net.UnixConn
	path string
	c    chain
}

// JournaldSocket is where journald listens for native messages.
const JournaldSocket = "/run/systemd/journal/socket"

// JournaldSink sends records to journald at path (JournaldSocket when empty).
func JournaldSink(path string) (Sink, error) {
	if path == "" {
		path = JournaldSocket
	}
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		return nil, fmt.Errorf("%w: journald: %w", ErrSink, err)
	}
	return &journaldSink{conn: conn, path: path}, nil
}

func (s *journaldSink) append(build func(uint64, string) ([]byte, string, error), _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.next(build, func(line []byte) error {
		// Records are single-line JSON, so the simple KEY=VALUE form is exact.
		msg := "SYSLOG_IDENTIFIER=jailrun\nPRIORITY=6\nSYSLOG_FACILITY=10\nMESSAGE=" + string(line) + "\n"
		_, err := s.conn.Write([]byte(msg))
		return err
	})
}
func (s *journaldSink) Close() error   { return s.conn.Close() }
func (s *journaldSink) String() string { return "journald" }

// ParseSink opens the sink a --audit value names: "stderr" (or "-"), "syslog", "journald", or a file path
// (appended to; see OpenFile). o supplies the file lock timeout.
func ParseSink(spec string, o Options) (Sink, error) {
	switch {
	case spec == "":
		return nil, fmt.Errorf("%w: empty audit sink", ErrSink)
	case spec == "-" || spec == "stderr":
		return WriterSink(stderr, "stderr"), nil
	case spec == "syslog":
		return SyslogSink("", "")
	case spec == "journald":
		return JournaldSink("")
	case strings.HasPrefix(spec, "file:"):
		spec = strings.TrimPrefix(spec, "file:")
	}
	if o.LockTimeout <= 0 {
		o.LockTimeout = New(o).opts.LockTimeout
	}
	return OpenFile(spec, o)
}
