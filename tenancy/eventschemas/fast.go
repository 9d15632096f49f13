package eventschemas

import (
	"bytes"
	"encoding/json"
	"regexp"
	"strconv"
	"unicode/utf8"

	"github.com/pulsestream/pulsestream/schemas/jsonwalk"
)

// The fast path. The library validates a generically decoded value
// (encoding/json into any, numbers through math/big): about 15-30 µs for a
// 300-byte event with a 10-property schema on this machine, several times
// the gateway's whole per-event cost. Like the envelope's fastAccept
// (services/gateway/decode), a plan compiled beside the library's schema
// walks the raw bytes of data and may only ACCEPT: it knows a subset of
// JSON Schema (type, properties, required, additionalProperties, enum and
// const of strings, minLength, maxLength, pattern, integer bounds), and any
// keyword, value or spelling outside what it is sure of (escaped strings,
// repeated member names, non-integer numbers where an integer or a bound
// matters, format, $ref, combinators, ...) sends the event to the library,
// which gives every verdict that is not a plain acceptance, with its pointer
// and message. TestFastPathNeverAcceptsWhatTheLibraryRejects and
// FuzzFastPathAgreesWithTheLibrary keep it so.

// Type bits of a plan node.
const (
	tObject = 1 << iota
	tArray
	tString
	tInteger
	tNumber
	tBoolean
	tNull
)

var typeBits = map[string]uint8{"object": tObject, "array": tArray, "string": tString, "integer": tInteger,
	"number": tNumber, "boolean": tBoolean, "null": tNull}

// annotations are keywords that never change a verdict (contentEncoding and
// friends too: the compiler does not assert content).
var annotations = map[string]bool{"$schema": true, "$id": true, "$comment": true, "$defs": true, "definitions": true, "title": true,
	"description": true, "examples": true, "default": true, "deprecated": true, "readOnly": true, "writeOnly": true,
	"contentEncoding": true, "contentMediaType": true, "contentSchema": true}

// node is one (sub)schema as the fast path checks it.
type node struct {
	slow     bool  // a keyword the fast path does not check: a value here goes to the library
	types    uint8 // 0: any type
	props    map[string]*node
	required []string
	addl     *node // additionalProperties; nil: any
	strs     []string
	hasEnum  bool
	minLen   int
	maxLen   int // -1: none
	pattern  *regexp.Regexp
	min, max *int64 // inclusive integer bounds
}

// plan compiles a decoded schema document into a node.
func plan(v any) *node {
	switch s := v.(type) {
	case bool:
		if s {
			return &node{maxLen: -1}
		}
		return &node{slow: true, maxLen: -1}
	case map[string]any:
		n := &node{maxLen: -1}
		for k, val := range s {
			if !n.keyword(k, val) {
				n.slow = true
			}
		}
		return n
	}
	return &node{slow: true, maxLen: -1}
}

// keyword reads one keyword into n; false: the fast path cannot check it.
func (n *node) keyword(k string, val any) bool {
	switch k {
	case "type":
		return n.typeOf(val)
	case "properties":
		m, ok := val.(map[string]any)
		n.props = make(map[string]*node, len(m))
		for name, sub := range m {
			n.props[name] = plan(sub)
		}
		return ok
	case "required":
		list, ok := val.([]any)
		for _, r := range list {
			s, isStr := r.(string)
			n.required, ok = append(n.required, s), ok && isStr
		}
		return ok
	case "additionalProperties":
		n.addl = plan(val)
		return true
	case "enum", "const":
		list, ok := val.([]any)
		if k == "const" {
			list, ok = []any{val}, true
		}
		for _, e := range list {
			s, isStr := e.(string)
			n.strs, ok = append(n.strs, s), ok && isStr
		}
		n.hasEnum = true
		return ok
	case "minLength", "maxLength":
		i, ok := intOf(val)
		if k == "minLength" {
			n.minLen = int(i)
		} else {
			n.maxLen = int(i)
		}
		return ok && i >= 0
	case "pattern":
		s, _ := val.(string)
		re, err := regexp.Compile(s) // the library's default engine: the same verdicts
		n.pattern = re
		return err == nil
	case "minimum", "maximum":
		i, ok := intOf(val)
		if k == "minimum" {
			n.min = &i
		} else {
			n.max = &i
		}
		return ok
	}
	return annotations[k]
}

