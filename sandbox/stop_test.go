package sandbox_test

import (
	"bytes"
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jailrun/jailrun/sandbox"
)

// A context cancelled with a StopSignal cause forwards the signal and waits limits.kill_grace; a plain
// cancellation kills at once, as before.
func TestRunStopSignalGrace(t *testing.T) {
	r, strict := needSandboxes(t)
	s := strict.Clone()
	s.Limits.KillGrace = 2 * time.Second
	for _, tc := range []struct {
		name   string
		cause  error
		stdout string
		stop   *sandbox.StopInfo
	}{
		{"stop signal", &sandbox.StopSignal{Signal: syscall.SIGTERM}, "ready\nbye\n", &sandbox.StopInfo{Signal: "SIGTERM", Forwarded: true}},
		{"plain cancel", context.Canceled, "ready\n", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancelCause(context.Background())
			defer cancel(nil)
			var out bytes.Buffer
			w := &signalWriter{w: &out, on: "ready\n", fn: func() { cancel(tc.cause) }}
			res, err := r.Run(ctx, sandbox.Request{Policy: s, Argv: []string{"/bin/sh", "-c", `trap 'echo bye; exit 0' TERM; echo ready; sleep 30 & wait`}, Stdout: w})
			if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.stdout {
				t.Errorf("stdout %q, want %q", out.String(), tc.stdout)
			}
			if (res.StoppedBy == nil) != (tc.stop == nil) || (tc.stop != nil && *res.StoppedBy != *tc.stop) {
				t.Errorf("stopped_by %+v, want %+v", res.StoppedBy, tc.stop)
			}
			if tc.stop == nil && (res.Status != sandbox.StatusSignaled || res.Limit == nil || res.Limit.Name != "context") {
				t.Errorf("plain cancel: status %s limit %+v", res.Status, res.Limit)
			}
		})
	}
}

// signalWriter calls fn once, after the text on has been written.
type signalWriter struct {
	w    *bytes.Buffer
	on   string
	fn   func()
	done bool
}

func (s *signalWriter) Write(p []byte) (int, error) {
	n, err := s.w.Write(p)
	if !s.done && strings.Contains(s.w.String(), s.on) {
		s.done = true
		s.fn()
	}
	return n, err
}
