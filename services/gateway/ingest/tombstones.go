package ingest

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/pulsestream/pulsestream/schemas"
)

// Tombstones produces one tombstone per id of tenant, tagged with erasureID
// (the erasure worker's Tombstoner): the same record and key as DELETE, so
// each lands on its event's partition after it. It returns nil only when
// Kafka acknowledged every one; then it writes the ids' erasure markers.
func (h *Handler) Tombstones(ctx context.Context, tenant string, ids []string, erasureID string) error {
	now := h.now().UTC()
	recs := make([]*kgo.Record, len(ids))
	for i, id := range ids {
		r, err := tombstoneRecord(h.topic, &schemas.Tombstone{Version: schemas.RecordVersion, TenantID: tenant, ID: id, DeletedAt: now, ErasureID: erasureID})
		if err != nil {
			return fmt.Errorf("encode tombstone %s: %w", id, err)
		}
		recs[i] = r
	}
	acks, err := h.producer.ProduceAll(ctx, recs)
	if err != nil {
		return fmt.Errorf("produce %d tombstones: %w", len(ids), err)
	}
	if err := firstErr(acks); err != nil {
		return fmt.Errorf("produce %d tombstones: %w", len(ids), err)
	}
	h.saveErased(ctx, tenant, ids, erasureID, acks[len(acks)-1], "")
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
