package policy

import "encoding/json"

// fastTree parses a well-formed policy document into the same tree parseTree builds, without
// encoding/json's token stream (a token is an interface value, and the stream re-scans every byte: most of
// a cold CLI run's policy parse). It accepts only what needs no problem report: one JSON object and
// nothing after it, within MaxDepth and MaxValues, no duplicate keys. Anything else — any syntax error
// included — makes it return nil, and parseTree parses again the careful way, which says what is wrong and
// where. A fuzz test holds the two to the same tree for every input fastTree accepts, and to fastTree
// accepting every input parseTree finds no problem in.
func fastTree(data []byte, lines *lineIndex) *node {
	fp := &fastParser{data: data, lines: lines}
	fp.space()
	if fp.off >= len(data) || data[fp.off] != '{' {
		return nil
	}
	root := fp.value(0)
	if root == nil {
		return nil
	}
	fp.space()
	if fp.off != len(data) {
		return nil
	}
	return root
}

type fastParser struct {
	data   []byte
	off    int
	values int
	lines  *lineIndex
}

// space skips JSON's white space (RFC 8259: space, tab, line feed, carriage return).
func (fp *fastParser) space() {
	for fp.off < len(fp.data) {
		switch fp.data[fp.off] {
		case ' ', '\t', '\n', '\r':
			fp.off++
		default:
			return
		}
	}
}

// value parses the value at fp.off (white space already skipped); nil when the input needs parseTree.
func (fp *fastParser) value(depth int) *node {
	if fp.values++; fp.values > MaxValues || fp.off >= len(fp.data) {
		return nil
	}
	n := &node{pos: fp.lines.pos(fp.off)}
	switch c := fp.data[fp.off]; {
	case c == '{':
		if depth >= MaxDepth {
			return nil
		}
		n.kind = kindObject
		fp.off++
		fp.space()
		if fp.off < len(fp.data) && fp.data[fp.off] == '}' {
			fp.off++
			return n
		}
		for {
			if fp.off >= len(fp.data) || fp.data[fp.off] != '"' {
				return nil
			}
			kpos := fp.lines.pos(fp.off)
			key, ok := fp.string()
			if !ok {
				return nil
			}
			for _, m := range n.obj {
				if m.key == key {
					return nil // a duplicate: parseTree reports it
				}
			}
			fp.space()
			if fp.off >= len(fp.data) || fp.data[fp.off] != ':' {
				return nil
			}
			fp.off++
			fp.space()
			val := fp.value(depth + 1)
			if val == nil {
				return nil
			}
			n.obj = append(n.obj, member{key: key, keyPos: kpos, val: val})
			if end, ok := fp.next('}'); !ok {
				return nil
			} else if end {
				return n
			}
		}
	case c == '[':
		if depth >= MaxDepth {
			return nil
		}
		n.kind = kindArray
		fp.off++
		fp.space()
		if fp.off < len(fp.data) && fp.data[fp.off] == ']' {
			fp.off++
			return n
		}
		for {
			el := fp.value(depth + 1)
			if el == nil {
				return nil
			}
			n.arr = append(n.arr, el)
			if end, ok := fp.next(']'); !ok {
				return nil
			} else if end {
				return n
			}
		}
	case c == '"':
		s, ok := fp.string()
		if !ok {
			return nil
		}
		n.kind, n.str = kindString, s
	case c == '-' || (c >= '0' && c <= '9'):
		s, ok := fp.number()
		if !ok {
			return nil
		}
		n.kind, n.str = kindNumber, s
	case fp.literal("true"):
		n.kind, n.b = kindBool, true
	case fp.literal("false"):
		n.kind = kindBool
	case fp.literal("null"):
		n.kind = kindNull
	default:
		return nil
	}
	return n
}

// next consumes what follows a member or element: a ',' (and the white space after it), or the closing
// bracket (end). ok is false for anything else.
func (fp *fastParser) next(closing byte) (end, ok bool) {
	fp.space()
	if fp.off >= len(fp.data) {
		return false, false
	}
	switch fp.data[fp.off] {
	case ',':
		fp.off++
		fp.space()
		return false, true
	case closing:
		fp.off++
		return true, true
	}
	return false, false
}

// literal consumes word if the input continues with it.
func (fp *fastParser) literal(word string) bool {
	if len(fp.data)-fp.off < len(word) || string(fp.data[fp.off:fp.off+len(word)]) != word {
		return false
	}
	fp.off += len(word)
	return true
}

// string consumes a string literal at fp.off. Without escapes its text is the value (parseTree has
// checked that the file is valid UTF-8); with escapes encoding/json decodes the literal, so both parsers
// give the same value by construction.
func (fp *fastParser) string() (string, bool) {
	start := fp.off
	escaped := false
	for i := start + 1; i < len(fp.data); i++ {
		switch c := fp.data[i]; {
		case c == '\\':
			escaped = true
			i++ // the escaped byte cannot end the string
		case c == '"':
			fp.off = i + 1
			if !escaped {
				return string(fp.data[start+1 : i]), true
			}
			var s string
			if json.Unmarshal(fp.data[start:i+1], &s) != nil {
				return "", false
			}
			return s, true
		case c < 0x20:
			return "", false // a control character must be escaped
		}
	}
	return "", false
}

// number consumes a number with JSON's grammar (-? int frac? exp?) and returns its text, which is what
// json.Decoder gives with UseNumber.
func (fp *fastParser) number() (string, bool) {
	d, i := fp.data, fp.off
	digits := func() bool {
		j := i
		for i < len(d) && d[i] >= '0' && d[i] <= '9' {
			i++
		}
		return i > j
	}
	if i < len(d) && d[i] == '-' {
		i++
	}
	switch {
	case i < len(d) && d[i] == '0':
		i++
	case i < len(d) && d[i] >= '1' && d[i] <= '9':
		digits()
	default:
		return "", false
	}
	if i < len(d) && d[i] == '.' {
		i++
		if !digits() {
			return "", false
		}
	}
	if i < len(d) && (d[i] == 'e' || d[i] == 'E') {
		i++
		if i < len(d) && (d[i] == '+' || d[i] == '-') {
			i++
		}
		if !digits() {
			return "", false
		}
	}
	// A number runs into whatever follows it only through a syntax error (e.g. "01", "1x"): the caller sees
	// that byte and gives up.
	s := string(d[fp.off:i])
	fp.off = i
	return s, true
}
