package decode

import (
	"encoding/json"

	"github.com/pulsestream/pulsestream/schemas/jsonwalk"
)

// The splitters below walk JSON that json.Valid has already accepted, so
// they only need to find where values start and end: no allocation, no
// copy (values are sub-slices of the request body), one quick pass.

// arrayElems returns the elements of the valid JSON array arr.
func arrayElems(arr []byte) [][]byte {
	var out [][]byte
	i := jsonwalk.SkipSpace(arr, 1) // past '['
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
		end := jsonwalk.ValueEnd(arr, i)
		out = append(out, arr[i:end])
		i = jsonwalk.SkipSpace(arr, end)
		if i >= len(arr) || arr[i] != ',' {
			break
		}
		i = jsonwalk.SkipSpace(arr, i+1)
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
	i := jsonwalk.SkipSpace(obj, 1) // past '{'
	for i < len(obj) && obj[i] == '"' {
		kEnd := jsonwalk.StringEnd(obj, i)
		key := unquoteKey(obj[i:kEnd])
		i = jsonwalk.SkipSpace(obj, kEnd)
		i = jsonwalk.SkipSpace(obj, i+1) // past ':'
		vEnd := jsonwalk.ValueEnd(obj, i)
		dst = append(dst, member{key: key, val: obj[i:vEnd]})
		i = jsonwalk.SkipSpace(obj, vEnd)
		if i >= len(obj) || obj[i] != ',' {
			break
		}
		i = jsonwalk.SkipSpace(obj, i+1)
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
