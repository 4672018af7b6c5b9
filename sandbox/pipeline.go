package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/jailrun/jailrun/audit"
	"github.com/jailrun/jailrun/ipc"
)

// PipelineOptions configure Pipeline.
type PipelineOptions struct {
	// Transcript, when set, records what crosses every link (see InteractOptions.Transcript); directions are
	// named "stage0>stage1" and so on.
	Transcript      io.Writer
	TranscriptLimit int64
	// Capture keeps the first and last Capture bytes of each link in the result (content capture).
	Capture int
	// Audit, when set, receives a channel.close record for each link.
	Audit *audit.Logger
}

// PipelineResult is the outcome of a pipeline: every stage's own verdict and the account of each link.
type PipelineResult struct {
	Stages []*Result `json:"stages"`
	// Links[i] accounts for what stage i passed to stage i+1.
	Links      []ipc.DirStats   `json:"links"`
	Transcript *TranscriptStats `json:"transcript,omitempty"`
}

// Status is the pipeline's verdict the way a shell with pipefail sees it: the status of the last stage
// that did not end ok, or ok. A stage killed by SIGPIPE because a later stage stopped reading (as `head`
// does) is not counted as a failure.
func (p *PipelineResult) Status() Status {
	st := StatusOK
	for i, r := range p.Stages {
		if r == nil {
			return StatusSetupError
		}
		if r.Status == StatusOK || (i < len(p.Stages)-1 && r.Status == StatusSignaled && r.SignalName == "SIGPIPE") {
			continue
		}
		st = r.Status
	}
	return st
}

// Pipeline runs stages[0] | stages[1] | ... with every stage in its own sandbox under its own policy:
// stage i's stdout feeds stage i+1's stdin through a pipe that jailrun accounts for, with the pipe's
// backpressure. The first stage's Stdin and the last stage's Stdout are the caller's; the ones between
// must be unset. Each stage's stderr is as its Request says.
//
// As in a shell, a stage that ends gives the next one EOF, and a stage whose reader has ended gets EPIPE
// (SIGPIPE) on its next write. All results are returned; err reports stages that could not run.
func Pipeline(ctx context.Context, r *Runner, stages []Request, o PipelineOptions) (*PipelineResult, error) {
	if len(stages) == 0 {
		return nil, fmt.Errorf("%w: empty pipeline", ErrPolicy)
	}
	for i := range stages {
		if i > 0 && stages[i].Stdin != nil {
			return nil, fmt.Errorf("%w: stage %d: its stdin is the previous stage's stdout; leave it unset", ErrPolicy, i)
		}
		if i < len(stages)-1 && stages[i].Stdout != nil {
			return nil, fmt.Errorf("%w: stage %d: its stdout feeds the next stage; leave it unset", ErrPolicy, i)
		}
		if err := validateRequest(&stages[i]); err != nil {
			return nil, fmt.Errorf("stage %d: %w", i, err)
		}
	}
	reqs := append([]Request(nil), stages...)
	tr := newTranscript(o.Transcript, o.TranscriptLimit)
	links := make([]*link, len(reqs)-1)
	defer func() {
		for _, l := range links {
			if l != nil {
				l.close()
			}
		}
	}()
	for i := range links {
		l, err := newLink(fmt.Sprintf("stage%d>stage%d", i, i+1), tr, o.Capture)
		if err != nil {
			return nil, err
		}
		links[i] = l
		reqs[i].Stdout = l.tap
		reqs[i+1].Stdin = l.r
	}
	res := &PipelineResult{Stages: make([]*Result, len(reqs)), Links: make([]ipc.DirStats, len(links))}
	errs := make([]error, len(reqs))
	var wg sync.WaitGroup
	for i := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res.Stages[i], errs[i] = r.Run(ctx, reqs[i])
			if i < len(links) {
				links[i].writerDone() // the next stage reads EOF
			}
			if i > 0 {
				links[i-1].readerDone() // the previous stage's writes fail
			}
		}()
	}
	wg.Wait()
	for i, l := range links {
		res.Links[i] = l.stats()
		if res.Stages[i] != nil && res.Stages[i].Stdout.Truncated {
			res.Links[i].Truncated = true
		}
	}
	res.Transcript = tr.stats()
	var all []error
	for i, err := range errs {
		if err != nil {
			all = append(all, fmt.Errorf("stage %d: %w", i, err))
		}
	}
	if o.Audit != nil {
		for i := range links {
			if err := emitLink(o.Audit, fmt.Sprintf("stage%d>stage%d", i, i+1), res.Stages[i], res.Stages[i+1], res.Links[i]); err != nil {
				all = append(all, err)
			}
		}
	}
	return res, errors.Join(all...)
}
