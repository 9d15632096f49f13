package schemas

// validValue reads one JSON value at b[*i] (no leading whitespace) and
// reports whether it is valid by the same grammar as encoding/json's
// scanner (RFC 8259; any bytes but control characters inside strings).
// Nesting deeper than maxFastDepth reports false (encoding/json decides).
func validValue(b []byte, i *int, depth int) bool {
	if *i >= len(b) {
		return false
	}
	switch c := b[*i]; {
	case c == '{':
		return depth < maxFastDepth && validObject(b, i, depth+1)
	case c == '[':
		return depth < maxFastDepth && validArray(b, i, depth+1)
	case c == '"':
		return validString(b, i)
	case c == '-' || isDigit(c):
		return validNumber(b, i)
	case c == 't':
		return literal(b, i, "true")
	case c == 'f':
		return literal(b, i, "false")
	case c == 'n':
		return literal(b, i, "null")
	}
	return false
}

// maxFastDepth is well below encoding/json's own limit (10000).
const maxFastDepth = 1000

func skipSpace(b []byte, i *int) bool {
	for *i < len(b) {
		switch b[*i] {
		case ' ', '\t', '\n', '\r':
			*i++
		default:
			return true
		}
	}
	return false
}

func literal(b []byte, i *int, lit string) bool {
	if len(b)-*i < len(lit) || string(b[*i:*i+len(lit)]) != lit {
		return false
	}
	*i += len(lit)
	return true
}

// validObject reads {} or {"name": value, ...}.
func validObject(b []byte, i *int, depth int) bool {
	*i++
	if !skipSpace(b, i) {
		return false
	}
	if b[*i] == '}' {
		*i++
		return true
	}
	for {
		if b[*i] != '"' || !validString(b, i) || !skipSpace(b, i) || b[*i] != ':' {
			return false
		}
		*i++
		if !skipSpace(b, i) || !validValue(b, i, depth) || !skipSpace(b, i) {
			return false
		}
		switch b[*i] {
		case ',':
			*i++
			if !skipSpace(b, i) {
				return false
			}
		case '}':
			*i++
			return true
		default:
			return false
		}
	}
}

// validArray reads [] or [value, ...].
func validArray(b []byte, i *int, depth int) bool {
	*i++
	if !skipSpace(b, i) {
		return false
	}
	if b[*i] == ']' {
		*i++
		return true
	}
	for {
		if !validValue(b, i, depth) || !skipSpace(b, i) {
			return false
		}
		switch b[*i] {
		case ',':
			*i++
			if !skipSpace(b, i) {
				return false
			}
		case ']':
			*i++
			return true
		default:
			return false
		}
	}
}

// validString reads a string: no control characters, only JSON's escapes.
func validString(b []byte, i *int) bool {
	for j := *i + 1; j < len(b); j++ {
		switch c := b[j]; {
		case c == '"':
			*i = j + 1
			return true
		case c < 0x20:
			return false
		case c == '\\':
			j++
			if j >= len(b) {
				return false
			}
			switch b[j] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if len(b)-j < 5 || !isHex(b[j+1]) || !isHex(b[j+2]) || !isHex(b[j+3]) || !isHex(b[j+4]) {
					return false
				}
				j += 4
			default:
				return false
			}
		}
	}
	return false
}

func isHex(c byte) bool { return isDigit(c) || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F') }

// validNumber reads -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?; what
// follows is the caller's to check.
func validNumber(b []byte, i *int) bool {
	j := *i
	if b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case j < len(b) && '1' <= b[j] && b[j] <= '9':
		j = digits(b, j)
	default:
		return false
	}
	if j < len(b) && b[j] == '.' {
		if k := digits(b, j+1); k > j+1 {
			j = k
		} else {
			return false
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		k := digits(b, j)
		if k == j {
			return false
		}
		j = k
	}
	*i = j
	return true
}

func digits(b []byte, j int) int {
	for j < len(b) && isDigit(b[j]) {
		j++
	}
	return j
}
