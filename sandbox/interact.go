package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/jailrun/jailrun/audit"
	"github.com/jailrun/jailrun/ipc"
)

// InteractOptions configure Interact.
type InteractOptions struct {
	// Transcript, when set, receives what crosses in both directions as JSON lines (see DecodeTranscript):
	// {"t_ms":1.25,"dir":"solution>interactor","data":"3 4\n"}. It holds the programs' data: keep it as
	// private as the test data.
	Transcript io.Writer
	// TranscriptLimit caps the data recorded (default DefaultTranscriptLimit). Past it the transcript says
	// so and stops; the runs go on.
	TranscriptLimit int64
	// PeerGrace, when positive, stops a side this long after the other side's run ended (its context is
	// cancelled with a cause naming the peer). Zero leaves each side to its own limits, after it has
	// seen EOF on its stdin and EPIPE on its stdout.
	PeerGrace time.Duration
	// Capture keeps the first and last Capture bytes of each direction in the result (content capture).
	Capture int
	// Audit, when set, receives a channel.close record for each direction with its account.
	Audit *audit.Logger
}

// InteractResult is the outcome of an interactive run: each side's own verdict and the account of what
// crossed between them.
type InteractResult struct {
	Solution   *Result `json:"solution"`
	Interactor *Result `json:"interactor"`
	// SolutionToInteractor and InteractorToSolution account for each direction: bytes, SHA-256, and
	// whether the writer's output limit cut it.
	SolutionToInteractor ipc.DirStats `json:"solution_to_interactor"`
	InteractorToSolution ipc.DirStats `json:"interactor_to_solution"`
	// FirstExit is the side whose run ended first, "solution" or "interactor": a judge usually trusts the
	// interactor's verdict when it ended first and the solution then died of SIGPIPE.
	FirstExit  string           `json:"first_exit"`
	Transcript *TranscriptStats `json:"transcript,omitempty"`
}

// Directions as they appear in transcripts and audit records.
const (
	DirSolutionToInteractor = "solution>interactor"
	DirInteractorToSolution = "interactor>solution"
)

// ErrPeerExited is the cancellation cause of a side stopped by InteractOptions.PeerGrace.
var ErrPeerExited = errors.New("the other side of the interaction ended")

