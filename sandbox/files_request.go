package sandbox

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"github.com/jailrun/jailrun/policy"
)

// Files a run takes in and gives back. They live in the run's box: the policy's working directory
// (filesystem.workdir), which must lie on a writable tmpfs the policy mounts (the compile policy's /box, the
// strict policy's /tmp). The box is fresh for every run and goes with it; its tmpfs size bounds what the
// program can write, and jailrun never writes to the host for it.
//
// Copy-in happens after the sandbox's mounts are set up and before the command starts, copy-out after every
// process of the run is gone. Both go through CopyInAt and CopyOutAt on a descriptor of the box taken from
// the sandbox, so the symlink-safe rules of those functions apply (no symbolic link, no "..", no device, FIFO
// or hard link, size checked before reading).

// FileIn is a file created in the box before the command starts.
type FileIn struct {
	// Path is relative to the box ("main.cpp", "tests/1.in"); missing parent directories are created.
	Path string
	// Content is the file's bytes. Src, instead, names a host file the caller's process reads (the caller's
	// own trusted path: it is opened as given). Exactly one of them is used; with neither the file is empty.
	Content []byte
	Src     string
	// Mode is the permission bits (at most 0777); zero means 0644. Use 0755 for a program.
	Mode os.FileMode
}

// FileOut is one file copied out of the box after the run, in Result.FilesOut.
type FileOut struct {
	// Path is as requested, relative to the box.
	Path string `json:"path"`
	// Size is the number of bytes copied; SHA256 their hex digest. Both are absent when Error is set.
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256,omitempty"`
	// Mode is the file's permission bits as the run left them (0755 for a program the run built).
	Mode os.FileMode `json:"mode,omitempty"`
	// Error says why the file was not copied: "not found" (the program did not create it), or why it was
	// refused (a symbolic link, over the cap, ...). Err is the same as a typed error: fs.ErrNotExist,
	// ErrUnsafeFile, ErrFileTooLarge.
	Error string `json:"error,omitempty"`
	Err   error  `json:"-"`
	// Content is the file's bytes (not part of the JSON Result; the CLI writes them to the host, the service
	// returns or stores them).
	Content []byte `json:"-"`
}

// FileCaps bound a run's file copies, each direction on its own. Zero fields take the defaults.
type FileCaps struct {
	// FileBytes caps one file (default DefaultFileBytes).
	FileBytes int64
	// TotalBytes caps all files of one direction together (default DefaultFilesTotalBytes).
	TotalBytes int64
	// Count caps the number of files of one direction (default DefaultFilesCount).
	Count int
}

// Defaults of FileCaps.
const (
	DefaultFileBytes       = 64 << 20
	DefaultFilesTotalBytes = 256 << 20
	DefaultFilesCount      = 256
)

// ErrFiles: a FilesIn or FilesOut entry was refused before the run (a path escaping the box, a duplicate,
// over a cap, a missing host source, a policy without a writable box). The error is a *FileRequestError;
// it also matches ErrPolicy, and ErrFileTooLarge, ErrArgument or fs.ErrNotExist when that is the cause.
var ErrFiles = errors.New("file copy refused")

// FileRequestError says which file of a request was refused and why.
type FileRequestError struct {
	Dir   string // "files_in" or "files_out"
	Index int    // position in the request; -1 for the request as a whole
	Path  string
	Err   error
}

func (e *FileRequestError) Error() string {
	if e.Index < 0 {
		return fmt.Sprintf("%s: %v", e.Dir, e.Err)
	}
	return fmt.Sprintf("%s[%d] %s: %v", e.Dir, e.Index, quoteShort(e.Path), e.Err)
}

func (e *FileRequestError) Unwrap() []error { return []error{ErrFiles, ErrPolicy, e.Err} }

func (c FileCaps) withDefaults() FileCaps {
	if c.FileBytes <= 0 {
		c.FileBytes = DefaultFileBytes
	}
	if c.TotalBytes <= 0 {
		c.TotalBytes = DefaultFilesTotalBytes
	}
	if c.Count <= 0 {
		c.Count = DefaultFilesCount
	}
	return c
}

// wantsFiles reports whether the run copies files in or out (and so needs the box handshake).
func (req *Request) wantsFiles() bool { return len(req.FilesIn) > 0 || len(req.FilesOut) > 0 }

