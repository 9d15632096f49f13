package pulsestream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/oklog/ulid/v2"
)

// Event is one CloudEvent as the gateway takes it. Only Type is required:
// an empty ID is replaced by a generated ULID before the event is queued, so
// every retry of it carries the same id.
type Event struct {
	ID              string
	Type            string
	Source          string
	Subject         string
	Time            time.Time // zero: the gateway uses its receive time
	DataContentType string
	Data            any            // marshalled with encoding/json; a json.RawMessage is sent as is, unchecked
	Extensions      map[string]any // extension attributes (lower-case names; string, number or boolean values)

	// Meta is the caller's own value, returned in the event's Outcome and
	// never sent.
	Meta any
}

// ErrInvalidEvent wraps every reason Enqueue refuses an event before
// queueing it (no type, data that does not marshal, raw JSON that is not an
// object).
var ErrInvalidEvent = errors.New("invalid event")

// encode returns the event's JSON object, with id set (generated if empty).
// It appends the attributes by hand: json.Marshal would scan (compact) a
// json.RawMessage data twice, which was most of the client's CPU per event.
func (e *Event) encode(newID func() string) (id string, body []byte, err error) {
	if e.Type == "" {
		return "", nil, fmt.Errorf("%w: type is required", ErrInvalidEvent)
	}
	if id = e.ID; id == "" {
		id = newID()
	}
	var data, ext []byte
	switch d := e.Data.(type) {
	case nil:
	case json.RawMessage:
		data = d // as is: an invalid one is isolated by bisection and rejected with the gateway's code
	default:
		if data, err = json.Marshal(d); err != nil {
			return "", nil, fmt.Errorf("%w: data of %s: %v", ErrInvalidEvent, id, err)
		}
	}
	if len(e.Extensions) > 0 {
		if ext, err = json.Marshal(e.Extensions); err != nil {
			return "", nil, fmt.Errorf("%w: extensions of %s: %v", ErrInvalidEvent, id, err)
		}
	}
	b := make([]byte, 0, 128+len(id)+len(e.Type)+len(e.Source)+len(e.Subject)+len(e.DataContentType)+len(data)+len(ext))
	b = append(b, `{"specversion":"1.0","id":`...)
	b = appendString(b, id)
	b = appendString(append(b, `,"type":`...), e.Type)
	if e.Source != "" {
		b = appendString(append(b, `,"source":`...), e.Source)
	}
	if e.Subject != "" {
		b = appendString(append(b, `,"subject":`...), e.Subject)
	}
	if !e.Time.IsZero() {
		b = append(append(b, `,"time":"`...), e.Time.UTC().Format(time.RFC3339Nano)...)
		b = append(b, '"')
	}
	if e.DataContentType != "" {
		b = appendString(append(b, `,"datacontenttype":`...), e.DataContentType)
	}
	if len(data) > 0 {
		b = append(append(b, `,"data":`...), data...)
	}
	if len(ext) > 2 { // not "{}"
		b = append(append(b, ','), ext[1:len(ext)-1]...)
	}
	return id, append(b, '}'), nil
}

// appendString appends s as a JSON string: quotes, backslashes and control
// characters escaped, invalid UTF-8 replaced by U+FFFD (as encoding/json does).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c < utf8.RuneSelf {
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(append(b, s[start:i]...), `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	return append(append(b, s[start:]...), '"')
}

// NewID returns a new ULID string: unique, and sortable by creation time
// (monotonic within a millisecond in one process).
func NewID() string { return ulid.Make().String() }

// rawID reads the top-level "id" of a JSON object, and whether raw is one.
func rawID(raw []byte) (id string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return "", fmt.Errorf("%w: not a JSON object", ErrInvalidEvent)
	}
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	switch string(head.ID) {
	case "":
		return "", nil
	case "null":
		return "", fmt.Errorf("%w: id is null", ErrInvalidEvent)
	}
	if err := json.Unmarshal(head.ID, &id); err != nil {
		// Not a string: the gateway rejects it with its own code; send it
		// as is so that the rejection is the gateway's.
		return string(head.ID), nil
	}
	return id, nil
}

// withID returns raw (a JSON object without an id) with "id" as its first member.
func withID(raw []byte, id string) []byte {
	raw = bytes.TrimSpace(raw)
	q, _ := json.Marshal(id)
	out := make([]byte, 0, len(raw)+len(q)+8)
	out = append(out, `{"id":`...)
	out = append(out, q...)
	rest := bytes.TrimSpace(raw[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}
