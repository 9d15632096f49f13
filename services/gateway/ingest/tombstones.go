package ingest

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
)

// Tombstoner produces erasure tombstones through the gateway's producer: the
// same record format and key as DELETE /v1/events/{id}, so each lands on its
// event's partition after it.
type Tombstoner struct {
	producer *Producer
	topic    string
	now      func() time.Time
}

// NewTombstoner returns a Tombstoner producing to topic.
func NewTombstoner(p *Producer, topic string) *Tombstoner {
	return &Tombstoner{producer: p, topic: topic, now: time.Now}
}

// Tombstones produces one tombstone per id of tenant, tagged with erasureID,
// and returns nil only when Kafka acknowledged every one of them.
func (t *Tombstoner) Tombstones(ctx context.Context, tenant string, ids []string, erasureID string) error {
	now := t.now().UTC()
	recs := make([]*kgo.Record, len(ids))
	for i, id := range ids {
		r, err := tombstoneRecord(t.topic, &schemas.Tombstone{Version: schemas.RecordVersion, TenantID: tenant, ID: id, DeletedAt: now, ErasureID: erasureID})
		if err != nil {
			return fmt.Errorf("encode tombstone %s: %w", id, err)
		}
		recs[i] = r
	}
	acks, err := t.producer.ProduceAll(ctx, recs)
	if err != nil {
		return fmt.Errorf("produce %d tombstones: %w", len(ids), err)
	}
	if err := firstErr(acks); err != nil {
		return fmt.Errorf("produce %d tombstones: %w", len(ids), err)
	}
	return nil
}

// DeleteAuditor records DELETE /v1/events/{id} in the audit log before the
// tombstone is produced (erasure.PGStore).
type DeleteAuditor interface {
	RecordDelete(ctx context.Context, tenant, eventID, erasureID, actor string) error
}

// SetDeleteAuditor makes every DELETE write its audit entry first; without
// one (tests of the router alone) DELETE answers 503.
func (h *Handler) SetDeleteAuditor(a DeleteAuditor) { h.audit = a }

var errNoAuditor = errors.New("no audit log configured")
