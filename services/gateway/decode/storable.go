package decode

import (
	"bytes"
	"encoding/json"
	"strings"
)

// CodeUnstorable rejects an event whose data or extensions hold a value that
// is valid JSON but that the PostgreSQL read model (jsonb) cannot hold: an
// acknowledged event must be storable, or it would be acknowledged and then
// land in the dead-letter topic. Part of the API.
const CodeUnstorable = "unstorable_value"

// PostgreSQL numeric's limits, which jsonb numbers share.
const (
	pgMaxIntDigits   = 131072 // digits before the decimal point
	pgMaxScaleDigits = 16383  // digits after it
)

// unstorable explains why the JSON value raw (valid JSON) cannot be stored
// as jsonb, or returns "": a \u0000 escape, a lone UTF-16 surrogate escape,
// or a number outside numeric's range.
func unstorable(raw []byte) string {
	if len(raw) <= pgMaxScaleDigits && bytes.IndexByte(raw, '\\') < 0 &&
		bytes.IndexByte(raw, 'e') < 0 && bytes.IndexByte(raw, 'E') < 0 {
		return "" // no escapes and too short to hold an out-of-range number
	}
	for i := 0; i < len(raw); {
		switch c := raw[i]; {
		case c == '"':
			end, why := scanString(raw, i+1)
			if why != "" {
				return why
			}
			i = end
		case c == '-' || c >= '0' && c <= '9':
			end, why := scanNumber(raw, i)
			if why != "" {
				return why
			}
			i = end
		default:
			i++
		}
	}
	return ""
}

// scanString checks the escapes of the string starting after its opening
// quote at i; it returns the index after the closing quote.
func scanString(b []byte, i int) (int, string) {
	for i < len(b) {
		switch b[i] {
		case '"':
			return i + 1, ""
		case '\\':
			if i+1 < len(b) && b[i+1] == 'u' && i+6 <= len(b) {
				u := hex4(b[i+2 : i+6])
				switch {
				case u == 0:
					return 0, `a string holds \u0000 (NUL), which the read model cannot store`
				case u >= 0xDC00 && u <= 0xDFFF:
					return 0, "a string holds a lone UTF-16 low surrogate escape"
				case u >= 0xD800 && u <= 0xDBFF:
					if i+12 > len(b) || b[i+6] != '\\' || b[i+7] != 'u' {
						return 0, "a string holds a lone UTF-16 high surrogate escape"
					}
					if lo := hex4(b[i+8 : i+12]); lo < 0xDC00 || lo > 0xDFFF {
						return 0, "a string holds a lone UTF-16 high surrogate escape"
					}
					i += 12
					continue
				}
				i += 6
				continue
			}
			i += 2
		default:
			i++
		}
	}
	return i, ""
}

func hex4(h []byte) int {
	n := 0
	for _, c := range h {
		n <<= 4
		switch {
		case c >= '0' && c <= '9':
			n |= int(c - '0')
		case c >= 'a' && c <= 'f':
			n |= int(c-'a') + 10
		case c >= 'A' && c <= 'F':
			n |= int(c-'A') + 10
		}
	}
	return n
}

// scanNumber checks the JSON number starting at i against numeric's range
// and returns the index after it.
func scanNumber(b []byte, i int) (int, string) {
	if b[i] == '-' {
		i++
	}
	intStart := i
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	intPart := b[intStart:i]
	var frac []byte
	if i < len(b) && b[i] == '.' {
		i++
		s := i
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			i++
		}
		frac = b[s:i]
	}
	exp := 0
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		neg := false
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			neg = b[i] == '-'
			i++
		}
		for i < len(b) && b[i] >= '0' && b[i] <= '9' {
			if exp < 1<<30 {
				exp = exp*10 + int(b[i]-'0')
			}
			i++
		}
		if neg {
			exp = -exp
		}
	}
	if len(frac)-exp > pgMaxScaleDigits {
		return 0, "a number has more digits after the decimal point than the read model stores (16383)"
	}
	sig := len(bytes.TrimLeft(intPart, "0"))
	if sig == 0 { // 0.000ddd: the first significant digit is after the point
		fz := len(frac) - len(bytes.TrimLeft(frac, "0"))
		if fz == len(frac) {
			return i, "" // zero
		}
		sig = -fz
	}
	if sig+exp > pgMaxIntDigits {
		return 0, "a number is larger than the read model stores (131072 digits)"
	}
	return i, ""
}

// checkStorable rejects a valid item whose data or extension values the
// read models cannot hold.
func checkStorable(it *Item) {
	if it.Reject != nil {
		return
	}
	why := ""
	if len(it.Event.Data) > 0 { // always JSON: other media arrive as data_base64
		why = unstorable(it.Event.Data)
	}
	for k, v := range it.Event.Extensions {
		if why != "" {
			break
		}
		switch v := v.(type) {
		case string:
			if strings.IndexByte(v, 0) >= 0 {
				why = "extension " + k + " holds a NUL character"
			}
		case json.Number:
			if w := unstorable([]byte(v)); w != "" {
				why = "extension " + k + ": " + w
			}
		}
	}
	if why != "" {
		it.Reject = &Reject{Code: CodeUnstorable, Message: why}
	}
}
