package schemas

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strconv"
	"time"
)

// RecordVersion is the version of the Kafka record format written today
// (EventRecord, TombstoneRecord). DecodeRecord refuses versions it does not
// know (the projector sends them to the DLQ).
const RecordVersion = 1

// Kafka record headers. Every record carries HeaderVersion and HeaderKind.
const (
	HeaderVersion     = "pulsestream-record-version" // decimal RecordVersion
	HeaderKind        = "pulsestream-kind"           // KindEvent or KindTombstone
	HeaderContentType = "content-type"               // always application/json
	ContentTypeJSON   = "application/json"
)

// Optional W3C trace context headers (traceparent, tracestate; names fixed
// by the W3C Trace Context spec). The gateway's producer hook writes them
// when tracing is on (platform/tracing) and the projector's consumer hook
// reads them; DecodeRecord ignores them, so their presence does not change
// the record format: version 1 records with and without them are read
// alike, and a record without them is simply not traced.
const (
	HeaderTraceParent = "traceparent"
	HeaderTraceState  = "tracestate"
)

// Record kinds.
const (
	KindEvent     = "event"
	KindTombstone = "tombstone"
)

// Key is the Kafka record key of (tenant, external id): the tenant id, one
// '/', then the external id, as UTF-8 bytes. Tenant ids never contain '/', so
// the first '/' splits the key unambiguously. Every copy of one event and its
// tombstone share this key, hence one partition and a total order.
func Key(tenantID, externalID string) []byte {
	return AppendKey(make([]byte, 0, keyLen(tenantID, externalID)), tenantID, externalID)
}

func keyLen(tenantID, externalID string) int { return len(tenantID) + 1 + len(externalID) }

// AppendKey appends Key(tenantID, externalID) to dst without allocating.
func AppendKey(dst []byte, tenantID, externalID string) []byte {
	dst = append(dst, tenantID...)
	dst = append(dst, '/')
	return append(dst, externalID...)
}

// SplitKey is the inverse of Key.
func SplitKey(key []byte) (tenantID, externalID string, err error) {
	i := bytes.IndexByte(key, '/')
	if i <= 0 {
		return "", "", errors.New("record key has no tenant/id separator")
	}
	return string(key[:i]), string(key[i+1:]), nil
}

// Event is the value of a KindEvent record (format version 1, JSON). It is
// the validated CloudEvent plus what the gateway adds: tenant, receive time
// and an ingest id unique to this acceptance.
type Event struct {
	Version         int             `json:"v"`
	TenantID        string          `json:"tenant_id"`
	IngestID        string          `json:"ingest_id"`
	ReceivedAt      time.Time       `json:"received_at"`
	ContentHash     string          `json:"content_hash"`
	ID              string          `json:"id"`
	Type            string          `json:"type"`
	Source          string          `json:"source,omitempty"`
	Subject         string          `json:"subject,omitempty"`
	Time            time.Time       `json:"time"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	DataSchema      string          `json:"dataschema,omitempty"`
	Extensions      map[string]any  `json:"extensions,omitempty"`
	Data            json.RawMessage `json:"data,omitempty"`
	DataBase64      string          `json:"data_base64,omitempty"`
}

// Tombstone is the value of a KindTombstone record: (tenant, id) is erased.
type Tombstone struct {
	Version   int       `json:"v"`
	TenantID  string    `json:"tenant_id"`
	ID        string    `json:"id"`
	DeletedAt time.Time `json:"deleted_at"`
	ErasureID string    `json:"erasure_id,omitempty"`
}

// ContentHash is the hash the gateway's duplicate/conflict check compares:
// SHA-256 over the producer-supplied attributes, each length-prefixed so no
// two different events collide by concatenation. A defaulted time is not
// part of it (timeSet false), so a retry without time is still a duplicate.
func ContentHash(typ, source, subject string, t time.Time, timeSet bool, dataContentType string, data []byte) string {
	h := sha256.New()
	var buf [20]byte
	write := func(b []byte) {
		h.Write(strconv.AppendInt(buf[:0], int64(len(b)), 10))
		h.Write([]byte{':'})
		h.Write(b)
	}
	write([]byte(typ))
	write([]byte(source))
	write([]byte(subject))
	if timeSet {
		write([]byte(t.UTC().Format(time.RFC3339Nano)))
	} else {
		write(nil)
	}
	write([]byte(dataContentType))
	write(data)
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0]))
}

// DecodeError marks a record that can never be applied (the projector's DLQ).
type DecodeError struct{ Reason string }

func (e *DecodeError) Error() string { return "undecodable record: " + e.Reason }
