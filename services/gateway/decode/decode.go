package decode

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/pulsestream/pulsestream/platform/apierror"
	"github.com/pulsestream/pulsestream/schemas"
)

// Format is how a request carries its events.
type Format int

// The accepted formats.
const (
	FormatJSON       Format = iota + 1 // application/json: one object or an array
	FormatStructured                   // application/cloudevents+json: one object
	FormatBatch                        // application/cloudevents-batch+json: an array
	FormatNDJSON                       // application/x-ndjson: one object per line
	FormatBinary                       // CloudEvents binary mode: ce-* headers, body = data
)

// Media types of the structured formats.
const (
	MediaJSON       = "application/json"
	MediaStructured = "application/cloudevents+json"
	MediaBatch      = "application/cloudevents-batch+json"
	MediaNDJSON     = "application/x-ndjson"
)

// Rejection codes of single events (Reject.Code). Part of the API.
const (
	CodeInvalidSchema = "invalid_schema"
	CodeInvalidJSON   = "invalid_json"
	CodeTooLarge      = "too_large"
	CodeMissingID     = "missing_id"
	CodeInvalidTime   = "invalid_time"
)

// Request-level error codes (apierror codes). Part of the API.
const (
	CodeUnsupportedMediaType = "unsupported_media_type"
	CodeMalformedJSON        = "malformed_json"
	CodeInvalidUTF8          = "invalid_utf8"
	CodeTooDeep              = "nesting_too_deep"
	CodeEmpty                = "empty_request"
	CodeInvalidBody          = "invalid_body"
	CodeTooManyEvents        = "too_many_events"
	// CodeUnsupportedSpecVersion: a structured or batch request whose
	// ce-specversion header names another CloudEvents version than 1.0.
	CodeUnsupportedSpecVersion = "unsupported_specversion"
)

// Limits bound what one request may carry.
type Limits struct {
	MaxEventBytes int // bytes of one event as sent (binary mode: of its data)
	MaxEvents     int // events in one request
	MaxDepth      int // nesting of objects and arrays, the batch array included
}

// Reject is why one event was not accepted (or, in Item.Warnings, what is
// wrong with an accepted one). Pointer (a JSON pointer into the event) and
// SchemaVersion are set by the tenant's event schemas (schemacheck).
type Reject struct {
	Code          string
	Message       string
	Pointer       string
	SchemaVersion int
}

// Item is one event of the request, in request order: either Event is valid
// or Reject says why not. ID is the event's id as far as it could be read.
type Item struct {
	ID      string
	Event   schemas.Event // ID, Type, Source, Subject, Time, DataContentType, DataSchema, Extensions, Data/DataBase64
	TimeSet bool          // time was sent (else Event.Time is the receive time)
	Size    int           // bytes of the event as sent
	Reject  *Reject
	// Raw is the event as sent (a sub-slice of the body; nil in binary
	// mode), kept for the quarantine.
	Raw      []byte
	Warnings []Reject // schema violations of an event accepted in warn mode
}

// FormatOf picks the format of a request from its Content-Type and headers.
// A request with a ce-specversion header is binary mode whatever its content
// type (the content type is then the data's), unless it is a structured one.
func FormatOf(h http.Header) (Format, *apierror.Error) {
	ct := h.Get("Content-Type")
	media := ""
	if ct != "" {
		m, _, err := mime.ParseMediaType(ct)
		if err != nil {
			return 0, apierror.New(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType, fmt.Sprintf("Content-Type %q does not parse", ct))
		}
		media = m
	}
	switch media {
	case MediaStructured:
		return FormatStructured, specVersionHeader(h)
	case MediaBatch:
		return FormatBatch, specVersionHeader(h)
	}
	if h.Get("Ce-Specversion") != "" {
		return FormatBinary, nil
	}
	switch media {
	case MediaJSON:
		return FormatJSON, nil
	case MediaNDJSON:
		return FormatNDJSON, nil
	}
	return 0, apierror.New(http.StatusUnsupportedMediaType, CodeUnsupportedMediaType,
		fmt.Sprintf("Content-Type %q is not accepted: send %s, %s, %s, %s, or CloudEvents binary mode (ce-* headers)", ct, MediaJSON, MediaStructured, MediaBatch, MediaNDJSON))
}