// Interact runs an interactive task: solution and interactor in two sandboxes, each under its own policy
// and limits, the solution's stdout connected to the interactor's stdin and the interactor's stdout to the
// solution's stdin (the online-judge interactor pattern). Stderr stays as each Request sets it; Stdin and
// Stdout must be unset.
//
// When one side ends, the other reads EOF and its writes fail with EPIPE (SIGPIPE). A side that hangs is
// ended by its own wall-time limit (or PeerGrace); a side that floods is stopped by its own output limit
// with status output_limit, or blocks when the other does not read. Both results are returned whenever
// both runs started; err reports a side that could not be run at all.
func Interact(ctx context.Context, r *Runner, solution, interactor Request, o InteractOptions) (*InteractResult, error) {
	for _, x := range []struct {
		name string
		req  *Request
	}{{"solution", &solution}, {"interactor", &interactor}} {
		if x.req.Stdin != nil || x.req.Stdout != nil {
			return nil, fmt.Errorf("%w: %s: Interact connects stdin and stdout itself; leave them unset", ErrPolicy, x.name)
		}
		if err := validateRequest(x.req); err != nil {
			return nil, fmt.Errorf("%s: %w", x.name, err)
		}
	}
	tr := newTranscript(o.Transcript, o.TranscriptLimit)
	s2i, err := newLink(DirSolutionToInteractor, tr, o.Capture)
	if err != nil {
		return nil, err
	}
	defer s2i.close()
	i2s, err := newLink(DirInteractorToSolution, tr, o.Capture)
	if err != nil {
		return nil, err
	}
	defer i2s.close()
	solution.Stdin, solution.Stdout = i2s.r, s2i.tap
	interactor.Stdin, interactor.Stdout = s2i.r, i2s.tap

	ctxS, cancelS := context.WithCancelCause(ctx)
	defer cancelS(nil)
	ctxI, cancelI := context.WithCancelCause(ctx)
	defer cancelI(nil)

	res := &InteractResult{}
	var errS, errI error
	var mu sync.Mutex
	var wg sync.WaitGroup
	var timers []*time.Timer
	ended := func(side string, peerCancel context.CancelCauseFunc) {
		mu.Lock()
		defer mu.Unlock()
		if res.FirstExit == "" {
			res.FirstExit = side
		}
		if o.PeerGrace > 0 {
			cause := fmt.Errorf("%w: %s ended %v earlier", ErrPeerExited, side, o.PeerGrace)
			timers = append(timers, time.AfterFunc(o.PeerGrace, func() { peerCancel(cause) }))
		}
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		res.Solution, errS = r.Run(ctxS, solution)
		s2i.writerDone() // the interactor reads EOF
		i2s.readerDone() // the interactor's writes fail
		ended("solution", cancelI)
	}()
	go func() {
		defer wg.Done()
		res.Interactor, errI = r.Run(ctxI, interactor)
		i2s.writerDone()
		s2i.readerDone()
		ended("interactor", cancelS)
	}()
	wg.Wait()
	for _, t := range timers {
		t.Stop()
	}
	res.SolutionToInteractor, res.InteractorToSolution = s2i.stats(), i2s.stats()
	// A direction is cut when its writer's own output limit (stdout) was hit.
	if res.Solution != nil && res.Solution.Stdout.Truncated {
		res.SolutionToInteractor.Truncated = true
	}
	if res.Interactor != nil && res.Interactor.Stdout.Truncated {
		res.InteractorToSolution.Truncated = true
	}
	res.Transcript = tr.stats()
	var auditErr error
	if o.Audit != nil {
		auditErr = errors.Join(
			emitLink(o.Audit, DirSolutionToInteractor, res.Solution, res.Interactor, res.SolutionToInteractor),
			emitLink(o.Audit, DirInteractorToSolution, res.Interactor, res.Solution, res.InteractorToSolution))
	}
	var errs []error
	if errS != nil {
		errs = append(errs, fmt.Errorf("solution: %w", errS))
	}
	if errI != nil {
		errs = append(errs, fmt.Errorf("interactor: %w", errI))
	}
	if auditErr != nil {
		errs = append(errs, auditErr)
	}
	return res, errors.Join(errs...)
}

// LinkRecord is the data of the channel.close audit record Interact and Pipeline write for each link.
type LinkRecord struct {
	Name    string       `json:"name"`
	FromRun string       `json:"from_run,omitempty"`
	ToRun   string       `json:"to_run,omitempty"`
	Stats   ipc.DirStats `json:"stats"`
}

func emitLink(l *audit.Logger, name string, from, to *Result, st ipc.DirStats) error {
	rec := LinkRecord{Name: name, Stats: st}
	if from != nil {
		rec.FromRun = from.RunID
	}
	if to != nil {
		rec.ToRun = to.RunID
	}
	return l.Emit(audit.Event{Type: audit.TypeChannelClose, RunID: rec.FromRun, Data: rec})
}

func isBrokenPipe(err error) bool {
	return err != nil && (errors.Is(err, syscall.EPIPE) || errors.Is(err, os.ErrClosed))
}

// link connects one sandbox's stdout to another's stdin through a pipe, with the parent in the middle to
// account for every byte (ipc.Tap) and to record a transcript. The writing side's launcher relays its
// child's stdout into the tap, under that side's own output limits; the reading side gets the pipe's read
// end as its stdin, directly. Backpressure is the pipe's: a reader that stops reading stops the writer.
//
// Each end is closed by the parent as soon as the run that uses it has returned: closing the write end
// gives the reader EOF, closing the read end makes the writer's next write fail with EPIPE, so no side
// waits forever on a peer that is gone.
type link struct {
	r, w *os.File
	tap  *ipc.Tap
	once [2]sync.Once
}

func newLink(name string, tr *transcript, capture int) (*link, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("%w: pipe for %s: %v", ErrSetup, name, err)
	}
	l := &link{r: r, w: w}
	var dst io.Writer = w
	if tr != nil {
		dst = tr.dir(name, w)
	}
	l.tap = ipc.NewTap(dst, capture)
	return l, nil
}

// writerDone: the writing run has returned; its launcher writes no more.
func (l *link) writerDone() { l.once[0].Do(func() { l.w.Close() }) }

