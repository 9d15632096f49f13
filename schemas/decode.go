package schemas

import (
	"encoding/json"
	"time"
	"unicode/utf8"
)

// decodeEventV1 decodes the version 1 JSON value of an event record into
// ev exactly as json.Unmarshal would (same verdict, same Event): values
// in the shape appendEvent writes take the fast path below, anything else
// (escaped strings, unknown, repeated or differently-cased names,
// extensions, null, ...) is left to encoding/json.
// FuzzDecodeEventMatchesEncodingJSON checks the agreement.
func decodeEventV1(data []byte, ev *Event) error {
	if fastEvent(data, ev) {
		return nil
	}
	*ev = Event{}
	return json.Unmarshal(data, ev)
}

// eventParser reads one event value. The string fields are substrings of
// one copy of the value (str), so an event costs three allocations: the
// Event, that copy and the copy of its data.
type eventParser struct {
	b    []byte
	i    int
	str  string
	seen uint32 // fields already read (a repeated name goes to encoding/json)
}

// fastEvent decodes data into ev if it is a JSON object in the writer's
// vocabulary, and reports whether it did; false says nothing about
// validity.
func fastEvent(data []byte, ev *Event) bool {
	p := eventParser{b: data}
	if !p.skipSpace() || p.b[p.i] != '{' {
		return false
	}
	p.i++
	for {
		name, ok := p.name()
		if !ok || !p.field(name, ev) || !p.skipSpace() {
			return false
		}
		switch p.b[p.i] {
		case ',':
			p.i++
		case '}':
			p.i++
			return !p.skipSpace()
		default:
			return false
		}
	}
}

// skipSpace skips JSON whitespace and reports whether input remains.
func (p *eventParser) skipSpace() bool { return skipSpace(p.b, &p.i) }

// name reads `"name":` and returns the name if it needs no unescaping.
func (p *eventParser) name() ([]byte, bool) {
	if !p.skipSpace() || p.b[p.i] != '"' {
		return nil, false
	}
	start, end, ok := p.plainString()
	if !ok || !p.skipSpace() || p.b[p.i] != ':' {
		return nil, false
	}
	p.i++
	return p.b[start:end], p.skipSpace()
}

// plainString reads a JSON string at p.i that needs no unescaping and is
// valid UTF-8, and returns the bounds of its contents.
func (p *eventParser) plainString() (start, end int, ok bool) {
	start = p.i + 1
	ascii := true
	for i := start; i < len(p.b); i++ {
		if plainASCII[p.b[i]] {
			continue
		}
		switch c := p.b[i]; {
		case c == '"':
			if !ascii && !utf8.Valid(p.b[start:i]) {
				return 0, 0, false // encoding/json turns invalid bytes into U+FFFD
			}
			p.i = i + 1
			return start, i, true
		case c == '\\' || c < 0x20:
			return 0, 0, false
		default:
			ascii = false
		}
	}
	return 0, 0, false
}

// plainASCII marks the bytes a JSON string holds as they are: ASCII but
// control characters, the quote and the backslash.
var plainASCII = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// field reads the value of the field called name into ev.
func (p *eventParser) field(name []byte, ev *Event) bool {
	n, s := eventField(name, ev)
	if n < 0 || p.seen&(1<<n) != 0 {
		return false
	}
	p.seen |= 1 << n
	switch {
	case s != nil:
		return p.string(s)
	case n == 0:
		return p.version(ev)
	case n == 1:
		return p.time(&ev.ReceivedAt)
	case n == 2:
		return p.time(&ev.Time)
	default:
		return p.data(ev)
	}
}

// eventField numbers the field of Event called name (-1: no such name) and
// returns it if it is a string.
func eventField(name []byte, ev *Event) (int, *string) {
	switch string(name) {
	case "v":
		return 0, nil
	case "received_at":
		return 1, nil
	case "time":
		return 2, nil
	case "data":
		return 3, nil
	case "tenant_id":
		return 4, &ev.TenantID
	case "ingest_id":
		return 5, &ev.IngestID
	case "content_hash":
		return 6, &ev.ContentHash
	case "id":
		return 7, &ev.ID
	case "type":
		return 8, &ev.Type
	case "source":
		return 9, &ev.Source
	case "subject":
		return 10, &ev.Subject
	case "datacontenttype":
		return 11, &ev.DataContentType
	case "dataschema":
		return 12, &ev.DataSchema
	case "data_base64":
		return 13, &ev.DataBase64
	}
	return -1, nil
}

// version reads the only version this decoder knows: 1.
func (p *eventParser) version(ev *Event) bool {
	if p.b[p.i] != '1' || (p.i+1 < len(p.b) && (isDigit(p.b[p.i+1]) || p.b[p.i+1] == '.' || p.b[p.i+1]|0x20 == 'e')) {
		return false
	}
	p.i++
	ev.Version = 1
	return true
}

// string reads a plain JSON string into *s, sharing one copy of the value.
func (p *eventParser) string(s *string) bool {
	if p.b[p.i] != '"' {
		return false
	}
	start, end, ok := p.plainString()
	if !ok {
		return false
	}
	if p.str == "" {
		p.str = string(p.b)
	}
	*s = p.str[start:end]
	return true
}

// time reads a string with time.Time's own JSON decoder, as encoding/json
// does; an error is left to encoding/json.
func (p *eventParser) time(t *time.Time) bool {
	start := p.i
	if p.b[p.i] != '"' {
		return false
	}
	if _, _, ok := p.plainString(); !ok {
		return false
	}
	return t.UnmarshalJSON(p.b[start:p.i]) == nil
}

// data reads any JSON value but null and keeps a copy of its bytes, as
// json.RawMessage does.
func (p *eventParser) data(ev *Event) bool {
	start := p.i
	if p.b[p.i] == 'n' || !validValue(p.b, &p.i, 0) {
		return false
	}
	ev.Data = append(json.RawMessage(nil), p.b[start:p.i]...)
	return true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