// specVersionHeader refuses a structured or batch request whose
// ce-specversion header names another version than 1.0: its events carry
// their own specversion, but the header says the producer speaks another
// CloudEvents (in binary mode the header is the event's own attribute,
// checked with the event).
func specVersionHeader(h http.Header) *apierror.Error {
	if v := h.Get("Ce-Specversion"); v != "" && v != "1.0" {
		return apierror.New(http.StatusBadRequest, CodeUnsupportedSpecVersion,
			fmt.Sprintf("ce-specversion %q: this gateway accepts CloudEvents 1.0 (leave the header out, or send 1.0)", v))
	}
	return nil
}

// Decode splits body into events and validates each one. A request-level
// problem (malformed JSON, too many events, ...) is an *apierror.Error and no
// event is returned; an event-level problem rejects only that event, and so
// does a value the read models cannot store (CodeUnstorable).
func (v *Validator) Decode(f Format, h http.Header, body []byte, lim Limits, now time.Time) ([]Item, *apierror.Error) {
	items, err := v.decode(f, h, body, lim, now)
	for i := range items {
		checkStorable(&items[i])
	}
	return items, err
}

func (v *Validator) decode(f Format, h http.Header, body []byte, lim Limits, now time.Time) ([]Item, *apierror.Error) {
	if f == FormatBinary {
		return v.decodeBinary(h, body, lim, now)
	}
	if f != FormatNDJSON {
		// The common case: one pass checks the text and the JSON and splits
		// a batch (scan.go); any problem is found and worded below.
		sc, ok, release := scanPooled(body, lim.MaxDepth)
		defer release()
		if ok {
			return v.decodeValue(f, &sc, lim, now)
		}
	}
	return v.decodeChecked(f, body, lim, now)
}

// decodeChecked is the path of every body scanBody refuses: separate checks
// of the text, the shape and the JSON, each wording its problem.
func (v *Validator) decodeChecked(f Format, body []byte, lim Limits, now time.Time) ([]Item, *apierror.Error) {
	if err := checkText(body, lim.MaxDepth); err != nil {
		return nil, err
	}
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, apierror.New(http.StatusBadRequest, CodeEmpty, "the request body is empty: send at least one event")
	}
	if f == FormatNDJSON {
		return v.decodeNDJSON(body, lim, now)
	}
	if err := checkShape(f, trimmed); err != nil {
		return nil, err
	}
	if !json.Valid(trimmed) {
		return nil, malformed(trimmed, body)
	}
	sc := scanned{val: trimmed}
	if trimmed[0] == '[' {
		sc.elems = arrayElems(trimmed)
	}
	return v.decodeValue(f, &sc, lim, now)
}

// checkShape refuses a body whose outer shape does not fit its format
// (before its JSON syntax is checked, so these answers win).
func checkShape(f Format, trimmed []byte) *apierror.Error {
	isArray := trimmed[0] == '['
	switch {
	case f == FormatStructured && isArray:
		return apierror.New(http.StatusBadRequest, CodeInvalidBody, MediaStructured+" carries one event (a JSON object); send arrays as "+MediaBatch)
	case f == FormatBatch && !isArray:
		return apierror.New(http.StatusBadRequest, CodeInvalidBody, MediaBatch+" must be a JSON array of events")
	}
	return nil
}

// decodeValue decodes sc.val, one valid JSON value checked by checkText,
// whose elements are sc.elems when it is an array.
func (v *Validator) decodeValue(f Format, sc *scanned, lim Limits, now time.Time) ([]Item, *apierror.Error) {
	val := sc.val
	if err := checkShape(f, val); err != nil {
		return nil, err
	}
	switch val[0] {
	case '{':
		ms, ok := sc.members(0)
		return []Item{v.decodeEvent(val, ms, ok, lim, now)}, nil
	case '[':
	default:
		return nil, apierror.New(http.StatusBadRequest, CodeInvalidBody, "the body must be one event (a JSON object) or an array of events")
	}
	raws := sc.elems
	switch {
	case len(raws) == 0:
		return nil, apierror.New(http.StatusBadRequest, CodeEmpty, "the array is empty: send at least one event")
	case len(raws) > lim.MaxEvents:
		return nil, apierror.New(http.StatusRequestEntityTooLarge, CodeTooManyEvents, fmt.Sprintf("%d events in one request; at most %d are accepted", len(raws), lim.MaxEvents))
	}
	items := make([]Item, len(raws))
	for i, raw := range raws {
		ms, ok := sc.members(i)
		items[i] = v.decodeEvent(raw, ms, ok, lim, now)
	}
	return items, nil
}