func (n *node) typeOf(val any) bool {
	switch t := val.(type) {
	case string:
		n.types = typeBits[t]
		return n.types != 0
	case []any:
		for _, x := range t {
			s, _ := x.(string)
			if typeBits[s] == 0 {
				return false
			}
			n.types |= typeBits[s]
		}
		return len(t) > 0
	}
	return false
}

// intOf reads an integer keyword value (json.Number without fraction).
func intOf(v any) (int64, bool) {
	num, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	i, err := strconv.ParseInt(string(num), 10, 64)
	return i, err == nil
}

// accepts reports whether the fast path is sure v (one JSON value, valid,
// without surrounding space) is valid; false also means "not sure".
func (n *node) accepts(v []byte) bool {
	if n.slow || len(v) == 0 {
		return false
	}
	switch c := v[0]; {
	case c == '{':
		return n.has(tObject) && n.object(v)
	case c == '[':
		return n.has(tArray) && n.noValueKeywords()
	case c == '"':
		return n.has(tString) && n.str(v)
	case c == 't' || c == 'f':
		return n.has(tBoolean) && n.noValueKeywords()
	case c == 'n':
		return n.has(tNull) && n.noValueKeywords()
	default:
		return n.number(v)
	}
}

func (n *node) has(t uint8) bool { return n.types == 0 || n.types&t != 0 }

// noValueKeywords: no enum or const could refuse a non-string value.
func (n *node) noValueKeywords() bool { return !n.hasEnum }

func (n *node) str(v []byte) bool {
	if bytes.IndexByte(v, '\\') >= 0 {
		return false
	}
	s := v[1 : len(v)-1]
	if n.hasEnum && !containsBytes(n.strs, s) {
		return false
	}
	if n.minLen > 0 || n.maxLen >= 0 {
		runes := utf8.RuneCount(s)
		if runes < n.minLen || n.maxLen >= 0 && runes > n.maxLen {
			return false
		}
	}
	return n.pattern == nil || n.pattern.Match(s)
}

// number accepts a plain integer token (no fraction or exponent, which the
// library may read differently) within the bounds, or any number token
// where only "number" matters.
func (n *node) number(v []byte) bool {
	if n.hasEnum {
		return false
	}
	i, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil { // a fraction, an exponent or beyond int64
		return (n.types == 0 || n.types&tNumber != 0) && n.min == nil && n.max == nil
	}
	if !n.has(tInteger) && !n.has(tNumber) {
		return false
	}
	return (n.min == nil || i >= *n.min) && (n.max == nil || i <= *n.max)
}

// object walks the members of v.
func (n *node) object(v []byte) bool {
	var buf [16][]byte // member names, kept without copying
	seen := buf[:0]
	i := jsonwalk.SkipSpace(v, 1)
	for i < len(v) && v[i] != '}' {
		ke := jsonwalk.StringEnd(v, i)
		key := v[i+1 : ke-1]
		if bytes.IndexByte(key, '\\') >= 0 || seenBefore(seen, key) {
			return false
		}
		i = jsonwalk.SkipSpace(v, ke)
		i = jsonwalk.SkipSpace(v, i+1) // ':'
		ve := jsonwalk.ValueEnd(v, i)
		sub, known := n.props[string(key)]
		switch {
		case known:
		case n.addl != nil:
			sub = n.addl
		}
		if sub != nil && !sub.accepts(v[i:ve]) {
			return false
		}
		seen = append(seen, key)
		i = jsonwalk.SkipSpace(v, ve)
		if i < len(v) && v[i] == ',' {
			i = jsonwalk.SkipSpace(v, i+1)
		}
	}
	for _, r := range n.required {
		if !seenBefore(seen, []byte(r)) {
			return false
		}
	}
	return true
}

func containsBytes(list []string, b []byte) bool {
	for _, x := range list {
		if x == string(b) {
			return true
		}
	}
	return false
}

func seenBefore(seen [][]byte, key []byte) bool {
	for _, k := range seen {
		if bytes.Equal(k, key) {
			return true
		}
	}
	return false
}
