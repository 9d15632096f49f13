package decode

import (
	"sync"
	"unicode/utf8"

	"github.com/pulsestream/pulsestream/schemas/jsonwalk"
)

// scanBody is the hot path's one pass over a request body: it accepts the
// body only when it is one JSON value (JSON white space around it), valid
// UTF-8 and nested at most maxDepth deep, i.e. exactly when checkText finds
// nothing and json.Valid accepts the trimmed body. It returns the value and,
// when the value is an array, its elements (sub-slices of body), and the
// top-level members of every event object (the value itself, or each
// element), so no event is walked a second time to find its attributes.
// On anything else it returns ok == false and the caller takes the slow
// path, which finds and words the problem as before: this scanner never
// writes an error itself. FuzzScanBodyAgreesWithTheChecksItReplaces holds
// the two to the same verdict, the same split and the same members.
func scanBody(body []byte, maxDepth int, ms []member) (sc scanned, ok bool) {
	s := scanner{b: body, max: maxDepth, evDepth: 1, ms: ms}
	start := s.space(0)
	if start >= len(body) {
		return scanned{ms: s.ms}, false
	}
	var end int
	if body[start] == '[' {
		s.evDepth = 2
		end, ok = s.array(start)
	} else {
		end, ok = s.value(start, 0)
		s.noSpan(0)
	}
	if !ok || s.space(end) != len(body) {
		return scanned{ms: s.ms}, false
	}
	return scanned{val: body[start:end], elems: s.elems, ms: s.ms, spans: s.spans, recorded: true}, true
}

// maxRecorded is the most members recorded of one event: an event with
// more (hostile, or far beyond the CloudEvents attributes) is split again
// by decodeEvent, after its size check, so recording stays proportional to
// the events that can be valid.
const maxRecorded = 64

// scanned is a body split into events: val, its elements when it is an
// array, and the top-level members of each event object.
type scanned struct {
	val      []byte
	elems    [][]byte
	ms       []member // all recorded members, in order
	spans    []span   // per event (val alone, or each element)
	recorded bool     // spans were recorded (the scanner's path)
}

// span is where an event's members are in ms; lo < 0: not recorded.
type span struct{ lo, hi int32 }

// memberBufs holds the scanner's member slices between requests.
var memberBufs = sync.Pool{New: func() any { return new([]member) }}

// scanPooled is scanBody with a pooled member slice; release gives it back
// (call it once the members are no longer used).
func scanPooled(body []byte, maxDepth int) (sc scanned, ok bool, release func()) {
	bp := memberBufs.Get().(*[]member)
	sc, ok = scanBody(body, maxDepth, (*bp)[:0])
	return sc, ok, func() {
		clear(sc.ms) // keep no request's body alive through the pool
		if cap(sc.ms) <= 1<<16 {
			*bp = sc.ms[:0]
			memberBufs.Put(bp)
		}
	}
}

// members of event k; ok false when not recorded (not an object, or too
// many members).
func (sc *scanned) members(k int) ([]member, bool) {
	if !sc.recorded || sc.spans[k].lo < 0 {
		return nil, false
	}
	return sc.ms[sc.spans[k].lo:sc.spans[k].hi], true
}

type scanner struct {
	b       []byte
	max     int
	evDepth int // the nesting depth of event objects: 1 a lone event, 2 in a batch
	elems   [][]byte
	ms      []member
	spans   []span
}

// noSpan marks the event whose span would be the n-th as not recorded
// when the scan of its value did not record one (not an object).
func (s *scanner) noSpan(n int) {
	if len(s.spans) == n {
		s.spans = append(s.spans, span{-1, -1})
	}
}

func (s *scanner) space(i int) int {
	for i < len(s.b) && jsonwalk.IsSpace(s.b[i]) {
		i++
	}
	return i
}