func (v *Validator) decodeNDJSON(body []byte, lim Limits, now time.Time) ([]Item, *apierror.Error) {
	var items []Item
	for off := 0; off < len(body); {
		end := bytes.IndexByte(body[off:], '\n')
		if end < 0 {
			end = len(body)
		} else {
			end += off
		}
		line := bytes.TrimSpace(body[off:end])
		lineOff := off
		off = end + 1
		if len(line) == 0 {
			continue
		}
		if len(items) == lim.MaxEvents {
			return nil, apierror.New(http.StatusRequestEntityTooLarge, CodeTooManyEvents, fmt.Sprintf("more than %d events in one request", lim.MaxEvents))
		}
		if len(line) > lim.MaxEventBytes {
			items = append(items, Item{Size: len(line), Raw: line, Reject: tooLarge(len(line), lim)})
			continue
		}
		if !json.Valid(line) {
			var se *json.SyntaxError
			msg := "line is not valid JSON"
			if err := json.Unmarshal(line, new(any)); errors.As(err, &se) {
				msg = fmt.Sprintf("line at byte %d is not valid JSON: %v (at byte %d)", lineOff, se, lineOff+int(se.Offset))
			}
			items = append(items, Item{Size: len(line), Raw: line, Reject: &Reject{Code: CodeInvalidJSON, Message: msg}})
			continue
		}
		items = append(items, v.decodeEvent(line, nil, false, lim, now))
	}
	if len(items) == 0 {
		return nil, apierror.New(http.StatusBadRequest, CodeEmpty, "the request has no events")
	}
	return items, nil
}

// decodeEvent validates one syntactically valid JSON value (checked by the
// caller) as an event; ms are its top-level members when scanned (known).
func (v *Validator) decodeEvent(raw []byte, ms []member, known bool, lim Limits, now time.Time) Item {
	it := Item{Size: len(raw), Raw: raw}
	if len(raw) > lim.MaxEventBytes {
		it.Reject = tooLarge(len(raw), lim)
		it.ID = peekID(raw)
		return it
	}
	if raw[0] != '{' {
		it.Reject = &Reject{Code: CodeInvalidSchema, Message: "an event must be a JSON object"}
		return it
	}
	if !known {
		var buf [12]member
		ms = objectMembers(buf[:0], raw)
	}
	if v.fastAccept(&it, ms, now) {
		return it
	}
	it.Event = schemas.Event{} // fastAccept may have filled some of it
	it.TimeSet = false
	return v.finish(it, ms, nil, now)
}

// finish validates an event's members (ms, or env when the caller built
// the envelope itself, as binary mode does) and fills it.Event.
func (v *Validator) finish(it Item, ms []member, env map[string]any, now time.Time) Item {
	var err error
	var data []byte
	if env == nil {
		env, data, err = v.validateEnvelope(ms)
	} else {
		err = v.schema.Validate(env)
	}
	if id, ok := env["id"].(string); ok {
		it.ID = id
	}
	if _, ok := env["id"]; !ok && err == nil {
		err = errors.New("unreachable: schema requires id")
	}
	if err != nil {
		if _, ok := env["id"]; !ok {
			it.Reject = &Reject{Code: CodeMissingID, Message: "the event has no id: every event needs a producer-assigned id (the dedup key)"}
		} else {
			it.Reject = &Reject{Code: CodeInvalidSchema, Message: v.describe(err)}
		}
		return it
	}
	ev := &it.Event
	for k, val := range env {
		switch k {
		case "specversion":
		case "id":
			ev.ID = val.(string)
		case "type":
			ev.Type = val.(string)
		case "source":
			ev.Source = val.(string)
		case "subject":
			ev.Subject = val.(string)
		case "datacontenttype":
			ev.DataContentType = val.(string)
		case "dataschema":
			ev.DataSchema = val.(string)
		case "data_base64":
			ev.DataBase64 = val.(string)
		case "data":
			ev.Data = data // as sent: a sub-slice of the body, never re-encoded
		case "time":
			// RFC 3339 allows lower-case t and z; Go's parser wants them upper.
			t, perr := time.Parse(time.RFC3339Nano, strings.ToUpper(val.(string)))
			if perr != nil {
				// The schema's date-time accepts a few instants Go cannot
				// represent (leap seconds): refuse rather than guess.
				it.Reject = &Reject{Code: CodeInvalidTime, Message: fmt.Sprintf("attribute time: %v", perr)}
				return it
			}
			ev.Time, it.TimeSet = t, true
		default:
			if ev.Extensions == nil {
				ev.Extensions = make(map[string]any, 2)
			}
			ev.Extensions[k] = val // string, bool or json.Number (exact digits)
		}
	}
	if !it.TimeSet {
		ev.Time = now
	}
	return it
}

