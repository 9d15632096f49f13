// Package eventschemas is the per-tenant registry of event schemas: for each
// tenant and event type, JSON Schemas (draft 2020-12) of the event's data in
// immutable, numbered versions with one current version; the enforcement
// mode (off, warn, enforce) of the tenant and of each type; and the tenant's
// quarantine settings. It holds the one compiler and the one validator of
// those schemas (Compile, Schema.Validate), used by the admin API, pulsectl
// and the gateway alike, the compatibility check of a new version, the
// PostgreSQL store (every change audited in the same transaction, and
// announced to the gateways by a trigger's NOTIFY, migration 00020), and the
// admin HTTP routes.
//
// JSON Schema: santhosh-tekuri/jsonschema/v6, the library the gateway
// already validates envelopes with (full draft 2020-12, formats asserted).
// A tenant's schema may not load anything: every $ref outside the document
// is a compile error, so a schema can neither read the gateway's files nor
// make it fetch URLs.
package eventschemas

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// draft202012 is the only $schema a document may name (or none).
const draft202012 = "https://json-schema.org/draft/2020-12/schema"

// resourceURL is where a compiled document is registered (never fetched).
const resourceURL = "https://schemas.pulsestream.invalid/event-data.json"

// MaxDocumentBytes bounds one schema document.
const MaxDocumentBytes = 256 << 10

// CompileError is a schema document that is not a usable JSON Schema.
type CompileError struct{ Message string }

func (e *CompileError) Error() string { return "schema does not compile: " + e.Message }

// Schema is a compiled schema of one type's data. Safe for concurrent use.
type Schema struct {
	s       *jsonschema.Schema
	fast    *node // the fast path's plan (fast.go)
	printer *message.Printer
}

// noLoader refuses every external reference.
type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("references outside the document are not allowed (%s)", url)
}

// Compile parses and compiles doc (draft 2020-12).
func Compile(doc []byte) (*Schema, error) {
	if len(doc) > MaxDocumentBytes {
		return nil, &CompileError{Message: fmt.Sprintf("the document is %d bytes; at most %d are accepted", len(doc), MaxDocumentBytes)}
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, &CompileError{Message: "not valid JSON: " + err.Error()}
	}
	switch obj := v.(type) {
	case bool:
	case map[string]any:
		if s, ok := obj["$schema"]; ok && s != draft202012 {
			return nil, &CompileError{Message: fmt.Sprintf("$schema must be %s (or absent), got %v", draft202012, s)}
		}
	default:
		return nil, &CompileError{Message: "a schema must be a JSON object or a boolean"}
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.UseLoader(noLoader{})
	c.AssertFormat()
	if err := c.AddResource(resourceURL, v); err != nil {
		return nil, &CompileError{Message: err.Error()}
	}
	s, err := c.Compile(resourceURL)
	if err != nil {
		return nil, &CompileError{Message: strings.ReplaceAll(err.Error(), resourceURL, "schema")}
	}
	return &Schema{s: s, fast: plan(v), printer: message.NewPrinter(language.English)}, nil
}

// Violation is why data does not match a schema: a JSON pointer into the
// event (so it starts with /data) and a message.
type Violation struct {
	Pointer string
	Message string
}

// Validate checks data (raw JSON; nil when the event has none) and returns
// the first violation, or nil.
func (s *Schema) Validate(data []byte) *Violation {
	if len(data) > 0 && utf8.Valid(data) && json.Valid(data) {
		return s.ValidateValid(data)
	}
	return s.validate(data)
}

// ValidateValid is Validate of data already known to be valid JSON and
// UTF-8 (an event's data as the gateway decoded it): the fast path first,
// the library for every verdict it is not sure of.
func (s *Schema) ValidateValid(data []byte) *Violation {
	if s.fast.accepts(bytes.TrimSpace(data)) {
		return nil
	}
	return s.validate(data)
}

// validate is the library's verdict.
func (s *Schema) validate(data []byte) *Violation {
	var v any
	if len(data) > 0 {
		var err error
		if v, err = jsonschema.UnmarshalJSON(bytes.NewReader(data)); err != nil {
			return &Violation{Pointer: "/data", Message: "data is not JSON: " + err.Error()}
		}
	}
	err := s.s.Validate(v)
	if err == nil {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return &Violation{Pointer: "/data", Message: err.Error()}
	}
	leaf := ve
	for len(leaf.Causes) > 0 {
		leaf = leaf.Causes[0]
	}
	return &Violation{Pointer: Pointer("/data", leaf.InstanceLocation), Message: leaf.ErrorKind.LocalizedString(s.printer)}
}

// Pointer is the RFC 6901 JSON pointer of tokens below prefix.
func Pointer(prefix string, tokens []string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

// normalize re-encodes a compiled document compactly, for storage.
func normalize(doc []byte) ([]byte, error) {
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return nil, &CompileError{Message: "not valid JSON: " + err.Error()}
	}
	return buf.Bytes(), nil
}
