package schemas

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// The quarantine topic (issue 19): events the gateway refused for good (by a
// tenant's event schema, or by the envelope checks when the tenant asks),
// kept with why and their bytes as sent so they can be listed and replayed.
// The gateway writes it (QuarantineRecord) and projects it into PostgreSQL's
// quarantine table (DecodeQuarantine).

// KindQuarantine is the HeaderKind of a quarantine record.
const KindQuarantine = "quarantine"

// DefaultQuarantineTopic is the quarantine topic's default name.
const DefaultQuarantineTopic = "events.v1.quarantine"

// Quarantined is the value of a quarantine record (format version
// RecordVersion, JSON; Original is base64 in JSON).
type Quarantined struct {
	Version       int       `json:"v"`
	QuarantineID  string    `json:"quarantine_id"` // ULID, assigned by the gateway
	TenantID      string    `json:"tenant_id"`
	ID            string    `json:"id,omitempty"` // the event's id as far as it could be read
	Type          string    `json:"type,omitempty"`
	Subject       string    `json:"subject,omitempty"`
	Code          string    `json:"code"`
	Message       string    `json:"message,omitempty"`
	Pointer       string    `json:"pointer,omitempty"`
	SchemaVersion int       `json:"schema_version,omitempty"`
	ReceivedAt    time.Time `json:"received_at"`
	Original      []byte    `json:"original"`
}

var headerQuarantine = kgo.RecordHeader{Key: HeaderKind, Value: []byte(KindQuarantine)}

// QuarantineRecord is the Kafka record of q: key Key(tenant, quarantine id).
func QuarantineRecord(topic string, q *Quarantined) (*kgo.Record, error) {
	v := *q
	v.Version = RecordVersion
	value, err := json.Marshal(&v)
	if err != nil {
		return nil, fmt.Errorf("encode quarantined event %s: %w", q.QuarantineID, err)
	}
	r := newRecord(topic, headerQuarantine)
	r.Key, r.Value = Key(q.TenantID, q.QuarantineID), value
	return r, nil
}

// DecodeQuarantine reads a quarantine record; a *DecodeError marks one that
// can never be read.
func DecodeQuarantine(r *kgo.Record) (*Quarantined, error) {
	var kind, version string
	for _, h := range r.Headers {
		switch h.Key {
		case HeaderKind:
			kind = string(h.Value)
		case HeaderVersion:
			version = string(h.Value)
		}
	}
	if kind != KindQuarantine {
		return nil, poison("record kind %q is not %s", kind, KindQuarantine)
	}
	if version != strconv.Itoa(RecordVersion) {
		return nil, poison("unknown quarantine record version %q", version)
	}
	var q Quarantined
	if err := json.Unmarshal(r.Value, &q); err != nil {
		return nil, poison("quarantine value: %v", err)
	}
	if q.QuarantineID == "" || q.TenantID == "" || q.Code == "" {
		return nil, poison("quarantine value lacks quarantine_id, tenant_id or code")
	}
	return &q, nil
}
