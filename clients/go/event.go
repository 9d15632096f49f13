package pulsestream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/oklog/ulid/v2"
)

// Event is one CloudEvent as the gateway takes it. Only Type is required:
// an empty ID is replaced by a generated ULID before the event is queued, so
// every retry of it carries the same id.
type Event struct {
	ID              string
	Type            string
	Source          string
	Subject         string
	Time            time.Time // zero: the gateway uses its receive time
	DataContentType string
	Data            any            // marshalled with encoding/json; json.RawMessage is sent as is
	Extensions      map[string]any // extension attributes (lower-case names; string, number or boolean values)

	// Meta is the caller's own value, returned in the event's Outcome and
	// never sent.
	Meta any
}

// ErrInvalidEvent wraps every reason Enqueue refuses an event before
// queueing it (no type, data that does not marshal, raw JSON that is not an
// object).
var ErrInvalidEvent = errors.New("invalid event")

// wireEvent is the JSON shape of Event's standard attributes.
type wireEvent struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	Source          string          `json:"source,omitempty"`
	Subject         string          `json:"subject,omitempty"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
}

// encode returns the event's JSON object, with id set (generated if empty).
func (e *Event) encode(newID func() string) (id string, body []byte, err error) {
	if e.Type == "" {
		return "", nil, fmt.Errorf("%w: type is required", ErrInvalidEvent)
	}
	w := wireEvent{SpecVersion: "1.0", ID: e.ID, Type: e.Type, Source: e.Source, Subject: e.Subject, DataContentType: e.DataContentType}
	if w.ID == "" {
		w.ID = newID()
	}
	if !e.Time.IsZero() {
		w.Time = e.Time.UTC().Format(time.RFC3339Nano)
	}
	if e.Data != nil {
		if w.Data, err = json.Marshal(e.Data); err != nil {
			return "", nil, fmt.Errorf("%w: data of %s: %v", ErrInvalidEvent, w.ID, err)
		}
	}
	body, err = json.Marshal(&w)
	if err != nil {
		return "", nil, fmt.Errorf("%w: %s: %v", ErrInvalidEvent, w.ID, err)
	}
	if len(e.Extensions) > 0 {
		ext, err := json.Marshal(e.Extensions)
		if err != nil {
			return "", nil, fmt.Errorf("%w: extensions of %s: %v", ErrInvalidEvent, w.ID, err)
		}
		if len(ext) > 2 { // not "{}"
			body = append(append(body[:len(body)-1], ','), ext[1:]...)
		}
	}
	return w.ID, body, nil
}

// NewID returns a new ULID string: unique, and sortable by creation time
// (monotonic within a millisecond in one process).
func NewID() string { return ulid.Make().String() }

// rawID reads the top-level "id" of a JSON object, and whether raw is one.
func rawID(raw []byte) (id string, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return "", fmt.Errorf("%w: not a JSON object", ErrInvalidEvent)
	}
	var head struct {
		ID json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return "", fmt.Errorf("%w: %v", ErrInvalidEvent, err)
	}
	switch string(head.ID) {
	case "":
		return "", nil
	case "null":
		return "", fmt.Errorf("%w: id is null", ErrInvalidEvent)
	}
	if err := json.Unmarshal(head.ID, &id); err != nil {
		// Not a string: the gateway rejects it with its own code; send it
		// as is so that the rejection is the gateway's.
		return string(head.ID), nil
	}
	return id, nil
}

// withID returns raw (a JSON object without an id) with "id" as its first member.
func withID(raw []byte, id string) []byte {
	raw = bytes.TrimSpace(raw)
	q, _ := json.Marshal(id)
	out := make([]byte, 0, len(raw)+len(q)+8)
	out = append(out, `{"id":`...)
	out = append(out, q...)
	rest := bytes.TrimSpace(raw[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}
