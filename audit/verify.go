package audit

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// BreakError says where a chain is broken. Record is the 1-based line number of the first bad record;
// everything before it verified.
type BreakError struct {
	Record int
	Reason string
}

func (e *BreakError) Error() string { return fmt.Sprintf("record %d: %s", e.Record, e.Reason) }

// VerifyResult is what a successful Verify saw.
type VerifyResult struct {
	Records int
	// Head is the last record's hash: store it elsewhere (VerifyOptions.Anchor) to detect a later
	// truncation of the log, which a chain alone cannot reveal.
	Head string
	// AnchorFound: the anchor hash was found in the chain.
	AnchorFound bool
}

// VerifyOptions configure Verify.
type VerifyOptions struct {
	// Key must be the logger's Options.Key if it had one.
	Key []byte
	// Anchor, when set, must be the hash of some record in the chain (a head saved earlier); otherwise
	// Verify fails: records up to it were removed or rewritten.
	Anchor string
}

// Verify checks a whole audit log: every line is a complete record whose hash matches its content, whose
// seq follows the previous one and whose prev is the previous record's hash (Genesis for the first). It
// returns a *BreakError for the first record that fails, or an I/O error.
func Verify(r io.Reader, o VerifyOptions) (VerifyResult, error) {
	var res VerifyResult
	br := bufio.NewReaderSize(r, 64<<10)
	prev := Genesis
	var seq uint64
	for n := 1; ; n++ {
		line, err := readLine(br)
		if err == io.EOF && len(line) == 0 {
			break
		}
		brk := func(format string, a ...any) (VerifyResult, error) {
			return res, &BreakError{Record: n, Reason: fmt.Sprintf(format, a...)}
		}
		switch {
		case errors.Is(err, errTooLong):
			return brk("longer than %d bytes", maxLine)
		case err == io.EOF:
			return brk("incomplete (no newline): the file was cut inside this record")
		case err != nil:
			return res, err
		}
		body, sum, uerr := unseal(line)
		if uerr != nil {
			return brk("%v", uerr)
		}
		if digest(body, o.Key) != sum {
			if o.Key == nil {
				return brk("content does not match its hash: the record was edited (or the log is keyed: pass the key)")
			}
			return brk("content does not match its hash: the record was edited (or written with another key)")
		}
		var rec struct {
			V    *int   `json:"v"`
			Seq  uint64 `json:"seq"`
			Prev string `json:"prev"`
			Type string `json:"type"`
		}
		if err := json.Unmarshal(body, &rec); err != nil {
			return brk("not a JSON record: %v", err)
		}
		if rec.V == nil || *rec.V != SchemaVersion {
			return brk("unknown schema version")
		}
		if rec.Seq != seq+1 {
			return brk("seq %d, want %d: a record was removed or inserted before it", rec.Seq, seq+1)
		}
		if rec.Prev != prev {
			if n == 1 {
				return brk("the first record does not start from the genesis hash: the beginning of the log was removed")
			}
			return brk("prev does not match the hash of record %d: a record was replaced or the chain spliced", n-1)
		}
		if rec.Type == "" {
			return brk("no event type")
		}
		seq, prev = rec.Seq, sum
		res.Records, res.Head = n, sum
		if o.Anchor != "" && sum == o.Anchor {
			res.AnchorFound = true
		}
	}
	if o.Anchor != "" && !res.AnchorFound {
		return res, &BreakError{Record: res.Records + 1, Reason: fmt.Sprintf("anchor %s is not in the chain: the log was truncated or rewritten", o.Anchor)}
	}
	return res, nil
}

// maxLine bounds one record in Verify, so a corrupt file cannot make it use unbounded memory.
const maxLine = maxRecord

var errTooLong = errors.New("line too long")

// readLine returns the next line without its newline; io.EOF with a non-empty line means the last line
// had no newline.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > maxLine+1 {
			return nil, errTooLong
		}
		switch err {
		case nil:
			return line[:len(line)-1], nil
		case bufio.ErrBufferFull:
			continue
		default:
			return line, err
		}
	}
}
