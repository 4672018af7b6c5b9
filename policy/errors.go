package policy

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// ErrInvalid matches (with errors.Is) every error about a policy's content: syntax, unknown fields, values
// out of range, contradictions, bad extends.
var ErrInvalid = errors.New("invalid policy")

// ErrRead matches (with errors.Is) a policy file that cannot be read at all. Callers map it to a different
// exit code than ErrInvalid: the fix is in the environment, not in the policy.
var ErrRead = errors.New("cannot read policy")

// Problem is one thing wrong with a policy, located by file, line, column and JSON path.
type Problem struct {
	Pos
	// Path is the JSON path of the offending value ("limits.memory", "filesystem.mounts[2].dst"); empty for
	// problems with the document as a whole.
	Path string
	Msg  string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Pos.String())
	if p.Path != "" {
		if b.Len() > 0 {
			b.WriteString(": ")
		}
		b.WriteString(p.Path)
	}
	if b.Len() > 0 {
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// InvalidError lists every problem found in a policy, in file order. It matches ErrInvalid.
type InvalidError struct {
	Problems []Problem
}

func (e *InvalidError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// ReadError is a policy file that cannot be read. It matches ErrRead.
type ReadError struct {
	Path string
	Err  error
}

func (e *ReadError) Error() string        { return fmt.Sprintf("cannot read policy %s: %v", e.Path, e.Err) }
func (e *ReadError) Unwrap() error        { return e.Err }
func (e *ReadError) Is(target error) bool { return target == ErrRead }

// maxProblems stops a hostile file from producing an unbounded report.
const maxProblems = 200

// problems collects problems while decoding and validating.
type problems struct {
	list []Problem
	// Past maxProblems: dropped counts the problems found but not kept; unchecked records that checks were
	// skipped (the report is full, and their suggestions cost time), so more may exist than were counted.
	dropped   int
	unchecked bool
}

func (p *problems) addAt(pos Pos, path, msg string) {
	if len(p.list) >= maxProblems {
		p.dropped++
		return
	}
	p.list = append(p.list, Problem{Pos: pos, Path: path, Msg: msg})
}

func (p *problems) add(n *node, path, msg string) { p.addAt(n.pos, path, msg) }

func (p *problems) empty() bool { return len(p.list) == 0 }

// full reports that no more problems will be recorded.
func (p *problems) full() bool { return len(p.list) >= maxProblems }

// skip records that a check was not made because the report is full, so that the report says it stopped
// rather than looking complete at exactly maxProblems lines.
func (p *problems) skip() { p.unchecked = true }

// err returns the collected problems as an *InvalidError, or nil. Problems are sorted by file (in order of
// first appearance), line and column so that the report reads top to bottom.
func (p *problems) err() error {
	if len(p.list) == 0 {
		return nil
	}
	fileOrder := map[string]int{}
	for _, pr := range p.list {
		if _, ok := fileOrder[pr.File]; !ok {
			fileOrder[pr.File] = len(fileOrder)
		}
	}
	list := append([]Problem(nil), p.list...)
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i], list[j]
		if a.File != b.File {
			return fileOrder[a.File] < fileOrder[b.File]
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
	if p.dropped > 0 || p.unchecked {
		msg := fmt.Sprintf("too many problems; stopped after %d", maxProblems)
		switch {
		case p.dropped > 0 && p.unchecked:
			msg += fmt.Sprintf(" (%d more found, the rest not checked)", p.dropped)
		case p.dropped > 0:
			msg += fmt.Sprintf(" (%d more not listed)", p.dropped)
		default:
			msg += " (the rest not checked)"
		}
		list = append(list, Problem{Pos: Pos{File: list[len(list)-1].File}, Msg: msg})
	}
	return &InvalidError{Problems: list}
}

// keyPath appends an object key to a JSON path. Keys that are not plain identifiers are quoted so that the
// path stays unambiguous ("process.env.set[\"A.B\"]").
func keyPath(parent, key string) string {
	plain := key != ""
	for _, c := range key {
		if !(c == '_' || c == '-' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			plain = false
			break
		}
	}
	if !plain {
		return parent + "[" + strconv.Quote(key) + "]"
	}
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func indexPath(parent string, i int) string {
	return parent + "[" + strconv.Itoa(i) + "]"
}