// readerDone: the reading run has returned; nobody will read what is still in the pipe.
func (l *link) readerDone() { l.once[1].Do(func() { l.r.Close() }) }

func (l *link) close() { l.writerDone(); l.readerDone() }

// stats is the link's account. A write that failed because the reader was gone is the normal end of a
// link, not an error.
func (l *link) stats() ipc.DirStats {
	st := l.tap.Stats(false)
	if isBrokenPipe(l.tap.Err()) {
		st.Error = ""
	}
	return st
}

// TranscriptStats says what a transcript recorded.
type TranscriptStats struct {
	// Bytes of data recorded (not counting the JSON around it).
	Bytes     int64  `json:"bytes"`
	Truncated bool   `json:"truncated"`
	Error     string `json:"error,omitempty"`
}

// DefaultTranscriptLimit caps a transcript's data when the caller sets no limit.
const DefaultTranscriptLimit = 1 << 20

// transcript records what crosses links as JSON lines, one per chunk, in the order the chunks were handed
// to their pipes (so a reply always comes after the query it answers):
//
//	{"t_ms":1.25,"dir":"solution>interactor","data":"3 4\n"}
//
// Data that is not valid UTF-8 is recorded as "b64" instead of "data", so the transcript is exact. Past the
// limit, one {"truncated":true} line is written and recording stops; the runs are not affected.
type transcript struct {
	mu        sync.Mutex
	w         io.Writer
	start     time.Time
	left      int64
	n         int64
	truncated bool
	err       error
}

func newTranscript(w io.Writer, limit int64) *transcript {
	if w == nil {
		return nil
	}
	if limit <= 0 {
		limit = DefaultTranscriptLimit
	}
	return &transcript{w: w, start: time.Now(), left: limit}
}

type transcriptLine struct {
	TMS       float64 `json:"t_ms"`
	Dir       string  `json:"dir,omitempty"`
	Data      *string `json:"data,omitempty"`
	B64       []byte  `json:"b64,omitempty"`
	Truncated bool    `json:"truncated,omitempty"`
}

// dir returns a writer that records each chunk under the direction name and then forwards it to w. The
// record comes first: once the write has delivered the chunk, the reader may answer at once, and its reply
// must not be recorded before the query it answers. A write the reader cut short (it exited mid-chunk)
// leaves bytes in the transcript that it never got; the link's own stats count what was delivered.
func (t *transcript) dir(name string, w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		t.record(name, p)
		return w.Write(p)
	})
}

func (t *transcript) record(dir string, p []byte) {
	if len(p) == 0 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.truncated || t.err != nil {
		return
	}
	line := transcriptLine{TMS: ms(time.Since(t.start)), Dir: dir}
	if int64(len(p)) > t.left {
		p = p[:t.left]
		t.truncated = true
	}
	t.left -= int64(len(p))
	t.n += int64(len(p))
	if len(p) > 0 {
		if utf8.Valid(p) {
			s := string(p)
			line.Data = &s
		} else {
			line.B64 = p
		}
		t.write(line)
	}
	if t.truncated {
		t.write(transcriptLine{TMS: line.TMS, Truncated: true})
	}
}

func (t *transcript) write(l transcriptLine) {
	if t.err != nil {
		return
	}
	b, err := json.Marshal(l)
	if err == nil {
		_, err = t.w.Write(append(b, '\n'))
	}
	t.err = err
}

func (t *transcript) stats() *TranscriptStats {
	if t == nil {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	st := &TranscriptStats{Bytes: t.n, Truncated: t.truncated}
	if t.err != nil {
		st.Error = t.err.Error()
	}
	return st
}

// DecodeTranscript reads a transcript back: for each line, the direction and the exact bytes. A
// {"truncated":true} line is returned with Truncated set.
func DecodeTranscript(r io.Reader, fn func(tMS float64, dir string, data []byte, truncated bool) error) error {
	dec := json.NewDecoder(r)
	for {
		var l transcriptLine
		if err := dec.Decode(&l); err == io.EOF {
			return nil
		} else if err != nil {
			return fmt.Errorf("transcript: %w", err)
		}
		data := l.B64
		if l.Data != nil {
			data = []byte(*l.Data)
		}
		if err := fn(l.TMS, l.Dir, data, l.Truncated); err != nil {
			return err
		}
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
