package decode

import "unicode/utf8"

// scanBody is the hot path's one pass over a request body: it accepts the
// body only when it is one JSON value (JSON white space around it), valid
// UTF-8 and nested at most maxDepth deep, i.e. exactly when checkText finds
// nothing and json.Valid accepts the trimmed body. It returns the value and,
// when the value is an array, its elements (sub-slices of body, appended to
// elems). On anything else it returns ok == false and the caller takes the
// slow path, which finds and words the problem as before: this scanner
// never writes an error itself. FuzzScanBodyAgreesWithTheChecksItReplaces
// holds the two to the same verdict and the same split.
func scanBody(body []byte, maxDepth int, elems [][]byte) (val []byte, out [][]byte, ok bool) {
	s := scanner{b: body, max: maxDepth}
	start := s.space(0)
	if start >= len(body) {
		return nil, nil, false
	}
	var end int
	if body[start] == '[' {
		end, out, ok = s.array(start, elems)
	} else {
		end, ok = s.value(start, 0)
	}
	if !ok || s.space(end) != len(body) {
		return nil, nil, false
	}
	return body[start:end], out, true
}

type scanner struct {
	b   []byte
	max int
}

func (s *scanner) space(i int) int {
	for i < len(s.b) && isSpace(s.b[i]) {
		i++
	}
	return i
}

// array scans the top-level array at i, collecting its elements.
func (s *scanner) array(i int, elems [][]byte) (int, [][]byte, bool) {
	if s.max < 1 {
		return 0, nil, false
	}
	i = s.space(i + 1)
	if i < len(s.b) && s.b[i] == ']' {
		return i + 1, elems, true
	}
	for {
		end, ok := s.value(i, 1)
		if !ok {
			return 0, nil, false
		}
		elems = append(elems, s.b[i:end])
		i = s.space(end)
		if i >= len(s.b) {
			return 0, nil, false
		}
		switch s.b[i] {
		case ',':
			i = s.space(i + 1)
		case ']':
			return i + 1, elems, true
		default:
			return 0, nil, false
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
	closer := byte(']')
	if obj {
		closer = '}'
	}
	i = s.space(i + 1)
	if i < len(s.b) && s.b[i] == closer {
		return i + 1, true
	}
	for {
		var ok bool
		if obj {
			if i >= len(s.b) || s.b[i] != '"' {
				return 0, false
			}
			if i, ok = s.str(i); !ok {
				return 0, false
			}
			i = s.space(i)
			if i >= len(s.b) || s.b[i] != ':' {
				return 0, false
			}
			i = s.space(i + 1)
		}
		if i, ok = s.value(i, depth); !ok {
			return 0, false
		}
		i = s.space(i)
		if i >= len(s.b) {
			return 0, false
		}
		switch s.b[i] {
		case ',':
			i = s.space(i + 1)
		case closer:
			return i + 1, true
		default:
			return 0, false
		}
	}
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
