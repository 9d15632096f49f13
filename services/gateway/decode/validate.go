// Package decode turns an ingest request body into events: it recognises the
// accepted media types (JSON object or array, CloudEvents structured, batch
// and binary mode, NDJSON), enforces the size, count and nesting limits, and
// validates each event against schemas/event.schema.json.
//
// Validation uses santhosh-tekuri/jsonschema/v6 (the project's choice: full
// draft 2020-12, formats and content assertions, compiled once) so the JSON
// Schema in schemas/ stays the one contract. The hot path never hands the
// library a generically decoded event (~90 allocations and most of the CPU
// of a request):
//
//   - one pass over the body (scan.go) checks UTF-8, nesting and JSON syntax
//     and splits a batch into events without copying; a body it refuses
//     goes to the checks it replaces, which word the problem; events are
//     split into their top-level members without copying (split.go); `data` stays the
//     raw bytes as sent, passed to Kafka, never decoded or re-encoded;
//   - fastAccept (fast.go) checks the schema's rules member by member and
//     accepts the common valid event without the library ("time" only in
//     RFC 3339's plain shape, held to the library's date-time format by
//     FuzzPlainTimeIsASchemaDateTime);
//   - everything else — every rejection, repeated or escaped member names,
//     data_base64 — is validated by the library on the envelope: the
//     attributes with data replaced by a placeholder (the schema says
//     `"data": true`), which gives the whole event's verdict.
//
// Tests keep the three in agreement: the envelope verdict equals the whole
// document's verdict, and whatever fastAccept accepts the library accepts
// too, read the same way (FuzzFastPathAgreesWithFullValidation, a generated
// property test, and seeds in testdata/fuzz).
package decode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/pulsestream/pulsestream/schemas"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Validator holds the compiled event schema. It is safe for concurrent use.
type Validator struct {
	schema  *jsonschema.Schema
	printer *message.Printer
}

// NewValidator compiles schemas.EventSchema once.
func NewValidator() (*Validator, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemas.EventSchema))
	if err != nil {
		return nil, fmt.Errorf("parse event schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()  // "time" must be a real RFC 3339 date-time
	c.AssertContent() // "data_base64" must be real base64
	if err := c.AddResource(schemas.EventSchemaURL, doc); err != nil {
		return nil, fmt.Errorf("add event schema: %w", err)
	}
	sch, err := c.Compile(schemas.EventSchemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile event schema: %w", err)
	}
	return &Validator{schema: sch, printer: message.NewPrinter(language.English)}, nil
}

// ValidateDocument validates one whole event the generic way: decode
// everything, data included, and hand it to the library. It is the reference
// the fast path is tested against, not used on the hot path.
func (v *Validator) ValidateDocument(raw []byte) error {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return v.schema.Validate(doc)
}

// validateEnvelope validates the envelope of an event whose top-level
// members are ms: every member but data decoded as the library would decode
// it, data (any JSON value is valid) as a nil placeholder that keeps its
// presence visible to the "not both data and data_base64" rule. A repeated
// member counts once, the last one winning, as in encoding/json.
func (v *Validator) validateEnvelope(ms []member) (env map[string]any, data []byte, err error) {
	env = make(map[string]any, len(ms))
	for _, m := range ms {
		if m.key == "data" {
			env[m.key], data = nil, m.val
			continue
		}
		val, err := scalar(m.val)
		if err != nil {
			return nil, nil, err
		}
		env[m.key] = val
	}
	if _, ok := env["data"]; !ok {
		data = nil
	}
	return env, data, v.schema.Validate(env)
}

// scalar decodes one JSON value the way jsonschema.UnmarshalJSON does
// (numbers as json.Number), cheaply for the common shapes: strings without
// escapes, literals and numbers need no decoder.
func scalar(raw []byte) (any, error) {
	if len(raw) == 0 {
		return nil, errors.New("empty value")
	}
	switch c := raw[0]; {
	case c == '"':
		if bytes.IndexByte(raw, '\\') < 0 {
			return string(raw[1 : len(raw)-1]), nil
		}
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case c == 't':
		return true, nil
	case c == 'f':
		return false, nil
	case c == 'n':
		return nil, nil
	case c == '-' || c >= '0' && c <= '9':
		return json.Number(string(raw)), nil
	default:
		return jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	}
}

// firstLeaf is the innermost cause at the smallest instance location. The
// library's order of causes follows the instance's map order, which Go
// randomises, so an event with two faults would otherwise be answered with
// either one, differently from one request to the next.
func firstLeaf(ve *jsonschema.ValidationError) *jsonschema.ValidationError {
	if len(ve.Causes) == 0 {
		return ve
	}
	var best *jsonschema.ValidationError
	for _, c := range ve.Causes {
		l := firstLeaf(c)
		if best == nil || strings.Join(l.InstanceLocation, "/") < strings.Join(best.InstanceLocation, "/") {
			best = l
		}
	}
	return best
}

// describe turns a validation error into one human line naming the first
// failing attribute.
func (v *Validator) describe(err error) string {
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err.Error()
	}
	leaf := firstLeaf(ve)
	msg := leaf.ErrorKind.LocalizedString(v.printer)
	if len(leaf.InstanceLocation) == 0 {
		return "event: " + msg
	}
	return "attribute " + strings.Join(leaf.InstanceLocation, "/") + ": " + msg
}
