package eventschemas

import (
	"bytes"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// IncompatibleError is a new version that breaks data valid under the
// current one; Problems name each break. Sending force overrides it.
type IncompatibleError struct{ Problems []string }

func (e *IncompatibleError) Error() string {
	return "incompatible with the current version: " + strings.Join(e.Problems, "; ")
}

// Incompatible compares the documents of the current version (old) and a
// new one: a field old requires must keep every type old allowed for it
// (integer counts as a number), whatever the nesting of objects, and may
// not disappear from a new object that forbids unknown properties. It
// returns the problems found (none: compatible).
func Incompatible(old, new []byte) []string {
	o, err1 := jsonschema.UnmarshalJSON(bytes.NewReader(old))
	n, err2 := jsonschema.UnmarshalJSON(bytes.NewReader(new))
	if err1 != nil || err2 != nil {
		return nil // both compiled before; unreachable
	}
	var problems []string
	compareObjects("/data", o, n, &problems)
	return problems
}

func compareObjects(at string, old, new any, problems *[]string) {
	om, ok1 := old.(map[string]any)
	nm, ok2 := new.(map[string]any)
	if !ok1 || !ok2 {
		return
	}
	oprops, _ := om["properties"].(map[string]any)
	nprops, _ := nm["properties"].(map[string]any)
	required, _ := om["required"].([]any)
	for _, r := range required {
		name, _ := r.(string)
		path := Pointer(at, []string{name})
		np, present := nprops[name]
		if !present {
			if ap, ok := nm["additionalProperties"].(bool); ok && !ap {
				*problems = append(*problems, path+": required field removed while unknown properties are refused")
			}
			continue
		}
		op := oprops[name]
		ot, nt := typesOf(op), typesOf(np)
		if lost := missingTypes(ot, nt); len(lost) > 0 {
			*problems = append(*problems, fmt.Sprintf("%s: type %s no longer allowed (now %s)", path, strings.Join(lost, ", "), strings.Join(nt, ", ")))
			continue
		}
		compareObjects(path, op, np, problems)
	}
}

// typesOf is the sorted "type" set of a property schema (nil: any type).
func typesOf(s any) []string {
	m, ok := s.(map[string]any)
	if !ok {
		return nil
	}
	var ts []string
	switch t := m["type"].(type) {
	case string:
		ts = []string{t}
	case []any:
		for _, x := range t {
			if s, ok := x.(string); ok {
				ts = append(ts, s)
			}
		}
	}
	sort.Strings(ts)
	return ts
}

// missingTypes are the types of old that new does not allow.
func missingTypes(old, new []string) []string {
	if len(new) == 0 {
		return nil // new allows every type
	}
	if len(old) == 0 {
		return []string{"(any)"}
	}
	var lost []string
	for _, t := range old {
		if slices.Contains(new, t) || t == "integer" && slices.Contains(new, "number") {
			continue
		}
		lost = append(lost, t)
	}
	return lost
}
