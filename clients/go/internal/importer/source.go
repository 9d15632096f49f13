package importer

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
)

// record is one event of the input: its 1-based line (NDJSON) or element
// (JSON array) number, and its bytes.
type record struct {
	no    int64
	raw   []byte
	blank bool // an empty NDJSON line: counted, not sent
}

// reader yields the records of one input, NDJSON (one event per line) or a
// JSON array of events (application/cloudevents-batch+json), told apart by
// the first byte that is not white space.
type reader struct {
	br    *bufio.Reader
	dec   *json.Decoder // array mode
	no    int64
	read  func() (record, error)
	count *countingReader
}

// countingReader counts the bytes read (for the progress bar).
type countingReader struct {
	r io.Reader
	n atomic.Int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

func newReader(r io.Reader) (*reader, error) {
	cr := &countingReader{r: r}
	rd := &reader{br: bufio.NewReaderSize(cr, 1<<20), count: cr}
	first, err := rd.firstByte()
	switch {
	case errors.Is(err, io.EOF):
		rd.read = func() (record, error) { return record{}, io.EOF }
	case err != nil:
		return nil, err
	case first == '[':
		rd.dec = json.NewDecoder(rd.br)
		if _, err := rd.dec.Token(); err != nil {
			return nil, err
		}
		rd.read = rd.element
	default:
		rd.read = rd.line
	}
	return rd, nil
}

func (rd *reader) firstByte() (byte, error) {
	for {
		b, err := rd.br.Peek(1)
		if err != nil {
			return 0, err
		}
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			if rd.dec == nil && b[0] == '\n' {
				// leading blank lines of NDJSON still count as lines
				return '\n', nil
			}
			_, _ = rd.br.ReadByte()
		default:
			return b[0], nil
		}
	}
}

// line reads the next NDJSON line.
func (rd *reader) line() (record, error) {
	raw, err := rd.br.ReadBytes('\n')
	if len(raw) == 0 && err != nil {
		return record{}, err
	}
	if err != nil && !errors.Is(err, io.EOF) {
		return record{}, err
	}
	rd.no++
	raw = bytes.TrimSpace(raw)
	return record{no: rd.no, raw: raw, blank: len(raw) == 0}, nil
}

// element reads the next element of the JSON array.
func (rd *reader) element() (record, error) {
	if !rd.dec.More() {
		if _, err := rd.dec.Token(); err != nil { // the closing ']'
			return record{}, fmt.Errorf("after element %d: %w", rd.no, err)
		}
		return record{}, io.EOF
	}
	var raw json.RawMessage
	if err := rd.dec.Decode(&raw); err != nil {
		return record{}, fmt.Errorf("element %d of the JSON array (byte %d): %w", rd.no+1, rd.dec.InputOffset(), err)
	}
	rd.no++
	return record{no: rd.no, raw: raw}, nil
}

// stableID is the id given to an event that has none: the input's
// namespace, the record number and a hash of the record's bytes. Re-reading
// the same input yields the same ids, so a resumed or repeated import is
// answered "duplicate" for what the gateway already took; identical records
// on different lines stay different events.
func stableID(namespace string, no int64, raw []byte) string {
	sum := sha256.Sum256(raw)
	return namespace + ":" + strconv.FormatInt(no, 10) + ":" + hex.EncodeToString(sum[:8])
}
