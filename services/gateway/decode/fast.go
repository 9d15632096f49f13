package decode

import (
	"bytes"
	"encoding/json"
	"strings"
	"time"
	"unicode/utf8"
)

// fastAccept is the hot path's shortcut for the common, valid event: it
// checks the rules event.schema.json states, member by member, and fills the
// event without building the envelope map the library needs (the library's
// validation of even a small envelope costs ~100 allocations). It only ever
// ACCEPTS: on anything unusual (a rule broken, a repeated or escaped member
// name, data_base64) it returns false and the caller validates with the
// library, which thus decides every rejection and writes its message.
// FuzzFastPathAgreesWithFullValidation checks that whatever fastAccept
// accepts, the library accepts too (as a whole document).
//
// "time" is accepted only in RFC 3339's plain shape (rfc3339Plain) that Go
// also parses; every other time string, odd or wrong, goes to the library.
func (v *Validator) fastAccept(it *Item, ms []member, now time.Time) bool {
	ev := &it.Event
	var seen uint16 // bit per known attribute, to refuse repeats
	hasID, hasType := false, false
	for _, m := range ms {
		var bit uint16
		switch m.key {
		case "specversion":
			bit = 1 << 0
			s, ok := plainString(m.val)
			if !ok || s != "1.0" {
				return false
			}
		case "id":
			bit = 1 << 1
			s, ok := attrString(m.val, 1, 256, true)
			if !ok {
				return false
			}
			ev.ID, hasID = s, true
		case "type":
			bit = 1 << 2
			s, ok := attrString(m.val, 1, 256, true)
			if !ok {
				return false
			}
			ev.Type, hasType = s, true
		case "source":
			bit = 1 << 3
			s, ok := attrString(m.val, 0, 1024, true)
			if !ok {
				return false
			}
			ev.Source = s
		case "subject":
			bit = 1 << 4
			s, ok := attrString(m.val, 0, 1024, true)
			if !ok {
				return false
			}
			ev.Subject = s
		case "datacontenttype":
			bit = 1 << 5
			s, ok := attrString(m.val, 0, 256, false)
			if !ok {
				return false
			}
			ev.DataContentType = s
		case "dataschema":
			bit = 1 << 6
			s, ok := attrString(m.val, 0, 1024, false)
			if !ok {
				return false
			}
			ev.DataSchema = s
		case "time":
			bit = 1 << 7
			s, ok := plainString(m.val)
			if !ok {
				return false
			}
			t, ok := plainTime(s)
			if !ok {
				return false
			}
			ev.Time, it.TimeSet = t, true
		case "data":
			bit = 1 << 8
			ev.Data = m.val
		default:
			if !extensionName(m.key) {
				return false // data_base64 included: the library path handles it
			}
			val, ok := extensionValue(m.val)
			if !ok {
				return false
			}
			if ev.Extensions == nil {
				ev.Extensions = make(map[string]any, 2)
			} else if _, dup := ev.Extensions[m.key]; dup {
				return false
			}
			ev.Extensions[m.key] = val
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
	}
	if !hasID || !hasType {
		return false
	}
	it.ID = ev.ID
	if !it.TimeSet {
		ev.Time = now
	}
	return true
}

// plainString returns the JSON string raw when it has no escapes.
func plainString(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || bytes.IndexByte(raw, '\\') >= 0 {
		return "", false
	}
	return string(raw[1 : len(raw)-1]), true
}

// attrString checks a string attribute: minRunes..maxRunes characters and,
// when noControl, none of U+0000..U+001F, U+007F (the schema's pattern).
func attrString(raw []byte, minRunes, maxRunes int, noControl bool) (string, bool) {
	s, ok := plainString(raw)
	if !ok {
		return "", false
	}
	if n := utf8.RuneCountInString(s); n < minRunes || n > maxRunes {
		return "", false
	}
	if noControl {
		for i := 0; i < len(s); i++ {
			if s[i] < 0x20 || s[i] == 0x7f {
				return "", false
			}
		}
	}
	return s, true
}

// extensionName is the schema's propertyNames rule for an extension
// attribute: 1 to 20 of [a-z0-9] (data_base64 is left to the library path).
func extensionName(k string) bool {
	if len(k) == 0 || len(k) > 20 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// extensionValue accepts a string, number or boolean, decoded as the library
// path decodes it.
func extensionValue(raw []byte) (any, bool) {
	switch c := raw[0]; {
	case c == '"':
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, false
		}
		return s, true
	case c == 't':
		return true, true
	case c == 'f':
		return false, true
	case c == '-' || c >= '0' && c <= '9':
		return json.Number(string(raw)), true
	}
	return nil, false
}

// plainTime reads an RFC 3339 date-time of the plain shape (rfc3339Plain)
// that Go's parser reads too, as the library path reads it; any other string
// is left to the library. FuzzPlainTimeIsASchemaDateTime checks that the
// schema's date-time format accepts whatever this accepts.
func plainTime(s string) (time.Time, bool) {
	if !rfc3339Plain(s) {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, strings.ToUpper(s))
	return t, err == nil
}

// rfc3339Plain reports whether s is an RFC 3339 date-time of the plain shape
// YYYY-MM-DDThh:mm:ss[.frac](Z|+hh:mm|-hh:mm) (t and z in either case) with
// every field in range, leap seconds excluded. The day of the month is left
// to time.Parse, which plainTime runs next.
func rfc3339Plain(s string) bool {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' && s[10] != 't' || s[13] != ':' || s[16] != ':' {
		return false
	}
	month, day, hour := num2(s, 5), num2(s, 8), num2(s, 11)
	if num2(s, 0) < 0 || num2(s, 2) < 0 || month < 1 || month > 12 || day < 1 || day > 31 ||
		hour < 0 || hour > 23 || !sixty(num2(s, 14)) || !sixty(num2(s, 17)) {
		return false
	}
	i := 19
	if s[i] == '.' {
		j := i + 1
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == i+1 {
			return false
		}
		i = j
	}
	switch rest := s[i:]; {
	case rest == "Z" || rest == "z":
		return true
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		zh := num2(rest, 1)
		return zh >= 0 && zh <= 23 && sixty(num2(rest, 4))
	}
	return false
}

// num2 is the two-digit number at s[i:i+2], or -1.
func num2(s string, i int) int {
	a, b := s[i], s[i+1]
	if a < '0' || a > '9' || b < '0' || b > '9' {
		return -1
	}
	return int(a-'0')*10 + int(b-'0')
}

func sixty(n int) bool { return n >= 0 && n <= 59 }
