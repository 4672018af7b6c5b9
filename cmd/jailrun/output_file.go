package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/jailrun/jailrun/internal/atomicfile"
	"golang.org/x/sys/unix"
)

// pendingFile is an output file named by a flag (--meta, --result, ...): prepared before anything runs, so
// that a bad path fails first with exit 122 and nothing has run, and written once the run has ended.
//
// A regular file (or a new one) is written whole or not at all (internal/atomicfile): a jailrun killed
// during the run leaves no file, never an empty or half-written one. One that exists is removed when the
// run starts (start; a meta file when it is prepared, as isolate truncates it then), so that a crash cannot
// leave the previous run's verdict to be read as this one's, while a refused command line loses nothing.
type pendingFile struct {
	flag, path string
	tmp        *atomicfile.File
	out        *os.File // isolate's -M -: a copy of stdout
	through    bool     // not a regular file (a symlink, /dev/stderr): written through at the end
	old        bool     // a regular file is at path: start removes it
	closed     bool
}

// start removes the previous file at the path, once the run is about to start.
func (p *pendingFile) start() error {
	if p == nil || !p.old || p.closed {
		return nil
	}
	p.old = false
	if err := os.Remove(p.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fail(exitInput, "%s: %v", p.flag, err)
	}
	return nil
}

// preparePending prepares path for the flag. With through, anything but a regular file at path (a symlink,
// a device, a FIFO) is written through at the end, as os.WriteFile would; without it, it is refused, so that
// a path planted by someone else cannot redirect the write.
func preparePending(path, flag string, through bool) (*pendingFile, error) {
	st, err := os.Lstat(path)
	switch {
	case err == nil && st.IsDir():
		return nil, fail(exitInput, "%s: %s is a directory", flag, path)
	case err == nil && !st.Mode().IsRegular() && through:
		if err := unix.Access(path, unix.W_OK); err != nil {
			return nil, fail(exitInput, "%s: %s: %v", flag, path, err)
		}
		return &pendingFile{flag: flag, path: path, through: true}, nil
	case err == nil && st.Mode()&fs.ModeSymlink != 0:
		return nil, fail(exitInput, "%s: %s is a symbolic link; name the file itself", flag, path)
	case err == nil && !st.Mode().IsRegular():
		return nil, fail(exitInput, "%s: %s is not a regular file", flag, path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fail(exitInput, "%s: %v", flag, err)
	}
	tmp, err := atomicfile.Create(filepath.Dir(path), 0o644)
	if err != nil {
		return nil, fail(exitInput, "%s: cannot write %s: %v", flag, path, unwrapPath(err))
	}
	return &pendingFile{flag: flag, path: path, tmp: tmp, old: st != nil}, nil
}

// write writes b as the file's whole content and puts it in place. It is done once; later calls, and calls
// on nil, do nothing.
func (p *pendingFile) write(b []byte) error {
	if p == nil || p.closed {
		return nil
	}
	p.closed = true
	var err error
	switch {
	case p.out != nil:
		_, err = p.out.Write(b)
		if cerr := p.out.Close(); err == nil {
			err = cerr
		}
	case p.through:
		err = os.WriteFile(p.path, b, 0o644)
	default:
		defer p.tmp.Abort()
		if _, err = p.tmp.Write(b); err == nil {
			err = p.tmp.Commit(p.path)
		}
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", p.flag, err)
	}
	return nil
}

// discard drops the file unwritten.
func (p *pendingFile) discard() {
	if p == nil || p.closed {
		return
	}
	p.closed = true
	switch {
	case p.out != nil:
		p.out.Close()
	case p.tmp != nil:
		p.tmp.Abort()
	}
}

// openResult prepares the --result file (nil for none). Anything but a regular file there (/dev/stderr, a
// symlink) is written through, as before the file was prepared early.
func openResult(path string) (*pendingFile, error) {
	if path == "" {
		return nil, nil
	}
	return preparePending(path, "--result", true)
}

// startOutputs removes the previous files of the run's outputs: the run starts now.
func startOutputs(files ...*pendingFile) error {
	for _, p := range files {
		if err := p.start(); err != nil {
			return err
		}
	}
	return nil
}
