package main

import (
	"errors"
	"fmt"
	"os"
	"syscall"

	"github.com/jailrun/jailrun/sandbox"
)

// metaFile is an isolate-compatible meta file named by a flag (--meta, --solution-meta, ...). It is opened
// before anything runs, so that a bad path fails first, and written once the run has ended: also after a
// limit hit, and with status:XX when jailrun failed (as isolate does after it opened its meta file).
type metaFile struct {
	flag string
	f    *os.File
}

// openMeta creates or truncates path. It refuses a symlink as the last component (O_NOFOLLOW) and anything
// but a regular file, so that a path planted by someone else cannot redirect the write; O_NONBLOCK keeps a
// FIFO from hanging the open before that check.
func openMeta(path, flag string) (*metaFile, error) {
	if path == "" {
		return nil, nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		if errors.Is(err, syscall.ELOOP) {
			err = fmt.Errorf("%s is a symbolic link; name the file itself", path)
		}
		return nil, fail(exitInput, "%s: %v", flag, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, fail(exitInput, "%s: %s is not a regular file", flag, path)
	}
	return &metaFile{flag: flag, f: f}, nil
}

// finish writes res as the meta file, or status:XX with runErr's message when there is no result, and
// closes the file. It returns runErr, or the write's failure when runErr is nil.
func (m *metaFile) finish(res *sandbox.Result, runErr error) error {
	if m == nil {
		return runErr
	}
	defer m.f.Close()
	var ce *childExit
	if res == nil {
		if runErr == nil || errors.As(runErr, &ce) {
			return runErr
		}
		res = &sandbox.Result{Status: sandbox.StatusSetupError, ExitCode: -1, Message: runErr.Error()}
	}
	err := res.WriteMeta(m.f)
	if err == nil {
		err = m.f.Close()
	}
	if err != nil && (runErr == nil || errors.As(runErr, &ce)) {
		return fail(exitInput, "write %s: %v", m.flag, err)
	}
	return runErr
}