// validateFiles checks FilesIn and FilesOut before anything is created: names, caps, sources, and that the
// policy has a box to put them in. It returns the box's path inside the sandbox.
func validateFiles(req *Request) (string, error) {
	if !req.wantsFiles() {
		return "", nil
	}
	caps := req.FileCaps.withDefaults()
	box, mnt, err := boxMount(req.Policy.Filesystem)
	if err != nil {
		return "", &FileRequestError{Dir: "files", Index: -1, Err: err}
	}
	if len(req.FilesIn) > caps.Count {
		return "", &FileRequestError{Dir: "files_in", Index: -1, Err: fmt.Errorf("%d files, over the cap of %d", len(req.FilesIn), caps.Count)}
	}
	if len(req.FilesOut) > caps.Count {
		return "", &FileRequestError{Dir: "files_out", Index: -1, Err: fmt.Errorf("%d files, over the cap of %d", len(req.FilesOut), caps.Count)}
	}
	seen := map[string]bool{}
	var total int64
	for i, f := range req.FilesIn {
		bad := func(err error) error { return &FileRequestError{Dir: "files_in", Index: i, Path: f.Path, Err: err} }
		clean, err := checkCopyName(f.Path)
		if err != nil {
			return "", bad(err)
		}
		if seen[clean] {
			return "", bad(errors.New("named twice"))
		}
		seen[clean] = true
		if f.Mode&^0o777 != 0 {
			return "", bad(fmt.Errorf("mode %#o has bits beyond 0777", uint32(f.Mode)))
		}
		size := int64(len(f.Content))
		if f.Src != "" {
			if f.Content != nil {
				return "", bad(errors.New("set Content or Src, not both"))
			}
			st, err := os.Stat(f.Src)
			if err != nil {
				return "", bad(fmt.Errorf("host source: %w", err))
			}
			if !st.Mode().IsRegular() {
				return "", bad(fmt.Errorf("host source %s is not a regular file: %w", f.Src, fs.ErrInvalid))
			}
			size = st.Size()
		}
		if size > caps.FileBytes {
			return "", bad(&FileTooLargeError{Name: f.Path, Size: size, Max: caps.FileBytes})
		}
		total += size
		if total > caps.TotalBytes {
			return "", bad(fmt.Errorf("the files together are over the cap of %d bytes: %w", caps.TotalBytes, ErrFileTooLarge))
		}
		// The box's tmpfs could not hold them (each file also takes a page at least).
		if mnt.Size > 0 && total > mnt.Size {
			return "", bad(fmt.Errorf("the files together are over the size of the box's tmpfs (%s, %d bytes): %w", mnt.Dst, mnt.Size, ErrFileTooLarge))
		}
	}
	seen = map[string]bool{}
	for i, p := range req.FilesOut {
		clean, err := checkCopyName(p)
		if err != nil {
			return "", &FileRequestError{Dir: "files_out", Index: i, Path: p, Err: err}
		}
		if seen[clean] {
			return "", &FileRequestError{Dir: "files_out", Index: i, Path: p, Err: errors.New("named twice")}
		}
		seen[clean] = true
	}
	return box, nil
}

// BoxDir returns where a run's files go inside the sandbox under a policy: its working directory, which
// must be on a writable tmpfs the policy mounts (a host bind is refused: jailrun never writes to the host
// for a run, and a tmpfs bounds what the program can write).
func BoxDir(fsys policy.Filesystem) (string, error) {
	dir, _, err := boxMount(fsys)
	return dir, err
}

// boxMount is BoxDir and the tmpfs the box is on.
func boxMount(fsys policy.Filesystem) (string, policy.Mount, error) {
	wd := fsys.Workdir
	if wd == "" || !path.IsAbs(wd) {
		return "", policy.Mount{}, errors.New("the policy has no working directory (filesystem.workdir) to put files in")
	}
	best := -1
	for i, m := range fsys.Mounts {
		if m.Dst == wd || strings.HasPrefix(wd, strings.TrimSuffix(m.Dst, "/")+"/") {
			if best < 0 || len(m.Dst) >= len(fsys.Mounts[best].Dst) {
				best = i
			}
		}
	}
	if best < 0 || fsys.Mounts[best].Kind != policy.MountTmpfs || fsys.Mounts[best].ReadOnly {
		return "", policy.Mount{}, fmt.Errorf("the policy's working directory %s is not on a writable tmpfs of the policy; files go there (use a policy that mounts one, like the compile policy's /box)", wd)
	}
	return wd, fsys.Mounts[best], nil
}

// CheckFiles checks a request's FilesIn, FilesOut and FileCaps against its policy as Run does, without
// starting anything: a service calls it before the request takes a run slot. The error is a
// *FileRequestError.
func CheckFiles(req *Request) error {
	if req.Policy == nil {
		return fmt.Errorf("%w: no policy", ErrPolicy)
	}
	_, err := validateFiles(req)
	return err
}
