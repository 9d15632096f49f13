// Package record turns Kafka records of the event topic into the items the
// projector's sinks write: schemas.DecodeRecord (the record codec) checks
// the headers, splits the key and decodes the JSON value into
// schemas.Event or schemas.Tombstone; an Item adds where the record stands
// in the log. Anything it cannot accept is a *schemas.DecodeError, which
// the consumer sends to the dead-letter topic.
//
// Event values are decoded without reflection, with encoding/json's
// verdicts and values (why and how, in the schemas package comment).
package record

import (
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
)

// Kind says what an Item does to the read models.
type Kind uint8

// Item kinds.
const (
	KindEvent     Kind = 1 // store the event unless the key exists (first write wins)
	KindTombstone Kind = 2 // mark the key deleted (creating a deleted row when unseen)
)

// Item is one decoded record. Partition and Offset locate it in the log;
// within a key they order the copies (every copy shares one partition).
type Item struct {
	Kind       Kind
	TenantID   string
	ExternalID string
	Partition  int32
	Offset     int64
	Timestamp  time.Time // the record's timestamp
	Event      *schemas.Event
	Tombstone  *schemas.Tombstone
}

// DeletedAt is the erasure time of a tombstone: its own deleted_at, or the
// record timestamp when the writer left it out.
func (it *Item) DeletedAt() time.Time {
	if it.Tombstone != nil && !it.Tombstone.DeletedAt.IsZero() {
		return it.Tombstone.DeletedAt
	}
	return it.Timestamp
}

// Decode checks and decodes one record (schemas.DecodeRecord). The returned
// error is always a *schemas.DecodeError: the record can never be applied.
func Decode(r *kgo.Record) (Item, error) {
	it := Item{Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp}
	d, err := schemas.DecodeRecord(r)
	if err != nil {
		return it, err
	}
	it.TenantID, it.ExternalID, it.Event, it.Tombstone = d.TenantID, d.ExternalID, d.Event, d.Tombstone
	if d.Kind == schemas.KindTombstone {
		it.Kind = KindTombstone
	} else {
		it.Kind = KindEvent
	}
	return it, nil
}
