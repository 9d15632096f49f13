// Package markers is the Redis "accepted" marker shared by the gateway (which
// writes one per event after Kafka acknowledged it) and the query service
// (which reads it for the ingestion-status endpoint).
//
// Key:   <prefix>accepted:<tenant>/<id>   (prefix defaults to "ps:", so
//
//	"ps:accepted:acme/order-42"; <tenant>/<id> is schemas.Key)
//
// Value: one line of '|'-separated fields, versioned by its first field:
//
//	v1|<content hash hex>|<accepted_at unix ms>|<partition>|<offset>|<ingest id>
//
// A text line instead of JSON keeps a marker ~120 bytes and its codec free of
// reflection; no field can contain '|' (hex, decimal, ULID). Markers carry a
// TTL (the gateway's marker-ttl, 24h by default): they make early repeats
// cheap to answer, the read models remain the dedup authority.
//
// No library: the whole format is two functions on strings.
package markers

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// DefaultPrefix is the prefix of every PulseStream Redis key unless configured.
const DefaultPrefix = "ps:"

// version is the first field of every marker value this code writes.
const version = "v1"

// Key is the Redis key of the marker of (tenantID, externalID) under prefix.
func Key(prefix, tenantID, externalID string) string {
	var b strings.Builder
	b.Grow(len(prefix) + len("accepted:") + len(tenantID) + 1 + len(externalID))
	b.WriteString(prefix)
	b.WriteString("accepted:")
	b.WriteString(tenantID)
	b.WriteByte('/')
	b.WriteString(externalID)
	return b.String()
}

// Erased is the ContentHash of an erasure marker: the id was deleted
// (DELETE /v1/events/{id} or an erasure by subject). The gateway writes it
// over the accepted marker once the tombstone is acknowledged (AcceptedAt is
// then the deletion time, Partition/Offset the tombstone's, IngestID the
// erasure id) and answers any later event with that id as a duplicate
// without producing it.
const Erased = "erased"

// Marker says an event was stored in Kafka: which content, when, where.
type Marker struct {
	ContentHash string    // schemas.ContentHash of the accepted event
	AcceptedAt  time.Time // when Kafka acknowledged it (millisecond precision)
	Partition   int32
	Offset      int64
	IngestID    string // the gateway's id of this acceptance
}

// Encode returns the marker's Redis value.
func (m Marker) Encode() string {
	b := make([]byte, 0, 128)
	b = append(b, version...)
	b = append(b, '|')
	b = append(b, m.ContentHash...)
	b = append(b, '|')
	b = strconv.AppendInt(b, m.AcceptedAt.UnixMilli(), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, int64(m.Partition), 10)
	b = append(b, '|')
	b = strconv.AppendInt(b, m.Offset, 10)
	b = append(b, '|')
	b = append(b, m.IngestID...)
	return string(b)
}

// ErrMalformed is returned (wrapped) for a value that is not a marker.
var ErrMalformed = errors.New("malformed accepted marker")

// Decode parses a marker value written by Encode.
func Decode(s string) (Marker, error) {
	f := strings.Split(s, "|")
	if len(f) != 6 || f[0] != version {
		return Marker{}, fmt.Errorf("%w: want %s with 6 fields", ErrMalformed, version)
	}
	ms, err1 := strconv.ParseInt(f[2], 10, 64)
	part, err2 := strconv.ParseInt(f[3], 10, 32)
	off, err3 := strconv.ParseInt(f[4], 10, 64)
	if err := errors.Join(err1, err2, err3); err != nil {
		return Marker{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return Marker{ContentHash: f[1], AcceptedAt: time.UnixMilli(ms).UTC(), Partition: int32(part), Offset: off, IngestID: f[5]}, nil
}
