//go:build unix

package audit

import (
	"fmt"
	"log/syslog"
	"sync"
)

// syslogSink sends each record as one syslog message (journald collects /dev/log on systemd hosts).
type syslogSink struct {
	mu   sync.Mutex
	addr string
	w    *syslog.Writer
	c    chain
}

// SyslogSink connects to the local syslog daemon (network and addr empty) or to addr, at facility AUTHPRIV:
// audit records are security information for the administrator.
func SyslogSink(network, addr string) (Sink, error) {
	w, err := syslog.Dial(network, addr, syslog.LOG_AUTHPRIV|syslog.LOG_INFO, "jailrun")
	if err != nil {
		return nil, fmt.Errorf("%w: syslog: %w", ErrSink, err)
	}
	name := "syslog"
	if addr != "" {
		name += ":" + addr
	}
	return &syslogSink{w: w, addr: name}, nil
}

func (s *syslogSink) append(build func(uint64, string) ([]byte, string, error), _ bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.c.next(build, func(line []byte) error { return s.w.Info(string(line)) })
}
func (s *syslogSink) Close() error   { return s.w.Close() }
func (s *syslogSink) String() string { return s.addr }
