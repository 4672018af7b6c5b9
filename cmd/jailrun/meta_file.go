package main

import (
	"bytes"
	"errors"
	"os"

	"github.com/jailrun/jailrun/sandbox"
)

// metaFile is an isolate-compatible meta file named by a flag (--meta, --solution-meta, ...), prepared
// before anything runs and written once the run has ended (pendingFile): also after a limit hit, and with
// status:XX when jailrun failed (as isolate does after it opened its meta file).
type metaFile struct{ *pendingFile }

// openMeta prepares the meta file at path: a regular file or a new one, never through a symlink.
func openMeta(path, flag string) (*metaFile, error) {
	if path == "" {
		return nil, nil
	}
	p, err := preparePending(path, flag, false)
	if err != nil {
		return nil, err
	}
	// As isolate truncates its meta file when it opens it: from here on, every failure is written there.
	if err := p.start(); err != nil {
		p.discard()
		return nil, err
	}
	return &metaFile{p}, nil
}

// stdoutMeta is a meta file written to out, a copy of stdout (isolate's -M -), which closing leaves open.
func stdoutMeta(flag string, out *os.File) *metaFile {
	return &metaFile{&pendingFile{flag: flag, out: out}}
}

// writeLines writes the meta file's lines and puts it in place (nil: no meta file).
func (m *metaFile) writeLines(lines []sandbox.MetaLine) error {
	if m == nil {
		return nil
	}
	var b bytes.Buffer
	for _, l := range lines {
		b.WriteString(l.Key + ":" + l.Value + "\n")
	}
	return m.write(b.Bytes())
}

// discard drops the meta file unwritten (a client falling back to a local run, which prepares its own).
func (m *metaFile) discard() {
	if m != nil {
		m.pendingFile.discard()
	}
}

// finish writes res as the meta file, or status:XX with runErr's message when there is no result. It
// returns runErr, or the write's failure when runErr is nil.
func (m *metaFile) finish(res *sandbox.Result, runErr error) error {
	if m == nil {
		return runErr
	}
	var ce *childExit
	if res == nil {
		if runErr == nil || errors.As(runErr, &ce) {
			m.discard()
			return runErr
		}
		res = &sandbox.Result{Status: sandbox.StatusSetupError, ExitCode: -1, Message: runErr.Error()}
	}
	err := m.writeLines(res.Meta())
	if err != nil && (runErr == nil || errors.As(runErr, &ce)) {
		return fail(exitInput, "%v", err)
	}
	return runErr
}
