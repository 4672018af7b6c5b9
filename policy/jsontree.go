package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"unicode/utf8"
)

// The policy decoder works on a small syntax tree instead of json.Unmarshal because encoding/json silently
// keeps the last of two duplicate keys, ignores trailing data when streaming, and forgets where a value was
// written; a policy error must point at a line and column.

type nodeKind int

const (
	kindNull nodeKind = iota
	kindBool
	kindNumber
	kindString
	kindObject
	kindArray
)

func (k nodeKind) String() string {
	switch k {
	case kindNull:
		return "null"
	case kindBool:
		return "a boolean"
	case kindNumber:
		return "a number"
	case kindString:
		return "a string"
	case kindObject:
		return "an object"
	case kindArray:
		return "an array"
	}
	return "?"
}

// Pos is where a value was written: file, 1-based line and 1-based column (in bytes).
type Pos struct {
	File      string
	Line, Col int
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

type member struct {
	key    string
	keyPos Pos
	val    *node
}

type node struct {
	kind nodeKind
	pos  Pos
	str  string // string value, or the literal text of a number
	b    bool
	obj  []member
	arr  []*node
}

// member returns the value of key in an object node, or nil.
func (n *node) member(key string) *node {
	for _, m := range n.obj {
		if m.key == key {
			return m.val
		}
	}
	return nil
}

// Hard caps against hostile policy files. The size cap bounds every allocation the parser makes; the depth
// cap bounds recursion. A real policy is a few KiB deep at most 6 levels.
const (
	MaxFileSize = 1 << 20
	MaxDepth    = 16
	// MaxValues bounds the syntax tree: a 1 MiB file of "0," would otherwise be half a million nodes.
	// The largest real policies have a few thousand values.
	MaxValues = 100000
)

// lineIndex converts byte offsets to line:column.
type lineIndex struct {
	file   string
	starts []int
}

func newLineIndex(file string, data []byte) *lineIndex {
	li := &lineIndex{file: file, starts: []int{0}}
	for i, c := range data {
		if c == '\n' {
			li.starts = append(li.starts, i+1)
		}
	}
	return li
}

func (li *lineIndex) pos(off int) Pos {
	lo, hi := 0, len(li.starts)-1
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if li.starts[mid] <= off {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return Pos{File: li.file, Line: lo + 1, Col: off - li.starts[lo] + 1}
}

type treeParser struct {
	values int
	data   []byte
	dec    *json.Decoder
	lines  *lineIndex
	errs   *problems
}

// errStop aborts parsing after a syntax error has been recorded; JSON syntax errors cannot be recovered
// from, so they are the only ones that end the report early.
var errStop = errors.New("stop")

// parseTree parses data into a tree. It records problems in errs and returns nil if the document is not a
// single well-formed JSON object within the caps.
func parseTree(data []byte, file string, errs *problems) *node {
	lines := newLineIndex(file, data)
	if len(data) > MaxFileSize {
		errs.addAt(lines.pos(0), "", fmt.Sprintf("the file is %d bytes, over the limit of %d bytes (1 MiB)", len(data), MaxFileSize))
		return nil
	}
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		errs.addAt(lines.pos(off), "", "the file is not valid UTF-8")
		return nil
	}
	if bytes.HasPrefix(data, []byte("\xef\xbb\xbf")) {
		errs.addAt(lines.pos(0), "", "the file starts with a byte order mark; remove it")
		return nil
	}
	if len(bytes.TrimSpace(data)) == 0 {
		errs.addAt(lines.pos(0), "", "the file is empty (a policy is a JSON object with at least \"version\": 1)")
		return nil
	}
	if root := fastTree(data, lines); root != nil {
		return root
	}
	return parseTokens(data, lines, errs)
}

// parseTokens is parseTree's careful path, on encoding/json's token stream: every problem is recorded
// with its position. fastTree hands it every input it does not accept.
func parseTokens(data []byte, lines *lineIndex, errs *problems) *node {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tp := &treeParser{data: data, dec: dec, lines: lines, errs: errs}
	root, err := tp.value(0, "")
	if err != nil {
		return nil
	}
	if root.kind != kindObject {
		errs.addAt(root.pos, "", fmt.Sprintf("a policy must be a JSON object, not %s", root.kind))
		return nil
	}
	// Anything after the object, even another valid value, is an error: a concatenated file is a mistake.
	start := tp.nextStart()
	if _, err := dec.Token(); err != io.EOF {
		errs.addAt(lines.pos(start), "", "unexpected data after the policy object")
		return nil
	}
	return root
}

// nextStart is the offset where the next token begins: the decoder's offset is the end of the last token,
// and Token skips white space and the ',' and ':' separators itself.
func (tp *treeParser) nextStart() int {
	off := int(tp.dec.InputOffset())
	for off < len(tp.data) {
		switch tp.data[off] {
		case ' ', '\t', '\n', '\r', ',', ':':
			off++
			continue
		}
		break
	}
	return off
}

func (tp *treeParser) token() (json.Token, Pos, error) {
	start := tp.nextStart()
	tok, err := tp.dec.Token()
	if err != nil {
		var se *json.SyntaxError
		switch {
		case errors.As(err, &se):
			off := int(se.Offset) - 1
			if off < start {
				off = start
			}
			if off > len(tp.data) {
				off = len(tp.data)
			}
			msg := "invalid JSON: " + se.Error()
			if off < len(tp.data) && tp.data[off] == '/' {
				msg += " (JSON has no comments; use a \"description\" or \"comment\" field)"
			}
			tp.errs.addAt(tp.lines.pos(off), "", msg)
		case err == io.EOF || errors.Is(err, io.ErrUnexpectedEOF):
			tp.errs.addAt(tp.lines.pos(len(tp.data)), "", "invalid JSON: unexpected end of file")
		default:
			tp.errs.addAt(tp.lines.pos(start), "", "invalid JSON: "+err.Error())
		}
		return nil, Pos{}, errStop
	}
	return tok, tp.lines.pos(start), nil
}

func (tp *treeParser) value(depth int, path string) (*node, error) {
	tok, pos, err := tp.token()
	if err != nil {
		return nil, err
	}
	return tp.valueFrom(tok, pos, depth, path)
}

func (tp *treeParser) valueFrom(tok json.Token, pos Pos, depth int, path string) (*node, error) {
	if tp.values++; tp.values > MaxValues {
		tp.errs.addAt(pos, path, fmt.Sprintf("more than %d JSON values in one policy", MaxValues))
		return nil, errStop
	}
	n := &node{pos: pos}
	switch t := tok.(type) {
	case nil:
		n.kind = kindNull
	case bool:
		n.kind, n.b = kindBool, t
	case json.Number:
		n.kind, n.str = kindNumber, string(t)
	case string:
		n.kind, n.str = kindString, t
	case json.Delim:
		if depth >= MaxDepth {
			tp.errs.addAt(pos, path, fmt.Sprintf("nesting deeper than %d levels", MaxDepth))
			return nil, errStop
		}
		switch t {
		case '{':
			n.kind = kindObject
			seen := map[string]Pos{}
			for {
				tok, kpos, err := tp.token()
				if err != nil {
					return nil, err
				}
				if d, ok := tok.(json.Delim); ok && d == '}' {
					return n, nil
				}
				key, _ := tok.(string) // the decoder guarantees a string key here
				val, err := tp.value(depth+1, keyPath(path, key))
				if err != nil {
					return nil, err
				}
				if first, dup := seen[key]; dup {
					tp.errs.addAt(kpos, keyPath(path, key), fmt.Sprintf("duplicate key (first at line %d:%d)", first.Line, first.Col))
					continue
				}
				seen[key] = kpos
				n.obj = append(n.obj, member{key: key, keyPos: kpos, val: val})
			}
		case '[':
			n.kind = kindArray
			for {
				tok, epos, err := tp.token()
				if err != nil {
					return nil, err
				}
				if d, ok := tok.(json.Delim); ok && d == ']' {
					return n, nil
				}
				el, err := tp.valueFrom(tok, epos, depth+1, indexPath(path, len(n.arr)))
				if err != nil {
					return nil, err
				}
				n.arr = append(n.arr, el)
			}
		}
	}
	return n, nil
}