// array scans the top-level array at i, collecting its elements.
func (s *scanner) array(i int) (int, bool) {
	if s.max < 1 {
		return 0, false
	}
	i = s.space(i + 1)
	if i < len(s.b) && s.b[i] == ']' {
		return i + 1, true
	}
	for {
		end, ok := s.value(i, 1)
		if !ok {
			return 0, false
		}
		s.noSpan(len(s.elems))
		s.elems = append(s.elems, s.b[i:end])
		i = s.space(end)
		if i >= len(s.b) {
			return 0, false
		}
		switch s.b[i] {
		case ',':
			i = s.space(i + 1)
		case ']':
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// value scans the value at i, inside depth enclosing containers, and
// returns the index just past it.
func (s *scanner) value(i, depth int) (int, bool) {
	if i >= len(s.b) {
		return 0, false
	}
	switch c := s.b[i]; {
	case c == '"':
		return s.str(i)
	case c == '{' || c == '[':
		return s.container(i, depth+1)
	case c == 't':
		return s.literal(i, "true")
	case c == 'f':
		return s.literal(i, "false")
	case c == 'n':
		return s.literal(i, "null")
	case c == '-' || c >= '0' && c <= '9':
		return s.number(i)
	}
	return 0, false
}

// container scans the object or array at i, the depth-th level of nesting.
func (s *scanner) container(i, depth int) (int, bool) {
	if depth > s.max {
		return 0, false
	}
	obj := s.b[i] == '{'
	event := obj && depth == s.evDepth // record its members
	lo := len(s.ms)
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = s.space(i + 1)
	if i < len(s.b) && s.b[i] == closer {
		if event {
			s.spans = append(s.spans, span{int32(lo), int32(lo)})
		}
		return i + 1, true
	}
	for {
		var ok bool
		kStart, kEnd := i, i
		if obj {
			if i >= len(s.b) || s.b[i] != '"' {
				return 0, false
			}
			if i, ok = s.str(i); !ok {
				return 0, false
			}
			kEnd = i
			i = s.space(i)
			if i >= len(s.b) || s.b[i] != ':' {
				return 0, false
			}
			i = s.space(i + 1)
		}
		val := i
		if i, ok = s.value(i, depth); !ok {
			return 0, false
		}
		if event {
			event = s.record(lo, s.b[kStart:kEnd], s.b[val:i])
		}
		i = s.space(i)
		if i >= len(s.b) {
			return 0, false
		}
		switch s.b[i] {
		case ',':
			i = s.space(i + 1)
		case closer:
			if event {
				s.spans = append(s.spans, span{int32(lo), int32(len(s.ms))})
			}
			return i + 1, true
		default:
			return 0, false
		}
	}
}

// record appends the member key: val of the event whose members start at
// lo, and reports whether the event is still recorded: past maxRecorded
// members its members are dropped and its span is left to noSpan.
func (s *scanner) record(lo int, key, val []byte) bool {
	if len(s.ms)-lo >= maxRecorded {
		s.ms = s.ms[:lo]
		return false
	}
	s.ms = append(s.ms, member{key: unquoteKey(key), val: val})
	return true
}

// str scans the string at i (s.b[i] == '"'): no control characters, valid
// escapes, valid UTF-8.
func (s *scanner) str(i int) (int, bool) {
	b := s.b
	for i++; i < len(b); {
		c := b[i]
		switch {
		case c == '"':
			return i + 1, true
		case c == '\\':
			if i+1 >= len(b) {
				return 0, false
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
					return 0, false
				}
				i += 6
			default:
				return 0, false
			}
		case c < 0x20:
			return 0, false
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				return 0, false
			}
			i += n
		}
	}
	return 0, false
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (s *scanner) literal(i int, lit string) (int, bool) {
	if len(s.b)-i < len(lit) || string(s.b[i:i+len(lit)]) != lit {
		return 0, false
	}
	return i + len(lit), true
}

// number scans -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? at i.
func (s *scanner) number(i int) (int, bool) {
	b := s.b
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = s.digits(i)
	default:
		return 0, false
	}
	if i < len(b) && b[i] == '.' {
		if i+1 >= len(b) || !isDigit(b[i+1]) {
			return 0, false
		}
		i = s.digits(i + 1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return 0, false
		}
		i = s.digits(i)
	}
	return i, true
}

func (s *scanner) digits(i int) int {
	for i < len(s.b) && isDigit(s.b[i]) {
		i++
	}
	return i
}
