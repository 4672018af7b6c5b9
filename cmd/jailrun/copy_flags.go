package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/jailrun/jailrun/internal/atomicfile"
	"github.com/jailrun/jailrun/policy"
	"github.com/jailrun/jailrun/sandbox"
	"github.com/spf13/cobra"
)

// copyFlags are --copy-in HOST:SANDBOX and --copy-out SANDBOX:HOST. SANDBOX is relative to the run's box,
// the policy's working directory on a tmpfs of the policy (sandbox.BoxDir): /tmp under strict, /box under
// compile. The copies go through the library's Request.FilesIn and FilesOut, so the same symlink-safe copy
// and caps apply as in the service.
type copyFlags struct {
	in, out []string
}

func addCopyFlags(c *cobra.Command, f *copyFlags) {
	fl := c.Flags()
	fl.StringArrayVar(&f.in, "copy-in", nil, "copy the host file HOST into the sandbox's box as SANDBOX (relative to the policy's working directory) before the run: `HOST:SANDBOX` (repeatable)")
	fl.StringArrayVar(&f.out, "copy-out", nil, "after the run, copy the file SANDBOX (relative to the box) to the host file HOST: `SANDBOX:HOST` (repeatable; a file the run did not leave is reported and not written)")
}

// copyOut is one --copy-out destination.
type copyOut struct {
	inside, host string
}

// request checks the flags and fills req. Every misuse is an exitUsage error naming the flag, found before
// anything runs.
func (f *copyFlags) request(s *policy.Settings, req *sandbox.Request) ([]copyOut, error) {
	if len(f.in) == 0 && len(f.out) == 0 {
		return nil, nil
	}
	if _, err := sandbox.BoxDir(s.Filesystem); err != nil {
		return nil, fail(exitUsage, "--copy-in/--copy-out: policy %s: %v", s.Name, err)
	}
	ins, outs, err := f.parse()
	if err != nil {
		return nil, err
	}
	req.FilesIn = ins
	for _, o := range outs {
		req.FilesOut = append(req.FilesOut, o.inside)
	}
	return outs, nil
}

// parse checks the flags' host side: a file to copy in must be a regular file, a file copied out must go
// to an existing directory and replace nothing but a regular file. The sandbox side (the path inside the
// box) is checked by whoever builds the sandbox: the library here, the server in client mode.
func (f *copyFlags) parse() (ins []sandbox.FileIn, outs []copyOut, _ error) {
	for _, spec := range f.in {
		host, inside, ok := strings.Cut(spec, ":")
		if !ok || host == "" || inside == "" {
			return nil, nil, fail(exitUsage, "--copy-in %q: want HOST:SANDBOX, e.g. --copy-in main.c:main.c", spec)
		}
		st, err := os.Stat(host)
		if err != nil {
			return nil, nil, fail(exitUsage, "--copy-in %q: %v", spec, err)
		}
		if !st.Mode().IsRegular() {
			return nil, nil, fail(exitUsage, "--copy-in %q: %s is not a regular file", spec, host)
		}
		ins = append(ins, sandbox.FileIn{Path: inside, Src: host, Mode: st.Mode().Perm() & 0o755})
	}
	for _, spec := range f.out {
		inside, host, ok := strings.Cut(spec, ":")
		if !ok || host == "" || inside == "" {
			return nil, nil, fail(exitUsage, "--copy-out %q: want SANDBOX:HOST, e.g. --copy-out a.out:./a.out", spec)
		}
		if st, err := os.Stat(filepath.Dir(host)); err != nil || !st.IsDir() {
			return nil, nil, fail(exitUsage, "--copy-out %q: the directory of %s does not exist", spec, host)
		}
		if st, err := os.Lstat(host); err == nil && !st.Mode().IsRegular() {
			return nil, nil, fail(exitUsage, "--copy-out %q: %s exists and is not a regular file", spec, host)
		}
		outs = append(outs, copyOut{inside: inside, host: host})
	}
	return ins, outs, nil
}

// write puts the copied-out files on the host, each whole or not at all (internal/atomicfile: not even a
// temporary file is left when jailrun is killed during the write). A file the run did not leave is
// reported on stderr.
func writeCopyOuts(outs []copyOut, res *sandbox.Result) error {
	for i, o := range outs {
		if i >= len(res.FilesOut) {
			break
		}
		got := res.FilesOut[i]
		if got.Err != nil {
			fmt.Fprintf(os.Stderr, "jailrun: --copy-out %s: %s\n", o.inside, got.Error)
			continue
		}
		if err := writeCopyOut(o.host, got.Content, got.Mode.Perm()&^0o022); err != nil {
			return fail(exitInput, "--copy-out %s: %v", o.inside, err)
		}
	}
	return nil
}

// writeCopyOut gives the file the mode it had inside (less group and other write), whatever was at path.
func writeCopyOut(path string, data []byte, mode os.FileMode) error {
	f, err := atomicfile.Create(filepath.Dir(path), 0o600)
	if err != nil {
		return err
	}
	defer f.Abort()
	if _, err := f.Write(data); err != nil {
		return err
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	return f.Commit(path)
}
