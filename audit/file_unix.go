//go:build unix

package audit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

var stderr io.Writer = os.Stderr

// fileSink appends to a file shared with other jailrun processes. Each append takes an exclusive flock,
// reads the last record's seq and hash (unless nothing was appended since this process's last write),
// writes one line with O_APPEND in one write(2), and releases the lock, so records from concurrent
// processes are whole lines and form one chain.
type fileSink struct {
	mu   sync.Mutex
	path string
	f    *os.File
	opts Options
	// What this process knows of the file's end, valid while the size is unchanged.
	knownSize int64
	seq       uint64
	prev      string
}

// OpenFile opens (creating it with mode 0600) the audit file at path for appending and checks, under the
// lock, that its last record is whole and intact: a log that cannot be continued fails now, before any run
// starts. Only regular files are accepted.
func OpenFile(path string, o Options) (Sink, error) {
	if o.LockTimeout <= 0 {
		o.LockTimeout = 10 * time.Second
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSink, err)
	}
	fi, err := f.Stat()
	if err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err == nil {
			err = errors.New("not a regular file")
		}
		return nil, fmt.Errorf("%w: %s: %w", ErrSink, path, err)
	}
	s := &fileSink{path: path, f: f, opts: o, knownSize: -1}
	if err := s.locked(func() error { _, err := s.tail(); return err }); err != nil {
		f.Close()
		return nil, fmt.Errorf("%w: %s: %w", ErrSink, path, err)
	}
	return s, nil
}

func (s *fileSink) String() string { return s.path }

func (s *fileSink) Close() error { return s.f.Close() }

// locked runs fn holding the file's exclusive lock, waiting at most LockTimeout for it: a process that
// holds the lock forever must not hang every other run.
func (s *fileSink) locked(fn func() error) error {
	fd := int(s.f.Fd())
	deadline := time.Now().Add(s.opts.LockTimeout)
	for {
		err := unix.Flock(fd, unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			break
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			return fmt.Errorf("flock: %w", err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("another process has held the lock for %v", s.opts.LockTimeout)
		}
		time.Sleep(2 * time.Millisecond)
	}
	defer unix.Flock(fd, unix.LOCK_UN)
	return fn()
}

// tail returns the file's size after making seq and prev those of its last record. Called under the lock.
func (s *fileSink) tail() (int64, error) {
	fi, err := s.f.Stat()
	if err != nil {
		return 0, err
	}
	size := fi.Size()
	if size == s.knownSize {
		return size, nil
	}
	if size == 0 {
		s.seq, s.prev, s.knownSize = 0, Genesis, 0
		return 0, nil
	}
	line, err := lastLine(s.f, size)
	if err != nil {
		return 0, err
	}
	body, sum, err := unseal(line)
	if err != nil {
		return 0, fmt.Errorf("last record: %w; run 'jailrun audit verify %s'", err, s.path)
	}
	if digest(body, s.opts.Key) != sum {
		return 0, fmt.Errorf("last record does not match its hash (altered, or written with another key); run 'jailrun audit verify %s'", s.path)
	}
	var r struct {
		Seq uint64 `json:"seq"`
	}
	if err := json.Unmarshal(body, &r); err != nil || r.Seq == 0 {
		return 0, fmt.Errorf("last record has no valid seq; run 'jailrun audit verify %s'", s.path)
	}
	s.seq, s.prev, s.knownSize = r.Seq, sum, size
	return size, nil
}

// lastLine reads the complete last line of f (without its newline), reading backwards in chunks.
func lastLine(f *os.File, size int64) ([]byte, error) {
	var last [1]byte
	if _, err := f.ReadAt(last[:], size-1); err != nil {
		return nil, err
	}
	if last[0] != '\n' {
		return nil, errors.New("the file ends with a partial record (a write was cut off or the file was truncated): nothing more is appended to it; keep it as evidence and start a new log, or, if the cut was a full disk, remove the partial last line (jailrun audit verify names the last whole record)")
	}
	end := size - 1 // the final newline
	var buf []byte  // the bytes [pos, end)
	for pos := end; ; {
		if i := bytes.LastIndexByte(buf, '\n'); i >= 0 {
			return buf[i+1:], nil
		}
		if pos == 0 {
			return buf, nil
		}
		if len(buf) > maxRecord {
			return nil, fmt.Errorf("last record is longer than %d bytes", maxRecord)
		}
		n := min(int64(64<<10), pos)
		pos -= n
		chunk := make([]byte, n, n+int64(len(buf)))
		if _, err := f.ReadAt(chunk, pos); err != nil {
			return nil, err
		}
		buf = append(chunk, buf...)
	}
}

func (s *fileSink) append(build func(uint64, string) ([]byte, string, error), sync bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.locked(func() error {
		size, err := s.tail()
		if err != nil {
			return err
		}
		line, sum, err := build(s.seq+1, s.prev)
		if err != nil {
			return err
		}
		line = append(line, '\n')
		n, err := s.f.Write(line)
		if err != nil {
			// A short write leaves a partial line that makes the log refuse further records until an
			// operator looks at it: that is the fail-closed outcome.
			s.knownSize = -1
			return err
		}
		if sync {
			if err := s.f.Sync(); err != nil {
				s.knownSize = -1
				return fmt.Errorf("fsync: %w", err)
			}
		}
		s.seq, s.prev, s.knownSize = s.seq+1, sum, size+int64(n)
		return nil
	})
}
