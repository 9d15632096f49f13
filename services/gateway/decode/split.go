package decode

import "encoding/json"

// The splitters below walk JSON that json.Valid has already accepted, so
// they only need to find where values start and end: no allocation, no
// copy (values are sub-slices of the request body), one quick pass.

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func skipSpace(b []byte, i int) int {
	for i < len(b) && isSpace(b[i]) {
		i++
	}
	return i
}

// stringEnd returns the index just past the string starting at b[i] == '"'.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// valueEnd returns the index just past the value starting at b[i].
func valueEnd(b []byte, i int) int {
	switch b[i] {
	case '"':
		return stringEnd(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = stringEnd(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return len(b)
	default:
		for ; i < len(b); i++ {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i
			}
		}
		return len(b)
	}
}

// arrayElems returns the elements of the valid JSON array arr.
func arrayElems(arr []byte) [][]byte {
	var out [][]byte
	i := skipSpace(arr, 1) // past '['
	if i < len(arr) && arr[i] == ']' {
		return out
	}
	n := 0
	for j := i; j < len(arr); j++ { // estimate capacity: top-level commas
		if arr[j] == ',' {
			n++
		}
	}
	out = make([][]byte, 0, min(n+1, 1<<16))
	for i < len(arr) {
		end := valueEnd(arr, i)
		out = append(out, arr[i:end])
		i = skipSpace(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			break
		}
		i = skipSpace(arr, i+1)
	}
	return out
}

// member is one top-level member of an object.
type member struct {
	key string
	val []byte
}

// objectMembers appends the members of the valid JSON object obj to dst.
func objectMembers(dst []member, obj []byte) []member {
	i := skipSpace(obj, 1) // past '{'
	for i < len(obj) && obj[i] == '"' {
		kEnd := stringEnd(obj, i)
		key := unquoteKey(obj[i:kEnd])
		i = skipSpace(obj, kEnd)
		i = skipSpace(obj, i+1) // past ':'
		vEnd := valueEnd(obj, i)
		dst = append(dst, member{key: key, val: obj[i:vEnd]})
		i = skipSpace(obj, vEnd)
		if i >= len(obj) || obj[i] != ',' {
			break
		}
		i = skipSpace(obj, i+1)
	}
	return dst
}

func unquoteKey(q []byte) string {
	for _, c := range q[1 : len(q)-1] {
		if c == '\\' {
			var s string
			_ = json.Unmarshal(q, &s) // valid JSON string: cannot fail
			return s
		}
	}
	return knownKey(q[1 : len(q)-1])
}

// knownKey returns the name k, without allocating for the schema's
// attribute names (the compiler converts a switched-on []byte for free).
func knownKey(k []byte) string {
	switch string(k) {
	case "specversion":
		return "specversion"
	case "id":
		return "id"
	case "type":
		return "type"
	case "source":
		return "source"
	case "subject":
		return "subject"
	case "time":
		return "time"
	case "datacontenttype":
		return "datacontenttype"
	case "dataschema":
		return "dataschema"
	case "data":
		return "data"
	case "data_base64":
		return "data_base64"
	}
	return string(k)
}