func (v *Validator) decodeBinary(h http.Header, body []byte, lim Limits, now time.Time) ([]Item, *apierror.Error) {
	it := Item{Size: len(body)}
	env := make(map[string]any, 8)
	for k, vals := range h {
		if len(k) <= 3 || !strings.EqualFold(k[:3], "ce-") || len(vals) == 0 {
			continue
		}
		val := vals[0]
		// CloudEvents HTTP binding: header values are percent-encoded.
		if strings.IndexByte(val, '%') >= 0 {
			if dec, err := url.PathUnescape(val); err == nil {
				val = dec
			}
		}
		if !utf8.ValidString(val) {
			return nil, apierror.New(http.StatusBadRequest, CodeInvalidUTF8, fmt.Sprintf("header %s is not valid UTF-8", k))
		}
		env[strings.ToLower(k[3:])] = val
	}
	if id, ok := env["id"].(string); ok {
		it.ID = id
	}
	if len(body) > lim.MaxEventBytes {
		it.Reject = tooLarge(len(body), lim)
		return []Item{it}, nil
	}
	ct := h.Get("Content-Type")
	if ct != "" {
		env["datacontenttype"] = ct
	}
	var data json.RawMessage
	if len(body) > 0 {
		if isJSONMedia(ct) {
			if err := checkText(body, lim.MaxDepth); err != nil {
				return nil, err
			}
			if !json.Valid(body) {
				return nil, malformed(body, body)
			}
			data = body
			env["data"] = nil
		} else {
			env["data_base64"] = base64.StdEncoding.EncodeToString(body)
		}
	}
	it = v.finish(it, nil, env, now)
	if it.Reject == nil {
		it.Event.Data = data
	}
	return []Item{it}, nil
}

func isJSONMedia(ct string) bool {
	if ct == "" {
		return true // CloudEvents: data without a content type is JSON
	}
	m, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return m == "application/json" || m == "text/json" || strings.HasSuffix(m, "+json")
}

func tooLarge(n int, lim Limits) *Reject {
	return &Reject{Code: CodeTooLarge, Message: fmt.Sprintf("the event is %d bytes; at most %d are accepted", n, lim.MaxEventBytes)}
}

// peekID finds the id of an event too large to validate, for the answer.
func peekID(raw []byte) string {
	var probe struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &probe) != nil {
		return ""
	}
	return probe.ID
}

// malformed reports the first syntax error of trimmed (a sub-slice of body)
// with its byte offset in body.
func malformed(trimmed, body []byte) *apierror.Error {
	base := int64(len(body) - len(bytes.TrimLeft(body, " \t\r\n")))
	err := json.Unmarshal(trimmed, new(any))
	var off int64 = -1
	msg := "the body is not valid JSON"
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = base + se.Offset
		msg = fmt.Sprintf("the body is not valid JSON at byte %d: %v", off, se)
	} else if err == nil {
		msg = "the body is not valid JSON: trailing data"
	} else {
		msg = "the body is not valid JSON: " + err.Error()
	}
	e := apierror.New(http.StatusBadRequest, CodeMalformedJSON, msg)
	if off >= 0 {
		e.Offset = &off
	}
	return e
}

// checkText refuses bodies that are not UTF-8 or nest deeper than maxDepth,
// with the byte offset of the problem. Both are request-level: a body with
// invalid UTF-8 cannot be split reliably, and the depth check protects the
// decoders from stack-heavy input before they run.
func checkText(body []byte, maxDepth int) *apierror.Error {
	if !utf8.Valid(body) {
		off := int64(0)
		for i := 0; i < len(body); {
			r, n := utf8.DecodeRune(body[i:])
			if r == utf8.RuneError && n == 1 {
				off = int64(i)
				break
			}
			i += n
		}
		e := apierror.New(http.StatusBadRequest, CodeInvalidUTF8, fmt.Sprintf("the body is not valid UTF-8 at byte %d", off))
		e.Offset = &off
		return e
	}
	depth, inStr, esc := 0, false, false
	for i, c := range body {
		switch {
		case esc:
			esc = false
		case inStr:
			if c == '\\' {
				esc = true
			} else if c == '"' {
				inStr = false
			}
		case c == '"':
			inStr = true
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth {
				off := int64(i)
				e := apierror.New(http.StatusBadRequest, CodeTooDeep, fmt.Sprintf("objects and arrays nest deeper than %d levels at byte %d", maxDepth, i))
				e.Offset = &off
				return e
			}
		case c == '}' || c == ']':
			depth--
		}
	}
	return nil
}
