package policy

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"sort"
	"strings"
	"sync"
	"syscall"

	"github.com/jailrun/jailrun/policies"
)

// Load reads a policy file (at most MaxFileSize bytes), parses it, resolves its extends relative to the
// file's directory and compiles it. A file that cannot be read gives a *ReadError (ErrRead); anything
// wrong with its content an *InvalidError (ErrInvalid).
func Load(path string) (*Settings, error) {
	p, err := LoadPolicy(path)
	if err != nil {
		return nil, err
	}
	return Compile(p)
}

// LoadPolicy reads and parses one policy file without resolving its extends.
func LoadPolicy(path string) (*Policy, error) {
	data, err := readPolicyFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(data, path)
}

// readPolicyFile reads a regular file of at most MaxFileSize bytes. A FIFO or device is refused: reading
// /dev/zero would never end and a FIFO could block forever. The file is opened with O_NONBLOCK and checked
// with fstat before any read, because opening a FIFO that has no writer blocks in open itself; on a regular
// file O_NONBLOCK changes nothing.
func readPolicyFile(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	if !st.Mode().IsRegular() {
		return nil, &ReadError{Path: path, Err: fmt.Errorf("not a regular file (%s)", fileKind(st.Mode()))}
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, &ReadError{Path: path, Err: err}
	}
	if len(data) > MaxFileSize {
		return nil, &InvalidError{Problems: []Problem{{Pos: Pos{File: path, Line: 1, Col: 1}, Msg: fmt.Sprintf("the file is larger than the limit of %d bytes (1 MiB)", MaxFileSize)}}}
	}
	return data, nil
}

// BuiltinNames lists the built-in policies, sorted.
func BuiltinNames() []string {
	entries, _ := fs.ReadDir(policies.FS, ".")
	var out []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), ".json"); ok && !e.IsDir() {
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func builtinData(name string) ([]byte, bool) {
	if !validName(name) {
		return nil, false
	}
	data, err := policies.FS.ReadFile(name + ".json")
	return data, err == nil
}

// BuiltinPolicy parses a built-in policy without compiling it.
func BuiltinPolicy(name string) (*Policy, error) {
	data, ok := builtinData(name)
	if !ok {
		return nil, &ReadError{Path: "builtin:" + name, Err: fmt.Errorf("no such built-in policy (built-ins: %s)", strings.Join(BuiltinNames(), ", "))}
	}
	p, err := Parse(data, "builtin:"+name)
	if err != nil {
		return nil, err
	}
	p.builtin = true
	return p, nil
}

var builtinCache sync.Map // name -> *Settings

// Builtin returns a built-in policy, compiled. Each call returns a copy the caller may modify.
func Builtin(name string) (*Settings, error) {
	if s, ok := builtinCache.Load(name); ok {
		return s.(*Settings).Clone(), nil
	}
	p, err := BuiltinPolicy(name)
	if err != nil {
		return nil, err
	}
	s, err := Compile(p)
	if err != nil {
		return nil, err
	}
	builtinCache.Store(name, s)
	return s.Clone(), nil
}

// Resolve loads a policy named on a command line: a built-in name such as "strict" when it has no '/' and
// no ".json" suffix, else a file path.
func Resolve(nameOrPath string) (*Settings, error) {
	if isBuiltinRef(nameOrPath) {
		return Builtin(nameOrPath)
	}
	return Load(nameOrPath)
}

// ResolvePolicy is Resolve without compiling: the parsed policy, for tools that format or explain it.
func ResolvePolicy(nameOrPath string) (*Policy, error) {
	if isBuiltinRef(nameOrPath) {
		return BuiltinPolicy(nameOrPath)
	}
	return LoadPolicy(nameOrPath)
}

// fileKind names what a non-regular file is, for the refusal.
func fileKind(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a block device"
	case m.IsDir():
		return "a directory"
	}
	return "mode " + m.String()
}
